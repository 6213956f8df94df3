// test_linear.c: the affine layer (engine/nn/linear.c) against a direct loop and central finite
// differences; backward accumulates into parameter gradients and overwrites input gradients.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/rng.h"
#include "engine/nn/linear.h"
#include "test.h"

enum { B = 5, NI = 4, NO = 3 };

// L = sum(gy .* (x W^T + b))
static double loss(const double* x, const double* W, const double* b, const double* gy) {
  double s = 0;
  for (int r = 0; r < B; r++)
    for (int j = 0; j < NO; j++) {
      double y = b[j];
      for (int i = 0; i < NI; i++) y += x[r * NI + i] * W[j * NI + i];
      s += gy[r * NO + j] * y;
    }
  return s;
}

TEST(forward_matches_a_direct_loop_in_both_precisions) {
  sp_rng r;
  sp_rng_seed(&r, 11, 0);
  double x[B * NI], W[NO * NI], b[NO], y[B * NO];
  float xf[B * NI], Wf[NO * NI], bf[NO], yf[B * NO];
  sp_rng_fill_normal(&r, x, B * NI, 0, 1);
  sp_rng_fill_normal(&r, W, NO * NI, 0, 1);
  sp_rng_fill_normal(&r, b, NO, 0, 1);
  for (int i = 0; i < B * NI; i++) xf[i] = (float)x[i];
  for (int i = 0; i < NO * NI; i++) Wf[i] = (float)W[i];
  for (int i = 0; i < NO; i++) bf[i] = (float)b[i];
  sp_linear_forward_f64(y, x, W, b, B, NI, NO);
  sp_linear_forward_f32(yf, xf, Wf, bf, B, NI, NO);
  for (int rr = 0; rr < B; rr++)
    for (int j = 0; j < NO; j++) {
      double e = b[j];
      for (int i = 0; i < NI; i++) e += x[rr * NI + i] * W[j * NI + i];
      CHECK_CLOSE(y[rr * NO + j], e, 1e-14, 1e-14);
      CHECK_CLOSE(yf[rr * NO + j], e, 1e-5, 1e-5);
    }
}

TEST(backward_matches_central_finite_differences_and_accumulates) {
  for (int seed = 1; seed <= 3; seed++) {
    sp_rng r;
    sp_rng_seed(&r, (uint64_t)seed, 0);
    double x[B * NI], W[NO * NI], b[NO], gy[B * NO], gx[B * NI];
    double gW[NO * NI], gb[NO], gW0[NO * NI], gb0[NO];
    sp_rng_fill_normal(&r, x, B * NI, 0, 1);
    sp_rng_fill_normal(&r, W, NO * NI, 0, 1);
    sp_rng_fill_normal(&r, b, NO, 0, 1);
    sp_rng_fill_normal(&r, gy, B * NO, 0, 1);
    sp_rng_fill_normal(&r, gW0, NO * NI, 0, 1);  // previous contents must be kept (+=)
    sp_rng_fill_normal(&r, gb0, NO, 0, 1);
    memcpy(gW, gW0, sizeof gW);
    memcpy(gb, gb0, sizeof gb);
    for (int i = 0; i < B * NI; i++) gx[i] = 1e9;  // must be overwritten
    sp_linear_backward_f64(gx, gW, gb, gy, x, W, B, NI, NO);
    double h = 1e-6;
    for (int i = 0; i < NO * NI; i++) {
      double s = W[i];
      W[i] = s + h;
      double lp = loss(x, W, b, gy);
      W[i] = s - h;
      double lm = loss(x, W, b, gy);
      W[i] = s;
      CHECK_CLOSE(gW[i] - gW0[i], (lp - lm) / (2 * h), 1e-7, 1e-9);
    }
    for (int i = 0; i < NO; i++) {
      double s = b[i];
      b[i] = s + h;
      double lp = loss(x, W, b, gy);
      b[i] = s - h;
      double lm = loss(x, W, b, gy);
      b[i] = s;
      CHECK_CLOSE(gb[i] - gb0[i], (lp - lm) / (2 * h), 1e-7, 1e-9);
    }
    for (int i = 0; i < B * NI; i++) {
      double s = x[i];
      x[i] = s + h;
      double lp = loss(x, W, b, gy);
      x[i] = s - h;
      double lm = loss(x, W, b, gy);
      x[i] = s;
      CHECK_CLOSE(gx[i], (lp - lm) / (2 * h), 1e-7, 1e-9);
    }
  }
}

TEST(does_not_allocate) {
  double x[B * NI] = {0}, W[NO * NI] = {0}, b[NO] = {0}, y[B * NO], gx[B * NI];
  double gW[NO * NI] = {0}, gb[NO] = {0};
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 100; k++) {
    sp_linear_forward_f64(y, x, W, b, B, NI, NO);
    sp_linear_backward_f64(gx, gW, gb, y, x, W, B, NI, NO);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
}

TEST_MAIN()
