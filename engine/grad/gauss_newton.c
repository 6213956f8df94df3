// gauss_newton.c: Gauss-Newton / Levenberg-Marquardt steps with a trust region on the action
// change, for method 1's policies (equations in gauss_newton.h and docs/api/policy_grad.md).
//
//   forward   dx[0] = 0,  du[k] = Px[k] dx[k] + Pt[k] v,  dx[k+1] = A[k] dx[k] + B[k] du[k]
//   weight    y[k] = H[k] (dx[k], du[k])
//   adjoint   lam[T] = y_x[T];  mu[k] = y_u[k] + B[k]^T lam[k+1]
//             lam[k] = y_x[k] + A[k]^T lam[k+1] + Px[k]^T mu[k];  (G v) += Pt[k]^T mu[k]
// With y[k] = grad c[k] instead of H[k] dz[k] the adjoint is feedback.c's gradient.
#include "engine/grad/gauss_newton.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

// parameter damping relative to the mean action-metric eigenvalue in the subspace: without it a
// step may move the parameters far along directions whose first-order action changes cancel
// (e.g. two reference corrections that offset each other), and the network's curvature then
// moves the actions far more than |d|_D predicts (measured on the car: 15x at eps = 1e-6)
#define SP_GN_EPS 0.1

int sp__grad_check(const sp_policy* p, const sp_model* m, const sp_objective* obj,
                   const sp_trajview* tr);

// cyclic Jacobi eigen-decomposition of a symmetric a (n x n, destroyed): w (n) eigenvalues,
// V (n x n) eigenvectors as columns
static void jacobi_eigh(double* w, double* V, double* a, int n) {
  for (int i = 0; i < n * n; i++) V[i] = 0;
  for (int i = 0; i < n; i++) V[i * n + i] = 1;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, tot = 0;
    for (int p = 0; p < n; p++)
      for (int q = 0; q < n; q++) {
        double v = a[p * n + q] * a[p * n + q];
        tot += v;
        if (p != q) off += v;
      }
    if (off <= 1e-30 * tot) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = a[p * n + q];
        if (apq == 0) continue;
        // the rotation that zeroes a[p][q]: t = tan of its angle
        double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) {
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; k++) {
          double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  for (int i = 0; i < n; i++) w[i] = a[i * n + i];
}

static double dot(const double* a, const double* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static void axpy(double* y, double a, const double* x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

int sp_gn_new(sp_gn** out, const sp_policy* p, const sp_gn_config* cfg) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!p || p->nparams < 1) return SP_EINVAL;
  sp_gn_config c = {30, 0.05, 1e-4, 1, 0, 0.65, 0};
  if (cfg) {
    if (cfg->subspace < 0 || cfg->subspace > 1000 || !(cfg->radius >= 0) ||
        !(cfg->radius_min >= 0) || !(cfg->radius_max >= 0) || !isfinite(cfg->eta) ||
        !(cfg->max_decrease >= 0) || cfg->max_decrease > 1 || cfg->fit < 0 || cfg->fit > 1)
      return SP_EINVAL;
    if (cfg->subspace) c.subspace = cfg->subspace;
    if (cfg->radius > 0) c.radius = cfg->radius;
    if (cfg->radius_min > 0) c.radius_min = cfg->radius_min;
    if (cfg->radius_max > 0) c.radius_max = cfg->radius_max;
    c.eta = cfg->eta;
    if (cfg->max_decrease > 0) c.max_decrease = cfg->max_decrease;
    c.fit = cfg->fit;
    if (c.radius_min > c.radius_max) return SP_EINVAL;
  }
  if ((size_t)c.subspace > p->nparams) c.subspace = (int)p->nparams;
  sp_gn* gn = sp_calloc(1, sizeof *gn);
  if (!gn) return SP_ENOMEM;
  gn->nx = p->nx, gn->nu = p->nu, gn->nz = p->nx + p->nu, gn->np = p->nparams;
  gn->cfg = c;
  gn->mcap = c.subspace;
  gn->radius = c.radius;
  size_t np = gn->np, mc = (size_t)gn->mcap;
  gn->g = sp_calloc(np, sizeof(double));
  gn->theta0 = sp_calloc(np, sizeof(double));
  gn->vec = sp_calloc(4 * (size_t)gn->nz, sizeof(double));
  gn->V = sp_calloc(mc * np, sizeof(double));
  gn->GV = sp_calloc(mc * np, sizeof(double));
  gn->Gm = sp_calloc(mc * mc, sizeof(double));
  gn->Dm = sp_calloc(mc * mc, sizeof(double));
  gn->gm = sp_calloc(mc, sizeof(double));
  gn->sm = sp_calloc(6 * mc * mc + 4 * mc, sizeof(double));
  gn->alt.g = sp_calloc(np, sizeof(double));
  gn->alt.V = sp_calloc(mc * np, sizeof(double));
  gn->alt.Gm = sp_calloc(mc * mc, sizeof(double));
  gn->alt.Dm = sp_calloc(mc * mc, sizeof(double));
  gn->alt.gm = sp_calloc(mc, sizeof(double));
  gn->dalt = sp_calloc(np, sizeof(double));
  if (!gn->g || !gn->theta0 || !gn->vec || !gn->V || !gn->GV || !gn->Gm || !gn->Dm || !gn->gm ||
      !gn->sm || !gn->alt.g || !gn->alt.V || !gn->alt.Gm || !gn->alt.Dm || !gn->alt.gm ||
      !gn->dalt) {
    sp_gn_free(gn);
    return SP_ENOMEM;
  }
  *out = gn;
  return 0;
}

