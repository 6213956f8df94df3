// linear.c: y = x W^T + b and its backward pass through BLAS (see linear.h); one template
// (linear_impl.h) compiled for float64 and float32.
#include "linear.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

#include "engine/nn/gemm.h"

#define REAL double
#define SFX(name) name##_f64
#define GEMM cblas_dgemm
#include "linear_impl.h"
#undef REAL
#undef SFX
#undef GEMM

// float32 products go through sp_gemm_f32 and sp_gemm_bias_f32 (engine/nn/gemm.h: spinal's
// AVX-512 kernel for large products, which adds the bias as it stores y; cblas_sgemm otherwise);
// alpha is always 1 here
#define REAL float
#define SFX(name) name##_f32
#define GEMM(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) \
  sp_gemm_f32((ta) == CblasTrans, (tb) == CblasTrans, M, N, K, A, lda, B, ldb, beta, C, ldc)
#define GEMM_BIAS(y, x, W, b, batch, nin, nout) \
  sp_gemm_bias_f32(0, 1, batch, nout, nin, x, nin, W, nin, b, y, nout)
#include "linear_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM_BIAS
