// aba_derivatives.c: analytic partial derivatives of forward dynamics by the recursive algorithm of
// Carpentier & Mansard (RSS 2018, sec. IV-C). Since RNEA(q, v, ABA(q, v, tau)) = tau,
//   dqdd/dq = -M^-1 dRNEA/dq,  dqdd/dv = -M^-1 dRNEA/dv,  dqdd/dtau = M^-1,
// and every factor comes from sweeps over the tree, with no mass matrix and no factorisation:
//  1. ABA's passes (aba.c) leave qdd, the projected inertias U_i = IA_i S_i and D_i^-1 =
//     (S_i^T IA_i S_i + armature)^-1, and the velocities and accelerations at qdd.
//  2. M^-1 is ABA run on unit torques with v = 0 and no gravity, every column at once, reusing
//     U and D^-1 (the M^-1 recursion the paper takes from ABA). Backward, with P_i the bias force
//     per unit torque (6 x nv, nonzero only on columns of i's subtree):
//       R_i = D_i^-1 (E_i - S_i^T P_i),  P_parent += P_i + U_i R_i
//     where E_i selects i's own columns. Forward, with A_i the acceleration per unit torque:
//       M^-1 rows of i = R_i - D_i^-1 U_i^T A_parent,  A_i = A_parent + S_i (M^-1 rows of i)
//     on the columns from i's first dof on (the upper triangle); symmetry gives the rest.
//  3. One backward pass at (q, v, qdd) sums each subtree's force, inertia and bias matrix
//     (rnea_derivatives.c), from which dRNEA/dq and dRNEA/dv are read per dof pair.
//  4. The products with M^-1 are dense (BLAS).
// In world coordinates no transform is needed between a link and its parent (Featherstone 2008).
#include <string.h>

#include "engine/rbd/internal.h"

// after the rbd headers: OpenBLAS's cblas.h brings complex.h, whose macro I names inertias there
#include <cblas.h>

// the sweeps below are short loops over columns: let GCC vectorise them at RelWithDebInfo's -O2
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

// y[lo, hi) += s x[lo, hi)
static inline void axpy(double* restrict y, double s, const double* restrict x, int lo, int hi) {
  for (int c = lo; c < hi; c++) y[c] += s * x[c];
}

// rows[a][lo, hi) <- sum_b Dinv[a][b] rows[b][lo, hi) for the n (<= 3) rows of one joint, using
// tmp (3 x nv) as scratch
static void times_dinv(double** rows, const double* Dinv, int n, int lo, int hi, double* tmp,
                       int nv) {
  if (n == 1) {
    for (int c = lo; c < hi; c++) rows[0][c] *= Dinv[0];
    return;
  }
  for (int a = 0; a < n; a++) memcpy(tmp + a * nv + lo, rows[a] + lo, (size_t)(hi - lo) * 8);
  for (int a = 0; a < n; a++) {
    memset(rows[a] + lo, 0, (size_t)(hi - lo) * 8);
    for (int b = 0; b < n; b++) axpy(rows[a], Dinv[a * n + b], tmp + b * nv, lo, hi);
  }
}

