// lemniscate.c: the lemniscate of Gerono, x = a sin th, y = a sin th cos th = (a/2) sin 2 th,
// with th = 2 pi t / T: a figure-eight of half-width a and half-height a/2 crossing itself at the
// origin (Lawrence, A Catalog of Special Plane Curves, 1972). Speed varies along the curve; the
// active circle is the osculating one (none at the origin, an inflection point).
#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/task/task.h"

static void eval(const sp_task* task, double* r, double* drdt, double t) {
  double a = task->prm[0], w = 2 * M_PI / task->period, th = w * t;
  double s1 = sin(th), c1 = cos(th), s2 = sin(2 * th), c2 = cos(2 * th);
  r[SP_TASK_X] = a * s1;
  r[SP_TASK_Y] = 0.5 * a * s2;
  r[SP_TASK_XD] = a * w * c1;
  r[SP_TASK_YD] = a * w * c2;
  r[SP_TASK_XDD] = -a * w * w * s1;
  r[SP_TASK_YDD] = -2 * a * w * w * s2;
  if (drdt) {
    for (int i = 0; i < 4; i++) drdt[i] = r[i + 2];
    drdt[4] = -a * w * w * w * c1;
    drdt[5] = -4 * a * w * w * w * c2;
  }
}

static const sp_task_class lemniscate_class = {"lemniscate", eval, 0};

int sp_task_lemniscate_new(sp_task** out, double a, double period) {
  *out = 0;
  if (!(a > 0) || !(period > 0) || !isfinite(a) || !isfinite(period)) return SP_EINVAL;
  sp_task* task = sp_calloc(1, sizeof(sp_task));
  if (!task) return SP_ENOMEM;
  task->cls = &lemniscate_class;
  task->period = period;
  task->periodic = 1;
  task->prm[0] = a;
  *out = task;
  return 0;
}