static void free_caches(sp_gn* gn) {
  sp_free(gn->A), sp_free(gn->B), sp_free(gn->Px), sp_free(gn->Pt), sp_free(gn->H);
  sp_free(gn->cg), sp_free(gn->dz), sp_free(gn->W);
  gn->A = gn->B = gn->Px = gn->Pt = gn->H = gn->cg = gn->dz = gn->W = NULL;
  gn->Tcap = 0;
}

void sp_gn_free(sp_gn* gn) {
  if (!gn) return;
  free_caches(gn);
  sp_free(gn->g), sp_free(gn->theta0), sp_free(gn->vec), sp_free(gn->V), sp_free(gn->GV);
  sp_free(gn->Gm), sp_free(gn->Dm), sp_free(gn->gm), sp_free(gn->sm);
  sp_free(gn->alt.g), sp_free(gn->alt.V), sp_free(gn->alt.Gm), sp_free(gn->alt.Dm);
  sp_free(gn->alt.gm), sp_free(gn->dalt), sp_free(gn->pfit);
  sp_free(gn);
}

static int reserve(sp_gn* gn, int T) {
  if (T <= gn->Tcap) return 0;
  free_caches(gn);
  size_t t = (size_t)T, nx = gn->nx, nu = gn->nu, nz = gn->nz;
  gn->A = sp_malloc(sizeof(double) * t * nx * nx);
  gn->B = sp_malloc(sizeof(double) * t * nx * nu);
  gn->Px = sp_malloc(sizeof(double) * t * nu * nx);
  gn->Pt = sp_malloc(sizeof(double) * t * nu * gn->np);
  gn->H = sp_malloc(sizeof(double) * (t + 1) * nz * nz);
  gn->cg = sp_malloc(sizeof(double) * (t + 1) * nz);
  gn->dz = sp_malloc(sizeof(double) * (t + 1) * nz);
  gn->W = sp_malloc(sizeof(double) * (size_t)gn->mcap * t * nu);
  if (!gn->A || !gn->B || !gn->Px || !gn->Pt || !gn->H || !gn->cg || !gn->dz || !gn->W) {
    free_caches(gn);
    return SP_ENOMEM;
  }
  gn->Tcap = T;
  return 0;
}

// the cost's gradient in z = (x, u) at step k into gz (nz; u part zero at k = T)
static int cost_grad(const sp_objective* obj, double* c, double* gz, double* ref, double* tmp,
                     const double* z, double t, int k, int T, int nx, int nu) {
  return sp__objective_step(obj, c, gz, k < T ? gz + nx : NULL, ref, tmp, z, k < T ? z + nx : NULL,
                            t, k, T, nx, nu);
}

// H (nz x nz) = PSD part of the cost's Hessian at step k, by central differences of its gradient.
// work: 4 nz + nz * nz * 3 doubles
static int cost_hessian(const sp_objective* obj, double* H, double* work, double* ref, double* tmp,
                        const double* x, const double* u, double t, int k, int T, int nx, int nu) {
  int nz = nx + nu, n = k < T ? nz : nx;
  double *z = work, *gp = z + nz, *gm = gp + nz, *w = gm + nz, *S = w + nz, *V = S + nz * nz;
  memcpy(z, x, sizeof(double) * nx);
  if (k < T) memcpy(z + nx, u, sizeof(double) * nu);
  memset(H, 0, sizeof(double) * nz * nz);
  if (k < T && k < obj->k0) return 0;
  double c;
  for (int i = 0; i < n; i++) {
    double zi = z[i], h = 1e-5 * fmax(1, fabs(zi));
    z[i] = zi + h;
    int rc = cost_grad(obj, &c, gp, ref, tmp, z, t, k, T, nx, nu);
    z[i] = zi - h;
    if (!rc) rc = cost_grad(obj, &c, gm, ref, tmp, z, t, k, T, nx, nu);
    z[i] = zi;
    if (rc) return rc;
    for (int j = 0; j < n; j++) S[j * n + i] = (gp[j] - gm[j]) / (2 * h);
  }
  // symmetrise, then keep the non-negative eigenvalues
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) S[i * n + j] = S[j * n + i] = 0.5 * (S[i * n + j] + S[j * n + i]);
  int any = 0;
  for (int i = 0; i < n * n; i++) any |= S[i] != 0;
  if (!any) return 0;
  jacobi_eigh(w, V, S, n);
  for (int e = 0; e < n; e++) {
    if (!(w[e] > 0)) continue;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) H[i * nz + j] += w[e] * V[i * n + e] * V[j * n + e];
  }
  return 0;
}

