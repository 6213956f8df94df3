// test_model.c: the registry, instance lifecycle, parameters by name, and the integrators.
//
// Integrators are checked on a scalar linear test class x' = a x + b u, whose Euler and RK4 steps
// have closed forms (RK4 applies the degree-4 Taylor polynomial of exp(h a)), and on a discrete
// class whose step must be its map, whatever the integrator.
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

// x' = a x + b u with p = (a, b)
static void lin_f(const sp_model* m, double* xd, const double* x, const double* u,
                  const double* p) {
  xd[0] = p[0] * x[0] + p[1] * u[0];
}
static void lin_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                    const double* u, const double* p) {
  fx[0] = p[0];
  if (fu) fu[0] = p[1];
  if (fp) fp[0] = x[0], fp[1] = u[0];
}
static const char* const lin_x[] = {"x"};
static const char* const lin_u[] = {"u"};
static const char* const lin_p[] = {"a", "b"};
static const double lin_p0[] = {-0.7, 2.0};
static const sp_model_class linear = {
    .name = "test_linear",
    .doc = "x' = a x + b u",
    .nx = 1,
    .nu = 1,
    .np = 2,
    .x_names = lin_x,
    .u_names = lin_u,
    .p_names = lin_p,
    .p_default = lin_p0,
    .f = lin_f,
    .f_jac = lin_jac,
};

// discrete map x+ = c x^2 + u with p = (c)
static void sq_f(const sp_model* m, double* xn, const double* x, const double* u, const double* p) {
  xn[0] = p[0] * x[0] * x[0] + u[0];
}
static void sq_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                   const double* u, const double* p) {
  fx[0] = 2 * p[0] * x[0];
  if (fu) fu[0] = 1;
  if (fp) fp[0] = x[0] * x[0];
}
static const char* const sq_p[] = {"c"};
static const double sq_p0[] = {0.5};
static const sp_model_class square = {
    .name = "test_square_map",
    .doc = "x+ = c x^2 + u",
    .nx = 1,
    .nu = 1,
    .np = 1,
    .x_names = lin_x,
    .u_names = lin_u,
    .p_names = sq_p,
    .p_default = sq_p0,
    .discrete = 1,
    .f = sq_f,
    .f_jac = sq_jac,
};

// ---- registry -----------------------------------------------------------------------------------

TEST(new_on_an_unknown_name_is_not_found_and_leaves_out_null) {
  sp_model* m = (sp_model*)&m;
  CHECK_INT(sp_model_new(&m, "no_such_model", NULL, 0.1), SP_ENOTFOUND);
  CHECK(m == NULL);
  CHECK(sp_model_find("no_such_model") == NULL);
  CHECK(sp_model_find(NULL) == NULL);
}

TEST(user_class_registers_once_and_is_found_by_name) {
  CHECK_INT(sp_model_register(&linear), SP_OK);
  CHECK(sp_model_find("test_linear") == &linear);
  CHECK_INT(sp_model_register(&linear), SP_EINVAL);
  // a different class under a taken name is refused too, built-in names included
  sp_model_class copy = linear;
  copy.name = "unicycle_accel";
  CHECK_INT(sp_model_register(&copy), SP_EINVAL);
  CHECK(sp_model_find("unicycle_accel") != &copy);
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "test_linear", NULL, 0.1), SP_OK);
  CHECK(m->cls == &linear);
  sp_model_free(m);
}

TEST(list_reports_the_total_and_fills_at_most_n) {
  const char* names[2] = {NULL, NULL};
  int total = sp_model_list(names, 1);
  CHECK(total >= 1);
  CHECK(names[0] != NULL);
  CHECK(names[1] == NULL);
  CHECK_INT(sp_model_list(NULL, 0), total);
}

TEST(invalid_classes_are_refused) {
  sp_model_class bad = linear;
  bad.name = "test_bad";
  bad.f = NULL;
  CHECK_INT(sp_model_register(&bad), SP_EINVAL);
  bad = linear;
  bad.name = "test_bad";
  bad.f_jac = NULL;
  CHECK_INT(sp_model_register(&bad), SP_EINVAL);
  bad = linear;
  bad.name = "test_bad";
  bad.nx = 0;
  CHECK_INT(sp_model_register(&bad), SP_EINVAL);
  bad = linear;
  bad.name = "test_bad";
  bad.p_names = NULL;
  CHECK_INT(sp_model_register(&bad), SP_EINVAL);
  bad = linear;
  bad.name = "";
  CHECK_INT(sp_model_register(&bad), SP_EINVAL);
  CHECK_INT(sp_model_register(NULL), SP_EINVAL);
  CHECK(sp_model_find("test_bad") == NULL);
}

