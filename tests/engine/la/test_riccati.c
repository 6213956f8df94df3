// test_riccati.c: DARE and CARE solutions of engine/la/riccati.c against closed forms, residuals
// and closed-loop stability on random stabilisable systems, and the argument checks.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/la/riccati.h"
#include "test.h"

#define NMAX 8

// C (m x n) = A (m x k) B (k x n), or with A transposed when ta
static void mul(double* C, const double* A, const double* B, int m, int k, int n, int ta) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int l = 0; l < k; l++) s += (ta ? A[l * m + i] : A[i * k + l]) * B[l * n + j];
      C[i * n + j] = s;
    }
}

// solve M y = b for small dense M (n x n) by Gaussian elimination with partial pivoting; in place
static void solve(double* M, double* b, int n, int nrhs) {
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int i = c + 1; i < n; i++)
      if (fabs(M[i * n + c]) > fabs(M[p * n + c])) p = i;
    for (int j = 0; j < n; j++) {
      double t = M[c * n + j];
      M[c * n + j] = M[p * n + j];
      M[p * n + j] = t;
    }
    for (int j = 0; j < nrhs; j++) {
      double t = b[c * nrhs + j];
      b[c * nrhs + j] = b[p * nrhs + j];
      b[p * nrhs + j] = t;
    }
    for (int i = c + 1; i < n; i++) {
      double f = M[i * n + c] / M[c * n + c];
      for (int j = c; j < n; j++) M[i * n + j] -= f * M[c * n + j];
      for (int j = 0; j < nrhs; j++) b[i * nrhs + j] -= f * b[c * nrhs + j];
    }
  }
  for (int c = n - 1; c >= 0; c--)
    for (int j = 0; j < nrhs; j++) {
      double s = b[c * nrhs + j];
      for (int l = c + 1; l < n; l++) s -= M[c * n + l] * b[l * nrhs + j];
      b[c * nrhs + j] = s / M[c * n + c];
    }
}

// a random system with unstable open loop, Q = M M' + 0.1 I, R = N N' + 0.5 I
static void random_system(sp_rng* g, double* A, double* B, double* Q, double* R, int nx, int nu,
                          double scale) {
  double M[NMAX * NMAX], N[NMAX * NMAX];
  sp_rng_fill_normal(g, A, (size_t)nx * nx, 0, scale / sqrt(nx));
  sp_rng_fill_normal(g, B, (size_t)nx * nu, 0, 1);
  sp_rng_fill_normal(g, M, (size_t)nx * nx, 0, 1);
  sp_rng_fill_normal(g, N, (size_t)nu * nu, 0, 1);
  for (int i = 0; i < nx; i++)
    for (int j = 0; j < nx; j++) {
      double s = i == j ? 0.1 : 0;
      for (int l = 0; l < nx; l++) s += M[i * nx + l] * M[j * nx + l];
      Q[i * nx + j] = s;
    }
  for (int i = 0; i < nu; i++)
    for (int j = 0; j < nu; j++) {
      double s = i == j ? 0.5 : 0;
      for (int l = 0; l < nu; l++) s += N[i * nu + l] * N[j * nu + l];
      R[i * nu + j] = s;
    }
}

// discrete LQR gain K = (R + B'XB)^-1 B'XA, computed independently of the library
static void dlqr_gain(double* K, const double* X, const double* A, const double* B, const double* R,
                      int nx, int nu) {
  double XA[NMAX * NMAX], XB[NMAX * NMAX], M[NMAX * NMAX];
  mul(XA, X, A, nx, nx, nx, 0);
  mul(XB, X, B, nx, nx, nu, 0);
  mul(M, B, XB, nu, nx, nu, 1);
  for (int i = 0; i < nu * nu; i++) M[i] += R[i];
  mul(K, B, XA, nu, nx, nx, 1);
  solve(M, K, nu, nx);
}

static double spectral_radius(const double* M, int n) {
  double re[NMAX], im[NMAX], rho = 0;
  if (sp__eig(re, im, M, n)) return INFINITY;
  for (int i = 0; i < n; i++) rho = fmax(rho, hypot(re[i], im[i]));
  return rho;
}

TEST(scalar_dare_matches_its_closed_form) {
  double cases[][4] = {
      {2.0, 1.0, 1.0, 1.0}, {0.5, 2.0, 3.0, 0.1}, {-1.5, 0.3, 0.01, 2.0}, {1.0, 1.0, 1.0, 1.0}};
  for (int c = 0; c < 4; c++) {
    double a = cases[c][0], b = cases[c][1], q = cases[c][2], r = cases[c][3], X = -1;
    // b^2 x^2 + (r - a^2 r - q b^2) x - q r = 0, positive root
    double p = r - a * a * r - q * b * b;
    double want = (-p + sqrt(p * p + 4 * b * b * q * r)) / (2 * b * b);
    CHECK_INT(sp_dare_solve(&X, &a, &b, &q, &r, 1, 1), 0);
    CHECK_CLOSE(X, want, 1e-10, 1e-12);
  }
}

