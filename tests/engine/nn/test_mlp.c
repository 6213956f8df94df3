// test_mlp.c: the MLP (engine/nn/mlp.c): gradients with respect to parameters and inputs against
// central finite differences in float64 for every activation, several widths, batch sizes and
// seeds; float32 against float64; accumulation; no mutation of inputs; no allocation.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/nn/init.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "test.h"

// a net with the given sizes, hidden activation act and output activation out_act
static sp_mlp* make(int nl, const int* sizes, sp_act act, sp_act out_act, sp_dtype t, int batch,
                    uint64_t seed) {
  sp_act acts[SP_MLP_MAXLAYERS];
  for (int l = 0; l < nl; l++) acts[l] = l == nl - 1 ? out_act : act;
  sp_mlp* m = NULL;
  if (sp_mlp_new(&m, nl, sizes, acts, t, batch)) return NULL;
  if (sp_mlp_init(m, SP_INIT_XAVIER, seed)) {
    sp_mlp_free(m);
    return NULL;
  }
  // nonzero biases so their gradients are exercised away from zero
  sp_rng r;
  sp_rng_seed(&r, seed, 9);
  for (int l = 0; l < nl; l++) {
    double* b = sp_mlp_bias(m, l);
    if (t == SP_F64) sp_rng_fill_normal(&r, b, (size_t)m->layers[l].nout, 0, 0.3);
  }
  return m;
}

// L = sum(w .* net(x)) for weights w (batch x nout)
static double loss(sp_mlp* m, const double* x, const double* w, int batch, double* y) {
  sp_mlp_forward(m, NULL, y, x, batch);
  double s = 0;
  for (int i = 0; i < batch * m->nout; i++) s += w[i] * y[i];
  return s;
}

