// radial.c: the radial cost term (rho - R)^2, rho the distance of (z_ix, z_iy) from the centre of
// the task's active circle and R its radius (subgradient 0 at rho = 0).
#include <math.h>

#include "engine/cost/internal.h"

static double eval(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  double dx = sp__cost_z(c, x, u, t->idx[0]) - ref[SP_TASK_CX];
  double dy = sp__cost_z(c, x, u, t->idx[1]) - ref[SP_TASK_CY];
  double rho = hypot(dx, dy), e = rho - ref[SP_TASK_RADIUS];
  if (grad) {
    double gpx = rho > 0 ? 2 * e * dx / rho : 0, gpy = rho > 0 ? 2 * e * dy / rho : 0;
    sp__cost_zadd(c, gx, gu, t->idx[0], w * gpx);
    sp__cost_zadd(c, gx, gu, t->idx[1], w * gpy);
    if (gref) {
      gref[SP_TASK_CX] -= w * gpx;
      gref[SP_TASK_CY] -= w * gpy;
      gref[SP_TASK_RADIUS] -= w * 2 * e;
    }
  }
  return e * e;
}

static const sp_cost_term_class radial = {"radial", SP_COST_RADIAL, eval};

int sp_cost_add_radial(sp_cost* c, double w, int ix, int iy) {
  sp_cost_term* t;
  return sp__cost_push_indexed(c, &t, &radial, w, (int[]){ix, iy}, 2);
}
