// la.c: LAPACKE wrappers for row-major matrices (see la.h; LAPACK Users' Guide, 3rd ed.).
#include "la.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

static int finite_all(const double* A, long long count) {
  for (long long i = 0; i < count; i++)
    if (!isfinite(A[i])) return 0;
  return 1;
}

// a scratch copy of A (count elements), or NULL
static double* dup(const double* A, long long count) {
  double* c = sp_malloc((size_t)(count > 0 ? count : 1) * sizeof(double));
  if (c && count > 0) memcpy(c, A, (size_t)count * sizeof(double));
  return c;
}

int sp_la_solve(double* X, const double* A, const double* B, int n, int nrhs) {
  if (n < 0 || nrhs < 0) return SP_EINVAL;
  if (n == 0 || nrhs == 0) return SP_OK;
  long long nn = (long long)n * n, nb = (long long)n * nrhs;
  if (!finite_all(A, nn) || !finite_all(B, nb)) return SP_ENUMERIC;
  double* lu = dup(A, nn);
  lapack_int* piv = sp_malloc((size_t)n * sizeof(lapack_int));
  int rc = SP_ENOMEM;
  if (lu && piv) {
    if (X != B) memcpy(X, B, (size_t)nb * sizeof(double));
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, lu, n, piv, X, nrhs);
    rc = info == 0 ? SP_OK : info > 0 ? SP_ESINGULAR : SP_EINVAL;
  }
  sp_free(lu);
  sp_free(piv);
  return rc;
}

int sp_la_inv(double* Ainv, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  if (n == 0) return SP_OK;
  long long nn = (long long)n * n;
  if (!finite_all(A, nn)) return SP_ENUMERIC;
  lapack_int* piv = sp_malloc((size_t)n * sizeof(lapack_int));
  if (!piv) return SP_ENOMEM;
  if (Ainv != A) memcpy(Ainv, A, (size_t)nn * sizeof(double));
  lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, Ainv, n, piv);
  if (info == 0) info = LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, Ainv, n, piv);
  sp_free(piv);
  return info == 0 ? SP_OK : info > 0 ? SP_ESINGULAR : SP_EINVAL;
}

int sp_la_det(double* det, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  *det = 1;
  if (n == 0) return SP_OK;
  long long nn = (long long)n * n;
  if (!finite_all(A, nn)) return SP_ENUMERIC;
  double* lu = dup(A, nn);
  lapack_int* piv = sp_malloc((size_t)n * sizeof(lapack_int));
  int rc = SP_ENOMEM;
  if (lu && piv) {
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, lu, n, piv);
    if (info < 0) {
      rc = SP_EINVAL;
    } else {
      // det = (-1)^(row swaps) * prod(diag(U))
      double d = 1;
      for (int i = 0; i < n; i++) {
        d *= lu[(long long)i * n + i];
        if (piv[i] != i + 1) d = -d;
      }
      *det = info > 0 ? 0 : d;
      rc = SP_OK;
    }
  }
  sp_free(lu);
  sp_free(piv);
  return rc;
}

int sp_la_cholesky(double* L, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  if (n == 0) return SP_OK;
  long long nn = (long long)n * n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++)
      if (!isfinite(A[(long long)i * n + j])) return SP_ENUMERIC;
  if (L != A) memcpy(L, A, (size_t)nn * sizeof(double));
  lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, L, n);
  if (info != 0) return info > 0 ? SP_ESINGULAR : SP_EINVAL;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) L[(long long)i * n + j] = 0;
  return SP_OK;
}

int sp_la_qr(double* Q, double* R, const double* A, int m, int n) {
  if (m < 0 || n < 0) return SP_EINVAL;
  int k = m < n ? m : n;
  if (k == 0) return SP_OK;
  long long mn = (long long)m * n;
  if (!finite_all(A, mn)) return SP_ENUMERIC;
  double* a = dup(A, mn);
  double* tau = sp_malloc((size_t)k * sizeof(double));
  int rc = SP_ENOMEM;
  if (a && tau) {
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, a, n, tau);
    if (info == 0) {
      // R is the upper triangle of the first k rows
      for (int i = 0; i < k; i++)
        for (int j = 0; j < n; j++) R[(long long)i * n + j] = j >= i ? a[(long long)i * n + j] : 0;
      // Q from the Householder reflectors in the first k columns
      info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, k, k, a, n, tau);
    }
    if (info == 0)
      for (int i = 0; i < m; i++)
        memcpy(Q + (long long)i * k, a + (long long)i * n, (size_t)k * sizeof(double));
    rc = info == 0 ? SP_OK : SP_EINVAL;
  }
  sp_free(a);
  sp_free(tau);
  return rc;
}

int sp_la_svd(double* U, double* S, double* Vt, const double* A, int m, int n) {
  if (m < 0 || n < 0) return SP_EINVAL;
  int k = m < n ? m : n;
  if (k == 0) return SP_OK;
  long long mn = (long long)m * n;
  if (!finite_all(A, mn)) return SP_ENUMERIC;
  double* a = dup(A, mn);
  if (!a) return SP_ENOMEM;
  lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, a, n, S, U, k, Vt, n);
  sp_free(a);
  return info == 0 ? SP_OK : info > 0 ? SP_ENUMERIC : SP_EINVAL;
}

int sp_la_eig(double* wr, double* wi, double* V, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  if (n == 0) return SP_OK;
  long long nn = (long long)n * n;
  if (!finite_all(A, nn)) return SP_ENUMERIC;
  double* a = dup(A, nn);
  if (!a) return SP_ENOMEM;
  double dummy = 0;
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', V ? 'V' : 'N', n, a, n, wr, wi, &dummy, 1,
                                  V ? V : &dummy, V ? n : 1);
  sp_free(a);
  return info == 0 ? SP_OK : info > 0 ? SP_ENUMERIC : SP_EINVAL;
}

int sp_la_eigh(double* w, double* V, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  if (n == 0) return SP_OK;
  long long nn = (long long)n * n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++)
      if (!isfinite(A[(long long)i * n + j])) return SP_ENUMERIC;
  double* a = V ? V : sp_malloc((size_t)nn * sizeof(double));
  if (!a) return SP_ENOMEM;
  if (a != A) memcpy(a, A, (size_t)nn * sizeof(double));
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, V ? 'V' : 'N', 'L', n, a, n, w);
  if (!V) sp_free(a);
  return info == 0 ? SP_OK : info > 0 ? SP_ENUMERIC : SP_EINVAL;
}

int sp_la_spectral_radius(double* rho, const double* A, int n) {
  if (n < 0) return SP_EINVAL;
  *rho = 0;
  if (n == 0) return SP_OK;
  double* w = sp_malloc(2 * (size_t)n * sizeof(double));
  if (!w) return SP_ENOMEM;
  int rc = sp_la_eig(w, w + n, NULL, A, n);
  if (!rc)
    for (int i = 0; i < n; i++) *rho = fmax(*rho, hypot(w[i], w[n + i]));
  sp_free(w);
  return rc;
}
