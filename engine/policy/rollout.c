// rollout.c: trajectory storage and the engine-level rollout of a policy on a model (rollout.h).
#include "engine/policy/rollout.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

sp_trajview sp_trajview_of(double* X, double* U, double* t, int T, int nx, int nu) {
  sp_trajview tr = {T, nx, nu, X, U, t, NULL};
  return tr;
}

int sp_trajview_new(sp_trajview* tr, int T, int nx, int nu) {
  if (!tr || T < 1 || nx < 1 || nu < 1) return SP_EINVAL;
  size_t n = (size_t)(T + 1) * nx + (size_t)T * nu + (size_t)(T + 1);
  double* d = sp_calloc(n, sizeof(double));
  if (!d) return SP_ENOMEM;
  *tr = sp_trajview_of(d, d + (size_t)(T + 1) * nx, d + (size_t)(T + 1) * nx + (size_t)T * nu, T,
                       nx, nu);
  tr->own = d;
  return 0;
}

void sp_trajview_free(sp_trajview* tr) {
  if (!tr || !tr->own) return;
  sp_free(tr->own);
  memset(tr, 0, sizeof(*tr));
}

int sp_policy_rollout(sp_trajview* tr, const sp_policy* p, sp_policy_data* pd, const sp_model* m,
                      sp_model_data* md, const double* x0, double t0, int explore) {
  if (!tr || !p || !pd || !m || !md || !x0 || !tr->X || !tr->U || !tr->t || tr->T < 1)
    return SP_EINVAL;
  if (tr->nx != p->nx || tr->nu != p->nu || m->nx != p->nx || m->nu != p->nu) return SP_ESHAPE;
  int nx = p->nx, nu = p->nu;
  memcpy(tr->X, x0, sizeof(double) * nx);
  tr->t[0] = t0;
  for (int k = 0; k < tr->T; k++) {
    double* x = tr->X + (size_t)k * nx;
    double* u = tr->U + (size_t)k * nu;
    int rc =
        explore ? sp_policy_sample(p, pd, u, x, tr->t[k]) : sp_policy_act(p, pd, u, x, tr->t[k]);
    if (rc) return rc;
    sp_model_step(m, md, x + nx, x, u);
    tr->t[k + 1] = t0 + (k + 1) * m->dt;
    for (int i = 0; i < nx; i++)
      if (!isfinite(x[nx + i])) return SP_ENUMERIC;
  }
  return 0;
}
