// internal.h: passes shared between the rbd algorithm files (not part of the public API).
#ifndef SP_RBD_INTERNAL_H
#define SP_RBD_INTERNAL_H

#include "engine/rbd/rbd.h"

// rnea.c: velocities, accelerations (a may be NULL: zero) and subtree forces after fk; tau
// (nv) = S^T f without armature and damping
void sp__rbd_rnea_passes(sp_rbd_data* d, double* tau, const double* v, const double* a);
// crba.c: composite inertias d->Ic from d->I; M (nv x nv) from them, armature included
void sp__rbd_composite(sp_rbd_data* d);
void sp__rbd_mass_matrix(sp_rbd_data* d, double* M);
// aba_derivatives.c: in-place Cholesky of the SPD M (nv x nv, lower factor); SP_ESINGULAR
int sp__rbd_cholesky(double* M, int n);
// X (n x m) <- M^-1 X given the lower Cholesky factor L of M
void sp__rbd_cholesky_solve(const double* L, int n, double* X, int m);

#endif  // SP_RBD_INTERNAL_H
