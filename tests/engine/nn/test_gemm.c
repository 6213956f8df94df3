// test_gemm.c: spinal's float32 matrix product (engine/nn/gemm.c) against cblas_sgemm, the path it
// replaces, over both transposes, sizes that are and are not multiples of its tiles and blocks,
// padded strides and beta 0 / 1 / other; the dispatch (which products take the kernel); a float32
// MLP whose layers take the kernel against the same MLP in float64; no allocation.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/rng.h"
#include "engine/nn/gemm.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "test.h"

// op(X)[r, c] of a row-major X with row stride ld, transposed or not
static float at(const float* X, int ld, int t, int r, int c) {
  return t ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c];
}

static void fill(sp_rng* r, float* x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = (float)sp_rng_normal(r);
}

TEST(kernel_matches_cblas_sgemm_over_transposes_sizes_strides_and_beta) {
  if (!sp_gemm_f32_kernel(0, 0, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1)) {
    printf("  (this CPU has no AVX-512: every product goes to cblas_sgemm; nothing to compare)\n");
    return;
  }
  // M across the 12-row tile and 96-row block, N across the 32-column tile and 256-column
  // block, K across the 192-deep block
  const int Ms[] = {1, 11, 12, 13, 97, 200}, Ns[] = {1, 17, 32, 33, 257}, Ks[] = {1, 49, 192, 400};
  const float betas[] = {0, 1, 0.5f};
  sp_rng r;
  sp_rng_seed(&r, 5, 0);
  size_t cap = 410 * 410;  // the largest operand: 400 x (257 + 1)
  float* A = sp_malloc(cap * sizeof(float));
  float* B = sp_malloc(cap * sizeof(float));
  float* C0 = sp_malloc(cap * sizeof(float));
  float* C1 = sp_malloc(cap * sizeof(float));
  float* C2 = sp_malloc(cap * sizeof(float));
  CHECK(A && B && C0 && C1 && C2);
  fill(&r, A, cap);
  fill(&r, B, cap);
  int cases = 0;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int a = 0; a < 6; a++)
        for (int b = 0; b < 5; b++)
          for (int c = 0; c < 4; c++)
            for (int e = 0; e < 3; e++) {
              int M = Ms[a], N = Ns[b], K = Ks[c];
              float beta = betas[e];
              int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
              fill(&r, C0, (size_t)M * ldc);
              for (int i = 0; i < M; i++)  // beta 0: C's old contents must never be read
                for (int j = 0; j < N && beta == 0; j++) C0[(size_t)i * ldc + j] = NAN;
              memcpy(C1, C0, (size_t)M * ldc * sizeof(float));
              memcpy(C2, C0, (size_t)M * ldc * sizeof(float));
              cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                          tb ? CblasTrans : CblasNoTrans, M, N, K, 1, A, lda, B, ldb, beta, C1,
                          ldc);
              CHECK_INT(sp_gemm_f32_kernel(ta, tb, M, N, K, A, lda, B, ldb, beta, C2, ldc), 1);
              for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                  // float32 rounding bound: the sum of |terms| times a few ulp per term
                  double mag = beta != 0 ? fabs(beta * C0[(size_t)i * ldc + j]) : 0;
                  for (int k = 0; k < K; k++)
                    mag += fabs((double)at(A, lda, ta, i, k) * at(B, ldb, tb, k, j));
                  double tol = 4e-7 * (K + 2) * mag + 1e-30;
                  float x = C2[(size_t)i * ldc + j], y = C1[(size_t)i * ldc + j];
                  if (!(fabs(x - y) <= tol)) {
                    printf("  ta %d tb %d M %d N %d K %d beta %g: C[%d,%d] = %.9g, cblas %.9g\n",
                           ta, tb, M, N, K, beta, i, j, x, y);
                    CHECK(0);
                  }
                }
                // the padding between rows is left alone
                for (int j = N; j < ldc; j++)
                  CHECK(C2[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j]);
              }
              cases++;
            }
  CHECK_INT(cases, 2 * 2 * 6 * 5 * 4 * 3);
  sp_free(A), sp_free(B), sp_free(C0), sp_free(C1), sp_free(C2);
}

TEST(large_products_on_one_blas_thread_take_the_kernel_and_small_ones_take_cblas_bitwise) {
  openblas_set_num_threads(1);
  int have =
      sp_gemm_f32_kernel(0, 0, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1);
  CHECK_INT(sp_gemm_f32_native(64, 64, 64), have);  // 64^3 = SP_GEMM_MIN_WORK
  CHECK_INT(sp_gemm_f32_native(64, 64, 63), 0);
  CHECK_INT(sp_gemm_f32_native(1, 64, 64), 0);  // a policy at batch 1
  openblas_set_num_threads(2);
  CHECK_INT(sp_gemm_f32_native(512, 512, 512), 0);  // OpenBLAS's threads are the user's choice
  openblas_set_num_threads(1);
  sp_rng r;
  sp_rng_seed(&r, 6, 0);
  const int sizes[][3] = {{100, 70, 60}, {8, 30, 20}};
  for (int s = 0; s < 2; s++) {
    int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
    float *A = sp_malloc(sizeof(float) * M * K), *B = sp_malloc(sizeof(float) * K * N);
    float *C = sp_malloc(sizeof(float) * M * N), *D = sp_malloc(sizeof(float) * M * N);
    fill(&r, A, (size_t)M * K);
    fill(&r, B, (size_t)K * N);
    sp_gemm_f32(0, 1, M, N, K, A, K, B, K, 0, C, N);
    int native = sp_gemm_f32_native(M, N, K);
    CHECK_INT(native, s == 0 ? have : 0);
    if (native)
      sp_gemm_f32_kernel(0, 1, M, N, K, A, K, B, K, 0, D, N);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, D, N);
    CHECK(memcmp(C, D, sizeof(float) * M * N) == 0);
    sp_free(A), sp_free(B), sp_free(C), sp_free(D);
  }
}

