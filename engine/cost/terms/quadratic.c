// quadratic.c: the quadratic cost term (z_I - z*)^T W (z_I - z*) on indices I, each target a
// constant or an entry of the task reference; gradient (W + W^T)(z_I - z*).
#include <math.h>
#include <string.h>

#include "engine/core/error.h"
#include "engine/cost/internal.h"

// the error of entry k: z_I[k] - z*_k
static double error_k(const sp_cost* c, const sp_cost_term* t, const double* x, const double* u,
                      const double* ref, int k) {
  double target = t->ref_idx[k] >= 0 ? ref[t->ref_idx[k]] : t->target[k];
  return sp__cost_z(c, x, u, t->idx[k]) - target;
}

static double eval(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  int m = t->m;
  double v = 0;
  for (int k = 0; k < m; k++) {
    double ek = error_k(c, t, x, u, ref, k), gk = 0;
    for (int l = 0; l < m; l++) {
      double el = error_k(c, t, x, u, ref, l);
      v += ek * t->W[k * m + l] * el;
      gk += (t->W[k * m + l] + t->W[l * m + k]) * el;
    }
    if (grad) {
      sp__cost_zadd(c, gx, gu, t->idx[k], w * gk);
      if (gref && t->ref_idx[k] >= 0) gref[t->ref_idx[k]] -= w * gk;
    }
  }
  return v;
}

static const sp_cost_term_class quadratic = {"quadratic", SP_COST_QUADRATIC, eval};

int sp_cost_add_quadratic(sp_cost* c, double w, const int* idx, const int* ref_idx,
                          const double* target, const double* W, int m) {
  if (m < 1 || !idx || !W) return SP_EINVAL;
  for (int k = 0; k < m; k++) {
    if (!sp__cost_valid_index(c, idx[k])) return SP_EINVAL;
    if (ref_idx && ref_idx[k] >= SP_TASK_NREF) return SP_EINVAL;
    if (target && !isfinite(target[k])) return SP_EINVAL;
  }
  for (int k = 0; k < m * m; k++)
    if (!isfinite(W[k])) return SP_EINVAL;
  sp_cost_term* t;
  int j = sp__cost_push(c, &t, &quadratic, w, m, m * m);
  if (j < 0) return j;
  for (int k = 0; k < m; k++) {
    t->idx[k] = idx[k];
    t->ref_idx[k] = ref_idx ? ref_idx[k] : -1;
    t->target[k] = target ? target[k] : 0;
  }
  memcpy(t->W, W, sizeof(double) * (size_t)(m * m));
  return j;
}
