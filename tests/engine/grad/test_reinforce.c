// test_reinforce.c: the likelihood-ratio estimator (engine/grad/reinforce.c) is unbiased on a
// linear-quadratic problem: the mean of many independent estimates matches the exact gradient
// of E[J] within 5 standard errors (from the sample std), over several seeds; it needs
// exploration noise.
#include "engine/core/error.h"
#include "grad_checks.h"
#include "test.h"

TEST(reinforce_is_unbiased_on_a_linear_quadratic_problem) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* m;
    sp_policy* p;
    CHECK_INT(lq_setup(&m, &p, seed), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(regulation_objective(&obj, &c, &ct, 2, 2, 0.1), 0);
    int T = 20, n = 10, B = 400;
    size_t np = p->nparams;
    // the exact gradient: with linear dynamics, quadratic cost and noise not depending on theta,
    // grad E[J] is the gradient of the noise-free rollout's cost (the feedback estimator, exact)
    double x0[2] = {1, 0};
    sp_trajview det, trs[10];
    CHECK_INT(sp_trajview_new(&det, T, 2, 2), 0);
    for (int i = 0; i < n; i++) CHECK_INT(sp_trajview_new(&trs[i], T, 2, 2), 0);
    CHECK_INT(sp_policy_rollout(&det, p, policy_ws(p), m, model_ws(m), x0, 0, 0), 0);
    double exact[8] = {0}, g[8], mean[8] = {0}, sq[8] = {0};
    CHECK_INT(sp_grad_feedback(exact, NULL, p, m, &obj, &det, 0), 0);
    double sigma[2] = {0.3, 0.3};
    CHECK_INT(set_noise(p, sigma, 1000 + seed), 0);
    for (int b = 0; b < B; b++) {
      for (int i = 0; i < n; i++)
        CHECK_INT(sp_policy_rollout(&trs[i], p, policy_ws(p), m, model_ws(m), x0, 0, 1), 0);
      memset(g, 0, sizeof g);
      double J;
      CHECK_INT(sp_grad_reinforce(g, &J, p, &obj, trs, n), 0);
      for (size_t k = 0; k < np; k++) mean[k] += g[k] / B, sq[k] += g[k] * g[k] / B;
    }
    double band = 0;
    for (size_t k = 0; k < np; k++) {
      double se = sqrt((sq[k] - mean[k] * mean[k]) / (B - 1));
      band += 25 * se * se;
      if (!(fabs(mean[k] - exact[k]) <= 5 * se))
        SP_FAIL_("seed %d param %d: mean %g exact %g se %g", (int)seed, (int)k, mean[k], exact[k],
                 se);
    }
    printf("  seed %d: |exact| %.3f, 5-se band %.3f\n", (int)seed, norm2(exact, np), sqrt(band));
    CHECK(sqrt(band) < 0.5 * norm2(exact, np));  // the check is sharp enough to mean something
    for (int i = 0; i < n; i++) sp_trajview_free(&trs[i]);
    sp_trajview_free(&det);
    sp_cost_free(c);
    sp_cost_free(ct);
    policy_free(p);
    sp_model_free(m);
  }
}

TEST(reinforce_without_exploration_noise_is_a_state_error) {
  sp_model* m;
  sp_policy* p;
  CHECK_INT(lq_setup(&m, &p, 1), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(regulation_objective(&obj, &c, &ct, 2, 2, 0.1), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 5, 2, 2), 0);
  double x0[2] = {1, 0}, g[8] = {0};
  CHECK_INT(sp_policy_rollout(&tr, p, policy_ws(p), m, model_ws(m), x0, 0, 0), 0);
  CHECK_INT(sp_grad_reinforce(g, NULL, p, &obj, &tr, 1), SP_ESTATE);
  CHECK_INT(sp_grad_reinforce(g, NULL, p, &obj, &tr, 0), SP_EINVAL);
  sp_trajview_free(&tr);
  sp_cost_free(c);
  sp_cost_free(ct);
  policy_free(p);
  sp_model_free(m);
}

TEST_MAIN()
