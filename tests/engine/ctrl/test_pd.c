// test_pd.c: joint PD (engine/ctrl/pd.c): the control law, derivatives against central
// differences, VJP, limits, purity, no allocation and argument checks.
#include "ctrl_checks.h"
#include "engine/core/error.h"
#include "test.h"
#include "workspace.h"

TEST(pd_computes_feed_forward_plus_per_channel_feedback) {
  double kp[2] = {50, 10}, kd[2] = {0.5, 2};
  sp_ctrl* c;
  CHECK_INT(sp_pd_new(&c, 2, kp, kd), 0);
  CHECK_INT(c->nx, 4);
  CHECK_INT(c->nu, 2);
  CHECK_INT(c->nr, 6);
  CHECK_INT(c->nk, 4);
  double x[4] = {0.1, -0.2, 1.0, 0.0}, r[6] = {0.2, 0.0, 0.5, 0.1, 3.0, -1.0}, u[2];
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
  CHECK_CLOSE(u[0], 3.0 + 50 * 0.1 + 0.5 * (0.5 - 1.0), 1e-14, 0);
  CHECK_CLOSE(u[1], -1.0 + 10 * 0.2 + 2 * 0.1, 1e-14, 0);
  sp_ctrl_free(c);
}

TEST(null_gains_mean_zero_gains) {
  sp_ctrl* c;
  CHECK_INT(sp_pd_new(&c, 3, NULL, NULL), 0);
  for (int i = 0; i < 6; i++) CHECK(c->K[i] == 0);
  sp_ctrl_free(c);
}

TEST(derivatives_and_vjp_match_at_random_points) {
  for (uint64_t seed = 1; seed <= 10; seed++) {
    sp_rng g;
    sp_rng_seed(&g, seed, 0);
    int n = 1 + (int)sp_rng_below(&g, 6);
    double x[12], r[18], K[12];
    sp_rng_fill_normal(&g, x, 2 * (size_t)n, 0, 1);
    sp_rng_fill_normal(&g, r, 3 * (size_t)n, 0, 1);
    sp_rng_fill_uniform(&g, K, 2 * (size_t)n, 0, 5);
    sp_ctrl* c;
    CHECK_INT(sp_pd_new(&c, n, NULL, NULL), 0);
    CHECK(!cc_check_jac(c, x, r, K, 1e-8));
    CHECK(!cc_check_vjp(c, &g, x, r, K));
    CHECK(!cc_check_no_mutation(c, x, r, K));
    CHECK(!cc_check_no_alloc(c, x, r, K));
    sp_ctrl_free(c);
  }
}

TEST(limits_clamp_the_torque_and_stop_its_gradient) {
  double kp[1] = {50}, kd[1] = {1};
  sp_ctrl* c;
  CHECK_INT(sp_pd_new(&c, 1, kp, kd), 0);
  double lo[1] = {-2}, hi[1] = {2};
  CHECK_INT(sp_ctrl_set_limits(c, lo, hi), 0);
  double x[2] = {0, 0}, r[3] = {1, 0, 0}, u[1], g[1] = {1}, gx[2] = {0}, gr[3] = {0}, gK[2] = {0};
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
  CHECK(u[0] == 2 && ctrl_ws(c)->saturated[0]);
  CHECK_INT(sp_ctrl_vjp(c, ctrl_ws(c), gx, gr, gK, x, r, NULL, g), 0);
  CHECK(gx[0] == 0 && gr[0] == 0 && gK[0] == 0);
  // one-sided limit: only an upper bound
  CHECK_INT(sp_ctrl_set_limits(c, NULL, hi), 0);
  r[0] = -1;
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, r, NULL), 0);
  CHECK(u[0] == -50 && !ctrl_ws(c)->saturated[0]);
  sp_ctrl_free(c);
}

TEST(bad_arguments_return_einval) {
  sp_ctrl* c = NULL;
  CHECK_INT(sp_pd_new(&c, 0, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_pd_new(&c, -3, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_pd_new(NULL, 2, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_pd_new(&c, 1, NULL, NULL), 0);
  double lo[1] = {NAN};
  CHECK_INT(sp_ctrl_set_limits(c, lo, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_set_gains(c, NULL), SP_EINVAL);
  double x[2] = {0}, u[1];
  CHECK_INT(sp_ctrl_act(c, ctrl_ws(c), u, x, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_ctrl_jac_fd(c, ctrl_ws(c), NULL, NULL, NULL, x, x, NULL, 0), SP_EINVAL);
  sp_ctrl_free(c);
}

static int refuse_all(size_t n, void* user) {
  return 1;
}

TEST(creation_reports_out_of_memory) {
  sp_ctrl* c = NULL;
  sp_alloc_set_hook(refuse_all, NULL);
  int rc = sp_pd_new(&c, 2, NULL, NULL);
  int rt = sp_tracker_new(&c, SP_TRACKER_CAR);
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(rc, SP_ENOMEM);
  CHECK_INT(rt, SP_ENOMEM);
  // and a workspace likewise, leaving *out NULL
  CHECK_INT(sp_pd_new(&c, 2, NULL, NULL), 0);
  sp_ctrl_data* d = (sp_ctrl_data*)&c;
  sp_alloc_set_hook(refuse_all, NULL);
  rc = sp_ctrl_data_new(&d, c);
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(rc, SP_ENOMEM);
  CHECK(d == NULL);
  sp_ctrl_free(c);
}

TEST_MAIN()
