// lqr.c: LQR gains from the Riccati solvers (engine/la/riccati.h), closed-loop eigenvalues, and
// the linear state-feedback controller u = u_ff - K (x - x_set) in the common controller form
// (ctrl.h). Its derivatives: du/dx = -K, du/dx_set = K, du/du_ff = I, du_i/dK_ij = -(x_j -
// x_set,j).
#include "engine/ctrl/lqr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"
#include "engine/la/riccati.h"

// ---- gains --------------------------------------------------------------------------------------

int sp_lqr_gain_discrete(double* K, const double* A, const double* B, const double* Q,
                         const double* R, int nx, int nu) {
  if (!K || !A || !B || !Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu, m2 = (size_t)nu * nu;
  double* w = sp_malloc(sizeof(double) * (2 * n2 + 2 * nm + m2));
  if (!w) return SP_ENOMEM;
  double *X = w, *XA = X + n2, *XB = XA + n2, *N = XB + nm, *M = N + nm;
  int rc = sp_dare_solve(X, A, B, Q, R, nx, nu);
  if (!rc) {
    // M = R + B'XB, N = B'XA, K = M^-1 N (M is positive definite)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nx, nx, 1.0, X, nx, A, nx, 0.0, XA,
                nx);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nu, nx, 1.0, X, nx, B, nu, 0.0, XB,
                nu);
    memcpy(M, R, sizeof(double) * m2);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nu, nu, nx, 1.0, B, nu, XB, nu, 1.0, M,
                nu);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nu, nx, nx, 1.0, B, nu, XA, nx, 0.0, N,
                nx);
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', nu, nx, M, nu, N, nx) != 0) rc = SP_ESINGULAR;
  }
  if (!rc) memcpy(K, N, sizeof(double) * nm);
  sp_free(w);
  return rc;
}

int sp_lqr_gain_continuous(double* K, const double* A, const double* B, const double* Q,
                           const double* R, int nx, int nu) {
  if (!K || !A || !B || !Q || !R || nx < 1 || nu < 1) return SP_EINVAL;
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu, m2 = (size_t)nu * nu;
  double* w = sp_malloc(sizeof(double) * (n2 + nm + m2));
  if (!w) return SP_ENOMEM;
  double *X = w, *N = X + n2, *L = N + nm;
  int rc = sp_care_solve(X, A, B, Q, R, nx, nu);
  if (!rc) {
    // K = R^-1 (B'X)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nu, nx, nx, 1.0, B, nu, X, nx, 0.0, N, nx);
    memcpy(L, R, sizeof(double) * m2);
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', nu, nx, L, nu, N, nx) != 0) rc = SP_ESINGULAR;
  }
  if (!rc) memcpy(K, N, sizeof(double) * nm);
  sp_free(w);
  return rc;
}

int sp_lqr_closed_loop(double* re, double* im, double* rho, double* alpha, const double* A,
                       const double* B, const double* K, int nx, int nu) {
  if (!A || !B || !K || nx < 1 || nu < 1) return SP_EINVAL;
  size_t n2 = (size_t)nx * nx;
  double* w = sp_malloc(sizeof(double) * (n2 + 2 * (size_t)nx));
  if (!w) return SP_ENOMEM;
  double *M = w, *wr = M + n2, *wi = wr + nx;
  memcpy(M, A, sizeof(double) * n2);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nx, nx, nu, -1.0, B, nu, K, nx, 1.0, M,
              nx);
  int rc = sp__eig(wr, wi, M, nx);
  if (!rc) {
    double r = 0, a = -INFINITY;
    for (int i = 0; i < nx; i++) {
      r = fmax(r, hypot(wr[i], wi[i]));
      a = fmax(a, wr[i]);
    }
    if (re) memcpy(re, wr, sizeof(double) * nx);
    if (im) memcpy(im, wi, sizeof(double) * nx);
    if (rho) *rho = r;
    if (alpha) *alpha = a;
  }
  sp_free(w);
  return rc;
}

// ---- the controller u = u_ff - K (x - x_set) ----------------------------------------------------

static void lqr_raw(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x, const double* r,
                    const double* K) {
  int nx = c->nx, nu = c->nu;
  for (int i = 0; i < nu; i++) {
    double s = r[nx + i];
    for (int j = 0; j < nx; j++) s -= K[i * nx + j] * (x[j] - r[j]);
    u[i] = s;
  }
}

