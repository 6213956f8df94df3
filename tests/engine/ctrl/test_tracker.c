// test_tracker.c: the cascaded velocity-field tracker (engine/ctrl/tracker.c), car and quadruped:
// the equations at hand-computed points, clamps, heading wrap, derivatives against central
// differences, VJP, no mutation, no allocation, and closed-loop tracking of a circle.
#include "ctrl_checks.h"
#include "engine/core/error.h"
#include "test.h"
#include "workspace.h"

// a random point where no channel is near its clamp, v_d is well away from zero and the heading
// error is well inside (-pi, pi): the derivatives exist there
static int draw_point(sp_ctrl* c, sp_rng* g, double* x, double* r, double* K) {
  int quad = c->nx == 3;
  for (int tries = 0; tries < 10000; tries++) {
    double Kd[6] = {sp_rng_uniform(g) * 0.8 + 0.2, sp_rng_uniform(g) * 0.8 + 0.2,
                    sp_rng_uniform(g) * 0.9 + 0.1, sp_rng_uniform(g) * 0.9 + 0.1,
                    sp_rng_uniform(g) - 0.5,       sp_rng_uniform(g) - 0.5};
    if (quad) Kd[3] *= 2;
    memcpy(K, Kd, sizeof Kd);
    sp_rng_fill_normal(g, r, 6, 0, 1);
    x[0] = r[0] + 0.5 * sp_rng_normal(g);
    x[1] = r[1] + 0.5 * sp_rng_normal(g);
    double xs = r[2] + K[0] * (r[0] - x[0]), ys = r[3] + K[1] * (r[1] - x[1]);
    double phid = atan2(ys, xs), phi = phid + 0.4 * sp_rng_normal(g) + 2 * M_PI * (tries % 3 - 1);
    if (quad) {
      x[2] = phi;
    } else {
      x[2] = hypot(xs, ys) + 0.5 * sp_rng_normal(g);
      x[3] = phi;
    }
    double u[2];
    sp_ctrl_act(c, ctrl_ws(c), u, x, r, K);
    double eph = fabs(phid - phi - 2 * M_PI * round((phid - phi) / (2 * M_PI)));
    if (hypot(xs, ys) > 0.2 && eph < 2.5 && fabs(u[0]) < 0.95 * c->hi[0] &&
        fabs(u[1]) < 0.95 * c->hi[1])
      return 1;
  }
  return 0;
}

TEST(car_tracker_computes_the_method_1_equations) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  CHECK_INT(c->nx, 4);
  CHECK_INT(c->nu, 2);
  CHECK_INT(c->nr, 6);
  CHECK_INT(c->nk, 6);
  // default gains, reference ahead along +x at 1 m/s, car at the origin heading 0.1, v = 0.5
  double x[4] = {0, 0, 0.5, 0.1}, r[6] = {0.2, 0.1, 1.0, 0, 0, 0}, u[2];
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
  double xs = 1.0 + 0.45 * 0.2, ys = 0.45 * 0.1;
  CHECK_CLOSE(u[0], 0.35 * (hypot(xs, ys) - 0.5), 1e-14, 0);
  CHECK_CLOSE(u[1], 0.35 * (atan2(ys, xs) - 0.1), 1e-14, 0);
  // feed-forward: on a circle of radius 2 at 1 m/s (accel 0.5 towards the centre) plus 0.3 m/s^2
  // along the path, a_ff = 0.3 and the curvature is 1/2
  double K[6] = {0.45, 0.45, 0.35, 0.35, 1.0, 1.0};
  double rc[6] = {0, 0, 1.0, 0, 0.3, 0.5}, xc[4] = {0, 0, 1.0, 0};
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, xc, rc, K), 0);
  CHECK_CLOSE(u[0], 0.3, 1e-5, 0);
  CHECK_CLOSE(u[1], 0.5, 1e-5, 0);
  sp_ctrl_free(c);
}

TEST(quadruped_tracker_computes_velocity_commands) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_QUADRUPED), 0);
  CHECK_INT(c->nx, 3);
  double x[3] = {0, 0, 0.1}, r[6] = {0.2, 0.1, 0.5, 0, 0, 0}, u[2];
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
  double xs = 0.5 + 0.2 * 0.2, ys = 0.2 * 0.1;
  CHECK_CLOSE(u[0], 0.95 * hypot(xs, ys), 1e-14, 0);
  CHECK_CLOSE(u[1], 2.5 * (atan2(ys, xs) - 0.1), 1e-14, 0);
  // turn-rate feed-forward: circle of radius 1 at 0.5 m/s turns at 0.5 rad/s
  double K[6] = {0.2, 0.2, 0.95, 2.5, 0, 1.0}, rc[6] = {0, 0, 0.5, 0, 0, 0.25}, xc[3] = {0, 0, 0};
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, xc, rc, K), 0);
  CHECK_CLOSE(u[1], 0.5, 1e-5, 0);
  sp_ctrl_free(c);
}

