// param_derivatives.c: exact derivatives of inverse dynamics with respect to the tree's named
// parameters (masses, centres of mass, inertias, placement offsets, damping, armature,
// stiffness), so a tree can be identified or made deliberately wrong with gradients.
//
// Inertial parameters of link b change only its world spatial inertia I_b, hence only
// f_b = I_b a_b + v_b x* I_b v_b: dtau_k/dp = S_k . (dI a_b + v_b x* dI v_b) for the dofs k at or
// above b. A placement offset pos_j of link b displaces b's subtree along the world direction
// R_parent e_j, exactly as a prismatic dof with column S = (0, R_parent e_j) and zero rate would:
// the dq formulas of rnea_derivatives.c (Carpentier & Mansard, RSS 2018) apply with that column.
// Damping, armature and stiffness enter tau linearly (v, a and q - springref).
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

// is link x in the subtree of link b?
static int in_subtree(const sp_rbd* t, int x, int b) {
  while (x > b) x = t->links[x].parent;
  return x == b;
}

// last dof at or above link b, or -1
static int dof_at_or_above(const sp_rbd* t, int b) {
  for (int j = b; j >= 0; j = t->links[j].parent)
    if (t->links[j].nv) return t->links[j].iv + t->links[j].nv - 1;
  return -1;
}

// world dI of link b along an inertial parameter of the given kind
static void inertia_variation(double* dI, const sp_rbd_data* d, int b, int kind) {
  const sp_rbd_link* l = &d->tree->links[b];
  const double *R = d->R + 9 * b, *p = d->p + 3 * b;
  double c[3], zero9[9] = {0};
  sp_m3_mulv(c, R, l->com);
  for (int k = 0; k < 3; k++) c[k] += p[k];
  if (kind == SP_RBD_P_MASS) {
    sp_si_build(dI, 1.0, c, zero9);
  } else if (kind >= SP_RBD_P_INERTIA && kind < SP_RBD_P_INERTIA + 6) {
    // unit symmetric body-frame variation E, world R E R^T
    static const int rc[6][2] = {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {0, 2}, {1, 2}};
    int r = rc[kind - SP_RBD_P_INERTIA][0], s = rc[kind - SP_RBD_P_INERTIA][1];
    double E[9] = {0}, T[9], W[9], Rt[9];
    E[3 * r + s] = E[3 * s + r] = 1.0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) Rt[3 * i + j] = R[3 * j + i];
    sp_m3_mul(T, R, E);
    sp_m3_mul(W, T, Rt);
    sp_si_build(dI, 0.0, c, W);
  } else {
    // com_j: dc = R e_j; d[[m(|c|^2 1 - c c^T), m cx], [-m cx, m 1]]
    int j = kind - SP_RBD_P_COM;
    double m = l->mass, dc[3] = {R[j], R[3 + j], R[6 + j]};
    double cd = c[0] * dc[0] + c[1] * dc[1] + c[2] * dc[2];
    double dx[9] = {0, -dc[2], dc[1], dc[2], 0, -dc[0], -dc[1], dc[0], 0};
    for (int r = 0; r < 3; r++)
      for (int s = 0; s < 3; s++) {
        dI[6 * r + s] = m * ((r == s ? 2 * cd : 0.0) - dc[r] * c[s] - c[r] * dc[s]);
        dI[6 * r + 3 + s] = m * dx[3 * r + s];
        dI[6 * (3 + r) + s] = -m * dx[3 * r + s];
        dI[6 * (3 + r) + 3 + s] = 0.0;
      }
  }
}

void sp__rbd_rnea_dparams_after(double* dp, sp_rbd_data* d, const double* q, const double* v,
                                const double* a) {
  const sp_rbd* t = d->tree;
  int nv = t->nv, np = t->np;
  memset(dp, 0, (size_t)nv * (size_t)np * sizeof *dp);
  double v0[6] = {0}, a0[6] = {0, 0, 0, -t->gravity[0], -t->gravity[1], -t->gravity[2]};
  for (int i = 0; i < np; i++) {
    int b = t->param_link[i], kind = t->param_kind[i];
    const sp_rbd_link* l = &t->links[b];
    if (kind == SP_RBD_P_DAMPING || kind == SP_RBD_P_ARMATURE || kind == SP_RBD_P_STIFFNESS) {
      for (int c = 0; c < l->nv; c++) {
        int k = l->iv + c;
        double x = kind == SP_RBD_P_DAMPING    ? v[k]
                   : kind == SP_RBD_P_ARMATURE ? a[k]
                                               : q[l->iq] - l->springref;
        dp[k * np + i] = x;
      }
    } else if (kind >= SP_RBD_P_POS && kind < SP_RBD_P_POS + 3) {
      // a virtual prismatic column along the parent's axis j, attached to b
      int j = kind - SP_RBD_P_POS, par = l->parent;
      static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
      const double* Rp = par >= 0 ? d->R + 9 * par : eye;
      const double* vl = par >= 0 ? d->v + 6 * par : v0;
      const double* al = par >= 0 ? d->a + 6 * par : a0;
      double S[6] = {0, 0, 0, Rp[j], Rp[3 + j], Rp[6 + j]}, psi[6], phi[6], t6[6];
      sp_sv_cross_m(psi, vl, S);
      sp_sv_cross_m(phi, al, S);
      sp_sv_cross_m(t6, vl, psi);
      for (int k = 0; k < 6; k++) phi[k] += t6[k];
      // dofs in b's subtree: composites at their own link
      for (int k = l->iv; k < nv; k++) {
        int bk = t->dof_link[k];
        if (!in_subtree(t, bk, b)) continue;
        double y[6];
        sp_si_mulv(y, d->Ic + 36 * bk, phi);
        sp_si_mulv_add(y, d->Bc + 36 * bk, psi);
        dp[k * np + i] = sp_sv_dot(d->S + 6 * k, y);
      }
      // dofs above b: the subtree's force moves too
      double D[6];
      sp_sv_cross_f(D, S, d->f + 6 * b);
      sp_si_mulv_add(D, d->Ic + 36 * b, phi);
      sp_si_mulv_add(D, d->Bc + 36 * b, psi);
      for (int k = par >= 0 ? dof_at_or_above(t, par) : -1; k >= 0; k = t->dof_parent[k])
        dp[k * np + i] = sp_sv_dot(d->S + 6 * k, D);
    } else {
      double dI[36], df[6], h[6], x[6];
      inertia_variation(dI, d, b, kind);
      sp_si_mulv(df, dI, d->a + 6 * b);
      sp_si_mulv(h, dI, d->v + 6 * b);
      sp_sv_cross_f(x, d->v + 6 * b, h);
      for (int k = 0; k < 6; k++) df[k] += x[k];
      for (int k = dof_at_or_above(t, b); k >= 0; k = t->dof_parent[k])
        dp[k * np + i] = sp_sv_dot(d->S + 6 * k, df);
    }
  }
}

void sp_rbd_rnea_dparams(double* dp, sp_rbd_data* d, const double* q, const double* v,
                         const double* a) {
  sp__rbd_derivative_passes(d, q, v, a);
  sp__rbd_rnea_dparams_after(dp, d, q, v, a);
}
