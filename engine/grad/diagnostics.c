// diagnostics.c: what method 1 argues from, measured (METHODS.md, "why feedback matters";
// Westenbroek et al., arXiv 2307.08168, section 4): the closed-loop sensitivity products
//   Phi_h = prod_{k < h} (A[k] + B[k] Px[k])
// that carry a parameter change at step k to the state at step h, against the horizon h, with
// the policy's feedback and without it (A[k] alone); and the spread of gradient estimates across
// seeds. With a stabilising controller ||Phi_h|| stays bounded; on an unstable system without
// feedback it grows like rho^h, and the gradients explode with it.
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"
#include "engine/la/la.h"

int sp_grad_sensitivity(double* log_norm, double* cond, const sp_policy* p, const sp_model* m,
                        const sp_trajview* tr, int feedback) {
  if (!log_norm || !p || !m || !tr || !tr->X || !tr->U || !tr->t || tr->T < 1) return SP_EINVAL;
  if (tr->nx != p->nx || tr->nu != p->nu || m->nx != p->nx || m->nu != p->nu) return SP_ESHAPE;
  int nx = p->nx, nu = p->nu;
  size_t nn = (size_t)nx * nx;
  double* buf = sp_malloc(sizeof(double) * (6 * nn + 2 * (size_t)nx * nu + nx));
  sp_policy_data* pd = NULL;
  sp_model_data* md = NULL;
  if (!buf || sp_policy_data_new(&pd, p) || sp_model_data_new(&md, m)) {
    sp_policy_data_free(pd);
    sp_free(buf);
    return SP_ENOMEM;
  }
  double *Phi = buf, *M = Phi + nn, *tmp = M + nn, *A = tmp + nn, *U = A + nn, *Vt = U + nn;
  double *B = Vt + nn, *Px = B + (size_t)nx * nu, *S = Px + (size_t)nx * nu;
  int rc = 0;
  double log_scale = 0;
  memset(Phi, 0, sizeof(double) * nn);
  for (int i = 0; i < nx; i++) Phi[i * nx + i] = 1;
  for (int k = 0; k < tr->T && !rc; k++) {
    const double* x = tr->X + (size_t)k * nx;
    const double* u = tr->U + (size_t)k * nu;
    // M = A + B Px
    sp_model_step_jac(m, md, NULL, A, B, NULL, x, u);
    memcpy(M, A, sizeof(double) * nn);
    if (feedback) {
      sp_policy_jac_x(p, pd, Px, x, tr->t[k]);
      for (int i = 0; i < nx; i++)
        for (int j = 0; j < nx; j++) {
          double s = 0;
          for (int a = 0; a < nu; a++) s += B[i * nu + a] * Px[a * nx + j];
          M[i * nx + j] += s;
        }
    }
    // Phi <- M Phi, renormalised (the scale goes to log_scale)
    double fro = 0;
    for (int i = 0; i < nx; i++)
      for (int j = 0; j < nx; j++) {
        double s = 0;
        for (int a = 0; a < nx; a++) s += M[i * nx + a] * Phi[a * nx + j];
        tmp[i * nx + j] = s;
        fro += s * s;
      }
    fro = sqrt(fro);
    if (!(fro > 0) || !isfinite(fro)) {
      // the product vanished or blew up within one step: nothing left to measure
      for (int h = k; h < tr->T; h++) {
        log_norm[h] = fro > 0 ? INFINITY : -INFINITY;
        if (cond) cond[h] = INFINITY;
      }
      break;
    }
    for (size_t i = 0; i < nn; i++) Phi[i] = tmp[i] / fro;
    log_scale += log(fro);
    rc = sp_la_svd(U, S, Vt, Phi, nx, nx);
    if (rc) break;
    log_norm[k] = log_scale + log(S[0]);
    if (cond) cond[k] = S[nx - 1] > 0 ? S[0] / S[nx - 1] : INFINITY;
  }
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  sp_free(buf);
  return rc;
}

int sp_grad_stats_compute(sp_grad_stats* out, const double* G, int S, size_t n) {
  if (!out || !G || S < 1 || n < 1) return SP_EINVAL;
  double mean_norm = 0, nm = 0, var = 0;
  for (int s = 0; s < S; s++) {
    double a = 0;
    for (size_t j = 0; j < n; j++) a += G[(size_t)s * n + j] * G[(size_t)s * n + j];
    mean_norm += sqrt(a) / S;
  }
  for (size_t j = 0; j < n; j++) {
    double mu = 0, v = 0;
    for (int s = 0; s < S; s++) mu += G[(size_t)s * n + j] / S;
    for (int s = 0; s < S; s++) {
      double d = G[(size_t)s * n + j] - mu;
      v += d * d;
    }
    nm += mu * mu;
    var += S > 1 ? v / (S - 1) : 0;
  }
  out->mean_norm = mean_norm;
  out->norm_of_mean = sqrt(nm);
  out->variance = var;
  out->rel_std = out->norm_of_mean > 0 ? sqrt(var) / out->norm_of_mean : INFINITY;
  return 0;
}
