// ctrl.h: the common interface of spinal's differentiable feedback controllers.
//
// A controller is a differentiable block (in the manner of a Torch7 nn module)
//   u = kappa(x, r, K)
// with state x (nx), reference r (nr) and a flat gain vector K (nk), giving the action u (nu).
// Method 1 (Westenbroek et al., arXiv 2307.08168) embeds such a controller in the policy: a
// network corrects the reference and the gains, u = kappa(x, r + dp, K0 + dK), and the gradient
// estimator needs du/dx, du/dr and du/dK (or their vector-Jacobian products) at every recorded
// step. Concrete controllers:
//   tracker.c  cascaded velocity-field tracker (car: accel-input unicycle; quadruped: velocity-
//              input unicycle), r = reference position, velocity, acceleration; K = 6 gains
//   pd.c       joint PD, r = (q_d, qdot_d, u_ff); K = (kp, kd) per channel
//   lqr.c      u = u_ff - K (x - x_set), r = (x_set, u_ff); K = the nu x nx gain, row-major.
//              LQR design (DARE/CARE) from a model; TV-LQR (tvlqr.c) designs a gain sequence
//              used with the same controller, one (r_k, K_k) per step.
//
// Action limits. Each controller has lower and upper limits lo, hi (nu; +-INFINITY for none).
// act returns clamp(raw, lo, hi). A channel is saturated when its raw value lies strictly outside
// [lo, hi]; the derivatives of a saturated channel are zero (the clamp is flat there), and those
// of an unsaturated channel are the raw controller's. At raw == lo or raw == hi exactly the clamp
// is not differentiable and we return the raw derivatives (the one-sided derivative from inside).
// The tracker sets its limits from METHODS.md at creation; sp_ctrl_set_limits changes them.
//
// Conventions. Outputs first, then inputs, then sizes. K may be NULL in every call, meaning the
// controller's own gains c->K (set at creation, editable). r may be NULL only when nr == 0.
// act, jac and vjp never allocate (their scratch is carved at creation), never modify x, r or K,
// and return 0 or SP_EINVAL (NULL required pointer) or SP_ENUMERIC (a non-finite action; u is
// still written). They use the controller's scratch, so one controller must not be called from two
// threads at once; make one per thread. Jacobians are dense and row-major: DuDx (nu x nx), DuDr
// (nu x nr), DuDK (nu x nk); each may be NULL when not wanted. vjp ACCUMULATES (+=) gx (nx),
// gr (nr), gK (nk) from g = dL/du (nu); each output may be NULL.
#ifndef SP_CTRL_CTRL_H
#define SP_CTRL_CTRL_H

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_ctrl sp_ctrl;

typedef struct sp_ctrl_class {
  const char* name;  // "tracker_car", "tracker_quadruped", "pd", "lqr"
  // unclamped action raw (nu)
  void (*raw)(sp_ctrl* c, double* raw, const double* x, const double* r, const double* K);
  // Jacobians of the unclamped action; any output may be NULL
  void (*raw_jac)(sp_ctrl* c, double* DuDx, double* DuDr, double* DuDK, const double* x,
                  const double* r, const double* K);
  // optional: accumulate J' g for the unclamped action (NULL: done through raw_jac and c->jac)
  void (*raw_vjp)(sp_ctrl* c, double* gx, double* gr, double* gK, const double* x, const double* r,
                  const double* K, const double* g);
} sp_ctrl_class;

struct sp_ctrl {
  const sp_ctrl_class* cls;
  int nx, nu, nr, nk;
  double* K;       // (nk) gains used when a call passes K == NULL
  double* lo;      // (nu) lower action limits, -INFINITY for none
  double* hi;      // (nu) upper action limits, +INFINITY for none
  int* saturated;  // (nu) set by act, jac, vjp: 1 where the last action was clamped
  double* raw;     // (nu) scratch: the last unclamped action
  double* jac;     // (nu x (nx + nr + nk)) scratch for the generic vjp
  double* g;       // (nu) scratch: g with saturated channels zeroed
  double* fd;      // (nx + nr + nk + 2 nu) scratch for sp_ctrl_jac_fd
  double* work;    // class-specific scratch (nwork doubles)
  void* data;      // class-specific data, may be NULL
};