// Mi (nv x nv, full) = M^-1 from the U and D^-1 of sp__rbd_aba_passes
static void minv(double* Mi, sp_rbd_data* d) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  size_t ln = 6 * (size_t)nv;           // one link's block of F: 6 rows of nv columns
  double* tmp = d->F + ln * t->nlinks;  // the block after the last link's: scratch
  for (int i = 0; i < t->nlinks; i++) {
    int lo = t->links[i].iv, hi = d->dof_end[i];
    for (int r = 0; r < 6; r++) memset(d->F + ln * i + r * nv + lo, 0, (size_t)(hi - lo) * 8);
  }
  // backward: R_i into the rows of i, bias forces P up the tree (subtree columns [lo, hi) only)
  for (int i = t->nlinks - 1; i >= 0; i--) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv, lo = l->iv, hi = d->dof_end[i], p = l->parent;
    double* Fi = d->F + ln * i;
    if (n == 1) {
      // one pass over the columns for the common single-dof joint
      const double *S = d->S + 6 * lo, *U = d->U + 6 * lo, Dinv = d->Dinv[36 * i];
      double* row = Mi + (size_t)lo * nv;
      double* Fp = p >= 0 ? d->F + ln * p : NULL;
      for (int c = lo; c < hi; c++) {
        double s =
            (c == lo) - (S[0] * Fi[c] + S[1] * Fi[nv + c] + S[2] * Fi[2 * nv + c] +
                         S[3] * Fi[3 * nv + c] + S[4] * Fi[4 * nv + c] + S[5] * Fi[5 * nv + c]);
        double x = Dinv * s;
        row[c] = x;
        for (int r = 0; r < 6; r++) {
          double f = Fi[r * nv + c] + U[r] * x;
          Fi[r * nv + c] = f;
          if (Fp) Fp[r * nv + c] += f;
        }
      }
      continue;
    }
    if (n) {
      double* row[3];
      for (int a = 0; a < n; a++) {
        const double* S = d->S + 6 * (lo + a);
        row[a] = Mi + (size_t)(lo + a) * nv;
        memset(row[a] + lo, 0, (size_t)(hi - lo) * sizeof *Mi);
        for (int r = 0; r < 6; r++) axpy(row[a], -S[r], Fi + r * nv, lo, hi);
        row[a][lo + a] += 1.0;
      }
      times_dinv(row, d->Dinv + 36 * i, n, lo, hi, tmp, nv);
      for (int a = 0; a < n; a++) {
        const double* U = d->U + 6 * (lo + a);
        for (int r = 0; r < 6; r++) axpy(Fi + r * nv, U[r], row[a], lo, hi);
      }
    }
    if (p >= 0)
      for (int r = 0; r < 6; r++) axpy(d->F + ln * p + r * nv, 1.0, Fi + r * nv, lo, hi);
  }
  // forward: the parent's acceleration into the rows of i, A_i over columns [lo, nv) into F
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv, lo = l->iv, hi = d->dof_end[i], p = l->parent;
    double* Ai = d->F + ln * i;
    const double* Ap = p >= 0 ? d->F + ln * p : NULL;
    if (n == 1) {
      const double *S = d->S + 6 * lo, *U = d->U + 6 * lo, Dinv = d->Dinv[36 * i];
      double* row = Mi + (size_t)lo * nv;
      for (int c = lo; c < nv; c++) {
        double x = c < hi ? row[c] : 0.0;
        if (Ap)
          x -= Dinv * (U[0] * Ap[c] + U[1] * Ap[nv + c] + U[2] * Ap[2 * nv + c] +
                       U[3] * Ap[3 * nv + c] + U[4] * Ap[4 * nv + c] + U[5] * Ap[5 * nv + c]);
        row[c] = x;
        for (int r = 0; r < 6; r++) Ai[r * nv + c] = (Ap ? Ap[r * nv + c] : 0.0) + S[r] * x;
      }
      continue;
    }
    for (int r = 0; r < 6; r++) {
      if (Ap)
        memcpy(Ai + r * nv + lo, Ap + r * nv + lo, (size_t)(nv - lo) * sizeof *Ai);
      else
        memset(Ai + r * nv + lo, 0, (size_t)(nv - lo) * sizeof *Ai);
    }
    if (!n) continue;
    double* row[3];
    for (int a = 0; a < n; a++) {
      row[a] = Mi + (size_t)(lo + a) * nv;
      memset(row[a] + hi, 0, (size_t)(nv - hi) * sizeof *Mi);
    }
    if (Ap) {
      // rows -= D^-1 U^T A_parent
      double* y[3];
      for (int a = 0; a < n; a++) {
        const double* U = d->U + 6 * (lo + a);
        y[a] = tmp + a * nv;
        memset(y[a] + lo, 0, (size_t)(nv - lo) * sizeof *tmp);
        for (int r = 0; r < 6; r++) axpy(y[a], U[r], Ap + r * nv, lo, nv);
      }
      const double* Di = d->Dinv + 36 * i;
      for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) axpy(row[a], -Di[a * n + b], y[b], lo, nv);
    }
    for (int a = 0; a < n; a++) {
      const double* S = d->S + 6 * (lo + a);
      for (int r = 0; r < 6; r++) axpy(Ai + r * nv, S[r], row[a], lo, nv);
    }
  }
  for (int r = 0; r < nv; r++)
    for (int c = r + 1; c < nv; c++) Mi[(size_t)c * nv + r] = Mi[(size_t)r * nv + c];
}

