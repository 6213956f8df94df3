// test_rbd_model.c: a tree as an sp_model: the continuous class's Jacobians in ambient
// coordinates (quaternions included) and model.c's RK4 step Jacobians, parameters included,
// against central differences, the semi-implicit class against sp_rbd_step, and an LQR designed on
// a cart-pole tree through sp_lqr_design that balances it.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/ctrl/lqr.h"
#include "engine/rbd/rbd_model.h"
#include "random_tree.h"
#include "test.h"
#include "workspace.h"

static double fd_err_f(sp_model* m, const double* x, const double* u) {
  int nx = m->nx, nu = m->nu;
  double fx[128 * 128], fu[128 * 64], xp[128], xm[128], up[64], um[64], fp[128], fm[128], e = 0;
  double h = 1e-6;
  sp_model_f_jac(m, model_ws(m), fx, fu, NULL, x, u);
  for (int j = 0; j < nx + nu; j++) {
    memcpy(xp, x, sizeof xp), memcpy(xm, x, sizeof xm);
    memcpy(up, u, sizeof up), memcpy(um, u, sizeof um);
    if (j < nx)
      xp[j] += h, xm[j] -= h;
    else
      up[j - nx] += h, um[j - nx] -= h;
    sp_model_f(m, model_ws(m), fp, xp, up);
    sp_model_f(m, model_ws(m), fm, xm, um);
    for (int i = 0; i < nx; i++) {
      double an = j < nx ? fx[i * nx + j] : fu[i * nu + j - nx];
      e = fmax(e, fabs(an - (fp[i] - fm[i]) / (2 * h)) / (1 + fabs(an)));
    }
  }
  return e;
}

static double fd_err_step(sp_model* m, const double* x, const double* u) {
  int nx = m->nx, nu = m->nu;
  double A[128 * 128], B[128 * 64], xp[128], xm[128], up[64], um[64], fp[128], fm[128], e = 0;
  double h = 1e-6;
  sp_model_step_jac(m, model_ws(m), NULL, A, B, NULL, x, u);
  for (int j = 0; j < nx + nu; j++) {
    memcpy(xp, x, sizeof xp), memcpy(xm, x, sizeof xm);
    memcpy(up, u, sizeof up), memcpy(um, u, sizeof um);
    if (j < nx)
      xp[j] += h, xm[j] -= h;
    else
      up[j - nx] += h, um[j - nx] -= h;
    sp_model_step(m, model_ws(m), fp, xp, up);
    sp_model_step(m, model_ws(m), fm, xm, um);
    for (int i = 0; i < nx; i++) {
      double an = j < nx ? A[i * nx + j] : B[i * nu + j - nx];
      e = fmax(e, fabs(an - (fp[i] - fm[i]) / (2 * h)) / (1 + fabs(an)));
    }
  }
  return e;
}

// max relative error of the parameter Jacobian P of the step against central differences of m->p
static double fd_err_params(sp_model* m, const double* x, const double* u) {
  static double P[128 * 400];
  int nx = m->nx, np = m->np;
  double fp[128], fm[128], e = 0;
  sp_model_step_jac(m, model_ws(m), NULL, NULL, NULL, P, x, u);
  for (int j = 0; j < np; j++) {
    double p0 = m->p[j], h = 1e-6 * fmax(1, fabs(p0));
    m->p[j] = p0 + h;
    sp_model_step(m, model_ws(m), fp, x, u);
    m->p[j] = p0 - h;
    sp_model_step(m, model_ws(m), fm, x, u);
    m->p[j] = p0;
    for (int i = 0; i < nx; i++) {
      double an = P[i * np + j];
      e = fmax(e, fabs(an - (fp[i] - fm[i]) / (2 * h)) / (1 + fabs(an)));
    }
  }
  return e;
}

TEST(continuous_model_jacobians_match_central_differences_with_quaternions) {
  for (int s = 0; s < 4; s++) {
    sp_rbd* t = rt_tree(900 + s, 7, 1, 0);
    sp_model* m;
    CHECK_INT(sp_rbd_model_new(&m, t, 0.01, SP_RBD_CONTINUOUS, "tree"), SP_OK);
    CHECK_INT(m->nx, t->nq + t->nv);
    CHECK_INT(m->nu, t->nu);
    sp_rng r;
    sp_rng_seed(&r, s, 9);
    double x[128], u[64];
    rt_state(t, &r, x, x + t->nq, u);
    // off the unit sphere too: the Jacobian is of the map as defined, not only on the manifold
    if (s % 2)
      for (int k = 0; k < t->nq; k++) x[k] *= 1.1;
    CHECK(fd_err_f(m, x, u) < 1e-6);
    CHECK(fd_err_step(m, x, u) < 1e-6);
    CHECK_INT(m->np, t->np);
    CHECK(fd_err_params(m, x, u) < 1e-6);
    sp_rbd_model_free(m);
    sp_rbd_free(t);
  }
}

