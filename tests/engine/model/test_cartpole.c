// test_cartpole.c: the cart-pole's mechanics and its linearisation at upright.
#include <math.h>

#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

enum { MC, MP, L, G };

static double energy(const double* p, const double* x) {
  // tip at (pos + l sin th, l cos th)
  double vx = x[2] + p[L] * cos(x[1]) * x[3], vy = -p[L] * sin(x[1]) * x[3];
  return 0.5 * p[MC] * x[2] * x[2] + 0.5 * p[MP] * (vx * vx + vy * vy) +
         p[MP] * p[G] * p[L] * cos(x[1]);
}

TEST(power_balance_holds_at_random_states) {
  // dE/dt = F pdot: the force's work is the only energy input
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "cartpole", NULL, 0.01), SP_OK);
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    for (int k = 0; k < 10; k++) {
      double x[4], F = sp_rng_uniform(&r) * 4 - 2, xd[4], xa[4], xb[4], h = 1e-6;
      sp_rng_fill_uniform(&r, x, 4, -3, 3);
      for (int i = 0; i < 4; i++) m->p[i] = m->cls->p_default[i] * (0.5 + sp_rng_uniform(&r));
      m->cls->f(m, xd, x, &F, m->p);
      for (int i = 0; i < 4; i++) xa[i] = x[i] + h * xd[i], xb[i] = x[i] - h * xd[i];
      double dE = (energy(m->p, xa) - energy(m->p, xb)) / (2 * h);
      CHECK_CLOSE(dE, F * x[2], 1e-6, 1e-8);
    }
  }
  sp_model_free(m);
}

TEST(rk4_nearly_conserves_energy_when_unforced) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "cartpole", NULL, 0.01), SP_OK);
  double x[4] = {0, 2.5, 0.3, 0}, xn[4], F = 0, e0 = energy(m->p, x);
  for (int k = 0; k < 300; k++) {
    sp_model_step(m, model_ws(m), xn, x, &F);
    for (int i = 0; i < 4; i++) x[i] = xn[i];
  }
  CHECK_CLOSE(energy(m->p, x), e0, 0, 1e-6 * m->p[MP] * m->p[G] * m->p[L]);
  sp_model_free(m);
}

TEST(linearisation_at_upright_is_the_textbook_one) {
  // A = [0 0 1 0; 0 0 0 1; 0 -m_p g / m_c 0 0; 0 (m_c + m_p) g / (m_c l) 0 0],
  // B = (0, 0, 1 / m_c, -1 / (m_c l))
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "cartpole", NULL, 0.01), SP_OK);
  const double* p = m->p;
  const double x[4] = {0.7, 0, 0, 0}, F = 0;
  double fx[16], fu[4], xd[4];
  m->cls->f(m, xd, x, &F, m->p);
  for (int i = 0; i < 4; i++) CHECK(xd[i] == 0);
  m->cls->f_jac(m, fx, fu, NULL, x, &F, m->p);
  const double A[16] = {0, 0,
                        1, 0,
                        0, 0,
                        0, 1,
                        0, -p[MP] * p[G] / p[MC],
                        0, 0,
                        0, (p[MC] + p[MP]) * p[G] / (p[MC] * p[L]),
                        0, 0};
  const double Bu[4] = {0, 0, 1 / p[MC], -1 / (p[MC] * p[L])};
  for (int i = 0; i < 16; i++) CHECK_CLOSE(fx[i], A[i], 1e-14, 1e-15);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(fu[i], Bu[i], 1e-14, 1e-15);
  sp_model_free(m);
}

TEST_MAIN()
