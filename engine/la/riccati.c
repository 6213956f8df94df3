// riccati.c: DARE by structure-preserving doubling, CARE by the ordered Schur form of the
// Hamiltonian (see riccati.h for the equations, sources and the checks made on the result).
#include "engine/la/riccati.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define SDA_MAXIT 100
#define SDA_TOL 1e-14
#define RES_TOL 1e-8
#define SYM_TOL 1e-10

// ---- small dense helpers (row-major) ----------------------------------------------------------

static double fro(const double* M, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += M[i] * M[i];
  return sqrt(s);
}

static int all_finite(const double* M, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(M[i])) return 0;
  return 1;
}

static void symmetrise(double* M, int n) {
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      M[i * n + j] = M[j * n + i] = 0.5 * (M[i * n + j] + M[j * n + i]);
}

// C = alpha op(A) op(B) + beta C, all row-major with the given logical sizes
static void gemm(int ta, int tb, int m, int n, int k, double alpha, const double* A,
                 const double* B, double beta, double* C) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A, ta ? m : k, B, tb ? k : n, beta, C, n);
}

static int is_symmetric(const double* M, int n) {
  double scale = 0;
  for (int i = 0; i < n * n; i++) scale = fmax(scale, fabs(M[i]));
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (fabs(M[i * n + j] - M[j * n + i]) > SYM_TOL * scale) return 0;
  return 1;
}

int sp__eig(double* re, double* im, const double* M, int n) {
  if (!re || !im || !M || n < 1) return SP_EINVAL;
  double* W = sp_malloc(sizeof(double) * (size_t)n * n);
  if (!W) return SP_ENOMEM;
  memcpy(W, M, sizeof(double) * (size_t)n * n);
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', n, W, n, re, im, NULL, 1, NULL, 1);
  sp_free(W);
  return info == 0 ? 0 : SP_ENUMERIC;
}

int sp__lqr_check_weights(const double* Q, const double* R, int nx, int nu) {
  if (!Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  if (!all_finite(Q, nx * nx) || !all_finite(R, nu * nu)) return SP_EINVAL;
  if (!is_symmetric(Q, nx) || !is_symmetric(R, nu)) return SP_EINVAL;
  int n = nx > nu ? nx : nu;
  double* W = sp_malloc(sizeof(double) * ((size_t)n * n + n));
  if (!W) return SP_ENOMEM;
  int rc = 0;
  // R positive definite: its Cholesky factorisation exists
  memcpy(W, R, sizeof(double) * (size_t)nu * nu);
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', nu, W, nu) != 0) rc = SP_ESINGULAR;
  // Q positive semi-definite: no eigenvalue below -1e-10 of its largest magnitude
  if (!rc) {
    memcpy(W, Q, sizeof(double) * (size_t)nx * nx);
    double* ev = W + (size_t)n * n;
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'L', nx, W, nx, ev) != 0) {
      rc = SP_ENUMERIC;
    } else {
      double big = fmax(fabs(ev[0]), fabs(ev[nx - 1]));
      if (ev[0] < -SYM_TOL * fmax(big, 1e-300)) rc = SP_EINVAL;
    }
  }
  sp_free(W);
  return rc;
}

