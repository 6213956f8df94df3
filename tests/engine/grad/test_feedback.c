// test_feedback.c: method 1's estimator (engine/grad/feedback.c). With a perfect model (model ==
// plant, deterministic policy) it equals the central finite-difference gradient of the PLANT's
// cost on the car figure-eight and on the double pendulum with LQR, over several seeds; it agrees
// with the independent forward-sensitivity form, full horizon and truncated; truncation with a
// segment >= T is the full horizon; g accumulates; argument errors.
#include "engine/core/error.h"
#include "grad_checks.h"
#include "test.h"

TEST(car_estimate_equals_finite_differences_of_the_plant_cost_with_a_perfect_model) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* plant;
    CHECK_INT(sp_model_new(&plant, seed == 2 ? "unicycle_accel" : "car_drag", NULL, 0.02), 0);
    fixture f;
    CHECK_INT(car_fixture(&f, 8, seed, 1), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
    obj.k0 = 20;
    sp_trajview tr;
    int T = 300;
    CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
    double x0[4] = {0.1, -0.1, 2.0, 1.5};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
    size_t n = f.pol->nparams;
    double* g = sp_calloc(n, sizeof(double));
    double* gfd = sp_calloc(n, sizeof(double));
    double J, Jp;
    // the plant's recorded trajectory, the "approximate" model equal to the plant
    CHECK_INT(sp_grad_feedback(g, &J, f.pol, plant, &obj, &tr, 0), 0);
    CHECK_INT(sp_objective_value(&Jp, &obj, &tr), 0);
    CHECK_CLOSE(J, Jp, 1e-12, 0);
    plant_cost_fd(gfd, f.pol, plant, &obj, &tr, x0, 1e-6);
    double e = rel_err(g, gfd, n);
    printf("  seed %d (%s): J %.4f |g| %.4g rel err vs plant FD %.2e\n", (int)seed,
           plant->cls->name, J, norm2(g, n), e);
    CHECK(norm2(g, n) > 1e-3);
    CHECK(e < 1e-5);
    sp_free(g);
    sp_free(gfd);
    sp_trajview_free(&tr);
    sp_cost_free(c);
    sp_cost_free(ct);
    fixture_free(&f);
    sp_model_free(plant);
  }
}

TEST(pendulum_estimate_equals_finite_differences_of_the_plant_cost_with_a_perfect_model) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_model* plant;
    CHECK_INT(sp_model_new(&plant, "double_pendulum", NULL, 0.01), 0);
    fixture f;
    CHECK_INT(pendulum_fixture(&f, plant, 8, seed, 1), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(regulation_objective(&obj, &c, &ct, 4, 2, 0.01), 0);
    sp_trajview tr;
    int T = 300;
    CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
    double x0[4] = {0.6 + 0.1 * seed, -0.3, 0.2, 0};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
    size_t n = f.pol->nparams;
    double* g = sp_calloc(n, sizeof(double));
    double* gfd = sp_calloc(n, sizeof(double));
    double J;
    CHECK_INT(sp_grad_feedback(g, &J, f.pol, plant, &obj, &tr, 0), 0);
    plant_cost_fd(gfd, f.pol, plant, &obj, &tr, x0, 1e-6);
    double e = rel_err(g, gfd, n);
    printf("  seed %d: J %.4f |x_T| %.2e |g| %.4g rel err vs plant FD %.2e\n", (int)seed, J,
           norm2(tr.X + 4 * T, 4), norm2(g, n), e);
    CHECK(norm2(tr.X + 4 * T, 4) < 0.5);  // the LQR policy brings it back near upright
    CHECK(e < 1e-5);
    sp_free(g);
    sp_free(gfd);
    sp_trajview_free(&tr);
    sp_cost_free(c);
    sp_cost_free(ct);
    fixture_free(&f);
    sp_model_free(plant);
  }
}

