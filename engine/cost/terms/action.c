// action.c: the action cost term u^T R u, gradient (R + R^T) u.
#include <math.h>

#include "engine/core/error.h"
#include "engine/cost/internal.h"

static double eval(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  (void)gx, (void)gref, (void)x, (void)ref;
  int nu = c->nu;
  double v = 0;
  for (int k = 0; k < nu; k++) {
    double gk = 0;
    for (int l = 0; l < nu; l++) {
      v += u[k] * t->W[k * nu + l] * u[l];
      gk += (t->W[k * nu + l] + t->W[l * nu + k]) * u[l];
    }
    if (grad && gu) gu[k] += w * gk;
  }
  return v;
}

static const sp_cost_term_class action = {"action", SP_COST_ACTION, eval};

int sp_cost_add_action(sp_cost* c, double w, const double* R) {
  int nu = c->nu;
  if (nu < 1) return SP_EINVAL;
  if (R)
    for (int k = 0; k < nu * nu; k++)
      if (!isfinite(R[k])) return SP_EINVAL;
  sp_cost_term* t;
  int j = sp__cost_push(c, &t, &action, w, 0, nu * nu);
  if (j < 0) return j;
  for (int k = 0; k < nu * nu; k++) t->W[k] = R ? R[k] : (k % (nu + 1) == 0);
  return j;
}
