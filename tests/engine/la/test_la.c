// test_la.c: engine/la against identities (A x = b, Q R = A, U S V^T = A, L L^T = A,
// A v = lambda v, det(A B) = det A det B) on random matrices over several seeds.
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/la/la.h"
#include "test.h"

#define NMAX 8

static void randmat(double* A, int m, int n, sp_rng* r) {
  for (int i = 0; i < m * n; i++) A[i] = sp_rng_normal(r);
}

// C (m x n) = A (m x k) B (k x n), with optional transposes given as flags
static void mul(double* C, const double* A, const double* B, int m, int k, int n, int ta, int tb) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++)
        s += (ta ? A[p * m + i] : A[i * k + p]) * (tb ? B[j * k + p] : B[p * n + j]);
      C[i * n + j] = s;
    }
}

static double maxdiff(const double* a, const double* b, int n) {
  double d = 0;
  for (int i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
  return d;
}

static void eye(double* I, int n) {
  for (int i = 0; i < n * n; i++) I[i] = i % (n + 1) == 0;
}

TEST(solve_residual_is_small_and_inputs_are_unchanged) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    sp_rng_seed(&r, seed, 0);
    int n = 1 + (int)sp_rng_below(&r, NMAX), nrhs = 1 + (int)sp_rng_below(&r, 3);
    double A[NMAX * NMAX], A0[NMAX * NMAX], B[NMAX * 3], B0[NMAX * 3], X[NMAX * 3], AX[NMAX * 3];
    randmat(A, n, n, &r);
    for (int i = 0; i < n; i++) A[i * n + i] += n;  // well conditioned
    randmat(B, n, nrhs, &r);
    memcpy(A0, A, sizeof A);
    memcpy(B0, B, sizeof B);
    CHECK_INT(sp_la_solve(X, A, B, n, nrhs), 0);
    mul(AX, A, X, n, n, nrhs, 0, 0);
    CHECK(maxdiff(AX, B, n * nrhs) < 1e-12);
    CHECK(!memcmp(A, A0, sizeof A) && !memcmp(B, B0, sizeof B));
  }
}

TEST(solve_and_inv_report_a_singular_matrix) {
  double A[4] = {1, 2, 2, 4}, b[2] = {1, 1}, x[2], Ai[4];
  CHECK_INT(sp_la_solve(x, A, b, 2, 1), SP_ESINGULAR);
  CHECK_INT(sp_la_inv(Ai, A, 2), SP_ESINGULAR);
  double d;
  CHECK_INT(sp_la_det(&d, A, 2), 0);
  CHECK(d == 0);
}

TEST(non_finite_input_is_a_numeric_error) {
  double A[4] = {1, NAN, 0, 1}, b[2] = {1, 1}, x[2];
  CHECK_INT(sp_la_solve(x, A, b, 2, 1), SP_ENUMERIC);
}

TEST(inverse_times_matrix_is_identity) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 1);
    int n = 1 + (int)sp_rng_below(&r, NMAX);
    double A[NMAX * NMAX], Ai[NMAX * NMAX], P[NMAX * NMAX], I[NMAX * NMAX];
    randmat(A, n, n, &r);
    for (int i = 0; i < n; i++) A[i * n + i] += n;
    CHECK_INT(sp_la_inv(Ai, A, n), 0);
    mul(P, A, Ai, n, n, n, 0, 0);
    eye(I, n);
    CHECK(maxdiff(P, I, n * n) < 1e-12);
  }
}