TEST(semi_implicit_model_is_sp_rbd_step_with_its_jacobians) {
  for (int s = 0; s < 4; s++) {
    sp_rbd* t = NULL;
    // a tree without quaternions
    for (uint64_t seed = 950 + 10 * s;; seed++) {
      t = rt_tree(seed, 6, 0, 0);
      if (t->nq == t->nv) break;
      sp_rbd_free(t);
    }
    sp_model* m;
    CHECK_INT(sp_rbd_model_new(&m, t, 0.02, SP_RBD_SEMI_IMPLICIT, NULL), SP_OK);
    CHECK(m->cls->discrete);
    sp_rng r;
    sp_rng_seed(&r, s, 10);
    double x[128], u[64], xn[128], qn[64], vn[64];
    rt_state(t, &r, x, x + t->nq, u);
    sp_model_step(m, model_ws(m), xn, x, u);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rbd_step(qn, vn, NULL, NULL, NULL, d, x, x + t->nq, u, 0.02);
    CHECK(rt_err(xn, qn, t->nq) < 1e-14);
    CHECK(rt_err(xn + t->nq, vn, t->nv) < 1e-14);
    CHECK(fd_err_step(m, x, u) < 1e-6);
    CHECK(fd_err_params(m, x, u) < 1e-6);
    uint64_t n0 = sp_alloc_count();
    double A[128 * 128], B[128 * 64];
    for (int k = 0; k < 5; k++) sp_model_step_jac(m, model_ws(m), xn, A, B, NULL, x, u);
    CHECK_INT(sp_alloc_count() - n0, 0);
    sp_rbd_data_free(d);
    sp_rbd_model_free(m);
    sp_rbd_free(t);
  }
}

TEST(semi_implicit_model_refuses_quaternions) {
  sp_rbd* t = rt_tree(990, 4, 1, 0);
  sp_model* m;
  CHECK_INT(sp_rbd_model_new(&m, t, 0.02, SP_RBD_SEMI_IMPLICIT, NULL), SP_EUNSUPPORTED);
  CHECK(m == NULL);
  sp_rbd_free(t);
}

// cart (prismatic x, actuated) carrying a pole (revolute y) upright at q = 0
static sp_rbd* cartpole(void) {
  sp_rbd* t;
  sp_rbd_new(&t);
  sp_rbd_link l;
  int cart;
  sp_rbd_link_init(&l, "cart", -1, SP_RBD_PRISMATIC);
  l.axis[0] = 1, l.axis[2] = 0;
  l.mass = 1.0;
  l.inertia[0] = l.inertia[1] = l.inertia[2] = 0.01;
  l.actuated = 1;
  sp_rbd_add(t, &l, &cart, NULL, 0);
  sp_rbd_link_init(&l, "pole", cart, SP_RBD_REVOLUTE);
  l.axis[1] = 1, l.axis[2] = 0;
  l.mass = 0.1;
  l.com[2] = 0.5;
  l.inertia[0] = l.inertia[1] = 0.1 * 0.25 / 3, l.inertia[2] = 1e-5;
  sp_rbd_add(t, &l, NULL, NULL, 0);
  sp_rbd_finalize(t, NULL, 0);
  return t;
}

TEST(lqr_designed_on_a_cartpole_tree_balances_it) {
  sp_rbd* t = cartpole();
  sp_model* m;
  CHECK_INT(sp_rbd_model_new(&m, t, 0.01, SP_RBD_CONTINUOUS, "cartpole_tree"), SP_OK);
  double x0[4] = {0}, u0[1] = {0}, Q[16] = {0}, R[1] = {1}, K[4];
  Q[0] = Q[5] = 10, Q[10] = Q[15] = 1;
  sp_lqr_report rep;
  CHECK_INT(sp_lqr_design(K, &rep, m, x0, u0, Q, R, SP_LQR_DISCRETE), SP_OK);
  CHECK(rep.rho < 1);
  double x[4] = {0.1, 0.2, 0, 0}, xn[4];
  for (int k = 0; k < 1000; k++) {
    double u = 0;
    for (int i = 0; i < 4; i++) u -= K[i] * x[i];
    sp_model_step(m, model_ws(m), xn, x, &u);
    memcpy(x, xn, sizeof x);
  }
  for (int i = 0; i < 4; i++) CHECK(fabs(x[i]) < 1e-3);
  sp_rbd_model_free(m);
  sp_rbd_free(t);
}

TEST(a_registered_tree_is_made_by_name_like_any_model) {
  sp_rbd* t = cartpole();  // owned by the registry from now on
  CHECK_INT(sp_rbd_model_register(t, "test_cartpole_tree", SP_RBD_CONTINUOUS), SP_OK);
  CHECK_INT(sp_rbd_model_register(t, "test_cartpole_tree", SP_RBD_CONTINUOUS), SP_EINVAL);
  sp_model *byname, *direct;
  CHECK_INT(sp_model_new(&byname, "test_cartpole_tree", NULL, 0.01), SP_OK);
  CHECK_INT(sp_rbd_model_new(&direct, t, 0.01, SP_RBD_CONTINUOUS, NULL), SP_OK);
  CHECK_INT(byname->nx, 4);
  CHECK_INT(byname->np, t->np);
  double x[4] = {0.1, 0.2, -0.3, 0.4}, u[1] = {0.7}, a[4], b[4];
  sp_model_step(byname, model_ws(byname), a, x, u);
  sp_model_step(direct, model_ws(direct), b, x, u);
  for (int i = 0; i < 4; i++) CHECK(a[i] == b[i]);
  // its parameters are set by name as for any class
  CHECK_INT(sp_model_set_param(byname, "pole.mass", 0.2), SP_OK);
  sp_model_step(byname, model_ws(byname), a, x, u);
  CHECK(a[3] != b[3]);
  CHECK(fd_err_params(byname, x, u) < 1e-6);
  sp_model_free(byname);
  sp_rbd_model_free(direct);
}

TEST_MAIN()
