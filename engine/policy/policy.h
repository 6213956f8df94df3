// policy.h: method 1's policy class, a learned high level on top of a model-designed controller.
//
// Westenbroek, Levy, Fridovich-Keil, "Feedback is All You Need" (arXiv 2307.08168; METHODS.md,
// method 1). A small f64 MLP g_theta reads features phi(x, t) and its outputs y (nout), each
// scaled, correct entries of the reference and of the gains of an embedded controller kappa:
//   closed loop   u = kappa(x, r(t) + S_r y, K0 + S_K y)
//   open loop     u = u_ff + S_u y                      (the no-feedback ablation)
// r(t) is the task's reference point (engine/task, nr = 6, e.g. the car tracker) or a constant
// r0 (e.g. the LQR set point and feed-forward (x_set, u_ff)). S_r, S_K, S_u are given by a list
// of outputs {kind, index, scale}: output j adds scale_j * y_j to reference entry, gain or action
// index_j. With the last layer zeroed (the default) y = 0, so the first policy is exactly the
// nominal controller.
//
// Features. SP_POLICY_FEATURES_CAR: (px, py, v cos phi, v sin phi, cos 2 pi s, sin 2 pi s) for a
// state (px, py, v, phi, ...); SP_POLICY_FEATURES_STATE: (x, cos 2 pi s, sin 2 pi s);
// SP_POLICY_FEATURES_PHASE: (cos 2 pi s, sin 2 pi s) only (a purely time-indexed network).
// The phase is s = t / period mod 1, a function of time only, so the policy's dependence on x is
// explicit and fully differentiated. (A progress estimate s(x) from sp_task_progress would add a
// term through ds/dx; this class does not use one.)
//
// Derivatives. Px = du/dx (nu x nx) and Pt = du/dtheta (nu x nparams) are never formed beyond
// what a caller asks: sp_policy_vjp accumulates gx += Px^T mu and gtheta += Pt^T mu for
// mu = dL/du, which is all the adjoint estimator needs (one forward and one backward through the
// MLP). theta is the MLP's flat parameter vector (net->params, float64), so the engine/nn
// optimisers apply to it directly. The controller's clamps make saturated channels flat (zero
// derivative), as in engine/ctrl.
//
// Exploration. With a noise level sigma (nu) set, sp_policy_sample draws u = mean + sigma eps,
// eps ~ N(0, I), from the workspace's seeded rng (after the clamp: the sample may leave the
// controller's limits, the plant's safety layer is where commands are bounded).
// sp_policy_logp_vjp gives log N(u; mean(x, t), diag sigma^2) and its theta gradient (REINFORCE).
//
// Description and workspace (as sp_rbd / sp_rbd_data). An sp_policy is the read-only description:
// network and theta, outputs, base reference and gains, noise level. Every evaluation takes it
// const together with a caller-owned workspace (sp_policy_data: features, network activations,
// the controller's workspace, the exploration rng), so one policy serves several threads at once,
// each with its own workspace; results do not depend on which workspace is used (except the
// noise, which comes from the workspace's rng). Changing a policy (theta, set_noise) must not
// overlap its evaluations. act, sample, vjp, jac_x and logp_vjp never allocate and never modify
// the policy, x or mu. The policy borrows the controller and the task: both must outlive it and
// every workspace.
#ifndef SP_POLICY_POLICY_H
#define SP_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/core/rng.h"
#include "engine/ctrl/ctrl.h"
#include "engine/nn/mlp.h"
#include "engine/task/task.h"

SP_API_BEGIN

typedef enum sp_policy_features {
  SP_POLICY_FEATURES_CAR = 0,    // 6: px, py, v cos phi, v sin phi, cos 2 pi s, sin 2 pi s
  SP_POLICY_FEATURES_STATE = 1,  // nx + 2: x, cos 2 pi s, sin 2 pi s
  SP_POLICY_FEATURES_PHASE = 2,  // 2: cos 2 pi s, sin 2 pi s
} sp_policy_features;

typedef enum sp_policy_out_kind {
  SP_POLICY_OUT_REF = 0,     // reference entry index (closed loop)
  SP_POLICY_OUT_GAIN = 1,    // gain index (closed loop)
  SP_POLICY_OUT_ACTION = 2,  // action index (open loop)
} sp_policy_out_kind;

typedef struct sp_policy_output {
  sp_policy_out_kind kind;
  int index;     // 0-based into r (nr), K (nk) or u (nu)
  double scale;  // the output's range: y_j in (-1, 1) with a tanh output layer
} sp_policy_output;

typedef struct sp_policy_config {
  const sp_ctrl* ctrl;  // embedded controller (borrowed); NULL for an open-loop policy
  const sp_task* task;  // closed loop: reference r(t) (ctrl->nr must be SP_TASK_NR); may be NULL
  const double* r0;     // (ctrl->nr) constant reference used when task is NULL; NULL: zeros
  const double* K0;     // (ctrl->nk) base gains; NULL: the controller's gains ctrl->K
  int nx, nu;           // open loop only (a closed loop takes them from ctrl)
  const double* u_ff;   // open loop: (nu) feed-forward action; NULL: zeros
  sp_policy_features features;
  double period;      // phase period in seconds; <= 0: the task's period (SP_EINVAL if none)
  int nhidden;        // number of hidden layers (>= 0)
  const int* hidden;  // (nhidden) widths
  sp_act hidden_act;  // activation of hidden layers (reference impl: tanh)
  sp_act out_act;     // activation of the output layer (reference impl: tanh)
  int nout;           // number of outputs (>= 1)
  const sp_policy_output* outputs;  // (nout)
  uint64_t seed;                    // Xavier initialisation of the hidden layers
  int init_last;  // 0 (default): last layer zero (nominal controller); 1: Xavier too
} sp_policy_config;

