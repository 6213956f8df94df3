// rnea_derivatives.c: analytic partial derivatives of inverse dynamics, dtau/dq and dtau/dv, in
// world coordinates after Carpentier & Mansard, "Analytical Derivatives of Rigid Body Dynamics
// Algorithms", RSS 2018 (their algorithm 1, derived here with composite quantities).
//
// Moving dof j (link b, parent link l) displaces everything in b's subtree by the twist S_j, so a
// world quantity X attached there changes by S_j x X, except for the terms
//   dv/dq_j = S_j x v + psi_j,  psi_j = v_l x S_j
//   da/dq_j = S_j x a + psi_j x v + phi_j,  phi_j = a_l x S_j + v_l x psi_j
//   da/dv_j = S_j x v + phid_j,  phid_j = (v_b + v_l) x S_j
// Summing f = I a + v x* I v over a subtree gives dF/dq_j = S_j x* F + Ic phi_j + Bc psi_j and
// dF/dv_j = Ic phid_j + Bc S_j, with Ic the composite inertia and Bc the composite of
// B(y) = v x* I y - I (v x y) + y x* I v. Then, for dofs k and j:
//   k's link below or at j's: dtau_k/dq_j = S_k . (Ic phi_j + Bc psi_j)  (composites at k's link;
//                             the transport terms cancel since S_k moves with j too)
//   k strictly above j:       dtau_k/dq_j = S_k . dF_b/dq_j              (composites at b)
// and the same for v with (phid_j, S_j) in place of (phi_j, psi_j) and no transport term.
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

void sp__rbd_derivative_passes(sp_rbd_data* d, const double* q, const double* v, const double* a) {
  const sp_rbd* t = d->tree;
  if (q) sp_rbd_fk(d, q);
  if (v) sp__rbd_kinematics(d, v, a);
  // one pass from the leaves: each link's force, inertia and bias matrix, then its children's sums
  size_t L = (size_t)t->nlinks;
  memset(d->f, 0, 6 * L * sizeof *d->f);
  memset(d->Ic, 0, 36 * L * sizeof *d->Ic);
  memset(d->Bc, 0, 36 * L * sizeof *d->Bc);
  for (int i = t->nlinks - 1; i >= 0; i--) {
    double *fi = d->f + 6 * i, *Ic = d->Ic + 36 * i, *Bc = d->Bc + 36 * i, h[6];
    const double* I = d->I + 36 * i;
    sp__rbd_body_force(fi, h, I, d->v + 6 * i, d->a + 6 * i);
    sp_si_bias_matrix_add(Bc, I, d->v + 6 * i, h);
    for (int k = 0; k < 36; k++) Ic[k] += I[k];
    int p = t->links[i].parent;
    if (p < 0) continue;
    for (int k = 0; k < 6; k++) d->f[6 * p + k] += fi[k];
    for (int k = 0; k < 36; k++) d->Ic[36 * p + k] += Ic[k], d->Bc[36 * p + k] += Bc[k];
  }
}

// y . x over 12 entries
static inline double dot12(const double* y, const double* x) {
  double s = 0;
  for (int k = 0; k < 12; k++) s += y[k] * x[k];
  return s;
}

void sp__rbd_rnea_derivatives_after(double* dq, double* dv, int ld, sp_rbd_data* d) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  // per dof j, W_j = (phi_j, psi_j, phid_j, S_j), so that dtau_k/dq_j and dtau_k/dv_j are the
  // products of its two halves with (Ic S_k, Bc^T S_k)
  double v0[6] = {0}, a0[6] = {0, 0, 0, -t->gravity[0], -t->gravity[1], -t->gravity[2]};
  for (int j = 0; j < nv; j++) {
    int b = t->dof_link[j], l = t->links[b].parent;
    const double* vl = l >= 0 ? d->v + 6 * l : v0;
    const double* al = l >= 0 ? d->a + 6 * l : a0;
    const double* S = d->S + 6 * j;
    double *phi = d->W + 24 * j, *psi = phi + 6, *phid = phi + 12, t6[6], w[6];
    sp_sv_cross_m(psi, vl, S);
    sp_sv_cross_m(phi, al, S);
    sp_sv_cross_m(t6, vl, psi);
    for (int k = 0; k < 6; k++) phi[k] += t6[k], w[k] = d->v[6 * b + k] + vl[k];
    sp_sv_cross_m(phid, w, S);
    memcpy(phi + 18, S, 6 * sizeof *S);
  }
  for (int k = 0; k < nv; k++) {
    if (dq) memset(dq + (size_t)k * ld, 0, (size_t)nv * sizeof *dq);
    if (dv) memset(dv + (size_t)k * ld, 0, (size_t)nv * sizeof *dv);
  }
  for (int k = 0; k < nv; k++) {
    int bk = t->dof_link[k];
    const sp_rbd_link* lk = &t->links[bk];
    const double *Ic = d->Ic + 36 * bk, *Bc = d->Bc + 36 * bk, *S = d->S + 6 * k;
    // y = (Ic S_k, Bc^T S_k)
    double y[12] = {0};
    sp_si_mulv(y, Ic, S);
    for (int r = 0; r < 6; r++)
      for (int c = 0; c < 6; c++) y[6 + c] += Bc[6 * r + c] * S[r];
    // j in k's link, then up the dof chain
    for (int j = lk->iv + lk->nv - 1; j >= 0; j = t->dof_parent[j]) {
      const double* Wj = d->W + 24 * j;
      double gq = dot12(Wj, y), gv = dot12(Wj + 12, y);
      if (dq) dq[k * ld + j] = gq;
      if (dv) dv[k * ld + j] = gv;
    }
    if (dv) dv[k * ld + k] += lk->damping;
    if (dq && lk->nq == 1) dq[k * ld + k] += lk->stiffness;
  }
  // rows of strict ancestors k of dof j: S_k . dF_b/dq_j
  for (int j = 0; j < nv; j++) {
    int b = t->dof_link[j];
    const sp_rbd_link* lb = &t->links[b];
    const double *Ic = d->Ic + 36 * b, *Bc = d->Bc + 36 * b, *W = d->W + 24 * j;
    double Dq[6], Dv[6];
    sp_sv_cross_f(Dq, W + 18, d->f + 6 * b);
    sp_si_mulv_add(Dq, Ic, W);
    sp_si_mulv_add(Dq, Bc, W + 6);
    sp_si_mulv(Dv, Ic, W + 12);
    sp_si_mulv_add(Dv, Bc, W + 18);
    for (int k = t->dof_parent[lb->iv]; k >= 0; k = t->dof_parent[k]) {
      const double* Sk = d->S + 6 * k;
      double gq = sp_sv_dot(Sk, Dq), gv = sp_sv_dot(Sk, Dv);
      if (dq) dq[k * ld + j] = gq;
      if (dv) dv[k * ld + j] = gv;
    }
  }
}

void sp_rbd_rnea_derivatives(double* dq, double* dv, sp_rbd_data* d, const double* q,
                             const double* v, const double* a) {
  const sp_rbd* t = d->tree;
  sp__rbd_derivative_passes(d, q, v, a);
  sp__rbd_rnea_derivatives_after(dq, dv, t->nv, d);
}
