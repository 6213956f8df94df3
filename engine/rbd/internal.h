// internal.h: passes shared between the rbd algorithm files (not part of the public API).
#ifndef SP_RBD_INTERNAL_H
#define SP_RBD_INTERNAL_H

#include "engine/rbd/rbd.h"

// rnea.c: velocities, accelerations (a may be NULL: zero) and subtree forces after fk; tau
// (nv) = S^T f without armature and damping
void sp__rbd_rnea_passes(sp_rbd_data* d, double* tau, const double* v, const double* a);
// rnea_derivatives.c: fk (skipped when q is NULL: d already holds it), rnea passes, composite
// inertias Ic and composite bias matrices Bc
void sp__rbd_derivative_passes(sp_rbd_data* d, const double* q, const double* v, const double* a);
// rnea_derivatives.c, param_derivatives.c: the derivatives from those passes
void sp__rbd_rnea_derivatives_after(double* dq, double* dv, sp_rbd_data* d);
void sp__rbd_rnea_dparams_after(double* dp, sp_rbd_data* d, const double* q, const double* v,
                                const double* a);
// crba.c: composite inertias d->Ic from d->I; M (nv x nv) from them, armature included
void sp__rbd_composite(sp_rbd_data* d);
void sp__rbd_mass_matrix(sp_rbd_data* d, double* M);
// aba_derivatives.c: M = L^T L in place, L with the tree's sparsity (lambda: each dof's parent
// dof, -1 at the root; lambda[k] < k); SP_ESINGULAR when M is not positive definite
int sp__rbd_ltl(double* M, const int* lambda, int n);
// X (n x m) <- M^-1 X given that factor
void sp__rbd_ltl_solve(const double* L, const int* lambda, int n, double* X, int m);

#endif  // SP_RBD_INTERNAL_H