static void lqr_raw_jac(const sp_ctrl* c, sp_ctrl_data* d, double* Dx, double* Dr, double* DK,
                        const double* x, const double* r, const double* K) {
  int nx = c->nx, nu = c->nu, nr = c->nr, nk = c->nk;
  for (int i = 0; i < nu; i++) {
    for (int j = 0; j < nx; j++) {
      double k = K[i * nx + j];
      if (Dx) Dx[i * nx + j] = -k;
      if (Dr) Dr[i * nr + j] = k;
    }
    if (Dr)
      for (int j = 0; j < nu; j++) Dr[i * nr + nx + j] = i == j;
    if (DK) {
      double* row = DK + (size_t)i * nk;
      memset(row, 0, sizeof(double) * (size_t)nk);
      for (int j = 0; j < nx; j++) row[i * nx + j] = -(x[j] - r[j]);
    }
  }
}

static void lqr_raw_vjp(const sp_ctrl* c, sp_ctrl_data* d, double* gx, double* gr, double* gK,
                        const double* x, const double* r, const double* K, const double* g) {
  int nx = c->nx, nu = c->nu;
  for (int i = 0; i < nu; i++) {
    double gi = g[i];
    if (gi == 0) continue;
    for (int j = 0; j < nx; j++) {
      double kg = K[i * nx + j] * gi;
      if (gx) gx[j] -= kg;
      if (gr) gr[j] += kg;
      if (gK) gK[i * nx + j] -= gi * (x[j] - r[j]);
    }
    if (gr) gr[nx + i] += gi;
  }
}

static const sp_ctrl_block lqr_gains[] = {{"K", SP_CTRL_MATRIX}};
static const sp_ctrl_block lqr_refs[] = {{"x_set", SP_CTRL_PER_STATE},
                                         {"u_ff", SP_CTRL_PER_ACTION}};

static const sp_ctrl_class lqr_class = {
    .name = "lqr",
    .ngains = 1,
    .gains = lqr_gains,
    .nrefs = 2,
    .refs = lqr_refs,
    .raw = lqr_raw,
    .raw_jac = lqr_raw_jac,
    .raw_vjp = lqr_raw_vjp,
};

int sp_lqr_new(sp_ctrl** out, const double* K0, int nx, int nu) {
  if (!out || nx < 1 || nu < 1) return SP_EINVAL;
  sp_ctrl* c;
  int rc = sp_ctrl_new_class(&c, &lqr_class, nx, nu, nx + nu, nx * nu, 0, 0);
  if (rc) return rc;
  if (K0) memcpy(c->K, K0, sizeof(double) * (size_t)nx * nu);
  *out = c;
  return 0;
}

// ---- design from a model ------------------------------------------------------------------------

int sp_lqr_design(double* K, sp_lqr_report* rep, const sp_model* m, const double* x_eq,
                  const double* u_eq, const double* Q, const double* R, sp_lqr_mode mode) {
  if (!K || !m || !x_eq || !u_eq || !Q || !R) return SP_EINVAL;
  if (mode != SP_LQR_DISCRETE && mode != SP_LQR_CONTINUOUS) return SP_EINVAL;
  int nx = m->nx, nu = m->nu;
  if (nx < 1 || nu < 1) return SP_EINVAL;
  if (mode == SP_LQR_CONTINUOUS && (m->cls->discrete || !m->cls->f_jac)) return SP_EUNSUPPORTED;
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu;
  double* w = sp_malloc(sizeof(double) * (2 * n2 + 3 * nm + nx));
  sp_model_data* d = NULL;
  if (!w || sp_model_data_new(&d, m)) {
    sp_free(w);
    return SP_ENOMEM;
  }
  double *A = w, *B = A + n2, *Fx = B + nm, *Fu = Fx + n2, *Kt = Fu + nm, *xn = Kt + nm;
  sp_lqr_report r = {.rho = NAN, .alpha = NAN, .drift = 0};

  // the step Jacobians always: the discrete design uses them, and both designs are judged on them
  sp_model_step_jac(m, d, xn, A, B, NULL, x_eq, u_eq);
  for (int i = 0; i < nx; i++) r.drift = fmax(r.drift, fabs(xn[i] - x_eq[i]));
  int rc;
  if (mode == SP_LQR_DISCRETE) {
    rc = sp_lqr_gain_discrete(Kt, A, B, Q, R, nx, nu);
  } else {
    m->cls->f_jac(m, Fx, Fu, NULL, x_eq, u_eq, m->p);
    rc = sp_lqr_gain_continuous(Kt, Fx, Fu, Q, R, nx, nu);
    if (!rc) rc = sp_lqr_closed_loop(NULL, NULL, NULL, &r.alpha, Fx, Fu, Kt, nx, nu);
  }
  if (!rc) rc = sp_lqr_closed_loop(NULL, NULL, &r.rho, NULL, A, B, Kt, nx, nu);
  if (!rc) {
    memcpy(K, Kt, sizeof(double) * nm);
    if (rep) *rep = r;
  }
  sp_model_data_free(d);
  sp_free(w);
  return rc;
}
