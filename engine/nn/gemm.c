// gemm.c: float32 C = beta C + op(A) op(B) (see gemm.h).
//
// The kernel follows the usual blocked layout of a BLAS product (Goto and van de Geijn, "Anatomy
// of high-performance matrix multiplication", ACM TOMS 2008): op(B) is copied in blocks of KC x NC
// into panels NR columns wide that the kernel reads contiguously; op(A) is read in place when it
// is not transposed (MR rows side by side) and otherwise copied in blocks of MC x KC into panels
// MR rows tall. The kernel keeps an MR x NR tile of C in 24 AVX-512 registers and adds one rank-1
// update per k (two loads of B, MR broadcasts of A, 2 MR fused multiply-adds); the bias, when
// given, is added where the tile is stored. Every element of C sums its K terms in the same order
// (blocks of KC in turn, within a block k by k) whatever the sizes around it.
#include "engine/nn/gemm.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SP_GEMM_X86 1
#include <immintrin.h>
#endif

static void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++) {
    float* r = C + (size_t)i * ldc;
    if (beta == 0)
      memset(r, 0, (size_t)N * sizeof(float));
    else
      for (int j = 0; j < N; j++) r[j] *= beta;
  }
}

#ifdef SP_GEMM_X86

// tile MR x NR (24 of the 32 vector registers); a panel of B (KC x NR, 24 KB) and one of A stay in
// the first-level cache while a tile runs, a block of A (MC x KC) in the second; B's block of
// KC x NC (192 KB) and A's (72 KB) are the stack the kernel takes
enum { MR = 12, NR = 32, KC = 192, MC = 96, NC = 256 };

#define SP_AVX512 __attribute__((target("avx512f")))

// lanes [0, n) of a 16-lane mask (n clamped to [0, 16])
static inline __mmask16 lanes(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into panels of MR rows the tile reads with row stride 1 and
// k stride MR: panel q holds, for each k, the MR values of rows q MR .. q MR + MR - 1 (zero past
// mc). Used for the rows of a transposed A (whose rows for one k lie together, but whose k lie a
// row of A apart: read in place, a power-of-two stride maps them all to a few cache sets) and for
// the last, partial panel of an untransposed one (read in place, its rows would overrun A)
SP_AVX512 static void pack_a(int ta, const float* A, int lda, int i0, int mc, int p0, int kc,
                             float* dst) {
  for (int q = 0; q < mc; q += MR, dst += (size_t)MR * kc) {
    int mr = mc - q < MR ? mc - q : MR;
    __mmask16 m = lanes(mr);
    for (int k = 0; k < kc; k++) {
      float* d = dst + (size_t)k * MR;
      if (ta) {
        const float* s = A + (size_t)(p0 + k) * lda + i0 + q;
        _mm512_mask_storeu_ps(d, lanes(MR), _mm512_maskz_loadu_ps(m, s));
      } else {
        for (int i = 0; i < MR; i++) d[i] = i < mr ? A[(size_t)(i0 + q + i) * lda + p0 + k] : 0;
      }
    }
  }
}

// op(B)[p0 .. p0+kc) x [j0 .. j0+nc) into panels of NR columns: panel q holds, for each k, the NR
// values of columns q NR .. q NR + NR - 1 (zero past nc)
SP_AVX512 static void pack_b(int tb, const float* B, int ldb, int p0, int kc, int j0, int nc,
                             float* dst) {
  if (!tb) {  // row by row of B, each row into every panel
    for (int k = 0; k < kc; k++) {
      const float* s = B + (size_t)(p0 + k) * ldb + j0;
      for (int q = 0; q < nc; q += NR) {
        float* d = dst + (size_t)q * kc + (size_t)k * NR;
        _mm512_store_ps(d, _mm512_maskz_loadu_ps(lanes(nc - q), s + q));
        _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(lanes(nc - q - 16), s + q + 16));
      }
    }
    return;
  }
  for (int q = 0; q < nc; q += NR, dst += (size_t)NR * kc) {  // column j of op(B) is row j of B
    int nr = nc - q < NR ? nc - q : NR;
    for (int j = 0; j < nr; j++) {
      const float* s = B + (size_t)(j0 + q + j) * ldb + p0;
      for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = s[k];
    }
    for (int j = nr; j < NR; j++)
      for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = 0;
  }
}

