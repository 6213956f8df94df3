// test_gauss_newton.c: the Gauss-Newton trust-region step (engine/grad/gauss_newton.c). On a
// linear-quadratic problem (linear model, policy linear in x and theta, quadratic cost) G is the
// Hessian of J, so G v equals central differences of the gradient and one undamped step reaches
// the optimum; on the car under model mismatch G v equals an explicit J^T H J built from dense
// sensitivities and an independent eigen-decomposition; G is symmetric and positive
// semi-definite; the gradient is the feedback estimator's; the step respects its radius and its
// cap on the predicted decrease (halved for a last step after a poor prediction); a rejected step
// returns to its start, or goes on from where it ended when the model along its rollout predicts
// a lower cost; the saved trust-region state continues bitwise; the products and the
// solve do not allocate.
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/grad/gauss_newton.h"
#include "grad_checks.h"
#include "test.h"

// the LQ problem in closed loop: lq_test model, LQR u = u_ff - K (x - x_set) whose set point
// and feed-forward are corrected by a linear function of the phase: u is linear in x and theta
static int lq_closed(sp_model** m, sp_ctrl** c, sp_policy** p) {
  if (!sp_model_find("lq_test")) sp_model_register(&lq_class);
  int rc = sp_model_new(m, "lq_test", NULL, 0.1);
  double K[4] = {1.0, 1.5, 0.2, 0.1};
  if (!rc) rc = sp_lqr_new(c, K, 2, 2);
  if (rc) return rc;
  sp_policy_output outs[4] = {{SP_POLICY_OUT_REF, 0, 0.5},
                              {SP_POLICY_OUT_REF, 1, 0.5},
                              {SP_POLICY_OUT_REF, 2, 0.5},
                              {SP_POLICY_OUT_REF, 3, 0.5}};
  sp_policy_config cfg = {.ctrl = *c,
                          .features = SP_POLICY_FEATURES_PHASE,
                          .period = 2.0,
                          .nhidden = 0,
                          .hidden_act = SP_ACT_IDENTITY,
                          .out_act = SP_ACT_IDENTITY,
                          .nout = 4,
                          .outputs = outs,
                          .seed = 3,
                          .init_last = 1};
  return sp_policy_new(p, &cfg);
}

// helpers return the first failing code
#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

// the feedback gradient of the plant's cost at theta (plant = model: the exact gradient)
static int plant_grad(double* g, double* J, sp_policy* p, sp_model* m, const sp_objective* obj,
                      sp_trajview* tr, const double* x0) {
  memset(g, 0, sizeof(double) * p->nparams);
  TRY(sp_policy_rollout(tr, p, policy_ws(p), m, model_ws(m), x0, 0, 0));
  return sp_grad_feedback(g, J, p, m, obj, tr, 0);
}

TEST(gn_product_equals_finite_differences_of_the_gradient_on_linear_quadratic_problems) {
  for (int closed = 0; closed <= 1; closed++) {
    sp_model* m;
    sp_ctrl* c = NULL;
    sp_policy* p;
    if (closed)
      CHECK_INT(lq_closed(&m, &c, &p), 0);
    else
      CHECK_INT(lq_setup(&m, &p, 5), 0);
    sp_objective obj;
    sp_cost *cs, *ct;
    CHECK_INT(regulation_objective(&obj, &cs, &ct, 2, 2, 0.1), 0);
    sp_trajview tr;
    CHECK_INT(sp_trajview_new(&tr, 40, 2, 2), 0);
    double x0[2] = {1.0, -0.5}, J;
    size_t n = p->nparams;
    double *g = sp_calloc(n, sizeof(double)), *gp = sp_calloc(n, sizeof(double));
    double *gm = sp_calloc(n, sizeof(double)), *v = sp_calloc(n, sizeof(double));
    double *Gv = sp_calloc(n, sizeof(double)), *fd = sp_calloc(n, sizeof(double));
    CHECK_INT(plant_grad(g, &J, p, m, &obj, &tr, x0), 0);
    sp_gn* gn;
    CHECK_INT(sp_gn_new(&gn, p, NULL), 0);
    CHECK_INT(sp_gn_build(gn, p, m, &obj, &tr, 0), 0);
    sp_rng r;
    sp_rng_seed(&r, 11, 0);
    double* th = sp_policy_params(p);
    for (int trial = 0; trial < 3; trial++) {
      for (size_t i = 0; i < n; i++) v[i] = sp_rng_normal(&r);
      sp_gn_gvp(gn, Gv, NULL, v);
      double h = 1e-4;
      for (size_t i = 0; i < n; i++) th[i] += h * v[i];
      CHECK_INT(plant_grad(gp, &J, p, m, &obj, &tr, x0), 0);
      for (size_t i = 0; i < n; i++) th[i] -= 2 * h * v[i];
      CHECK_INT(plant_grad(gm, &J, p, m, &obj, &tr, x0), 0);
      for (size_t i = 0; i < n; i++) th[i] += h * v[i], fd[i] = (gp[i] - gm[i]) / (2 * h);
      double e = rel_err(Gv, fd, n);
      printf("  %s loop, trial %d: |Gv| %.4g rel err vs FD of the gradient %.2e\n",
             closed ? "closed" : "open", trial, norm2(Gv, n), e);
      CHECK(norm2(Gv, n) > 1e-3);
      CHECK(e < 1e-7);
    }
    sp_gn_free(gn);
    sp_free(g), sp_free(gp), sp_free(gm), sp_free(v), sp_free(Gv), sp_free(fd);
    sp_trajview_free(&tr);
    sp_cost_free(cs), sp_cost_free(ct);
    policy_free(p), sp_ctrl_free(c), sp_model_free(m);
  }
}