TEST(scalar_care_matches_its_closed_form) {
  double cases[][4] = {{2.0, 1.0, 1.0, 1.0}, {-0.5, 2.0, 3.0, 0.1}, {1.5, 0.3, 0.2, 2.0}};
  for (int c = 0; c < 3; c++) {
    double a = cases[c][0], b = cases[c][1], q = cases[c][2], r = cases[c][3], X = -1;
    double want = r * (a + sqrt(a * a + b * b * q / r)) / (b * b);
    CHECK_INT(sp_care_solve(&X, &a, &b, &q, &r, 1, 1), 0);
    CHECK_CLOSE(X, want, 1e-10, 1e-12);
  }
}

TEST(dare_solution_has_small_residual_and_stabilises_random_systems) {
  int unstable = 0;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    sp_rng g;
    sp_rng_seed(&g, seed, 0);
    int nx = 2 + (int)sp_rng_below(&g, 5), nu = 1 + (int)sp_rng_below(&g, 3);
    double A[NMAX * NMAX], B[NMAX * NMAX], Q[NMAX * NMAX], R[NMAX * NMAX], X[NMAX * NMAX];
    double K[NMAX * NMAX], BK[NMAX * NMAX], Acl[NMAX * NMAX], res;
    random_system(&g, A, B, Q, R, nx, nu, 1.6);
    unstable += spectral_radius(A, nx) > 1.0;
    CHECK_INT(sp_dare_solve(X, A, B, Q, R, nx, nu), 0);
    CHECK_INT(sp_dare_residual(&res, X, A, B, Q, R, nx, nu), 0);
    CHECK(res < 1e-10);
    for (int i = 0; i < nx; i++)
      for (int j = 0; j < nx; j++) CHECK_CLOSE(X[i * nx + j], X[j * nx + i], 1e-12, 1e-12);
    dlqr_gain(K, X, A, B, R, nx, nu);
    mul(BK, B, K, nx, nu, nx, 0);
    for (int i = 0; i < nx * nx; i++) Acl[i] = A[i] - BK[i];
    CHECK(spectral_radius(Acl, nx) < 1.0);
  }
  CHECK(unstable >= 6);  // the draws exercise open-loop unstable systems
}

TEST(dare_solution_is_the_limit_of_the_riccati_recursion) {
  for (uint64_t seed = 20; seed < 24; seed++) {
    sp_rng g;
    sp_rng_seed(&g, seed, 0);
    int nx = 3, nu = 2;
    double A[NMAX * NMAX], B[NMAX * NMAX], Q[NMAX * NMAX], R[NMAX * NMAX], X[NMAX * NMAX];
    double P[NMAX * NMAX], K[NMAX * NMAX], BK[NMAX * NMAX], Acl[NMAX * NMAX], T[NMAX * NMAX];
    random_system(&g, A, B, Q, R, nx, nu, 1.2);
    CHECK_INT(sp_dare_solve(X, A, B, Q, R, nx, nu), 0);
    // P <- Q + A'P(A - BK), K = (R + B'PB)^-1 B'PA, from P = Q
    memcpy(P, Q, sizeof(double) * nx * nx);
    for (int it = 0; it < 2000; it++) {
      dlqr_gain(K, P, A, B, R, nx, nu);
      mul(BK, B, K, nx, nu, nx, 0);
      for (int i = 0; i < nx * nx; i++) Acl[i] = A[i] - BK[i];
      mul(T, P, Acl, nx, nx, nx, 0);
      mul(P, A, T, nx, nx, nx, 1);
      for (int i = 0; i < nx * nx; i++) P[i] += Q[i];
    }
    for (int i = 0; i < nx * nx; i++) CHECK_CLOSE(X[i], P[i], 1e-8, 1e-10);
  }
}

TEST(care_solution_has_small_residual_and_stabilises_random_systems) {
  for (uint64_t seed = 1; seed <= 12; seed++) {
    sp_rng g;
    sp_rng_seed(&g, seed, 1);
    int nx = 2 + (int)sp_rng_below(&g, 5), nu = 1 + (int)sp_rng_below(&g, 3);
    double A[NMAX * NMAX], B[NMAX * NMAX], Q[NMAX * NMAX], R[NMAX * NMAX], X[NMAX * NMAX];
    double K[NMAX * NMAX], BK[NMAX * NMAX], Acl[NMAX * NMAX], res, re[NMAX], im[NMAX];
    random_system(&g, A, B, Q, R, nx, nu, 2.0);
    CHECK_INT(sp_care_solve(X, A, B, Q, R, nx, nu), 0);
    CHECK_INT(sp_care_residual(&res, X, A, B, Q, R, nx, nu), 0);
    CHECK(res < 1e-10);
    // K = R^-1 B'X, closed loop A - BK in the open left half-plane
    double Rc[NMAX * NMAX];
    memcpy(Rc, R, sizeof(double) * nu * nu);
    mul(K, B, X, nu, nx, nx, 1);
    solve(Rc, K, nu, nx);
    mul(BK, B, K, nx, nu, nx, 0);
    for (int i = 0; i < nx * nx; i++) Acl[i] = A[i] - BK[i];
    CHECK_INT(sp__eig(re, im, Acl, nx), 0);
    for (int i = 0; i < nx; i++) CHECK(re[i] < 0);
  }
}