typedef struct sp_policy {
  const sp_ctrl* ctrl;  // NULL for open loop
  const sp_task* task;
  int nx, nu, nr, nk, nf, nout;
  size_t nparams;
  sp_policy_features features;
  double period;
  sp_mlp* net;                // owned; its params are theta
  sp_policy_output* outputs;  // (nout)
  double* r0;                 // (nr) constant reference
  double* K0;                 // (nk) base gains
  double* u_ff;               // (nu) open-loop feed-forward
  double* sigma;              // (nu) exploration standard deviations; all zero: deterministic
  uint64_t seed;              // the configuration's seed (a new workspace's rng: seed, stream 1)
} sp_policy;

// Scratch for one evaluation at a time of a policy (made for that policy).
typedef struct sp_policy_data {
  const sp_policy* policy;  // the policy it was made for
  sp_ctrl_data* ctrl;       // the embedded controller's workspace; NULL for open loop
  sp_mlp_work* act;         // the network's activations
  sp_mlp view;              // the network as evaluated: the policy's, with theta and the gradient
                            // buffer of the call (so the shared network is never written)
  const double* theta;      // (nparams) parameters to evaluate with; NULL: the policy's theta
  sp_rng rng;               // exploration noise
  double* f;                // (nf) features
  double* Df;               // (nf x nx) feature Jacobian
  double* y;                // (nout) network output
  double* r;                // (nr) corrected reference
  double* K;                // (nk) corrected gains
  double* gr;               // (nr)
  double* gK;               // (nk)
  double* gy;               // (nout)
  double* gf;               // (nf)
  double* mean;             // (nu)
  double* e;                // (nu) unit vector / scaled residual
} sp_policy_data;

// Number of features of a kind for a state of size nx (0 for an unknown kind).
int sp_policy_feature_count(sp_policy_features kind, int nx);

// A workspace for policy p, its rng seeded from (p->seed, stream 1). SP_EINVAL, SP_ENOMEM; *out
// is NULL on failure.
int sp_policy_data_new(sp_policy_data** out, const sp_policy* p);
void sp_policy_data_free(sp_policy_data* d);  // NULL is a no-op
// Reseed the workspace's exploration rng from (seed, stream).
void sp_policy_data_seed(sp_policy_data* d, uint64_t seed, uint64_t stream);

// Create a policy. SP_EINVAL for inconsistent sizes (an output index out of range, an output kind
// that does not fit the loop, car features with nx < 4, a task with ctrl->nr != 6, no period);
// SP_ENOMEM. *out is NULL on failure.
int sp_policy_new(sp_policy** out, const sp_policy_config* cfg);
void sp_policy_free(sp_policy* p);  // NULL is a no-op

// theta: the flat parameter vector (nparams float64), the network's own storage.
double* sp_policy_params(sp_policy* p);

// Features f (nf) and, when Df is not NULL, their Jacobian Df (nf x nx) at (x, t).
void sp_policy_features_eval(const sp_policy* p, double* f, double* Df, const double* x, double t);

// Evaluation. Every call below takes the policy p and a workspace d made for it; SP_EINVAL when d
// belongs to another policy.
//
// u (nu) = the policy's mean action at state x (nx), time t (seconds). Returns 0, or
// SP_ENUMERIC when the action is not finite (u is still written).
int sp_policy_act(const sp_policy* p, sp_policy_data* d, double* u, const double* x, double t);

// u (nu) = mean + sigma eps (the workspace's rng advances). Deterministic when sigma is zero.
int sp_policy_sample(const sp_policy* p, sp_policy_data* d, double* u, const double* x, double t);

// Set the exploration noise sigma (nu, each >= 0 and finite; NULL: zeros). SP_EINVAL on a
// negative or non-finite sigma (nothing changes then). Seed workspaces with sp_policy_data_seed.
int sp_policy_set_noise(sp_policy* p, const double* sigma);

// Backward form at (x, t) for mu = dL/du (nu): gx (nx) += Px^T mu, gtheta (nparams) += Pt^T mu.
// gx or gtheta may be NULL. Returns 0 or SP_ENUMERIC (non-finite mean action).
int sp_policy_vjp(const sp_policy* p, sp_policy_data* d, double* gx, double* gtheta,
                  const double* x, double t, const double* mu);

// Px (nu x nx) = du/dx at (x, t), row-major, by nu backward passes.
int sp_policy_jac_x(const sp_policy* p, sp_policy_data* d, double* Px, const double* x, double t);

// log N(u; mean(x, t), diag sigma^2) into *logp, and gtheta (nparams) += w d logp / dtheta.
// Channels with sigma = 0 are left out (they carry no likelihood). SP_ESTATE when every sigma is
// zero.
int sp_policy_logp_vjp(const sp_policy* p, sp_policy_data* d, double* logp, double* gtheta,
                       const double* x, double t, const double* u, double w);

// Adapters with the control loop's policy signature (hal/loop.h sp_act_fn), user = a workspace
// (sp_policy_data, its policy d->policy): the mean action, or a sample with the exploration
// noise. k is not used (time is t).
int sp_policy_loop_act(void* user, double* u, const double* x, double t, long k);
int sp_policy_loop_sample(void* user, double* u, const double* x, double t, long k);

SP_API_END

#endif  // SP_POLICY_POLICY_H