TEST(one_undamped_step_reaches_the_optimum_of_a_linear_quadratic_problem) {
  sp_model* m;
  sp_ctrl* c;
  sp_policy* p;
  CHECK_INT(lq_closed(&m, &c, &p), 0);
  sp_objective obj;
  sp_cost *cs, *ct;
  CHECK_INT(regulation_objective(&obj, &cs, &ct, 2, 2, 0.1), 0);
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 40, 2, 2), 0);
  double x0[2] = {1.0, -0.5}, J0, J1, J2;
  size_t n = p->nparams;
  double *g = sp_calloc(n, sizeof(double)), *d = sp_calloc(n, sizeof(double));
  CHECK_INT(plant_grad(g, &J0, p, m, &obj, &tr, x0), 0);
  double g0 = norm2(g, n);
  sp_gn_config cfg = {.subspace = (int)n};
  sp_gn* gn;
  CHECK_INT(sp_gn_new(&gn, p, &cfg), 0);
  CHECK_INT(sp_gn_build(gn, p, m, &obj, &tr, 0), 0);
  CHECK(sp_gn_subspace(gn) >= 1);  // the Krylov space may close early (G has few distinct modes)
  sp_gn_info info;
  sp_gn_solve(gn, d, &info, INFINITY);
  CHECK_CLOSE(info.lambda, 0, 0, 0);
  double* th = sp_policy_params(p);
  for (size_t i = 0; i < n; i++) th[i] += d[i];
  CHECK_INT(plant_grad(g, &J1, p, m, &obj, &tr, x0), 0);
  printf("  J %.6f -> %.6f (predicted %.6f), |g| %.3g -> %.3g\n", J0, J1, J0 - info.pred, g0,
         norm2(g, n));
  CHECK(J1 < J0);
  CHECK_CLOSE(J1, J0 - info.pred, 1e-9, 1e-12);
  CHECK(norm2(g, n) < 1e-8 * g0);
  // and it is a minimum: moving away in any direction costs more
  sp_rng r;
  sp_rng_seed(&r, 2, 0);
  for (int trial = 0; trial < 5; trial++) {
    for (size_t i = 0; i < n; i++) d[i] = 0.01 * sp_rng_normal(&r), th[i] += d[i];
    CHECK_INT(plant_grad(g, &J2, p, m, &obj, &tr, x0), 0);
    for (size_t i = 0; i < n; i++) th[i] -= d[i];
    CHECK(J2 > J1);
  }
  sp_gn_free(gn);
  sp_free(g), sp_free(d);
  sp_trajview_free(&tr);
  sp_cost_free(cs), sp_cost_free(ct);
  policy_free(p), sp_ctrl_free(c), sp_model_free(m);
}

// the car under model mismatch (gamma = 0.5): a recorded plant trajectory, the halved model
typedef struct car_case {
  sp_model *plant, *model;
  fixture f;
  sp_objective obj;
  sp_cost *c, *ct;
  sp_trajview tr;
} car_case;

static int car_case_new(car_case* k, int T, uint64_t seed) {
  memset(k, 0, sizeof *k);
  TRY(sp_model_new(&k->plant, "car_drag", NULL, 0.02));
  TRY(sp_model_new(&k->model, "car_drag", NULL, 0.02));
  for (int i = 0; i < k->model->np; i++) k->model->p[i] *= 0.5;
  TRY(car_fixture(&k->f, 4, seed, 1));
  TRY(car_objective(&k->obj, &k->c, &k->ct, k->f.task));
  k->obj.k0 = 10;
  TRY(sp_trajview_new(&k->tr, T, 4, 2));
  double x0[4] = {0.1, -0.1, 2.0, 1.5};
  return sp_policy_rollout(&k->tr, k->f.pol, policy_ws(k->f.pol), k->plant, model_ws(k->plant), x0,
                           0, 0);
}

static void car_case_free(car_case* k) {
  sp_trajview_free(&k->tr);
  sp_cost_free(k->c), sp_cost_free(k->ct);
  fixture_free(&k->f);
  sp_model_free(k->plant), sp_model_free(k->model);
}

// H (n x n) = PSD part of the Hessian of the cost at step k in z, by differences of the cost's
// gradient and LAPACK's symmetric eigen-decomposition (independent of the engine's)
static int explicit_hessian(double* H, const sp_objective* obj, const double* x, const double* u,
                            double t, int k, int T) {
  int n = k < T ? 6 : 4;
  double z[6], gp[6], gm[6], S[36], w[6], V[36], ref[SP_TASK_NREF], tmp[8], c;
  memcpy(z, x, sizeof(double) * 4);
  if (k < T) memcpy(z + 4, u, sizeof(double) * 2);
  memset(H, 0, sizeof(double) * 36);
  for (int i = 0; i < n; i++) {
    double keep = z[i], h = 1e-5 * fmax(1, fabs(keep));
    z[i] = keep + h;
    sp__objective_step(obj, &c, gp, k < T ? gp + 4 : NULL, ref, tmp, z, k < T ? z + 4 : NULL, t, k,
                       T, 4, 2);
    z[i] = keep - h;
    sp__objective_step(obj, &c, gm, k < T ? gm + 4 : NULL, ref, tmp, z, k < T ? z + 4 : NULL, t, k,
                       T, 4, 2);
    z[i] = keep;
    for (int j = 0; j < n; j++) S[j * n + i] = (gp[j] - gm[j]) / (2 * h);
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) S[i * n + j] = S[j * n + i] = 0.5 * (S[i * n + j] + S[j * n + i]);
  TRY(sp_la_eigh(w, V, S, n));
  for (int e = 0; e < n; e++)
    for (int i = 0; i < n && w[e] > 0; i++)
      for (int j = 0; j < n; j++) H[i * 6 + j] += w[e] * V[i * n + e] * V[j * n + e];
  return 0;
}

