// test_policy.c: method 1's policy class (engine/policy/policy.c): the first policy is exactly the
// nominal controller, Px and Pt (as VJPs) match central finite differences at random points over
// several seeds for the car, LQR and open-loop forms, exploration log-probabilities and their
// gradient, purity, no allocation, and configuration errors.
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "policy_fixtures.h"
#include "test.h"
#include "workspace.h"

// mu . u(theta) at (x, t)
static double mu_dot_u(sp_policy* p, const double* x, double t, const double* mu) {
  double u[8];
  sp_policy_act(p, policy_ws(p), u, x, t);
  double s = 0;
  for (int i = 0; i < p->nu; i++) s += mu[i] * u[i];
  return s;
}

// worst violation of |a - b| <= atol + rtol max(|a|, |b|) as a ratio (<= 1 passes)
static double close_ratio(double a, double b, double rtol, double atol) {
  return fabs(a - b) / (atol + rtol * fmax(fabs(a), fabs(b)));
}

// Px against central differences in x, Pt^T mu against central differences in theta
static double check_derivatives(sp_policy* p, const double* x, double t, sp_rng* r) {
  int nx = p->nx, nu = p->nu;
  double Px[64], mu[8], xp[16], gx[16] = {0}, h = 1e-6, worst = 0;
  sp_policy_jac_x(p, policy_ws(p), Px, x, t);
  for (int i = 0; i < nu; i++) mu[i] = sp_rng_normal(r);
  // Px column by column
  memcpy(xp, x, sizeof(double) * nx);
  for (int j = 0; j < nx; j++) {
    double up[8], um[8];
    xp[j] = x[j] + h;
    sp_policy_act(p, policy_ws(p), up, xp, t);
    xp[j] = x[j] - h;
    sp_policy_act(p, policy_ws(p), um, xp, t);
    xp[j] = x[j];
    for (int i = 0; i < nu; i++)
      worst = fmax(worst, close_ratio(Px[i * nx + j], (up[i] - um[i]) / (2 * h), 1e-6, 1e-7));
  }
  // the VJP's gx agrees with Px^T mu
  double* gt = sp_calloc(p->nparams, sizeof(double));
  sp_policy_vjp(p, policy_ws(p), gx, gt, x, t, mu);
  for (int j = 0; j < nx; j++) {
    double s = 0;
    for (int i = 0; i < nu; i++) s += Px[i * nx + j] * mu[i];
    worst = fmax(worst, close_ratio(gx[j], s, 1e-10, 1e-12));
  }
  // Pt^T mu entry by entry
  double* th = sp_policy_params(p);
  for (size_t k = 0; k < p->nparams; k++) {
    double keep = th[k];
    th[k] = keep + h;
    double a = mu_dot_u(p, x, t, mu);
    th[k] = keep - h;
    double b = mu_dot_u(p, x, t, mu);
    th[k] = keep;
    worst = fmax(worst, close_ratio(gt[k], (a - b) / (2 * h), 1e-6, 1e-7));
  }
  sp_free(gt);
  return worst;
}

TEST(zero_last_layer_policy_acts_exactly_as_the_bare_tracker) {
  fixture f;
  CHECK_INT(car_fixture(&f, 16, 3, 0), 0);
  sp_rng r;
  sp_rng_seed(&r, 11, 0);
  for (int n = 0; n < 200; n++) {
    double t = 20 * sp_rng_uniform(&r), x[4], u[2], ub[2], ref[6];
    car_state_near(x, f.task, t, &r);
    CHECK_INT(sp_policy_act(f.pol, policy_ws(f.pol), u, x, t), 0);
    sp_task_eval(f.task, ref, NULL, t);
    sp_ctrl_act(f.ctrl, ctrl_ws(f.ctrl), ub, x, ref, NULL);
    CHECK(u[0] == ub[0] && u[1] == ub[1]);
  }
  fixture_free(&f);
}