// validate sizes, symmetry and definiteness of the weights (see riccati.h for the codes)
static int check_args(const double* X, const double* A, const double* B, const double* Q,
                      const double* R, int nx, int nu) {
  if (!X || !A || !B || !Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  if (!all_finite(A, nx * nx) || !all_finite(B, nx * nu)) return SP_EINVAL;
  return sp__lqr_check_weights(Q, R, nx, nu);
}

// G = B R^-1 B' (nx x nx); Z (nu x nx) and L (nu x nu) are scratch
static int input_gramian(double* G, double* Z, double* L, const double* B, const double* R, int nx,
                         int nu) {
  memcpy(L, R, sizeof(double) * (size_t)nu * nu);
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', nu, L, nu) != 0) return SP_ESINGULAR;
  for (int i = 0; i < nu; i++)
    for (int j = 0; j < nx; j++) Z[i * nx + j] = B[j * nu + i];
  if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', nu, nx, L, nu, Z, nx) != 0) return SP_ESINGULAR;
  gemm(0, 0, nx, nx, nu, 1.0, B, Z, 0.0, G);
  symmetrise(G, nx);
  return 0;
}

// ---- residuals ----------------------------------------------------------------------------------

// DARE residual; when K is not NULL it also receives the LQR gain (R + B'XB)^-1 B'XA (nu x nx)
static int dare_residual(double* res, double* K, const double* X, const double* A, const double* B,
                         const double* Q, const double* R, int nx, int nu) {
  size_t n2 = (size_t)nx * nx, m2 = (size_t)nu * nu, nm = (size_t)nx * nu;
  double* w = sp_malloc(sizeof(double) * (4 * n2 + m2 + 3 * nm) + sizeof(lapack_int) * nu);
  if (!w) return SP_ENOMEM;
  double *XA = w, *AXA = XA + n2, *T3 = AXA + n2, *E = T3 + n2, *M = E + n2, *XB = M + m2,
         *N = XB + nm, *MN = N + nm;
  lapack_int* piv = (lapack_int*)(MN + nm);
  gemm(0, 0, nx, nx, nx, 1.0, X, A, 0.0, XA);
  gemm(1, 0, nx, nx, nx, 1.0, A, XA, 0.0, AXA);
  gemm(0, 0, nx, nu, nx, 1.0, X, B, 0.0, XB);
  memcpy(M, R, sizeof(double) * m2);
  gemm(1, 0, nu, nu, nx, 1.0, B, XB, 1.0, M);  // M = R + B'XB
  gemm(1, 0, nu, nx, nx, 1.0, B, XA, 0.0, N);  // N = B'XA
  memcpy(MN, N, sizeof(double) * nm);
  int rc = 0;
  if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, nu, nx, M, nu, piv, MN, nx) != 0) {
    rc = SP_ESINGULAR;
  } else {
    gemm(1, 0, nx, nx, nu, 1.0, N, MN, 0.0, T3);  // N' M^-1 N
    for (size_t i = 0; i < n2; i++) E[i] = AXA[i] - X[i] - T3[i] + Q[i];
    double scale = fro(AXA, nx * nx) + fro(X, nx * nx) + fro(T3, nx * nx) + fro(Q, nx * nx);
    *res = fro(E, nx * nx) / fmax(scale, 1e-300);
    if (K) memcpy(K, MN, sizeof(double) * nm);
  }
  sp_free(w);
  return rc;
}

