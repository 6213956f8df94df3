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

// Mi (nv x nv, full) = M^-1 from the U and D^-1 of sp__rbd_aba_passes
static void minv(double* Mi, sp_rbd_data* d) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  size_t ln = 6 * (size_t)nv;  // one link's block of F: 6 rows of nv columns
  for (int i = 0; i < t->nlinks; i++) {
    int lo = t->links[i].iv, hi = d->dof_end[i];
    for (int r = 0; r < 6; r++) memset(d->F + ln * i + r * nv + lo, 0, (size_t)(hi - lo) * 8);
  }
  // backward: R_i into the rows of i, bias forces P up the tree (subtree columns [lo, hi) only)
  for (int i = t->nlinks - 1; i >= 0; i--) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv, lo = l->iv, hi = d->dof_end[i], p = l->parent;
    double* Fi = d->F + ln * i;
    if (n) {
      const double* Di = d->Dinv + 36 * i;
      double* row[3];
      for (int a = 0; a < n; a++) {
        const double* S = d->S + 6 * (lo + a);
        row[a] = Mi + (size_t)(lo + a) * nv;
        for (int c = lo; c < hi; c++) {
          double s = 0;
          for (int r = 0; r < 6; r++) s += S[r] * Fi[r * nv + c];
          row[a][c] = -s;
        }
        row[a][lo + a] += 1.0;
      }
      for (int c = lo; c < hi; c++) {
        double x[3];
        for (int a = 0; a < n; a++) x[a] = row[a][c];
        for (int a = 0; a < n; a++) {
          double s = 0;
          for (int b = 0; b < n; b++) s += Di[a * n + b] * x[b];
          row[a][c] = s;
        }
      }
      for (int a = 0; a < n; a++) {
        const double* U = d->U + 6 * (lo + a);
        for (int r = 0; r < 6; r++)
          for (int c = lo; c < hi; c++) Fi[r * nv + c] += U[r] * row[a][c];
      }
    }
    if (p >= 0) {
      double* Fp = d->F + ln * p;
      for (int r = 0; r < 6; r++)
        for (int c = lo; c < hi; c++) Fp[r * nv + c] += Fi[r * nv + c];
    }
  }
  // forward: the parent's acceleration into the rows of i, A_i over columns [lo, nv) into F
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv, lo = l->iv, hi = d->dof_end[i], p = l->parent;
    double* Ai = d->F + ln * i;
    const double* Ap = p >= 0 ? d->F + ln * p : NULL;
    if (!n) {
      for (int r = 0; r < 6; r++)
        for (int c = lo; c < nv; c++) Ai[r * nv + c] = Ap ? Ap[r * nv + c] : 0.0;
      continue;
    }
    const double* Di = d->Dinv + 36 * i;
    double* row[3];
    for (int a = 0; a < n; a++) {
      row[a] = Mi + (size_t)(lo + a) * nv;
      memset(row[a] + hi, 0, (size_t)(nv - hi) * sizeof *Mi);
    }
    for (int c = lo; c < nv; c++) {
      if (Ap) {
        double y[3];
        for (int a = 0; a < n; a++) {
          const double* U = d->U + 6 * (lo + a);
          double s = 0;
          for (int r = 0; r < 6; r++) s += U[r] * Ap[r * nv + c];
          y[a] = s;
        }
        for (int a = 0; a < n; a++) {
          double s = 0;
          for (int b = 0; b < n; b++) s += Di[a * n + b] * y[b];
          row[a][c] -= s;
        }
      }
      for (int r = 0; r < 6; r++) {
        double s = Ap ? Ap[r * nv + c] : 0.0;
        for (int a = 0; a < n; a++) s += d->S[6 * (lo + a) + r] * row[a][c];
        Ai[r * nv + c] = s;
      }
    }
  }
  for (int r = 0; r < nv; r++)
    for (int c = r + 1; c < nv; c++) Mi[(size_t)c * nv + r] = Mi[(size_t)r * nv + c];
}

int sp_rbd_aba_derivatives(double* qdd, double* dqdd_dq, double* dqdd_dv, double* dqdd_dtau,
                           double* dqdd_dp, sp_rbd_data* d, const double* q, const double* v,
                           const double* tau) {
  const sp_rbd* t = d->tree;
  int nv = t->nv, np = dqdd_dp ? t->np : 0;
  double* acc = d->tmp + nv;  // (nv)
  int rc = sp__rbd_aba_passes(acc, d, q, v, tau);
  if (qdd) memcpy(qdd, acc, (size_t)nv * sizeof *qdd);
  if (rc || !nv || !(dqdd_dq || dqdd_dv || dqdd_dtau || np)) return rc;
  double* Mi = dqdd_dtau ? dqdd_dtau : d->M;
  minv(Mi, d);
  if (!(dqdd_dq || dqdd_dv || np)) return SP_OK;
  // composites at (q, v, qdd): fk, v and a are current from ABA
  sp__rbd_derivative_passes(d, NULL, NULL, acc);
  if (dqdd_dq || dqdd_dv) {
    double* G = d->tmp + 4 * nv;  // (nv x 2nv): [dtau/dq | dtau/dv]
    sp__rbd_rnea_derivatives_after(dqdd_dq ? G : NULL, dqdd_dv ? G + nv : NULL, 2 * nv, d);
    if (dqdd_dq)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nv, nv, nv, -1.0, Mi, nv, G, 2 * nv,
                  0.0, dqdd_dq, nv);
    if (dqdd_dv)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nv, nv, nv, -1.0, Mi, nv, G + nv,
                  2 * nv, 0.0, dqdd_dv, nv);
  }
  if (np) {
    sp__rbd_rnea_dparams_after(d->dtp, d, q, v, acc);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nv, np, nv, -1.0, Mi, nv, d->dtp, np,
                0.0, dqdd_dp, np);
  }
  return SP_OK;
}