// u (nu) = clamp(kappa(x, r, K), lo, hi); c->saturated records which channels were clamped.
int sp_ctrl_act(sp_ctrl* c, double* u, const double* x, const double* r, const double* K);

// Jacobians of the clamped action: DuDx (nu x nx), DuDr (nu x nr), DuDK (nu x nk); rows of
// saturated channels are zero.
int sp_ctrl_jac(sp_ctrl* c, double* DuDx, double* DuDr, double* DuDK, const double* x,
                const double* r, const double* K);

// Backward form: gx += DuDx' g, gr += DuDr' g, gK += DuDK' g with g = dL/du (nu).
int sp_ctrl_vjp(sp_ctrl* c, double* gx, double* gr, double* gK, const double* x, const double* r,
                const double* K, const double* g);

// Central finite-difference Jacobians with step h (for tests and for checking a new controller).
// Uses the controller's scratch; does not allocate. Same shapes as sp_ctrl_jac.
int sp_ctrl_jac_fd(sp_ctrl* c, double* DuDx, double* DuDr, double* DuDK, const double* x,
                   const double* r, const double* K, double h);

// Set the action limits (nu each); lo or hi may be NULL for "none" on that side. SP_EINVAL when
// some lo[i] > hi[i] or a limit is NaN (nothing is changed then).
int sp_ctrl_set_limits(sp_ctrl* c, const double* lo, const double* hi);

// Copy nk gains into c->K. SP_EINVAL on NULL.
int sp_ctrl_set_gains(sp_ctrl* c, const double* K);

void sp_ctrl_free(sp_ctrl* c);

// Create a controller of class cls with the given sizes and nwork doubles of class scratch and
// ndata bytes of class data, all in one allocation; gains start at zero, limits at +-INFINITY.
// For controller implementations. SP_EINVAL on a size < 0 (nx, nu must be >= 1), SP_ENOMEM.
int sp__ctrl_new(sp_ctrl** out, const sp_ctrl_class* cls, int nx, int nu, int nr, int nk, int nwork,
                 int ndata);

// ---- concrete controllers -----------------------------------------------------------------------

// Cascaded velocity-field tracker of method 1 (tracker.c has the equations).
//   SP_TRACKER_CAR:       x = (px, py, v, phi) (accel-input unicycle), u = (throttle, steer),
//                         limits +-0.75, +-1; default K = (0.45, 0.45, 0.35, 0.35, 0, 0)
//   SP_TRACKER_QUADRUPED: x = (px, py, phi) (velocity-input unicycle), u = (v, w),
//                         limits |v| <= 1, |w| <= 3; default K = (0.2, 0.2, 0.95, 2.5, 0, 0)
// r = (x_d, y_d, xdot_d, ydot_d, xddot_d, yddot_d) (nr = 6), K = (kx, ky, kv, kphi, ka, kw).
typedef enum sp_tracker_kind { SP_TRACKER_CAR = 0, SP_TRACKER_QUADRUPED = 1 } sp_tracker_kind;
int sp_tracker_new(sp_ctrl** out, sp_tracker_kind kind);

// Joint PD for n joints: x = (q (n), qdot (n)), r = (q_d (n), qdot_d (n), u_ff (n)),
// K = (kp (n), kd (n)), u = u_ff + kp .* (q_d - q) + kd .* (qdot_d - qdot), no limits by default.
// kp, kd (n each) may be NULL (zero gains).
int sp_pd_new(sp_ctrl** out, int n, const double* kp, const double* kd);

// Linear state feedback: x (nx), r = (x_set (nx), u_ff (nu)), K (nu x nx) row-major,
// u = u_ff - K (x - x_set). K0 (nu x nx) may be NULL (zero gain). No limits by default.
int sp_lqr_new(sp_ctrl** out, const double* K0, int nx, int nu);

SP_API_END

#endif  // SP_CTRL_CTRL_H
