// bench_feedback.c: cost of method 1's feedback gradient (engine/grad/feedback.c; Westenbroek et
// al., arXiv 2307.08168) on the car figure-eight of METHODS.md: one gradient over a recorded
// 21.5 s trajectory (1075 steps at 50 Hz) of the 64-64 tracking policy, and a whole
// car_figure8 run at engine level (15 x (rollout on the car, feedback gradient, Adam step) and an
// evaluation rollout). Prints "name median_ms"; bench/torch_feedback.py is the PyTorch twin
// (autograd through the reference implementation's compact form).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/cost/cost.h"
#include "engine/ctrl/ctrl.h"
#include "engine/grad/grad.h"
#include "engine/model/model.h"
#include "engine/nn/optim.h"
#include "engine/policy/policy.h"
#include "engine/policy/rollout.h"
#include "engine/task/task.h"

#define STEPS 1075  // 21.5 s at 50 Hz
#define SKIP 275    // the first lap (5.5 s) is not scored
#define ITERS 15

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp);
  return v[n / 2];
}

typedef struct car {
  sp_task* task;
  sp_ctrl* ctrl;
  sp_policy* pol;
  sp_model *plant, *model;
  sp_cost* cost;
  sp_objective obj;
  double x0[4];
} car;

// the car of METHODS.md: real car_drag (RK4, 4 substeps) and its gamma = 0.5 Euler model
static int car_new(car* c) {
  memset(c, 0, sizeof *c);
  int rc = sp_task_figure_eight_new(&c->task, 1.5, 5.5);
  if (!rc) rc = sp_tracker_new(&c->ctrl, SP_TRACKER_CAR);
  if (rc) return rc;
  sp_policy_output outs[10];
  const double rs[4] = {0.5, 0.5, 1.0, 1.0};
  for (int j = 0; j < 4; j++) outs[j] = (sp_policy_output){SP_POLICY_OUT_REF, j, rs[j]};
  for (int j = 0; j < 6; j++) outs[4 + j] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, 0.3};
  int hidden[2] = {64, 64};
  sp_policy_config cfg = {.ctrl = c->ctrl,
                          .task = c->task,
                          .features = SP_POLICY_FEATURES_CAR,
                          .nhidden = 2,
                          .hidden = hidden,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 10,
                          .outputs = outs,
                          .seed = 1};
  if ((rc = sp_policy_new(&c->pol, &cfg))) return rc;
  const double p_real[4] = {11.25, 0.55, 6.5, 0.1}, g = 0.5;
  double p_model[4];
  for (int i = 0; i < 4; i++) p_model[i] = g * p_real[i];
  if ((rc = sp_model_new(&c->plant, "car_drag", p_real, 0.02))) return rc;
  if ((rc = sp_model_configure(c->plant, 0.02, SP_INTEGRATOR_RK4, 4))) return rc;
  if ((rc = sp_model_new(&c->model, "car_drag", p_model, 0.02))) return rc;
  if ((rc = sp_model_configure(c->model, 0.02, SP_INTEGRATOR_EULER, 1))) return rc;
  if ((rc = sp_cost_new_car(&c->cost, 4, 2, 0, 1, 2, 3))) return rc;
  c->obj = (sp_objective){.step = c->cost, .task = c->task, .k0 = SKIP, .scale = 1};
  double r[6];
  sp_task_eval(c->task, r, NULL, 0);
  c->x0[0] = r[0], c->x0[1] = r[1], c->x0[2] = 0, c->x0[3] = atan2(r[3], r[2]);
  return 0;
}

static void car_free(car* c) {
  sp_policy_free(c->pol);
  sp_ctrl_free(c->ctrl);
  sp_task_free(c->task);
  sp_model_free(c->plant);
  sp_model_free(c->model);
  sp_cost_free(c->cost);
}

int main(void) {
  car c;
  if (car_new(&c)) {
    fprintf(stderr, "bench_feedback: setup failed\n");
    return 1;
  }
  size_t n = c.pol->nparams;
  double* g = sp_calloc(n, sizeof(double));
  sp_traj tr;
  sp_traj_new(&tr, STEPS, 4, 2);
  double J = 0;

  // one feedback gradient along a recorded trajectory
  sp_policy_rollout(&tr, c.pol, c.plant, c.x0, 0, 0);
  enum { REPS = 60 };
  double t[REPS];
  for (int k = -5; k < REPS; k++) {
    memset(g, 0, sizeof(double) * n);
    double t0 = now();
    sp_grad_feedback(g, &J, c.pol, c.model, &c.obj, &tr, 0);
    if (k >= 0) t[k] = 1e3 * (now() - t0);
  }
  printf("car_feedback_gradient_1075_steps_64x64 %.4f\n", median(t, REPS));

  // a whole run: ITERS x (rollout, gradient, Adam) + the evaluation rollout, from theta0
  double* theta0 = sp_malloc(sizeof(double) * n);
  memcpy(theta0, sp_policy_params(c.pol), sizeof(double) * n);
  sp_optim_config oc = sp_optim_adam_config(3e-3);
  enum { RUNS = 7 };
  double tr_ms[RUNS], J_first = 0, J_last = 0;
  for (int r = 0; r < RUNS; r++) {
    sp_optim* opt = NULL;
    sp_optim_new(&opt, &oc, SP_F64, n);
    memcpy(sp_policy_params(c.pol), theta0, sizeof(double) * n);
    double t0 = now();
    for (int it = 0; it <= ITERS; it++) {
      sp_policy_rollout(&tr, c.pol, c.plant, c.x0, 0, 0);
      if (it == ITERS) {
        sp_objective_value(&J_last, &c.obj, &tr);
        break;
      }
      memset(g, 0, sizeof(double) * n);
      sp_grad_feedback(g, &J, c.pol, c.model, &c.obj, &tr, 0);
      if (it == 0) J_first = J;
      sp_optim_step(opt, sp_policy_params(c.pol), g);
    }
    tr_ms[r] = 1e3 * (now() - t0);
    sp_optim_free(opt);
  }
  printf("car_figure8_run_15_iters %.4f\n", median(tr_ms, RUNS));
  fprintf(stderr, "bench_feedback: cost %.2f -> %.2f over the run\n", J_first, J_last);

  sp_free(theta0);
  sp_free(g);
  sp_traj_free(&tr);
  car_free(&c);
  return 0;
}
