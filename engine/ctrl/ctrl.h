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
// Description and workspace (as sp_rbd / sp_rbd_data). An sp_ctrl is the read-only description:
// class, sizes, gains K, limits and class parameters. Every evaluation takes it const together
// with a caller-owned workspace (sp_ctrl_data: the last raw action, saturation flags and scratch),
// so one controller serves several threads at once, each with its own workspace. Changing a
// controller (sp_ctrl_set_gains, sp_ctrl_set_limits) must not overlap its evaluations.
//
// Names. A class names its gains and its reference entries in blocks (sp_ctrl_block): "kx" is
// one gain, "kp" one per action, "K" an nu x nx matrix. sp_ctrl_gain_index and sp_ctrl_ref_index
// find a block by name, so code above the engine (the live loop, robot files) addresses any
// class's gains by name without knowing the class.
//
// Conventions. Outputs first, then inputs, then sizes. K may be NULL in every call, meaning the
// controller's own gains c->K (set at creation, editable). r may be NULL only when nr == 0.
// act, jac and vjp never allocate, never modify c, x, r or K, and return 0 or SP_EINVAL (NULL
// required pointer, or a workspace made for other sizes) or SP_ENUMERIC (a non-finite action; u is
// still written). Jacobians are dense and row-major: DuDx (nu x nx), DuDr (nu x nr), DuDK
// (nu x nk); each may be NULL when not wanted. vjp ACCUMULATES (+=) gx (nx), gr (nr), gK (nk) from
// g = dL/du (nu); each output may be NULL.
#ifndef SP_CTRL_CTRL_H
#define SP_CTRL_CTRL_H

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_ctrl sp_ctrl;
typedef struct sp_ctrl_data sp_ctrl_data;

// the length of a named block: a fixed count (> 0) or one of these, resolved per instance
enum {
  SP_CTRL_PER_STATE = -1,   // nx entries
  SP_CTRL_PER_ACTION = -2,  // nu entries
  SP_CTRL_MATRIX = -3,      // nu x nx entries, row-major
};

typedef struct sp_ctrl_block {
  const char* name;  // "kx", "kp", "K", "x_set"
  int size;          // > 0, or SP_CTRL_PER_STATE, SP_CTRL_PER_ACTION, SP_CTRL_MATRIX
} sp_ctrl_block;

typedef struct sp_ctrl_class {
  const char* name;  // "tracker_car", "tracker_quadruped", "pd", "lqr"
  // named blocks covering K (nk) and r (nr) in order; ngains / nrefs may be 0 (no names)
  int ngains;
  const sp_ctrl_block* gains;  // (ngains)
  int nrefs;
  const sp_ctrl_block* refs;  // (nrefs)
  // unclamped action raw (nu); d->work holds the class's scratch (c->nwork doubles)
  void (*raw)(const sp_ctrl* c, sp_ctrl_data* d, double* raw, const double* x, const double* r,
              const double* K);
  // Jacobians of the unclamped action; any output may be NULL
  void (*raw_jac)(const sp_ctrl* c, sp_ctrl_data* d, double* DuDx, double* DuDr, double* DuDK,
                  const double* x, const double* r, const double* K);
  // optional: accumulate J' g for the unclamped action (NULL: done through raw_jac and d->jac)
  void (*raw_vjp)(const sp_ctrl* c, sp_ctrl_data* d, double* gx, double* gr, double* gK,
                  const double* x, const double* r, const double* K, const double* g);
} sp_ctrl_class;

struct sp_ctrl {
  const sp_ctrl_class* cls;
  int nx, nu, nr, nk;
  int nwork;   // class scratch each workspace carries (doubles)
  double* K;   // (nk) gains used when a call passes K == NULL
  double* lo;  // (nu) lower action limits, -INFINITY for none
  double* hi;  // (nu) upper action limits, +INFINITY for none
  void* data;  // class-specific parameters (read-only during evaluation), may be NULL
};

