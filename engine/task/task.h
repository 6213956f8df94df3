// task.h: reference generators for planar tracking tasks (method 1's figure-eight and friends).
//
// A task gives, at time t, the reference point
//   r = (x_d, y_d, xdot_d, ydot_d, xddot_d, yddot_d)                           (SP_TASK_NR = 6)
// and its exact time derivative dr/dt = (xdot_d, ydot_d, xddot_d, yddot_d, x'''_d, y'''_d).
// Periodic tasks repeat with `period` seconds; the progress s in [0, 1) is t / period (mod 1), so
// dr/ds = period * dr/dt. Non-periodic (sampled) tasks run from t0 to t0 + period and hold their
// end points outside that interval (velocity, acceleration and dr/dt zero there).
//
// The cost terms of engine/cost also need the "active circle": the circle whose arc the
// reference is on at time t (centre, radius, direction +1 counter-clockwise / -1 clockwise).
// Tasks built from circle arcs (figure-eight, circle) give it exactly; other tasks give the
// osculating circle of the reference (centre of curvature), which does not exist where the
// curvature vanishes (SP_ERANGE). sp_task_ref packs r and the circle into one vector of length
// SP_TASK_NREF, the `ref` argument of every cost term.
//
// Method 1 (Westenbroek et al., arXiv 2307.08168) tracks a figure-eight of two circles of radius
// R = 1.5 m centred at (+-R, 0), lap period T = 5.5 s; the policy sees the progress through
// (cos 2 pi s, sin 2 pi s). Nothing here allocates except the *_new constructors.
#ifndef SP_TASK_TASK_H
#define SP_TASK_TASK_H

#include "engine/core/export.h"

SP_API_BEGIN

// layout of the reference vector given to cost terms
enum {
  SP_TASK_X = 0,       // x_d
  SP_TASK_Y = 1,       // y_d
  SP_TASK_XD = 2,      // xdot_d
  SP_TASK_YD = 3,      // ydot_d
  SP_TASK_XDD = 4,     // xddot_d
  SP_TASK_YDD = 5,     // yddot_d
  SP_TASK_NR = 6,      // length of the reference point r
  SP_TASK_CX = 6,      // active circle centre x
  SP_TASK_CY = 7,      // active circle centre y
  SP_TASK_RADIUS = 8,  // active circle radius
  SP_TASK_DIR = 9,     // +1 counter-clockwise, -1 clockwise (not differentiable)
  SP_TASK_NREF = 10,   // length of the full reference vector
};

typedef struct sp_task sp_task;

typedef enum sp_task_interp {
  SP_TASK_LINEAR = 0,  // piecewise linear: velocity piecewise constant, acceleration zero
  SP_TASK_CUBIC = 1,   // cubic spline (natural, or periodic for periodic tasks): C2
} sp_task_interp;

typedef struct sp_task_class {
  const char* name;  // "figure_eight", "circle", "lemniscate", "sampled"
  // r (6) and drdt (6, may be NULL) at a time t already wrapped/clamped to the task's domain
  void (*eval)(const sp_task* task, double* r, double* drdt, double t);
  // active circle at time t (wrapped); NULL: the osculating circle of r is used
  void (*circle)(const sp_task* task, double* c, double* radius, double* dir, double t);
} sp_task_class;

struct sp_task {
  const sp_task_class* cls;
  double period;  // lap period (periodic) or duration (non-periodic), seconds, > 0
  double t0;      // start time: t0 maps to s = 0
  int periodic;   // 1: time wraps modulo period; 0: clamped to [t0, t0 + period]
  double prm[8];  // class parameters (radius, centre, direction, ...)
  int n;          // sampled: number of knots
  double* kt;     // sampled: (n) knot times, strictly increasing
  double* kxy;    // sampled: (n x 2) knot positions
  double* kmm;    // sampled: (n x 2) spline second derivatives at the knots (cubic)
  sp_task_interp interp;
};

