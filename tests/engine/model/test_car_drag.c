// test_car_drag.c: the simulated car of method 1 behaves as its equations say.
#include <math.h>

#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

enum { KA, CD, KS, BS };

static void rollout(sp_model* m, double* x, const double* u, int steps) {
  double xn[4];
  for (int k = 0; k < steps; k++) {
    sp_model_step(m, model_ws(m), xn, x, u);
    for (int i = 0; i < 4; i++) x[i] = xn[i];
  }
}

TEST(defaults_are_the_papers_simulated_car) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), SP_OK);
  CHECK(m->p[KA] == 11.25 && m->p[CD] == 0.55 && m->p[KS] == 6.5 && m->p[BS] == 0.1);
  double x[4] = {0.3, -0.2, 1.7, 0.4}, u[2] = {0.5, -0.2}, xd[4];
  m->cls->f(m, xd, x, u, m->p);
  CHECK_CLOSE(xd[2], 11.25 * 0.5 - 0.55 * 1.7 * 1.7, 1e-15, 0);
  CHECK_CLOSE(xd[3], (6.5 * -0.2 + 0.1) * 1.7, 1e-15, 0);
  sp_model_free(m);
}

TEST(constant_throttle_reaches_the_drag_limited_speed) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), SP_OK);
  double x[4] = {0, 0, 0, 0}, u[2] = {0.3, 0};
  rollout(m, x, u, 1000);  // 20 s, many time constants
  CHECK_CLOSE(x[2], sqrt(11.25 * 0.3 / 0.55), 1e-9, 0);
  sp_model_free(m);
}

TEST(steering_bias_turns_the_car_with_the_wheel_straight) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), SP_OK);
  double x[4] = {0, 0, 2, 0}, u[2] = {0, 0}, xd[4];
  m->cls->f(m, xd, x, u, m->p);
  CHECK_CLOSE(xd[3], 0.1 * 2, 1e-15, 0);
  sp_model_free(m);
}

TEST(drag_opposes_motion_in_reverse_too) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), SP_OK);
  double x[4] = {0, 0, -1.5, 0}, u[2] = {0, 0}, xd[4];
  m->cls->f(m, xd, x, u, m->p);
  CHECK_CLOSE(xd[2], 0.55 * 1.5 * 1.5, 1e-15, 0);
  sp_model_free(m);
}

TEST(gamma_scaled_model_is_made_by_scaling_every_parameter) {
  // the method-1 experiment's approximate model at gamma = 0.5
  const sp_model_class* cls = sp_model_find("car_drag");
  CHECK(cls != NULL);
  double p[4];
  for (int i = 0; i < 4; i++) p[i] = 0.5 * cls->p_default[i];
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", p, 0.02), SP_OK);
  double x[4] = {0, 0, 1, 0}, u[2] = {0.5, 0.5}, xd[4];
  m->cls->f(m, xd, x, u, m->p);
  CHECK_CLOSE(xd[2], 0.5 * 11.25 * 0.5 - 0.5 * 0.55, 1e-15, 0);
  CHECK_CLOSE(xd[3], 0.5 * 6.5 * 0.5 + 0.05, 1e-15, 0);
  sp_model_free(m);
}

TEST_MAIN()
