// ppo.h: proximal policy optimisation with a Gaussian policy and a value network.
//
// The policy is a diagonal Gaussian pi(a | o) = N(mu(o), diag(sigma^2)) with mu an MLP of the
// normalised observation and log sigma a learned, state-independent vector; the critic V(o) is a
// second MLP. One iteration collects nsteps transitions from each of nenvs environments
// (sp_ppo_collect, sp_ppo_record), then sp_ppo_update runs:
//   GAE(lambda)    delta_t = r_t + gamma V_t+1 (1 - d_t) - V_t,
//                  A_t = delta_t + gamma lambda (1 - d_t) A_t+1,  R_t = A_t + V_t
//                  (Schulman et al. 2016, eq. 16); a time-out (episode cut, not a terminal state)
//                  bootstraps: r_t += gamma V_t (the legged-robot practice of Rudin et al. 2022)
//   clipped surrogate  L_pi = mean_i -min(rho_i A_i, clip(rho_i, 1 - eps, 1 + eps) A_i),
//                  rho_i = exp(log pi(a_i | o_i) - log pi_old(a_i | o_i))  (Schulman et al. 2017,
//                  eq. 7), A normalised over the whole batch to mean 0, std 1 when normalize_adv
//                  is set (once per update, before the epochs)
//   value loss     L_V = mean_i (V_i - R_i)^2, or with value clipping
//                  mean_i max((V_i - R_i)^2, (V_old,i + clip(V_i - V_old,i, -eps, eps) - R_i)^2)
//   entropy        H = sum_j (log sigma_j + 1/2 log(2 pi e))
//   loss           L = L_pi + value_coef L_V - entropy_coef H
// minimised over `epochs` passes of `minibatches` shuffled minibatches with Adam (one optimiser
// over actor, critic and log sigma; global gradient norm clipped to max_grad_norm). With
// desired_kl > 0 the learning rate adapts before each step to the mean KL(pi_old || pi) of the
// minibatch: divided by 1.5 above 2 desired_kl, multiplied by 1.5 below desired_kl / 2, kept in
// [lr_min, lr_max] (the massively parallel legged-robot practice, whose minibatches hold tens of
// thousands of rows). That KL is the policy's distance from the collecting one, which only grows
// during an update, so with small noisy minibatches every update ends with lr at its floor and the
// next one climbs back; with kl_per_update the same rule runs once per update instead, on the mean
// KL of the updated policy to the collecting one over the whole batch (setting the learning rate
// of the next update). With desired_kl = 0 the learning
// rate follows a linear schedule from lr to lr_min over lr_iterations updates (0: constant).
//
// Observations are normalised by running statistics (engine/wm/normalizer.h) updated with every
// collected batch and frozen during an update (the stored observations are the normalised ones, so
// log pi_old and the update see the same inputs); the normaliser has no parameters, so no gradient
// flows into it.
//
// Data parallel (docs/distributed.md): with a reduction hook set (sp_ppo_set_reduce), several
// sp_ppo objects, one per process, train one agent on the union of their rollouts. The hook sums a
// vector in place over all participants (every one receiving the same bits); the update calls it,
// in the same order everywhere, on: the observation batch's count and sums, then its squared
// deviations from the merged mean (every collected step, so the normalisers stay equal); the
// rollout's count and sums of advantages, rewards, values and returns, then the advantages' squared
// deviations (the normalisation uses the statistics of the whole batch); and before every
// optimiser step the flat gradient (in dtype, each participant's weighted by its minibatch rows)
// with the minibatch's count and loss parts (so the KL that drives the adaptive learning rate is
// the union's). Gradients become the mean over the union's minibatch rows, so participants that
// start from the same parameters (sp_ppo_share_params) hold identical parameters after every step.
// The engine knows nothing of how the sum travels (lua/bind/ppo.c sets it to an MPI allreduce).
//
// Networks are float32 (the sgemm path) by default, float64 for exact gradient checks. Memory:
// sp_ppo_new allocates everything (networks, optimiser, the rollout buffer of nsteps x nenvs, the
// minibatch scratch); act, collect, record and update never allocate.
#ifndef SP_RL_PPO_H
#define SP_RL_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/core/rng.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "engine/wm/normalizer.h"

SP_API_BEGIN

#define SP_PPO_MAXHIDDEN 8