// ---- instances and parameters -------------------------------------------------------------------

TEST(new_copies_defaults_or_given_parameters) {
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &linear, NULL, 0.1), SP_OK);
  CHECK_INT(m->nx, 1);
  CHECK_INT(m->nu, 1);
  CHECK_INT(m->np, 2);
  CHECK(m->p[0] == -0.7 && m->p[1] == 2.0);
  CHECK(m->dt == 0.1);
  CHECK_INT(m->integrator, SP_INTEGRATOR_RK4);
  CHECK_INT(m->substeps, 1);
  sp_model_free(m);
  const double p[] = {3, 4};
  CHECK_INT(sp_model_new_class(&m, &linear, p, 0.1), SP_OK);
  CHECK(m->p[0] == 3 && m->p[1] == 4);
  sp_model_free(m);
  sp_model_free(NULL);
}

TEST(new_refuses_a_step_length_that_is_not_positive_and_finite) {
  sp_model* m = (sp_model*)&m;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0), SP_EINVAL);
  CHECK(m == NULL);
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, -0.1), SP_EINVAL);
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, NAN), SP_EINVAL);
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, INFINITY), SP_EINVAL);
  CHECK_INT(sp_model_new(NULL, "unicycle_accel", NULL, 0.1), SP_EINVAL);
  CHECK_INT(sp_model_new(&m, NULL, NULL, 0.1), SP_EINVAL);
  CHECK_INT(sp_model_new_class(&m, NULL, NULL, 0.1), SP_EINVAL);
}

static int refuse_all(size_t n, void* user) {
  return 1;
}

TEST(new_reports_out_of_memory) {
  sp_model* m = (sp_model*)&m;
  sp_alloc_set_hook(refuse_all, NULL);
  int rc = sp_model_new(&m, "unicycle_accel", NULL, 0.1);
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(rc, SP_ENOMEM);
  CHECK(m == NULL);
  // a workspace likewise
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0.1), SP_OK);
  sp_model_data* d = (sp_model_data*)&m;
  sp_alloc_set_hook(refuse_all, NULL);
  rc = sp_model_data_new(&d, m);
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(rc, SP_ENOMEM);
  CHECK(d == NULL);
  CHECK_INT(sp_model_data_new(&d, NULL), SP_EINVAL);
  sp_model_free(m);
}

TEST(parameters_are_read_and_set_by_name) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0.1), SP_OK);
  CHECK_INT(sp_model_param_index(m, "k_a"), 0);
  CHECK_INT(sp_model_param_index(m, "k_s"), 1);
  CHECK_INT(sp_model_set_param(m, "k_s", 2.5), SP_OK);
  CHECK(m->p[1] == 2.5);
  double v = 0;
  CHECK_INT(sp_model_get_param(m, "k_s", &v), SP_OK);
  CHECK(v == 2.5);
  CHECK_INT(sp_model_param_index(m, "k_z"), SP_ENOTFOUND);
  CHECK_INT(sp_model_set_param(m, "k_z", 1), SP_ENOTFOUND);
  CHECK_INT(sp_model_get_param(m, "k_z", &v), SP_ENOTFOUND);
  CHECK_INT(sp_model_param_index(m, NULL), SP_ENOTFOUND);
  CHECK(m->p[0] == 1 && m->p[1] == 2.5);
  CHECK_STR(sp_strerror(SP_ENOTFOUND), "not found");
  sp_model_free(m);
}

TEST(configure_checks_before_changing_anything) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0.1), SP_OK);
  CHECK_INT(sp_model_configure(m, 0.02, SP_INTEGRATOR_EULER, 4), SP_OK);
  CHECK(m->dt == 0.02 && m->integrator == SP_INTEGRATOR_EULER && m->substeps == 4);
  CHECK_INT(sp_model_configure(m, 0.05, SP_INTEGRATOR_RK4, 0), SP_EINVAL);
  CHECK_INT(sp_model_configure(m, 0, SP_INTEGRATOR_RK4, 1), SP_EINVAL);
  CHECK_INT(sp_model_configure(m, 0.05, (sp_integrator)7, 1), SP_EINVAL);
  CHECK_INT(sp_model_configure(NULL, 0.05, SP_INTEGRATOR_RK4, 1), SP_EINVAL);
  CHECK(m->dt == 0.02 && m->integrator == SP_INTEGRATOR_EULER && m->substeps == 4);
  sp_model_free(m);
}

