// test_optim.c: SGD and Adam (engine/nn/optim.c): known steps, descent on a quadratic and on a
// small regression, clipping by global norm, weight decay, refusal of bad settings and non-finite
// gradients, and no allocation per step.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/nn/init.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "test.h"

TEST(sgd_takes_the_known_step_and_momentum_accumulates) {
  sp_optim_config c = sp_optim_sgd_config(0.1);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 2), 0);
  CHECK(o->m == NULL);
  double p[2] = {1, 2}, g[2] = {0.5, -1};
  CHECK_INT(sp_optim_step(o, p, g), 0);
  CHECK_CLOSE(p[0], 0.95, 1e-15, 0);
  CHECK_CLOSE(p[1], 2.1, 1e-15, 0);
  CHECK_INT(o->t, 1);
  sp_optim_free(o);

  c.momentum = 0.9;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 2), 0);
  double q[2] = {1, 2};
  sp_optim_step(o, q, g);  // b = g
  sp_optim_step(o, q, g);  // b = 0.9 g + g
  CHECK_CLOSE(q[0], 1 - 0.1 * 0.5 * (1 + 1.9), 1e-15, 0);
  CHECK_CLOSE(q[1], 2 + 0.1 * (1 + 1.9), 1e-15, 0);
  sp_optim_free(o);
}

TEST(adam_takes_the_bias_corrected_steps_of_algorithm_1) {
  sp_optim_config c = sp_optim_adam_config(0.01);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 3), 0);
  double p[3] = {1, -1, 0.5}, g1[3] = {0.3, -2, 1e-3}, g2[3] = {-0.1, 1, 2e-3};
  double ref[3], m[3] = {0}, v[3] = {0};
  memcpy(ref, p, sizeof p);
  const double* gs[2] = {g1, g2};
  for (int t = 1; t <= 2; t++) {
    sp_optim_step(o, p, gs[t - 1]);
    for (int i = 0; i < 3; i++) {
      double g = gs[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.999, t));
      ref[i] -= 0.01 * mh / (sqrt(vh) + 1e-8);
    }
    for (int i = 0; i < 3; i++) CHECK_CLOSE(p[i], ref[i], 1e-13, 1e-15);
  }
  // the first step moves every coordinate by about lr, whatever the gradient's scale
  CHECK_INT(o->t, 2);
  sp_optim_free(o);
}

// f(p) = 0.5 sum a_i (p_i - c_i)^2
static double quad(const double* p, double* g, int n) {
  double f = 0;
  for (int i = 0; i < n; i++) {
    double a = 1 + i, d = p[i] - (0.5 * i - 1);
    f += 0.5 * a * d * d;
    if (g) g[i] = a * d;
  }
  return f;
}

TEST(sgd_and_adam_descend_a_quadratic_in_both_precisions) {
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < 2; t++)
      for (int seed = 1; seed <= 3; seed++) {
        sp_optim_config c = k ? sp_optim_adam_config(0.05) : sp_optim_sgd_config(0.05);
        c.momentum = k ? 0 : 0.5;
        sp_optim* o;
        CHECK_INT(sp_optim_new(&o, &c, (sp_dtype)t, 4), 0);
        double p[4], g[4];
        float pf[4], gf[4];
        sp_rng r;
        sp_rng_seed(&r, (uint64_t)seed, 0);
        sp_rng_fill_normal(&r, p, 4, 0, 3);
        for (int i = 0; i < 4; i++) pf[i] = (float)p[i];
        double f0 = quad(p, NULL, 4);
        for (int it = 0; it < 400; it++) {
          if (t == SP_F64) {
            quad(p, g, 4);
            sp_optim_step(o, p, g);
          } else {
            for (int i = 0; i < 4; i++) p[i] = pf[i];
            quad(p, g, 4);
            for (int i = 0; i < 4; i++) gf[i] = (float)g[i];
            sp_optim_step(o, pf, gf);
            for (int i = 0; i < 4; i++) p[i] = pf[i];
          }
        }
        CHECK(quad(p, NULL, 4) < 1e-4 * f0 + 1e-6);
        sp_optim_free(o);
      }
}