typedef struct sp_ppo_config {
  int nobs, nact;                // observation and action sizes, >= 1
  int nenvs, nsteps;             // environments and steps per iteration, >= 1
  int nhidden;                   // hidden layers of each network, 1..SP_PPO_MAXHIDDEN
  int hidden[SP_PPO_MAXHIDDEN];  // their widths (actor and critic alike)
  sp_act act;                    // hidden activation
  sp_dtype dtype;                // SP_F32 (default) or SP_F64
  double init_std;               // initial sigma, > 0
  double lr;                     // initial learning rate, > 0
  double lr_min, lr_max;         // adaptive range (and the schedule's end: lr_min)
  double desired_kl;             // > 0: adaptive lr on this KL; 0: schedule
  int kl_per_update;             // with desired_kl: 0 adapts before every minibatch step on that
                                 // minibatch's KL; 1 once after the update, on the whole batch's
  int lr_iterations;             // schedule length in updates (0: constant lr)
  double gamma, lambda;          // discount, GAE lambda, in [0, 1]
  double clip;                   // surrogate (and value) clip eps, > 0
  int clip_value;                // 1: clipped value loss
  double value_coef;             // >= 0
  double entropy_coef;           // >= 0
  double max_grad_norm;          // > 0: global norm cap; 0: none
  int epochs, minibatches;       // >= 1; minibatches divides nenvs * nsteps
  int normalize_adv;             // 1: advantage normalisation over the batch
  int normalize_obs;             // 1: running observation normalisation
  double obs_clip;               // > 0: normalised observations clipped to [-obs_clip, obs_clip]
} sp_ppo_config;

// statistics of the last update (means over its minibatch steps)
typedef struct sp_ppo_stats {
  double surrogate, value_loss, entropy, kl, clip_fraction, lr, grad_norm;
  double kl_final;     // with kl_per_update: KL(pi_old || pi) over the batch after the update
  double mean_reward;  // mean reward per transition of the iteration's rollout
  double mean_value, mean_return;
  int steps;    // optimiser steps taken
  int refused;  // optimiser steps refused (non-finite gradient)
} sp_ppo_stats;

// Sum x (n elements of dtype) over all participants, in place; 0 or an error code.
typedef int (*sp_ppo_reduce_fn)(void* ctx, sp_dtype dtype, void* x, size_t n);

typedef struct sp_ppo {
  sp_ppo_config cfg;
  sp_mlp* actor;   // nobs -> hidden -> nact (identity output: the mean)
  sp_mlp* critic;  // nobs -> hidden -> 1
  size_t nparams;  // actor + critic + nact (log sigma)
  void* params;    // (nparams) [actor | critic | log sigma] in dtype; the nets' params are views
  void* grads;     // (nparams) same layout
  size_t off_logstd;
  sp_optim* opt;
  sp_normalizer onorm;  // (nobs)
  double* onorm_storage;
  sp_rng rng;      // action noise and minibatch shuffles
  int t;           // steps collected in the current iteration
  long iteration;  // updates done
  // rollout buffer, (nsteps x nenvs) rows
  double* obs;        // (.. x nobs) normalised
  double* act;        // (.. x nact)
  double* mu;         // (.. x nact) mean at collection
  double* logp;       // (..) log pi_old(a | o)
  double* value;      // (nsteps + 1) x nenvs, the last row the bootstrap values
  double* reward;     // (..)
  double* done;       // (..) 1: terminal after this step
  double *adv, *ret;  // (..)
  double* logstd_c;   // (nact) log sigma at collection
  // minibatch scratch (mb rows)
  int mb;
  int* perm;                                               // (nsteps x nenvs)
  double *mobs, *mact, *mmu, *mlogp, *mval, *madv, *mret;  // gathered minibatch
  double *ymu, *yv, *gmu, *gv;                             // network outputs and their gradients
  double* glogstd;                                         // (nact)
  double* logstd;                                          // (nact) current log sigma in float64
  double* nobs_buf;  // (nenvs x nobs) normalised observations for act
  sp_ppo_stats stats;
  sp_ppo_stats mbstats;     // the last minibatch loss's parts
  int pending;              // 1: a collected step waits for sp_ppo_record
  sp_ppo_reduce_fn reduce;  // NULL: one process
  void* reduce_ctx;
  double* red;  // (2 nobs + 8) reduction scratch
} sp_ppo;

// METHODS.md's PPO baseline: 512-256-128 elu, float32, init std 1, lr 1e-3 adaptive on KL 0.01
// in [1e-5, 1e-2], gamma 0.99, lambda 0.95, clip 0.2 with value clipping, value coef 1, entropy
// 0.01, grad norm 1, 5 epochs of 4 minibatches, advantage and observation normalisation (clip 5).
sp_ppo_config sp_ppo_default_config(int nobs, int nact, int nenvs, int nsteps);
// 0 or SP_EINVAL naming the bad field in msg (may be NULL).
int sp_ppo_check(const sp_ppo_config* cfg, char* msg, size_t msg_size);

// Networks initialised from seed (orthogonal, gain sqrt 2 for hidden layers, 0.01 for the mean's
// layer, 1 for the value's), log sigma = log init_std, normaliser empty.
int sp_ppo_new(sp_ppo** out, const sp_ppo_config* cfg, uint64_t seed);
void sp_ppo_free(sp_ppo* p);

