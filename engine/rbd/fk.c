// fk.c: forward kinematics: world placement of every link, world motion subspace of every dof
// (Plücker columns S = (axis, anchor x axis) for rotations, (0, axis) for translations) and the
// world spatial inertia of every link (Featherstone 2008, sec. 2.8 and 4.1); frame Jacobians.
#include <string.h>

#include "engine/rbd/rbd.h"
#include "engine/rbd/spatial.h"

static void rotation_column(double* S, const double* axis_w, const double* anchor_w) {
  memcpy(S, axis_w, 3 * sizeof *S);
  sp_v3_cross(S + 3, anchor_w, axis_w);
}

void sp_rbd_fk(sp_rbd_data* d, const double* q) {
  const sp_rbd* t = d->tree;
  static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  static const double zero[3] = {0, 0, 0};
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    const double* Rp = l->parent >= 0 ? d->R + 9 * l->parent : eye;
    const double* pp = l->parent >= 0 ? d->p + 3 * l->parent : zero;
    // joint transform (Rj, pj) in the placed frame
    double Rj[9], pj[3] = {0, 0, 0}, t3[3];
    memcpy(Rj, eye, sizeof Rj);
    if (l->joint == SP_RBD_REVOLUTE) sp_m3_axis_angle(Rj, l->axis, q[l->iq] - l->ref);
    if (l->joint == SP_RBD_BALL) sp_m3_from_quat(Rj, q + l->iq);
    if (l->joint == SP_RBD_REVOLUTE || l->joint == SP_RBD_BALL) {
      sp_m3_mulv(t3, Rj, l->anchor);
      for (int k = 0; k < 3; k++) pj[k] = l->anchor[k] - t3[k];
    }
    if (l->joint == SP_RBD_PRISMATIC)
      for (int k = 0; k < 3; k++) pj[k] = l->axis[k] * (q[l->iq] - l->ref);
    // world: R = Rp Rpl Rj, p = pp + Rp (pos + Rpl pj)
    double Rpl[9], *R = d->R + 9 * i, *p = d->p + 3 * i, loc[3];
    sp_m3_mul(Rpl, Rp, l->rot);
    sp_m3_mul(R, Rpl, Rj);
    sp_m3_mulv(t3, l->rot, pj);
    for (int k = 0; k < 3; k++) loc[k] = l->pos[k] + t3[k];
    sp_m3_mulv(t3, Rp, loc);
    for (int k = 0; k < 3; k++) p[k] = pp[k] + t3[k];
    // motion subspace in world coordinates
    double aw[3], anc[3];
    sp_m3_mulv(anc, R, l->anchor);
    for (int k = 0; k < 3; k++) anc[k] += p[k];
    double* S = d->S + 6 * l->iv;
    if (l->joint == SP_RBD_REVOLUTE) {
      sp_m3_mulv(aw, R, l->axis);
      rotation_column(S, aw, anc);
    } else if (l->joint == SP_RBD_PRISMATIC) {
      sp_m3_mulv(aw, R, l->axis);
      memset(S, 0, 3 * sizeof *S);
      memcpy(S + 3, aw, sizeof aw);
    } else if (l->joint == SP_RBD_BALL) {
      for (int c = 0; c < 3; c++) {
        for (int k = 0; k < 3; k++) aw[k] = R[3 * k + c];
        rotation_column(S + 6 * c, aw, anc);
      }
    }
    // world spatial inertia: centre of mass c = p + R com, Ic = R Ibody R^T
    const double* in = l->inertia;
    double Ib[9] = {in[0], in[3], in[4], in[3], in[1], in[5], in[4], in[5], in[2]};
    double T[9], Iw[9], Rt[9], cw[3];
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) Rt[3 * r + c] = R[3 * c + r];
    sp_m3_mul(T, R, Ib);
    sp_m3_mul(Iw, T, Rt);
    sp_m3_mulv(cw, R, l->com);
    for (int k = 0; k < 3; k++) cw[k] += p[k];
    sp_si_build(d->I + 36 * i, l->mass, cw, Iw);
  }
}

void sp_rbd_jacobian(double* J, const sp_rbd_data* d, int link, const double* point) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  memset(J, 0, (size_t)(6 * nv) * sizeof *J);
  double pw[3];
  const double* R = d->R + 9 * link;
  if (point)
    sp_m3_mulv(pw, R, point);
  else
    pw[0] = pw[1] = pw[2] = 0;
  for (int k = 0; k < 3; k++) pw[k] += d->p[3 * link + k];
  // the last dof on the path from the link to the root, then up the dof chain
  int k = -1;
  for (int j = link; j >= 0 && k < 0; j = t->links[j].parent)
    if (t->links[j].nv) k = t->links[j].iv + t->links[j].nv - 1;
  for (; k >= 0; k = t->dof_parent[k]) {
    const double* S = d->S + 6 * k;
    // velocity of the point: v_origin + w x p
    double wp[3];
    sp_v3_cross(wp, S, pw);
    for (int r = 0; r < 3; r++) {
      J[r * nv + k] = S[r];
      J[(3 + r) * nv + k] = S[3 + r] + wp[r];
    }
  }
}
