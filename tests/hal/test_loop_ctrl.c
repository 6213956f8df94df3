// test_loop_ctrl.c: a controller class that only this test knows runs in a live (real-time) loop
// through hal/loop_ctrl.h, its gains changed by the names the class gives them while it runs;
// named blocks of the built-in classes; the errors of named gains and of a class whose names do
// not cover its sizes.
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"
#include "engine/ctrl/lqr.h"
#include "fake_plant.h"
#include "hal/loop.h"
#include "hal/loop_ctrl.h"
#include "test.h"

// the test's class: u_i = g_i (target_i - x_i) + bias, gains (g (nu), bias), reference target (nx)
static void pull_raw(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x, const double* r,
                     const double* K) {
  (void)d;
  for (int i = 0; i < c->nu; i++) u[i] = K[i] * (r[i] - x[i]) + K[c->nu];
}

static void pull_raw_jac(const sp_ctrl* c, sp_ctrl_data* d, double* Dx, double* Dr, double* DK,
                         const double* x, const double* r, const double* K) {
  (void)d;
  int n = c->nu;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      if (Dx) Dx[i * n + j] = i == j ? -K[i] : 0;
      if (Dr) Dr[i * n + j] = i == j ? K[i] : 0;
    }
  for (int i = 0; DK && i < n; i++)
    for (int j = 0; j <= n; j++) DK[i * (n + 1) + j] = j == i ? r[i] - x[i] : j == n ? 1 : 0;
}

static const sp_ctrl_block pull_gains[] = {{"g", SP_CTRL_PER_ACTION}, {"bias", 1}};
static const sp_ctrl_block pull_refs[] = {{"target", SP_CTRL_PER_STATE}};
static const sp_ctrl_class pull_class = {
    .name = "test_pull",
    .ngains = 2,
    .gains = pull_gains,
    .nrefs = 1,
    .refs = pull_refs,
    .raw = pull_raw,
    .raw_jac = pull_raw_jac,
};

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

// the latest tick's action against the class's formula for gains g, bias and target
static int tick_acts_with(const sp_loop* l, const double* g, double bias, const double* target) {
  double x[2], u[2];
  uint32_t flags;
  if (sp_loop_latest(l, x, u, NULL, NULL, &flags) || (flags & SP_FLAG_SAFE)) return 0;
  for (int i = 0; i < 2; i++)
    if (fabs(u[i] - (g[i] * (target[i] - x[i]) + bias)) > 1e-9) return 0;
  return 1;
}

// within a second (a parameter swap lands at a tick boundary), and still ten ticks later
static int acts_with(const sp_loop* l, const double* g, double bias, const double* target) {
  for (int i = 0; i < 1000 && !tick_acts_with(l, g, bias, target); i++) sleep_s(0.001);
  sleep_s(0.02);
  return tick_acts_with(l, g, bias, target);
}

TEST(a_class_defined_here_runs_in_a_live_loop_with_gains_set_by_name) {
  fake_register();
  sp_ctrl* c;
  CHECK_INT(sp_ctrl_new_class(&c, &pull_class, 2, 2, 2, 3, 0, 0), 0);
  sp_plant* p;
  sp_safety* s;
  sp_loop* l;
  sp_loop_ctrl cs;
  CHECK_INT(sp_loop_ctrl_init(&cs, c), 0);
  // parameters: K = (g0, g1, bias), then r = target
  double params[5] = {1, 1, 0, 0.5, -0.5};
  fake_config fc = {.n = 2, .rate_hz = 500};
  static const double safe[2] = {0.0, 0.0};
  sp_safety_config sc = {.nx = 2, .nu = 2, .u_safe = safe, .period_s = 1.0 / 500};
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME,
                       .act = sp_loop_ctrl_act,
                       .user = &cs,
                       .nparams = 5,
                       .params = params};
  char msg[256];
  CHECK_INT(sp_plant_open(&p, "fake", &fc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  CHECK_INT(sp_safety_new(&s, &sc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_new(&l, p, s, &lc, msg, sizeof msg), 0);
  cs.loop = l;
  CHECK_INT(sp_loop_start(l, 0), 0);
  double g[2] = {1, 1}, target[2] = {0.5, -0.5};
  CHECK(acts_with(l, g, 0, target));

  // by name, while it runs: one number for every action's g, then the scalar bias
  double v = 3;
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "g", &v, 1, NULL), 0);
  v = 0.25;
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "bias", &v, 1, NULL), 0);
  CHECK_INT(sp_loop_set_params(l, params, 5), 0);
  g[0] = g[1] = 3;
  CHECK(acts_with(l, g, 0.25, target));
  // and the block as a whole
  double gv[2] = {2, 4};
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "g", gv, 2, NULL), 0);
  CHECK_INT(sp_loop_set_params(l, params, 5), 0);
  CHECK(acts_with(l, gv, 0.25, target));
  // ticks and parameter swaps of the running controller allocate nothing
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 5; i++) {
    params[3] = 0.1 * i;
    CHECK_INT(sp_loop_set_params(l, params, 5), 0);
    sleep_s(0.01);
  }
  CHECK(sp_alloc_count() == before);
  CHECK_INT(sp_loop_stop(l), 0);

  // the controller description itself never changed
  CHECK(c->K[0] == 0 && c->K[1] == 0 && c->K[2] == 0);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  sp_loop_ctrl_release(&cs);
  sp_ctrl_free(c);
}