TEST(adam_trains_a_small_regression_network) {
  for (int seed = 1; seed <= 3; seed++) {
    int sizes[] = {1, 16, 16, 1};
    sp_act acts[] = {SP_ACT_TANH, SP_ACT_TANH, SP_ACT_IDENTITY};
    sp_mlp* m;
    CHECK_INT(sp_mlp_new(&m, 3, sizes, acts, SP_F64, 32), 0);
    sp_mlp_init(m, SP_INIT_XAVIER, (uint64_t)seed);
    sp_optim_config c = sp_optim_adam_config(0.01);
    sp_optim* o;
    CHECK_INT(sp_optim_new(&o, &c, SP_F64, m->nparams), 0);
    double x[32], y[32], t[32], gy[32], first = 0, last = 0;
    for (int i = 0; i < 32; i++) {
      x[i] = -2 + 4.0 * i / 31;
      t[i] = sin(1.5 * x[i]);
    }
    for (int it = 0; it < 1500; it++) {
      sp_mlp_forward(m, NULL, y, x, 32);
      double L = 0;
      for (int i = 0; i < 32; i++) {
        L += (y[i] - t[i]) * (y[i] - t[i]) / 32;
        gy[i] = 2 * (y[i] - t[i]) / 32;
      }
      if (it == 0) first = L;
      last = L;
      sp_mlp_zero_grad(m);
      sp_mlp_backward(m, NULL, NULL, gy);
      sp_optim_step(o, m->params, m->grads);
    }
    CHECK(last < 1e-3);
    CHECK(last < 0.01 * first);
    sp_optim_free(o);
    sp_mlp_free(m);
  }
}

TEST(clipping_caps_the_global_norm_of_the_step) {
  sp_optim_config c = sp_optim_sgd_config(1.0);
  c.clip = 2.0;
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 3), 0);
  double p[3] = {0, 0, 0}, g[3] = {3, 4, 12};  // norm 13
  CHECK_INT(sp_optim_step(o, p, g), 0);
  CHECK_CLOSE(o->last_norm, 13, 1e-15, 0);
  CHECK_CLOSE(sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]), 2.0, 1e-14, 0);
  CHECK_CLOSE(p[1] / p[0], 4.0 / 3.0, 1e-14, 0);  // direction kept
  CHECK(g[0] == 3 && g[1] == 4 && g[2] == 12);    // gradient untouched
  // below the cap nothing changes
  double q[3] = {0, 0, 0}, h[3] = {0.3, 0.4, 1.2};
  sp_optim_step(o, q, h);
  CHECK_CLOSE(q[2], -1.2, 1e-15, 0);
  sp_optim_free(o);
}

TEST(weight_decay_pulls_parameters_towards_zero) {
  sp_optim_config c = sp_optim_sgd_config(0.5);
  c.weight_decay = 0.2;
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 2), 0);
  double p[2] = {1, -2}, g[2] = {0, 0};
  sp_optim_step(o, p, g);
  CHECK_CLOSE(p[0], 0.9, 1e-15, 0);
  CHECK_CLOSE(p[1], -1.8, 1e-15, 0);
  sp_optim_free(o);
}

TEST(non_finite_gradients_are_refused_without_an_update) {
  sp_optim_config c = sp_optim_adam_config(0.1);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 2), 0);
  double p[2] = {1, 2}, g[2] = {NAN, 1};
  CHECK_INT(sp_optim_step(o, p, g), SP_ENUMERIC);
  CHECK(p[0] == 1 && p[1] == 2);
  CHECK_INT(o->t, 0);
  sp_optim_free(o);
}

// a step whose result would not be finite (a huge lr) changes nothing and names the parameter
TEST(steps_that_would_make_parameters_non_finite_are_refused_unchanged) {
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < 2; t++) {
      sp_optim_config c = k ? sp_optim_adam_config(1e308) : sp_optim_sgd_config(1e308);
      c.momentum = k ? 0 : 0.5;
      sp_optim* o;
      CHECK_INT(sp_optim_new(&o, &c, (sp_dtype)t, 3), 0);
      double pd[3] = {1, 2, 3}, gd[3] = {0, 0, 1};
      float pf[3] = {1, 2, 3}, gf[3] = {0, 0, 1};
      void* p = t ? (void*)pf : (void*)pd;
      const void* g = t ? (const void*)gf : (const void*)gd;
      // float32 overflows at 1e308 at once; float64 when the step meets p = -1e308
      if (!t) pd[2] = -1e308;
      CHECK_INT(sp_optim_step(o, p, g), SP_ENUMERIC);
      // the first index whose update is not finite: 2 where the step size itself is finite
      // (float64 sgd); 0 where lr overflows the dtype (inf x 0 is NaN)
      CHECK_INT(o->bad, t == 0 && k == 0 ? 2 : 0);
      CHECK_INT(o->t, 0);
      if (t)
        CHECK(pf[0] == 1 && pf[1] == 2 && pf[2] == 3);
      else
        CHECK(pd[0] == 1 && pd[1] == 2 && pd[2] == -1e308);
      if (o->m) {
        size_t es = sp_dtype_size((sp_dtype)t);
        const unsigned char* m = o->m;
        for (size_t i = 0; i < 3 * es; i++) CHECK(m[i] == 0);
      }
      // a finite step afterwards goes through and clears bad
      o->cfg.lr = 1e-3;
      CHECK_INT(sp_optim_step(o, p, g), 0);
      CHECK_INT(o->bad, -1);
      CHECK_INT(o->t, 1);
      sp_optim_free(o);
    }
}

