// gemm.h: the float32 matrix product of the affine layers (engine/nn/linear.c).
//
//   C (M x N) = beta C + op(A) op(B)     row-major; op(A) is M x K, op(B) is K x N
//
// op(A) = A (M x K, row stride lda), or with ta, the transpose of A (K x M, row stride lda);
// op(B) likewise with tb. beta = 0 overwrites C (its old contents are never read, NaN included).
//
// Large products on a CPU with AVX-512 run through spinal's own packed kernel (register-blocked
// 12 x 32 tiles, operands copied into cache-sized panels on the stack, 264 KB of it), single
// threaded; small ones (fewer than SP_GEMM_MIN_WORK multiply-adds, e.g. a policy at batch 1),
// CPUs without AVX-512, and OpenBLAS set to more than one thread go to cblas_sgemm. Why: Debian
// 12's OpenBLAS 0.3.21 runs its AVX2 kernels on CPUs it does not recognise even when they have
// AVX-512 (this machine's AMD EPYC), at about half the rate the AVX-512 kernel reaches there
// (docs/ppo.md, "Speed"). Results are deterministic for a given CPU and BLAS thread count; they
// differ from cblas_sgemm's in the last bits (another summation order). Never allocates.
#ifndef SP_NN_GEMM_H
#define SP_NN_GEMM_H

#include "engine/core/export.h"

SP_API_BEGIN

#define SP_GEMM_MIN_WORK (1L << 18)

void sp_gemm_f32(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc);

// C = op(A) op(B) + bias added to every row (bias: N values; NULL: none), overwriting C: the
// affine layer's forward pass. The kernel adds the bias where it stores C (no separate pass).
void sp_gemm_bias_f32(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                      int ldb, const float* bias, float* C, int ldc);

// 1 when sp_gemm_f32 would use spinal's kernel for a product of M x N x K (the CPU has AVX-512,
// OpenBLAS runs one thread, the product is large enough), 0 when it calls cblas_sgemm.
int sp_gemm_f32_native(int M, int N, int K);

// The same product always through spinal's kernel (when the CPU has AVX-512; returns 1) or never
// (returns 0 without computing anything): the test compares it with cblas_sgemm.
int sp_gemm_f32_kernel(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                       int ldb, float beta, float* C, int ldc);

SP_API_END

#endif  // SP_NN_GEMM_H
