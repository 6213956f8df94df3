// figure_eight.c: method 1's figure-eight, two circles of radius R centred at (+-R, 0) that touch
// at the origin, driven at constant speed 4 pi R / T (Westenbroek et al., arXiv 2307.08168, car
// experiment; same start point and direction as the authors' reference implementation).
//
// With w = 4 pi / T and th = w t:
//   t <  T/2 (right circle, clockwise):        p = (R - R cos th,  R sin th)
//   t >= T/2 (left circle, counter-clockwise): p = (R cos th - R,  R sin th)
// so both halves leave the origin heading +y with speed w R.
#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/task/task.h"

static void eval(const sp_task* task, double* r, double* drdt, double t) {
  double R = task->prm[0], w = 4 * M_PI / task->period;
  double th = w * t, c = cos(th), s = sin(th);
  double w1 = w * R, w2 = w * w * R, w3 = w * w * w * R;
  // sign of the x terms: +1 on the right circle, -1 on the left one
  double sx = t < 0.5 * task->period ? 1.0 : -1.0;
  r[SP_TASK_X] = sx * (R - R * c);
  r[SP_TASK_Y] = R * s;
  r[SP_TASK_XD] = sx * w1 * s;
  r[SP_TASK_YD] = w1 * c;
  r[SP_TASK_XDD] = sx * w2 * c;
  r[SP_TASK_YDD] = -w2 * s;
  if (drdt) {
    drdt[0] = r[SP_TASK_XD];
    drdt[1] = r[SP_TASK_YD];
    drdt[2] = r[SP_TASK_XDD];
    drdt[3] = r[SP_TASK_YDD];
    drdt[4] = -sx * w3 * s;
    drdt[5] = -w3 * c;
  }
}

static void circle(const sp_task* task, double* c, double* radius, double* dir, double t) {
  double R = task->prm[0];
  int right = t < 0.5 * task->period;
  c[0] = right ? R : -R;
  c[1] = 0;
  *radius = R;
  *dir = right ? -1.0 : 1.0;
}

static const sp_task_class figure_eight_class = {"figure_eight", eval, circle};

int sp_task_figure_eight_new(sp_task** out, double radius, double period) {
  *out = 0;
  if (!(radius > 0) || !(period > 0) || !isfinite(radius) || !isfinite(period)) return SP_EINVAL;
  sp_task* task = sp_calloc(1, sizeof(sp_task));
  if (!task) return SP_ENOMEM;
  task->cls = &figure_eight_class;
  task->period = period;
  task->periodic = 1;
  task->prm[0] = radius;
  *out = task;
  return 0;
}