TEST(bad_settings_are_refused_naming_the_field) {
  char msg[128];
  sp_optim_config c = sp_optim_adam_config(0.1);
  c.beta2 = 1.0;
  CHECK_INT(sp_optim_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "beta2 must be in [0, 1), got 1");
  c = sp_optim_sgd_config(-1);
  CHECK_INT(sp_optim_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "lr must be finite and >= 0, got -1");
  sp_optim* o = (sp_optim*)1;
  CHECK_INT(sp_optim_new(&o, &c, SP_F64, 2), SP_EINVAL);
  CHECK(o == NULL);
}

TEST(reset_forgets_the_state) {
  sp_optim_config c = sp_optim_adam_config(0.1);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &c, SP_F32, 2), 0);
  float p[2] = {1, 2}, g[2] = {1, 1};
  sp_optim_step(o, p, g);
  sp_optim_reset(o);
  CHECK_INT(o->t, 0);
  const float* m = o->m;
  CHECK(m[0] == 0 && m[1] == 0);
  sp_optim_free(o);
}

// One training step (zero_grad, forward, mean squared error, backward, Adam) of a 6-64-64-10 tanh
// net, the shape bench_mlp times at small batches, in float32 and float64 from the same
// parameters. Adam's update lr g / (|g| + eps) has slope lr / eps in g, so eps = 1e-3 keeps the
// float32 rounding of the gradient (relative 1e-6) from being amplified into the comparison.
static int train_steps(sp_mlp* m, sp_optim* o, const double* x, const double* t, int batch,
                       int steps) {
  int ny = batch * m->nout;
  double y[16 * 10], gy[16 * 10];
  float xf[16 * 6], gyf[16 * 10];
  int rc = 0;
  for (int i = 0; i < batch * m->nin; i++) xf[i] = (float)x[i];
  for (int k = 0; k < steps; k++) {
    sp_mlp_zero_grad(m);
    if (m->dtype == SP_F32) {
      rc |= sp_mlp_forward_f32(m, NULL, NULL, xf, batch);
      const float* yf = sp_mlp_output(m, NULL);
      for (int i = 0; i < ny; i++) gyf[i] = 2.0f / (float)ny * (yf[i] - (float)t[i]);
      rc |= sp_mlp_backward_f32(m, NULL, NULL, gyf);
    } else {
      rc |= sp_mlp_forward(m, NULL, y, x, batch);
      for (int i = 0; i < ny; i++) gy[i] = 2.0 / ny * (y[i] - t[i]);
      rc |= sp_mlp_backward(m, NULL, NULL, gy);
    }
    rc |= sp_optim_step(o, m->params, m->grads);
  }
  return rc;
}

