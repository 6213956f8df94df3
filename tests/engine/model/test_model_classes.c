// test_model_classes.c: every registered model class, checked the same way.
//
// For each class in the registry, at random states, actions and parameters over several seeds:
// f_jac against central finite differences of f; the step Jacobians A, B, P against central
// finite differences of sp_model_step for Euler and RK4 with 1 and 3 sub-steps; the VJP form
// against A^T g, B^T g, P^T g and its accumulation; no mutation of inputs; no allocation.
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

#define MAXN 16
#define NSEEDS 4
#define NPOINTS 5

// sampling ranges for classes whose dynamics need them (default: every entry in [-1.5, 1.5])
typedef struct {
  const char* name;
  int index;  // state entry
  double lo, hi;
} range;

static const range x_ranges[] = {
    {"bicycle_dyn", 3, 1.0, 6.0},  // forward speed away from the low-speed regularisation
    {"bicycle_kin", 3, -3.0, 3.0},
};

static void sample_point(sp_rng* r, const sp_model* m, double* x, double* u, double* p) {
  sp_rng_fill_uniform(r, x, (size_t)m->nx, -1.5, 1.5);
  sp_rng_fill_uniform(r, u, (size_t)m->nu, -1.5, 1.5);
  for (size_t k = 0; k < sizeof x_ranges / sizeof x_ranges[0]; k++)
    if (strcmp(x_ranges[k].name, m->cls->name) == 0)
      x[x_ranges[k].index] = x_ranges[k].lo + (x_ranges[k].hi - x_ranges[k].lo) * sp_rng_uniform(r);
  // parameters near their defaults (a small positive shift so zero defaults are exercised too)
  for (int i = 0; i < m->np; i++)
    p[i] = m->cls->p_default[i] * (0.8 + 0.4 * sp_rng_uniform(r)) + 0.05 * sp_rng_uniform(r);
}

// max over entries of |a - b| / (atol + rtol max(|a|, |b|)); <= 1 means close
static double mismatch(const double* a, const double* b, int n, double rtol, double atol,
                       int* worst) {
  double e = 0;
  for (int i = 0; i < n; i++) {
    double s = fabs(a[i] - b[i]) / (atol + rtol * fmax(fabs(a[i]), fabs(b[i])));
    if (!(s <= e)) e = s, *worst = i;
  }
  return e;
}

static int report(const char* model, const char* what, uint64_t seed, const double* a,
                  const double* b, int n, double rtol, double atol) {
  int worst = 0;
  double e = mismatch(a, b, n, rtol, atol, &worst);
  if (e <= 1) return 1;
  fprintf(stderr, "  %s: %s (seed %llu): entry %d analytic %.12g, finite differences %.12g\n",
          model, what, (unsigned long long)seed, worst, a[worst], b[worst]);
  return 0;
}

// central differences of f with respect to x, u or p (which = 0, 1, 2): J (nx x n)
static void f_fd(sp_model* m, double* J, int which, const double* x, const double* u,
                 const double* p) {
  double xx[MAXN], uu[MAXN], pp[MAXN], fa[MAXN], fb[MAXN];
  memcpy(xx, x, sizeof(double) * m->nx);
  memcpy(uu, u, sizeof(double) * m->nu);
  memcpy(pp, p, sizeof(double) * m->np);
  double* z = which == 0 ? xx : which == 1 ? uu : pp;
  int n = which == 0 ? m->nx : which == 1 ? m->nu : m->np;
  for (int j = 0; j < n; j++) {
    double z0 = z[j], h = 1e-6 * fmax(1, fabs(z0));
    z[j] = z0 + h;
    m->cls->f(m, fa, xx, uu, pp);
    z[j] = z0 - h;
    m->cls->f(m, fb, xx, uu, pp);
    z[j] = z0;
    for (int i = 0; i < m->nx; i++) J[i * n + j] = (fa[i] - fb[i]) / (2 * h);
  }
}

