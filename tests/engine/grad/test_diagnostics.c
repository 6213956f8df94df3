// test_diagnostics.c: closed-loop sensitivity products and gradient statistics
// (engine/grad/diagnostics.c). On the double pendulum about upright (unstable), the products
// prod (A + B Px) stay bounded with the LQR policy's feedback and grow without it, against the
// horizon; the products match a direct multiplication; gradient statistics of known samples.
#include "engine/core/error.h"
#include "grad_checks.h"
#include "test.h"
#include "workspace.h"

TEST(sensitivity_products_stay_bounded_with_feedback_and_grow_without_it) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* m;
    CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), 0);
    fixture f;
    CHECK_INT(pendulum_fixture(&f, m, 8, seed, 0), 0);
    int T = 300;
    sp_trajview tr;
    CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
    double x0[4] = {0.2 * seed, -0.1, 0, 0.1};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), m, model_ws(m), x0, 0, 0), 0);
    double ln_fb[300], ln_open[300], cond[300];
    CHECK_INT(sp_grad_sensitivity(ln_fb, cond, f.pol, m, &tr, 1), 0);
    CHECK_INT(sp_grad_sensitivity(ln_open, NULL, f.pol, m, &tr, 0), 0);
    double max_fb = -INFINITY;
    for (int h = 0; h < T; h++) max_fb = fmax(max_fb, ln_fb[h]);
    printf(
        "  seed %d: ||Phi|| with feedback max %.3g, at 3 s %.3g (cond %.3g); without: "
        "1 s %.3g, 2 s %.3g, 3 s %.3g\n",
        (int)seed, exp(max_fb), exp(ln_fb[T - 1]), cond[T - 1], exp(ln_open[99]), exp(ln_open[199]),
        exp(ln_open[T - 1]));
    CHECK(max_fb < log(10.0));
    CHECK(ln_fb[T - 1] < log(0.5));  // the loop contracts
    CHECK(ln_open[T - 1] > log(100.0));
    CHECK(ln_open[199] > ln_open[99] + 1 && ln_open[T - 1] > ln_open[199] + 1);
    sp_trajview_free(&tr);
    fixture_free(&f);
    sp_model_free(m);
  }
}

TEST(sensitivity_products_match_direct_multiplication) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 2, 1), 0);
  int T = 40;
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
  double x0[4] = {0, 0, 2, 1.5};
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), m, model_ws(m), x0, 0, 0), 0);
  double ln[40], cond[40];
  CHECK_INT(sp_grad_sensitivity(ln, cond, f.pol, m, &tr, 1), 0);
  double Phi[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, A[16], B[8], Px[8], M[16];
  double tmp[16], U[16], S[4], Vt[16];
  for (int k = 0; k < T; k++) {
    sp_model_step_jac(m, model_ws(m), NULL, A, B, NULL, tr.X + 4 * k, tr.U + 2 * k);
    sp_policy_jac_x(f.pol, policy_ws(f.pol), Px, tr.X + 4 * k, tr.t[k]);
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++)
        M[i * 4 + j] = A[i * 4 + j] + B[i * 2] * Px[j] + B[i * 2 + 1] * Px[4 + j];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        tmp[i * 4 + j] = 0;
        for (int a = 0; a < 4; a++) tmp[i * 4 + j] += M[i * 4 + a] * Phi[a * 4 + j];
      }
    memcpy(Phi, tmp, sizeof Phi);
    CHECK_INT(sp_la_svd(U, S, Vt, Phi, 4, 4), 0);
    CHECK_CLOSE(ln[k], log(S[0]), 1e-10, 1e-12);
    CHECK_CLOSE(cond[k], S[0] / S[3], 1e-8, 0);
  }
  sp_trajview_free(&tr);
  fixture_free(&f);
  sp_model_free(m);
}

TEST(open_loop_policy_sensitivities_are_the_models_alone) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), 0);
  fixture f;
  CHECK_INT(open_fixture(&f, SP_POLICY_FEATURES_PHASE, 8, 1, 1), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 100, 4, 2), 0);
  double x0[4] = {0.1, 0, 0, 0}, a[100], b[100];
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), m, model_ws(m), x0, 0, 0), 0);
  CHECK_INT(sp_grad_sensitivity(a, NULL, f.pol, m, &tr, 1), 0);
  CHECK_INT(sp_grad_sensitivity(b, NULL, f.pol, m, &tr, 0), 0);
  for (int k = 0; k < 100; k++) CHECK(a[k] == b[k]);
  sp_trajview_free(&tr);
  fixture_free(&f);
  sp_model_free(m);
}

TEST(gradient_statistics_of_known_samples) {
  // samples (1, 0), (3, 0), (2, 2): mean (2, 2/3), variances 1 and 4/3
  double G[6] = {1, 0, 3, 0, 2, 2};
  sp_grad_stats s;
  CHECK_INT(sp_grad_stats_compute(&s, G, 3, 2), 0);
  CHECK_CLOSE(s.norm_of_mean, sqrt(4 + 4.0 / 9), 1e-14, 0);
  CHECK_CLOSE(s.mean_norm, (1 + 3 + sqrt(8.0)) / 3, 1e-14, 0);
  CHECK_CLOSE(s.variance, 1 + 4.0 / 3, 1e-14, 0);
  CHECK_CLOSE(s.rel_std, sqrt(7.0 / 3) / sqrt(4 + 4.0 / 9), 1e-14, 0);
  CHECK_INT(sp_grad_stats_compute(&s, G, 0, 2), SP_EINVAL);
}

TEST_MAIN()
