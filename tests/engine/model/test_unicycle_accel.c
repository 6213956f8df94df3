// test_unicycle_accel.c: with Euler and default parameters the model is method 1's discrete car
// model (shared/METHODS.md), exactly.
#include <math.h>

#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

TEST(euler_step_with_defaults_is_the_papers_discrete_car_model) {
  sp_model* m;
  double dt = 0.02;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, dt), SP_OK);
  CHECK_INT(sp_model_configure(m, dt, SP_INTEGRATOR_EULER, 1), SP_OK);
  for (uint64_t seed = 1; seed <= 5; seed++) {
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    double x[4], u[2], xn[4], A[16], B[8];
    sp_rng_fill_uniform(&r, x, 4, -3, 3);
    sp_rng_fill_uniform(&r, u, 2, -1, 1);
    sp_model_step_jac(m, model_ws(m), xn, A, B, NULL, x, u);
    CHECK(xn[0] == x[0] + x[2] * cos(x[3]) * dt);
    CHECK(xn[1] == x[1] + x[2] * sin(x[3]) * dt);
    CHECK(xn[2] == x[2] + u[0] * dt);
    CHECK(xn[3] == x[3] + x[2] * u[1] * dt);
    // the Jacobians the paper's estimator evaluates along recorded data
    const double Ae[16] = {1,
                           0,
                           cos(x[3]) * dt,
                           -x[2] * sin(x[3]) * dt,
                           0,
                           1,
                           sin(x[3]) * dt,
                           x[2] * cos(x[3]) * dt,
                           0,
                           0,
                           1,
                           0,
                           0,
                           0,
                           u[1] * dt,
                           1};
    const double Be[8] = {0, 0, 0, 0, dt, 0, 0, x[2] * dt};
    for (int i = 0; i < 16; i++) CHECK_CLOSE(A[i], Ae[i], 1e-15, 1e-18);
    for (int i = 0; i < 8; i++) CHECK_CLOSE(B[i], Be[i], 1e-15, 1e-18);
  }
  sp_model_free(m);
}

TEST(parameters_scale_acceleration_and_turn_rate) {
  sp_model* m;
  const double p[] = {2, 3};
  CHECK_INT(sp_model_new(&m, "unicycle_accel", p, 0.1), SP_OK);
  CHECK_INT(sp_model_configure(m, 0.1, SP_INTEGRATOR_EULER, 1), SP_OK);
  double x[4] = {0, 0, 2, 0}, u[2] = {0.5, 0.25}, xn[4];
  sp_model_step(m, model_ws(m), xn, x, u);
  CHECK_CLOSE(xn[2], 2 + 2 * 0.5 * 0.1, 1e-15, 0);
  CHECK_CLOSE(xn[3], 3 * 2 * 0.25 * 0.1, 1e-15, 0);
  sp_model_free(m);
}

TEST(rk4_drives_a_circle_of_radius_one_over_curvature) {
  // constant speed and curvature kappa: a circle of radius 1/(k_s kappa) back to the start
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0.01), SP_OK);
  double x[4] = {0, 0, 1.5, 0}, u[2] = {0, 0.5}, xn[4];
  int steps = (int)lround(2 * M_PI / (1.5 * 0.5) / 0.01);
  for (int k = 0; k < steps; k++) {
    sp_model_step(m, model_ws(m), xn, x, u);
    for (int i = 0; i < 4; i++) x[i] = xn[i];
  }
  // period is not a whole number of steps: position within one step of travel of the start
  CHECK(hypot(x[0], x[1]) < 1.5 * 0.01);
  CHECK_CLOSE(x[2], 1.5, 1e-15, 0);
  sp_model_free(m);
}

TEST_MAIN()
