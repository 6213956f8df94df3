// act.c: activation names and kernels (see act.h); the kernels come from act_impl.h per precision.
#include "act.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/core/error.h"

// the element-wise loops below are the hot path of float32 training: let GCC vectorise them at the
// default -O2 of RelWithDebInfo (clang already does); sqrt never sees a negative argument here
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-math-errno", "no-trapping-math")
#endif

// with GCC the kernels are compiled three times, for AVX-512, AVX2 and the baseline, and the
// loader picks the widest the CPU has (function multiversioning through an ifunc, which needs
// glibc's loader; AddressSanitizer builds keep one version; clang 14 does not export the
// multiversioned symbol, so it builds one). Every element goes through the same operations in the
// same order in each version (-std=c11 keeps GCC from contracting them into fused multiply-adds),
// so the results are the same bits on every CPU; only the vector width differs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SP_ACT_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SP_ACT_KERNEL
#endif

static const char* const names[SP_ACT_COUNT] = {"identity", "tanh", "relu", "elu"};

const char* sp_act_name(sp_act a) {
  return (unsigned)a < SP_ACT_COUNT ? names[a] : "?";
}

int sp_act_parse(sp_act* out, const char* name) {
  if (!name) return SP_EINVAL;
  for (int i = 0; i < SP_ACT_COUNT; i++) {
    if (!strcmp(name, names[i])) {
      *out = (sp_act)i;
      return 0;
    }
  }
  if (!strcmp(name, "linear") || !strcmp(name, "none")) {
    *out = SP_ACT_IDENTITY;
    return 0;
  }
  return SP_EINVAL;
}

const char* sp_act_names(void) {
  return "identity, tanh, relu, elu";
}

#define REAL double
#define SFX(name) name##_f64
#define EXPM1 expm1
#define TANH tanh
#include "act_impl.h"
#undef REAL
#undef SFX
#undef EXPM1
#undef TANH

// float32 exp and tanh without libm calls, branch-free so the compiler can vectorise the loops
// (glibc's tanhf costs ~20 ns an element, more than the matrix products of a 256-wide layer).
// exp: t = k ln2 + r, |r| <= ln2 / 2, exp(r) by its degree-7 Taylor polynomial (relative error
// below 1e-8), 2^k assembled in the exponent bits; ln2 split in two for an exact reduction
// (Cody and Waite 1980). Accurate to a few float32 ulp for t in [-87, 88].
static inline float exp_f32(float t) {
  // NaN goes to the lower bound here; callers route NaN inputs around this value
  t = t > -87.0f ? t : -87.0f;
  t = t < 88.0f ? t : 88.0f;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to an integer
  float k = (t * 1.44269504f + magic) - magic;
  float r = t - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = ((int32_t)k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); below |x| = 0.3, where 1 - e cancels,
// the Taylor series to x^11 (truncation error below 1e-9 relative). |x| >= 9 gives +-1.
static inline float tanh_f32(float x) {
  float a = x < 0 ? -x : x;
  a = a > 9.0f ? 9.0f : a;  // NaN stays NaN
  float e = exp_f32(-2.0f * a);
  float big = (1.0f - e) / (1.0f + e);
  float a2 = a * a;
  float p = -1382.0f / 155925;
  p = p * a2 + 62.0f / 2835;
  p = p * a2 - 17.0f / 315;
  p = p * a2 + 2.0f / 15;
  p = p * a2 - 1.0f / 3;
  float small = a + a * a2 * p;
  float y = a >= 0.3f ? big : small;  // NaN takes the polynomial, which keeps it
  return x < 0 ? -y : y;
}

// exp(z) - 1 for z <= 0 (elu's negative side): Taylor to z^7 near 0, where exp(z) - 1 cancels
static inline float expm1_neg_f32(float z) {
  float p = 1.0f / 5040;
  p = p * z + 1.0f / 720;
  p = p * z + 1.0f / 120;
  p = p * z + 1.0f / 24;
  p = p * z + 1.0f / 6;
  p = p * z + 0.5f;
  float small = z + z * z * p;
  float big = exp_f32(z) - 1.0f;
  return z <= -0.3f ? big : small;  // NaN takes the polynomial, which keeps it
}

#define REAL float
#define SFX(name) name##_f32
#define EXPM1 expm1_neg_f32
#define TANH tanh_f32
#include "act_impl.h"
#undef REAL
#undef SFX
#undef EXPM1
#undef TANH