TEST(gradients_match_central_finite_differences_for_every_activation) {
  const int shapes[][4] = {{3, 5, 2, 0}, {4, 8, 8, 3}, {2, 1, 6, 1}};
  const int nls[] = {2, 3, 3};
  const int batches[] = {1, 3, 7};
  double x[7 * 8], w[7 * 8], y[7 * 8], gx[7 * 8], yd[7 * 8];
  int checked = 0;
  for (int a = 0; a < SP_ACT_COUNT; a++)
    for (int s = 0; s < 3; s++)
      for (int seed = 1; seed <= 3; seed++) {
        int batch = batches[(s + seed) % 3];
        sp_mlp* m = make(nls[s], shapes[s], (sp_act)a, (sp_act)((a + 1) % SP_ACT_COUNT), SP_F64,
                         batch, (uint64_t)(100 * a + 10 * s + seed));
        CHECK(m);
        sp_rng r;
        sp_rng_seed(&r, (uint64_t)seed, 1);
        sp_rng_fill_normal(&r, x, (size_t)batch * m->nin, 0, 1);
        sp_rng_fill_normal(&r, w, (size_t)batch * m->nout, 0, 1);
        sp_mlp_zero_grad(m);
        loss(m, x, w, batch, y);
        CHECK_INT(sp_mlp_backward(m, NULL, gx, w), 0);
        double* p = m->params;
        const double* g = m->grads;
        const double h = 1e-6;
        // every parameter
        for (size_t i = 0; i < m->nparams; i++) {
          double s0 = p[i];
          p[i] = s0 + h;
          double lp = loss(m, x, w, batch, yd);
          p[i] = s0 - h;
          double lm = loss(m, x, w, batch, yd);
          p[i] = s0;
          CHECK_CLOSE(g[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
          checked++;
        }
        // every input
        for (int i = 0; i < batch * m->nin; i++) {
          double s0 = x[i];
          x[i] = s0 + h;
          double lp = loss(m, x, w, batch, yd);
          x[i] = s0 - h;
          double lm = loss(m, x, w, batch, yd);
          x[i] = s0;
          CHECK_CLOSE(gx[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
        }
        sp_mlp_free(m);
      }
  CHECK(checked > 1000);
}

TEST(backward_accumulates_parameter_gradients_until_zero_grad) {
  int sizes[] = {3, 6, 2};
  sp_mlp* m = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 4, 5);
  CHECK(m);
  double x[12], gy[8], g1[64];
  sp_rng r;
  sp_rng_seed(&r, 5, 1);
  sp_rng_fill_normal(&r, x, 12, 0, 1);
  sp_rng_fill_normal(&r, gy, 8, 0, 1);
  sp_mlp_forward(m, NULL, NULL, x, 4);
  sp_mlp_backward(m, NULL, NULL, gy);
  memcpy(g1, m->grads, m->nparams * sizeof(double));
  sp_mlp_backward(m, NULL, NULL, gy);
  const double* g = m->grads;
  for (size_t i = 0; i < m->nparams; i++) CHECK_CLOSE(g[i], 2 * g1[i], 1e-15, 0);
  sp_mlp_zero_grad(m);
  for (size_t i = 0; i < m->nparams; i++) CHECK(g[i] == 0);
  sp_mlp_free(m);
}

TEST(backward_input_gives_the_same_input_gradients_and_leaves_parameter_gradients_alone) {
  int sizes[] = {4, 9, 3};
  for (int t = 0; t < 2; t++) {
    sp_mlp* m = make(2, sizes, SP_ACT_ELU, SP_ACT_TANH, (sp_dtype)t, 5, 21);
    CHECK(m);
    double x[20], gy[15], gx1[20], gx2[20];
    sp_rng r;
    sp_rng_seed(&r, 21, 0);
    sp_rng_fill_normal(&r, x, 20, 0, 1);
    sp_rng_fill_normal(&r, gy, 15, 0, 1);
    sp_mlp_forward(m, NULL, NULL, x, 5);
    sp_mlp_backward(m, NULL, gx1, gy);
    double* g0 = malloc(m->nparams * sizeof(double));
    double* g1 = malloc(m->nparams * sizeof(double));
    sp_mlp_get_grads(m, g0);
    CHECK_INT(sp_mlp_backward_input(m, NULL, gx2, gy), 0);
    sp_mlp_get_grads(m, g1);
    CHECK(!memcmp(g0, g1, m->nparams * sizeof(double)));
    CHECK(!memcmp(gx1, gx2, sizeof gx1));
    free(g0);
    free(g1);
    sp_mlp_free(m);
  }
}

TEST(forward_and_backward_do_not_mutate_their_inputs) {
  int sizes[] = {3, 5, 2};
  sp_mlp* m = make(2, sizes, SP_ACT_ELU, SP_ACT_TANH, SP_F64, 4, 6);
  CHECK(m);
  double x[12], gy[8], x0[12], gy0[8], gx[12];
  sp_rng r;
  sp_rng_seed(&r, 6, 1);
  sp_rng_fill_normal(&r, x, 12, 0, 1);
  sp_rng_fill_normal(&r, gy, 8, 0, 1);
  memcpy(x0, x, sizeof x);
  memcpy(gy0, gy, sizeof gy);
  sp_mlp_forward(m, NULL, NULL, x, 4);
  sp_mlp_backward(m, NULL, gx, gy);
  CHECK(!memcmp(x, x0, sizeof x));
  CHECK(!memcmp(gy, gy0, sizeof gy));
  sp_mlp_free(m);
}

TEST(backward_uses_the_stored_forward_even_if_the_caller_reuses_its_buffer) {
  int sizes[] = {2, 4, 1};
  sp_mlp* m = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 1, 7);
  CHECK(m);
  double x[2] = {0.3, -0.7}, gy[1] = {1}, gx1[2], gx2[2];
  sp_mlp_forward(m, NULL, NULL, x, 1);
  sp_mlp_backward(m, NULL, gx1, gy);
  sp_mlp_forward(m, NULL, NULL, x, 1);
  x[0] = 100;
  sp_mlp_backward(m, NULL, gx2, gy);
  CHECK(gx1[0] == gx2[0] && gx1[1] == gx2[1]);
  sp_mlp_free(m);
}

TEST(float32_agrees_with_float64_to_float32_precision) {
  int sizes[] = {6, 64, 64, 10};
  for (int a = 0; a < SP_ACT_COUNT; a++)
    for (int seed = 1; seed <= 3; seed++) {
      sp_mlp* m64 = make(3, sizes, (sp_act)a, SP_ACT_IDENTITY, SP_F64, 8, (uint64_t)seed);
      sp_mlp* m32 = make(3, sizes, (sp_act)a, SP_ACT_IDENTITY, SP_F32, 8, (uint64_t)seed);
      CHECK(m64 && m32);
      sp_mlp_set_params(m32, m64->params);  // same (rounded) parameters, biases included
      double x[8 * 6], gy[8 * 10], y64[80], y32[80], gx64[48], gx32[48];
      sp_rng r;
      sp_rng_seed(&r, (uint64_t)seed, 2);
      sp_rng_fill_normal(&r, x, 48, 0, 1);
      sp_rng_fill_normal(&r, gy, 80, 0, 1);
      sp_mlp_forward(m64, NULL, y64, x, 8);
      sp_mlp_forward(m32, NULL, y32, x, 8);
      sp_mlp_backward(m64, NULL, gx64, gy);
      sp_mlp_backward(m32, NULL, gx32, gy);
      double scale = 0;
      for (int i = 0; i < 80; i++) scale = fmax(scale, fabs(y64[i]));
      for (int i = 0; i < 80; i++) CHECK_CLOSE(y32[i], y64[i], 1e-5, 1e-5 * scale);
      scale = 0;
      for (int i = 0; i < 48; i++) scale = fmax(scale, fabs(gx64[i]));
      for (int i = 0; i < 48; i++) CHECK_CLOSE(gx32[i], gx64[i], 1e-4, 1e-5 * scale);
      double* g32 = sp_malloc(m32->nparams * sizeof(double));
      sp_mlp_get_grads(m32, g32);
      const double* g64 = m64->grads;
      scale = sp_norm2(g64, SP_F64, m64->nparams);
      double err = 0;
      for (size_t i = 0; i < m64->nparams; i++) err = fmax(err, fabs(g32[i] - g64[i]));
      CHECK(err <= 1e-5 * scale);
      sp_free(g32);
      sp_mlp_free(m64);
      sp_mlp_free(m32);
    }
}

TEST(float32_entry_points_match_the_float64_boundary) {
  int sizes[] = {3, 7, 2};
  sp_mlp* m = make(2, sizes, SP_ACT_RELU, SP_ACT_TANH, SP_F32, 3, 8);
  CHECK(m);
  float xf[9], gyf[6], yf[6], gxf[9];
  double x[9], gy[6], y[6], gx[9];
  for (int i = 0; i < 9; i++) x[i] = xf[i] = (float)(0.1 * i - 0.4);
  for (int i = 0; i < 6; i++) gy[i] = gyf[i] = (float)(0.5 - 0.2 * i);
  CHECK_INT(sp_mlp_forward_f32(m, NULL, yf, xf, 3), 0);
  CHECK_INT(sp_mlp_backward_f32(m, NULL, gxf, gyf), 0);
  CHECK_INT(sp_mlp_forward(m, NULL, y, x, 3), 0);
  CHECK_INT(sp_mlp_backward(m, NULL, gx, gy), 0);
  for (int i = 0; i < 6; i++) CHECK(y[i] == yf[i]);
  for (int i = 0; i < 9; i++) CHECK(gx[i] == gxf[i]);
  sp_mlp_free(m);
}

TEST(zero_last_layer_gives_exactly_zero_output_and_nonzero_last_layer_gradients) {
  int sizes[] = {6, 64, 64, 10};
  for (int seed = 1; seed <= 3; seed++) {
    sp_mlp* m = make(3, sizes, SP_ACT_TANH, SP_ACT_TANH, SP_F64, 5, (uint64_t)seed);
    CHECK(m);
    CHECK_INT(sp_mlp_zero_layer(m, -1), 0);
    double x[30], y[50], gy[50];
    sp_rng r;
    sp_rng_seed(&r, (uint64_t)seed, 3);
    sp_rng_fill_normal(&r, x, 30, 0, 2);
    sp_mlp_forward(m, NULL, y, x, 5);
    for (int i = 0; i < 50; i++) CHECK(y[i] == 0.0);
    for (int i = 0; i < 50; i++) gy[i] = 1;
    sp_mlp_zero_grad(m);
    sp_mlp_backward(m, NULL, NULL, gy);
    // the zero layer still learns: its weight gradient is the hidden activations
    const double* g = (const double*)m->grads + m->layers[2].w;
    CHECK(sp_norm2(g, SP_F64, 640) > 0);
    sp_mlp_free(m);
  }
}

TEST(batches_beyond_the_reserve_are_refused_until_reserve_grows_it) {
  int sizes[] = {2, 3, 1};
  sp_mlp* m = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 2, 1);
  CHECK(m);
  double x[10] = {0}, y[5], gy[5] = {1, 1, 1, 1, 1};
  CHECK_INT(sp_mlp_backward(m, NULL, NULL, gy), SP_ESTATE);
  CHECK_INT(sp_mlp_forward(m, NULL, y, x, 5), SP_ERANGE);
  CHECK_INT(sp_mlp_forward(m, NULL, y, x, 0), SP_ERANGE);
  CHECK_INT(sp_mlp_reserve(m, NULL, 5), 0);
  CHECK_INT(m->ws.max_batch, 5);
  CHECK_INT(sp_mlp_forward(m, NULL, y, x, 5), 0);
  CHECK_INT(sp_mlp_backward(m, NULL, NULL, gy), 0);
  sp_mlp_free(m);
}

TEST(a_batch_equals_its_rows_run_one_at_a_time) {
  int sizes[] = {4, 9, 9, 3};
  sp_mlp* m = make(3, sizes, SP_ACT_ELU, SP_ACT_IDENTITY, SP_F64, 6, 12);
  CHECK(m);
  double x[24], y[18], y1[3];
  sp_rng r;
  sp_rng_seed(&r, 12, 0);
  sp_rng_fill_normal(&r, x, 24, 0, 1);
  sp_mlp_forward(m, NULL, y, x, 6);
  for (int b = 0; b < 6; b++) {
    sp_mlp_forward(m, NULL, y1, x + 4 * b, 1);
    for (int j = 0; j < 3; j++) CHECK_CLOSE(y1[j], y[3 * b + j], 1e-14, 1e-14);
  }
  sp_mlp_free(m);
}

TEST(bad_sizes_activations_and_dtypes_are_refused) {
  sp_mlp* m = (sp_mlp*)1;
  int ok[] = {2, 3, 1}, zero[] = {2, 0, 1};
  sp_act acts[] = {SP_ACT_TANH, SP_ACT_IDENTITY}, bad[] = {SP_ACT_TANH, (sp_act)42};
  CHECK_INT(sp_mlp_new(&m, 2, zero, acts, SP_F64, 1), SP_EINVAL);
  CHECK(m == NULL);
  CHECK_INT(sp_mlp_new(&m, 2, ok, bad, SP_F64, 1), SP_EINVAL);
  CHECK_INT(sp_mlp_new(&m, 2, ok, acts, (sp_dtype)7, 1), SP_EINVAL);
  CHECK_INT(sp_mlp_new(&m, 0, ok, acts, SP_F64, 1), SP_EINVAL);
  CHECK_INT(sp_mlp_new(&m, 2, ok, acts, SP_F64, 0), SP_EINVAL);
  CHECK_INT(sp_mlp_new(&m, 2, ok, acts, SP_F64, 1), 0);
  float f[3];
  CHECK_INT(sp_mlp_forward_f32(m, NULL, f, f, 1), SP_EINVAL);
  sp_mlp_free(m);
}

TEST(parameter_count_layout_and_summary) {
  int sizes[] = {6, 64, 64, 10};
  sp_mlp* m = make(3, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 1, 1);
  CHECK(m);
  CHECK_INT(m->nparams, 6 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10);
  CHECK_INT(sp_mlp_count_params(3, sizes), m->nparams);
  CHECK_INT(m->layers[1].w, 6 * 64 + 64);
  CHECK_INT(m->layers[1].b, 6 * 64 + 64 + 64 * 64);
  CHECK(sp_mlp_weight(m, 2) == (double*)m->params + m->layers[2].w);
  // negative layers count from the end, as sp_mlp_init_layer and sp_mlp_zero_layer take them
  CHECK(sp_mlp_weight(m, -1) == sp_mlp_weight(m, 2));
  CHECK(sp_mlp_bias(m, -3) == (double*)m->params + m->layers[0].b);
  CHECK(sp_mlp_bias(m, 3) == NULL);
  CHECK(sp_mlp_weight(m, -4) == NULL);
  char buf[128];
  int n = sp_mlp_describe(m, buf, sizeof buf);
  CHECK_STR(buf, "mlp f64: 6 -> 64 tanh -> 64 tanh -> 10 identity (5258 parameters)");
  CHECK_INT(n, strlen(buf));
  char small[10];
  CHECK_INT(sp_mlp_describe(m, small, sizeof small), n);
  CHECK_STR(small, "mlp f64: ");
  sp_mlp_free(m);
}

TEST(caller_storage_keeps_the_values_and_is_used_from_then_on) {
  int sizes[] = {3, 4, 2};
  sp_mlp* m = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 1, 3);
  CHECK(m);
  double x[3] = {0.1, 0.2, 0.3}, y0[2], y1[2], gy[2] = {1, -1};
  sp_mlp_forward(m, NULL, y0, x, 1);
  sp_mlp_backward(m, NULL, NULL, gy);
  double* p = malloc(m->nparams * sizeof(double));
  double* g = malloc(m->nparams * sizeof(double));
  double g0 = ((double*)m->grads)[0];
  sp_mlp_use_storage(m, p, g);
  CHECK(m->params == p && m->grads == g);
  CHECK(g[0] == g0);
  sp_mlp_forward(m, NULL, y1, x, 1);
  CHECK(y0[0] == y1[0] && y0[1] == y1[1]);
  p[m->layers[1].b] += 1;  // the output bias, through the caller's storage
  sp_mlp_forward(m, NULL, y1, x, 1);
  CHECK_CLOSE(y1[0], y0[0] + 1, 1e-15, 1e-15);
  sp_mlp_free(m);  // leaves the caller's storage alone
  free(p);
  free(g);
}

