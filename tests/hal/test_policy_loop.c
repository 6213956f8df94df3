// test_policy_loop.c: method 1 end to end through the HAL: the tracking policy runs inside the
// lockstep control loop (sp_policy_loop_act) on the "model" plant backend (car_drag at 50 Hz,
// behind the safety filter), the recorded sp_traj is viewed as an sp_trajview without a copy,
// and the feedback gradient from it equals central finite differences of the cost of the PLANT's
// rollouts through the loop when the model is the plant; with a gamma = 0.5 model it differs.
#include "../engine/grad/grad_checks.h"
#include "engine/core/error.h"
#include "hal/backend_model.h"
#include "hal/loop.h"
#include "test.h"

typedef struct rig {
  sp_plant* p;
  sp_safety* s;
  sp_loop* l;
} rig;

static int rig_open(rig* r, sp_policy* pol) {
  memset(r, 0, sizeof *r);
  static const double safe[2] = {0, 0};
  sp_plant_model_config pc = {.model = "car_drag", .rate_hz = 50, .integrator = SP_INTEGRATOR_RK4};
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.02};
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = sp_policy_loop_act, .user = policy_ws(pol)};
  char msg[256];
  int rc = sp_plant_open(&r->p, "model", &pc, msg, sizeof msg);
  if (!rc) rc = sp_plant_configure(r->p, msg, sizeof msg);
  if (!rc) rc = sp_safety_new(&r->s, &sc, msg, sizeof msg);
  if (!rc) rc = sp_loop_new(&r->l, r->p, r->s, &lc, msg, sizeof msg);
  if (rc) fprintf(stderr, "  rig: %s\n", msg);
  return rc;
}

static void rig_close(rig* r) {
  sp_loop_free(r->l);
  sp_safety_free(r->s);
  sp_plant_close(r->p);
}

// J of one rollout through the loop
static double loop_cost(rig* r, const sp_objective* obj, const double* x0, long steps) {
  sp_rollout_opts o = {.steps = steps, .x0 = x0, .seed = 1};
  sp_traj tr;
  double J = NAN;
  if (sp_loop_rollout(r->l, &tr, &o)) return NAN;
  sp_trajview v = sp_trajview_of(tr.x, tr.u, tr.t, (int)tr.n, tr.nx, tr.nu);
  sp_objective_value(&J, obj, &v);
  sp_traj_free(&tr);
  return J;
}

TEST(feedback_gradient_from_the_loops_recording_equals_plant_finite_differences) {
  for (uint64_t seed = 1; seed <= 2; seed++) {
    fixture f;
    CHECK_INT(car_fixture(&f, 6, seed, 1), 0);
    rig r;
    CHECK_INT(rig_open(&r, f.pol), 0);
    sp_objective obj;
    sp_cost *c, *ct;
    CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
    double x0[4] = {0.1, -0.1, 2.0, 1.5};
    long steps = 200;
    sp_rollout_opts o = {.steps = steps, .x0 = x0, .seed = 1};
    sp_traj tr;
    CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
    CHECK_INT(tr.n, steps);
    sp_trajview v = sp_trajview_of(tr.x, tr.u, tr.t, (int)tr.n, tr.nx, tr.nu);
    sp_model *model, *wrong;
    CHECK_INT(sp_model_new(&model, "car_drag", NULL, 0.02), 0);
    double pm[4] = {0.5 * 11.25, 0.5 * 0.55, 0.5 * 6.5, 0.5 * 0.1};
    CHECK_INT(sp_model_new(&wrong, "car_drag", pm, 0.02), 0);
    size_t n = f.pol->nparams;
    double* g = sp_calloc(n, sizeof(double));
    double* gw = sp_calloc(n, sizeof(double));
    double* gfd = sp_calloc(n, sizeof(double));
    double J;
    CHECK_INT(sp_grad_feedback(g, &J, f.pol, model, &obj, &v, 0), 0);
    CHECK_INT(sp_grad_feedback(gw, NULL, f.pol, wrong, &obj, &v, 0), 0);
    CHECK_CLOSE(J, loop_cost(&r, &obj, x0, steps), 1e-12, 0);
    // central differences of the plant's cost, every rollout through the loop
    double* th = sp_policy_params(f.pol);
    for (size_t k = 0; k < n; k++) {
      double keep = th[k], h = 1e-6;
      th[k] = keep + h;
      double a = loop_cost(&r, &obj, x0, steps);
      th[k] = keep - h;
      double b = loop_cost(&r, &obj, x0, steps);
      th[k] = keep;
      gfd[k] = (a - b) / (2 * h);
    }
    printf("  seed %d: rel err vs loop FD %.2e; gamma = 0.5 model: %.2e\n", (int)seed,
           rel_err(g, gfd, n), rel_err(gw, gfd, n));
    CHECK(rel_err(g, gfd, n) < 1e-5);
    CHECK(rel_err(gw, gfd, n) > 1e-3);
    sp_free(g);
    sp_free(gw);
    sp_free(gfd);
    sp_traj_free(&tr);
    sp_model_free(model);
    sp_model_free(wrong);
    sp_cost_free(c);
    sp_cost_free(ct);
    rig_close(&r);
    fixture_free(&f);
  }
}

TEST_MAIN()
