// ctrl_checks.h: checks every controller test runs (derivatives against central differences
// computed here from sp_ctrl_act alone, VJP = J' g accumulated, inputs not mutated, no allocation).
// Each returns 0 on success or prints what failed and returns 1.
#ifndef SP_TEST_CTRL_CHECKS_H
#define SP_TEST_CTRL_CHECKS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/rng.h"
#include "engine/ctrl/ctrl.h"
#include "workspace.h"

#define CC_MAX 64

// central differences of the clamped action wrt one input block (v, n), independent of the library
static void cc_fd(sp_ctrl* c, double* D, double* v, int n, const double* x, const double* r,
                  const double* K, double h) {
  double up[CC_MAX], um[CC_MAX];
  for (int j = 0; j < n; j++) {
    double v0 = v[j];
    v[j] = v0 + h;
    sp_ctrl_act(c, ctrl_ws(c), up, x, r, K);
    v[j] = v0 - h;
    sp_ctrl_act(c, ctrl_ws(c), um, x, r, K);
    v[j] = v0;
    for (int i = 0; i < c->nu; i++) D[i * n + j] = (up[i] - um[i]) / (2 * h);
  }
}

static int cc_close(const char* what, const double* a, const double* b, int n, double tol) {
  for (int i = 0; i < n; i++) {
    double s = fmax(1.0, fmax(fabs(a[i]), fabs(b[i])));
    if (!(fabs(a[i] - b[i]) <= tol * s)) {
      fprintf(stderr, "  %s[%d]: analytic %.12g, reference %.12g\n", what, i, a[i], b[i]);
      return 1;
    }
  }
  return 0;
}

// analytic du/dx, du/dr, du/dK against central differences at (x, r, K)
static int cc_check_jac(sp_ctrl* c, const double* x0, const double* r0, const double* K0,
                        double tol) {
  int nx = c->nx, nu = c->nu, nr = c->nr, nk = c->nk;
  double x[CC_MAX], r[CC_MAX], K[CC_MAX * 4];
  double Dx[CC_MAX * CC_MAX], Dr[CC_MAX * CC_MAX], DK[CC_MAX * CC_MAX * 4];
  double Fx[CC_MAX * CC_MAX], Fr[CC_MAX * CC_MAX], FK[CC_MAX * CC_MAX * 4];
  memcpy(x, x0, sizeof(double) * nx);
  memcpy(r, r0, sizeof(double) * nr);
  memcpy(K, K0, sizeof(double) * nk);
  if (sp_ctrl_jac(c, ctrl_ws(c), Dx, Dr, DK, x, r, K)) return 1;
  cc_fd(c, Fx, x, nx, x, r, K, 1e-6);
  cc_fd(c, Fr, r, nr, x, r, K, 1e-6);
  cc_fd(c, FK, K, nk, x, r, K, 1e-6);
  return cc_close("DuDx", Dx, Fx, nu * nx, tol) || cc_close("DuDr", Dr, Fr, nu * nr, tol) ||
         cc_close("DuDK", DK, FK, nu * nk, tol);
}

// vjp adds J' g to what the outputs held
static int cc_check_vjp(sp_ctrl* c, sp_rng* g_, const double* x, const double* r, const double* K) {
  int nx = c->nx, nu = c->nu, nr = c->nr, nk = c->nk;
  double g[CC_MAX], gx[CC_MAX], gr[CC_MAX], gK[CC_MAX * 4], ex[CC_MAX], er[CC_MAX], eK[CC_MAX * 4];
  double Dx[CC_MAX * CC_MAX], Dr[CC_MAX * CC_MAX], DK[CC_MAX * CC_MAX * 4];
  sp_rng_fill_normal(g_, g, nu, 0, 1);
  sp_rng_fill_normal(g_, gx, nx, 0, 1);
  sp_rng_fill_normal(g_, gr, nr, 0, 1);
  sp_rng_fill_normal(g_, gK, nk, 0, 1);
  memcpy(ex, gx, sizeof(double) * nx);
  memcpy(er, gr, sizeof(double) * nr);
  memcpy(eK, gK, sizeof(double) * nk);
  if (sp_ctrl_jac(c, ctrl_ws(c), Dx, Dr, DK, x, r, K)) return 1;
  for (int i = 0; i < nu; i++) {
    for (int j = 0; j < nx; j++) ex[j] += Dx[i * nx + j] * g[i];
    for (int j = 0; j < nr; j++) er[j] += Dr[i * nr + j] * g[i];
    for (int j = 0; j < nk; j++) eK[j] += DK[i * nk + j] * g[i];
  }
  if (sp_ctrl_vjp(c, ctrl_ws(c), gx, gr, gK, x, r, K, g)) return 1;
  return cc_close("gx", gx, ex, nx, 1e-12) || cc_close("gr", gr, er, nr, 1e-12) ||
         cc_close("gK", gK, eK, nk, 1e-12);
}

// act, jac and vjp leave x, r, K as they were
static int cc_check_no_mutation(sp_ctrl* c, const double* x0, const double* r0, const double* K0) {
  int nx = c->nx, nu = c->nu, nr = c->nr, nk = c->nk;
  double x[CC_MAX], r[CC_MAX], K[CC_MAX * 4], u[CC_MAX], g[CC_MAX];
  double Dx[CC_MAX * CC_MAX], Dr[CC_MAX * CC_MAX], DK[CC_MAX * CC_MAX * 4];
  double gx[CC_MAX] = {0}, gr[CC_MAX] = {0}, gK[CC_MAX * 4] = {0};
  memcpy(x, x0, sizeof(double) * nx);
  memcpy(r, r0, sizeof(double) * nr);
  memcpy(K, K0, sizeof(double) * nk);
  for (int i = 0; i < nu; i++) g[i] = 1.0 + i;
  sp_ctrl_act(c, ctrl_ws(c), u, x, r, K);
  sp_ctrl_jac(c, ctrl_ws(c), Dx, Dr, DK, x, r, K);
  sp_ctrl_vjp(c, ctrl_ws(c), gx, gr, gK, x, r, K, g);
  sp_ctrl_jac_fd(c, ctrl_ws(c), Dx, Dr, DK, x, r, K, 1e-6);
  return memcmp(x, x0, sizeof(double) * nx) || memcmp(r, r0, sizeof(double) * nr) ||
         memcmp(K, K0, sizeof(double) * nk);
}

// 1000 ticks of act + jac + vjp in a workspace made beforehand allocate nothing
static int cc_check_no_alloc(sp_ctrl* c, const double* x, const double* r, const double* K) {
  double u[CC_MAX], g[CC_MAX], Dx[CC_MAX * CC_MAX], Dr[CC_MAX * CC_MAX], DK[CC_MAX * CC_MAX * 4];
  double gx[CC_MAX] = {0}, gr[CC_MAX] = {0}, gK[CC_MAX * 4] = {0};
  for (int i = 0; i < c->nu; i++) g[i] = 1.0;
  sp_ctrl_data* d;
  if (sp_ctrl_data_new(&d, c)) return 1;
  uint64_t before = sp_alloc_count();
  for (int t = 0; t < 1000; t++) {
    sp_ctrl_act(c, d, u, x, r, K);
    sp_ctrl_jac(c, d, Dx, Dr, DK, x, r, K);
    sp_ctrl_vjp(c, d, gx, gr, gK, x, r, K, g);
    sp_ctrl_act(c, d, u, x, r, NULL);
  }
  uint64_t after = sp_alloc_count();
  sp_ctrl_data_free(d);
  return after != before;
}

#endif  // SP_TEST_CTRL_CHECKS_H
