// bench_model.c: cost of a model step and of its exact Jacobians, against the finite-difference
// Jacobian (2 (nx + nu + np) extra steps) a user would otherwise compute. One JSON line per model
// and integrator; timings are informative only.
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/rng.h"
#include "engine/model/model.h"

#define MAXN 16

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// central differences of the step in x, u and p: the reference the exact Jacobians replace
static void jac_fd(sp_model* m, sp_model_data* d, double* A, double* B, double* P, const double* x,
                   const double* u) {
  double xx[MAXN], uu[MAXN], fa[MAXN], fb[MAXN];
  memcpy(xx, x, sizeof(double) * m->nx);
  memcpy(uu, u, sizeof(double) * m->nu);
  double* z[3] = {xx, uu, m->p};
  double* J[3] = {A, B, P};
  int n[3] = {m->nx, m->nu, m->np};
  for (int b = 0; b < 3; b++)
    for (int j = 0; j < n[b]; j++) {
      double z0 = z[b][j], h = 1e-6 * (z0 > 1 || z0 < -1 ? (z0 > 0 ? z0 : -z0) : 1);
      z[b][j] = z0 + h;
      sp_model_step(m, d, fa, xx, uu);
      z[b][j] = z0 - h;
      sp_model_step(m, d, fb, xx, uu);
      z[b][j] = z0;
      for (int i = 0; i < m->nx; i++) J[b][i * n[b] + j] = (fa[i] - fb[i]) / (2 * h);
    }
}

int main(void) {
  const char* names[64];
  int count = sp_model_list(names, 64);
  const char* integ_names[] = {"euler", "rk4"};
  for (int c = 0; c < count && c < 64; c++) {
    for (int integ = 0; integ < 2; integ++) {
      sp_model* m;
      if (sp_model_new(&m, names[c], NULL, 0.01)) return 1;
      sp_model_configure(m, 0.01, (sp_integrator)integ, 1);
      sp_model_data* d;
      if (sp_model_data_new(&d, m)) return 1;
      sp_rng r;
      sp_rng_seed(&r, 1, 0);
      double x[MAXN], u[MAXN], xn[MAXN], A[MAXN * MAXN], B[MAXN * MAXN], P[MAXN * MAXN];
      sp_rng_fill_uniform(&r, x, (size_t)m->nx, -1, 1);
      sp_rng_fill_uniform(&r, u, (size_t)m->nu, -1, 1);
      if (strcmp(names[c], "bicycle_dyn") == 0) x[3] = 5;
      int reps = 20000;
      double t0 = now();
      for (int k = 0; k < reps; k++) sp_model_step(m, d, xn, x, u);
      double t1 = now();
      for (int k = 0; k < reps; k++) sp_model_step_jac(m, d, xn, A, B, P, x, u);
      double t2 = now();
      for (int k = 0; k < reps / 10; k++) jac_fd(m, d, A, B, P, x, u);
      double t3 = now();
      printf(
          "{\"name\": \"model_step_jac\", \"model\": \"%s\", \"integrator\": \"%s\", "
          "\"step_ns\": %.1f, \"step_jac_ns\": %.1f, \"fd_jac_ns\": %.1f}\n",
          names[c], integ_names[integ], 1e9 * (t1 - t0) / reps, 1e9 * (t2 - t1) / reps,
          1e9 * (t3 - t2) / (reps / 10));
      sp_model_data_free(d);
      sp_model_free(m);
    }
  }
  return 0;
}
