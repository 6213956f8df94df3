// test_backend_model.c: hal/backend_model.c: parameters, sub-steps, delay, noise and seeding.
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/backend_model.h"
#include "hal/loop.h"
#include "test.h"
#include "workspace.h"

static sp_plant* open_cfg(const sp_plant_model_config* c) {
  sp_plant* p = NULL;
  char msg[256];
  if (sp_plant_open(&p, "model", c, msg, sizeof msg) || sp_plant_configure(p, msg, sizeof msg) ||
      sp_plant_activate(p)) {
    fprintf(stderr, "  open: %s\n", msg);
    sp_plant_close(p);
    return NULL;
  }
  return p;
}

static sp_plant_model_config base(void) {
  static const double x0[4] = {0.0, 0.0, 1.0, 0.3};
  return (sp_plant_model_config){
      .model = "unicycle_accel", .rate_hz = 50, .x0 = x0, .integrator = SP_INTEGRATOR_RK4};
}

// a bounded, varying command sequence
static void command(double* u, long k, uint64_t seed) {
  u[0] = sin(0.1 * (double)k + (double)seed);
  u[1] = 0.5 * cos(0.07 * (double)k);
}

TEST(model_scheme_opens_with_the_model_names_and_sizes) {
  sp_plant_model_config c = base();
  c.robot = "car";
  sp_plant* p = open_cfg(&c);
  CHECK(p);
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  CHECK_INT(caps->nx, 4);
  CHECK_INT(caps->nu, 2);
  CHECK_STR(caps->robot, "car");
  CHECK_STR(caps->backend, "model");
  CHECK_STR(caps->x_names[2], "v");
  CHECK_STR(caps->u_names[1], "steer");
  CHECK(caps->can_reset);
  CHECK(caps->rate_hz == 50);
  sp_plant_close(p);
}

