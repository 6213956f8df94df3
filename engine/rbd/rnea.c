// rnea.c: the recursive Newton-Euler algorithm (Featherstone 2008, table 5.1) in world
// coordinates: tau = M(q) a + b(q, v) + damping v. Forward pass: velocities and accelerations
// (gravity as a base acceleration a_0 = -g); backward pass: subtree forces f_i = sum over the
// subtree of I a + v x* I v; tau_k = S_k . f plus armature a_k and damping v_k.
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

void sp__rbd_kinematics(sp_rbd_data* d, const double* v, const double* a) {
  const sp_rbd* t = d->tree;
  double a0[6] = {0, 0, 0, -t->gravity[0], -t->gravity[1], -t->gravity[2]};
  double v0[6] = {0};
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    double *vi = d->v + 6 * i, *ai = d->a + 6 * i;
    const double* vp = l->parent >= 0 ? d->v + 6 * l->parent : v0;
    const double* ap = l->parent >= 0 ? d->a + 6 * l->parent : a0;
    // v_i = v_p + S qd, a_i = a_p + S qdd + v_i x (S qd)
    double sq[6] = {0}, cr[6];
    memcpy(vi, vp, 6 * sizeof *vi);
    memcpy(ai, ap, 6 * sizeof *ai);
    for (int c = 0; c < l->nv; c++) {
      const double* S = d->S + 6 * (l->iv + c);
      for (int k = 0; k < 6; k++) {
        sq[k] += S[k] * v[l->iv + c];
        ai[k] += S[k] * (a ? a[l->iv + c] : 0.0);
      }
    }
    for (int k = 0; k < 6; k++) vi[k] += sq[k];
    sp_sv_cross_m(cr, vi, sq);
    for (int k = 0; k < 6; k++) ai[k] += cr[k];
  }
}

void sp__rbd_rnea_passes(sp_rbd_data* d, double* tau, const double* v, const double* a) {
  const sp_rbd* t = d->tree;
  sp__rbd_kinematics(d, v, a);
  // subtree forces, leaves to root: f_i = I a + v x* I v plus the children's
  memset(d->f, 0, (size_t)(6 * t->nlinks) * sizeof *d->f);
  for (int i = t->nlinks - 1; i >= 0; i--) {
    const sp_rbd_link* l = &t->links[i];
    double* fi = d->f + 6 * i;
    double h[6];
    sp__rbd_body_force(fi, h, d->I + 36 * i, d->v + 6 * i, d->a + 6 * i);
    for (int c = 0; c < l->nv; c++) tau[l->iv + c] = sp_sv_dot(d->S + 6 * (l->iv + c), fi);
    if (l->parent >= 0)
      for (int k = 0; k < 6; k++) d->f[6 * l->parent + k] += fi[k];
  }
}

void sp_rbd_rnea(double* tau, sp_rbd_data* d, const double* q, const double* v, const double* a) {
  const sp_rbd* t = d->tree;
  sp_rbd_fk(d, q);
  sp__rbd_rnea_passes(d, tau, v, a);
  for (int k = 0; k < t->nv; k++) {
    const sp_rbd_link* l = &t->links[t->dof_link[k]];
    tau[k] += l->armature * a[k] + l->damping * v[k];
    if (l->nq == 1) tau[k] += l->stiffness * (q[l->iq] - l->springref);
  }
}

void sp_rbd_bias(double* b, sp_rbd_data* d, const double* q, const double* v) {
  sp_rbd_fk(d, q);
  sp__rbd_rnea_passes(d, b, v, NULL);
}