// the adjoint pass: out (np) = sum_k Pt[k]^T mu[k] for per-step z-gradients y[k] = src[k]
// (hess = 0) or H[k] src[k] (hess = 1); overwrites out
static void backward(sp_gn* gn, double* out, const double* src, int hess) {
  int nx = gn->nx, nu = gn->nu, nz = gn->nz, T = gn->T;
  size_t np = gn->np;
  double *lam = gn->vec, *lam_k = lam + nz, *y = lam_k + nz, *mu = y + nz;
  memset(out, 0, sizeof(double) * np);
  for (int k = T; k >= 0; k--) {
    const double* s = src + (size_t)k * nz;
    if (hess) {
      const double* H = gn->H + (size_t)k * nz * nz;
      for (int i = 0; i < nz; i++) y[i] = dot(H + (size_t)i * nz, s, nz);
    } else {
      memcpy(y, s, sizeof(double) * nz);
    }
    if (k == T) {
      memcpy(lam, y, sizeof(double) * nx);
      continue;
    }
    const double* A = gn->A + (size_t)k * nx * nx;
    const double* B = gn->B + (size_t)k * nx * nu;
    const double* Px = gn->Px + (size_t)k * nu * nx;
    const double* Pt = gn->Pt + (size_t)k * nu * np;
    // mu = y_u + B^T lam[k+1]
    for (int j = 0; j < nu; j++) {
      double v = y[nx + j];
      for (int i = 0; i < nx; i++) v += B[i * nu + j] * lam[i];
      mu[j] = v;
    }
    // lam[k] = y_x + A^T lam[k+1] + Px^T mu; at a segment start only y_x flows back
    int cut = gn->segment > 0 && k > 0 && k % gn->segment == 0;
    for (int j = 0; j < nx; j++) {
      double v = y[j];
      if (!cut) {
        for (int i = 0; i < nx; i++) v += A[i * nx + j] * lam[i];
        for (int i = 0; i < nu; i++) v += Px[i * nx + j] * mu[i];
      }
      lam_k[j] = v;
    }
    for (int i = 0; i < nu; i++)
      if (mu[i] != 0) axpy(out, mu[i], Pt + (size_t)i * np, np);
    double* sw = lam;
    lam = lam_k, lam_k = sw;
  }
}

// the forward sensitivity pass for direction v: gn->dz, and w (T x nu) = Pt v when not NULL
static void forward(sp_gn* gn, double* w, const double* v) {
  int nx = gn->nx, nu = gn->nu, nz = gn->nz, T = gn->T;
  size_t np = gn->np;
  double* dx = gn->vec;  // (nx) the state perturbation propagated into step k
  double* dxn = dx + nz;
  memset(dx, 0, sizeof(double) * nx);
  for (int k = 0; k < T; k++) {
    double* z = gn->dz + (size_t)k * nz;
    const double* A = gn->A + (size_t)k * nx * nx;
    const double* B = gn->B + (size_t)k * nx * nu;
    const double* Px = gn->Px + (size_t)k * nu * nx;
    const double* Pt = gn->Pt + (size_t)k * nu * np;
    memcpy(z, dx, sizeof(double) * nx);
    // a segment start sees the previous segment's dx in its cost, then restarts from zero
    if (gn->segment > 0 && k > 0 && k % gn->segment == 0) memset(dx, 0, sizeof(double) * nx);
    for (int i = 0; i < nu; i++) {
      double wi = dot(Pt + (size_t)i * np, v, np);
      if (w) w[(size_t)k * nu + i] = wi;
      z[nx + i] = wi + dot(Px + (size_t)i * nx, dx, nx);
    }
    for (int i = 0; i < nx; i++)
      dxn[i] = dot(A + (size_t)i * nx, dx, nx) + dot(B + (size_t)i * nu, z + nx, nu);
    memcpy(dx, dxn, sizeof(double) * nx);
  }
  double* zT = gn->dz + (size_t)T * nz;
  memcpy(zT, dx, sizeof(double) * nx);
  memset(zT + nx, 0, sizeof(double) * nu);
}

void sp_gn_gvp(sp_gn* gn, double* out, double* w, const double* v) {
  forward(gn, w, v);
  backward(gn, out, gn->dz, 1);
}

void sp_gn_dvp(const sp_gn* gn, double* out, const double* v) {
  size_t np = gn->np;
  memset(out, 0, sizeof(double) * np);
  for (int k = 0; k < gn->T; k++)
    for (int i = 0; i < gn->nu; i++) {
      const double* row = gn->Pt + ((size_t)k * gn->nu + i) * np;
      axpy(out, dot(row, v, np) / gn->T, row, np);
    }
}

// ---- fitting the model's parameters to the recorded transitions (sp_gn_fit) --------------------

