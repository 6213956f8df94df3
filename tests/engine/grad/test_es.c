// test_es.c: antithetic evolution strategies (engine/grad/es.c) are unbiased when J is quadratic
// in theta (a policy linear in theta on a linear-quadratic problem): the mean of many estimates
// matches the exact gradient within 5 standard errors over several seeds; a failing rollout is
// passed on and leaves g alone.
#include "engine/core/error.h"
#include "grad_checks.h"
#include "test.h"

typedef struct lq_user {
  sp_policy* p;
  sp_model* m;
  const sp_objective* obj;
  sp_trajview* tr;
  const double* x0;
  int fail;
} lq_user;

static int lq_cost(void* user, double* J, const double* theta) {
  lq_user* u = user;
  if (u->fail) return SP_EIO;
  memcpy(sp_policy_params(u->p), theta, sizeof(double) * u->p->nparams);
  *J = plant_cost(u->p, u->m, u->obj, u->tr, u->x0);
  return 0;
}

TEST(es_is_unbiased_when_the_cost_is_quadratic_in_the_parameters) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* m;
    sp_policy* p;
    CHECK_INT(lq_setup(&m, &p, seed), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(regulation_objective(&obj, &c, &ct, 2, 2, 0.1), 0);
    sp_trajview tr;
    CHECK_INT(sp_trajview_new(&tr, 20, 2, 2), 0);
    double x0[2] = {1, 0}, exact[8] = {0}, theta[8], g[8], mean[8] = {0}, sq[8] = {0};
    size_t np = p->nparams;
    CHECK_INT(sp_policy_rollout(&tr, p, policy_ws(p), m, model_ws(m), x0, 0, 0), 0);
    CHECK_INT(sp_grad_feedback(exact, NULL, p, m, &obj, &tr, 0), 0);
    memcpy(theta, sp_policy_params(p), sizeof(double) * np);
    lq_user u = {p, m, &obj, &tr, x0, 0};
    sp_rng r;
    sp_rng_seed(&r, seed, 3);
    int B = 400;
    for (int b = 0; b < B; b++) {
      memset(g, 0, sizeof g);
      double J;
      CHECK_INT(sp_grad_es(g, &J, theta, np, lq_cost, &u, 0.2, 2, &r), 0);
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
    CHECK(sqrt(band) < 0.5 * norm2(exact, np));
    sp_trajview_free(&tr);
    sp_cost_free(c);
    sp_cost_free(ct);
    policy_free(p);
    sp_model_free(m);
  }
}

TEST(a_failing_rollout_is_passed_on_and_leaves_the_gradient_alone) {
  sp_model* m;
  sp_policy* p;
  CHECK_INT(lq_setup(&m, &p, 1), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(regulation_objective(&obj, &c, &ct, 2, 2, 0.1), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 5, 2, 2), 0);
  double x0[2] = {1, 0}, g[8] = {1, 2, 3, 4, 5, 6, 7, 8}, theta[8] = {0};
  lq_user u = {p, m, &obj, &tr, x0, 1};
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  CHECK_INT(sp_grad_es(g, NULL, theta, p->nparams, lq_cost, &u, 0.1, 2, &r), SP_EIO);
  for (int k = 0; k < 8; k++) CHECK(g[k] == k + 1);
  CHECK_INT(sp_grad_es(g, NULL, theta, p->nparams, lq_cost, &u, 0, 2, &r), SP_EINVAL);
  sp_trajview_free(&tr);
  sp_cost_free(c);
  sp_cost_free(ct);
  policy_free(p);
  sp_model_free(m);
}

TEST_MAIN()
