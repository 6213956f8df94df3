// test_bicycle_dyn.c: the dynamic bicycle at standstill and in reverse (the low-speed
// regularisation), and its steady-state cornering against the understeer formula.
#include <math.h>
#include <string.h>

#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

enum { PX, PY, PHI, VX, VY, R };
enum { MASS, IZ, LF, LR, CF, CR, VMIN };

// central differences of f in x: J (6 x 6)
static void fx_fd(const sp_model* m, double* J, const double* x, const double* u) {
  double xx[6], fa[6], fb[6];
  memcpy(xx, x, sizeof xx);
  for (int j = 0; j < 6; j++) {
    double h = 1e-6 * fmax(1, fabs(x[j]));
    xx[j] = x[j] + h;
    m->cls->f(m, fa, xx, u, m->p);
    xx[j] = x[j] - h;
    m->cls->f(m, fb, xx, u, m->p);
    xx[j] = x[j];
    for (int i = 0; i < 6; i++) J[i * 6 + j] = (fa[i] - fb[i]) / (2 * h);
  }
}

TEST(standstill_and_reverse_give_finite_forces_and_exact_jacobians) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "bicycle_dyn", NULL, 0.01), SP_OK);
  const double speeds[] = {0, 1e-3, -0.4, -3};
  for (size_t k = 0; k < sizeof speeds / sizeof speeds[0]; k++) {
    double x[6] = {0.1, -0.2, 0.3, speeds[k], 0.2, -0.1}, u[2] = {0.5, 0.1};
    double xd[6], fx[36], J[36];
    m->cls->f(m, xd, x, u, m->p);
    for (int i = 0; i < 6; i++) CHECK(isfinite(xd[i]));
    m->cls->f_jac(m, fx, NULL, NULL, x, u, m->p);
    fx_fd(m, J, x, u);
    for (int i = 0; i < 36; i++) CHECK_CLOSE(fx[i], J[i], 1e-6, 1e-4);
  }
  sp_model_free(m);
}

TEST(lateral_sliding_is_damped_in_reverse_as_forwards) {
  // a car sliding sideways at vy > 0 gets a lateral force against vy in either direction of travel
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "bicycle_dyn", NULL, 0.01), SP_OK);
  double u[2] = {0, 0}, xd[6];
  double fwd[6] = {0, 0, 0, 3, 0.5, 0}, rev[6] = {0, 0, 0, -3, 0.5, 0};
  m->cls->f(m, xd, fwd, u, m->p);
  CHECK(xd[VY] < 0);
  m->cls->f(m, xd, rev, u, m->p);
  CHECK(xd[VY] < 0);
  sp_model_free(m);
}

TEST(steady_cornering_matches_the_understeer_gradient) {
  // linear tyres, small steering: r = vx delta / (L + K vx^2), K = m (l_r / C_f - l_f / C_r) / L
  // (Rajamani sec. 3.2); v_min made negligible; throttle holds vx constant
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "bicycle_dyn", NULL, 0.005), SP_OK);
  m->p[VMIN] = 1e-6;
  const double* p = m->p;
  double vx = 10, delta = 0.005, L = p[LF] + p[LR];
  double K = p[MASS] * (p[LR] / p[CF] - p[LF] / p[CR]) / L;
  double x[6] = {0, 0, 0, vx, 0, 0}, xn[6], xd[6];
  for (int k = 0; k < 2000; k++) {
    double u[2] = {0, delta};
    m->cls->f(m, xd, x, u, m->p);
    u[0] = -xd[VX];
    sp_model_step(m, model_ws(m), xn, x, u);
    for (int i = 0; i < 6; i++) x[i] = xn[i];
  }
  CHECK_CLOSE(x[VX], vx, 1e-6, 0);
  CHECK_CLOSE(x[R], vx * delta / (L + K * vx * vx), 1e-3, 0);
  sp_model_free(m);
}

TEST_MAIN()