// solve the symmetric positive definite n x n system a x = b by Cholesky (a overwritten by its
// factor); 0 when a is not numerically positive definite
static int chol_solve(double* a, double* x, const double* b, int n) {
  for (int j = 0; j < n; j++) {
    double d = a[j * n + j];
    for (int k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return 0;
    d = sqrt(d);
    a[j * n + j] = d;
    for (int i = j + 1; i < n; i++) {
      double v = a[i * n + j];
      for (int k = 0; k < j; k++) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
  }
  for (int i = 0; i < n; i++) {
    double v = b[i];
    for (int k = 0; k < i; k++) v -= a[i * n + k] * x[k];
    x[i] = v / a[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) {
    double v = x[i];
    for (int k = i + 1; k < n; k++) v -= a[k * n + i] * x[k];
    x[i] = v / a[i * n + i];
  }
  return 1;
}

#define SP_GN_FIT_PRIOR 1e-9

// F at fm's parameters (a = (p - p0) / s); with JtJ and Jtr (np x np, np; scaled coordinates)
// the Gauss-Newton normal equations of the data term when they are not NULL
static double fit_eval(double* JtJ, double* Jtr, const sp_model* fm, sp_model_data* md,
                       const sp_trajview* tr, const unsigned char* ok, const double* w,
                       const double* s, const double* a, double* xn, double* P) {
  int nx = fm->nx, nu = fm->nu, np = fm->np, T = tr->T, n = 0;
  if (JtJ) memset(JtJ, 0, sizeof(double) * np * np), memset(Jtr, 0, sizeof(double) * np);
  double F = 0;
  for (int k = 0; k < T; k++) {
    if (!ok[k]) continue;
    const double* x = tr->X + (size_t)k * nx;
    const double* x1 = x + nx;
    const double* u = tr->U + (size_t)k * nu;
    sp_model_step_jac(fm, md, xn, NULL, NULL, JtJ ? P : NULL, x, u);
    n++;
    for (int i = 0; i < nx; i++) {
      double r = x1[i] - xn[i];
      F += w[i] * r * r;
      if (!JtJ) continue;
      const double* Pi = P + (size_t)i * np;
      for (int j = 0; j < np; j++) {
        double pj = Pi[j] * s[j];
        if (pj == 0) continue;
        Jtr[j] += w[i] * pj * r;
        for (int l = 0; l <= j; l++) JtJ[j * np + l] += w[i] * pj * Pi[l] * s[l];
      }
    }
  }
  if (n == 0) return 0;
  double prior = 0;
  for (int j = 0; j < np; j++) prior += a[j] * a[j];
  if (JtJ) {
    for (int j = 0; j < np; j++) {
      for (int l = 0; l <= j; l++) JtJ[j * np + l] /= n;
      for (int l = 0; l < j; l++) JtJ[l * np + j] = JtJ[j * np + l];
      JtJ[j * np + j] += SP_GN_FIT_PRIOR;
      Jtr[j] = Jtr[j] / n - SP_GN_FIT_PRIOR * a[j];
    }
  }
  return F / n + SP_GN_FIT_PRIOR * prior;
}

int sp_gn_fit(double* p, double rss[2], const sp_model* m, const sp_trajview* tr, int iters) {
  if (!p || !m || !tr || !tr->X || !tr->U || tr->T < 1) return SP_EINVAL;
  if (tr->nx != m->nx || tr->nu != m->nu) return SP_ESHAPE;
  int nx = m->nx, nu = m->nu, np = m->np, T = tr->T;
  if (iters <= 0) iters = 50;
  if (np > 0) memcpy(p, m->p, sizeof(double) * np);
  if (rss) rss[0] = rss[1] = 0;
  if (np == 0) return 0;
  size_t nd = 3 * (size_t)nx + (size_t)nx * np + 5 * (size_t)np + 2 * (size_t)np * np;
  double* buf = sp_malloc(sizeof(double) * nd);
  unsigned char* ok = sp_malloc((size_t)T);
  sp_model_data* md = NULL;
  if (!buf || !ok || sp_model_data_new(&md, m)) {
    sp_free(buf), sp_free(ok);
    return SP_ENOMEM;
  }
  double *w = buf, *xn = w + nx, *dsum = xn + nx, *P = dsum + nx, *s = P + (size_t)nx * np;
  double *a = s + np, *at = a + np, *Jtr = at + np, *da = Jtr + np, *JtJ = da + np;
  double* L = JtJ + (size_t)np * np;
  // the transitions to fit and each state's mean squared change per step (its weight's unit)
  memset(dsum, 0, sizeof(double) * nx);
  int n = 0;
  for (int k = 0; k < T; k++) {
    const double *x = tr->X + (size_t)k * nx, *u = tr->U + (size_t)k * nu;
    int good = 1;
    for (int i = 0; i < nx && good; i++) good = isfinite(x[i]) && isfinite(x[nx + i]);
    for (int i = 0; i < nu && good; i++) good = isfinite(u[i]);
    ok[k] = (unsigned char)good;
    if (!good) continue;
    n++;
    for (int i = 0; i < nx; i++) dsum[i] += (x[nx + i] - x[i]) * (x[nx + i] - x[i]);
  }
  double dmax = 0;
  for (int i = 0; i < nx; i++) dmax = fmax(dmax, n ? dsum[i] / n : 0);
  for (int i = 0; i < nx; i++) w[i] = 1 / fmax(n ? dsum[i] / n : 0, fmax(1e-12 * dmax, 1e-300));
  for (int j = 0; j < np; j++) s[j] = m->p[j] != 0 ? fabs(m->p[j]) : 1, a[j] = 0;
  // Levenberg-Marquardt in the scaled coordinates a, on a copy of the model (its parameters p)
  sp_model fm = *m;
  fm.p = p;
  double F = fit_eval(JtJ, Jtr, &fm, md, tr, ok, w, s, a, xn, P), F0 = F;
  double mu = 1e-3;
  for (int it = 0; it < iters && n > 0 && isfinite(F); it++) {
    int improved = 0;
    for (int tries = 0; tries < 30 && !improved; tries++) {
      for (int j = 0; j < np * np; j++) L[j] = JtJ[j];
      for (int j = 0; j < np; j++) L[j * np + j] += mu * (JtJ[j * np + j] + SP_GN_FIT_PRIOR);
      if (!chol_solve(L, da, Jtr, np)) {
        mu *= 10;
        continue;
      }
      for (int j = 0; j < np; j++) at[j] = a[j] + da[j], p[j] = m->p[j] + s[j] * at[j];
      double Ft = fit_eval(NULL, NULL, &fm, md, tr, ok, w, s, at, xn, P);
      if (isfinite(Ft) && Ft < F) {
        improved = 1;
        double dF = F - Ft;
        memcpy(a, at, sizeof(double) * np);
        mu = fmax(mu / 3, 1e-12);
        F = fit_eval(JtJ, Jtr, &fm, md, tr, ok, w, s, a, xn, P);
        if (dF <= 1e-12 * F) it = iters;  // converged
      } else {
        mu *= 4;
      }
    }
    if (!improved) break;
  }
  for (int j = 0; j < np; j++) p[j] = m->p[j] + s[j] * a[j];
  if (rss) rss[0] = F0, rss[1] = F;
  sp_model_data_free(md);
  sp_free(buf), sp_free(ok);
  return 0;
}

int sp_gn_build(sp_gn* gn, const sp_policy* p, const sp_model* m, const sp_objective* obj,
                const sp_trajview* tr, int segment) {
  if (!gn || !m) return SP_EINVAL;
  int rc = sp__grad_check(p, m, obj, tr);
  if (rc) return rc;
  if (p->nx != gn->nx || p->nu != gn->nu || p->nparams != gn->np) return SP_ESHAPE;
  rc = reserve(gn, tr->T);
  if (rc) return rc;
  int nx = gn->nx, nu = gn->nu, nz = gn->nz, T = tr->T;
  size_t np = gn->np;
  gn->T = T, gn->k0 = obj->k0, gn->segment = segment, gn->m = 0;
  // the model whose Jacobians the step uses: m, or m with its parameters fitted to tr
  sp_model fm = *m;
  if (gn->cfg.fit && m->np > 0) {
    if (gn->npfit != m->np) {
      sp_free(gn->pfit);
      gn->npfit = 0;
      gn->pfit = sp_malloc(sizeof(double) * (size_t)m->np);
      if (!gn->pfit) return SP_ENOMEM;
      gn->npfit = m->np;
    }
    rc = sp_gn_fit(gn->pfit, gn->fit_rss, m, tr, 0);
    if (rc) return rc;
    fm.p = gn->pfit;
  }
  double* buf = sp_malloc(sizeof(double) *
                          (SP_TASK_NREF + 2 * (size_t)nz + nu + 4 * nz + 3 * (size_t)nz * nz));
  sp_policy_data* pd = NULL;
  sp_model_data* md = NULL;
  if (!buf || sp_policy_data_new(&pd, p) || sp_model_data_new(&md, m)) {
    sp_policy_data_free(pd);
    sp_free(buf);
    return SP_ENOMEM;
  }
  double *ref = buf, *tmp = ref + SP_TASK_NREF, *e = tmp + nz, *hw = e + nu;
  double J = 0, c;
  for (int k = 0; k <= T && !rc; k++) {
    const double* x = tr->X + (size_t)k * nx;
    const double* u = k < T ? tr->U + (size_t)k * nu : NULL;
    double t = tr->t[k];
    double* cg = gn->cg + (size_t)k * nz;
    memset(cg, 0, sizeof(double) * nz);
    rc = sp__objective_step(obj, &c, cg, k < T ? cg + nx : NULL, ref, tmp, x, u, t, k, T, nx, nu);
    J += c;
    if (!rc)
      rc = cost_hessian(obj, gn->H + (size_t)k * nz * nz, hw, ref, tmp, x, u, t, k, T, nx, nu);
    if (rc || k == T) continue;
    // the model's step Jacobians and the policy's, row by row (one backward pass per action)
    sp_model_step_jac(&fm, md, NULL, gn->A + (size_t)k * nx * nx, gn->B + (size_t)k * nx * nu, NULL,
                      x, u);
    double* Px = gn->Px + (size_t)k * nu * nx;
    double* Pt = gn->Pt + (size_t)k * nu * np;
    memset(Px, 0, sizeof(double) * nu * nx);
    memset(Pt, 0, sizeof(double) * nu * np);
    for (int i = 0; i < nu && !rc; i++) {
      memset(e, 0, sizeof(double) * nu);
      e[i] = 1;
      rc = sp_policy_vjp(p, pd, Px + (size_t)i * nx, Pt + (size_t)i * np, x, t, e);
    }
  }
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  sp_free(buf);
  if (rc) return rc;
  gn->J = J;
  backward(gn, gn->g, gn->cg, 0);
  return 0;
}

int sp_gn_subspace(sp_gn* gn) {
  size_t np = gn->np, tn = (size_t)gn->T * gn->nu;
  int mc = gn->mcap, m = 0;
  double gnorm = sqrt(dot(gn->g, gn->g, np));
  gn->m = 0;
  if (!(gnorm > 0) || !isfinite(gnorm)) return 0;
  for (size_t i = 0; i < np; i++) gn->V[i] = gn->g[i] / gnorm;
  for (int j = 0; j < mc; j++) {
    double* v = gn->V + (size_t)j * np;
    double* gv = gn->GV + (size_t)j * np;
    sp_gn_gvp(gn, gv, gn->W + (size_t)j * tn, v);
    m = j + 1;
    if (j + 1 == mc) break;
    // next direction: G v_j orthogonalised against the basis (twice, for rounding)
    double* r = gn->V + (size_t)(j + 1) * np;
    memcpy(r, gv, sizeof(double) * np);
    double scale = sqrt(dot(r, r, np));
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i <= j; i++) {
        const double* vi = gn->V + (size_t)i * np;
        axpy(r, -dot(vi, r, np), vi, np);
      }
    double beta = sqrt(dot(r, r, np));
    if (!(beta > 1e-10 * scale)) break;  // invariant subspace: the basis is complete
    for (size_t i = 0; i < np; i++) r[i] /= beta;
  }
  gn->m = m;
  for (int i = 0; i < m; i++) {
    const double* vi = gn->V + (size_t)i * np;
    gn->gm[i] = dot(vi, gn->g, np);
    for (int j = 0; j <= i; j++) {
      const double* vj = gn->V + (size_t)j * np;
      double gij =
          0.5 * (dot(vi, gn->GV + (size_t)j * np, np) + dot(vj, gn->GV + (size_t)i * np, np));
      double dij = dot(gn->W + (size_t)i * tn, gn->W + (size_t)j * tn, tn) / gn->T;
      gn->Gm[i * m + j] = gn->Gm[j * m + i] = gij;
      gn->Dm[i * m + j] = gn->Dm[j * m + i] = dij;
    }
  }
  return m;
}

void sp_gn_solve(sp_gn* gn, double* d, sp_gn_info* info, double radius) {
  int m = gn->m;
  size_t np = gn->np;
  memset(d, 0, sizeof(double) * np);
  double lambda = 0, pred = 0, dact = 0;
  if (m > 0) {
    double *M = gn->sm, *P = M + m * m, *S = P + m * m, *C = S + m * m, *U = C + m * m;
    double *tmp = U + m * m, *s = tmp + m * m, *l = s + m, *b = l + m, *a = b + m;
    // whitening S = M^(-1/2), M = Dm + eps I
    double tr = 0;
    for (int i = 0; i < m; i++) tr += gn->Dm[i * m + i];
    double eps = SP_GN_EPS * (tr > 0 ? tr / m : 1);
    for (int i = 0; i < m * m; i++) M[i] = gn->Dm[i];
    for (int i = 0; i < m; i++) M[i * m + i] += eps;
    jacobi_eigh(s, P, M, m);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        double v = 0;
        for (int e = 0; e < m; e++) v += P[i * m + e] * P[j * m + e] / sqrt(fmax(s[e], eps));
        S[i * m + j] = v;
      }
    // C = S Gm S = U diag(l) U^T, b = U^T S gm
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) tmp[i * m + j] = dot(S + i * m, gn->Gm + j * m, m);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        double v = 0;
        for (int e = 0; e < m; e++) v += tmp[i * m + e] * S[e * m + j];
        C[i * m + j] = v;
      }
    jacobi_eigh(l, U, C, m);
    double lmax = 0;
    for (int i = 0; i < m; i++) lmax = fmax(lmax, l[i]);
    double floor = 1e-12 * lmax;
    for (int i = 0; i < m; i++) {
      double sg = dot(S + i * m, gn->gm, m);  // (S gm)_i, S symmetric
      tmp[i] = sg;
    }
    for (int i = 0; i < m; i++) {
      double v = 0;
      for (int e = 0; e < m; e++) v += U[e * m + i] * tmp[e];
      b[i] = v;
    }
    // |a(lambda)|_M^2 = sum b_i^2 / (l_i + lambda)^2; at lambda = 0 singular directions drop out
    double n0 = 0;
    int singular = 0;
    for (int i = 0; i < m; i++) {
      if (l[i] > floor)
        n0 += b[i] * b[i] / (l[i] * l[i]);
      else if (b[i] != 0)
        singular = 1;
    }
    if (isfinite(radius) && (singular || n0 > radius * radius)) {
      double bn = 0;
      for (int i = 0; i < m; i++) bn += b[i] * b[i];
      double lo = 1e-14 * (lmax + 1e-300), hi = sqrt(bn) / radius + lo;
      for (int it = 0; it < 200; it++) {
        double mid = sqrt(lo * hi), nrm = 0;
        for (int i = 0; i < m; i++) {
          double q = b[i] / (fmax(l[i], 0) + mid);
          nrm += q * q;
        }
        if (nrm > radius * radius)
          lo = mid;
        else
          hi = mid;
        if (hi < lo * (1 + 1e-10)) break;
      }
      lambda = hi;
    }
    // a = -S U diag(1 / (l + lambda)) b
    for (int i = 0; i < m; i++) {
      double den = fmax(l[i], 0) + lambda;
      tmp[i] = den > floor && (lambda > 0 || l[i] > floor) ? -b[i] / den : 0;
    }
    for (int i = 0; i < m; i++) {
      double v = 0;
      for (int e = 0; e < m; e++) v += U[i * m + e] * tmp[e];
      s[i] = v;
    }
    for (int i = 0; i < m; i++) a[i] = dot(S + i * m, s, m);
    // the step, its predicted decrease and its action change
    double ga = dot(gn->gm, a, m), aGa = 0, aDa = 0;
    for (int i = 0; i < m; i++) {
      aGa += a[i] * dot(gn->Gm + i * m, a, m);
      aDa += a[i] * dot(gn->Dm + i * m, a, m);
    }
    pred = -(ga + 0.5 * aGa);
    dact = sqrt(fmax(aDa, 0));
    for (int i = 0; i < m; i++) axpy(d, a[i], gn->V + (size_t)i * np, np);
  }
  if (info) {
    info->pred = pred;
    info->dact = dact;
    info->lambda = lambda;
    info->radius = radius;
    info->subspace = m;
  }
}

