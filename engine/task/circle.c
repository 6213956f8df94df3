// circle.c: a circle of centre c and radius R driven at constant speed 2 pi R / T,
//   p = c + R (cos th, sin th),  th = angle0 + dir 2 pi t / T   (dir = +1 ccw, -1 cw).
#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/task/task.h"

static void eval(const sp_task* task, double* r, double* drdt, double t) {
  double cx = task->prm[0], cy = task->prm[1], R = task->prm[2], dir = task->prm[3];
  double w = dir * 2 * M_PI / task->period, th = task->prm[4] + w * t;
  double c = cos(th), s = sin(th);
  r[SP_TASK_X] = cx + R * c;
  r[SP_TASK_Y] = cy + R * s;
  r[SP_TASK_XD] = -R * w * s;
  r[SP_TASK_YD] = R * w * c;
  r[SP_TASK_XDD] = -R * w * w * c;
  r[SP_TASK_YDD] = -R * w * w * s;
  if (drdt) {
    for (int i = 0; i < 4; i++) drdt[i] = r[i + 2];
    drdt[4] = R * w * w * w * s;
    drdt[5] = -R * w * w * w * c;
  }
}

static void circle(const sp_task* task, double* c, double* radius, double* dir, double t) {
  c[0] = task->prm[0];
  c[1] = task->prm[1];
  *radius = task->prm[2];
  *dir = task->prm[3];
}

static const sp_task_class circle_class = {"circle", eval, circle};

int sp_task_circle_new(sp_task** out, double cx, double cy, double radius, double period, int dir,
                       double angle0) {
  *out = 0;
  if (!(radius > 0) || !(period > 0) || !isfinite(radius) || !isfinite(period) ||
      (dir != 1 && dir != -1) || !isfinite(cx) || !isfinite(cy) || !isfinite(angle0))
    return SP_EINVAL;
  sp_task* task = sp_calloc(1, sizeof(sp_task));
  if (!task) return SP_ENOMEM;
  task->cls = &circle_class;
  task->period = period;
  task->periodic = 1;
  task->prm[0] = cx;
  task->prm[1] = cy;
  task->prm[2] = radius;
  task->prm[3] = dir;
  task->prm[4] = angle0;
  *out = task;
  return 0;
}
