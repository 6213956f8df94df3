// test_model_bptt.c: backpropagation through the model's own rollout (engine/grad/model_bptt.c):
// with model == plant it equals the feedback estimator; with a mismatched model it is the exact
// gradient of the MODEL's cost (central differences of model rollouts), which differs from the
// plant's gradient: the bias method 1 avoids.
#include "engine/core/error.h"
#include "grad_checks.h"
#include "test.h"

TEST(model_bptt_equals_feedback_when_the_model_is_the_plant) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* plant;
    CHECK_INT(sp_model_new(&plant, "car_drag", NULL, 0.02), 0);
    fixture f;
    CHECK_INT(car_fixture(&f, 8, seed, 1), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
    sp_trajview tr;
    CHECK_INT(sp_trajview_new(&tr, 200, 4, 2), 0);
    double x0[4] = {0.1 * seed, 0, 2, 1.5};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
    size_t n = f.pol->nparams;
    double* g = sp_calloc(n, sizeof(double));
    double* gb = sp_calloc(n, sizeof(double));
    double J, Jb;
    CHECK_INT(sp_grad_feedback(g, &J, f.pol, plant, &obj, &tr, 0), 0);
    CHECK_INT(sp_grad_model_bptt(gb, &Jb, f.pol, plant, &obj, &tr), 0);
    CHECK_CLOSE(Jb, J, 1e-13, 0);
    CHECK(rel_err(gb, g, n) < 1e-12);
    sp_free(g);
    sp_free(gb);
    sp_trajview_free(&tr);
    sp_cost_free(c);
    sp_cost_free(ct);
    fixture_free(&f);
    sp_model_free(plant);
  }
}

TEST(model_bptt_is_the_exact_gradient_of_the_models_cost_and_biased_for_the_plant) {
  for (uint64_t seed = 1; seed <= 2; seed++) {
    sp_model *plant, *model;
    CHECK_INT(sp_model_new(&plant, "car_drag", NULL, 0.02), 0);
    double pm[4] = {0.5 * 11.25, 0.5 * 0.55, 0.5 * 6.5, 0.5 * 0.1};
    CHECK_INT(sp_model_new(&model, "car_drag", pm, 0.02), 0);
    fixture f;
    CHECK_INT(car_fixture(&f, 6, seed, 1), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
    sp_trajview tr;
    CHECK_INT(sp_trajview_new(&tr, 150, 4, 2), 0);
    double x0[4] = {0, 0.1, 2, 1.5};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
    size_t n = f.pol->nparams;
    double* gb = sp_calloc(n, sizeof(double));
    double* gm = sp_calloc(n, sizeof(double));
    double* gp = sp_calloc(n, sizeof(double));
    double Jb, Jm;
    CHECK_INT(sp_grad_model_bptt(gb, &Jb, f.pol, model, &obj, &tr), 0);
    sp_trajview im;
    CHECK_INT(sp_trajview_new(&im, 150, 4, 2), 0);
    Jm = plant_cost(f.pol, model, &obj, &im, x0);
    CHECK_CLOSE(Jb, Jm, 1e-12, 0);
    plant_cost_fd(gm, f.pol, model, &obj, &im, x0, 1e-6);
    plant_cost_fd(gp, f.pol, plant, &obj, &im, x0, 1e-6);
    printf("  seed %d: vs model FD %.2e, vs plant FD %.2e\n", (int)seed, rel_err(gb, gm, n),
           rel_err(gb, gp, n));
    CHECK(rel_err(gb, gm, n) < 1e-5);
    CHECK(rel_err(gb, gp, n) > 1e-2);
    sp_free(gb);
    sp_free(gm);
    sp_free(gp);
    sp_trajview_free(&tr);
    sp_trajview_free(&im);
    sp_cost_free(c);
    sp_cost_free(ct);
    fixture_free(&f);
    sp_model_free(plant);
    sp_model_free(model);
  }
}

TEST_MAIN()
