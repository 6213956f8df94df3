// test_unicycle_vel.c: with Euler and defaults the model is method 1's quadruped model exactly.
#include <math.h>

#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

TEST(euler_step_with_defaults_is_the_papers_quadruped_model) {
  sp_model* m;
  double dt = 0.1;
  CHECK_INT(sp_model_new(&m, "unicycle_vel", NULL, dt), SP_OK);
  CHECK_INT(sp_model_configure(m, dt, SP_INTEGRATOR_EULER, 1), SP_OK);
  for (uint64_t seed = 1; seed <= 5; seed++) {
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    double x[3], u[2], xn[3];
    sp_rng_fill_uniform(&r, x, 3, -3, 3);
    sp_rng_fill_uniform(&r, u, 2, -1, 1);
    sp_model_step(m, model_ws(m), xn, x, u);
    CHECK(xn[0] == x[0] + u[0] * cos(x[2]) * dt);
    CHECK(xn[1] == x[1] + u[0] * sin(x[2]) * dt);
    CHECK(xn[2] == x[2] + u[1] * dt);
  }
  sp_model_free(m);
}

TEST(simulated_real_quadruped_walks_faster_and_drifts) {
  // k_v = 1.18, b_w = 0.1: commanded straight at 0.5 m/s it walks at 0.59 m/s and turns
  const double p[2] = {1.18, 0.1};
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "unicycle_vel", p, 0.1), SP_OK);
  double x[3] = {0, 0, 0}, u[2] = {0.5, 0}, xd[3];
  m->cls->f(m, xd, x, u, m->p);
  CHECK_CLOSE(xd[0], 0.59, 1e-15, 0);
  CHECK_CLOSE(xd[2], 0.1, 1e-15, 0);
  sp_model_free(m);
}

TEST_MAIN()
