// test_init.c: Xavier and orthogonal initialisation (engine/nn/init.c): reproducible from the
// seed, the right scale or orthogonality, zero biases, float32 = rounded float64, zero layers.
#include <string.h>

#include "engine/core/error.h"
#include "engine/nn/init.h"
#include "test.h"

static sp_mlp* make(int nl, const int* sizes, sp_dtype t) {
  sp_act acts[8];
  for (int l = 0; l < nl; l++) acts[l] = SP_ACT_TANH;
  sp_mlp* m = NULL;
  sp_mlp_new(&m, nl, sizes, acts, t, 1);
  return m;
}

TEST(same_seed_gives_the_same_weights_and_another_seed_different_ones) {
  int sizes[] = {6, 64, 64, 10};
  for (int k = 0; k < 2; k++) {
    sp_mlp *a = make(3, sizes, SP_F64), *b = make(3, sizes, SP_F64), *c = make(3, sizes, SP_F64);
    CHECK(a && b && c);
    CHECK_INT(sp_mlp_init(a, (sp_init)k, 42), 0);
    CHECK_INT(sp_mlp_init(b, (sp_init)k, 42), 0);
    CHECK_INT(sp_mlp_init(c, (sp_init)k, 43), 0);
    CHECK(!memcmp(a->params, b->params, a->nparams * sizeof(double)));
    CHECK(memcmp(a->params, c->params, a->nparams * sizeof(double)));
    sp_mlp_free(a);
    sp_mlp_free(b);
    sp_mlp_free(c);
  }
}

TEST(xavier_weights_are_bounded_with_the_glorot_variance_and_biases_zero) {
  int sizes[] = {100, 300, 50};
  for (int seed = 1; seed <= 3; seed++) {
    sp_mlp* m = make(2, sizes, SP_F64);
    CHECK(m);
    memset(m->params, 0xff, m->nparams * sizeof(double));  // garbage, biases included
    CHECK_INT(sp_mlp_init(m, SP_INIT_XAVIER, (uint64_t)seed), 0);
    for (int l = 0; l < 2; l++) {
      const sp_layer* ly = &m->layers[l];
      const double* w = sp_mlp_weight(m, l);
      const double* b = sp_mlp_bias(m, l);
      size_t n = (size_t)ly->nin * ly->nout;
      double a = sqrt(6.0 / (ly->nin + ly->nout)), s2 = 0;
      for (size_t i = 0; i < n; i++) {
        CHECK(fabs(w[i]) <= a);
        s2 += w[i] * w[i];
      }
      // variance of U(-a, a) is a^2 / 3 = 2 / (nin + nout); 5 standard errors
      double var = a * a / 3, se = var * sqrt(0.8 / n);
      CHECK(fabs(s2 / n - var) < 5 * se);
      for (int j = 0; j < ly->nout; j++) CHECK(b[j] == 0);
    }
    sp_mlp_free(m);
  }
}

TEST(orthogonal_weights_have_orthonormal_rows_or_columns) {
  int sizes[] = {5, 12, 12, 3};
  for (int seed = 1; seed <= 3; seed++) {
    sp_mlp* m = make(3, sizes, SP_F64);
    CHECK(m);
    CHECK_INT(sp_mlp_init(m, SP_INIT_ORTHOGONAL, (uint64_t)seed), 0);
    for (int l = 0; l < 3; l++) {
      const sp_layer* ly = &m->layers[l];
      const double* W = sp_mlp_weight(m, l);
      int rows = ly->nout, cols = ly->nin;
      // rows <= cols: W W^T = I (rows x rows); otherwise W^T W = I (cols x cols)
      int k = rows <= cols ? rows : cols;
      for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
          double s = 0;
          if (rows <= cols)
            for (int c = 0; c < cols; c++) s += W[i * cols + c] * W[j * cols + c];
          else
            for (int r = 0; r < rows; r++) s += W[r * cols + i] * W[r * cols + j];
          CHECK_CLOSE(s, i == j ? 1.0 : 0.0, 1e-12, 1e-12);
        }
    }
    sp_mlp_free(m);
  }
}

TEST(float32_weights_are_the_float64_weights_rounded) {
  int sizes[] = {4, 16, 2};
  for (int k = 0; k < 2; k++) {
    sp_mlp *d = make(2, sizes, SP_F64), *f = make(2, sizes, SP_F32);
    CHECK(d && f);
    sp_mlp_init(d, (sp_init)k, 9);
    sp_mlp_init(f, (sp_init)k, 9);
    const double* pd = d->params;
    const float* pf = f->params;
    for (size_t i = 0; i < d->nparams; i++) CHECK(pf[i] == (float)pd[i]);
    sp_mlp_free(d);
    sp_mlp_free(f);
  }
}

TEST(zero_layer_clears_weights_and_bias_of_that_layer_only) {
  int sizes[] = {3, 4, 2};
  sp_mlp* m = make(2, sizes, SP_F64);
  CHECK(m);
  sp_mlp_init(m, SP_INIT_XAVIER, 1);
  double* b0 = sp_mlp_bias(m, 0);
  b0[0] = 0.5;
  double* b1 = sp_mlp_bias(m, 1);
  b1[1] = 0.5;
  CHECK_INT(sp_mlp_zero_layer(m, -1), 0);
  const double* p = m->params;
  for (size_t i = m->layers[1].w; i < m->nparams; i++) CHECK(p[i] == 0);
  CHECK(b0[0] == 0.5);
  int nonzero = 0;
  for (size_t i = 0; i < m->layers[1].w; i++) nonzero += p[i] != 0;
  CHECK(nonzero > 10);
  CHECK_INT(sp_mlp_zero_layer(m, 2), SP_EINVAL);
  CHECK_INT(sp_mlp_zero_layer(m, -3), SP_EINVAL);
  sp_mlp_free(m);
}

TEST(init_names_parse) {
  sp_init k;
  CHECK_INT(sp_init_parse(&k, "orthogonal"), 0);
  CHECK_INT(k, SP_INIT_ORTHOGONAL);
  CHECK_INT(sp_init_parse(&k, "glorot"), 0);
  CHECK_INT(k, SP_INIT_XAVIER);
  CHECK_INT(sp_init_parse(&k, "he"), SP_EINVAL);
  CHECK_STR(sp_init_name(SP_INIT_XAVIER), "xavier");
}

TEST_MAIN()
