// test_double_pendulum.c: the double pendulum's mechanics (energy, power balance, equilibria)
// and its linearisation at upright, which LQR designs use.
#include <math.h>

#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

enum { M1, M2, L1, L2, G, B };

// mass matrix and potential, written out independently of the model file
static void mass(const double* p, const double* x, double M[4]) {
  double h = p[M2] * p[L1] * p[L2], c2 = cos(x[1]);
  M[0] = p[M1] * p[L1] * p[L1] + p[M2] * (p[L1] * p[L1] + p[L2] * p[L2]) + 2 * h * c2;
  M[1] = M[2] = p[M2] * p[L2] * p[L2] + h * c2;
  M[3] = p[M2] * p[L2] * p[L2];
}

static double energy(const double* p, const double* x) {
  // heights of the two point masses above the base (angles from upright, th2 relative)
  double y1 = p[L1] * cos(x[0]), y2 = y1 + p[L2] * cos(x[0] + x[1]);
  // speeds from the positions' time derivatives
  double vx1 = -p[L1] * cos(x[0]) * x[2], vy1 = -p[L1] * sin(x[0]) * x[2];
  double vx2 = vx1 - p[L2] * cos(x[0] + x[1]) * (x[2] + x[3]);
  double vy2 = vy1 - p[L2] * sin(x[0] + x[1]) * (x[2] + x[3]);
  return 0.5 * p[M1] * (vx1 * vx1 + vy1 * vy1) + 0.5 * p[M2] * (vx2 * vx2 + vy2 * vy2) +
         p[G] * (p[M1] * y1 + p[M2] * y2);
}

static void rollout(sp_model* m, double* x, const double* u, int steps) {
  double xn[4];
  for (int k = 0; k < steps; k++) {
    sp_model_step(m, model_ws(m), xn, x, u);
    for (int i = 0; i < 4; i++) x[i] = xn[i];
  }
}

TEST(power_balance_holds_at_random_states) {
  // dE/dt = tau . qd - b |qd|^2, with E from the masses' positions: checks M, c and G together
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), SP_OK);
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    for (int k = 0; k < 10; k++) {
      double x[4], u[2], xd[4], xa[4], xb[4];
      sp_rng_fill_uniform(&r, x, 4, -3, 3);
      sp_rng_fill_uniform(&r, u, 2, -1, 1);
      for (int i = 0; i < 6; i++) m->p[i] = m->cls->p_default[i] * (0.5 + sp_rng_uniform(&r));
      m->p[B] = sp_rng_uniform(&r) * 0.2;
      m->cls->f(m, xd, x, u, m->p);
      // dE/dt by a central difference of E along the flow direction
      double h = 1e-6;
      for (int i = 0; i < 4; i++) xa[i] = x[i] + h * xd[i], xb[i] = x[i] - h * xd[i];
      double dE = (energy(m->p, xa) - energy(m->p, xb)) / (2 * h);
      double power = u[0] * x[2] + u[1] * x[3] - m->p[B] * (x[2] * x[2] + x[3] * x[3]);
      CHECK_CLOSE(dE, power, 1e-6, 1e-8);
    }
  }
  sp_model_free(m);
}

TEST(rk4_nearly_conserves_energy_over_the_ablation_horizon) {
  // METHODS.md's ablation: dt = 0.01, 3 s, starting at th1 = 5 pi / 8
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), SP_OK);
  const double u[2] = {0, 0};
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_rng r;
    sp_rng_seed(&r, seed, 1);
    double x[4] = {5 * M_PI / 8, sp_rng_uniform(&r) - 0.5, sp_rng_uniform(&r) - 0.5,
                   sp_rng_uniform(&r) - 0.5};
    double e0 = energy(m->p, x), scale = m->p[G] * (m->p[M1] + m->p[M2]) * m->p[L1];
    rollout(m, x, u, 300);
    CHECK_CLOSE(energy(m->p, x), e0, 0, 1e-6 * scale);
  }
  sp_model_free(m);
}

TEST(upright_and_hanging_are_equilibria) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), SP_OK);
  const double u[2] = {0, 0};
  double up[4] = {0, 0, 0, 0}, down[4] = {M_PI, 0, 0, 0}, xd[4];
  m->cls->f(m, xd, up, u, m->p);
  for (int i = 0; i < 4; i++) CHECK(xd[i] == 0);
  m->cls->f(m, xd, down, u, m->p);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(xd[i], 0, 0, 1e-15);
  sp_model_free(m);
}

TEST(linearisation_at_upright_is_m_inverse_times_gravity_stiffness) {
  // at x = 0: qdd = M0^{-1} (K q + tau) with K = g [[(m1 + m2) l1 + m2 l2, m2 l2], [m2 l2, m2 l2]]
  sp_model* m;
  const double p[6] = {0.07, 0.13, 0.9, 1.1, 1, 0};
  CHECK_INT(sp_model_new(&m, "double_pendulum", p, 0.01), SP_OK);
  const double x[4] = {0, 0, 0, 0}, u[2] = {0, 0};
  double fx[16], fu[8], M[4];
  m->cls->f_jac(m, fx, fu, NULL, x, u, m->p);
  mass(p, x, M);
  double det = M[0] * M[3] - M[1] * M[2];
  double Mi[4] = {M[3] / det, -M[1] / det, -M[2] / det, M[0] / det};
  double K[4] = {p[G] * ((p[M1] + p[M2]) * p[L1] + p[M2] * p[L2]), p[G] * p[M2] * p[L2],
                 p[G] * p[M2] * p[L2], p[G] * p[M2] * p[L2]};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      double e = Mi[i * 2] * K[j] + Mi[i * 2 + 1] * K[2 + j];
      CHECK_CLOSE(fx[(2 + i) * 4 + j], e, 1e-12, 1e-14);
      CHECK_CLOSE(fx[(2 + i) * 4 + 2 + j], 0, 0, 1e-15);
      CHECK_CLOSE(fu[(2 + i) * 2 + j], Mi[i * 2 + j], 1e-12, 1e-14);
    }
  CHECK(fx[0 * 4 + 2] == 1 && fx[1 * 4 + 3] == 1);
  sp_model_free(m);
}

TEST(upright_is_unstable_without_feedback) {
  // the linearisation has an eigenvalue with positive real part: a small tilt grows
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "double_pendulum", NULL, 0.01), SP_OK);
  const double u[2] = {0, 0};
  double x[4] = {1e-4, 0, 0, 0};
  rollout(m, x, u, 600);
  CHECK(fabs(x[0]) + fabs(x[1]) > 1e-2);
  sp_model_free(m);
}

TEST_MAIN()