TEST(the_bias_product_equals_bias_rows_then_the_plain_product_bitwise) {
  // the affine layer's forward pass: y = x W^T + b, with the kernel (large) and cblas (small)
  openblas_set_num_threads(1);
  sp_rng r;
  sp_rng_seed(&r, 7, 0);
  const int sizes[][3] = {{1536, 256, 512}, {200, 33, 400}, {97, 12, 49}, {4, 7, 5}};
  for (int s = 0; s < 4; s++) {
    int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
    float *x = sp_malloc(sizeof(float) * M * K), *W = sp_malloc(sizeof(float) * N * K);
    float *b = sp_malloc(sizeof(float) * N), *y = sp_malloc(sizeof(float) * M * N);
    float* e = sp_malloc(sizeof(float) * M * N);
    fill(&r, x, (size_t)M * K);
    fill(&r, W, (size_t)N * K);
    fill(&r, b, (size_t)N);
    for (int i = 0; i < M * N; i++) y[i] = NAN;  // overwritten, never read
    sp_gemm_bias_f32(0, 1, M, N, K, x, K, W, K, b, y, N);
    for (int i = 0; i < M; i++) memcpy(e + (size_t)i * N, b, sizeof(float) * N);
    sp_gemm_f32(0, 1, M, N, K, x, K, W, K, 1, e, N);
    CHECK(memcmp(y, e, sizeof(float) * M * N) == 0);
    sp_gemm_bias_f32(0, 1, M, N, K, x, K, W, K, NULL, y, N);  // no bias: the plain product
    sp_gemm_f32(0, 1, M, N, K, x, K, W, K, 0, e, N);
    CHECK(memcmp(y, e, sizeof(float) * M * N) == 0);
    sp_free(x), sp_free(W), sp_free(b), sp_free(y), sp_free(e);
  }
}

TEST(a_float32_mlp_whose_layers_take_the_kernel_matches_the_float64_mlp_and_does_not_allocate) {
  openblas_set_num_threads(1);
  int sizes[] = {49, 128, 64, 12};
  sp_act acts[] = {SP_ACT_ELU, SP_ACT_ELU, SP_ACT_IDENTITY};
  enum { BATCH = 64 };
  CHECK(sp_gemm_f32_native(BATCH, 128, 49) ==
        sp_gemm_f32_kernel(0, 0, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1));
  for (int seed = 1; seed <= 3; seed++) {
    sp_mlp *m64, *m32;
    CHECK_INT(sp_mlp_new(&m64, 3, sizes, acts, SP_F64, BATCH), 0);
    CHECK_INT(sp_mlp_new(&m32, 3, sizes, acts, SP_F32, BATCH), 0);
    sp_rng r;
    sp_rng_seed(&r, (uint64_t)seed, 0);
    for (size_t i = 0; i < m64->nparams; i++)
      ((double*)m64->params)[i] = (float)(0.15 * sp_rng_normal(&r));  // float32-exact values
    sp_mlp_set_params(m32, m64->params);
    double x[BATCH * 49], gy[BATCH * 12], y64[BATCH * 12], y32[BATCH * 12];
    double gx64[BATCH * 49], gx32[BATCH * 49];
    for (int i = 0; i < BATCH * 49; i++) x[i] = (float)sp_rng_normal(&r);
    for (int i = 0; i < BATCH * 12; i++) gy[i] = (float)sp_rng_normal(&r);
    uint64_t before = sp_alloc_count();
    CHECK_INT(sp_mlp_forward(m64, NULL, y64, x, BATCH), 0);
    CHECK_INT(sp_mlp_forward(m32, NULL, y32, x, BATCH), 0);
    CHECK_INT(sp_mlp_backward(m64, NULL, gx64, gy), 0);
    CHECK_INT(sp_mlp_backward(m32, NULL, gx32, gy), 0);
    CHECK_INT(sp_alloc_count() - before, 0);
    double scale = 0;
    for (int i = 0; i < BATCH * 12; i++) scale = fmax(scale, fabs(y64[i]));
    for (int i = 0; i < BATCH * 12; i++) CHECK_CLOSE(y32[i], y64[i], 1e-4, 1e-5 * scale);
    scale = 0;
    for (int i = 0; i < BATCH * 49; i++) scale = fmax(scale, fabs(gx64[i]));
    for (int i = 0; i < BATCH * 49; i++) CHECK_CLOSE(gx32[i], gx64[i], 1e-4, 1e-5 * scale);
    double* g32 = sp_malloc(m32->nparams * sizeof(double));
    sp_mlp_get_grads(m32, g32);
    double err = 0, norm = sp_norm2(m64->grads, SP_F64, m64->nparams);
    for (size_t i = 0; i < m64->nparams; i++)
      err = fmax(err, fabs(g32[i] - ((double*)m64->grads)[i]));
    CHECK(err <= 1e-5 * norm);
    sp_free(g32);
    sp_mlp_free(m64);
    sp_mlp_free(m32);
  }
}

TEST_MAIN()