TEST(gn_product_equals_an_explicit_jacobian_construction_on_the_car_under_mismatch) {
  car_case k;
  int T = 120;
  CHECK_INT(car_case_new(&k, T, 4), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  // dense closed-loop sensitivities Jz[k] = d(x[k], u[k]) / dtheta (6 x n), forward
  double* S = sp_calloc(4 * n, sizeof(double));
  double* Sn = sp_calloc(4 * n, sizeof(double));
  double* Jz = sp_calloc(6 * n, sizeof(double));
  double* G = sp_calloc(n * n, sizeof(double));
  double* HJ = sp_calloc(6 * n, sizeof(double));
  for (int s = 0; s <= T; s++) {
    const double* x = k.tr.X + 4 * s;
    const double* u = s < T ? k.tr.U + 2 * s : NULL;
    memset(Jz, 0, sizeof(double) * 6 * n);
    memcpy(Jz, S, sizeof(double) * 4 * n);
    double A[16], B[8], Px[8], e[2];
    if (s < T) {
      sp_model_step_jac(k.model, model_ws(k.model), NULL, A, B, NULL, x, u);
      CHECK_INT(sp_policy_jac_x(p, policy_ws(p), Px, x, k.tr.t[s]), 0);
      for (int a = 0; a < 2; a++) {
        e[0] = a == 0, e[1] = a == 1;
        CHECK_INT(sp_policy_vjp(p, policy_ws(p), NULL, Jz + (4 + a) * n, x, k.tr.t[s], e), 0);
        for (int i = 0; i < 4; i++)
          for (size_t j = 0; j < n; j++) Jz[(4 + a) * n + j] += Px[a * 4 + i] * S[i * n + j];
      }
    }
    double H[36];
    CHECK_INT(explicit_hessian(H, &k.obj, x, u, k.tr.t[s], s, T), 0);
    // G += Jz^T H Jz
    for (int i = 0; i < 6; i++)
      for (size_t j = 0; j < n; j++) {
        double v = 0;
        for (int l = 0; l < 6; l++) v += H[i * 6 + l] * Jz[l * n + j];
        HJ[i * n + j] = v;
      }
    for (int i = 0; i < 6; i++)
      for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) G[a * n + b] += Jz[i * n + a] * HJ[i * n + b];
    if (s == T) break;
    // S+ = A S + B dU
    for (int i = 0; i < 4; i++)
      for (size_t j = 0; j < n; j++) {
        double v = 0;
        for (int l = 0; l < 4; l++) v += A[i * 4 + l] * S[l * n + j];
        for (int l = 0; l < 2; l++) v += B[i * 2 + l] * Jz[(4 + l) * n + j];
        Sn[i * n + j] = v;
      }
    memcpy(S, Sn, sizeof(double) * 4 * n);
  }
  sp_gn* gn;
  CHECK_INT(sp_gn_new(&gn, p, NULL), 0);
  CHECK_INT(sp_gn_build(gn, p, k.model, &k.obj, &k.tr, 0), 0);
  double *v = sp_calloc(n, sizeof(double)), *Gv = sp_calloc(n, sizeof(double));
  double* ref = sp_calloc(n, sizeof(double));
  sp_rng r;
  sp_rng_seed(&r, 5, 0);
  for (int trial = 0; trial < 3; trial++) {
    for (size_t i = 0; i < n; i++) v[i] = sp_rng_normal(&r);
    sp_gn_gvp(gn, Gv, NULL, v);
    for (size_t a = 0; a < n; a++) ref[a] = 0;
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < n; b++) ref[a] += G[a * n + b] * v[b];
    double e = rel_err(Gv, ref, n);
    printf("  trial %d: |Gv| %.4g rel err vs explicit J^T H J v %.2e\n", trial, norm2(Gv, n), e);
    CHECK(norm2(Gv, n) > 1e-3);
    CHECK(e < 1e-6);
  }
  sp_gn_free(gn);
  sp_free(S), sp_free(Sn), sp_free(Jz), sp_free(G), sp_free(HJ), sp_free(v), sp_free(Gv);
  sp_free(ref);
  car_case_free(&k);
}