TEST(adjoint_equals_forward_sensitivities_full_and_truncated_under_model_mismatch) {
  sp_model *plant, *model;
  CHECK_INT(sp_model_new(&plant, "car_drag", NULL, 0.02), 0);
  double pm[4] = {0.5 * 11.25, 0.5 * 0.55, 0.5 * 6.5, 0.5 * 0.1};
  CHECK_INT(sp_model_new(&model, "car_drag", pm, 0.02), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 6, 7, 1), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 120, 4, 2), 0);
  double x0[4] = {0, 0, 1.5, 1.6};
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
  size_t n = f.pol->nparams;
  double* g = sp_calloc(n, sizeof(double));
  double* gf = sp_calloc(n, sizeof(double));
  int segments[3] = {0, 7, 40};  // 40 divides T: a boundary at the terminal state
  for (int s = 0; s < 3; s++) {
    memset(g, 0, n * sizeof(double));
    CHECK_INT(sp_grad_feedback(g, NULL, f.pol, model, &obj, &tr, segments[s]), 0);
    forward_sensitivity(gf, f.pol, model, &obj, &tr, segments[s]);
    double e = rel_err(g, gf, n);
    if (!(e < 1e-10)) SP_FAIL_("segment %d: rel err %g", segments[s], e);
  }
  sp_free(g);
  sp_free(gf);
  sp_trajview_free(&tr);
  sp_cost_free(c);
  sp_cost_free(ct);
  fixture_free(&f);
  sp_model_free(plant);
  sp_model_free(model);
}

TEST(truncation_with_a_segment_at_least_the_horizon_is_the_full_horizon) {
  sp_model* plant;
  CHECK_INT(sp_model_new(&plant, "car_drag", NULL, 0.02), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 4, 1), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
  sp_trajview tr;
  int T = 150;
  CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
  double x0[4] = {0, 0, 2, 1.6};
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
  size_t n = f.pol->nparams;
  double* g0 = sp_calloc(n, sizeof(double));
  double* g1 = sp_calloc(n, sizeof(double));
  double* g7 = sp_calloc(n, sizeof(double));
  sp_grad_feedback(g0, NULL, f.pol, plant, &obj, &tr, 0);
  int segs[2] = {T, 5 * T};
  for (int s = 0; s < 2; s++) {
    memset(g1, 0, n * sizeof(double));
    sp_grad_feedback(g1, NULL, f.pol, plant, &obj, &tr, segs[s]);
    CHECK(memcmp(g0, g1, n * sizeof(double)) == 0);
  }
  // a short segment really cuts the sensitivities
  sp_grad_feedback(g7, NULL, f.pol, plant, &obj, &tr, 7);
  printf("  segment 7 vs full horizon: rel diff %.3f\n", rel_err(g7, g0, n));
  CHECK(rel_err(g7, g0, n) > 1e-3);
  sp_free(g0);
  sp_free(g1);
  sp_free(g7);
  sp_trajview_free(&tr);
  sp_cost_free(c);
  sp_cost_free(ct);
  fixture_free(&f);
  sp_model_free(plant);
}

TEST(gradients_of_two_trajectories_accumulate) {
  sp_model* plant;
  CHECK_INT(sp_model_new(&plant, "car_drag", NULL, 0.02), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 8, 5, 1), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
  sp_trajview a, b;
  CHECK_INT(sp_trajview_new(&a, 60, 4, 2), 0);
  CHECK_INT(sp_trajview_new(&b, 60, 4, 2), 0);
  double x0[4] = {0, 0, 2, 1.6}, x1[4] = {0.2, 0.1, 1, 1.3};
  sp_policy_rollout(&a, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0);
  sp_policy_rollout(&b, f.pol, policy_ws(f.pol), plant, model_ws(plant), x1, 0, 0);
  size_t n = f.pol->nparams;
  double* ga = sp_calloc(n, sizeof(double));
  double* gb = sp_calloc(n, sizeof(double));
  double* gab = sp_calloc(n, sizeof(double));
  sp_grad_feedback(ga, NULL, f.pol, plant, &obj, &a, 0);
  sp_grad_feedback(gb, NULL, f.pol, plant, &obj, &b, 0);
  sp_grad_feedback(gab, NULL, f.pol, plant, &obj, &a, 0);
  sp_grad_feedback(gab, NULL, f.pol, plant, &obj, &b, 0);
  for (size_t k = 0; k < n; k++) CHECK_CLOSE(gab[k], ga[k] + gb[k], 1e-12, 1e-14);
  sp_free(ga);
  sp_free(gb);
  sp_free(gab);
  sp_trajview_free(&a);
  sp_trajview_free(&b);
  sp_cost_free(c);
  sp_cost_free(ct);
  fixture_free(&f);
  sp_model_free(plant);
}

