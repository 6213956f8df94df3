// tracker.c: the cascaded velocity-field tracker of method 1 (Westenbroek, Levy, Fridovich-Keil,
// arXiv 2307.08168; gains and clamps from the reference implementation LearningWithSimpleModels.jl
// as recorded in METHODS.md), for the car (accel-input unicycle) and the quadruped (velocity-input
// unicycle), with its exact Jacobians.
//
// Reference r = (x_d, y_d, xdot_d, ydot_d, xddot_d, yddot_d), gains K = (kx, ky, kv, kphi, ka, kw).
// Outer loop, a velocity field towards the reference point:
//   xd* = xdot_d + kx (x_d - x),   yd* = ydot_d + ky (y_d - y)
//   v_d = |(xd*, yd*)|,            phi_d = atan2(yd*, xd*)
// Feed-forward from the reference's own motion. With s^2 = xdot_d^2 + ydot_d^2 + eps^2
// (eps = 1e-3 m/s keeps it smooth and finite when the reference stops):
//   a_ff = (xdot_d xddot_d + ydot_d yddot_d) / s              tangential acceleration
//   car:       w_ff = (xdot_d yddot_d - ydot_d xddot_d) / s^3  path curvature (the car's steer
//                                                              input is a curvature: phidot = v u2)
//   quadruped: w_ff = (xdot_d yddot_d - ydot_d xddot_d) / s^2  turn rate of the reference velocity
// Inner loop, with the heading error wrapped to (-pi, pi]: e_phi = wrap(phi_d - phi),
// wrap(a) = a - 2 pi ceil((a - pi) / (2 pi)):
//   car       x = (px, py, v, phi):  throttle = ka a_ff + kv (v_d - v)   clamped to +-0.75
//                                    steer    = kw w_ff + kphi e_phi      clamped to +-1
//   quadruped x = (px, py, phi):     v_cmd    = kv v_d + ka a_ff         clamped to +-1 m/s
//                                    w_cmd    = kw w_ff + kphi e_phi      clamped to +-3 rad/s
// (the quadruped's v and w are velocity commands for its walking controller, so the outer-loop
// speed is passed through with gain kv and the reference acceleration enters as a lead term).
//
// Derivatives. Away from the kinks they are exact. Kinks: the clamps (zero derivative when
// saturated, see ctrl.h), the wrap (derivative 1; it jumps by 2 pi where phi_d - phi crosses
// an odd multiple of pi), and v_d = 0 where atan2 and |.| are not differentiable: there the
// derivatives of v_d and phi_d are taken as zero.
#include <math.h>

#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"

#define TRACKER_EPS 1e-3

typedef struct {
  int quad;  // 0 car, 1 quadruped
} tracker_data;

static double wrap(double a) {
  return a - 2 * M_PI * ceil((a - M_PI) / (2 * M_PI));
}

// every intermediate of the forward computation the Jacobians need
typedef struct {
  double ex, ey, xs, ys, vd, phid, ephi, s2, aff, wff, v, p;
  double dvd_dxs, dvd_dys, dph_dxs, dph_dys;  // outer loop
  double da_dxv, da_dyv, da_dxa, da_dya;      // a_ff wrt reference velocity, acceleration
  double dw_dxv, dw_dyv, dw_dxa, dw_dya;      // w_ff likewise
} fwd;

static void forward(fwd* f, int quad, const double* x, const double* r, const double* K) {
  double xv = r[2], yv = r[3], xa = r[4], ya = r[5];
  double phi = quad ? x[2] : x[3];
  f->v = quad ? 0.0 : x[2];
  f->ex = r[0] - x[0];
  f->ey = r[1] - x[1];
  f->xs = xv + K[0] * f->ex;
  f->ys = yv + K[1] * f->ey;
  f->vd = hypot(f->xs, f->ys);
  f->phid = atan2(f->ys, f->xs);
  f->ephi = wrap(f->phid - phi);
  if (f->vd > 0) {
    f->dvd_dxs = f->xs / f->vd;
    f->dvd_dys = f->ys / f->vd;
    f->dph_dxs = -f->ys / (f->vd * f->vd);
    f->dph_dys = f->xs / (f->vd * f->vd);
  } else {
    f->dvd_dxs = f->dvd_dys = f->dph_dxs = f->dph_dys = 0;
  }
  // feed-forward and its derivatives
  double s2 = xv * xv + yv * yv + TRACKER_EPS * TRACKER_EPS, s = sqrt(s2);
  double dot = xv * xa + yv * ya, cross = xv * ya - yv * xa;
  f->s2 = s2;
  f->aff = dot / s;
  f->da_dxv = xa / s - dot * xv / (s2 * s);
  f->da_dyv = ya / s - dot * yv / (s2 * s);
  f->da_dxa = xv / s;
  f->da_dya = yv / s;
  double p = quad ? 1.0 : 1.5, sp = pow(s2, -p), sp1 = pow(s2, -p - 1);
  f->p = p;
  f->wff = cross * sp;
  f->dw_dxv = ya * sp - cross * p * sp1 * 2 * xv;
  f->dw_dyv = -xa * sp - cross * p * sp1 * 2 * yv;
  f->dw_dxa = -yv * sp;
  f->dw_dya = xv * sp;
}

