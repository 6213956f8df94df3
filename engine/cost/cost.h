// cost.h: per-step cost terms with exact gradients, composed into a weighted sum.
//
// A cost c(x, u, ref) = sum_j w_j c_j(x, u, ref) over terms chosen from the list below, for a
// state x (nx), an action u (nu) and the task reference ref (SP_TASK_NREF, see
// engine/task/task.h: the reference point r followed by the active circle). Terms address the
// stacked vector z = (x, u) by index: i < nx is x[i], nx <= i < nx + nu is u[i - nx], so a term
// written for states also applies to actions (a velocity-input robot's speed lives in u).
//
//   quadratic  (z_I - z*)^T W (z_I - z*)   on indices I (m), target z*_k = ref[ref_idx[k]] or a
//              constant (ref_idx[k] < 0), W (m x m) any matrix (gradient uses W + W^T)
//   radial     (rho - R)^2, rho = |(z_ix, z_iy) - c|, circle centre c and radius R from ref
//              (subgradient 0 at rho = 0)
//   heading    wrap(z_iphi - phi_des)^2, wrap to (-pi, pi]; phi_des is either the tangent of the
//              active circle at the robot's position, atan2(y - cy, x - cx) + dir pi/2
//              (SP_COST_HEADING_CIRCLE: a path-following heading), or the heading of the
//              reference velocity atan2(ydot_d, xdot_d) (SP_COST_HEADING_REF); the derivative
//              is taken away from the wrap's jump at +-pi
//   speed      (z_iv - v_ref)^2, v_ref a constant, or |(xdot_d, ydot_d)| when v_ref is NAN
//   action     u^T R u, R (nu x nu) any matrix, NULL for the identity
//   limit      max(0, z_i - hi)^2 + max(0, lo - z_i)^2: zero inside [lo, hi], quadratic beyond,
//              with a continuous gradient (use -INFINITY / INFINITY for a one-sided limit)
//
// Method 1's car cost (Westenbroek et al., arXiv 2307.08168; x = (px, py, v, phi)):
//   (rho - R)^2 + (1/30)(v - v_ref)^2 + (10/30) wrap(phi - phi_des)^2, no control cost,
// is sp_cost_new_car; it is also three sp_cost_add_* calls.
//
// A terminal cost is a cost made with nu = 0 (sp_cost_new(&c, nx, 0)): its terms may address x
// only, and u is passed as NULL. Building (new, add_*) allocates; evaluating never does.
#ifndef SP_COST_COST_H
#define SP_COST_COST_H

#include "engine/core/export.h"
#include "engine/task/task.h"

SP_API_BEGIN

typedef enum sp_cost_kind {
  SP_COST_QUADRATIC = 0,
  SP_COST_RADIAL = 1,
  SP_COST_HEADING = 2,
  SP_COST_SPEED = 3,
  SP_COST_ACTION = 4,
  SP_COST_LIMIT = 5,
} sp_cost_kind;

typedef enum sp_cost_heading_mode {
  SP_COST_HEADING_CIRCLE = 0,  // tangent of the active circle at the robot's position
  SP_COST_HEADING_REF = 1,     // heading of the reference velocity
} sp_cost_heading_mode;

// A term's class (engine/cost/internal.h): its name and evaluation; one file per term under
// engine/cost/terms/.
typedef struct sp_cost_term_class sp_cost_term_class;

typedef struct sp_cost_term {
  const sp_cost_term_class* cls;
  sp_cost_kind kind;
  double weight;
  int m;           // number of indices (quadratic: m; others: fixed)
  int* idx;        // (m) indices into z = (x, u); NULL when m == 0 (action)
  int* ref_idx;    // quadratic: (m) ref index of each target, < 0 for the constant target
  double* target;  // quadratic: (m) constant targets; start of the term's one allocation
  double* W;       // quadratic: (m x m); action: (nu x nu)
  double lo, hi;   // limit bounds
  double v_ref;    // speed: constant reference, NAN for the reference speed
  int mode;        // heading: sp_cost_heading_mode
} sp_cost_term;

typedef struct sp_cost {
  int nx, nu;
  int n, cap;           // terms in use and allocated
  sp_cost_term* terms;  // (cap)
} sp_cost;

// Empty cost for states of size nx >= 1 and actions of size nu >= 0 (0: a terminal cost).
int sp_cost_new(sp_cost** out, int nx, int nu);
void sp_cost_free(sp_cost* c);

// Add a term with weight w (any finite value). Indices address z = (x, u) (see above); an index
// out of range, a non-finite weight or a malformed argument gives SP_EINVAL and leaves c
// unchanged. Each returns the term's position (>= 0) on success.
int sp_cost_add_quadratic(sp_cost* c, double w, const int* idx, const int* ref_idx,
                          const double* target, const double* W, int m);
int sp_cost_add_radial(sp_cost* c, double w, int ix, int iy);
int sp_cost_add_heading(sp_cost* c, double w, int iphi, int ix, int iy, sp_cost_heading_mode mode);
int sp_cost_add_speed(sp_cost* c, double w, int iv, double v_ref);
int sp_cost_add_action(sp_cost* c, double w, const double* R);
int sp_cost_add_limit(sp_cost* c, double w, int i, double lo, double hi);

// Method 1's car cost on states with position (ix, iy), speed iv and heading iphi:
// radial weight 1, speed 1/30 (v_ref from the reference), heading 10/30 (circle tangent).
int sp_cost_new_car(sp_cost** out, int nx, int nu, int ix, int iy, int iv, int iphi);

// Value of the cost. u may be NULL when nu = 0. Does not allocate or modify its inputs.
double sp_cost_value(const sp_cost* c, const double* x, const double* u, const double* ref);

// Value of each term, weighted, into vals (c->n); returns the sum.
double sp_cost_terms(const sp_cost* c, double* vals, const double* x, const double* u,
                     const double* ref);

// Value, and ACCUMULATE its gradients: gx (nx) += dc/dx, gu (nu) += dc/du,
// gref (SP_TASK_NREF) += dc/dref. Any gradient pointer may be NULL. Does not allocate.
double sp_cost_grad(const sp_cost* c, double* gx, double* gu, double* gref, const double* x,
                    const double* u, const double* ref);

// Angle wrapped to (-pi, pi].
double sp_cost_wrap_angle(double a);

SP_API_END

#endif  // SP_COST_COST_H
