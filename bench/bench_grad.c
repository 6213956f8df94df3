// bench_grad.c: time one method-1 feedback gradient (engine/grad/feedback.c) on the car
// figure-eight: 1075 recorded steps (21.5 s at 50 Hz) of the car_drag plant under the tracking
// policy (64-64 tanh MLP, nonzero weights), differentiated with the gamma = 0.5 car_drag model
// (RK4), METHODS.md's car cost after the first lap. Also one whole 16-iteration learning run
// (rollout + gradient + Adam). The PyTorch twin of the gradient is bench/torch_grad.py.
//
// Prints "name median_ms" per benchmark; bench/run turns that into JSON next to the reference.
// Usage: bench_grad [repetitions].
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cost/cost.h"
#include "engine/ctrl/ctrl.h"
#include "engine/grad/grad.h"
#include "engine/model/model.h"
#include "engine/nn/optim.h"
#include "engine/policy/policy.h"
#include "engine/policy/rollout.h"
#include "engine/task/task.h"

enum { STEPS = 1075, SKIP = 275 };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 30;
  if (reps < 1) reps = 1;
  sp_task* task;
  sp_ctrl* c;
  sp_model *plant, *model;
  sp_cost* cost;
  sp_policy* p;
  const double g = 0.5, pm[4] = {11.25 * g, 0.55 * g, 6.5 * g, 0.1 * g};
  sp_policy_output outs[10];
  const double rs[4] = {0.5, 0.5, 1.0, 1.0};
  for (int j = 0; j < 4; j++) outs[j] = (sp_policy_output){SP_POLICY_OUT_REF, j, rs[j]};
  for (int j = 0; j < 6; j++) outs[4 + j] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, 0.3};
  int hidden[2] = {64, 64};
  if (sp_task_figure_eight_new(&task, 1.5, 5.5) || sp_tracker_new(&c, SP_TRACKER_CAR) ||
      sp_model_new(&plant, "car_drag", NULL, 0.02) || sp_model_new(&model, "car_drag", pm, 0.02) ||
      sp_cost_new_car(&cost, 4, 2, 0, 1, 2, 3)) {
    fprintf(stderr, "bench_grad: setup failed\n");
    return 1;
  }
  sp_policy_config cfg = {.ctrl = c,
                          .task = task,
                          .features = SP_POLICY_FEATURES_CAR,
                          .nhidden = 2,
                          .hidden = hidden,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 10,
                          .outputs = outs,
                          .seed = 1,
                          .init_last = 1};
  sp_trajview tr;
  if (sp_policy_new(&p, &cfg) || sp_trajview_new(&tr, STEPS, 4, 2)) return 1;
  // small last-layer weights: an active high level that keeps the car on the track
  double* th = sp_policy_params(p);
  size_t last = p->net->layers[p->net->nlayers - 1].w;
  for (size_t k = last; k < p->nparams; k++) th[k] *= 0.05;
  double r0[6];
  sp_task_eval(task, r0, NULL, 0);
  double x0[4] = {r0[0], r0[1], 0, 1.5707963267948966};
  sp_objective obj = {.step = cost, .task = task, .k0 = SKIP, .scale = 1};
  double* grad = calloc(p->nparams, sizeof(double));
  double* times = malloc(sizeof(double) * (size_t)reps);
  sp_policy_data* pd;
  sp_model_data* md;
  if (sp_policy_data_new(&pd, p) || sp_model_data_new(&md, plant)) return 1;
  if (!grad || !times || sp_policy_rollout(&tr, p, pd, plant, md, x0, 0, 0)) return 1;

  // one gradient from the recorded trajectory
  for (int k = -3; k < reps; k++) {
    memset(grad, 0, sizeof(double) * p->nparams);
    double t0 = now_ms(), J;
    sp_grad_feedback(grad, &J, p, model, &obj, &tr, 0);
    if (k >= 0) times[k] = now_ms() - t0;
  }
  qsort(times, (size_t)reps, sizeof(double), cmp);
  printf("feedback_grad_car_1075_64x64 %.4f\n", times[reps / 2]);

  // one control tick's policy work: the car policy's act (features, 64-64 MLP, tracker)
  {
    double u[2], x[4] = {0.3, -0.2, 2.0, 1.0};
    const int n = 20000;
    for (int r = 0; r < reps; r++) {
      double t0 = now_ms();
      for (int i = 0; i < n; i++) sp_policy_act(p, pd, u, x, 0.02 * i);
      times[r] = (now_ms() - t0) * 1000.0 / n;  // microseconds per act
    }
    qsort(times, (size_t)reps, sizeof(double), cmp);
    printf("{\"name\":\"policy_act_car_64x64\",\"us\":%.3f}\n", times[reps / 2]);
  }

  // a whole learning run: 16 rollouts and gradients, 15 Adam steps (the car_figure8 loop)
  int runs = reps < 5 ? reps : 5;
  sp_optim_config oc = sp_optim_adam_config(3e-3);
  double* theta0 = malloc(sizeof(double) * p->nparams);
  if (!theta0) return 1;
  memcpy(theta0, th, sizeof(double) * p->nparams);
  for (int r = 0; r < runs; r++) {
    sp_optim* o;
    if (sp_optim_new(&o, &oc, SP_F64, p->nparams)) return 1;
    memcpy(th, theta0, sizeof(double) * p->nparams);
    double t0 = now_ms();
    for (int it = 0; it < 16; it++) {
      sp_policy_rollout(&tr, p, pd, plant, md, x0, 0, 0);
      memset(grad, 0, sizeof(double) * p->nparams);
      sp_grad_feedback(grad, NULL, p, model, &obj, &tr, 0);
      if (it < 15) sp_optim_step(o, th, grad);
    }
    times[r] = now_ms() - t0;
    sp_optim_free(o);
  }
  qsort(times, (size_t)runs, sizeof(double), cmp);
  printf("car_figure8_learning_16_iters %.4f\n", times[runs / 2]);

  free(theta0);
  free(grad);
  free(times);
  sp_trajview_free(&tr);
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  sp_policy_free(p);
  sp_cost_free(cost);
  sp_model_free(model);
  sp_model_free(plant);
  sp_ctrl_free(c);
  sp_task_free(task);
  return 0;
}