// the trust-region step, shrunk further when it predicts removing more than the fraction
// `fraction` (cfg.max_decrease, or half of it for a cautious last step) of the current cost J: the
// model cannot see how low the plant's cost can go,
// and a step predicting J -> 0 from an imperfect model overshoots (pred is monotone in the
// radius, so bisection on the radius finds the cap)
static void capped_solve(sp_gn* gn, double* d, sp_gn_info* info, double J, double fraction) {
  sp_gn_solve(gn, d, info, gn->radius);
  double cap = fraction * J;
  if (!(info->pred > cap) || !(cap > 0)) return;
  double lo = 0, hi = info->dact;
  for (int it = 0; it < 40; it++) {
    double mid = 0.5 * (lo + hi);
    sp_gn_solve(gn, d, info, mid);
    if (info->pred > cap)
      hi = mid;
    else
      lo = mid;
  }
  sp_gn_solve(gn, d, info, lo);
}

// exchange the current subspace (basis, gradient, projections) with the spare one
static void swap_subspace(sp_gn* gn) {
  double* t;
  int m = gn->m;
  gn->m = gn->alt.m, gn->alt.m = m;
  t = gn->V, gn->V = gn->alt.V, gn->alt.V = t;
  t = gn->g, gn->g = gn->alt.g, gn->alt.g = t;
  t = gn->gm, gn->gm = gn->alt.gm, gn->alt.gm = t;
  t = gn->Gm, gn->Gm = gn->alt.Gm, gn->alt.Gm = t;
  t = gn->Dm, gn->Dm = gn->alt.Dm, gn->alt.Dm = t;
}