// ---- integrators --------------------------------------------------------------------------------

// closed forms for x' = a x + b u over one step of length h
static double euler_lin(double a, double b, double x, double u, double h) {
  return x + h * (a * x + b * u);
}
static double rk4_lin(double a, double b, double x, double u, double h) {
  double z = h * a;
  double R = 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24;
  double S = 1 + z / 2 + z * z / 6 + z * z * z / 24;
  return R * x + h * S * b * u;
}

TEST(euler_and_rk4_steps_match_their_closed_forms_on_a_linear_system) {
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &linear, NULL, 0.3), SP_OK);
  double a = m->p[0], b = m->p[1], x = 1.3, u = -0.4, xn, A, B, P[2];
  CHECK_INT(sp_model_configure(m, 0.3, SP_INTEGRATOR_EULER, 1), SP_OK);
  sp_model_step(m, model_ws(m), &xn, &x, &u);
  CHECK_CLOSE(xn, euler_lin(a, b, x, u, 0.3), 1e-15, 0);
  sp_model_step_jac(m, model_ws(m), NULL, &A, &B, P, &x, &u);
  CHECK_CLOSE(A, 1 + 0.3 * a, 1e-15, 0);
  CHECK_CLOSE(B, 0.3 * b, 1e-15, 0);
  CHECK_CLOSE(P[0], 0.3 * x, 1e-15, 0);
  CHECK_CLOSE(P[1], 0.3 * u, 1e-15, 0);
  CHECK_INT(sp_model_configure(m, 0.3, SP_INTEGRATOR_RK4, 1), SP_OK);
  sp_model_step(m, model_ws(m), &xn, &x, &u);
  CHECK_CLOSE(xn, rk4_lin(a, b, x, u, 0.3), 1e-15, 0);
  // A is the stability polynomial R(h a), B is h S(h a) b
  double z = 0.3 * a;
  sp_model_step_jac(m, model_ws(m), NULL, &A, &B, NULL, &x, &u);
  CHECK_CLOSE(A, 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24, 1e-15, 0);
  CHECK_CLOSE(B, 0.3 * (1 + z / 2 + z * z / 6 + z * z * z / 24) * b, 1e-15, 0);
  sp_model_free(m);
}

TEST(substeps_equal_repeated_steps_of_the_shorter_length) {
  for (int integ = 0; integ < 2; integ++) {
    sp_model* m;
    CHECK_INT(sp_model_new_class(&m, &linear, NULL, 0.3), SP_OK);
    CHECK_INT(sp_model_configure(m, 0.3, (sp_integrator)integ, 3), SP_OK);
    double a = m->p[0], b = m->p[1], x = 0.9, u = 0.6, xn, A;
    sp_model_step_jac(m, model_ws(m), &xn, &A, NULL, NULL, &x, &u);
    double e = x, ea = 1;
    for (int s = 0; s < 3; s++) {
      e = integ ? rk4_lin(a, b, e, u, 0.1) : euler_lin(a, b, e, u, 0.1);
      ea *= integ ? rk4_lin(a, 0, 1, 0, 0.1) : euler_lin(a, 0, 1, 0, 0.1);
    }
    CHECK_CLOSE(xn, e, 1e-14, 0);
    CHECK_CLOSE(A, ea, 1e-14, 0);
    sp_model_free(m);
  }
}

TEST(rk4_error_shrinks_sixteenfold_when_the_step_halves) {
  // x' = a x with exact solution exp(a t) x0, over t = 1
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &linear, NULL, 0.1), SP_OK);
  m->p[0] = -1.3;
  double x0 = 1, u = 0, err[3];
  for (int k = 0; k < 3; k++) {
    int steps = 20 << k;
    CHECK_INT(sp_model_configure(m, 1.0 / steps, SP_INTEGRATOR_RK4, 1), SP_OK);
    double x = x0, xn;
    for (int s = 0; s < steps; s++) sp_model_step(m, model_ws(m), &xn, &x, &u), x = xn;
    err[k] = fabs(x - exp(-1.3));
  }
  CHECK_CLOSE(err[0] / err[1], 16, 0.06, 0);
  CHECK_CLOSE(err[1] / err[2], 16, 0.06, 0);
  sp_model_free(m);
}