TEST(det_of_a_product_is_the_product_of_dets) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 2);
    int n = 1 + (int)sp_rng_below(&r, NMAX);
    double A[NMAX * NMAX], B[NMAX * NMAX], AB[NMAX * NMAX], da, db, dab;
    randmat(A, n, n, &r);
    randmat(B, n, n, &r);
    mul(AB, A, B, n, n, n, 0, 0);
    sp_la_det(&da, A, n);
    sp_la_det(&db, B, n);
    sp_la_det(&dab, AB, n);
    CHECK_CLOSE(dab, da * db, 1e-10, 1e-12);
  }
  double K[9] = {2, 0, 1, 1, 3, 2, 1, 1, 1}, d;  // 2(3-2) - 0 + 1(1-3) = 0
  sp_la_det(&d, K, 3);
  CHECK_CLOSE(d, 0, 0, 1e-14);
  double P[4] = {0, 1, 1, 0};  // a swap has determinant -1
  sp_la_det(&d, P, 2);
  CHECK(d == -1);
}

TEST(cholesky_factor_reproduces_the_matrix) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 3);
    int n = 1 + (int)sp_rng_below(&r, NMAX);
    double B[NMAX * NMAX], A[NMAX * NMAX], L[NMAX * NMAX], LLt[NMAX * NMAX];
    randmat(B, n, n, &r);
    mul(A, B, B, n, n, n, 0, 1);
    for (int i = 0; i < n; i++) A[i * n + i] += 1;
    CHECK_INT(sp_la_cholesky(L, A, n), 0);
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++) CHECK(L[i * n + j] == 0);
    mul(LLt, L, L, n, n, n, 0, 1);
    CHECK(maxdiff(LLt, A, n * n) < 1e-12 * n);
  }
}

TEST(cholesky_reports_a_matrix_that_is_not_positive_definite) {
  double A[4] = {1, 2, 2, 1}, L[4];
  CHECK_INT(sp_la_cholesky(L, A, 2), SP_ESINGULAR);
}

TEST(qr_gives_orthonormal_q_and_upper_r_with_qr_equal_to_a) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    sp_rng_seed(&r, seed, 4);
    int m = 1 + (int)sp_rng_below(&r, NMAX), n = 1 + (int)sp_rng_below(&r, NMAX);
    int k = m < n ? m : n;
    double A[NMAX * NMAX], Q[NMAX * NMAX], R[NMAX * NMAX], QR[NMAX * NMAX], QtQ[NMAX * NMAX],
        I[NMAX * NMAX];
    randmat(A, m, n, &r);
    CHECK_INT(sp_la_qr(Q, R, A, m, n), 0);
    mul(QR, Q, R, m, k, n, 0, 0);
    CHECK(maxdiff(QR, A, m * n) < 1e-12);
    mul(QtQ, Q, Q, k, m, k, 1, 0);
    eye(I, k);
    CHECK(maxdiff(QtQ, I, k * k) < 1e-12);
    for (int i = 0; i < k; i++)
      for (int j = 0; j < i; j++) CHECK(R[i * n + j] == 0);
  }
}

TEST(svd_reconstructs_the_matrix_with_descending_singular_values) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    sp_rng_seed(&r, seed, 5);
    int m = 1 + (int)sp_rng_below(&r, NMAX), n = 1 + (int)sp_rng_below(&r, NMAX);
    int k = m < n ? m : n;
    double A[NMAX * NMAX], U[NMAX * NMAX], S[NMAX], Vt[NMAX * NMAX], US[NMAX * NMAX],
        USV[NMAX * NMAX], UtU[NMAX * NMAX], VVt[NMAX * NMAX], I[NMAX * NMAX];
    randmat(A, m, n, &r);
    CHECK_INT(sp_la_svd(U, S, Vt, A, m, n), 0);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < k; j++) US[i * k + j] = U[i * k + j] * S[j];
    mul(USV, US, Vt, m, k, n, 0, 0);
    CHECK(maxdiff(USV, A, m * n) < 1e-12);
    for (int j = 1; j < k; j++) CHECK(S[j] <= S[j - 1]);
    CHECK(S[k - 1] >= 0);
    eye(I, k);
    mul(UtU, U, U, k, m, k, 1, 0);
    mul(VVt, Vt, Vt, k, n, k, 0, 1);
    CHECK(maxdiff(UtU, I, k * k) < 1e-12);
    CHECK(maxdiff(VVt, I, k * k) < 1e-12);
  }
}

