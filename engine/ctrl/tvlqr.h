// tvlqr.h: finite-horizon, time-varying LQR along a reference trajectory.
//
// For the linearisation dx[k+1] = A_k dx[k] + B_k du[k] of a model about a reference
// (x_ref[k], u_ref[k]), k = 0..T-1, and the cost sum_k (dx'Q dx + du'R du) + dx[T]'Qf dx[T], the
// optimal feedback is du[k] = -K_k dx[k] with the backward Riccati recursion (e.g. Anderson and
// Moore, "Optimal Control: Linear Quadratic Methods", 1990, ch. 2):
//   P_T = Qf
//   K_k = (R + B_k' P_{k+1} B_k)^-1 B_k' P_{k+1} A_k
//   P_k = Q + A_k' P_{k+1} (A_k - B_k K_k)
// The gains drive the LQR controller of ctrl.h (sp_lqr_new) one step at a time:
// u[k] = kappa(x, r_k, K_k) with r_k = (x_ref[k], u_ref[k]). For a time-invariant (A, B) the gains
// converge, far from the horizon's end, to the DARE gain. Design routines allocate scratch and
// free it; they are not for a control tick.
#ifndef SP_CTRL_TVLQR_H
#define SP_CTRL_TVLQR_H

#include "engine/core/export.h"
#include "engine/model/model.h"

SP_API_BEGIN

// Gains K (T x nu x nx) from A (T x nx x nx), B (T x nx x nu), Q, Qf (nx x nx, symmetric PSD),
// R (nu x nu, symmetric PD); all row-major and stacked by time. P0 (nx x nx, the cost-to-go
// matrix at k = 0) may be NULL. SP_EINVAL for T < 1, bad sizes, NULL or non-symmetric weights,
// SP_ESINGULAR for R not positive definite, SP_ENUMERIC when the recursion overflows.
int sp_tvlqr_solve(double* K, double* P0, const double* A, const double* B, const double* Q,
                   const double* R, const double* Qf, int T, int nx, int nu);

// Gains K (T x nu x nx) along a reference of model m: A_k, B_k are the exact step Jacobians at
// (xs[k], us[k]), xs (T x nx), us (T x nu) (the reference need not be a trajectory of m; where it
// is not, the gains are those of the linearisation about the given points). P0 may be NULL. Errors
// as sp_tvlqr_solve, plus SP_ENOMEM.
int sp_tvlqr_design(double* K, double* P0, const sp_model* m, const double* xs, const double* us,
                    const double* Q, const double* R, const double* Qf, int T);

SP_API_END

#endif  // SP_CTRL_TVLQR_H