TEST(gn_matrix_is_symmetric_and_positive_semidefinite_and_its_gradient_is_the_feedback_estimate) {
  for (int segment = 0; segment <= 7; segment += 7) {
    car_case k;
    CHECK_INT(car_case_new(&k, 300, 2), 0);
    sp_policy* p = k.f.pol;
    size_t n = p->nparams;
    sp_gn* gn;
    CHECK_INT(sp_gn_new(&gn, p, NULL), 0);
    CHECK_INT(sp_gn_build(gn, p, k.model, &k.obj, &k.tr, segment), 0);
    double* g = sp_calloc(n, sizeof(double));
    double J;
    CHECK_INT(sp_grad_feedback(g, &J, p, k.model, &k.obj, &k.tr, segment), 0);
    CHECK_CLOSE(gn->J, J, 1e-12, 0);
    CHECK(rel_err(gn->g, g, n) < 1e-12);
    double *a = sp_calloc(n, sizeof(double)), *b = sp_calloc(n, sizeof(double));
    double *Ga = sp_calloc(n, sizeof(double)), *Gb = sp_calloc(n, sizeof(double));
    sp_rng r;
    sp_rng_seed(&r, 9, 0);
    for (int trial = 0; trial < 5; trial++) {
      for (size_t i = 0; i < n; i++) a[i] = sp_rng_normal(&r), b[i] = sp_rng_normal(&r);
      sp_gn_gvp(gn, Ga, NULL, a);
      sp_gn_gvp(gn, Gb, NULL, b);
      double aGb = 0, bGa = 0, aGa = 0, aa = 0;
      for (size_t i = 0; i < n; i++) aGb += a[i] * Gb[i], bGa += b[i] * Ga[i], aGa += a[i] * Ga[i];
      for (size_t i = 0; i < n; i++) aa += a[i] * a[i];
      CHECK_CLOSE(aGb, bGa, 1e-10, 1e-12);
      CHECK(aGa >= 0);
      // the action metric too
      sp_gn_dvp(gn, Ga, a);
      double aDa = 0;
      for (size_t i = 0; i < n; i++) aDa += a[i] * Ga[i];
      CHECK(aDa >= 0);
    }
    // and along its own Krylov basis: the projected matrix has no negative eigenvalue
    int m = sp_gn_subspace(gn);
    CHECK(m > 1);
    double* w = sp_calloc((size_t)m, sizeof(double));
    CHECK_INT(sp_la_eigh(w, NULL, gn->Gm, m), 0);
    printf("  segment %d: subspace %d, eigenvalues of V'GV in [%.3g, %.3g]\n", segment, m, w[0],
           w[m - 1]);
    CHECK(w[0] > -1e-9 * w[m - 1]);
    sp_free(w), sp_free(g), sp_free(a), sp_free(b), sp_free(Ga), sp_free(Gb);
    sp_gn_free(gn);
    car_case_free(&k);
  }
}

TEST(steps_respect_the_radius_and_products_and_solves_do_not_allocate) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 3), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  sp_gn* gn;
  CHECK_INT(sp_gn_new(&gn, p, NULL), 0);
  CHECK_INT(sp_gn_build(gn, p, k.model, &k.obj, &k.tr, 0), 0);
  sp_gn_subspace(gn);
  double *d = sp_calloc(n, sizeof(double)), *out = sp_calloc(n, sizeof(double));
  double* w = sp_calloc((size_t)k.tr.T * 2, sizeof(double));
  uint64_t before = sp_alloc_count();
  double prev = 0;
  for (double radius = 0.001; radius < 1; radius *= 4) {
    sp_gn_info info;
    sp_gn_solve(gn, d, &info, radius);
    sp_gn_gvp(gn, out, w, d);
    sp_gn_dvp(gn, out, d);
    // the realised first-order action change is the reported one, within the radius
    double s = 0;
    for (int i = 0; i < 2 * k.tr.T; i++) s += w[i] * w[i];
    CHECK_CLOSE(sqrt(s / k.tr.T), info.dact, 1e-8, 1e-12);
    CHECK(info.dact <= radius * (1 + 1e-8));
    CHECK(info.pred >= prev * (1 - 1e-12));  // a larger region never predicts less
    prev = info.pred;
  }
  CHECK(sp_alloc_count() == before);
  sp_free(d), sp_free(out), sp_free(w);
  sp_gn_free(gn);
  car_case_free(&k);
}

// a copy of k's trajectory with the car displaced by (dx, dx) all along: a rollout that cost far
// more than the recorded one
static int displaced_copy(sp_trajview* out, const sp_trajview* in, double dx) {
  TRY(sp_trajview_new(out, in->T, in->nx, in->nu));
  memcpy(out->X, in->X, sizeof(double) * (size_t)(in->T + 1) * in->nx);
  memcpy(out->U, in->U, sizeof(double) * (size_t)in->T * in->nu);
  memcpy(out->t, in->t, sizeof(double) * (size_t)(in->T + 1));
  for (int k = 0; k <= in->T; k++) out->X[k * in->nx] += dx, out->X[k * in->nx + 1] += dx;
  return 0;
}

TEST(a_step_whose_rollout_cost_far_more_is_undone_and_replaced_by_a_smaller_one) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 1), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  sp_trajview bad;
  CHECK_INT(displaced_copy(&bad, &k.tr, 3.0), 0);
  sp_gn_config cfg = {.radius = 0.05, .eta = 0.1};
  sp_gn* gn;
  CHECK_INT(sp_gn_new(&gn, p, &cfg), 0);
  double* th0 = sp_calloc(n, sizeof(double));
  memcpy(th0, sp_policy_params(p), sizeof(double) * n);
  sp_gn_info a, b;
  CHECK_INT(sp_gn_step(gn, &a, p, k.model, &k.obj, &k.tr, 0), 0);
  CHECK(a.accepted && isnan(a.rho) && a.pred > 0);
  CHECK(a.dact <= 0.05 * (1 + 1e-8) && a.dact > 0.03);
  // the step's rollout cost several times the start's: its own model cannot predict a cost
  // below (1 - max_decrease) of it, above the start's, so the step is undone
  CHECK_INT(sp_gn_step(gn, &b, p, k.model, &k.obj, &bad, 0), 0);
  printf("  start J %.2f, rejected rollout J %.2f, rho %.2f\n", a.J, b.J, b.rho);
  CHECK(b.J > a.J / (1 - 0.65));
  CHECK(!b.accepted && b.rho < 0);
  CHECK(b.radius <= 0.25 * a.dact * (1 + 1e-12));
  CHECK(b.dact <= b.radius * (1 + 1e-8) && b.pred > 0 && b.pred < a.pred);
  // theta = the first point + the smaller step (not + both), from the stored subspace
  double* d = sp_calloc(n, sizeof(double));
  sp_gn_solve(gn, d, NULL, b.radius);
  const double* th = sp_policy_params(p);
  for (size_t i = 0; i < n; i++) CHECK_CLOSE(th[i], th0[i] + d[i], 1e-12, 1e-15);
  sp_free(d), sp_free(th0);
  sp_trajview_free(&bad);
  sp_gn_free(gn);
  car_case_free(&k);
}