// L = w . f(f(f(x0))) with one workspace per application (the net's own for the first)
static double rollout(sp_mlp* m, sp_mlp_work** ws, const double* x0, const double* w, int batch,
                      int steps) {
  double a[2][4 * 3];
  const double* in = x0;
  for (int k = 0; k < steps; k++) {
    sp_mlp_forward(m, k ? ws[k] : NULL, a[k % 2], in, batch);
    in = a[k % 2];
  }
  double s = 0;
  for (int i = 0; i < batch * 3; i++) s += w[i] * in[i];
  return s;
}

TEST(workspaces_backpropagate_through_repeated_applications_of_one_net) {
  int sizes[] = {3, 6, 3};
  for (int seed = 1; seed <= 3; seed++) {
    sp_mlp* m = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 4, (uint64_t)seed);
    CHECK(m);
    sp_mlp_work* ws[3] = {NULL, NULL, NULL};
    CHECK_INT(sp_mlp_work_new(&ws[1], m, 4), 0);
    CHECK_INT(sp_mlp_work_new(&ws[2], m, 2), 0);
    CHECK_INT(sp_mlp_reserve(m, ws[2], 4), 0);
    double x0[12], w[12], g[2][12], gx[12];
    sp_rng r;
    sp_rng_seed(&r, (uint64_t)seed, 4);
    sp_rng_fill_normal(&r, x0, 12, 0, 1);
    sp_rng_fill_normal(&r, w, 12, 0, 1);
    sp_mlp_zero_grad(m);
    rollout(m, ws, x0, w, 4, 3);
    // backward in reverse order, each through its own stored pass
    CHECK_INT(sp_mlp_backward(m, ws[2], g[0], w), 0);
    CHECK_INT(sp_mlp_backward(m, ws[1], g[1], g[0]), 0);
    CHECK_INT(sp_mlp_backward(m, NULL, gx, g[1]), 0);
    double* p = m->params;
    const double* G = m->grads;
    const double h = 1e-6;
    for (size_t i = 0; i < m->nparams; i++) {
      double s0 = p[i];
      p[i] = s0 + h;
      double lp = rollout(m, ws, x0, w, 4, 3);
      p[i] = s0 - h;
      double lm = rollout(m, ws, x0, w, 4, 3);
      p[i] = s0;
      CHECK_CLOSE(G[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
    }
    for (int i = 0; i < 12; i++) {
      double s0 = x0[i];
      x0[i] = s0 + h;
      double lp = rollout(m, ws, x0, w, 4, 3);
      x0[i] = s0 - h;
      double lm = rollout(m, ws, x0, w, 4, 3);
      x0[i] = s0;
      CHECK_CLOSE(gx[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
    }
    // a workspace serves only the net it was made for
    sp_mlp* other = make(2, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, SP_F64, 4, 99);
    CHECK_INT(sp_mlp_forward(other, ws[1], NULL, x0, 1), SP_EINVAL);
    CHECK_INT(sp_mlp_backward(other, ws[1], NULL, w), SP_EINVAL);
    sp_mlp_work* fresh;
    CHECK_INT(sp_mlp_work_new(&fresh, m, 1), 0);
    CHECK_INT(sp_mlp_backward(m, fresh, NULL, w), SP_ESTATE);
    CHECK(sp_mlp_output(m, fresh) == NULL);
    CHECK(sp_mlp_output(other, ws[1]) == NULL);
    sp_mlp_work_free(fresh);
    sp_mlp_free(other);
    sp_mlp_free(m);  // workspaces may outlive their net; they are freed on their own
    sp_mlp_work_free(ws[1]);
    sp_mlp_work_free(ws[2]);
  }
}

// fail the allocation numbered *budget (0-based) from now on, counting down
static int fail_after(size_t n, void* user) {
  (void)n;
  int* budget = user;
  return (*budget)-- <= 0;
}

TEST(out_of_memory_at_any_allocation_is_reported_and_leaks_nothing) {
  int sizes[] = {3, 8, 2};
  sp_act acts[] = {SP_ACT_TANH, SP_ACT_IDENTITY};
  int failures = 0;
  for (int k = 0; k < 20; k++) {
    int budget = k;
    sp_alloc_set_hook(fail_after, &budget);
    sp_mlp* m = NULL;
    sp_mlp_work* ws = NULL;
    int rc = sp_mlp_new(&m, 2, sizes, acts, SP_F64, 4);
    if (!rc) rc = sp_mlp_init(m, SP_INIT_ORTHOGONAL, 1);
    if (!rc) rc = sp_mlp_work_new(&ws, m, 4);
    if (!rc) rc = sp_mlp_reserve(m, NULL, 64);
    sp_alloc_set_hook(NULL, NULL);
    if (rc) {
      CHECK_INT(rc, SP_ENOMEM);
      failures++;
    }
    sp_mlp_work_free(ws);
    sp_mlp_free(m);  // everything acquired so far is released (AddressSanitizer checks leaks)
  }
  CHECK(failures >= 6);
}

TEST(forward_and_backward_do_not_allocate_in_either_precision) {
  int sizes[] = {6, 32, 32, 4};
  for (int t = 0; t < 2; t++) {
    sp_mlp* m = make(3, sizes, SP_ACT_TANH, SP_ACT_IDENTITY, (sp_dtype)t, 16, 1);
    CHECK(m);
    double x[16 * 6] = {0}, y[16 * 4], gx[16 * 6];
    float xf[16 * 6] = {0}, yf[16 * 4], gxf[16 * 6];
    sp_mlp_work* ws;
    CHECK_INT(sp_mlp_work_new(&ws, m, 16), 0);
    uint64_t before = sp_alloc_count();
    for (int k = 0; k < 50; k++) {
      sp_mlp_forward(m, NULL, y, x, 1 + k % 16);
      sp_mlp_forward(m, ws, y, x, 1 + k % 16);
      sp_mlp_backward(m, ws, gx, y);
      sp_mlp_backward(m, NULL, gx, y);
      if (t == SP_F32) {
        sp_mlp_forward_f32(m, NULL, yf, xf, 16);
        sp_mlp_backward_f32(m, NULL, gxf, yf);
      }
      sp_mlp_zero_grad(m);
    }
    CHECK_INT(sp_alloc_count() - before, 0);
    sp_mlp_work_free(ws);
    sp_mlp_free(m);
  }
}

TEST_MAIN()
