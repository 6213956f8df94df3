// objective.c: the trajectory objective the estimators differentiate (grad.h):
//   J = scale (sum_{k >= k0}^{T-1} c(x[k], u[k], ref(t[k])) + c_T(x[T], ref(t[T]))).
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp_objective_check(const sp_objective* obj, int nx, int nu) {
  if (!obj || obj->k0 < 0 || !isfinite(obj->scale)) return SP_EINVAL;
  if (obj->step && (obj->step->nx != nx || obj->step->nu != nu)) return SP_ESHAPE;
  if (obj->terminal && (obj->terminal->nx != nx || obj->terminal->nu != 0)) return SP_ESHAPE;
  return 0;
}

int sp__objective_step(const sp_objective* obj, double* c, double* gx, double* gu, double* ref,
                       double* tmp, const double* x, const double* u, double t, int k, int T,
                       int nx, int nu) {
  const sp_cost* cost = k < T ? obj->step : obj->terminal;
  sp_objective_fn fn = k < T ? obj->step_fn : obj->terminal_fn;
  *c = 0;
  if (gx) memset(gx, 0, sizeof(double) * nx);
  if (gu) memset(gu, 0, sizeof(double) * nu);
  if (k < T && k < obj->k0) return 0;
  double v = 0;
  if (cost) {
    memset(ref, 0, sizeof(double) * SP_TASK_NREF);
    if (obj->task) sp_task_ref(obj->task, ref, t);
    v = sp_cost_grad(cost, gx, k < T ? gu : NULL, NULL, x, k < T ? u : NULL, ref);
  }
  if (fn) {
    // the function's gradients land in tmp, then add up
    double fv;
    double *fx = tmp, *fu = tmp + nx;
    int rc = fn(obj->user, &fv, fx, k < T ? fu : NULL, x, k < T ? u : NULL, t, k, T);
    if (rc) return rc;
    v += fv;
    for (int i = 0; gx && i < nx; i++) gx[i] += fx[i];
    for (int i = 0; gu && k < T && i < nu; i++) gu[i] += fu[i];
  }
  double s = obj->scale != 0 ? obj->scale : 1;
  if (s != 1) {
    for (int i = 0; gx && i < nx; i++) gx[i] *= s;
    for (int i = 0; gu && k < T && i < nu; i++) gu[i] *= s;
  }
  *c = s * v;
  return 0;
}

int sp_objective_value(double* J, const sp_objective* obj, const sp_trajview* tr) {
  if (!J || !tr) return SP_EINVAL;
  int rc = sp_objective_check(obj, tr->nx, tr->nu);
  if (rc) return rc;
  double* tmp = sp_malloc(sizeof(double) * (tr->nx + tr->nu));
  if (!tmp) return SP_ENOMEM;
  double ref[SP_TASK_NREF], sum = 0, c;
  for (int k = 0; k <= tr->T && !rc; k++) {
    rc = sp__objective_step(obj, &c, NULL, NULL, ref, tmp, tr->X + (size_t)k * tr->nx,
                            k < tr->T ? tr->U + (size_t)k * tr->nu : NULL, tr->t[k], k, tr->T,
                            tr->nx, tr->nu);
    sum += c;
  }
  sp_free(tmp);
  if (!rc) *J = sum;
  return rc;
}