TEST(a_rejected_step_goes_on_from_where_it_ended_when_that_rollouts_model_predicts_lower) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 1), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  sp_gn_config cfg = {.radius = 0.05, .eta = 0.1};
  sp_gn *gn, *at0, *at1;
  CHECK_INT(sp_gn_new(&gn, p, &cfg), 0);
  CHECK_INT(sp_gn_new(&at0, p, &cfg), 0);
  CHECK_INT(sp_gn_new(&at1, p, &cfg), 0);
  double *th0 = sp_calloc(n, sizeof(double)), *th1 = sp_calloc(n, sizeof(double));
  double *d = sp_calloc(n, sizeof(double)), *th2 = sp_calloc(n, sizeof(double));
  memcpy(th0, sp_policy_params(p), sizeof(double) * n);
  sp_gn_info a, b, i0, i1;
  CHECK_INT(sp_gn_step(gn, &a, p, k.model, &k.obj, &k.tr, 0), 0);
  memcpy(th1, sp_policy_params(p), sizeof(double) * n);
  // the same trajectory again: the step saved nothing (rho = 0 < eta), but the model along it at
  // the step's end predicts a lower cost than a smaller step from the start: theta goes on
  CHECK_INT(sp_gn_step(gn, &b, p, k.model, &k.obj, &k.tr, 0), 0);
  CHECK(b.accepted);
  CHECK_CLOSE(b.rho, 0, 0, 1e-12);
  CHECK(b.radius <= 0.25 * a.dact * (1 + 1e-12));
  CHECK(b.dact <= b.radius * (1 + 1e-8) && b.pred > 0);
  memcpy(th2, sp_policy_params(p), sizeof(double) * n);
  // the two candidates, each from an optimiser built where it starts
  memcpy(sp_policy_params(p), th1, sizeof(double) * n);
  CHECK_INT(sp_gn_build(at1, p, k.model, &k.obj, &k.tr, 0), 0);
  sp_gn_subspace(at1);
  memcpy(sp_policy_params(p), th0, sizeof(double) * n);
  CHECK_INT(sp_gn_build(at0, p, k.model, &k.obj, &k.tr, 0), 0);
  sp_gn_subspace(at0);
  sp_gn_solve(at0, d, &i0, b.radius);
  sp_gn_solve(at1, d, &i1, b.radius);
  printf("  predicted cost: %.4f from the start, %.4f from the rejected point\n", a.J - i0.pred,
         b.J - i1.pred);
  CHECK(b.J - i1.pred < a.J - i0.pred);
  CHECK_CLOSE(b.pred, i1.pred, 1e-12, 1e-12);
  // theta = the rejected point + the step its own model gives
  for (size_t i = 0; i < n; i++) CHECK_CLOSE(th2[i], th1[i] + d[i], 1e-12, 1e-15);
  sp_free(d), sp_free(th0), sp_free(th1), sp_free(th2);
  sp_gn_free(gn), sp_gn_free(at0), sp_gn_free(at1);
  car_case_free(&k);
}

TEST(a_step_never_predicts_removing_more_than_its_fraction_of_the_cost) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 2), 0);
  for (int i = 0; i < 2; i++) {
    double frac = i ? 0.05 : 0.5;
    sp_gn_config cfg = {.radius = 1, .max_decrease = frac};
    sp_gn* gn;
    CHECK_INT(sp_gn_new(&gn, k.f.pol, &cfg), 0);
    double* th0 = sp_calloc(k.f.pol->nparams, sizeof(double));
    memcpy(th0, sp_policy_params(k.f.pol), sizeof(double) * k.f.pol->nparams);
    sp_gn_info a;
    CHECK_INT(sp_gn_step(gn, &a, k.f.pol, k.model, &k.obj, &k.tr, 0), 0);
    printf("  max_decrease %.2f: J %.3f, predicted decrease %.4f, action change %.4f\n", frac, a.J,
           a.pred, a.dact);
    CHECK(a.pred <= frac * a.J * (1 + 1e-9));
    if (i) CHECK(a.pred >= 0.99 * frac * a.J);  // at the cap, not below it
    memcpy(sp_policy_params(k.f.pol), th0, sizeof(double) * k.f.pol->nparams);
    sp_free(th0);
    sp_gn_free(gn);
  }
  car_case_free(&k);
}

TEST(a_last_step_after_a_poor_prediction_predicts_half_as_much) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 2), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  double* th0 = sp_calloc(n, sizeof(double));
  memcpy(th0, sp_policy_params(p), sizeof(double) * n);
  double pred[2][2];  // [last_step][first, second step]
  for (int last = 0; last <= 1; last++) {
    // eta far below 0: the second step (same trajectory, rho = 0) is accepted, not undone; a
    // fixed radius of 1: the cap on the predicted decrease is what limits both steps
    sp_gn_config cfg = {
        .max_decrease = 0.05, .eta = -1e9, .radius = 1, .radius_min = 1, .radius_max = 1};
    sp_gn* gn;
    CHECK_INT(sp_gn_new(&gn, p, &cfg), 0);
    memcpy(sp_policy_params(p), th0, sizeof(double) * n);
    sp_gn_info a, b;
    gn->last_step = last;  // on the first step there is no rho yet: no change
    CHECK_INT(sp_gn_step(gn, &a, p, k.model, &k.obj, &k.tr, 0), 0);
    CHECK_INT(sp_gn_step(gn, &b, p, k.model, &k.obj, &k.tr, 0), 0);
    CHECK(b.accepted && b.rho < 0.75);
    pred[last][0] = a.pred / a.J, pred[last][1] = b.pred / b.J;
    sp_gn_free(gn);
  }
  CHECK_CLOSE(pred[1][0], pred[0][0], 1e-12, 0);
  CHECK(pred[0][1] >= 0.99 * 0.05 && pred[0][1] <= 0.05 * (1 + 1e-9));
  CHECK(pred[1][1] >= 0.99 * 0.025 && pred[1][1] <= 0.025 * (1 + 1e-9));
  memcpy(sp_policy_params(p), th0, sizeof(double) * n);
  sp_free(th0);
  car_case_free(&k);
}