TEST(named_gains_refuse_unknown_names_wrong_lengths_and_non_finite_values) {
  sp_ctrl* c;
  CHECK_INT(sp_ctrl_new_class(&c, &pull_class, 2, 2, 2, 3, 0, 0), 0);
  double params[5] = {1, 2, 3, 4, 5}, v[3] = {7, 8, 9};
  int count = -1;
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "kp", v, 1, &count), SP_ENOTFOUND);
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "g", v, 3, &count), SP_ESHAPE);
  CHECK_INT(count, 2);
  double bad = NAN;
  CHECK_INT(sp_loop_ctrl_set_gain(c, params, "bias", &bad, 1, NULL), SP_EINVAL);
  for (int i = 0; i < 5; i++) CHECK(params[i] == i + 1);  // unchanged
  sp_ctrl_free(c);
  // a matrix block takes all its entries, never one number for all
  sp_ctrl* lqr;
  CHECK_INT(sp_lqr_new(&lqr, NULL, 4, 2), 0);
  double lp[14] = {0};
  CHECK_INT(sp_loop_ctrl_set_gain(lqr, lp, "K", v, 1, &count), SP_ESHAPE);
  CHECK_INT(count, 8);
  sp_ctrl_free(lqr);
}

TEST(builtin_classes_name_their_gain_and_reference_blocks) {
  sp_ctrl *tr, *pd, *lqr;
  CHECK_INT(sp_tracker_new(&tr, SP_TRACKER_QUADRUPED), 0);
  CHECK_INT(sp_pd_new(&pd, 3, NULL, NULL), 0);
  CHECK_INT(sp_lqr_new(&lqr, NULL, 4, 2), 0);
  int count, matrix;
  CHECK_INT(sp_ctrl_gain_index(tr, "kphi", &count, &matrix), 3);
  CHECK(count == 1 && !matrix);
  CHECK_INT(sp_ctrl_ref_index(tr, "yddot_d", &count, NULL), 5);
  CHECK_INT(sp_ctrl_gain_index(pd, "kd", &count, &matrix), 3);
  CHECK(count == 3 && !matrix);
  CHECK_INT(sp_ctrl_ref_index(pd, "u_ff", &count, NULL), 6);
  CHECK_INT(sp_ctrl_gain_index(lqr, "K", &count, &matrix), 0);
  CHECK(count == 8 && matrix);
  CHECK_INT(sp_ctrl_ref_index(lqr, "u_ff", &count, NULL), 4);
  CHECK_INT(count, 2);
  CHECK_INT(sp_ctrl_gain_index(tr, "kp", NULL, NULL), SP_ENOTFOUND);
  CHECK_INT(sp_ctrl_gain_index(NULL, "kp", NULL, NULL), SP_ENOTFOUND);
  sp_ctrl_free(tr);
  sp_ctrl_free(pd);
  sp_ctrl_free(lqr);
}

TEST(a_class_whose_names_do_not_cover_its_sizes_is_refused) {
  sp_ctrl* c = (sp_ctrl*)&c;
  // pull names 2 + 1 gains for nu = 2: nk = 4 does not fit, nor a reference of 3
  CHECK_INT(sp_ctrl_new_class(&c, &pull_class, 2, 2, 2, 4, 0, 0), SP_EINVAL);
  CHECK(c == NULL);
  CHECK_INT(sp_ctrl_new_class(&c, &pull_class, 2, 2, 3, 3, 0, 0), SP_EINVAL);
  sp_ctrl_class no_raw = pull_class;
  no_raw.raw = NULL;
  CHECK_INT(sp_ctrl_new_class(&c, &no_raw, 2, 2, 2, 3, 0, 0), SP_EINVAL);
}

TEST_MAIN()