TEST(a_discrete_class_steps_by_its_map_whatever_the_integrator) {
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &square, NULL, 0.1), SP_OK);
  for (int integ = 0; integ < 2; integ++) {
    CHECK_INT(sp_model_configure(m, 0.1, (sp_integrator)integ, 3), SP_OK);
    double x = 1.5, u = 0.25, xn, A, B, P, gx = 1, gu = 2, gp = 3, g = 0.5;
    sp_model_step_jac(m, model_ws(m), &xn, &A, &B, &P, &x, &u);
    CHECK(xn == 0.5 * 1.5 * 1.5 + 0.25);
    CHECK(A == 1.5 && B == 1 && P == 2.25);
    sp_model_step_vjp(m, model_ws(m), &gx, &gu, &gp, &x, &u, &g);
    CHECK(gx == 1 + 0.75 && gu == 2.5 && gp == 3 + 1.125);
  }
  sp_model_free(m);
}

TEST(step_jac_with_nothing_wanted_still_steps) {
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &linear, NULL, 0.2), SP_OK);
  double x = 0.4, u = 1, xn = 0, xs;
  sp_model_step_jac(m, model_ws(m), &xn, NULL, NULL, NULL, &x, &u);
  sp_model_step(m, model_ws(m), &xs, &x, &u);
  CHECK(xn == xs);
  sp_model_step_vjp(m, model_ws(m), NULL, NULL, NULL, &x, &u, &x);
  sp_model_free(m);
}

TEST(f_and_f_jac_use_the_instance_parameters) {
  sp_model* m;
  const double p[] = {0.25, -3};
  CHECK_INT(sp_model_new_class(&m, &linear, p, 0.1), SP_OK);
  double x = 2, u = 0.5, xd, fx, fu, fp[2];
  sp_model_f(m, model_ws(m), &xd, &x, &u);
  CHECK(xd == 0.25 * 2 - 3 * 0.5);
  sp_model_f_jac(m, model_ws(m), &fx, &fu, fp, &x, &u);
  CHECK(fx == 0.25 && fu == -3 && fp[0] == 2 && fp[1] == 0.5);
  fu = 9;
  // fx not wanted: the class still gets a buffer
  sp_model_f_jac(m, model_ws(m), NULL, NULL, fp, &x, &u);
  CHECK(fp[0] == 2 && fu == 9);
  sp_model_free(m);
}

// x' = -x: no action, no parameters
static void decay_f(const sp_model* m, double* xd, const double* x, const double* u,
                    const double* p) {
  xd[0] = -x[0];
}
static void decay_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                      const double* u, const double* p) {
  fx[0] = -1;
}
static const sp_model_class decay = {
    .name = "test_decay",
    .doc = "x' = -x",
    .nx = 1,
    .x_names = lin_x,
    .f = decay_f,
    .f_jac = decay_jac,
};

TEST(a_class_without_actions_or_parameters_steps_and_differentiates) {
  sp_model* m;
  CHECK_INT(sp_model_new_class(&m, &decay, NULL, 0.5), SP_OK);
  double x = 2, xn, A, B = 7, P = 8, gx = 0, gu = 5, gp = 6, g = 1;
  sp_model_step_jac(m, model_ws(m), &xn, &A, &B, &P, &x, NULL);
  CHECK_CLOSE(xn, 2 * rk4_lin(-1, 0, 1, 0, 0.5), 1e-15, 0);
  CHECK_CLOSE(A, rk4_lin(-1, 0, 1, 0, 0.5), 1e-15, 0);
  CHECK(B == 7 && P == 8);  // zero-width blocks: nothing written
  sp_model_step_vjp(m, model_ws(m), &gx, &gu, &gp, &x, NULL, &g);
  CHECK_CLOSE(gx, A, 1e-15, 0);
  CHECK(gu == 5 && gp == 6);
  CHECK_INT(sp_model_param_index(m, "a"), SP_ENOTFOUND);
  sp_model_free(m);
}

TEST_MAIN()