// one step of gn from theta, then theta (np) holds the result and info the step's figures
static int step_on(sp_gn* gn, sp_gn_info* info, car_case* k, const double* theta,
                   const sp_trajview* tr) {
  memcpy(sp_policy_params(k->f.pol), theta, sizeof(double) * k->f.pol->nparams);
  return sp_gn_step(gn, info, k->f.pol, k->model, &k->obj, tr, 0);
}
static int step_from(sp_gn* gn, sp_gn_info* info, car_case* k, const double* theta) {
  return step_on(gn, info, k, theta, &k->tr);
}

TEST(saved_trust_region_state_continues_bitwise_as_the_uninterrupted_optimiser) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 1), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  sp_gn_config cfg = {.radius = 0.05, .eta = 0.1, .subspace = 12};
  sp_gn *a, *b;
  CHECK_INT(sp_gn_new(&a, p, &cfg), 0);
  CHECK_INT(sp_gn_new(&b, p, &cfg), 0);
  double *th0 = sp_calloc(n, sizeof(double)), *th1 = sp_calloc(n, sizeof(double));
  double* th2 = sp_calloc(n, sizeof(double));
  memcpy(th0, sp_policy_params(p), sizeof(double) * n);
  sp_gn_info ia, ib;
  CHECK_INT(step_from(a, &ia, &k, th0), 0);
  memcpy(th1, sp_policy_params(p), sizeof(double) * n);
  size_t size = sp_gn_state_size(a);
  unsigned char* bytes = sp_malloc(size);
  sp_gn_state_save(a, bytes);
  char msg[256];
  uint64_t before = sp_alloc_count();
  CHECK_INT(sp_gn_state_load(b, bytes, size, msg, sizeof msg), 0);
  CHECK(sp_alloc_count() == before);
  // a rollout that cost far more: a rejected step, re-solved from the saved subspace
  sp_trajview bad;
  CHECK_INT(displaced_copy(&bad, &k.tr, 3.0), 0);
  CHECK_INT(step_on(a, &ia, &k, th1, &bad), 0);
  memcpy(th2, sp_policy_params(p), sizeof(double) * n);
  CHECK_INT(step_on(b, &ib, &k, th1, &bad), 0);
  sp_trajview_free(&bad);
  CHECK(!ia.accepted && !ib.accepted);
  CHECK(!memcmp(th2, sp_policy_params(p), sizeof(double) * n));
  CHECK(!memcmp(&ia.pred, &ib.pred, sizeof(double)) && ia.radius == ib.radius);
  // a new rollout from there: the next accepted step is the same too
  double x0[4] = {0.1, -0.1, 2.0, 1.5};
  CHECK_INT(sp_policy_rollout(&k.tr, p, policy_ws(p), k.plant, model_ws(k.plant), x0, 0, 0), 0);
  CHECK_INT(step_from(a, &ia, &k, th2), 0);
  memcpy(th1, sp_policy_params(p), sizeof(double) * n);
  CHECK_INT(step_from(b, &ib, &k, th2), 0);
  CHECK(!memcmp(th1, sp_policy_params(p), sizeof(double) * n));
  CHECK(ia.accepted == ib.accepted && ia.rho == ib.rho && ia.pred == ib.pred);
  sp_free(th0), sp_free(th1), sp_free(th2), sp_free(bytes);
  sp_gn_free(a), sp_gn_free(b);
  car_case_free(&k);
}

TEST(trust_region_state_that_does_not_fit_is_refused_and_changes_nothing) {
  car_case k;
  CHECK_INT(car_case_new(&k, 100, 2), 0);
  sp_gn *a, *b;
  sp_gn_config small = {.subspace = 4};
  CHECK_INT(sp_gn_new(&a, k.f.pol, NULL), 0);
  CHECK_INT(sp_gn_new(&b, k.f.pol, &small), 0);
  CHECK_INT(sp_gn_step(a, NULL, k.f.pol, k.model, &k.obj, &k.tr, 0), 0);
  size_t size = sp_gn_state_size(a);
  unsigned char* bytes = sp_malloc(size);
  sp_gn_state_save(a, bytes);
  char msg[256];
  double radius = b->radius;
  CHECK_INT(sp_gn_state_load(b, bytes, size, msg, sizeof msg), SP_EMISMATCH);
  CHECK_STR(msg, "Gauss-Newton state with subspace 30, the optimiser has subspace 4");
  CHECK_INT(sp_gn_state_load(a, bytes, size - 8, msg, sizeof msg), SP_EFORMAT);
  char want[128];
  snprintf(want, sizeof want, "Gauss-Newton state: %zu bytes, expected %zu", size - 8, size);
  CHECK_STR(msg, want);
  double nan = NAN;
  memcpy(bytes + size - 8, &nan, 8);
  CHECK_INT(sp_gn_state_check(a, bytes, size, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "non-finite") != NULL);
  bytes[0] = 'X';
  CHECK_INT(sp_gn_state_load(b, bytes, size, msg, sizeof msg), SP_EFORMAT);
  CHECK_STR(msg, "not Gauss-Newton optimiser state");
  CHECK(b->radius == radius && b->pending == 0 && b->m == 0);
  sp_free(bytes);
  sp_gn_free(a), sp_gn_free(b);
  car_case_free(&k);
}

