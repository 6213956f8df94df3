// tvlqr.c: the backward Riccati recursion of finite-horizon time-varying LQR (equations in
// tvlqr.h).
#include "engine/ctrl/tvlqr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/riccati.h"

int sp_tvlqr_solve(double* K, double* P0, const double* A, const double* B, const double* Q,
                   const double* R, const double* Qf, int T, int nx, int nu) {
  if (!K || !A || !B || !Q || !R || !Qf || T < 1 || nx < 1 || nu < 1) return SP_EINVAL;
  int rc = sp__lqr_check_weights(Q, R, nx, nu);
  if (!rc) rc = sp__lqr_check_weights(Qf, R, nx, nu);
  if (rc) return rc;
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu, m2 = (size_t)nu * nu;
  double* w = sp_malloc(sizeof(double) * (3 * n2 + 2 * nm + m2));
  if (!w) return SP_ENOMEM;
  double *P = w, *PA = P + n2, *Acl = PA + n2, *PB = Acl + n2, *N = PB + nm, *M = N + nm;
  memcpy(P, Qf, sizeof(double) * n2);
  for (int k = T - 1; k >= 0 && !rc; k--) {
    const double* Ak = A + (size_t)k * n2;
    const double* Bk = B + (size_t)k * nm;
    double* Kk = K + (size_t)k * nm;
    // M = R + B'PB, N = B'PA, K = M^-1 N
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nx, nx, 1.0, P, nx, Ak, nx, 0.0, PA,
                nx);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nu, nx, 1.0, P, nx, Bk, nu, 0.0, PB,
                nu);
    memcpy(M, R, sizeof(double) * m2);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nu, nu, nx, 1.0, Bk, nu, PB, nu, 1.0, M,
                nu);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nu, nx, nx, 1.0, Bk, nu, PA, nx, 0.0, N,
                nx);
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', nu, nx, M, nu, N, nx) != 0) {
      rc = SP_ESINGULAR;
      break;
    }
    memcpy(Kk, N, sizeof(double) * nm);
    // P = Q + A'P(A - BK) = Q + A' (PA - PB K)
    memcpy(Acl, PA, sizeof(double) * n2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nx, nu, -1.0, PB, nu, Kk, nx, 1.0,
                Acl, nx);
    memcpy(P, Q, sizeof(double) * n2);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nx, nx, nx, 1.0, Ak, nx, Acl, nx, 1.0, P,
                nx);
    for (int i = 0; i < nx; i++)
      for (int j = i + 1; j < nx; j++)
        P[i * nx + j] = P[j * nx + i] = 0.5 * (P[i * nx + j] + P[j * nx + i]);
    for (size_t i = 0; i < n2; i++)
      if (!isfinite(P[i])) rc = SP_ENUMERIC;
  }
  if (!rc && P0) memcpy(P0, P, sizeof(double) * n2);
  sp_free(w);
  return rc;
}

int sp_tvlqr_design(double* K, double* P0, const sp_model* m, const double* xs, const double* us,
                    const double* Q, const double* R, const double* Qf, int T) {
  if (!K || !m || !xs || !us || !Q || !R || !Qf || T < 1 || m->nx < 1 || m->nu < 1)
    return SP_EINVAL;
  int nx = m->nx, nu = m->nu;
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu;
  double* w = sp_malloc(sizeof(double) * (size_t)T * (n2 + nm));
  sp_model_data* d = NULL;
  if (!w || sp_model_data_new(&d, m)) {
    sp_free(w);
    return SP_ENOMEM;
  }
  double *A = w, *B = A + (size_t)T * n2;
  for (int k = 0; k < T; k++)
    sp_model_step_jac(m, d, NULL, A + k * n2, B + k * nm, NULL, xs + (size_t)k * nx,
                      us + (size_t)k * nu);
  sp_model_data_free(d);
  int rc = sp_tvlqr_solve(K, P0, A, B, Q, R, Qf, T, nx, nu);
  sp_free(w);
  return rc;
}