TEST(solvers_do_not_mutate_their_inputs) {
  sp_rng g;
  sp_rng_seed(&g, 5, 0);
  int nx = 4, nu = 2;
  double A[16], B[8], Q[16], R[4], A0[16], B0[8], Q0[16], R0[4], X[16];
  random_system(&g, A, B, Q, R, nx, nu, 1.5);
  memcpy(A0, A, sizeof A);
  memcpy(B0, B, sizeof B);
  memcpy(Q0, Q, sizeof Q);
  memcpy(R0, R, sizeof R);
  CHECK_INT(sp_dare_solve(X, A, B, Q, R, nx, nu), 0);
  CHECK_INT(sp_care_solve(X, A, B, Q, R, nx, nu), 0);
  CHECK(!memcmp(A, A0, sizeof A) && !memcmp(B, B0, sizeof B));
  CHECK(!memcmp(Q, Q0, sizeof Q) && !memcmp(R, R0, sizeof R));
}

TEST(bad_arguments_return_the_right_codes) {
  double A[4] = {1, 0.1, 0, 1}, B[2] = {0, 0.1}, Q[4] = {1, 0, 0, 1}, R[1] = {1}, X[4];
  CHECK_INT(sp_dare_solve(X, A, B, Q, R, -1, 1), SP_EINVAL);
  CHECK_INT(sp_care_solve(X, A, B, Q, R, 2, 0), SP_EINVAL);
  CHECK_INT(sp_dare_solve(NULL, A, B, Q, R, 2, 1), SP_EINVAL);
  double Qn[4] = {1, 0.5, 0, 1};  // not symmetric
  CHECK_INT(sp_dare_solve(X, A, B, Qn, R, 2, 1), SP_EINVAL);
  CHECK_INT(sp_care_solve(X, A, B, Qn, R, 2, 1), SP_EINVAL);
  double Qi[4] = {1, 0, 0, -1};  // indefinite
  CHECK_INT(sp_dare_solve(X, A, B, Qi, R, 2, 1), SP_EINVAL);
  double Rz[1] = {0}, Rn[1] = {-2};  // not positive definite
  CHECK_INT(sp_dare_solve(X, A, B, Q, Rz, 2, 1), SP_ESINGULAR);
  CHECK_INT(sp_care_solve(X, A, B, Q, Rn, 2, 1), SP_ESINGULAR);
  double R2[4] = {1, 2, 2, 1};  // symmetric, indefinite
  double B2[4] = {0, 0, 1, 1};
  CHECK_INT(sp_dare_solve(X, A, B2, Q, R2, 2, 2), SP_ESINGULAR);
}

TEST(unstabilisable_systems_fail_without_writing_x) {
  // an unstable mode the input cannot reach has no stabilising solution
  double A[4] = {2, 0, 0, 0.5}, B[2] = {0, 1}, Q[4] = {1, 0, 0, 1}, R[1] = {1};
  double X[4] = {7, 7, 7, 7};
  int rc = sp_dare_solve(X, A, B, Q, R, 2, 1);
  CHECK(rc == SP_ENUMERIC || rc == SP_ESINGULAR);
  double Ac[4] = {1, 0, 0, -1};
  rc = sp_care_solve(X, Ac, B, Q, R, 2, 1);
  CHECK(rc == SP_ENUMERIC || rc == SP_ESINGULAR);
  for (int i = 0; i < 4; i++) CHECK(X[i] == 7);
}

// a borrowed row-major matrix descriptor
static sp_array wrap(double* data, int64_t rows, int64_t cols) {
  return (sp_array){.data = data, .ndim = 2, .shape = {rows, cols}, .stride = {cols, 1}};
}

TEST(array_forms_check_shapes_and_solve) {
  double a[4] = {1, 0.1, 0, 1}, b[2] = {0, 0.1}, q[4] = {1, 0, 0, 1}, r[1] = {1}, x[4], qb[6] = {0};
  sp_array A = wrap(a, 2, 2), B = wrap(b, 2, 1), Q = wrap(q, 2, 2), R = wrap(r, 1, 1);
  sp_array X = wrap(x, 2, 2), Qbad = wrap(qb, 2, 3);
  CHECK_INT(sp_dare_solve_array(&X, &A, &B, &Qbad, &R), SP_ESHAPE);
  CHECK_INT(sp_care_solve_array(&X, &A, &B, &Qbad, &R), SP_ESHAPE);
  CHECK_INT(sp_dare_solve_array(&X, &A, &B, &Q, &R), 0);
  double want[4];
  CHECK_INT(sp_dare_solve(want, a, b, q, r, 2, 1), 0);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(x[i], want[i], 1e-14, 0);
}

TEST_MAIN()
