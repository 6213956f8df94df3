// lqr.h: linear-quadratic regulator design (discrete via DARE, continuous via CARE) and the
// closed-loop analysis that says whether a gain can be trusted on the discrete system it drives.
//
// Discrete design on x[k+1] = A x[k] + B u[k], cost sum x'Qx + u'Ru:
//   K = (R + B'XB)^-1 B'XA,  X the stabilising DARE solution;
// continuous design on xdot = A x + B u, cost integral x'Qx + u'Ru:
//   K = R^-1 B'X,            X the stabilising CARE solution (engine/la/riccati.h).
// Either way the control law is u = u_eq - K (x - x_eq), which sp_lqr_new (ctrl.h) implements as
// a differentiable controller with r = (x_eq, u_eq). A continuous-time gain applied at a sample
// time dt is NOT guaranteed to stabilise the discrete loop (METHODS.md: the double pendulum with
// Q = diag(250, 250, 10, 10), R = I, dt = 0.01 on the lighter model); design on the step Jacobians
// (SP_LQR_DISCRETE) or check sp_lqr_closed_loop on them. Design routines allocate scratch and
// free it; they are not for a control tick.
#ifndef SP_CTRL_LQR_H
#define SP_CTRL_LQR_H

#include "engine/core/export.h"
#include "engine/model/model.h"

SP_API_BEGIN

// K (nu x nx) from the DARE with A (nx x nx), B (nx x nu), Q (nx x nx), R (nu x nu); row-major.
// Errors as sp_dare_solve; K is untouched on failure.
int sp_lqr_gain_discrete(double* K, const double* A, const double* B, const double* Q,
                         const double* R, int nx, int nu);

// K (nu x nx) from the CARE with A, B the continuous-time Jacobians. Errors as sp_care_solve.
int sp_lqr_gain_continuous(double* K, const double* A, const double* B, const double* Q,
                           const double* R, int nx, int nu);

// Eigenvalues of the closed loop M = A - B K: re, im (nx each; either may be NULL), and
// rho = max |lambda| (spectral radius, the discrete-time test: stable when < 1) and
// alpha = max Re(lambda) (the continuous-time test: stable when < 0); rho, alpha may be NULL.
int sp_lqr_closed_loop(double* re, double* im, double* rho, double* alpha, const double* A,
                       const double* B, const double* K, int nx, int nu);

typedef enum sp_lqr_mode {
  SP_LQR_DISCRETE = 0,    // DARE on the step Jacobians A = dstep/dx, B = dstep/du
  SP_LQR_CONTINUOUS = 1,  // CARE on the class's f_jac Jacobians df/dx, df/du
} sp_lqr_mode;

// What a model-based design found out about its gain.
typedef struct sp_lqr_report {
  double rho;    // spectral radius of the DISCRETE closed loop A - B K on the model's step
                 // Jacobians (stable when < 1), whatever the design mode
  double alpha;  // continuous design: max real part of eig(df/dx - df/du K); NAN for discrete
  double drift;  // max |step(x_eq, u_eq) - x_eq|: how far (x_eq, u_eq) is from an equilibrium
} sp_lqr_report;

// Linearise model m at (x_eq (nx), u_eq (nu)) and design K (nu x nx) with Q (nx x nx), R (nu x nu).
// rep may be NULL. A continuous design on a natively discrete class, or a class without f_jac,
// returns SP_EUNSUPPORTED. The gain is returned even when rep->rho >= 1 (a continuous design
// that the discrete loop does not tolerate): checking is the caller's decision, and the report
// makes it possible. Riccati failures as sp_dare_solve / sp_care_solve.
int sp_lqr_design(double* K, sp_lqr_report* rep, const sp_model* m, const double* x_eq,
                  const double* u_eq, const double* Q, const double* R, sp_lqr_mode mode);

SP_API_END

#endif  // SP_CTRL_LQR_H
