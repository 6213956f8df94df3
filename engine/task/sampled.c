// sampled.c: references through knots (t_i, x_i, y_i), linear or cubic-spline interpolated, with
// exact derivatives; Lua functions are sampled into this form.
//
// Cubic spline in second-derivative form (Press et al., Numerical Recipes, 3.3): on [t_i, t_i+1]
// with h = t_i+1 - t_i, A = (t_i+1 - t)/h, B = 1 - A,
//   S   = A y_i + B y_i+1 + ((A^3 - A) M_i + (B^3 - B) M_i+1) h^2 / 6
//   S'  = (y_i+1 - y_i)/h - (3A^2 - 1) h M_i / 6 + (3B^2 - 1) h M_i+1 / 6
//   S'' = A M_i + B M_i+1,   S''' = (M_i+1 - M_i) / h
// The M_i solve a tridiagonal system: natural ends (M = 0) for open paths, or a cyclic one for
// closed paths, solved with the Sherman-Morrison correction (Numerical Recipes, 2.7).
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/task/task.h"

// index i of the segment [kt[i], kt[i+1]] holding t (t inside [kt[0], kt[n-1]])
static int segment(const sp_task* task, double t) {
  int lo = 0, hi = task->n - 1;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (task->kt[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static void eval(const sp_task* task, double* r, double* drdt, double t) {
  int i = segment(task, t);
  double h = task->kt[i + 1] - task->kt[i];
  double B = (t - task->kt[i]) / h, A = 1 - B;
  for (int d = 0; d < 2; d++) {
    double y0 = task->kxy[2 * i + d], y1 = task->kxy[2 * (i + 1) + d];
    double p, v, a = 0, j = 0;
    if (task->interp == SP_TASK_CUBIC) {
      double m0 = task->kmm[2 * i + d], m1 = task->kmm[2 * (i + 1) + d];
      p = A * y0 + B * y1 + ((A * A * A - A) * m0 + (B * B * B - B) * m1) * h * h / 6;
      v = (y1 - y0) / h - (3 * A * A - 1) * h * m0 / 6 + (3 * B * B - 1) * h * m1 / 6;
      a = A * m0 + B * m1;
      j = (m1 - m0) / h;
    } else {
      p = A * y0 + B * y1;
      v = (y1 - y0) / h;
    }
    r[SP_TASK_X + d] = p;
    r[SP_TASK_XD + d] = v;
    r[SP_TASK_XDD + d] = a;
    if (drdt) {
      drdt[d] = v;
      drdt[2 + d] = a;
      drdt[4 + d] = j;
    }
  }
}

static const sp_task_class sampled_class = {"sampled", eval, 0};

// solve the tridiagonal system (sub a, diagonal b, super c) for x (m); w is scratch (m)
static void thomas(double* x, const double* a, const double* b, const double* c, const double* rhs,
                   int m, double* w) {
  double beta = b[0];
  x[0] = rhs[0] / beta;
  for (int i = 1; i < m; i++) {
    w[i] = c[i - 1] / beta;
    beta = b[i] - a[i] * w[i];
    x[i] = (rhs[i] - a[i] * x[i - 1]) / beta;
  }
  for (int i = m - 2; i >= 0; i--) x[i] -= w[i + 1] * x[i + 1];
}

// second derivatives of one coordinate (stride 2 in y and mm); work holds 8 m doubles
static void spline_m(double* mm, const double* t, const double* y, int n, int periodic,
                     double* work) {
  int m = periodic ? n - 1 : n - 2;  // unknowns
  double *a = work, *b = a + m, *c = b + m, *rhs = c + m, *x = rhs + m, *z = x + m, *u = z + m,
         *w = u + m;
  for (int k = 0; k < m; k++) {
    // knot index i of unknown k, with neighbours cyclic (periodic) or interior (natural)
    int i = periodic ? k : k + 1;
    int im = periodic ? (i + m - 1) % m : i - 1;
    double hm = t[i] - t[im] + (periodic && i == 0 ? t[n - 1] - t[0] : 0);
    double hp = t[i + 1] - t[i];
    double dm = (y[2 * i] - y[2 * im]) / hm, dp = (y[2 * (i + 1)] - y[2 * i]) / hp;
    if (periodic && i == 0) dm = (y[2 * (n - 1)] - y[2 * (n - 2)]) / hm;
    a[k] = hm;
    b[k] = 2 * (hm + hp);
    c[k] = hp;
    rhs[k] = 6 * (dp - dm);
  }
  for (int i = 0; i < n; i++) mm[2 * i] = 0;
  if (!periodic) {
    if (m > 0) thomas(x, a, b, c, rhs, m, w);
    for (int k = 0; k < m; k++) mm[2 * (k + 1)] = x[k];
    return;
  }
  // cyclic: corners A[0][m-1] = a[0] and A[m-1][0] = c[m-1]; Sherman-Morrison
  double alpha = c[m - 1], beta = a[0], gamma = -b[0];
  b[0] -= gamma;
  b[m - 1] -= alpha * beta / gamma;
  thomas(x, a, b, c, rhs, m, w);
  for (int k = 0; k < m; k++) u[k] = 0;
  u[0] = gamma;
  u[m - 1] = alpha;
  thomas(z, a, b, c, u, m, w);
  double fact = (x[0] + beta * x[m - 1] / gamma) / (1 + z[0] + beta * z[m - 1] / gamma);
  for (int k = 0; k < m; k++) mm[2 * k] = x[k] - fact * z[k];
  mm[2 * (n - 1)] = mm[0];
}

int sp_task_sampled_new(sp_task** out, const double* t, const double* xy, int n,
                        sp_task_interp interp, int periodic) {
  *out = 0;
  if (!t || !xy || (interp != SP_TASK_LINEAR && interp != SP_TASK_CUBIC)) return SP_EINVAL;
  int nmin = interp == SP_TASK_LINEAR ? 2 : (periodic ? 4 : 3);
  if (n < nmin) return SP_EINVAL;
  for (int i = 0; i < n; i++)
    if (!isfinite(t[i]) || !isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1])) return SP_EINVAL;
  for (int i = 0; i + 1 < n; i++)
    if (!(t[i + 1] > t[i])) return SP_EINVAL;
  if (periodic && (xy[0] != xy[2 * (n - 1)] || xy[1] != xy[2 * (n - 1) + 1])) return SP_EINVAL;

  sp_task* task = sp_calloc(1, sizeof(sp_task));
  if (!task) return SP_ENOMEM;
  // one allocation for times, positions and second derivatives
  double* mem = sp_malloc(sizeof(double) * 5 * (size_t)n);
  double* work = sp_malloc(sizeof(double) * 8 * (size_t)n);
  if (!mem || !work) {
    sp_free(mem);
    sp_free(work);
    sp_free(task);
    return SP_ENOMEM;
  }
  task->cls = &sampled_class;
  task->n = n;
  task->kt = mem;
  task->kxy = mem + n;
  task->kmm = mem + 3 * n;
  task->interp = interp;
  task->periodic = periodic ? 1 : 0;
  task->t0 = t[0];
  task->period = t[n - 1] - t[0];
  memcpy(task->kt, t, sizeof(double) * n);
  memcpy(task->kxy, xy, sizeof(double) * 2 * n);
  memset(task->kmm, 0, sizeof(double) * 2 * n);
  if (interp == SP_TASK_CUBIC)
    for (int d = 0; d < 2; d++) spline_m(task->kmm + d, t, xy + d, n, task->periodic, work);
  sp_free(work);
  *out = task;
  return 0;
}
