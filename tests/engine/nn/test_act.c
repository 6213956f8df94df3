// test_act.c: activation kernels (engine/nn/act.c) against their definitions and central finite
// differences, in float64 and float32.
#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/nn/act.h"
#include "test.h"

static double ref(sp_act a, double z) {
  switch (a) {
    case SP_ACT_TANH:
      return tanh(z);
    case SP_ACT_RELU:
      return z > 0 ? z : 0;
    case SP_ACT_ELU:
      return z > 0 ? z : exp(z) - 1;
    default:
      return z;
  }
}

TEST(names_round_trip_and_unknown_names_are_rejected) {
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    sp_act got;
    CHECK_INT(sp_act_parse(&got, sp_act_name((sp_act)a)), 0);
    CHECK_INT(got, a);
  }
  sp_act got = SP_ACT_TANH;
  CHECK_INT(sp_act_parse(&got, "linear"), 0);
  CHECK_INT(got, SP_ACT_IDENTITY);
  CHECK_INT(sp_act_parse(&got, "sigmoidish"), SP_EINVAL);
  CHECK_STR(sp_act_names(), "identity, tanh, relu, elu");
}

TEST(forward_matches_the_definition_in_both_precisions) {
  sp_rng r;
  sp_rng_seed(&r, 3, 0);
  double z[64], y[64];
  float zf[64], yf[64];
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    sp_rng_fill_normal(&r, z, 64, 0, 2);
    for (int i = 0; i < 64; i++) zf[i] = (float)z[i];
    sp_act_forward_f64((sp_act)a, y, z, 64);
    sp_act_forward_f32((sp_act)a, yf, zf, 64);
    for (int i = 0; i < 64; i++) {
      CHECK_CLOSE(y[i], ref((sp_act)a, z[i]), 1e-15, 0);
      CHECK_CLOSE(yf[i], ref((sp_act)a, zf[i]), 1e-6, 1e-7);
    }
  }
}

TEST(float32_tanh_and_elu_are_within_a_few_ulp_over_their_whole_range) {
  // the float32 kernels use their own exp (act.c); check them densely against float64 libm
  enum { N = 200001 };
  static float z[N], y[N];
  for (int i = 0; i < N; i++) z[i] = (float)(-20.0 + 40.0 * i / (N - 1));
  z[0] = 1e-30f;  // tiny values keep their value
  z[1] = -1e-20f;
  z[2] = 0;
  const sp_act acts[] = {SP_ACT_TANH, SP_ACT_ELU};
  for (int k = 0; k < 2; k++) {
    sp_act_forward_f32(acts[k], y, z, N);
    for (int i = 0; i < N; i++) {
      double r = k == 0 ? tanh((double)z[i]) : z[i] > 0 ? z[i] : expm1((double)z[i]);
      CHECK_CLOSE(y[i], r, 3e-7, 1e-38);
    }
  }
}

TEST(nan_propagates_and_infinities_saturate_in_both_precisions) {
  double z[3] = {NAN, INFINITY, -INFINITY}, y[3];
  float zf[3] = {NAN, INFINITY, -INFINITY}, yf[3];
  const double hi[SP_ACT_COUNT] = {INFINITY, 1, INFINITY, INFINITY};
  const double lo[SP_ACT_COUNT] = {-INFINITY, -1, 0, -1};
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    sp_act_forward_f64((sp_act)a, y, z, 3);
    sp_act_forward_f32((sp_act)a, yf, zf, 3);
    CHECK(isnan(y[0]));
    CHECK(isnan(yf[0]));
    CHECK(y[1] == hi[a] && yf[1] == hi[a]);
    CHECK(y[2] == lo[a] && yf[2] == lo[a]);
  }
}