// Two circles of radius R centred at (+R, 0) and (-R, 0), touching at the origin, lap period T,
// constant speed 4 pi R / T. Start: the origin at t = 0 heading +y. First half lap (t < T/2):
// the right circle, clockwise (origin -> (R, R) -> (2R, 0) -> (R, -R) -> origin); second half: the
// left circle, counter-clockwise (origin -> (-R, R) -> (-2R, 0) -> (-R, -R) -> origin). Both
// halves pass the origin heading +y, so position and velocity are continuous (C1) at the switch;
// the curvature flips sign there. radius <= 0 or period <= 0: SP_EINVAL.
int sp_task_figure_eight_new(sp_task** out, double radius, double period);

// Circle of centre (cx, cy) and radius, one lap per period, dir = +1 counter-clockwise or -1
// clockwise, starting at polar angle angle0 (radians) about the centre.
int sp_task_circle_new(sp_task** out, double cx, double cy, double radius, double period, int dir,
                       double angle0);

// Lemniscate of Gerono x = a sin(th), y = a sin(th) cos(th), th = 2 pi t / period: a horizontal
// figure-eight of half-width a and half-height a/2 through the origin, starting there heading
// along (1, 1). Speed is not constant. a <= 0 or period <= 0: SP_EINVAL.
int sp_task_lemniscate_new(sp_task** out, double a, double period);

// Reference through n knots (times t (n), strictly increasing; positions xy (n x 2)).
// periodic = 1: the path is closed, the last knot must equal the first (same position) and the
// period is t[n-1] - t[0]; cubic interpolation then uses a periodic spline (n >= 4).
// periodic = 0: natural cubic spline (n >= 3) or linear (n >= 2), held at the ends.
// Copies the data. SP_EINVAL on bad sizes, non-increasing times or an open "periodic" path.
int sp_task_sampled_new(sp_task** out, const double* t, const double* xy, int n,
                        sp_task_interp interp, int periodic);

void sp_task_free(sp_task* task);

const char* sp_task_name(const sp_task* task);
double sp_task_period(const sp_task* task);

// Reference point r (6) and, when drdt != NULL, its time derivative (6) at time t (any real t:
// wrapped for periodic tasks, clamped otherwise). Does not allocate.
void sp_task_eval(const sp_task* task, double* r, double* drdt, double t);

// The same at progress s (t = t0 + s * period); drds (6, may be NULL) = period * dr/dt.
void sp_task_eval_s(const sp_task* task, double* r, double* drds, double s);

// Active circle at time t: centre c (2), radius, direction (+1 ccw / -1 cw). Exact for circle
// tasks; the osculating circle otherwise, SP_ERANGE where the reference has (near) zero speed or
// curvature (outputs then zero).
int sp_task_circle(const sp_task* task, double* c, double* radius, double* dir, double t);

// Full cost reference ref (SP_TASK_NREF) at time t: r followed by the active circle. Returns
// sp_task_circle's code; r is filled in every case.
int sp_task_ref(const sp_task* task, double* ref, double t);

// Progress s in [0, 1) of the path point closest to (x, y).
// With a hint (s_hint in [0, 1)), only the part of the path within +-window (a fraction of the
// lap, 0 < window <= 0.5) of the hint is searched; ties go to the candidate nearest the hint.
// This is what keeps the estimate from jumping between the figure-eight's circles at the
// origin, where both circles pass through the same point: a car leaving the right circle
// (s just below 0.5) is matched to the start of the left circle (s just above 0.5) because the
// right circle's start (s near 0) lies outside the window. Pass s_hint < 0 for a global search
// (first call). The search samples the window densely, then refines with safeguarded Newton
// steps on the squared distance. window <= 0 uses the default 0.25. Does not allocate.
double sp_task_progress(const sp_task* task, double x, double y, double s_hint, double window);

// Policy features of a progress value: out (2) = (cos 2 pi s, sin 2 pi s).
void sp_task_phase_features(double* out, double s);

SP_API_END

#endif  // SP_TASK_TASK_H
