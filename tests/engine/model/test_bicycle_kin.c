// test_bicycle_kin.c: the kinematic bicycle drives the circles geometry says it should.
#include <math.h>

#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

TEST(straight_wheel_drives_straight_along_the_heading) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "bicycle_kin", NULL, 0.05), SP_OK);
  double x[4] = {1, 2, 0.7, 3}, u[2] = {0, 0}, xn[4];
  sp_model_step(m, model_ws(m), xn, x, u);
  CHECK_CLOSE(xn[0], 1 + 3 * 0.05 * cos(0.7), 1e-14, 0);
  CHECK_CLOSE(xn[1], 2 + 3 * 0.05 * sin(0.7), 1e-14, 0);
  CHECK(xn[2] == 0.7 && xn[3] == 3);
  sp_model_free(m);
}

TEST(constant_steering_follows_a_circle_of_the_geometric_radius) {
  // the CG circles with radius R = l_r / sin(beta) = (l_f + l_r) / (tan(delta) cos(beta))
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "bicycle_kin", NULL, 0.01), SP_OK);
  double lf = m->p[0], lr = m->p[1], delta = 0.2, v = 2;
  double beta = atan(lr * tan(delta) / (lf + lr)), R = lr / sin(beta);
  CHECK_CLOSE(R, (lf + lr) / (tan(delta) * cos(beta)), 1e-12, 0);
  double x[4] = {0, 0, 0, v}, u[2] = {0, delta}, xn[4];
  // the centre is at distance R to the left of the velocity direction phi + beta
  double cx = -R * sin(beta), cy = R * cos(beta);
  for (int k = 0; k < 2000; k++) {
    sp_model_step(m, model_ws(m), xn, x, u);
    for (int i = 0; i < 4; i++) x[i] = xn[i];
    CHECK_CLOSE(hypot(x[0] - cx, x[1] - cy), R, 1e-8, 0);
  }
  sp_model_free(m);
}

TEST_MAIN()