// ABA (qdd, may be NULL), M^-1 into Mi (NULL: scratch), and when asked the matrices whose products
// with -M^-1 are the derivatives: G = [dtau/dq | dtau/dv] (nv x 2nv, in d->tmp + 4 nv; a half not
// asked for is left unset) and dtau/dp (nv x np, in d->dtp). Returns the M^-1 used.
static double* passes(int* rc, double* qdd, double* Mi, int want_dq, int want_dv, int want_dp,
                      sp_rbd_data* d, const double* q, const double* v, const double* tau) {
  int nv = d->tree->nv;
  double* acc = d->tmp + nv;  // (nv)
  *rc = sp__rbd_aba_passes(acc, d, q, v, tau);
  if (qdd) memcpy(qdd, acc, (size_t)nv * sizeof *qdd);
  if (*rc || !nv) return NULL;
  if (!Mi) Mi = d->M;
  minv(Mi, d);
  if (!(want_dq || want_dv || want_dp)) return Mi;
  // composites at (q, v, qdd): fk, v and a are current from ABA
  sp__rbd_derivative_passes(d, NULL, NULL, acc);
  double* G = d->tmp + 4 * nv;
  if (want_dq || want_dv)
    sp__rbd_rnea_derivatives_after(want_dq ? G : NULL, want_dv ? G + nv : NULL, 2 * nv, d);
  if (want_dp) sp__rbd_rnea_dparams_after(d->dtp, d, q, v, acc);
  return Mi;
}

// C (m x n, row stride ldc) = alpha Mi B with Mi (m x m) and B (m x n, row stride ldb)
static void times_minv(double* C, int ldc, double alpha, const double* Mi, const double* B, int ldb,
                       int m, int n) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, m, alpha, Mi, m, B, ldb, 0.0, C,
              ldc);
}

int sp_rbd_aba_derivatives(double* qdd, double* dqdd_dq, double* dqdd_dv, double* dqdd_dtau,
                           double* dqdd_dp, sp_rbd_data* d, const double* q, const double* v,
                           const double* tau) {
  int nv = d->tree->nv, np = dqdd_dp ? d->tree->np : 0, rc;
  if (!(dqdd_dq || dqdd_dv || dqdd_dtau || np))
    return sp__rbd_aba_passes(qdd ? qdd : d->tmp, d, q, v, tau);
  const double* Mi =
      passes(&rc, qdd, dqdd_dtau, dqdd_dq != NULL, dqdd_dv != NULL, np > 0, d, q, v, tau);
  if (!Mi) return rc;
  const double* G = d->tmp + 4 * nv;
  if (dqdd_dq) times_minv(dqdd_dq, nv, -1.0, Mi, G, 2 * nv, nv, nv);
  if (dqdd_dv) times_minv(dqdd_dv, nv, -1.0, Mi, G + nv, 2 * nv, nv, nv);
  if (np) times_minv(dqdd_dp, np, -1.0, Mi, d->dtp, np, nv, np);
  return SP_OK;
}

int sp__rbd_aba_derivatives_scaled(double* qdd, double* G, int ldg, double* Mi, double* dp, int ldp,
                                   double scale, sp_rbd_data* d, const double* q, const double* v,
                                   const double* tau) {
  int nv = d->tree->nv, np = dp ? d->tree->np : 0, rc;
  const double* M1 = passes(&rc, qdd, Mi, G != NULL, G != NULL, np > 0, d, q, v, tau);
  if (!M1) return rc;
  if (G) times_minv(G, ldg, -scale, M1, d->tmp + 4 * nv, 2 * nv, nv, 2 * nv);
  if (np) times_minv(dp, ldp, -scale, M1, d->dtp, np, nv, np);
  return SP_OK;
}