int sp_gn_step(sp_gn* gn, sp_gn_info* info, sp_policy* p, const sp_model* m,
               const sp_objective* obj, const sp_trajview* tr, int segment) {
  if (!gn || !p || p->nparams != gn->np) return SP_EINVAL;
  sp_gn_info tmp_info;
  if (!info) info = &tmp_info;
  memset(info, 0, sizeof *info);
  info->rho = NAN;
  info->accepted = 1;
  double J;
  int rc = sp_objective_value(&J, obj, tr);
  if (rc) return rc;
  info->J = J;
  double* theta = sp_policy_params(p);
  size_t np = gn->np;
  const sp_gn_config* c = &gn->cfg;
  // the last step of a run: no later rollout can undo it, so when the model's last prediction
  // was less than good (rho < 3/4) it may predict removing only half as much
  double fraction = c->max_decrease;
  if (gn->pending && gn->pred > 0) {
    // judge the previous step by the rollout it produced
    double rho = isfinite(J) ? (gn->J0 - J) / gn->pred : -INFINITY;
    info->rho = rho;
    if (gn->last_step && rho < 0.75) fraction *= 0.5;
    if (rho < 0.25)
      gn->radius = fmax(c->radius_min, 0.25 * fmin(gn->radius, gn->dact));
    else if (rho > 0.75 && gn->dact >= 0.9 * gn->radius)
      gn->radius = fmin(c->radius_max, 2 * gn->radius);
    if (!(rho >= c->eta)) {
      // the step did not pay. Two candidates for the next one, each from a point whose cost a
      // rollout measured: a smaller step from where it started (the stored subspace), or a
      // smaller step from where it ended, on the model built along the rejected rollout (the
      // only new plant data either uses). The one whose model predicts the lower cost is taken.
      double* d = gn->GV;  // scratch: GV is not needed again for the stored subspace
      double pred_b = -INFINITY, J1 = J;
      sp_gn_info ib;
      memset(&ib, 0, sizeof ib);
      if (isfinite(J)) {
        swap_subspace(gn);
        if (!sp_gn_build(gn, p, m, obj, tr, segment)) {
          sp_gn_subspace(gn);
          capped_solve(gn, d, &ib, J, fraction);
          memcpy(gn->dalt, d, sizeof(double) * np);
          pred_b = ib.pred;
        }
        swap_subspace(gn);
      }
      capped_solve(gn, d, info, gn->J0, fraction);
      if (gn->J0 - info->pred <= J1 - pred_b) {
        // back to the start: theta0, J0 and the stored subspace stay
        info->accepted = 0;
        for (size_t i = 0; i < np; i++) theta[i] = gn->theta0[i] + d[i];
      } else {
        // on from the rejected point, with its own subspace
        swap_subspace(gn);
        double rho_keep = info->rho;
        *info = ib;
        info->rho = rho_keep, info->accepted = 1;
        memcpy(gn->theta0, theta, sizeof(double) * np);
        for (size_t i = 0; i < np; i++) theta[i] += gn->dalt[i];
        gn->J0 = J1;
      }
      info->J = J;
      gn->pred = info->pred, gn->dact = info->dact;
      info->grad_norm = sqrt(dot(gn->g, gn->g, np));
      return 0;
    }
  }
  if (!isfinite(J)) return SP_ENUMERIC;
  rc = sp_gn_build(gn, p, m, obj, tr, segment);
  if (rc) return rc;
  sp_gn_subspace(gn);
  double* d = gn->GV + (size_t)(gn->mcap - 1) * np;  // scratch once the subspace is projected
  capped_solve(gn, d, info, J, fraction);
  memcpy(gn->theta0, theta, sizeof(double) * np);
  for (size_t i = 0; i < np; i++) theta[i] += d[i];
  gn->J0 = J, gn->pred = info->pred, gn->dact = info->dact, gn->pending = 1;
  info->J = J;
  info->grad_norm = sqrt(dot(gn->g, gn->g, np));
  return 0;
}