TEST(bad_configs_name_the_field) {
  char msg[256];
  sp_plant* p = NULL;
  sp_plant_model_config c = base();
  c.model = "warp_drive";
  CHECK_INT(sp_plant_open(&p, "model", &c, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(strstr(msg, "'warp_drive'") != NULL);
  c = base();
  c.rate_hz = 0;
  CHECK_INT(sp_plant_open(&p, "model", &c, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "rate_hz") != NULL);
  CHECK_INT(sp_plant_open(&p, "model", NULL, msg, sizeof msg), SP_EINVAL);
  CHECK(p == NULL);
}

TEST(noise_free_plant_steps_the_model_with_its_own_parameters_and_substeps) {
  static const double ptrue[2] = {1.3, 0.8};
  sp_plant_model_config c = base();
  c.p = ptrue;
  c.substeps = 4;
  sp_plant* p = open_cfg(&c);
  CHECK(p);
  sp_model* m = NULL;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", ptrue, 0.02), 0);
  CHECK_INT(sp_model_configure(m, 0.02, SP_INTEGRATOR_RK4, 4), 0);
  double x[4] = {0.0, 0.0, 1.0, 0.3}, xn[4], y[4], u[2];
  int64_t t;
  for (long k = 0; k < 200; k++) {
    command(u, k, 0);
    CHECK_INT(sp_plant_write(p, u), 0);
    sp_model_step(m, model_ws(m), xn, x, u);
    memcpy(x, xn, sizeof x);
    CHECK_INT(sp_plant_read(p, y, &t, NULL), 0);
    CHECK(memcmp(x, y, sizeof x) == 0);
    CHECK_INT(t, (k + 1) * 20000000LL);
  }
  sp_model_free(m);
  sp_plant_close(p);
}

TEST(substeps_refine_the_integration) {
  // Euler with more sub-steps approaches the fine RK4 solution
  double err[2];
  int subs[2] = {1, 20};
  sp_plant_model_config ref = base();
  ref.substeps = 50;
  sp_plant* pr = open_cfg(&ref);
  CHECK(pr);
  double u[2], yr[4];
  for (long k = 0; k < 100; k++) {
    command(u, k, 0);
    sp_plant_write(pr, u);
  }
  sp_plant_read(pr, yr, NULL, NULL);
  for (int i = 0; i < 2; i++) {
    sp_plant_model_config c = base();
    c.integrator = SP_INTEGRATOR_EULER;
    c.substeps = subs[i];
    sp_plant* p = open_cfg(&c);
    CHECK(p);
    for (long k = 0; k < 100; k++) {
      command(u, k, 0);
      sp_plant_write(p, u);
    }
    double y[4];
    sp_plant_read(p, y, NULL, NULL);
    err[i] = fabs(y[0] - yr[0]) + fabs(y[1] - yr[1]);
    sp_plant_close(p);
  }
  CHECK(err[1] < err[0] / 5);
  sp_plant_close(pr);
}

TEST(delay_shifts_every_command_by_exactly_the_configured_ticks) {
  static const double uinit[2] = {0.2, -0.1};
  int delays[3] = {1, 3, 7};
  for (int di = 0; di < 3; di++) {
    int d = delays[di];
    sp_plant_model_config cd = base(), c0 = base();
    cd.delay_ticks = d;
    cd.u_init = uinit;
    sp_plant* pd = open_cfg(&cd);
    sp_plant* p0 = open_cfg(&c0);
    CHECK(pd && p0);
    double u[2], yd[4], y0[4];
    for (long k = 0; k < 150; k++) {
      command(u, k, (uint64_t)d);
      sp_plant_write(pd, u);
      // the undelayed twin gets what should be acting now: u_init, then the command of k - d
      double ua[2];
      if (k < d) {
        ua[0] = uinit[0];
        ua[1] = uinit[1];
      } else {
        command(ua, k - d, (uint64_t)d);
      }
      sp_plant_write(p0, ua);
      sp_plant_read(pd, yd, NULL, NULL);
      sp_plant_read(p0, y0, NULL, NULL);
      if (memcmp(yd, y0, sizeof yd)) SP_FAIL_("delay %d: state differs at tick %ld", d, k);
    }
    sp_plant_close(pd);
    sp_plant_close(p0);
  }
}

TEST(process_noise_has_the_configured_standard_deviation_over_several_seeds) {
  static const double wstd[4] = {0.0, 0.0, 0.05, 0.0};
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_plant_model_config c = base();
    c.process_std = wstd;
    c.seed = seed;
    sp_plant* p = open_cfg(&c);
    CHECK(p);
    // with zero throttle v only moves by noise: its increments are the noise
    double u[2] = {0, 0}, x[4], prev = 1.0, s2 = 0, s1 = 0;
    int n = 20000;
    for (int k = 0; k < n; k++) {
      sp_plant_write(p, u);
      sp_plant_model_true_state(p, x);
      double dv = x[2] - prev;
      s1 += dv;
      s2 += dv * dv;
      prev = x[2];
    }
    double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
    CHECK_CLOSE(sd, 0.05, 0.03, 0);
    CHECK(fabs(mean) < 4 * 0.05 / sqrt(n));
    sp_plant_close(p);
  }
}

TEST(sensor_noise_has_the_configured_std_and_leaves_the_true_state_alone) {
  static const double vstd[4] = {0.01, 0.02, 0.0, 0.1};
  for (uint64_t seed = 10; seed < 13; seed++) {
    sp_plant_model_config c = base(), c0 = base();
    c.sensor_std = vstd;
    c.seed = seed;
    sp_plant* p = open_cfg(&c);
    sp_plant* p0 = open_cfg(&c0);
    CHECK(p && p0);
    double u[2], y[4], y2[4], x[4], x0[4], s2[4] = {0};
    int n = 10000;
    for (int k = 0; k < n; k++) {
      command(u, k, 0);
      sp_plant_write(p, u);
      sp_plant_write(p0, u);
      sp_plant_read(p, y, NULL, NULL);
      sp_plant_read(p, y2, NULL, NULL);
      CHECK(memcmp(y, y2, sizeof y) == 0);  // one draw per step
      sp_plant_model_true_state(p, x);
      sp_plant_read(p0, x0, NULL, NULL);
      CHECK(memcmp(x, x0, sizeof x) == 0);
      for (int i = 0; i < 4; i++) s2[i] += (y[i] - x[i]) * (y[i] - x[i]);
    }
    for (int i = 0; i < 4; i++) CHECK_CLOSE(sqrt(s2[i] / n), vstd[i], 0.04, 1e-15);
    sp_plant_close(p);
    sp_plant_close(p0);
  }
}

static int act_track(void* user, double* u, const double* x, double t, long k) {
  u[0] = 1.0 - x[2];
  u[1] = -0.5 * x[3];
  return 0;
}

TEST(same_seed_gives_the_same_trajectory_and_another_seed_does_not) {
  static const double wstd[4] = {0.01, 0.01, 0.02, 0.01}, vstd[4] = {0.05, 0.05, 0.05, 0.05};
  static const double safe[2] = {0, 0};
  sp_plant_model_config c = base();
  c.process_std = wstd;
  c.sensor_std = vstd;
  c.delay_ticks = 2;
  sp_plant* p = open_cfg(&c);
  CHECK(p);
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.02};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_track};
  CHECK_INT(sp_safety_new(&s, &sc, NULL, 0), 0);
  CHECK_INT(sp_loop_new(&l, p, s, &lc, NULL, 0), 0);
  sp_traj a, b, d;
  sp_rollout_opts o = {.steps = 250, .seed = 5};
  CHECK_INT(sp_loop_rollout(l, &a, &o), 0);
  CHECK_INT(sp_loop_rollout(l, &b, &o), 0);
  o.seed = 6;
  CHECK_INT(sp_loop_rollout(l, &d, &o), 0);
  CHECK_INT(a.n, 250);
  CHECK_STR(a.backend, "model");
  CHECK_STR(a.robot, "unicycle_accel");
  CHECK(memcmp(a.x, b.x, sizeof(double) * 4 * 251) == 0);
  CHECK(memcmp(a.u, b.u, sizeof(double) * 2 * 250) == 0);
  CHECK(memcmp(a.x, d.x, sizeof(double) * 4 * 251) != 0);
  sp_traj_free(&a);
  sp_traj_free(&b);
  sp_traj_free(&d);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
}

TEST(read_and_write_do_not_allocate) {
  static const double wstd[4] = {0.01, 0.01, 0.01, 0.01};
  sp_plant_model_config c = base();
  c.process_std = c.sensor_std = wstd;
  c.delay_ticks = 3;
  sp_plant* p = open_cfg(&c);
  CHECK(p);
  double u[2], y[4];
  uint64_t before = sp_alloc_count();
  for (long k = 0; k < 5000; k++) {
    command(u, k, 0);
    sp_plant_write(p, u);
    sp_plant_read(p, y, NULL, NULL);
  }
  CHECK(sp_plant_reset(p, NULL) == 0);
  CHECK(sp_alloc_count() == before);
  sp_plant_close(p);
}

TEST_MAIN()