TEST(float32_training_steps_agree_with_float64_at_small_and_large_batches) {
  int sizes[] = {6, 64, 64, 10};
  sp_act acts[] = {SP_ACT_TANH, SP_ACT_TANH, SP_ACT_IDENTITY};
  int batches[] = {1, 16};
  for (int bi = 0; bi < 2; bi++)
    for (int seed = 1; seed <= 3; seed++) {
      int batch = batches[bi];
      sp_mlp *m64, *m32;
      CHECK_INT(sp_mlp_new(&m64, 3, sizes, acts, SP_F64, batch), 0);
      CHECK_INT(sp_mlp_new(&m32, 3, sizes, acts, SP_F32, batch), 0);
      CHECK_INT(sp_mlp_init(m64, SP_INIT_XAVIER, (uint64_t)seed), 0);
      // parameters representable in float32, so both nets start from the same point
      double* p = sp_malloc(m64->nparams * sizeof *p);
      double* p32 = sp_malloc(m64->nparams * sizeof *p32);
      sp_mlp_set_params(m32, m64->params);
      sp_mlp_get_params(m32, p);
      sp_mlp_set_params(m64, p);
      sp_optim_config c = sp_optim_adam_config(1e-3);
      c.eps = 1e-3;
      sp_optim *o64, *o32;
      CHECK_INT(sp_optim_new(&o64, &c, SP_F64, m64->nparams), 0);
      CHECK_INT(sp_optim_new(&o32, &c, SP_F32, m32->nparams), 0);
      double x[16 * 6], t[16 * 10];
      sp_rng r;
      sp_rng_seed(&r, (uint64_t)seed, 4);
      sp_rng_fill_normal(&r, x, (size_t)batch * 6, 0, 1);
      sp_rng_fill_normal(&r, t, (size_t)batch * 10, 0, 1);
      CHECK_INT(train_steps(m64, o64, x, t, batch, 5), 0);
      CHECK_INT(train_steps(m32, o32, x, t, batch, 5), 0);
      // every parameter moved (about 5 lr), and both precisions moved it the same way
      sp_mlp_get_params(m32, p32);
      const double* q = m64->params;
      double moved = 0, err = 0;
      for (size_t i = 0; i < m64->nparams; i++) {
        moved = fmax(moved, fabs(q[i] - p[i]));
        err = fmax(err, fabs(p32[i] - q[i]));
      }
      CHECK(moved > 1e-3);
      CHECK(err < 2e-6);
      sp_free(p32);
      sp_free(p);
      sp_optim_free(o32);
      sp_optim_free(o64);
      sp_mlp_free(m32);
      sp_mlp_free(m64);
    }
}

// the vectorised update loops against the scalar equations, over lengths that leave every
// remainder of a 2-, 4- or 8-wide vector body
TEST(adam_and_sgd_update_every_element_of_odd_lengths_in_both_precisions) {
  for (int n = 1; n <= 19; n++)
    for (int adam = 0; adam < 2; adam++) {
      sp_optim_config c = adam ? sp_optim_adam_config(0.01) : sp_optim_sgd_config(0.01);
      c.momentum = adam ? 0 : 0.5;
      sp_optim *o64, *o32;
      CHECK_INT(sp_optim_new(&o64, &c, SP_F64, (size_t)n), 0);
      CHECK_INT(sp_optim_new(&o32, &c, SP_F32, (size_t)n), 0);
      double p[19], g[19], ref[19], mm[19] = {0}, vv[19] = {0};
      float pf[19], gf[19];
      for (int i = 0; i < n; i++) {
        p[i] = ref[i] = 0.1 * i - 0.5;
        g[i] = 0.25 * (i % 5) - 0.4;
        pf[i] = (float)p[i], gf[i] = (float)g[i];
      }
      for (int t = 1; t <= 3; t++) {
        CHECK_INT(sp_optim_step(o64, p, g), 0);
        CHECK_INT(sp_optim_step(o32, pf, gf), 0);
        for (int i = 0; i < n; i++) {
          if (adam) {
            mm[i] = 0.9 * mm[i] + 0.1 * g[i];
            vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i];
            double mh = mm[i] / (1 - pow(0.9, t)), vh = vv[i] / (1 - pow(0.999, t));
            ref[i] -= 0.01 * mh / (sqrt(vh) + 1e-8);
          } else {
            mm[i] = 0.5 * mm[i] + g[i];
            ref[i] -= 0.01 * mm[i];
          }
        }
        for (int i = 0; i < n; i++) CHECK_CLOSE(p[i], ref[i], 1e-13, 1e-15);
        for (int i = 0; i < n; i++) CHECK_CLOSE(pf[i], ref[i], 1e-6, 1e-6);
      }
      sp_optim_free(o32);
      sp_optim_free(o64);
    }
}

TEST(steps_do_not_allocate) {
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < 2; t++) {
      sp_optim_config c = k ? sp_optim_adam_config(0.01) : sp_optim_sgd_config(0.01);
      c.momentum = k ? 0 : 0.9;
      c.clip = 1;
      sp_optim* o;
      CHECK_INT(sp_optim_new(&o, &c, (sp_dtype)t, 100), 0);
      double p[100] = {0}, g[100];
      for (int i = 0; i < 100; i++) g[i] = 0.01 * i;
      uint64_t before = sp_alloc_count();
      for (int it = 0; it < 100; it++) sp_optim_step(o, p, g);  // f32 reads the first half
      CHECK_INT(sp_alloc_count() - before, 0);
      sp_optim_free(o);
    }
}

TEST_MAIN()
