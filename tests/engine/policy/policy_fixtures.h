// policy_fixtures.h: the policies of method 1's experiments, built for tests (policy and grad).
//
//   car       the figure-eight (R = 1.5 m, T = 5.5 s), the car tracker with METHODS.md gains,
//             car features, 4 reference outputs (0.5 m, 0.5 m, 1 m/s, 1 m/s) and 6 gain outputs
//             (0.3), tanh everywhere
//   pendulum  the double pendulum (METHODS.md parameters) with a DARE LQR about upright
//             (Q = diag(250, 250, 10, 10), R = I, dt = 0.01), state features, 4 set-point
//             outputs (0.3 rad, rad/s) and 8 gain outputs (1.0)
//   open      open-loop on the double pendulum: u = u_ff + 0.5 y, state features
// init_last = 1 draws the last layer too, so the high level is active.
#ifndef SP_TEST_POLICY_FIXTURES_H
#define SP_TEST_POLICY_FIXTURES_H

#include <math.h>
#include <string.h>

#include "engine/core/rng.h"
#include "engine/ctrl/ctrl.h"
#include "engine/ctrl/lqr.h"
#include "engine/model/model.h"
#include "engine/policy/policy.h"
#include "engine/task/task.h"
#include "workspace.h"

typedef struct fixture {
  sp_task* task;
  sp_ctrl* ctrl;
  sp_policy* pol;
} fixture;

static inline void fixture_free(fixture* f) {
  policy_free(f->pol);
  sp_ctrl_free(f->ctrl);
  sp_task_free(f->task);
  memset(f, 0, sizeof(*f));
}

static inline int car_fixture(fixture* f, int hidden_width, uint64_t seed, int init_last) {
  memset(f, 0, sizeof(*f));
  int rc = sp_task_figure_eight_new(&f->task, 1.5, 5.5);
  if (!rc) rc = sp_tracker_new(&f->ctrl, SP_TRACKER_CAR);
  if (rc) return rc;
  sp_policy_output outs[10];
  const double rs[4] = {0.5, 0.5, 1.0, 1.0};
  for (int j = 0; j < 4; j++) outs[j] = (sp_policy_output){SP_POLICY_OUT_REF, j, rs[j]};
  for (int j = 0; j < 6; j++) outs[4 + j] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, 0.3};
  int hidden[2] = {hidden_width, hidden_width};
  sp_policy_config cfg = {.ctrl = f->ctrl,
                          .task = f->task,
                          .features = SP_POLICY_FEATURES_CAR,
                          .nhidden = 2,
                          .hidden = hidden,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 10,
                          .outputs = outs,
                          .seed = seed,
                          .init_last = init_last};
  return sp_policy_new(&f->pol, &cfg);
}

// DARE LQR gain of the double pendulum model m about upright (x = 0, u = 0)
static inline int pendulum_gain(double* K, sp_model* m) {
  double x0[4] = {0}, u0[2] = {0};
  double Q[16] = {0}, R[4] = {1, 0, 0, 1};
  Q[0] = 250, Q[5] = 250, Q[10] = 10, Q[15] = 10;
  return sp_lqr_design(K, NULL, m, x0, u0, Q, R, SP_LQR_DISCRETE);
}

static inline int pendulum_fixture(fixture* f, sp_model* m, int hidden_width, uint64_t seed,
                                   int init_last) {
  memset(f, 0, sizeof(*f));
  double K[8];
  int rc = pendulum_gain(K, m);
  if (!rc) rc = sp_lqr_new(&f->ctrl, K, 4, 2);
  if (rc) return rc;
  sp_policy_output outs[12];
  for (int j = 0; j < 4; j++) outs[j] = (sp_policy_output){SP_POLICY_OUT_REF, j, 0.3};
  for (int j = 0; j < 8; j++) outs[4 + j] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, 1.0};
  int hidden[2] = {hidden_width, hidden_width};
  sp_policy_config cfg = {.ctrl = f->ctrl,
                          .features = SP_POLICY_FEATURES_STATE,
                          .period = 3.0,
                          .nhidden = 2,
                          .hidden = hidden,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 12,
                          .outputs = outs,
                          .seed = seed,
                          .init_last = init_last};
  return sp_policy_new(&f->pol, &cfg);
}

static inline int open_fixture(fixture* f, sp_policy_features feat, int hidden_width, uint64_t seed,
                               int init_last) {
  memset(f, 0, sizeof(*f));
  sp_policy_output outs[2] = {{SP_POLICY_OUT_ACTION, 0, 0.5}, {SP_POLICY_OUT_ACTION, 1, 0.5}};
  int hidden[1] = {hidden_width};
  double u_ff[2] = {0.01, -0.02};
  sp_policy_config cfg = {.nx = 4,
                          .nu = 2,
                          .u_ff = u_ff,
                          .features = feat,
                          .period = 3.0,
                          .nhidden = 1,
                          .hidden = hidden,
                          .hidden_act = SP_ACT_TANH,
                          .out_act = SP_ACT_TANH,
                          .nout = 2,
                          .outputs = outs,
                          .seed = seed,
                          .init_last = init_last};
  return sp_policy_new(&f->pol, &cfg);
}

// a car state near the reference at time t: position within 0.5 m, speed 0.5..3.5, heading near
// the reference's
static inline void car_state_near(double* x, const sp_task* task, double t, sp_rng* r) {
  double ref[6];
  sp_task_eval(task, ref, NULL, t);
  x[0] = ref[0] + 0.5 * (2 * sp_rng_uniform(r) - 1);
  x[1] = ref[1] + 0.5 * (2 * sp_rng_uniform(r) - 1);
  x[2] = 0.5 + 3 * sp_rng_uniform(r);
  x[3] = atan2(ref[3], ref[2]) + 0.6 * (2 * sp_rng_uniform(r) - 1);
}

#endif  // SP_TEST_POLICY_FIXTURES_H