TEST(actions_are_clamped_and_saturated_channels_have_zero_derivative) {
  sp_ctrl* car;
  sp_ctrl* quad;
  CHECK_INT(sp_tracker_new(&car, SP_TRACKER_CAR), 0);
  CHECK_INT(sp_tracker_new(&quad, SP_TRACKER_QUADRUPED), 0);
  // far behind a fast reference, heading away from it
  double x[4] = {0, 0, 0, 3.0}, r[6] = {10, 0, 5, 0, 0, 0}, u[2];
  CHECK_INT(sp_ctrl_act(car, ctrl_ws(car), u, x, r, NULL), 0);
  CHECK(u[0] == 0.75 && u[1] == -1.0);
  CHECK(ctrl_ws(car)->saturated[0] && ctrl_ws(car)->saturated[1]);
  double Dx[8], Dr[12], DK[12];
  CHECK_INT(sp_ctrl_jac(car, ctrl_ws(car), Dx, Dr, DK, x, r, NULL), 0);
  for (int i = 0; i < 8; i++) CHECK(Dx[i] == 0);
  for (int i = 0; i < 12; i++) CHECK(Dr[i] == 0 && DK[i] == 0);
  double g[2] = {1, 1}, gx[4] = {0}, gr[6] = {0}, gK[6] = {0};
  CHECK_INT(sp_ctrl_vjp(car, ctrl_ws(car), gx, gr, gK, x, r, NULL, g), 0);
  for (int i = 0; i < 4; i++) CHECK(gx[i] == 0);
  double xq[3] = {0, 0, -2.0};
  CHECK_INT(sp_ctrl_act(quad, ctrl_ws(quad), u, xq, r, NULL), 0);
  CHECK(u[0] == 1.0 && u[1] == 3.0);
  sp_ctrl_free(car);
  sp_ctrl_free(quad);
}

TEST(heading_error_is_wrapped_so_whole_turns_do_not_change_the_steer) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  double r[6] = {0, 0, -1, 0.01, 0, 0}, u0[2], u1[2], u2[2];  // reference heading near pi
  double x[4] = {0, 0, 1, -3.0};  // heading -3: the short way round is -0.13 rad, not 6.15
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u0, x, r, NULL), 0);
  double e = atan2(0.01, -1) - (-3.0) - 2 * M_PI;
  CHECK_CLOSE(u0[1], 0.35 * e, 1e-12, 0);
  x[3] += 4 * M_PI;
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u1, x, r, NULL), 0);
  x[3] -= 10 * M_PI;
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u2, x, r, NULL), 0);
  CHECK_CLOSE(u0[1], u1[1], 0, 1e-12);
  CHECK_CLOSE(u0[1], u2[1], 0, 1e-12);
  sp_ctrl_free(c);
}

TEST(derivatives_match_central_differences_at_random_points) {
  for (int kind = 0; kind < 2; kind++) {
    sp_ctrl* c;
    CHECK_INT(sp_tracker_new(&c, (sp_tracker_kind)kind), 0);
    for (uint64_t seed = 1; seed <= 20; seed++) {
      sp_rng g;
      sp_rng_seed(&g, seed, (uint64_t)kind);
      double x[4], r[6], K[6];
      CHECK(draw_point(c, &g, x, r, K));
      CHECK(!cc_check_jac(c, x, r, K, 1e-7));
      CHECK(!cc_check_vjp(c, &g, x, r, K));
    }
    sp_ctrl_free(c);
  }
}

TEST(library_finite_differences_agree_with_the_analytic_jacobian) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  sp_rng g;
  sp_rng_seed(&g, 3, 0);
  double x[4], r[6], K[6], Dx[8], Dr[12], DK[12], Fx[8], Fr[12], FK[12];
  CHECK(draw_point(c, &g, x, r, K));
  CHECK_INT(sp_ctrl_jac(c, ctrl_ws(c), Dx, Dr, DK, x, r, K), 0);
  CHECK_INT(sp_ctrl_jac_fd(c, ctrl_ws(c), Fx, Fr, FK, x, r, K, 1e-6), 0);
  CHECK(!cc_close("x", Dx, Fx, 8, 1e-7) && !cc_close("r", Dr, Fr, 12, 1e-7));
  CHECK(!cc_close("K", DK, FK, 12, 1e-7));
  sp_ctrl_free(c);
}

TEST(act_jac_and_vjp_do_not_mutate_inputs_or_allocate) {
  for (int kind = 0; kind < 2; kind++) {
    sp_ctrl* c;
    CHECK_INT(sp_tracker_new(&c, (sp_tracker_kind)kind), 0);
    sp_rng g;
    sp_rng_seed(&g, 11, 0);
    double x[4], r[6], K[6];
    CHECK(draw_point(c, &g, x, r, K));
    CHECK(!cc_check_no_mutation(c, x, r, K));
    CHECK(!cc_check_no_alloc(c, x, r, K));
    sp_ctrl_free(c);
  }
}