static void tracker_raw(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x,
                        const double* r, const double* K) {
  int quad = ((const tracker_data*)c->data)->quad;
  fwd f;
  forward(&f, quad, x, r, K);
  u[0] = quad ? K[2] * f.vd + K[4] * f.aff : K[4] * f.aff + K[2] * (f.vd - f.v);
  u[1] = K[5] * f.wff + K[3] * f.ephi;
}

static void tracker_raw_jac(const sp_ctrl* c, sp_ctrl_data* d, double* Dx, double* Dr, double* DK,
                            const double* x, const double* r, const double* K) {
  int quad = ((const tracker_data*)c->data)->quad, nx = c->nx;
  fwd f;
  forward(&f, quad, x, r, K);
  double kx = K[0], ky = K[1], kv = K[2], kph = K[3], ka = K[4], kw = K[5];
  // u0 = kv v_d (- kv v) + ka a_ff,  u1 = kphi e_phi + kw w_ff; chain through (xd*, yd*)
  double du0_dxs = kv * f.dvd_dxs, du0_dys = kv * f.dvd_dys;
  double du1_dxs = kph * f.dph_dxs, du1_dys = kph * f.dph_dys;
  if (Dx) {
    double* d0 = Dx;
    double* d1 = Dx + nx;
    for (int j = 0; j < nx; j++) d0[j] = d1[j] = 0;
    d0[0] = -kx * du0_dxs;
    d0[1] = -ky * du0_dys;
    d1[0] = -kx * du1_dxs;
    d1[1] = -ky * du1_dys;
    if (quad) {
      d1[2] = -kph;
    } else {
      d0[2] = -kv;
      d1[3] = -kph;
    }
  }
  if (Dr) {
    double* d0 = Dr;
    double* d1 = Dr + 6;
    d0[0] = kx * du0_dxs;
    d0[1] = ky * du0_dys;
    d0[2] = du0_dxs + ka * f.da_dxv;
    d0[3] = du0_dys + ka * f.da_dyv;
    d0[4] = ka * f.da_dxa;
    d0[5] = ka * f.da_dya;
    d1[0] = kx * du1_dxs;
    d1[1] = ky * du1_dys;
    d1[2] = du1_dxs + kw * f.dw_dxv;
    d1[3] = du1_dys + kw * f.dw_dyv;
    d1[4] = kw * f.dw_dxa;
    d1[5] = kw * f.dw_dya;
  }
  if (DK) {
    double* d0 = DK;
    double* d1 = DK + 6;
    d0[0] = f.ex * du0_dxs;
    d0[1] = f.ey * du0_dys;
    d0[2] = quad ? f.vd : f.vd - f.v;
    d0[3] = 0;
    d0[4] = f.aff;
    d0[5] = 0;
    d1[0] = f.ex * du1_dxs;
    d1[1] = f.ey * du1_dys;
    d1[2] = 0;
    d1[3] = f.ephi;
    d1[4] = 0;
    d1[5] = f.wff;
  }
}

static const sp_ctrl_block tracker_gains[] = {{"kx", 1},   {"ky", 1}, {"kv", 1},
                                              {"kphi", 1}, {"ka", 1}, {"kw", 1}};
static const sp_ctrl_block tracker_refs[] = {{"x_d", 1},    {"y_d", 1},     {"xdot_d", 1},
                                             {"ydot_d", 1}, {"xddot_d", 1}, {"yddot_d", 1}};

static const sp_ctrl_class tracker_car = {
    .name = "tracker_car",
    .ngains = 6,
    .gains = tracker_gains,
    .nrefs = 6,
    .refs = tracker_refs,
    .raw = tracker_raw,
    .raw_jac = tracker_raw_jac,
};
static const sp_ctrl_class tracker_quad = {
    .name = "tracker_quadruped",
    .ngains = 6,
    .gains = tracker_gains,
    .nrefs = 6,
    .refs = tracker_refs,
    .raw = tracker_raw,
    .raw_jac = tracker_raw_jac,
};

int sp_tracker_new(sp_ctrl** out, sp_tracker_kind kind) {
  if (!out || (kind != SP_TRACKER_CAR && kind != SP_TRACKER_QUADRUPED)) return SP_EINVAL;
  int quad = kind == SP_TRACKER_QUADRUPED;
  sp_ctrl* c;
  int rc = sp_ctrl_new_class(&c, quad ? &tracker_quad : &tracker_car, quad ? 3 : 4, 2, 6, 6, 0,
                             (int)sizeof(tracker_data));
  if (rc) return rc;
  ((tracker_data*)c->data)->quad = quad;
  // defaults from METHODS.md (reference implementation settings)
  static const double car_k[6] = {0.45, 0.45, 0.35, 0.35, 0, 0};
  static const double quad_k[6] = {0.2, 0.2, 0.95, 2.5, 0, 0};
  static const double car_hi[2] = {0.75, 1.0}, car_lo[2] = {-0.75, -1.0};
  static const double quad_hi[2] = {1.0, 3.0}, quad_lo[2] = {-1.0, -3.0};
  sp_ctrl_set_gains(c, quad ? quad_k : car_k);
  sp_ctrl_set_limits(c, quad ? quad_lo : car_lo, quad ? quad_hi : car_hi);
  *out = c;
  return 0;
}