// Scratch for one evaluation at a time of a controller of its sizes.
struct sp_ctrl_data {
  const sp_ctrl* ctrl;  // the controller it was made for
  int nx, nu, nr, nk, nwork;
  int* saturated;  // (nu) set by act, jac, vjp: 1 where the last action was clamped
  double* raw;     // (nu) the last unclamped action
  double* jac;     // (nu x (nx + nr + nk)) scratch for the generic vjp
  double* g;       // (nu) scratch: g with saturated channels zeroed
  double* fd;      // (nx + nr + nk + 2 nu) scratch for sp_ctrl_jac_fd
  double* work;    // (nwork) class scratch
};

// A workspace for controllers of c's sizes; SP_EINVAL for NULL arguments, SP_ENOMEM. *out is
// NULL on failure.
int sp_ctrl_data_new(sp_ctrl_data** out, const sp_ctrl* c);
void sp_ctrl_data_free(sp_ctrl_data* d);  // NULL is a no-op

// u (nu) = clamp(kappa(x, r, K), lo, hi); d->saturated records which channels were clamped.
int sp_ctrl_act(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x, const double* r,
                const double* K);

// Jacobians of the clamped action: DuDx (nu x nx), DuDr (nu x nr), DuDK (nu x nk); rows of
// saturated channels are zero.
int sp_ctrl_jac(const sp_ctrl* c, sp_ctrl_data* d, double* DuDx, double* DuDr, double* DuDK,
                const double* x, const double* r, const double* K);

// Backward form: gx += DuDx' g, gr += DuDr' g, gK += DuDK' g with g = dL/du (nu).
int sp_ctrl_vjp(const sp_ctrl* c, sp_ctrl_data* d, double* gx, double* gr, double* gK,
                const double* x, const double* r, const double* K, const double* g);

// Central finite-difference Jacobians with step h (for tests and for checking a new controller).
// Uses the workspace's scratch; does not allocate. Same shapes as sp_ctrl_jac.
int sp_ctrl_jac_fd(const sp_ctrl* c, sp_ctrl_data* d, double* DuDx, double* DuDr, double* DuDK,
                   const double* x, const double* r, const double* K, double h);

// Set the action limits (nu each); lo or hi may be NULL for "none" on that side. SP_EINVAL when
// some lo[i] > hi[i] or a limit is NaN (nothing is changed then).
int sp_ctrl_set_limits(sp_ctrl* c, const double* lo, const double* hi);

// Copy nk gains into c->K. SP_EINVAL on NULL.
int sp_ctrl_set_gains(sp_ctrl* c, const double* K);

// The named block of gains (into K) or reference entries (into r): returns its offset (>= 0) and
// sets *count (may be NULL) to its length, *matrix (may be NULL) to 1 for an SP_CTRL_MATRIX
// block. SP_ENOTFOUND for a name the class does not have (or a class without names).
int sp_ctrl_gain_index(const sp_ctrl* c, const char* name, int* count, int* matrix);
int sp_ctrl_ref_index(const sp_ctrl* c, const char* name, int* count, int* matrix);
// The length of a block for this controller's sizes.
int sp_ctrl_block_size(const sp_ctrl* c, const sp_ctrl_block* b);

void sp_ctrl_free(sp_ctrl* c);

// Create a controller of class cls with the given sizes, nwork doubles of class scratch per
// workspace and ndata bytes of class data, in one allocation; gains start at zero, limits at
// +-INFINITY. For controller classes, built-in or defined by a program (the class must outlive
// its controllers). SP_EINVAL for a NULL out or class, a size < 0 (nx, nu must be >= 1), a NULL
// raw or raw_jac, or named blocks that do not add up to nk (gains) or nr (references); SP_ENOMEM.
int sp_ctrl_new_class(sp_ctrl** out, const sp_ctrl_class* cls, int nx, int nu, int nr, int nk,
                      int nwork, int ndata);

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
