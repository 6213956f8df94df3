// aba_derivatives.c: analytic partial derivatives of forward dynamics. As in Carpentier &
// Mansard (RSS 2018, sec. IV-C), they follow from those of inverse dynamics at qdd = ABA(q, v,
// tau): since RNEA(q, v, ABA(q, v, tau)) = tau,
//   dqdd/dq = -M^-1 dRNEA/dq,  dqdd/dv = -M^-1 dRNEA/dv,  dqdd/dtau = M^-1,
// with M from CRBA factorised as M = L^T L with the tree's sparsity (Featherstone 2008, sec. 6.5),
// so each solve costs O(nv depth) per column; not the paper's fully recursive dABA.
#include <math.h>
#include <string.h>

#include "engine/rbd/internal.h"

int sp__rbd_ltl(double* M, const int* lambda, int n) {
  // M = L^T L with L lower triangular and nonzero only at (k, ancestors of k): Featherstone 2008,
  // table 6.3. L overwrites the lower triangle of M (and the diagonal).
  for (int k = n - 1; k >= 0; k--) {
    if (!(M[k * n + k] > 0)) return SP_ESINGULAR;
    double l = sqrt(M[k * n + k]);
    M[k * n + k] = l;
    for (int i = lambda[k]; i >= 0; i = lambda[i]) M[k * n + i] /= l;
    for (int i = lambda[k]; i >= 0; i = lambda[i])
      for (int j = i; j >= 0; j = lambda[j]) M[i * n + j] -= M[k * n + i] * M[k * n + j];
  }
  return SP_OK;
}

// y -= a x over m entries (distinct rows of one matrix)
static inline void row_axpy(double* restrict y, double a, const double* restrict x, int m) {
  for (int c = 0; c < m; c++) y[c] -= a * x[c];
}

void sp__rbd_ltl_solve(const double* L, const int* lambda, int n, double* X, int m) {
  // L^T y = x from the leaves up, then L z = y from the root down, all m columns at once
  for (int i = n - 1; i >= 0; i--) {
    double inv = 1.0 / L[i * n + i];
    double* xi = X + (size_t)i * (size_t)m;
    for (int c = 0; c < m; c++) xi[c] *= inv;
    for (int j = lambda[i]; j >= 0; j = lambda[j])
      row_axpy(X + (size_t)j * (size_t)m, L[i * n + j], xi, m);
  }
  for (int i = 0; i < n; i++) {
    double* xi = X + (size_t)i * (size_t)m;
    for (int j = lambda[i]; j >= 0; j = lambda[j])
      row_axpy(xi, L[i * n + j], X + (size_t)j * (size_t)m, m);
    double inv = 1.0 / L[i * n + i];
    for (int c = 0; c < m; c++) xi[c] *= inv;
  }
}

int sp_rbd_aba_derivatives(double* qdd, double* dqdd_dq, double* dqdd_dv, double* dqdd_dtau,
                           double* dqdd_dp, sp_rbd_data* d, const double* q, const double* v,
                           const double* tau) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  size_t nn = (size_t)nv * (size_t)nv;
  double* acc = d->tmp + nv;  // (nv)
  sp_rbd_aba(acc, d, q, v, tau);
  if (qdd) memcpy(qdd, acc, (size_t)nv * sizeof *qdd);
  // one set of passes at (q, v, qdd) serves M and every derivative (fk is current from aba)
  sp__rbd_derivative_passes(d, NULL, v, acc);
  double* L = d->M;
  sp__rbd_mass_matrix(d, L);
  int rc = sp__rbd_ltl(L, t->dof_parent, nv);
  if (rc) return rc;
  if (dqdd_dq || dqdd_dv) {
    double* gq = dqdd_dq ? dqdd_dq : d->tmp + 4 * nv;
    double* gv = dqdd_dv ? dqdd_dv : d->tmp + 4 * nv + nn;
    sp__rbd_rnea_derivatives_after(gq, gv, d);
    for (size_t i = 0; i < nn; i++) gq[i] = -gq[i], gv[i] = -gv[i];
    if (dqdd_dq) sp__rbd_ltl_solve(L, t->dof_parent, nv, dqdd_dq, nv);
    if (dqdd_dv) sp__rbd_ltl_solve(L, t->dof_parent, nv, dqdd_dv, nv);
  }
  if (dqdd_dp && t->np) {
    sp__rbd_rnea_dparams_after(dqdd_dp, d, q, v, acc);
    for (size_t i = 0; i < (size_t)nv * (size_t)t->np; i++) dqdd_dp[i] = -dqdd_dp[i];
    sp__rbd_ltl_solve(L, t->dof_parent, nv, dqdd_dp, t->np);
  }
  if (dqdd_dtau) {
    memset(dqdd_dtau, 0, nn * sizeof *dqdd_dtau);
    for (int i = 0; i < nv; i++) dqdd_dtau[i * nv + i] = 1.0;
    sp__rbd_ltl_solve(L, t->dof_parent, nv, dqdd_dtau, nv);
  }
  return SP_OK;
}