// the tile C[0 .. mr) x [0 .. nr) (row stride ldc) = (add ? C : bias ? bias : 0) + the kc
// rank-1 updates of MR rows of op(A), element (i, k) at a[i sa + k sk], and the panel bp (kc x NR);
// bias (nr values, or NULL) is added to every row
SP_AVX512 static void tile(int kc, const float* a, size_t sa, size_t sk, const float* restrict bp,
                           float* C, int ldc, int mr, int nr, int add, const float* bias) {
#define ZERO(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps()
  ZERO(0);
  ZERO(1);
  ZERO(2);
  ZERO(3);
  ZERO(4);
  ZERO(5);
  ZERO(6);
  ZERO(7);
  ZERO(8);
  ZERO(9);
  ZERO(10);
  ZERO(11);
#undef ZERO
  // the tile of C is wanted again at the end: start fetching it now
  if (add)
    for (int i = 0; i < mr; i++) {
      _mm_prefetch((const char*)(C + (size_t)i * ldc), _MM_HINT_T0);
      _mm_prefetch((const char*)(C + (size_t)i * ldc + 16), _MM_HINT_T0);
    }
  // three row pointers and the strides 1, 2, 3 sa address the 12 rows
  const float *a0 = a, *a1 = a + 4 * sa, *a2 = a + 8 * sa;
  for (int k = 0; k < kc; k++, a0 += sk, a1 += sk, a2 += sk, bp += NR) {
    __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16), x;
#define ROW(i, p, o)                           \
  do {                                         \
    x = _mm512_set1_ps(p[o]);                  \
    c##i##0 = _mm512_fmadd_ps(x, b0, c##i##0); \
    c##i##1 = _mm512_fmadd_ps(x, b1, c##i##1); \
  } while (0)
    ROW(0, a0, 0);
    ROW(1, a0, sa);
    ROW(2, a0, 2 * sa);
    ROW(3, a0, 3 * sa);
    ROW(4, a1, 0);
    ROW(5, a1, sa);
    ROW(6, a1, 2 * sa);
    ROW(7, a1, 3 * sa);
    ROW(8, a2, 0);
    ROW(9, a2, sa);
    ROW(10, a2, 2 * sa);
    ROW(11, a2, 3 * sa);
#undef ROW
  }
  __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
  int with_bias = !add && bias;
  __m512 z0 = _mm512_setzero_ps(), z1 = z0;
  if (with_bias) z0 = _mm512_maskz_loadu_ps(m0, bias), z1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#define STORE(i)                                                           \
  do {                                                                     \
    if (i >= mr) break;                                                    \
    float* r = C + (size_t)(i)*ldc;                                        \
    if (add) {                                                             \
      c##i##0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, r), c##i##0);      \
      c##i##1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, r + 16), c##i##1); \
    } else if (with_bias) {                                                \
      c##i##0 = _mm512_add_ps(z0, c##i##0);                                \
      c##i##1 = _mm512_add_ps(z1, c##i##1);                                \
    }                                                                      \
    _mm512_mask_storeu_ps(r, m0, c##i##0);                                 \
    _mm512_mask_storeu_ps(r + 16, m1, c##i##1);                            \
  } while (0)
  STORE(0);
  STORE(1);
  STORE(2);
  STORE(3);
  STORE(4);
  STORE(5);
  STORE(6);
  STORE(7);
  STORE(8);
  STORE(9);
  STORE(10);
  STORE(11);
#undef STORE
}

// bias (N values, or NULL; only with beta = 0) is added to every row of C
SP_AVX512 static void gemm_avx512(int ta, int tb, int M, int N, int K, const float* A, int lda,
                                  const float* B, int ldb, float beta, float* C, int ldc,
                                  const float* bias) {
  _Alignas(64) float bpack[(size_t)KC * NC];
  _Alignas(64) float apack[(size_t)MC * KC];
  size_t sa = (size_t)lda;
  for (int j0 = 0; j0 < N; j0 += NC) {
    int nc = N - j0 < NC ? N - j0 : NC;
    for (int p0 = 0; p0 < K; p0 += KC) {
      int kc = K - p0 < KC ? K - p0 : KC;
      int add = p0 > 0 || beta != 0;
      pack_b(tb, B, ldb, p0, kc, j0, nc, bpack);
      for (int i0 = 0; i0 < M; i0 += MC) {
        int mc = M - i0 < MC ? M - i0 : MC;
        int edge = mc % MR;  // rows of a last, partial panel
        if (ta)
          pack_a(ta, A, lda, i0, mc, p0, kc, apack);
        else if (edge)
          pack_a(ta, A, lda, i0 + mc - edge, edge, p0, kc, apack);
        for (int jq = 0; jq < nc; jq += NR) {
          int nr = nc - jq < NR ? nc - jq : NR;
          const float* bp = bpack + (size_t)jq * kc;
          const float* bj = bias ? bias + j0 + jq : NULL;
          for (int iq = 0; iq < mc; iq += MR) {
            float* c = C + (size_t)(i0 + iq) * ldc + j0 + jq;
            int mr = mc - iq < MR ? mc - iq : MR;
            if (ta)
              tile(kc, apack + (size_t)iq * kc, 1, MR, bp, c, ldc, mr, nr, add, bj);
            else if (mr == MR)
              tile(kc, A + (size_t)(i0 + iq) * sa + p0, sa, 1, bp, c, ldc, MR, nr, add, bj);
            else
              tile(kc, apack, 1, MR, bp, c, ldc, mr, nr, add, bj);
          }
        }
      }
    }
  }
}

static int have_avx512(void) {
  __builtin_cpu_init();  // idempotent: a no-op once the CPU has been identified
  return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

#else

static int have_avx512(void) {
  return 0;
}

#endif

// the kernel, when the CPU has one: 1 after computing C, 0 (nothing done) otherwise
static int kernel(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc, const float* bias) {
  if (!have_avx512()) return 0;
#ifdef SP_GEMM_X86
  if (M <= 0 || N <= 0) return 1;
  if (K <= 0 || (beta != 0 && beta != 1)) {
    scale_c(M, N, beta, C, ldc);
    if (K <= 0) return 1;
    beta = 1;
  }
  gemm_avx512(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias);
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
  (void)beta, (void)C, (void)ldc, (void)bias;
#endif
  return 1;
}

int sp_gemm_f32_kernel(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                       int ldb, float beta, float* C, int ldc) {
  return kernel(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

int sp_gemm_f32_native(int M, int N, int K) {
  return (long)M * N * K >= SP_GEMM_MIN_WORK && have_avx512() && openblas_get_num_threads() == 1;
}

void sp_gemm_f32(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (sp_gemm_f32_native(M, N, K) && kernel(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL))
    return;
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1, A, lda, B, ldb, beta, C, ldc);
}

void sp_gemm_bias_f32(int ta, int tb, int M, int N, int K, const float* A, int lda, const float* B,
                      int ldb, const float* bias, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (bias && sp_gemm_f32_native(M, N, K) &&
      kernel(ta, tb, M, N, K, A, lda, B, ldb, 0, C, ldc, bias))
    return;
  // rows of C start as the bias, then C += op(A) op(B)
  for (int i = 0; i < M; i++) {
    float* r = C + (size_t)i * ldc;
    if (bias)
      memcpy(r, bias, (size_t)N * sizeof(float));
    else
      memset(r, 0, (size_t)N * sizeof(float));
  }
  sp_gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, 1, C, ldc);
}
