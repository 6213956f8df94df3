// speed.c: the speed cost term (z_iv - v_ref)^2, v_ref a constant or, when NAN, the speed of the
// task's reference velocity |(xdot_d, ydot_d)|.
#include <math.h>

#include "engine/core/error.h"
#include "engine/cost/internal.h"

static double eval(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  double vr = t->v_ref;
  int from_ref = isnan(vr);
  if (from_ref) vr = hypot(ref[SP_TASK_XD], ref[SP_TASK_YD]);
  double e = sp__cost_z(c, x, u, t->idx[0]) - vr;
  if (grad) {
    sp__cost_zadd(c, gx, gu, t->idx[0], w * 2 * e);
    if (gref && from_ref && vr > 0) {
      gref[SP_TASK_XD] -= w * 2 * e * ref[SP_TASK_XD] / vr;
      gref[SP_TASK_YD] -= w * 2 * e * ref[SP_TASK_YD] / vr;
    }
  }
  return e * e;
}

static const sp_cost_term_class speed = {"speed", SP_COST_SPEED, eval};

int sp_cost_add_speed(sp_cost* c, double w, int iv, double v_ref) {
  if (isinf(v_ref)) return SP_EINVAL;
  sp_cost_term* t;
  int j = sp__cost_push_indexed(c, &t, &speed, w, (int[]){iv}, 1);
  if (j >= 0) t->v_ref = v_ref;
  return j;
}
