// task.c: what every reference generator shares: time wrapping, the active (or osculating)
// circle, the packed cost reference, and the progress estimate (closest point with a hint).
//
// Osculating circle of a planar curve with velocity v and acceleration a: signed curvature
// k = (vx ay - vy ax) / |v|^3, centre p + n / k with n = (-vy, vx) / |v| (do Carmo, Differential
// Geometry of Curves and Surfaces, 1.5).
#include "engine/task/task.h"

#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define PROGRESS_SAMPLES 96
#define PROGRESS_NEWTON 12

void sp_task_free(sp_task* task) {
  if (!task) return;
  sp_free(task->kt);
  sp_free(task);
}

const char* sp_task_name(const sp_task* task) {
  return task->cls->name;
}
double sp_task_period(const sp_task* task) {
  return task->period;
}

// time inside the task's domain; *held = 1 when a non-periodic task is past either end
static double domain_time(const sp_task* task, double t, int* held) {
  *held = 0;
  double u = t - task->t0;
  if (task->periodic) {
    u = fmod(u, task->period);
    if (u < 0) u += task->period;
    if (u >= task->period) u = 0;  // fmod rounding of tiny negatives
  } else if (u < 0) {
    u = 0;
    *held = 1;
  } else if (u > task->period) {
    u = task->period;
    *held = 1;
  }
  return task->t0 + u;
}

void sp_task_eval(const sp_task* task, double* r, double* drdt, double t) {
  int held;
  double tw = domain_time(task, t, &held);
  task->cls->eval(task, r, held ? 0 : drdt, tw);
  if (held) {
    // holding an end point: stationary reference
    for (int i = 2; i < SP_TASK_NR; i++) r[i] = 0;
    if (drdt)
      for (int i = 0; i < SP_TASK_NR; i++) drdt[i] = 0;
  }
}

void sp_task_eval_s(const sp_task* task, double* r, double* drds, double s) {
  sp_task_eval(task, r, drds, task->t0 + s * task->period);
  if (drds)
    for (int i = 0; i < SP_TASK_NR; i++) drds[i] *= task->period;
}

int sp_task_circle(const sp_task* task, double* c, double* radius, double* dir, double t) {
  int held;
  double tw = domain_time(task, t, &held);
  if (task->cls->circle) {
    task->cls->circle(task, c, radius, dir, tw);
    return 0;
  }
  // osculating circle of the reference at t
  double r[SP_TASK_NR];
  sp_task_eval(task, r, 0, t);
  double vx = r[SP_TASK_XD], vy = r[SP_TASK_YD], ax = r[SP_TASK_XDD], ay = r[SP_TASK_YDD];
  double sp = hypot(vx, vy);
  double cross = vx * ay - vy * ax;
  if (sp < 1e-12 || fabs(cross) < 1e-12 * sp * sp * sp) {
    c[0] = c[1] = 0;
    *radius = 0;
    *dir = 0;
    return SP_ERANGE;
  }
  double k = cross / (sp * sp * sp);
  c[0] = r[SP_TASK_X] - vy / (sp * k);
  c[1] = r[SP_TASK_Y] + vx / (sp * k);
  *radius = 1.0 / fabs(k);
  *dir = k > 0 ? 1.0 : -1.0;
  return 0;
}

int sp_task_ref(const sp_task* task, double* ref, double t) {
  sp_task_eval(task, ref, 0, t);
  return sp_task_circle(task, ref + SP_TASK_CX, ref + SP_TASK_RADIUS, ref + SP_TASK_DIR, t);
}

// squared distance from q to the path at progress s, with its first two derivatives in s
static double dist2(const sp_task* task, double s, double qx, double qy, double* d1, double* d2) {
  double r[SP_TASK_NR], dr[SP_TASK_NR];
  sp_task_eval_s(task, r, dr, s);
  double ex = r[SP_TASK_X] - qx, ey = r[SP_TASK_Y] - qy;
  // d/ds of position is dr[0..1]; second derivative is dr/ds of the velocity entries
  double px = dr[SP_TASK_X], py = dr[SP_TASK_Y];
  double pxx = dr[SP_TASK_XD] * task->period, pyy = dr[SP_TASK_YD] * task->period;
  if (d1) *d1 = 2 * (ex * px + ey * py);
  if (d2) *d2 = 2 * (px * px + py * py + ex * pxx + ey * pyy);
  return ex * ex + ey * ey;
}

// wrap s into [0, 1) for periodic tasks, clamp to [0, 1] otherwise
static double wrap_s(const sp_task* task, double s) {
  if (!task->periodic) return s < 0 ? 0 : (s > 1 ? 1 : s);
  s -= floor(s);
  return s >= 1 ? 0 : s;
}

double sp_task_progress(const sp_task* task, double x, double y, double s_hint, double window) {
  if (window <= 0) window = 0.25;
  if (window > 0.5) window = 0.5;
  int hinted = s_hint >= 0;
  if (hinted && !task->periodic && s_hint > 1) s_hint = 1;
  double lo, hi;
  if (hinted) {
    lo = s_hint - window;
    hi = s_hint + window;
  } else {
    lo = 0;
    hi = 1;
  }
  if (!task->periodic) {
    if (lo < 0) lo = 0;
    if (hi > 1) hi = 1;
  }
  // dense sampling: best sample, ties to the one nearest the hint
  int ns = PROGRESS_SAMPLES;
  double h = (hi - lo) / ns;
  double best = lo, bestd = INFINITY;
  for (int i = 0; i <= ns; i++) {
    double s = lo + i * h;
    double d = dist2(task, s, x, y, 0, 0);
    double tie = 1e-12 * (1 + d);
    if (d < bestd - tie ||
        (fabs(d - bestd) <= tie && hinted && fabs(s - s_hint) < fabs(best - s_hint))) {
      best = s;
      bestd = d;
    }
  }
  // safeguarded newton on d/ds |p(s) - q|^2 = 0 inside [best - h, best + h]
  double a = best - h, b = best + h;
  if (a < lo) a = lo;
  if (b > hi) b = hi;
  double s = best;
  for (int it = 0; it < PROGRESS_NEWTON; it++) {
    double d1, d2;
    dist2(task, s, x, y, &d1, &d2);
    if (!(d2 > 0)) break;
    double sn = s - d1 / d2;
    if (sn < a) sn = a;
    if (sn > b) sn = b;
    if (fabs(sn - s) < 1e-15) {
      s = sn;
      break;
    }
    s = sn;
  }
  // keep the refined point only if it is no worse than the best sample
  if (dist2(task, s, x, y, 0, 0) > bestd) s = best;
  return wrap_s(task, s);
}

void sp_task_phase_features(double* out, double s) {
  out[0] = cos(2 * M_PI * s);
  out[1] = sin(2 * M_PI * s);
}