TEST(size_mismatches_are_shape_errors_and_missing_arguments_invalid) {
  sp_model *car, *pend;
  CHECK_INT(sp_model_new(&car, "car_drag", NULL, 0.02), 0);
  CHECK_INT(sp_model_new(&pend, "double_pendulum", NULL, 0.01), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 4, 1, 0), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 10, 4, 2), 0);
  double x0[4] = {0, 0, 1, 1}, g[4096] = {0};
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), car, model_ws(car), x0, 0, 0), 0);
  CHECK_INT(sp_grad_feedback(g, NULL, f.pol, pend, &obj, &tr, 0), 0);  // same sizes: allowed
  sp_model* uni;
  CHECK_INT(sp_model_new(&uni, "unicycle_vel", NULL, 0.02), 0);
  CHECK_INT(sp_grad_feedback(g, NULL, f.pol, uni, &obj, &tr, 0), SP_ESHAPE);
  CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), uni, model_ws(uni), x0, 0, 0),
            SP_ESHAPE);
  CHECK_INT(sp_grad_feedback(NULL, NULL, f.pol, car, &obj, &tr, 0), SP_EINVAL);
  obj.k0 = -1;
  CHECK_INT(sp_grad_feedback(g, NULL, f.pol, car, &obj, &tr, 0), SP_EINVAL);
  sp_trajview_free(&tr);
  sp_cost_free(c);
  sp_cost_free(ct);
  fixture_free(&f);
  sp_model_free(car);
  sp_model_free(pend);
  sp_model_free(uni);
}

// squared distance of the double pendulum's end effector to (0.5, 1.5), a cost the term library
// does not have (METHODS.md's pendulum cost), as a caller's cost function
static int end_effector(void* user, double* c, double* gx, double* gu, const double* x,
                        const double* u, double t, int k, int T) {
  int* fail_at = user;
  if (fail_at && k == *fail_at) return SP_EIO;
  double s1 = sin(x[0]), c1 = cos(x[0]), s12 = sin(x[0] + x[1]), c12 = cos(x[0] + x[1]);
  double ex = s1 + s12 - 0.5, ey = c1 + c12 - 1.5, w = k == T ? 10 : 1;
  *c = w * (ex * ex + ey * ey);
  gx[0] = w * 2 * (ex * (c1 + c12) - ey * (s1 + s12));
  gx[1] = w * 2 * (ex * c12 - ey * s12);
  gx[2] = gx[3] = 0;
  if (gu) gu[0] = gu[1] = 0;
  return 0;
}

TEST(cost_functions_are_differentiated_exactly_and_their_errors_stop_the_estimator) {
  for (uint64_t seed = 1; seed <= 2; seed++) {
    sp_model* plant;
    CHECK_INT(sp_model_new(&plant, "double_pendulum", NULL, 0.01), 0);
    fixture f;
    CHECK_INT(pendulum_fixture(&f, plant, 8, seed, 1), 0);
    sp_objective obj = {.step_fn = end_effector, .terminal_fn = end_effector, .scale = 0.5};
    sp_trajview tr;
    int T = 200;
    CHECK_INT(sp_trajview_new(&tr, T, 4, 2), 0);
    double x0[4] = {0.5, -0.2, 0.1, 0};
    CHECK_INT(sp_policy_rollout(&tr, f.pol, policy_ws(f.pol), plant, model_ws(plant), x0, 0, 0), 0);
    size_t n = f.pol->nparams;
    double* g = sp_calloc(n, sizeof(double));
    double* gfd = sp_calloc(n, sizeof(double));
    double J;
    CHECK_INT(sp_grad_feedback(g, &J, f.pol, plant, &obj, &tr, 0), 0);
    plant_cost_fd(gfd, f.pol, plant, &obj, &tr, x0, 1e-6);
    CHECK(rel_err(g, gfd, n) < 1e-5);
    // an error from the function is returned and g is left alone
    int fail_at = 17;
    obj.user = &fail_at;
    double* g2 = sp_calloc(n, sizeof(double));
    CHECK_INT(sp_grad_feedback(g2, &J, f.pol, plant, &obj, &tr, 0), SP_EIO);
    CHECK_INT(sp_grad_model_bptt(g2, &J, f.pol, plant, &obj, &tr), SP_EIO);
    CHECK_INT(sp_objective_value(&J, &obj, &tr), SP_EIO);
    for (size_t k = 0; k < n; k++) CHECK(g2[k] == 0);
    sp_free(g);
    sp_free(g2);
    sp_free(gfd);
    sp_trajview_free(&tr);
    fixture_free(&f);
    sp_model_free(plant);
  }
}

TEST_MAIN()