TEST(zero_last_layer_lqr_policy_acts_exactly_as_the_bare_lqr) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), 0);
  fixture f;
  CHECK_INT(pendulum_fixture(&f, m, 16, 5, 0), 0);
  sp_rng r;
  sp_rng_seed(&r, 12, 0);
  for (int n = 0; n < 100; n++) {
    double x[4], u[2], ub[2], r0[6] = {0};
    sp_rng_fill_uniform(&r, x, 4, -1, 1);
    CHECK_INT(sp_policy_act(f.pol, policy_ws(f.pol), u, x, 0.3 * n), 0);
    sp_ctrl_act(f.ctrl, ctrl_ws(f.ctrl), ub, x, r0, NULL);
    CHECK(u[0] == ub[0] && u[1] == ub[1]);
  }
  fixture_free(&f);
  sp_model_free(m);
}

TEST(car_policy_derivatives_match_central_differences_over_seeds) {
  for (uint64_t seed = 1; seed <= 4; seed++) {
    fixture f;
    CHECK_INT(car_fixture(&f, 12, seed, 1), 0);
    sp_rng r;
    sp_rng_seed(&r, 100 + seed, 0);
    int unsaturated = 0;
    for (int n = 0; n < 6; n++) {
      double t = 11 * sp_rng_uniform(&r), x[4];
      car_state_near(x, f.task, t, &r);
      double worst = check_derivatives(f.pol, x, t, &r);
      if (!(worst <= 1)) SP_FAIL_("seed %d point %d: worst ratio %g", (int)seed, n, worst);
      unsaturated += !policy_ws(f.pol)->ctrl->saturated[0] + !policy_ws(f.pol)->ctrl->saturated[1];
    }
    CHECK(unsaturated > 0);  // the check exercised the controller, not only its flat clamp
    fixture_free(&f);
  }
}

TEST(lqr_policy_derivatives_match_central_differences_over_seeds) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), 0);
  for (uint64_t seed = 1; seed <= 4; seed++) {
    fixture f;
    CHECK_INT(pendulum_fixture(&f, m, 10, seed, 1), 0);
    sp_rng r;
    sp_rng_seed(&r, 200 + seed, 0);
    for (int n = 0; n < 5; n++) {
      double x[4];
      sp_rng_fill_uniform(&r, x, 4, -1.5, 1.5);
      double worst = check_derivatives(f.pol, x, 3 * sp_rng_uniform(&r), &r);
      if (!(worst <= 1)) SP_FAIL_("seed %d point %d: worst ratio %g", (int)seed, n, worst);
    }
    fixture_free(&f);
  }
  sp_model_free(m);
}

TEST(open_loop_policy_derivatives_match_central_differences_over_seeds) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    for (int feat = SP_POLICY_FEATURES_STATE; feat <= SP_POLICY_FEATURES_PHASE; feat++) {
      fixture f;
      CHECK_INT(open_fixture(&f, (sp_policy_features)feat, 8, seed, 1), 0);
      sp_rng r;
      sp_rng_seed(&r, 300 + seed, 0);
      for (int n = 0; n < 5; n++) {
        double x[4];
        sp_rng_fill_uniform(&r, x, 4, -2, 2);
        double worst = check_derivatives(f.pol, x, 5 * sp_rng_uniform(&r), &r);
        if (!(worst <= 1)) SP_FAIL_("seed %d point %d: worst ratio %g", (int)seed, n, worst);
      }
      fixture_free(&f);
    }
  }
}

TEST(open_loop_phase_policy_does_not_depend_on_the_state) {
  fixture f;
  CHECK_INT(open_fixture(&f, SP_POLICY_FEATURES_PHASE, 8, 2, 1), 0);
  double x[4] = {0.3, -0.2, 1, 2}, Px[8];
  CHECK_INT(sp_policy_jac_x(f.pol, policy_ws(f.pol), Px, x, 1.2), 0);
  for (int i = 0; i < 8; i++) CHECK(Px[i] == 0);
  fixture_free(&f);
}

TEST(car_features_are_position_velocity_and_phase) {
  fixture f;
  CHECK_INT(car_fixture(&f, 4, 1, 0), 0);
  double x[4] = {1, 2, 2, 0.5}, feat[6];
  sp_policy_features_eval(f.pol, feat, NULL, x, 5.5 * 1.25);
  CHECK_CLOSE(feat[2], 2 * cos(0.5), 1e-15, 0);
  CHECK_CLOSE(feat[3], 2 * sin(0.5), 1e-15, 0);
  CHECK_CLOSE(feat[4], 0, 0, 1e-12);  // s = 0.25
  CHECK_CLOSE(feat[5], 1, 1e-12, 0);
  fixture_free(&f);
}