TEST(eig_finds_known_real_and_complex_eigenvalues) {
  // companion matrix of s^2 + 3 s + 2: eigenvalues -1 and -2
  double A[4] = {0, 1, -2, -3}, wr[2], wi[2];
  CHECK_INT(sp_la_eig(wr, wi, NULL, A, 2), 0);
  double lo = fmin(wr[0], wr[1]), hi = fmax(wr[0], wr[1]);
  CHECK_CLOSE(lo, -2, 1e-14, 1e-14);
  CHECK_CLOSE(hi, -1, 1e-14, 1e-14);
  CHECK(wi[0] == 0 && wi[1] == 0);
  // rotation by 90 degrees: +-i, positive imaginary part first
  double Rot[4] = {0, -1, 1, 0};
  CHECK_INT(sp_la_eig(wr, wi, NULL, Rot, 2), 0);
  CHECK_CLOSE(wr[0], 0, 0, 1e-15);
  CHECK_CLOSE(wi[0], 1, 1e-15, 0);
  CHECK_CLOSE(wi[1], -1, 1e-15, 0);
}

TEST(eig_vectors_satisfy_a_v_equals_lambda_v) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 6);
    int n = 1 + (int)sp_rng_below(&r, NMAX);
    double A[NMAX * NMAX], V[NMAX * NMAX], wr[NMAX], wi[NMAX];
    randmat(A, n, n, &r);
    CHECK_INT(sp_la_eig(wr, wi, V, A, n), 0);
    for (int j = 0; j < n; j++) {
      // real part of A v - lambda v for v = V[:,j] + i V[:,j+1] (or real v when wi = 0)
      double err = 0;
      for (int i = 0; i < n; i++) {
        double re = 0, im = 0;
        int pair = wi[j] != 0;
        int c = pair && wi[j] < 0 ? j - 1 : j;  // the pair's first column
        double sgn = pair && wi[j] < 0 ? -1 : 1;
        for (int p = 0; p < n; p++) {
          re += A[i * n + p] * V[p * n + c];
          if (pair) im += sgn * A[i * n + p] * V[p * n + c + 1];
        }
        double vr = V[i * n + c], vi = pair ? sgn * V[i * n + c + 1] : 0;
        re -= wr[j] * vr - wi[j] * vi;
        im -= wr[j] * vi + wi[j] * vr;
        err = fmax(err, hypot(re, im));
      }
      CHECK(err < 1e-10);
    }
  }
}

TEST(eigh_diagonalises_a_symmetric_matrix_in_ascending_order) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 7);
    int n = 1 + (int)sp_rng_below(&r, NMAX);
    double B[NMAX * NMAX], A[NMAX * NMAX], V[NMAX * NMAX], w[NMAX], AV[NMAX * NMAX];
    randmat(B, n, n, &r);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) A[i * n + j] = B[i * n + j] + B[j * n + i];
    CHECK_INT(sp_la_eigh(w, V, A, n), 0);
    mul(AV, A, V, n, n, n, 0, 0);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) CHECK_CLOSE(AV[i * n + j], V[i * n + j] * w[j], 0, 1e-12);
    for (int j = 1; j < n; j++) CHECK(w[j] >= w[j - 1]);
  }
}

TEST(spectral_radius_tells_a_stable_loop_from_an_unstable_one) {
  double stable[4] = {0.5, 1, 0, 0.9}, unstable[4] = {1, 0.1, -0.1, 1}, rho;
  CHECK_INT(sp_la_spectral_radius(&rho, stable, 2), 0);
  CHECK_CLOSE(rho, 0.9, 1e-14, 0);
  CHECK_INT(sp_la_spectral_radius(&rho, unstable, 2), 0);
  CHECK_CLOSE(rho, hypot(1, 0.1), 1e-14, 0);  // eigenvalues 1 +- 0.1 i
}

TEST_MAIN()