// central differences of the step with respect to x, u or p: J (nx x n)
static void step_fd(sp_model* m, double* J, int which, const double* x, const double* u) {
  double xx[MAXN], uu[MAXN], fa[MAXN], fb[MAXN];
  memcpy(xx, x, sizeof(double) * m->nx);
  memcpy(uu, u, sizeof(double) * m->nu);
  double* z = which == 0 ? xx : which == 1 ? uu : m->p;
  int n = which == 0 ? m->nx : which == 1 ? m->nu : m->np;
  for (int j = 0; j < n; j++) {
    double z0 = z[j], h = 1e-6 * fmax(1, fabs(z0));
    z[j] = z0 + h;
    sp_model_step(m, model_ws(m), fa, xx, uu);
    z[j] = z0 - h;
    sp_model_step(m, model_ws(m), fb, xx, uu);
    z[j] = z0;
    for (int i = 0; i < m->nx; i++) J[i * n + j] = (fa[i] - fb[i]) / (2 * h);
  }
}

static int nclasses(const char** names) {
  return sp_model_list(names, 64);
}

TEST(registry_holds_every_builtin_model) {
  const char* names[64];
  int n = nclasses(names);
  const char* expected[] = {"unicycle_accel", "car_drag",        "unicycle_vel", "bicycle_kin",
                            "bicycle_dyn",    "double_pendulum", "pendulum",     "cartpole"};
  for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
    int found = 0;
    for (int i = 0; i < n; i++) found |= strcmp(names[i], expected[k]) == 0;
    if (!found) fprintf(stderr, "  missing %s\n", expected[k]);
    CHECK(found);
  }
}

TEST(every_class_is_small_enough_for_these_tests_and_documented) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    const sp_model_class* cls = sp_model_find(names[c]);
    CHECK(cls != NULL);
    CHECK(cls->nx <= MAXN && cls->nu <= MAXN && cls->np <= MAXN);
    CHECK(cls->doc && strlen(cls->doc) > 10);
  }
}

TEST(f_jac_matches_central_differences_of_f) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    sp_model* m;
    CHECK_INT(sp_model_new(&m, names[c], NULL, 0.05), SP_OK);
    int nx = m->nx, nu = m->nu, np = m->np;
    for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
      sp_rng r;
      sp_rng_seed(&r, seed, 0);
      for (int k = 0; k < NPOINTS; k++) {
        double x[MAXN], u[MAXN], p[MAXN];
        double fx[MAXN * MAXN], fu[MAXN * MAXN], fp[MAXN * MAXN];
        double dx[MAXN * MAXN], du[MAXN * MAXN], dp[MAXN * MAXN];
        sample_point(&r, m, x, u, p);
        // NaN-filled outputs: f_jac must overwrite every entry
        for (int i = 0; i < MAXN * MAXN; i++) fx[i] = fu[i] = fp[i] = NAN;
        m->cls->f_jac(m, fx, fu, fp, x, u, p);
        f_fd(m, dx, 0, x, u, p);
        f_fd(m, du, 1, x, u, p);
        f_fd(m, dp, 2, x, u, p);
        int ok = report(names[c], "fx", seed, fx, dx, nx * nx, 1e-6, 1e-6) &&
                 report(names[c], "fu", seed, fu, du, nx * nu, 1e-6, 1e-6) &&
                 report(names[c], "fp", seed, fp, dp, nx * np, 1e-6, 1e-6);
        if (!ok) sp_model_free(m);
        CHECK(ok);
        // the same fx when fu and fp are not wanted
        double fx2[MAXN * MAXN];
        m->cls->f_jac(m, fx2, NULL, NULL, x, u, p);
        CHECK(memcmp(fx, fx2, sizeof(double) * nx * nx) == 0);
      }
    }
    sp_model_free(m);
  }
}

static const struct {
  sp_integrator integ;
  int substeps;
  const char* label;
} schemes[] = {
    {SP_INTEGRATOR_EULER, 1, "euler/1"},
    {SP_INTEGRATOR_EULER, 3, "euler/3"},
    {SP_INTEGRATOR_RK4, 1, "rk4/1"},
    {SP_INTEGRATOR_RK4, 3, "rk4/3"},
};

