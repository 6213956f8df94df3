// aba.c: the articulated-body algorithm (Featherstone 2008, table 7.1) in world coordinates,
// where no transform is needed between a link and its parent: articulated inertias IA and bias
// forces pA are summed up the tree after projecting out each joint, then accelerations go down.
// Joint damping enters u = tau - damping v - S^T pA; armature enters D = S^T IA S + armature.
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

// inverse of a small symmetric positive-definite matrix (n <= 6) by Gauss-Jordan; returns 0 if
// a pivot is not positive
static int small_inverse(double* Ainv, double* A, int n) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) Ainv[i * n + j] = i == j;
  for (int c = 0; c < n; c++) {
    double piv = A[c * n + c];
    if (!(piv > 0)) return 0;
    for (int j = 0; j < n; j++) A[c * n + j] /= piv, Ainv[c * n + j] /= piv;
    for (int r = 0; r < n; r++) {
      if (r == c) continue;
      double f = A[r * n + c];
      for (int j = 0; j < n; j++)
        A[r * n + j] -= f * A[c * n + j], Ainv[r * n + j] -= f * Ainv[c * n + j];
    }
  }
  return 1;
}

int sp__rbd_aba_passes(double* qdd, sp_rbd_data* d, const double* q, const double* v,
                       const double* tau) {
  const sp_rbd* t = d->tree;
  int ok = 1;
  sp_rbd_fk(d, q);
  double* IA = d->Ic;  // reused as articulated inertias
  double v0[6] = {0};
  // velocities, velocity-product accelerations, rigid-body bias forces
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    double *vi = d->v + 6 * i, *ci = d->c + 6 * i, sq[6] = {0}, h[6];
    const double* vp = l->parent >= 0 ? d->v + 6 * l->parent : v0;
    for (int c = 0; c < l->nv; c++)
      for (int k = 0; k < 6; k++) sq[k] += d->S[6 * (l->iv + c) + k] * v[l->iv + c];
    for (int k = 0; k < 6; k++) vi[k] = vp[k] + sq[k];
    sp_sv_cross_m(ci, vi, sq);
    memcpy(IA + 36 * i, d->I + 36 * i, 36 * sizeof *IA);
    sp_si_mulv(h, d->I + 36 * i, vi);
    sp_sv_cross_f(d->pA + 6 * i, vi, h);
  }
  // articulated inertias and bias forces, leaves to root
  for (int i = t->nlinks - 1; i >= 0; i--) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv;
    double *Ii = IA + 36 * i, *pi = d->pA + 6 * i, *U = d->U + 6 * l->iv, *u = d->uu + l->iv;
    double* Di = d->Dinv + 36 * i;
    double D[36], pa[6], Ia[36];
    memcpy(Ia, Ii, sizeof Ia);
    memcpy(pa, pi, sizeof pa);
    if (n) {
      for (int c = 0; c < n; c++) {
        const double* S = d->S + 6 * (l->iv + c);
        double col[6];
        sp_si_mulv(col, Ii, S);
        for (int k = 0; k < 6; k++) U[6 * c + k] = col[k];
        u[c] = tau[l->iv + c] - l->damping * v[l->iv + c] - sp_sv_dot(S, pi);
        if (l->nq == 1) u[c] -= l->stiffness * (q[l->iq] - l->springref);
      }
      for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++)
          D[r * n + c] = sp_sv_dot(d->S + 6 * (l->iv + r), U + 6 * c) + (r == c ? l->armature : 0);
      ok &= small_inverse(Di, D, n);
      // Ia = IA - U D^-1 U^T; pa = pA + Ia c + U D^-1 u
      double W[18] = {0}, Du[6] = {0};
      for (int c = 0; c < n; c++)
        for (int r = 0; r < n; r++) {
          Du[c] += Di[c * n + r] * u[r];
          for (int k = 0; k < 6; k++) W[6 * c + k] += Di[c * n + r] * U[6 * r + k];
        }
      for (int c = 0; c < n; c++)
        for (int r = 0; r < 6; r++)
          for (int k = 0; k < 6; k++) Ia[6 * r + k] -= U[6 * c + r] * W[6 * c + k];
      sp_si_mulv_add(pa, Ia, d->c + 6 * i);
      for (int c = 0; c < n; c++)
        for (int k = 0; k < 6; k++) pa[k] += U[6 * c + k] * Du[c];
    } else {
      sp_si_mulv_add(pa, Ia, d->c + 6 * i);
    }
    if (l->parent >= 0) {
      for (int k = 0; k < 36; k++) IA[36 * l->parent + k] += Ia[k];
      for (int k = 0; k < 6; k++) d->pA[6 * l->parent + k] += pa[k];
    }
  }
  // accelerations, root to leaves
  double a0[6] = {0, 0, 0, -t->gravity[0], -t->gravity[1], -t->gravity[2]};
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    int n = l->nv;
    const double* ap = l->parent >= 0 ? d->a + 6 * l->parent : a0;
    double* ai = d->a + 6 * i;
    for (int k = 0; k < 6; k++) ai[k] = ap[k] + d->c[6 * i + k];
    double r[6];
    for (int c = 0; c < n; c++) r[c] = d->uu[l->iv + c] - sp_sv_dot(ai, d->U + 6 * (l->iv + c));
    for (int c = 0; c < n; c++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += d->Dinv[36 * i + c * n + k] * r[k];
      qdd[l->iv + c] = s;
    }
    for (int c = 0; c < n; c++)
      for (int k = 0; k < 6; k++) ai[k] += d->S[6 * (l->iv + c) + k] * qdd[l->iv + c];
  }
  return ok ? SP_OK : SP_ESINGULAR;
}

void sp_rbd_aba(double* qdd, sp_rbd_data* d, const double* q, const double* v, const double* tau) {
  sp__rbd_aba_passes(qdd, d, q, v, tau);
}
