// grad_checks.h: shared pieces of the estimator tests: plant-cost finite differences, a forward-
// sensitivity reference for the adjoint, and the car and pendulum objectives of METHODS.md.
#ifndef SP_TEST_GRAD_CHECKS_H
#define SP_TEST_GRAD_CHECKS_H

#include "../policy/policy_fixtures.h"
#include "engine/core/alloc.h"
#include "engine/cost/cost.h"
#include "engine/grad/grad.h"
#include "engine/la/la.h"
#include "workspace.h"

// J of a deterministic rollout of p on plant from x0 over T steps (tr is scratch of that size)
static inline double plant_cost(sp_policy* p, sp_model* plant, const sp_objective* obj,
                                sp_trajview* tr, const double* x0) {
  double J = NAN;
  if (sp_policy_rollout(tr, p, policy_ws(p), plant, model_ws(plant), x0, 0, 0)) return NAN;
  sp_objective_value(&J, obj, tr);
  return J;
}

// central finite-difference gradient of the plant's cost in theta (g, nparams)
static inline void plant_cost_fd(double* g, sp_policy* p, sp_model* plant, const sp_objective* obj,
                                 sp_trajview* tr, const double* x0, double h) {
  double* th = sp_policy_params(p);
  for (size_t k = 0; k < p->nparams; k++) {
    double keep = th[k];
    th[k] = keep + h;
    double a = plant_cost(p, plant, obj, tr, x0);
    th[k] = keep - h;
    double b = plant_cost(p, plant, obj, tr, x0);
    th[k] = keep;
    g[k] = (a - b) / (2 * h);
  }
}

// |a - b| / |b| over vectors of n
static inline double rel_err(const double* a, const double* b, size_t n) {
  double d = 0, s = 0;
  for (size_t k = 0; k < n; k++) d += (a[k] - b[k]) * (a[k] - b[k]), s += b[k] * b[k];
  return sqrt(d / s);
}

static inline double norm2(const double* a, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += a[k] * a[k];
  return sqrt(s);
}

// The forward-sensitivity form of the estimator, with dense Jacobians, as an independent
// reference: s[k+1] = (A + B Px) s[k] + B Pt, g = sum_k cx s_k + cu (Px s_k + Pt) + cT s_T;
// with segment N > 0, s restarts from 0 at k = N, 2N, ... after the cost of x[k] has been counted
// (the segment starts from the recorded state). Slow (O(T nx nparams)); tests only.
static inline void forward_sensitivity(double* g, sp_policy* p, sp_model* m,
                                       const sp_objective* obj, const sp_trajview* tr,
                                       int segment) {
  int nx = p->nx, nu = p->nu;
  size_t np = p->nparams;
  double* S = sp_calloc((size_t)nx * np, sizeof(double));   // ds/dtheta (nx x np)
  double* Pt = sp_calloc((size_t)nu * np, sizeof(double));  // (nu x np)
  double* Sn = sp_calloc((size_t)nx * np, sizeof(double));
  double* du = sp_calloc(np, sizeof(double));
  double A[64], B[32], Px[32], cx[8], cu[8], ref[SP_TASK_NREF], e[8], tmp[16], cv;
  memset(g, 0, sizeof(double) * np);
  for (int k = 0; k <= tr->T; k++) {
    const double* x = tr->X + (size_t)k * nx;
    if (k == tr->T) {
      sp__objective_step(obj, &cv, cx, NULL, ref, tmp, x, NULL, tr->t[k], k, tr->T, nx, nu);
      for (int i = 0; i < nx; i++)
        for (size_t j = 0; j < np; j++) g[j] += cx[i] * S[i * np + j];
      break;
    }
    const double* u = tr->U + (size_t)k * nu;
    sp__objective_step(obj, &cv, cx, cu, ref, tmp, x, u, tr->t[k], k, tr->T, nx, nu);
    sp_policy_jac_x(p, policy_ws(p), Px, x, tr->t[k]);
    memset(Pt, 0, sizeof(double) * nu * np);
    for (int a = 0; a < nu; a++) {
      memset(e, 0, sizeof e);
      e[a] = 1;
      sp_policy_vjp(p, policy_ws(p), NULL, Pt + a * np, x, tr->t[k], e);
    }
    sp_model_step_jac(m, model_ws(m), NULL, A, B, NULL, x, u);
    // du/dtheta = Px S + Pt, then the cost and the next sensitivity
    for (int i = 0; i < nx; i++)
      for (size_t j = 0; j < np; j++) g[j] += cx[i] * S[i * np + j];
    if (segment > 0 && k % segment == 0) memset(S, 0, sizeof(double) * nx * np);
    memset(Sn, 0, sizeof(double) * nx * np);
    for (int a = 0; a < nu; a++) {
      for (size_t j = 0; j < np; j++) {
        double s = Pt[a * np + j];
        for (int i = 0; i < nx; i++) s += Px[a * nx + i] * S[i * np + j];
        du[j] = s;
        g[j] += cu[a] * s;
      }
      for (int i = 0; i < nx; i++)
        for (size_t j = 0; j < np; j++) Sn[i * np + j] += B[i * nu + a] * du[j];
    }
    for (int i = 0; i < nx; i++)
      for (int c = 0; c < nx; c++)
        for (size_t j = 0; j < np; j++) Sn[i * np + j] += A[i * nx + c] * S[c * np + j];
    memcpy(S, Sn, sizeof(double) * nx * np);
  }
  sp_free(S);
  sp_free(Pt);
  sp_free(Sn);
  sp_free(du);
}