TEST(step_jacobians_match_central_differences_of_the_step) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    for (size_t s = 0; s < sizeof schemes / sizeof schemes[0]; s++) {
      sp_model* m;
      CHECK_INT(sp_model_new(&m, names[c], NULL, 0.05), SP_OK);
      CHECK_INT(sp_model_configure(m, 0.05, schemes[s].integ, schemes[s].substeps), SP_OK);
      int nx = m->nx, nu = m->nu, np = m->np;
      for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
        sp_rng r;
        sp_rng_seed(&r, seed, 1);
        for (int k = 0; k < NPOINTS; k++) {
          double x[MAXN], u[MAXN], xn[MAXN], xn2[MAXN];
          double A[MAXN * MAXN], B[MAXN * MAXN], P[MAXN * MAXN];
          double dA[MAXN * MAXN], dB[MAXN * MAXN], dP[MAXN * MAXN];
          sample_point(&r, m, x, u, m->p);
          sp_model_step_jac(m, model_ws(m), xn, A, B, P, x, u);
          sp_model_step(m, model_ws(m), xn2, x, u);
          step_fd(m, dA, 0, x, u);
          step_fd(m, dB, 1, x, u);
          step_fd(m, dP, 2, x, u);
          char what[64];
          snprintf(what, sizeof what, "%s A", schemes[s].label);
          int ok = report(names[c], what, seed, A, dA, nx * nx, 1e-6, 1e-7);
          snprintf(what, sizeof what, "%s B", schemes[s].label);
          ok = ok && report(names[c], what, seed, B, dB, nx * nu, 1e-6, 1e-7);
          snprintf(what, sizeof what, "%s P", schemes[s].label);
          ok = ok && report(names[c], what, seed, P, dP, nx * np, 1e-6, 1e-7);
          // the state step_jac returns is the one step computes, bit for bit
          ok = ok && memcmp(xn, xn2, sizeof(double) * nx) == 0;
          // asking for one block gives the same numbers as asking for all
          double B1[MAXN * MAXN];
          sp_model_step_jac(m, model_ws(m), NULL, NULL, B1, NULL, x, u);
          ok = ok && memcmp(B, B1, sizeof(double) * nx * nu) == 0;
          if (!ok) sp_model_free(m);
          CHECK(ok);
        }
      }
      sp_model_free(m);
    }
  }
}

TEST(vjp_equals_transposed_jacobians_and_accumulates) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    for (size_t s = 0; s < sizeof schemes / sizeof schemes[0]; s++) {
      sp_model* m;
      CHECK_INT(sp_model_new(&m, names[c], NULL, 0.03), SP_OK);
      CHECK_INT(sp_model_configure(m, 0.03, schemes[s].integ, schemes[s].substeps), SP_OK);
      int nx = m->nx, nu = m->nu, np = m->np;
      for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
        sp_rng r;
        sp_rng_seed(&r, seed, 2);
        double x[MAXN], u[MAXN], g[MAXN];
        double A[MAXN * MAXN], B[MAXN * MAXN], P[MAXN * MAXN];
        double gx[MAXN], gu[MAXN], gp[MAXN], gx0[MAXN], gu0[MAXN], gp0[MAXN];
        sample_point(&r, m, x, u, m->p);
        sp_rng_fill_normal(&r, g, (size_t)nx, 0, 1);
        sp_rng_fill_normal(&r, gx0, (size_t)nx, 0, 1);
        sp_rng_fill_normal(&r, gu0, (size_t)nu, 0, 1);
        sp_rng_fill_normal(&r, gp0, (size_t)np, 0, 1);
        memcpy(gx, gx0, sizeof gx);
        memcpy(gu, gu0, sizeof gu);
        memcpy(gp, gp0, sizeof gp);
        sp_model_step_jac(m, model_ws(m), NULL, A, B, P, x, u);
        for (int times = 1; times <= 2; times++) {
          sp_model_step_vjp(m, model_ws(m), gx, gu, gp, x, u, g);
          for (int j = 0; j < nx; j++) {
            double e = gx0[j];
            for (int i = 0; i < nx; i++) e += times * A[i * nx + j] * g[i];
            CHECK_CLOSE(gx[j], e, 1e-12, 1e-12);
          }
          for (int j = 0; j < nu; j++) {
            double e = gu0[j];
            for (int i = 0; i < nx; i++) e += times * B[i * nu + j] * g[i];
            CHECK_CLOSE(gu[j], e, 1e-12, 1e-12);
          }
          for (int j = 0; j < np; j++) {
            double e = gp0[j];
            for (int i = 0; i < nx; i++) e += times * P[i * np + j] * g[i];
            CHECK_CLOSE(gp[j], e, 1e-12, 1e-12);
          }
        }
        // only gu wanted: gx and gp untouched, gu accumulates once more
        double gu_before[MAXN];
        memcpy(gu_before, gu, sizeof gu);
        sp_model_step_vjp(m, model_ws(m), NULL, gu, NULL, x, u, g);
        for (int j = 0; j < nu; j++) {
          double e = gu_before[j];
          for (int i = 0; i < nx; i++) e += B[i * nu + j] * g[i];
          CHECK_CLOSE(gu[j], e, 1e-12, 1e-12);
        }
      }
      sp_model_free(m);
    }
  }
}

