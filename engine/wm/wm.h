// wm.h: method 2's learned world model s' = W(s, a) for a floating-base robot with nj joints.
//
// State (nx = 13 + 2 nj), the same layout as a motion-clip sample (engine/motion/clip.h):
//   s = [ p (3, world) | q (4, w x y z, body to world) | v (3, body) | w (3, body) | qj (nj) | qd
//   (nj) ]
// An MLP (engine/nn/mlp.h; float32 by default) sees normalised features of the state and the
// action,
//   x = [ (f(s) - mu_f) / sigma_f , (a - mu_a) / sigma_a ],   f(s) = [ p_z, R(q)^T e_z, v, w, qj,
//   qd ]
// (nf = 10 + 2 nj: height, the up direction in the body frame, velocities and joints; the model is
// blind to horizontal position and heading, which the dynamics do not depend on), and predicts the
// normalised change of the velocities d (nd = 6 + nj), Delta = mu_d + sigma_d d:
//   v' = v + Delta_v,  w' = w + Delta_w,  qd' = qd + Delta_qd
// With history = 1 the network also sees the action before, x = [ ..., (a - mu_a) / sigma_a,
// (a_prev - mu_a') / sigma_a' ]: the model's action input is then na = 2 nu wide, [a_k, a_k-1].
// A robot whose actuators lag (latency) moves during tick k partly under a_k-1: a model blind to it
// mistakes that for noise (docs/method2.md, "A world model that sees the previous action").
// Positions and orientation are integrated with the mean of the old and new velocities (the
// trapezoidal rule, exact under constant acceleration), the orientation on the quaternion manifold:
//   p'  = p + dt/2 (R(q) v + R(q') v')
//   q'  = q (x) Exp(dt (w + w') / 2)
//   qj' = qj + dt/2 (qd + qd')
// (ControlVAE, Yao et al. 2022, predicts normalised body-frame velocity deltas and integrates the
// poses the same way; docs/method2.md.) The normalisers (engine/wm/normalizer.h) are running
// statistics of f(s), a and the recorded velocity changes, fed by sp_wm_observe and saved with the
// model.
//
// Description and workspace: sp_wm holds the network and normalisers; sp_wm_data holds the
// forward passes of up to `horizon` applications (one network workspace each) for up to
// max_batch rows, so backpropagation runs through a rollout of H applications (world-model training
// on n-step rollouts, and a policy trained through the model). Only sp_wm_new, sp_wm_data_new and
// the file functions allocate; step, its VJP, the rollout loss and observe never do.
#ifndef SP_WM_WM_H
#define SP_WM_WM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "engine/wm/normalizer.h"

SP_API_BEGIN

// the per-component losses and errors, in this order
enum {
  SP_WM_POSITION = 0,      // |p' - p_rec|, m
  SP_WM_ORIENTATION,       // geodesic angle |Log(q_rec* (x) q')|, rad
  SP_WM_VELOCITY,          // |v' - v_rec|, m/s (body frame)
  SP_WM_ANGULAR_VELOCITY,  // |w' - w_rec|, rad/s (body frame)
  SP_WM_JOINTS,            // |qj' - qj_rec|, rad
  SP_WM_JOINT_VELOCITIES,  // |qd' - qd_rec|, rad/s
  SP_WM_NCOMP
};

// "position", "orientation", "velocity", "angular_velocity", "joints", "joint_velocities".
const char* sp_wm_component_name(int c);

typedef struct sp_wm_config {
  int nj;                      // joints, >= 0
  int nu;                      // actions, >= 1
  int history;                 // earlier actions in the input: 0 or 1 (see above)
  double dt;                   // seconds per application, > 0
  int hidden;                  // width of each hidden layer, >= 1
  int layers;                  // hidden layers, >= 1 (the MLP has layers + 1 affine maps)
  sp_act act;                  // hidden activation
  sp_dtype dtype;              // SP_F32 (the sgemm path) or SP_F64 (exact gradient checks)
  double min_std;              // normaliser floor, > 0
  double weight[SP_WM_NCOMP];  // loss weights, >= 0
} sp_wm_config;

typedef struct sp_wm {
  sp_wm_config cfg;
  int nx, nf, nd, nin;  // state, features, predicted deltas, network inputs (nf + na)
  int na;               // action inputs: nu (1 + history), [a_k (, a_k-1)]
  sp_mlp* net;          // nin -> hidden x layers -> nd
  sp_normalizer fnorm;  // (nf) state features
  sp_normalizer anorm;  // (na) action inputs
  sp_normalizer dnorm;  // (nd) velocity changes
  double* stats;        // storage of the three normalisers
} sp_wm;