int sp_dare_residual(double* res, const double* X, const double* A, const double* B,
                     const double* Q, const double* R, int nx, int nu) {
  if (!res || !X || !A || !B || !Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  return dare_residual(res, NULL, X, A, B, Q, R, nx, nu);
}

// CARE residual; when Acl is not NULL it also receives A - GX (nx x nx)
static int care_residual(double* res, double* Acl, const double* X, const double* A,
                         const double* B, const double* Q, const double* R, int nx, int nu) {
  size_t n2 = (size_t)nx * nx;
  double* w = sp_malloc(sizeof(double) * (5 * n2 + (size_t)nu * nx + (size_t)nu * nu));
  if (!w) return SP_ENOMEM;
  double *G = w, *AX = G + n2, *GX = AX + n2, *XGX = GX + n2, *E = XGX + n2, *Z = E + n2,
         *L = Z + (size_t)nu * nx;
  int rc = input_gramian(G, Z, L, B, R, nx, nu);
  if (!rc) {
    gemm(1, 0, nx, nx, nx, 1.0, A, X, 0.0, AX);  // A'X
    gemm(0, 0, nx, nx, nx, 1.0, G, X, 0.0, GX);
    gemm(0, 0, nx, nx, nx, 1.0, X, GX, 0.0, XGX);
    for (int i = 0; i < nx; i++)
      for (int j = 0; j < nx; j++) {
        size_t ij = (size_t)i * nx + j, ji = (size_t)j * nx + i;
        E[ij] = AX[ij] + AX[ji] - XGX[ij] + Q[ij];
      }
    double scale = 2 * fro(AX, nx * nx) + fro(XGX, nx * nx) + fro(Q, nx * nx);
    *res = fro(E, nx * nx) / fmax(scale, 1e-300);
    if (Acl)
      for (size_t i = 0; i < n2; i++) Acl[i] = A[i] - GX[i];
  }
  sp_free(w);
  return rc;
}

int sp_care_residual(double* res, const double* X, const double* A, const double* B,
                     const double* Q, const double* R, int nx, int nu) {
  if (!res || !X || !A || !B || !Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  return care_residual(res, NULL, X, A, B, Q, R, nx, nu);
}

// ---- DARE by doubling ---------------------------------------------------------------------------

int sp_dare_solve(double* X, const double* A, const double* B, const double* Q, const double* R,
                  int nx, int nu) {
  int rc = check_args(X, A, B, Q, R, nx, nu);
  if (rc) return rc;
  size_t n2 = (size_t)nx * nx;
  double* w = sp_malloc(sizeof(double) * (9 * n2 + (size_t)nu * nx + (size_t)nu * nu +
                                          (size_t)nu * nx + 2 * (size_t)nx) +
                        sizeof(lapack_int) * nx);
  if (!w) return SP_ENOMEM;
  double *Ak = w, *Gk = Ak + n2, *Hk = Gk + n2, *W = Hk + n2, *V1 = W + n2, *V2 = V1 + n2,
         *T = V2 + n2, *An = T + n2, *Hn = An + n2, *Z = Hn + n2, *L = Z + (size_t)nu * nx,
         *K = L + (size_t)nu * nu, *re = K + (size_t)nu * nx, *im = re + nx;
  lapack_int* piv = (lapack_int*)(im + nx);

  memcpy(Ak, A, sizeof(double) * n2);
  memcpy(Hk, Q, sizeof(double) * n2);
  rc = input_gramian(Gk, Z, L, B, R, nx, nu);
  int converged = 0;
  for (int it = 0; !rc && it < SDA_MAXIT; it++) {
    // W = I + G H, factorised once and used for both solves
    gemm(0, 0, nx, nx, nx, 1.0, Gk, Hk, 0.0, W);
    for (int i = 0; i < nx; i++) W[i * nx + i] += 1.0;
    if (LAPACKE_dgetrf(LAPACK_ROW_MAJOR, nx, nx, W, nx, piv) != 0) {
      rc = SP_ESINGULAR;
      break;
    }
    memcpy(V1, Ak, sizeof(double) * n2);
    memcpy(V2, Gk, sizeof(double) * n2);
    LAPACKE_dgetrs(LAPACK_ROW_MAJOR, 'N', nx, nx, W, nx, piv, V1, nx);  // W^-1 A
    LAPACKE_dgetrs(LAPACK_ROW_MAJOR, 'N', nx, nx, W, nx, piv, V2, nx);  // W^-1 G
    // H+ = H + A'H W^-1 A
    gemm(0, 0, nx, nx, nx, 1.0, Hk, V1, 0.0, T);
    memcpy(Hn, Hk, sizeof(double) * n2);
    gemm(1, 0, nx, nx, nx, 1.0, Ak, T, 1.0, Hn);
    // G+ = G + A W^-1 G A'
    gemm(0, 1, nx, nx, nx, 1.0, V2, Ak, 0.0, T);
    gemm(0, 0, nx, nx, nx, 1.0, Ak, T, 1.0, Gk);
    // A+ = A W^-1 A
    gemm(0, 0, nx, nx, nx, 1.0, Ak, V1, 0.0, An);
    symmetrise(Hn, nx);
    symmetrise(Gk, nx);
    if (!all_finite(Hn, nx * nx) || !all_finite(Gk, nx * nx) || !all_finite(An, nx * nx)) {
      rc = SP_ENUMERIC;
      break;
    }
    for (size_t i = 0; i < n2; i++) T[i] = Hn[i] - Hk[i];
    double change = fro(T, nx * nx) / fmax(fro(Hn, nx * nx), 1e-300);
    memcpy(Hk, Hn, sizeof(double) * n2);
    memcpy(Ak, An, sizeof(double) * n2);
    if (change <= SDA_TOL || fro(Ak, nx * nx) == 0) {
      converged = 1;
      break;
    }
  }
  if (!rc && !converged) rc = SP_ENUMERIC;

  // accept only a small residual and a stable closed loop A - BK
  if (!rc) {
    double res;
    rc = dare_residual(&res, K, Hk, A, B, Q, R, nx, nu);
    if (!rc && !(res <= RES_TOL)) rc = SP_ENUMERIC;
  }
  if (!rc) {
    memcpy(T, A, sizeof(double) * n2);
    gemm(0, 0, nx, nx, nu, -1.0, B, K, 1.0, T);
    rc = sp__eig(re, im, T, nx);
    for (int i = 0; !rc && i < nx; i++)
      if (!(hypot(re[i], im[i]) < 1.0)) rc = SP_ENUMERIC;
  }
  if (!rc) memcpy(X, Hk, sizeof(double) * n2);
  sp_free(w);
  return rc;
}

// ---- CARE by the ordered Schur form of the Hamiltonian ------------------------------------------

static lapack_logical stable_half(const double* wr, const double* wi) {
  (void)wi;
  return *wr < 0.0;
}

int sp_care_solve(double* X, const double* A, const double* B, const double* Q, const double* R,
                  int nx, int nu) {
  int rc = check_args(X, A, B, Q, R, nx, nu);
  if (rc) return rc;
  int n = nx, n2h = 2 * nx;
  size_t n2 = (size_t)n * n, h2 = (size_t)n2h * n2h;
  double* w = sp_malloc(
      sizeof(double) * (2 * h2 + 5 * n2 + (size_t)nu * nx + (size_t)nu * nu + 2 * (size_t)n2h) +
      sizeof(lapack_int) * n);
  if (!w) return SP_ENOMEM;
  double *H = w, *U = H + h2, *G = U + h2, *U11t = G + n2, *Xt = U11t + n2, *Acl = Xt + n2,
         *Xs = Acl + n2, *Z = Xs + n2, *L = Z + (size_t)nu * nx, *wr = L + (size_t)nu * nu,
         *wi = wr + n2h;
  lapack_int* piv = (lapack_int*)(wi + n2h);

  // H = [A, -G; -Q, -A']
  rc = input_gramian(G, Z, L, B, R, nx, nu);
  for (int i = 0; !rc && i < n; i++)
    for (int j = 0; j < n; j++) {
      H[(size_t)i * n2h + j] = A[i * n + j];
      H[(size_t)i * n2h + n + j] = -G[i * n + j];
      H[(size_t)(n + i) * n2h + j] = -Q[i * n + j];
      H[(size_t)(n + i) * n2h + n + j] = -A[j * n + i];
    }
  // ordered real Schur form: stable eigenvalues first; exactly n of them for a solution to exist
  if (!rc) {
    lapack_int sdim = 0;
    lapack_int info =
        LAPACKE_dgees(LAPACK_ROW_MAJOR, 'V', 'S', stable_half, n2h, H, n2h, &sdim, wr, wi, U, n2h);
    if (info != 0 || sdim != n) rc = SP_ENUMERIC;
  }
  // X U11 = U21  <=>  U11' X' = U21'
  if (!rc) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        U11t[j * n + i] = U[(size_t)i * n2h + j];
        Xt[j * n + i] = U[(size_t)(n + i) * n2h + j];
      }
    if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, n, U11t, n, piv, Xt, n) != 0) rc = SP_ESINGULAR;
  }
  if (!rc) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) Xs[i * n + j] = Xt[j * n + i];
    symmetrise(Xs, n);
    if (!all_finite(Xs, n * n)) rc = SP_ENUMERIC;
  }
  // accept only a small residual and a stable closed loop A - GX
  if (!rc) {
    double res;
    rc = care_residual(&res, Acl, Xs, A, B, Q, R, nx, nu);
    if (!rc && !(res <= RES_TOL)) rc = SP_ENUMERIC;
  }
  if (!rc) {
    rc = sp__eig(wr, wi, Acl, n);
    for (int i = 0; !rc && i < n; i++)
      if (!(wr[i] < 0.0)) rc = SP_ENUMERIC;
  }
  if (!rc) memcpy(X, Xs, sizeof(double) * n2);
  sp_free(w);
  return rc;
}

