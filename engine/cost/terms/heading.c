// heading.c: the heading cost term wrap(z_iphi - phi_des)^2, phi_des the tangent of the task's
// active circle at the robot's position (SP_COST_HEADING_CIRCLE) or the heading of the reference
// velocity (SP_COST_HEADING_REF); the derivative is taken away from the wrap's jump at +-pi.
#include <math.h>

#include "engine/core/error.h"
#include "engine/cost/internal.h"

// the circle's tangent: phi_des = atan2(dy, dx) + dir pi/2, d atan2(dy, dx) = (-dy, dx) / r2
static double eval_circle(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                          double* gu, double* gref, const double* x, const double* u,
                          const double* ref) {
  double dx = sp__cost_z(c, x, u, t->idx[1]) - ref[SP_TASK_CX];
  double dy = sp__cost_z(c, x, u, t->idx[2]) - ref[SP_TASK_CY];
  double r2 = dx * dx + dy * dy, des = atan2(dy, dx) + ref[SP_TASK_DIR] * 0.5 * M_PI;
  double e = sp_cost_wrap_angle(sp__cost_z(c, x, u, t->idx[0]) - des);
  if (grad) {
    sp__cost_zadd(c, gx, gu, t->idx[0], w * 2 * e);
    if (r2 > 0) {
      double gpx = w * 2 * e * dy / r2, gpy = -w * 2 * e * dx / r2;
      sp__cost_zadd(c, gx, gu, t->idx[1], gpx);
      sp__cost_zadd(c, gx, gu, t->idx[2], gpy);
      if (gref) {
        gref[SP_TASK_CX] -= gpx;
        gref[SP_TASK_CY] -= gpy;
      }
    }
  }
  return e * e;
}

// the reference velocity's heading: phi_des = atan2(ydot_d, xdot_d)
static double eval_ref(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                       double* gu, double* gref, const double* x, const double* u,
                       const double* ref) {
  double xd = ref[SP_TASK_XD], yd = ref[SP_TASK_YD], r2 = xd * xd + yd * yd;
  double e = sp_cost_wrap_angle(sp__cost_z(c, x, u, t->idx[0]) - atan2(yd, xd));
  if (grad) {
    sp__cost_zadd(c, gx, gu, t->idx[0], w * 2 * e);
    if (r2 > 0 && gref) {
      gref[SP_TASK_XD] += w * 2 * e * yd / r2;
      gref[SP_TASK_YD] -= w * 2 * e * xd / r2;
    }
  }
  return e * e;
}

static const sp_cost_term_class heading_circle = {"heading", SP_COST_HEADING, eval_circle};
static const sp_cost_term_class heading_ref = {"heading", SP_COST_HEADING, eval_ref};

int sp_cost_add_heading(sp_cost* c, double w, int iphi, int ix, int iy, sp_cost_heading_mode mode) {
  if (mode != SP_COST_HEADING_CIRCLE && mode != SP_COST_HEADING_REF) return SP_EINVAL;
  sp_cost_term* t;
  int j = mode == SP_COST_HEADING_CIRCLE
              ? sp__cost_push_indexed(c, &t, &heading_circle, w, (int[]){iphi, ix, iy}, 3)
              : sp__cost_push_indexed(c, &t, &heading_ref, w, (int[]){iphi}, 1);
  if (j >= 0) t->mode = mode;
  return j;
}