// F(p) of sp_gn_fit, computed here from its documented formula: the weighted mean squared
// one-step prediction error plus the 1e-9 prior on the relative parameter change
static double fit_objective(const sp_model* m, const double* p0, const double* p,
                            const sp_trajview* tr) {
  int nx = m->nx, nu = m->nu, T = tr->T, n = 0;
  double w[8] = {0}, xn[8];
  for (int k = 0; k < T; k++) {
    const double* x = tr->X + (size_t)k * nx;
    int good = 1;
    for (int i = 0; i < 2 * nx; i++) good = good && isfinite(x[i]);
    if (!good) continue;
    n++;
    for (int i = 0; i < nx; i++) w[i] += (x[nx + i] - x[i]) * (x[nx + i] - x[i]);
  }
  for (int i = 0; i < nx; i++) w[i] = n / w[i];
  sp_model fm = *m;
  fm.p = (double*)p;
  double F = 0;
  for (int k = 0; k < T; k++) {
    const double* x = tr->X + (size_t)k * nx;
    int good = 1;
    for (int i = 0; i < 2 * nx; i++) good = good && isfinite(x[i]);
    if (!good) continue;
    sp_model_step(&fm, model_ws(m), xn, x, tr->U + (size_t)k * nu);
    for (int i = 0; i < nx; i++) F += w[i] * (x[nx + i] - xn[i]) * (x[nx + i] - xn[i]);
  }
  double prior = 0;
  for (int j = 0; j < m->np; j++) {
    double s = p0[j] != 0 ? fabs(p0[j]) : 1;
    prior += (p[j] - p0[j]) * (p[j] - p0[j]) / (s * s);
  }
  return F / n + 1e-9 * prior;
}

TEST(fit_recovers_the_plant_parameters_the_model_gets_wrong) {
  // every parameter halved (gamma = 0.5), and each wrong by its own factor, one of them too large
  const double factors[2][4] = {{0.5, 0.5, 0.5, 0.5}, {0.3, 2.0, 0.6, 3.0}};
  for (int c = 0; c < 2; c++) {
    car_case k;
    CHECK_INT(car_case_new(&k, 300, 2), 0);
    for (int j = 0; j < 4; j++) k.model->p[j] = k.plant->p[j] * factors[c][j];
    double p[4], rss[2];
    CHECK_INT(sp_gn_fit(p, rss, k.model, &k.tr, 0), 0);
    printf("  case %d: fit %.6g %.6g %.6g %.6g (plant %g %g %g %g), F %.3g -> %.3g\n", c, p[0],
           p[1], p[2], p[3], k.plant->p[0], k.plant->p[1], k.plant->p[2], k.plant->p[3], rss[0],
           rss[1]);
    for (int j = 0; j < 4; j++) CHECK_CLOSE(p[j], k.plant->p[j], 1e-6, 0);
    CHECK(rss[0] > 1e-2 && rss[1] < 1e-6 * rss[0]);  // what is left: the 1e-9 prior
    // the model itself is not changed
    for (int j = 0; j < 4; j++) CHECK(k.model->p[j] == k.plant->p[j] * factors[c][j]);
    // a transition that is not finite is skipped
    k.tr.X[4 * 100 + 2] = NAN;
    double q[4];
    CHECK_INT(sp_gn_fit(q, rss, k.model, &k.tr, 0), 0);
    for (int j = 0; j < 4; j++) CHECK_CLOSE(q[j], k.plant->p[j], 1e-6, 0);
    CHECK(isfinite(rss[0]) && isfinite(rss[1]));
    car_case_free(&k);
  }
}

TEST(fit_minimises_the_documented_prediction_error_when_no_parameters_fit_exactly) {
  // the model steps by explicit Euler, the plant by RK4: no parameters reproduce the plant, and
  // the fit is the minimum of F (central differences of F vanish there, F rises either side)
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 3), 0);
  CHECK_INT(sp_model_configure(k.model, 0.02, SP_INTEGRATOR_EULER, 1), 0);
  double p0[4], p[4], rss[2];
  memcpy(p0, k.model->p, sizeof p0);
  CHECK_INT(sp_gn_fit(p, rss, k.model, &k.tr, 0), 0);
  double F = fit_objective(k.model, p0, p, &k.tr);
  CHECK_CLOSE(rss[0], fit_objective(k.model, p0, p0, &k.tr), 1e-10, 0);
  CHECK_CLOSE(rss[1], F, 1e-10, 0);
  CHECK(rss[1] < 0.1 * rss[0]);
  for (int j = 0; j < 4; j++) {
    double h = 1e-3 * fabs(p[j]), q[4];
    memcpy(q, p, sizeof q);
    q[j] = p[j] + h;
    double Fp = fit_objective(k.model, p0, q, &k.tr);
    q[j] = p[j] - h;
    double Fm = fit_objective(k.model, p0, q, &k.tr);
    double slope = (Fp - Fm) / (2 * h), curv = (Fp + Fm - 2 * F) / (h * h);
    printf("  %s: fit %.6g, dF/dp %.3g, d2F/dp2 %.3g, Newton step %.2g\n", k.model->cls->p_names[j],
           p[j], slope, curv, slope / curv);
    CHECK(Fp > F && Fm > F && curv > 0);
    CHECK(fabs(slope / curv) < 1e-6 * fabs(p[j]));
  }
  car_case_free(&k);
}