// ---- array forms --------------------------------------------------------------------------------

// a 2-D row-major array of the given shape without gaps (checked here, not through array.c, so
// the solvers stay usable without the array library)
static int is_matrix(const sp_array* a, int64_t rows, int64_t cols) {
  return a && a->data && a->ndim == 2 && a->shape[0] == rows && a->shape[1] == cols &&
         (rows == 1 || a->stride[0] == cols) && (cols == 1 || a->stride[1] == 1);
}

static int check_shapes(const sp_array* X, const sp_array* A, const sp_array* B, const sp_array* Q,
                        const sp_array* R, int* nx, int* nu) {
  if (!X || !A || !B || !Q || !R) return SP_EINVAL;
  if (A->ndim != 2 || B->ndim != 2) return SP_ESHAPE;
  int64_t n = A->shape[0], m = B->shape[1];
  if (n < 1 || m < 1 || n > 1 << 15 || m > 1 << 15) return SP_ESHAPE;
  if (!is_matrix(A, n, n) || !is_matrix(B, n, m) || !is_matrix(Q, n, n) || !is_matrix(R, m, m) ||
      !is_matrix(X, n, n))
    return SP_ESHAPE;
  *nx = (int)n;
  *nu = (int)m;
  return 0;
}

int sp_dare_solve_array(sp_array* X, const sp_array* A, const sp_array* B, const sp_array* Q,
                        const sp_array* R) {
  int nx, nu, rc = check_shapes(X, A, B, Q, R, &nx, &nu);
  return rc ? rc : sp_dare_solve(X->data, A->data, B->data, Q->data, R->data, nx, nu);
}

int sp_care_solve_array(sp_array* X, const sp_array* A, const sp_array* B, const sp_array* Q,
                        const sp_array* R) {
  int nx, nu, rc = check_shapes(X, A, B, Q, R, &nx, &nu);
  return rc ? rc : sp_care_solve(X->data, A->data, B->data, Q->data, R->data, nx, nu);
}