TEST(log_probability_gradient_matches_central_differences) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    fixture f;
    CHECK_INT(car_fixture(&f, 8, seed, 1), 0);
    double sigma[2] = {0.1, 0.2};
    CHECK_INT(set_noise(f.pol, sigma, seed), 0);
    sp_rng r;
    sp_rng_seed(&r, 400 + seed, 0);
    double t = 3.3, x[4], u[2];
    car_state_near(x, f.task, t, &r);
    CHECK_INT(sp_policy_sample(f.pol, policy_ws(f.pol), u, x, t), 0);
    double* g = sp_calloc(f.pol->nparams, sizeof(double));
    double lp;
    CHECK_INT(sp_policy_logp_vjp(f.pol, policy_ws(f.pol), &lp, g, x, t, u, 2.0), 0);
    double* th = sp_policy_params(f.pol);
    for (size_t k = 0; k < f.pol->nparams; k += 7) {
      double keep = th[k], a, b, h = 1e-6;
      th[k] = keep + h;
      sp_policy_logp_vjp(f.pol, policy_ws(f.pol), &a, NULL, x, t, u, 1);
      th[k] = keep - h;
      sp_policy_logp_vjp(f.pol, policy_ws(f.pol), &b, NULL, x, t, u, 1);
      th[k] = keep;
      CHECK_CLOSE(g[k], 2.0 * (a - b) / (2 * h), 1e-5, 1e-6);
    }
    sp_free(g);
    fixture_free(&f);
  }
}

TEST(samples_have_the_configured_spread_around_the_mean) {
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 1, 0), 0);
  double sigma[2] = {0.05, 0.2};
  CHECK_INT(set_noise(f.pol, sigma, 9), 0);
  double x[4] = {0.1, 0.1, 2, 1.5}, m[2], u[2], s1[2] = {0}, s2[2] = {0};
  sp_policy_act(f.pol, policy_ws(f.pol), m, x, 0.2);
  int n = 4000;
  for (int k = 0; k < n; k++) {
    sp_policy_sample(f.pol, policy_ws(f.pol), u, x, 0.2);
    for (int i = 0; i < 2; i++) s1[i] += u[i] - m[i], s2[i] += (u[i] - m[i]) * (u[i] - m[i]);
  }
  for (int i = 0; i < 2; i++) {
    CHECK(fabs(s1[i] / n) < 5 * sigma[i] / sqrt(n));
    CHECK_CLOSE(sqrt(s2[i] / n), sigma[i], 0.06, 0);
  }
  double bad[2] = {-1, 0.1};
  CHECK_INT(set_noise(f.pol, bad, 1), SP_EINVAL);
  CHECK(f.pol->sigma[0] == 0.05);
  fixture_free(&f);
}

TEST(act_vjp_and_jacobian_do_not_allocate_or_mutate_inputs) {
  fixture f;
  CHECK_INT(car_fixture(&f, 16, 1, 1), 0);
  double sigma[2] = {0.1, 0.1};
  set_noise(f.pol, sigma, 1);
  double x[4] = {0.2, -0.1, 2.0, 1.4}, x0[4], mu[2] = {0.3, -0.7}, mu0[2], u[2], gx[4] = {0};
  double Px[8], lp;
  memcpy(x0, x, sizeof x);
  memcpy(mu0, mu, sizeof mu);
  double* g = sp_calloc(f.pol->nparams, sizeof(double));
  double* theta0 = sp_calloc(f.pol->nparams, sizeof(double));
  memcpy(theta0, sp_policy_params(f.pol), sizeof(double) * f.pol->nparams);
  sp_policy_data* d;
  CHECK_INT(sp_policy_data_new(&d, f.pol), 0);
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 500; k++) {
    sp_policy_act(f.pol, d, u, x, 0.02 * k);
    sp_policy_sample(f.pol, d, u, x, 0.02 * k);
    sp_policy_vjp(f.pol, d, gx, g, x, 0.02 * k, mu);
    sp_policy_jac_x(f.pol, d, Px, x, 0.02 * k);
    sp_policy_logp_vjp(f.pol, d, &lp, g, x, 0.02 * k, u, 1);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK(memcmp(x, x0, sizeof x) == 0);
  CHECK(memcmp(mu, mu0, sizeof mu) == 0);
  // nor the policy: theta and the network's own gradient buffer are left alone
  CHECK(memcmp(theta0, sp_policy_params(f.pol), sizeof(double) * f.pol->nparams) == 0);
  for (size_t k = 0; k < f.pol->nparams; k++) CHECK(((double*)f.pol->net->grads)[k] == 0);
  sp_policy_data_free(d);
  sp_free(theta0);
  sp_free(g);
  fixture_free(&f);
}

