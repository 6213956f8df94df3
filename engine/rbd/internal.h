// internal.h: passes shared between the rbd algorithm files (not part of the public API).
#ifndef SP_RBD_INTERNAL_H
#define SP_RBD_INTERNAL_H

#include "engine/rbd/rbd.h"
#include "engine/rbd/spatial.h"

// rnea.c: world velocities d->v and accelerations d->a (a may be NULL: zero) after fk
void sp__rbd_kinematics(sp_rbd_data* d, const double* v, const double* a);
// rnea.c: kinematics, then subtree forces d->f; tau (nv) = S^T f without armature and damping
void sp__rbd_rnea_passes(sp_rbd_data* d, double* tau, const double* v, const double* a);
// f += I a + v x* h, the force of one body, with h (6) = I v its momentum
static inline void sp__rbd_body_force(double* f, double* h, const double* I, const double* v,
                                      const double* a) {
  double x[6];
  sp_si_mulv(h, I, v);
  sp_sv_cross_f(x, v, h);
  sp_si_mulv_add(f, I, a);
  for (int k = 0; k < 6; k++) f[k] += x[k];
}
// aba.c: sp_rbd_aba, leaving U, Dinv, v and a (qdd included) in d; SP_ESINGULAR when a joint's
// articulated inertia S^T IA S + armature is not positive definite (then neither is M)
int sp__rbd_aba_passes(double* qdd, sp_rbd_data* d, const double* q, const double* v,
                       const double* tau);
// aba_derivatives.c: sp_rbd_aba_derivatives for the step: G (nv x 2nv, row stride ldg) =
// scale [dqdd/dq | dqdd/dv], Mi (nv x nv) = M^-1, dp (nv x np, row stride ldp) = scale dqdd/dp;
// each may be NULL
int sp__rbd_aba_derivatives_scaled(double* qdd, double* G, int ldg, double* Mi, double* dp, int ldp,
                                   double scale, sp_rbd_data* d, const double* q, const double* v,
                                   const double* tau);
// rnea_derivatives.c: fk (skipped when q is NULL: d already holds it), kinematics (skipped when v
// is NULL: d->v and d->a already hold them, as after sp__rbd_aba_passes), then one backward pass
// for the subtree forces f, composite inertias Ic and composite bias matrices Bc
void sp__rbd_derivative_passes(sp_rbd_data* d, const double* q, const double* v, const double* a);
// rnea_derivatives.c, param_derivatives.c: the derivatives from those passes; dq and dv (either may
// be NULL) have row stride ld
void sp__rbd_rnea_derivatives_after(double* dq, double* dv, int ld, sp_rbd_data* d);
void sp__rbd_rnea_dparams_after(double* dp, sp_rbd_data* d, const double* q, const double* v,
                                const double* a);
// crba.c: composite inertias d->Ic from d->I; M (nv x nv) from them, armature included
void sp__rbd_composite(sp_rbd_data* d);
void sp__rbd_mass_matrix(sp_rbd_data* d, double* M);

#endif  // SP_RBD_INTERNAL_H