TEST(backward_matches_central_finite_differences_at_random_points) {
  for (int seed = 1; seed <= 4; seed++) {
    sp_rng r;
    sp_rng_seed(&r, (uint64_t)seed, 0);
    for (int a = 0; a < SP_ACT_COUNT; a++) {
      double z[50], y[50], gy[50], gz[50];
      sp_rng_fill_normal(&r, z, 50, 0, 1.5);
      sp_rng_fill_normal(&r, gy, 50, 0, 1);
      sp_act_forward_f64((sp_act)a, y, z, 50);
      sp_act_backward_f64((sp_act)a, gz, gy, y, 50);
      for (int i = 0; i < 50; i++) {
        if (fabs(z[i]) < 1e-4) continue;  // the relu/elu kink
        double h = 1e-6;
        double fd = (ref((sp_act)a, z[i] + h) - ref((sp_act)a, z[i] - h)) / (2 * h) * gy[i];
        CHECK_CLOSE(gz[i], fd, 1e-6, 1e-9);
      }
    }
  }
}

TEST(kernels_work_in_place_and_do_not_allocate) {
  double z[8] = {-2, -1, -0.5, 0, 0.25, 1, 2, 3}, y[8], g[8];
  uint64_t before = sp_alloc_count();
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    double w[8];
    for (int i = 0; i < 8; i++) w[i] = z[i];
    sp_act_forward_f64((sp_act)a, y, z, 8);
    sp_act_forward_f64((sp_act)a, w, w, 8);
    for (int i = 0; i < 8; i++) CHECK(w[i] == y[i]);
    for (int i = 0; i < 8; i++) g[i] = 1;
    sp_act_backward_f64((sp_act)a, g, g, y, 8);
    for (int i = 0; i < 8; i++) CHECK(g[i] >= 0 && g[i] <= 1);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
}

TEST(row_backward_equals_the_element_kernel_and_adds_the_column_sums_bit_for_bit) {
  // 7 rows of 37 (odd widths: every vector kernel's tail runs), both precisions
  enum { R = 7, N = 37 };
  sp_rng r;
  sp_rng_seed(&r, 5, 0);
  double z[R * N], y[R * N], gy[R * N], g[R * N], ge[R * N], gb[N], gb_ref[N];
  float zf[R * N], yf[R * N], gf[R * N], gef[R * N], gbf[N], gbf_ref[N];
  sp_rng_fill_normal(&r, z, R * N, 0, 2);
  sp_rng_fill_normal(&r, gy, R * N, 0, 1);
  for (int i = 0; i < R * N; i++) zf[i] = (float)z[i];
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    sp_act_forward_f64((sp_act)a, y, z, R * N);
    sp_act_forward_f32((sp_act)a, yf, zf, R * N);
    for (int j = 0; j < N; j++) gb[j] = gb_ref[j] = 0.5 * j, gbf[j] = gbf_ref[j] = 0.5f * j;
    for (int i = 0; i < R * N; i++) g[i] = gy[i], gf[i] = (float)gy[i];
    sp_act_backward_f64((sp_act)a, ge, gy, y, R * N);
    sp_act_backward_f32((sp_act)a, gef, gf, yf, R * N);
    for (int row = 0; row < R; row++)
      for (int j = 0; j < N; j++) gb_ref[j] += ge[row * N + j], gbf_ref[j] += gef[row * N + j];
    uint64_t before = sp_alloc_count();
    sp_act_backward_rows_f64((sp_act)a, g, gb, y, R, N);
    sp_act_backward_rows_f32((sp_act)a, gf, gbf, yf, R, N);
    CHECK_INT(sp_alloc_count() - before, 0);
    for (int i = 0; i < R * N; i++) CHECK(g[i] == ge[i] && gf[i] == gef[i]);
    for (int j = 0; j < N; j++) CHECK(gb[j] == gb_ref[j] && gbf[j] == gbf_ref[j]);
    // without a bias gradient: only g
    sp_act_backward_rows_f64((sp_act)a, ge, NULL, y, R, N);
    for (int i = 0; i < R * N; i++) CHECK(isfinite(ge[i]));
  }
}

TEST_MAIN()