TEST(loop_adapters_act_and_sample_as_the_policy) {
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 2, 1), 0);
  double x[4] = {0.2, -0.1, 2.0, 1.4}, u[2], v[2];
  CHECK_INT(sp_policy_loop_act(policy_ws(f.pol), u, x, 1.5, 75), 0);
  sp_policy_act(f.pol, policy_ws(f.pol), v, x, 1.5);
  CHECK(u[0] == v[0] && u[1] == v[1]);
  double sigma[2] = {0.1, 0.1};
  set_noise(f.pol, sigma, 3);
  CHECK_INT(sp_policy_loop_sample(policy_ws(f.pol), u, x, 1.5, 75), 0);
  CHECK(u[0] != v[0] && u[1] != v[1]);
  fixture_free(&f);
}

TEST(vjp_accumulates_into_its_outputs) {
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 2, 1), 0);
  double x[4] = {0.2, -0.1, 2.0, 1.4}, mu[2] = {0.3, -0.7}, g1[4] = {0}, g2[4] = {1, 1, 1, 1};
  size_t n = f.pol->nparams;
  double* t1 = sp_calloc(n, sizeof(double));
  double* t2 = sp_calloc(n, sizeof(double));
  for (size_t k = 0; k < n; k++) t2[k] = 1;
  sp_policy_vjp(f.pol, policy_ws(f.pol), g1, t1, x, 1.0, mu);
  sp_policy_vjp(f.pol, policy_ws(f.pol), g2, t2, x, 1.0, mu);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(g2[i], g1[i] + 1, 1e-14, 1e-14);
  for (size_t k = 0; k < n; k++) CHECK_CLOSE(t2[k], t1[k] + 1, 1e-14, 1e-14);
  sp_free(t1);
  sp_free(t2);
  fixture_free(&f);
}

TEST(configuration_errors_are_invalid_arguments) {
  sp_task* task;
  sp_ctrl* c;
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
  CHECK_INT(sp_tracker_new(&c, SP_TRACKER_CAR), 0);
  sp_policy_output outs[2] = {{SP_POLICY_OUT_REF, 0, 0.5}, {SP_POLICY_OUT_GAIN, 6, 0.3}};
  sp_policy_config cfg = {.ctrl = c,
                          .task = task,
                          .features = SP_POLICY_FEATURES_CAR,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 2,
                          .outputs = outs};
  sp_policy* p = (sp_policy*)1;
  CHECK_INT(sp_policy_new(&p, &cfg), SP_EINVAL);  // gain index 6 of 6
  CHECK(p == NULL);
  outs[1].index = 5;
  outs[0].kind = SP_POLICY_OUT_ACTION;  // an action output on a closed loop
  CHECK_INT(sp_policy_new(&p, &cfg), SP_EINVAL);
  outs[0].kind = SP_POLICY_OUT_REF;
  cfg.task = NULL;  // no task and no period
  CHECK_INT(sp_policy_new(&p, &cfg), SP_EINVAL);
  cfg.task = task;
  CHECK_INT(sp_policy_new(&p, &cfg), 0);
  CHECK_CLOSE(p->period, 5.5, 0, 0);
  CHECK_INT(p->nf, 6);
  policy_free(p);
  sp_ctrl_free(c);
  sp_task_free(task);
}

TEST_MAIN()