// method 1's car cost plus a radial terminal cost
static inline int car_objective(sp_objective* obj, sp_cost** step, sp_cost** term,
                                const sp_task* task) {
  int rc = sp_cost_new_car(step, 4, 2, 0, 1, 2, 3);
  if (!rc) rc = sp_cost_new(term, 4, 0);
  if (!rc) rc = sp_cost_add_radial(*term, 2.0, 0, 1) < 0;
  *obj = (sp_objective){.step = *step, .terminal = *term, .task = task, .scale = 1};
  return rc;
}

// quadratic regulation of the state to zero, small action cost, quadratic terminal cost
static inline int regulation_objective(sp_objective* obj, sp_cost** step, sp_cost** term, int nx,
                                       int nu, double wu) {
  int idx[8], ref_idx[8];
  double W[64] = {0}, Wu[64] = {0}, tgt[8] = {0};
  for (int i = 0; i < nx; i++) idx[i] = i, ref_idx[i] = -1, W[i * nx + i] = 1;
  for (int i = 0; i < nu; i++) Wu[i * nu + i] = 1;
  int rc = sp_cost_new(step, nx, nu);
  if (!rc) rc = sp_cost_add_quadratic(*step, 1, idx, ref_idx, tgt, W, nx) < 0;
  if (!rc) rc = sp_cost_add_action(*step, wu, Wu) < 0;
  if (!rc) rc = sp_cost_new(term, nx, 0);
  if (!rc) rc = sp_cost_add_quadratic(*term, 5, idx, ref_idx, tgt, W, nx) < 0;
  *obj = (sp_objective){.step = *step, .terminal = *term, .scale = 1};
  return rc;
}

// ---- a small linear-quadratic problem ----------------------------------------------------------
// x+ = A x + B u, x = (position, velocity), u = (force, push) with A, B a discretised double
// integrator (dt = 0.1) and a second input channel, registered as the discrete class "lq_test".
static const double lq_A[4] = {1, 0.1, 0, 1};
static const double lq_B[4] = {0.005, 0.002, 0.1, -0.05};
static void lq_f(const sp_model* m, double* xn, const double* x, const double* u, const double* p) {
  for (int i = 0; i < 2; i++)
    xn[i] =
        lq_A[2 * i] * x[0] + lq_A[2 * i + 1] * x[1] + lq_B[2 * i] * u[0] + lq_B[2 * i + 1] * u[1];
}
static void lq_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                   const double* u, const double* p) {
  memcpy(fx, lq_A, sizeof lq_A);
  if (fu) memcpy(fu, lq_B, sizeof lq_B);
}
static const char* const lq_xn[2] = {"pos", "vel"};
static const char* const lq_un[2] = {"force", "push"};
static const sp_model_class lq_class = {
    "lq_test", "linear test system", 2, 2, 0, lq_xn, lq_un, NULL, NULL, 1, lq_f, lq_jac};

// the LQ model, and an open-loop policy linear in theta: u = 0.5 (W (cos, sin)(2 pi t / 2) + b)
static inline int lq_setup(sp_model** m, sp_policy** p, uint64_t seed) {
  if (!sp_model_find("lq_test")) sp_model_register(&lq_class);
  int rc = sp_model_new(m, "lq_test", NULL, 0.1);
  if (rc) return rc;
  sp_policy_output outs[2] = {{SP_POLICY_OUT_ACTION, 0, 0.5}, {SP_POLICY_OUT_ACTION, 1, 0.5}};
  sp_policy_config cfg = {.nx = 2,
                          .nu = 2,
                          .features = SP_POLICY_FEATURES_PHASE,
                          .period = 2.0,
                          .nhidden = 0,
                          .hidden_act = SP_ACT_IDENTITY,
                          .out_act = SP_ACT_IDENTITY,
                          .nout = 2,
                          .outputs = outs,
                          .seed = seed,
                          .init_last = 1};
  return sp_policy_new(p, &cfg);
}

#endif  // SP_TEST_GRAD_CHECKS_H
