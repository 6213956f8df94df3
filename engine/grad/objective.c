// objective.c: the trajectory objective the estimators differentiate (grad.h):
//   J = scale (sum_{k >= k0}^{T-1} c(x[k], u[k], ref(t[k])) + c_T(x[T], ref(t[T]))).
#include <math.h>
#include <string.h>

#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp_objective_check(const sp_objective* obj, int nx, int nu) {
  if (!obj || obj->k0 < 0 || !isfinite(obj->scale)) return SP_EINVAL;
  if (obj->step && (obj->step->nx != nx || obj->step->nu != nu)) return SP_ESHAPE;
  if (obj->terminal && (obj->terminal->nx != nx || obj->terminal->nu != 0)) return SP_ESHAPE;
  return 0;
}

double sp__objective_step(const sp_objective* obj, double* gx, double* gu, double* ref,
                          const double* x, const double* u, double t, int k, int T, int nx,
                          int nu) {
  const sp_cost* c = k < T ? obj->step : obj->terminal;
  if (gx) memset(gx, 0, sizeof(double) * nx);
  if (gu) memset(gu, 0, sizeof(double) * nu);
  if (!c || (k < T && k < obj->k0)) return 0;
  memset(ref, 0, sizeof(double) * SP_TASK_NREF);
  if (obj->task) sp_task_ref(obj->task, ref, t);
  double v = sp_cost_grad(c, gx, k < T ? gu : NULL, NULL, x, k < T ? u : NULL, ref);
  double s = obj->scale != 0 ? obj->scale : 1;
  if (s != 1) {
    for (int i = 0; gx && i < nx; i++) gx[i] *= s;
    for (int i = 0; gu && k < T && i < nu; i++) gu[i] *= s;
  }
  return s * v;
}

int sp_objective_value(double* J, const sp_objective* obj, const sp_traj* tr) {
  if (!J || !tr) return SP_EINVAL;
  int rc = sp_objective_check(obj, tr->nx, tr->nu);
  if (rc) return rc;
  double ref[SP_TASK_NREF], sum = 0;
  for (int k = 0; k <= tr->T; k++)
    sum += sp__objective_step(obj, NULL, NULL, ref, tr->X + (size_t)k * tr->nx,
                              k < tr->T ? tr->U + (size_t)k * tr->nu : NULL, tr->t[k], k, tr->T, tr->nx, tr->nu);
  *J = sum;
  return 0;
}