// ---- the trust-region state as bytes (little-endian; layout in gauss_newton.h) -----------------

static const char gn_magic[8] = {'S', 'P', 'G', 'N', 'S', 'T', 'A', 'T'};
#define GN_STATE_VERSION 1u
#define GN_STATE_HEAD (8 + 4 + 8 + 4 + 4 + 4 + 4 * 8)

static uint8_t* put_u64(uint8_t* o, uint64_t x) {
  for (int i = 0; i < 8; i++) o[i] = (uint8_t)(x >> (8 * i));
  return o + 8;
}
static uint8_t* put_u32(uint8_t* o, uint32_t x) {
  for (int i = 0; i < 4; i++) o[i] = (uint8_t)(x >> (8 * i));
  return o + 4;
}
static uint8_t* put_f64s(uint8_t* o, const double* x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &x[i], 8);
    o = put_u64(o, u);
  }
  return o;
}
static uint64_t get_u64(const uint8_t* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}
static uint32_t get_u32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static double get_f64(const uint8_t* p) {
  uint64_t u = get_u64(p);
  double x;
  memcpy(&x, &u, 8);
  return x;
}

// doubles after the head for subspace dimension m
static size_t state_doubles(size_t np, size_t m) {
  return 2 * np + m + 2 * m * m + m * np;
}