// a circle of radius R at speed s, centred at the origin, counter-clockwise
static void circle(double* r, double t, double R, double s) {
  double w = s / R, c = cos(w * t), sn = sin(w * t);
  double ref[6] = {R * c, R * sn, -s * sn, s * c, -s * w * c, -s * w * sn};
  memcpy(r, ref, sizeof ref);
}

// mean radial error over the last 40 s of 60 s tracking the lap of METHODS.md's figure-eight circle
// (R = 1.5 m, period 5.5 s) at 50 Hz, starting 0.3 m outside at rest. real = 1: METHODS.md's
// simulated car dv/dt = 11.25 u1 - 0.55 v^2, dphi/dt = (6.5 u2 + 0.1) v; real = 0: the nominal
// accel-input unicycle v+ = v + u1 dt, phi+ = phi + v u2 dt.
static double car_circle_error(sp_ctrl* c, const double* K, int real) {
  double dt = 0.02, s = 2 * M_PI * 1.5 / 5.5, x[4] = {1.8, 0, 0, M_PI / 2}, r[6], u[2], err = 0;
  int n = 0;
  for (int k = 0; k < 3000; k++) {
    circle(r, k * dt, 1.5, s);
    if (sp_ctrl_act(c, ctrl_ws(c), u, x, r, K)) return INFINITY;
    double vdot = real ? 11.25 * u[0] - 0.55 * x[2] * x[2] : u[0];
    double phidot = real ? (6.5 * u[1] + 0.1) * x[2] : x[2] * u[1];
    double xn[4] = {x[0] + x[2] * cos(x[3]) * dt, x[1] + x[2] * sin(x[3]) * dt, x[2] + vdot * dt,
                    x[3] + phidot * dt};
    memcpy(x, xn, sizeof xn);
    if (k >= 1000) {
      err += fabs(hypot(x[0], x[1]) - 1.5);
      n++;
    }
  }
  return err / n;
}

TEST(car_tracker_with_default_gains_keeps_the_simulated_car_on_a_circle) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  CHECK(car_circle_error(c, NULL, 1) < 0.25);
  sp_ctrl_free(c);
}

TEST(feed_forward_gains_cut_the_error_on_the_nominal_unicycle) {
  // with ka = kw = 0 the steer needs a large heading error to hold the curvature; the curvature
  // feed-forward supplies it
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  double K[6] = {0.45, 0.45, 0.35, 0.35, 1.0, 1.0};
  double without = car_circle_error(c, NULL, 0), with = car_circle_error(c, K, 0);
  CHECK(with < 0.5 * without);
  sp_ctrl_free(c);
}

TEST(quadruped_tracker_follows_a_circle_on_the_velocity_unicycle) {
  sp_ctrl* c;
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_QUADRUPED), 0);
  double dt = 0.1, x[3] = {1.8, 0, M_PI / 2}, r[6], u[2], err = 0;
  int n = 0;
  for (int k = 0; k < 600; k++) {
    circle(r, k * dt, 1.5, 0.5);
    CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
    double xn[3] = {x[0] + u[0] * cos(x[2]) * dt, x[1] + u[0] * sin(x[2]) * dt, x[2] + u[1] * dt};
    memcpy(x, xn, sizeof xn);
    if (k >= 300) {
      err += fabs(hypot(x[0], x[1]) - 1.5);
      n++;
    }
  }
  CHECK(err / n < 0.1);
  sp_ctrl_free(c);
}

TEST(bad_arguments_return_einval) {
  sp_ctrl* c = NULL;
  CHECK_INT(sp_tracker_new(&c, (sp_tracker_kind)7), SP_EINVAL);
  CHECK_INT(sp_tracker_new(NULL, SP_TRACKER_CAR), SP_EINVAL);
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  double x[4] = {0}, r[6] = {0}, u[2];
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, NULL, r, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), NULL, x, r, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_vjp(c, ctrl_ws(c), NULL, NULL, NULL, x, r, NULL, NULL), SP_EINVAL);
  // no workspace, or one made for a controller of other sizes
  sp_ctrl* q;
  CHECK_INT(sp_tracker_new(&q, SP_TRACKER_QUADRUPED), 0);
  CHECK_INT(sp_ctrl_act(c, NULL, u, x, r, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(q), u, x, r, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_data_new(NULL, c), SP_EINVAL);
  sp_ctrl_free(q);
  double lo[2] = {1, 0}, hi[2] = {0, 1};
  CHECK_INT(sp_ctrl_set_limits(c, lo, hi), SP_EINVAL);
  CHECK(c->hi[0] == 0.75);  // unchanged after the refused call
  double nan_x[4] = {NAN, 0, 0, 0};
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, nan_x, r, NULL), SP_ENUMERIC);
  sp_ctrl_free(c);
}

TEST_MAIN()