TEST(step_does_not_mutate_its_inputs) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    sp_model* m;
    CHECK_INT(sp_model_new(&m, names[c], NULL, 0.05), SP_OK);
    int nx = m->nx, nu = m->nu, np = m->np;
    sp_rng r;
    sp_rng_seed(&r, 7, 3);
    double x[MAXN], u[MAXN], g[MAXN], xc[MAXN], uc[MAXN], gc[MAXN], pc[MAXN];
    double xn[MAXN], A[MAXN * MAXN], B[MAXN * MAXN], P[MAXN * MAXN];
    double gx[MAXN] = {0}, gu[MAXN] = {0}, gp[MAXN] = {0};
    sample_point(&r, m, x, u, m->p);
    sp_rng_fill_normal(&r, g, (size_t)nx, 0, 1);
    memcpy(xc, x, sizeof x);
    memcpy(uc, u, sizeof u);
    memcpy(gc, g, sizeof g);
    memcpy(pc, m->p, sizeof(double) * np);
    sp_model_step(m, model_ws(m), xn, x, u);
    sp_model_step_jac(m, model_ws(m), xn, A, B, P, x, u);
    sp_model_step_vjp(m, model_ws(m), gx, gu, gp, x, u, g);
    int ok = memcmp(x, xc, sizeof(double) * nx) == 0 && memcmp(u, uc, sizeof(double) * nu) == 0 &&
             memcmp(g, gc, sizeof(double) * nx) == 0 && memcmp(m->p, pc, sizeof(double) * np) == 0;
    sp_model_free(m);
    if (!ok) fprintf(stderr, "  %s mutated an input\n", names[c]);
    CHECK(ok);
  }
}

TEST(step_jacobians_and_vjp_do_not_allocate) {
  const char* names[64];
  int n = nclasses(names);
  for (int c = 0; c < n; c++) {
    sp_model* m;
    CHECK_INT(sp_model_new(&m, names[c], NULL, 0.05), SP_OK);
    CHECK_INT(sp_model_configure(m, 0.05, SP_INTEGRATOR_RK4, 3), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, 11, 4);
    double x[MAXN], u[MAXN], g[MAXN], xn[MAXN];
    double A[MAXN * MAXN], B[MAXN * MAXN], P[MAXN * MAXN];
    double gx[MAXN] = {0}, gu[MAXN] = {0}, gp[MAXN] = {0};
    sample_point(&r, m, x, u, m->p);
    sp_rng_fill_normal(&r, g, (size_t)m->nx, 0, 1);
    sp_model_data* d;
    CHECK_INT(sp_model_data_new(&d, m), SP_OK);
    uint64_t before = sp_alloc_count();
    for (int k = 0; k < 100; k++) {
      sp_model_step(m, d, xn, x, u);
      sp_model_step_jac(m, d, xn, A, B, P, x, u);
      sp_model_step_vjp(m, d, gx, gu, gp, x, u, g);
    }
    uint64_t after = sp_alloc_count();
    sp_model_data_free(d);
    sp_model_free(m);
    CHECK_INT(after - before, 0);
  }
}

TEST_MAIN()