size_t sp_gn_state_size(const sp_gn* gn) {
  return GN_STATE_HEAD + 8 * state_doubles(gn->np, (size_t)gn->m);
}

void sp_gn_state_save(const sp_gn* gn, void* out) {
  size_t np = gn->np, m = (size_t)gn->m;
  uint8_t* o = out;
  memcpy(o, gn_magic, 8);
  o = put_u32(o + 8, GN_STATE_VERSION);
  o = put_u64(o, np);
  o = put_u32(o, (uint32_t)gn->mcap);
  o = put_u32(o, (uint32_t)m);
  o = put_u32(o, (uint32_t)gn->pending);
  double head[4] = {gn->radius, gn->J0, gn->pred, gn->dact};
  o = put_f64s(o, head, 4);
  o = put_f64s(o, gn->theta0, np);
  o = put_f64s(o, gn->g, np);
  o = put_f64s(o, gn->gm, m);
  o = put_f64s(o, gn->Gm, m * m);
  o = put_f64s(o, gn->Dm, m * m);
  put_f64s(o, gn->V, m * np);
}

size_t sp_gn_state_span(const void* in, size_t n) {
  const uint8_t* p = in;
  if (!p || n < GN_STATE_HEAD || memcmp(p, gn_magic, 8)) return 0;
  uint64_t np = get_u64(p + 12);
  uint32_t m = get_u32(p + 24);
  if (np > ((uint64_t)1 << 40) || m > 100000) return 0;
  size_t span = GN_STATE_HEAD + 8 * state_doubles((size_t)np, m);
  return span <= n ? span : 0;
}

int sp_gn_state_check(const sp_gn* gn, const void* in, size_t n, char* msg, size_t ms) {
  const uint8_t* p = in;
  if (!p || n < GN_STATE_HEAD || memcmp(p, gn_magic, 8))
    return sp_errorf(msg, ms, SP_EFORMAT, "not Gauss-Newton optimiser state");
  uint32_t version = get_u32(p + 8);
  if (version != GN_STATE_VERSION)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "Gauss-Newton state version %u, this build reads version %u", version,
                     GN_STATE_VERSION);
  uint64_t np = get_u64(p + 12);
  uint32_t mcap = get_u32(p + 20), m = get_u32(p + 24), pending = get_u32(p + 28);
  if (np != gn->np)
    return sp_errorf(msg, ms, SP_EMISMATCH,
                     "Gauss-Newton state for %llu parameters, the optimiser has %llu",
                     (unsigned long long)np, (unsigned long long)gn->np);
  if (mcap != (uint32_t)gn->mcap)
    return sp_errorf(msg, ms, SP_EMISMATCH,
                     "Gauss-Newton state with subspace %u, the optimiser has subspace %d", mcap,
                     gn->mcap);
  if (m > mcap || pending > 1)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "Gauss-Newton state: subspace dimension %u or pending "
                     "flag %u out of range",
                     m, pending);
  size_t nd = state_doubles((size_t)np, m);
  if (n != GN_STATE_HEAD + 8 * nd)
    return sp_errorf(msg, ms, SP_EFORMAT, "Gauss-Newton state: %zu bytes, expected %zu", n,
                     (size_t)GN_STATE_HEAD + 8 * nd);
  double radius = get_f64(p + 32);
  if (!(radius > 0) || !isfinite(radius))
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "Gauss-Newton state: radius %g is not a finite "
                     "number > 0",
                     radius);
  for (size_t i = 0; i < 3 + nd; i++)
    if (!isfinite(get_f64(p + 40 + 8 * i)))
      return sp_errorf(msg, ms, SP_EFORMAT, "Gauss-Newton state: a non-finite number at byte %zu",
                       40 + 8 * i);
  return 0;
}

static const uint8_t* get_f64s(double* x, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = get_f64(p + 8 * i);
  return p + 8 * n;
}

int sp_gn_state_load(sp_gn* gn, const void* in, size_t n, char* msg, size_t ms) {
  int rc = sp_gn_state_check(gn, in, n, msg, ms);
  if (rc) return rc;
  const uint8_t* p = in;
  size_t np = gn->np, m = get_u32(p + 24);
  gn->m = (int)m;
  gn->pending = (int)get_u32(p + 28);
  gn->radius = get_f64(p + 32), gn->J0 = get_f64(p + 40);
  gn->pred = get_f64(p + 48), gn->dact = get_f64(p + 56);
  p = get_f64s(gn->theta0, p + GN_STATE_HEAD, np);
  p = get_f64s(gn->g, p, np);
  p = get_f64s(gn->gm, p, m);
  p = get_f64s(gn->Gm, p, m * m);
  p = get_f64s(gn->Dm, p, m * m);
  get_f64s(gn->V, p, m * np);
  gn->T = 0;  // the trajectory caches are not restored: products need a new build
  return 0;
}