TEST(with_fit_the_step_uses_the_fitted_models_jacobians) {
  car_case k;
  CHECK_INT(car_case_new(&k, 300, 2), 0);
  sp_policy* p = k.f.pol;
  size_t n = p->nparams;
  sp_gn* gn;
  sp_gn_config cfg = {.fit = 1};
  CHECK_INT(sp_gn_new(&gn, p, &cfg), 0);
  CHECK_INT(sp_gn_build(gn, p, k.model, &k.obj, &k.tr, 0), 0);
  double pf[4], rss[2];
  CHECK_INT(sp_gn_fit(pf, rss, k.model, &k.tr, 0), 0);
  CHECK_INT(gn->npfit, 4);
  for (int j = 0; j < 4; j++) CHECK(gn->pfit[j] == pf[j]);
  CHECK(gn->fit_rss[0] == rss[0] && gn->fit_rss[1] == rss[1]);
  // its gradient is the feedback estimate with the fitted model (here: the plant's parameters),
  // not with the model given
  sp_model* fitted;
  CHECK_INT(sp_model_new(&fitted, "car_drag", pf, 0.02), 0);
  double* g = sp_calloc(n, sizeof(double));
  double* g0 = sp_calloc(n, sizeof(double));
  double J;
  CHECK_INT(sp_grad_feedback(g, &J, p, fitted, &k.obj, &k.tr, 0), 0);
  CHECK(rel_err(gn->g, g, n) < 1e-12);
  CHECK_INT(sp_grad_feedback(g0, &J, p, k.model, &k.obj, &k.tr, 0), 0);
  CHECK(rel_err(gn->g, g0, n) > 1e-2);
  // and with model == plant, the exact gradient: central differences of the plant's cost
  double* v = sp_calloc(n, sizeof(double));
  double* theta = sp_policy_params(p);
  sp_rng r;
  sp_rng_seed(&r, 9, 0);
  for (size_t i = 0; i < n; i++) v[i] = sp_rng_normal(&r);
  double x0[4] = {0.1, -0.1, 2.0, 1.5}, h = 1e-6, Jp, Jm;
  sp_trajview tr;
  CHECK_INT(sp_trajview_new(&tr, 300, 4, 2), 0);
  for (size_t i = 0; i < n; i++) theta[i] += h * v[i];
  CHECK_INT(sp_policy_rollout(&tr, p, policy_ws(p), k.plant, model_ws(k.plant), x0, 0, 0), 0);
  CHECK_INT(sp_objective_value(&Jp, &k.obj, &tr), 0);
  for (size_t i = 0; i < n; i++) theta[i] -= 2 * h * v[i];
  CHECK_INT(sp_policy_rollout(&tr, p, policy_ws(p), k.plant, model_ws(k.plant), x0, 0, 0), 0);
  CHECK_INT(sp_objective_value(&Jm, &k.obj, &tr), 0);
  for (size_t i = 0; i < n; i++) theta[i] += h * v[i];
  double fd = (Jp - Jm) / (2 * h), an = 0;
  for (size_t i = 0; i < n; i++) an += gn->g[i] * v[i];
  printf("  directional derivative: built %.10g, central differences %.10g\n", an, fd);
  CHECK_CLOSE(an, fd, 1e-6, 0);
  sp_trajview_free(&tr);
  sp_free(g), sp_free(g0), sp_free(v);
  sp_model_free(fitted);
  sp_gn_free(gn);
  car_case_free(&k);
}

TEST(bad_arguments_are_errors) {
  car_case k;
  CHECK_INT(car_case_new(&k, 20, 1), 0);
  sp_gn* gn = (sp_gn*)1;
  CHECK_INT(sp_gn_new(&gn, NULL, NULL), SP_EINVAL);
  CHECK(gn == NULL);
  sp_gn_config bad = {.radius_min = 2, .radius_max = 1};
  CHECK_INT(sp_gn_new(&gn, k.f.pol, &bad), SP_EINVAL);
  bad = (sp_gn_config){.subspace = -1};
  CHECK_INT(sp_gn_new(&gn, k.f.pol, &bad), SP_EINVAL);
  bad = (sp_gn_config){.max_decrease = 1.5};
  CHECK_INT(sp_gn_new(&gn, k.f.pol, &bad), SP_EINVAL);
  bad = (sp_gn_config){.fit = 2};
  CHECK_INT(sp_gn_new(&gn, k.f.pol, &bad), SP_EINVAL);
  double pf[4];
  CHECK_INT(sp_gn_fit(NULL, NULL, k.model, &k.tr, 0), SP_EINVAL);
  CHECK_INT(sp_gn_fit(pf, NULL, NULL, &k.tr, 0), SP_EINVAL);
  sp_trajview narrow = sp_trajview_of(k.tr.X, k.tr.U, k.tr.t, k.tr.T, 4, 1);
  CHECK_INT(sp_gn_fit(pf, NULL, k.model, &narrow, 0), SP_ESHAPE);
  CHECK_INT(sp_gn_new(&gn, k.f.pol, NULL), 0);
  CHECK_INT(sp_gn_build(gn, k.f.pol, NULL, &k.obj, &k.tr, 0), SP_EINVAL);
  sp_trajview wrong = sp_trajview_of(k.tr.X, k.tr.U, k.tr.t, k.tr.T, 3, 2);
  CHECK_INT(sp_gn_build(gn, k.f.pol, k.model, &k.obj, &wrong, 0), SP_ESHAPE);
  sp_gn_free(gn);
  sp_gn_free(NULL);
  car_case_free(&k);
}

TEST_MAIN()