// Set (fn non-NULL) or clear the data-parallel reduction hook (above). Every participant must set
// it before collecting and then run the same calls (collect, record, update) in lockstep.
void sp_ppo_set_reduce(sp_ppo* p, sp_ppo_reduce_fn fn, void* ctx);
// Give every participant the root's parameters (a sum over the hook with the others' zeroed, so
// the root's bits arrive unchanged); root is 1 on exactly one participant. SP_ESTATE without a
// hook, or the hook's error.
int sp_ppo_share_params(sp_ppo* p, int root);
// Reseed the action noise and minibatch shuffles: stream 0 is sp_ppo_new's; participants of a
// data-parallel run use their rank so that their explorations differ.
void sp_ppo_set_noise(sp_ppo* p, uint64_t seed, uint64_t stream);

// Normalise n observations (n x nobs) with the current statistics into out (n x nobs).
void sp_ppo_normalize(const sp_ppo* p, double* out, const double* obs, int n);

// Act on n (<= nenvs) raw observations (n x nobs) without recording: a (n x nact) = mu, or a
// sample when stochastic; value (n) may be NULL. Uses (and overwrites) the nets' own workspaces.
int sp_ppo_act(sp_ppo* p, double* a, double* value, const double* obs, int n, int stochastic);

// Step t of the iteration: merge obs (nenvs x nobs) into the normaliser, sample actions a
// (nenvs x nact) and record the normalised observation, action, mean, log-probability and value.
// SP_ESTATE when nsteps steps are already collected.
int sp_ppo_collect(sp_ppo* p, double* a, const double* obs);
// The same with the actions given (nenvs x nact) instead of sampled: their log-probability under
// the current policy is recorded (replayed or scripted data; the data-parallel equality tests).
int sp_ppo_collect_given(sp_ppo* p, const double* a, const double* obs);
// The outcome of the step just collected: reward (nenvs), done (nenvs, 1: the episode ended: a
// terminal state or a time-out), timeout (nenvs, may be NULL: 1 where the end was a time-out, which
// bootstraps). SP_ESTATE when no step waits for its outcome.
int sp_ppo_record(sp_ppo* p, const double* reward, const double* done, const double* timeout);

// After nsteps collected steps: the bootstrap values of last_obs (nenvs x nobs, the observation
// after the last step), GAE, then the epochs of minibatch updates. Fills p->stats; starts the
// next iteration. SP_ESTATE when the rollout is not complete.
int sp_ppo_update(sp_ppo* p, const double* last_obs);

// GAE over nsteps x nenvs (row-major in time): reward, done (1: no bootstrap past this step),
// value ((nsteps + 1) x nenvs) -> adv and ret (nsteps x nenvs).
void sp_gae(double* adv, double* ret, const double* reward, const double* done, const double* value,
            int nsteps, int nenvs, double gamma, double lambda);

// log N(a; mu, diag(exp(logstd))^2) of each of n rows (n x k) into logp (n).
void sp_gaussian_logp(double* logp, const double* a, const double* mu, const double* logstd, int n,
                      int k);
// Entropy of the Gaussian: sum_j logstd_j + k/2 log(2 pi e).
double sp_gaussian_entropy(const double* logstd, int k);
// Sum over n rows (n x k) of KL(N(mu_old, sigma_old^2) || N(mu, sigma^2)), the log sigmas shared
// by the rows: sum_j (logstd_j - logstd_old_j + sigma_old_j^2 / (2 sigma_j^2) - 1/2
// + (mu_old_j - mu_j)^2 / (2 sigma_j^2)).
double sp_gaussian_kl(const double* mu_old, const double* mu, const double* logstd_old,
                      const double* logstd, int n, int k);

// The minibatch loss L (above) of B rows, given the networks' outputs mu (B x k) and v (B), log
// sigma (k), and the minibatch's actions a, old means mu_old, old log-probabilities logp_old,
// advantages adv (already normalised if wanted), returns ret, old values v_old; logstd_old (k) is
// log sigma at collection (for the KL). WRITES gmu = dL/dmu (B x k), gv = dL/dv (B) and glogstd =
// dL/dlogstd (k); fills the loss's parts (surrogate, value_loss, entropy, kl, clip_fraction) in
// st. Returns L. Never allocates.
double sp_ppo_loss(sp_ppo_stats* st, double* gmu, double* gv, double* glogstd, const double* mu,
                   const double* v, const double* logstd, const double* a, const double* mu_old,
                   const double* logstd_old, const double* logp_old, const double* adv,
                   const double* ret, const double* v_old, int B, int k, double clip,
                   int clip_value, double value_coef, double entropy_coef);

// The loss of the update on rows idx (B) of the rollout buffer (after sp_ppo_update's GAE and
// advantage normalisation, which sp_ppo_prepare runs alone), through the networks: L, and with
// backward set, its gradient ACCUMULATED into p->grads. For gradient checks and tests (the update
// uses the same path). Never allocates.
int sp_ppo_prepare(sp_ppo* p, const double* last_obs);
int sp_ppo_minibatch_loss(sp_ppo* p, double* loss, const int* idx, int B, int backward);

SP_API_END

#endif  // SP_RL_PPO_H