typedef struct sp_wm_data {
  const sp_wm* wm;
  int max_batch, horizon;
  sp_mlp_work** ws;  // (horizon) one forward pass per application
  double* x;         // (max_batch x nin) network input / input gradient
  double* y;         // (max_batch x nd) network output / output gradient
  double* S;         // ((horizon + 1) x max_batch x nx) rollout states of sp_wm_rollout_loss
  double* G;         // (2 x max_batch x nx) state gradients of the loss's backward pass
  double* A;         // (max_batch x na) one step's action inputs
} sp_wm_data;

// Defaults: 3 hidden layers of 256, elu, float32, min_std 1e-3, weights position 1,
// orientation 4, velocity 1, angular velocity 4, joints 1, joint velocities 1 (ControlVAE's 1, 4,
// 1, 4 for the root; docs/method2.md), no history. nj, nu and dt are the caller's.
sp_wm_config sp_wm_default_config(int nj, int nu, double dt);
// 0 or SP_EINVAL naming the bad field in msg (may be NULL).
int sp_wm_check(const sp_wm_config* cfg, char* msg, size_t msg_size);

// A world model with the network initialised from seed (Xavier, last layer zero: the first
// prediction is "velocities stay as they are"), normalisers empty. SP_EINVAL, SP_ENOMEM.
int sp_wm_new(sp_wm** out, const sp_wm_config* cfg, uint64_t seed);
void sp_wm_free(sp_wm* wm);

// A copy of wm that also sees the previous action (history 1; wm must have none): the new inputs'
// first-layer weights are zero, so it predicts exactly what wm does until trained, and their
// normaliser starts from the action's statistics (a_k-1 is distributed as a_k). The network is
// float64 or float32 as wm's. SP_EINVAL when wm already has a history, SP_ENOMEM.
int sp_wm_with_history(sp_wm** out, const sp_wm* wm);

// Workspace for rollouts of up to horizon (>= 1) applications of max_batch (>= 1) rows.
int sp_wm_data_new(sp_wm_data** out, const sp_wm* wm, int max_batch, int horizon);
void sp_wm_data_free(sp_wm_data* d);

// Merge count transitions (s (count x nx), a (count x na) action inputs, s_next (count x nx))
// into the normalisers' statistics.
void sp_wm_observe(sp_wm* wm, const double* s, const double* a, const double* s_next, int count);

// Application k (0 <= k < d->horizon) of the model: s_next (batch x nx) from s (batch x nx) and
// the action inputs a (batch x na), keeping the pass in slot k for sp_wm_step_vjp. s_next must not
// alias s. SP_ERANGE for k or batch out of range; SP_EINVAL for another model's workspace.
int sp_wm_step(sp_wm* wm, sp_wm_data* d, int k, double* s_next, const double* s, const double* a,
               int batch);

// Backward through application k, given g_next = dL/ds_next (batch x nx) and the s, s_next of that
// application: WRITES gs = dL/ds (batch x nx) and, unless NULL, ga = dL/da (batch x na); with
// params set, ACCUMULATES the network's parameter gradients (wm->net->grads), else leaves them
// alone (a policy trained through a frozen model). gs must not alias g_next. SP_ESTATE when slot
// k holds no pass.
int sp_wm_step_vjp(sp_wm* wm, sp_wm_data* d, int k, double* gs, double* ga, const double* g_next,
                   const double* s, const double* s_next, int params);

// The autoregressive n-step loss (1 <= n <= d->horizon) on recorded windows S (batch x (n + 1) x
// nx) and A (batch x n x na; a replay buffer with the model's history gives them): from
// s_0 = S[:, 0], s_k+1 = W(s_k, A[:, k]), and
//   L_c = mean over steps, rows and the component's coordinates of |error| (SP_WM_ORIENTATION: the
//   geodesic angle), loss = sum_c weight_c L_c.
// Writes comps[SP_WM_NCOMP] = L_c (may be NULL) and per_step (n x SP_WM_NCOMP; row k is the error
// after k + 1 applications; may be NULL); returns the loss in *loss. With backward set, also
// ACCUMULATES dloss/dparams into wm->net->grads (through all n applications).
int sp_wm_rollout_loss(sp_wm* wm, sp_wm_data* d, double* loss, double* comps, double* per_step,
                       const double* S, const double* A, int batch, int n, int backward);

// Save the network, (when not NULL) its optimiser's state, the configuration and the
// normalisers in one checkpoint file (engine/nn/checkpoint.h, the model in its meta bytes).
int sp_wm_save(const sp_wm* wm, const sp_optim* opt, const char* path, char* msg, size_t msg_size);
// Load a model saved by sp_wm_save, and its optimiser when opt is not NULL and the file has one
// (*opt NULL otherwise). SP_EFORMAT for a checkpoint that holds no world model.
int sp_wm_load(sp_wm** out, sp_optim** opt, const char* path, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_WM_WM_H
