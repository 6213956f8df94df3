// aba_derivatives.c: analytic partial derivatives of forward dynamics. As in Carpentier &
// Mansard (RSS 2018, sec. IV-C), they follow from those of inverse dynamics at qdd = ABA(q, v,
// tau): since RNEA(q, v, ABA(q, v, tau)) = tau,
//   dqdd/dq = -M^-1 dRNEA/dq,  dqdd/dv = -M^-1 dRNEA/dv,  dqdd/dtau = M^-1,
// with M from CRBA and a dense Cholesky factorisation (not the paper's fully recursive form).
#include <math.h>
#include <string.h>

#include "engine/rbd/internal.h"

int sp__rbd_cholesky(double* M, int n) {
  for (int j = 0; j < n; j++) {
    double s = M[j * n + j];
    for (int k = 0; k < j; k++) s -= M[j * n + k] * M[j * n + k];
    if (!(s > 0)) return SP_ESINGULAR;
    double l = sqrt(s);
    M[j * n + j] = l;
    for (int i = j + 1; i < n; i++) {
      double r = M[i * n + j];
      for (int k = 0; k < j; k++) r -= M[i * n + k] * M[j * n + k];
      M[i * n + j] = r / l;
    }
  }
  return SP_OK;
}

void sp__rbd_cholesky_solve(const double* L, int n, double* X, int m) {
  // L y = x, then L^T z = y, column by column
  for (int c = 0; c < m; c++) {
    for (int i = 0; i < n; i++) {
      double s = X[i * m + c];
      for (int k = 0; k < i; k++) s -= L[i * n + k] * X[k * m + c];
      X[i * m + c] = s / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
      double s = X[i * m + c];
      for (int k = i + 1; k < n; k++) s -= L[k * n + i] * X[k * m + c];
      X[i * m + c] = s / L[i * n + i];
    }
  }
}

int sp_rbd_aba_derivatives(double* qdd, double* dqdd_dq, double* dqdd_dv, double* dqdd_dtau,
                           sp_rbd_data* d, const double* q, const double* v, const double* tau) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  size_t nn = (size_t)nv * (size_t)nv;
  double* acc = d->tmp + nv;  // (nv)
  sp_rbd_aba(acc, d, q, v, tau);
  if (qdd) memcpy(qdd, acc, (size_t)nv * sizeof *qdd);
  double* L = d->M;
  sp__rbd_composite(d);
  sp__rbd_mass_matrix(d, L);
  int rc = sp__rbd_cholesky(L, nv);
  if (rc) return rc;
  if (dqdd_dq || dqdd_dv) {
    double* gq = dqdd_dq ? dqdd_dq : d->tmp + 4 * nv;
    double* gv = dqdd_dv ? dqdd_dv : d->tmp + 4 * nv + nn;
    sp_rbd_rnea_derivatives(gq, gv, d, q, v, acc);
    for (size_t i = 0; i < nn; i++) gq[i] = -gq[i], gv[i] = -gv[i];
    if (dqdd_dq) sp__rbd_cholesky_solve(L, nv, dqdd_dq, nv);
    if (dqdd_dv) sp__rbd_cholesky_solve(L, nv, dqdd_dv, nv);
  }
  if (dqdd_dtau) {
    memset(dqdd_dtau, 0, nn * sizeof *dqdd_dtau);
    for (int i = 0; i < nv; i++) dqdd_dtau[i * nv + i] = 1.0;
    sp__rbd_cholesky_solve(L, nv, dqdd_dtau, nv);
  }
  return SP_OK;
}
