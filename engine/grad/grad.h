// grad.h: policy-gradient estimators over recorded trajectories, and their diagnostics.
//
// Objective of a trajectory (objective.c)
//   J = scale * ( sum_{k = k0}^{T-1} c(x[k], u[k], ref(t[k])) + c_T(x[T], ref(t[T])) )
// with c and c_T built with engine/cost (c_T: a cost with nu = 0) and ref from a task
// (sp_task_ref; zeros when there is no task). k0 > 0 leaves the first steps out (e.g. the car's
// first lap, METHODS.md).
//
// Estimators (one file each). Every estimator ACCUMULATES into g (nparams: the policy's flat
// theta, sp_policy_params), so gradients of several trajectories add up; zero g first for one
// gradient. J is overwritten. They allocate their scratch and workspaces (sp_policy_data,
// sp_model_data) and free them before returning: call them between rollouts, not inside a control
// tick. The policy and the model are only read, so estimates may run on several threads at once.
//   feedback.c    method 1 (Westenbroek et al., arXiv 2307.08168; METHODS.md): the MODEL's step
//                 Jacobians evaluated along the RECORDED trajectory, adjoint recursion through the
//                 closed loop, O(T) vector-Jacobian products:
//                   lam[T] = grad_x c_T
//                   mu[k]  = grad_u c[k] + B[k]^T lam[k+1]
//                   lam[k] = grad_x c[k] + A[k]^T lam[k+1] + Px[k]^T mu[k]
//                   g     += Pt[k]^T mu[k]
//                 segment N > 0 truncates: each segment starts from its recorded state (the
//                 reference implementation re-plans each segment there), so at k = N, 2N, ...
//                 only the state's own cost flows back, lam[k] = grad_x c[k] (the segment's
//                 sensitivities restart from zero). N <= 0 or N >= T is the full horizon.
//   model_bptt.c  backpropagation through a rollout of the MODEL alone from the recorded x[0] and
//                 t[0] (the "hallucinated experience" baseline); J is the model's predicted cost.
//   reinforce.c   likelihood ratio with Gaussian exploration (sp_policy_set_noise):
//                   g += (1/n) sum_i sum_k grad_theta log pi(u_ik | x_ik, t_ik) (C_ik - b_ik)
//                 with C_ik the cost-to-go from step k (objective weights included) and b_ik the
//                 mean cost-to-go of the OTHER trajectories at step k (leave-one-out, so the
//                 estimate stays unbiased; 0 when n = 1). J = mean objective of the n rollouts.
//   es.c          antithetic evolution strategies (Salimans et al. 2017) with directions
//                 d ~ N(0, I): g += (1/n) sum_i (J(theta + s d_i) - J(theta - s d_i)) / (2 s) d_i,
//                 from a caller's rollout callback. Unbiased for the gradient of the Gaussian-
//                 smoothed objective (exactly the gradient when J is quadratic in theta).
//                 J = mean of the 2n evaluations.
// Diagnostics (diagnostics.c): closed-loop sensitivity products against horizon, and gradient
// statistics across seeds.
#ifndef SP_GRAD_GRAD_H
#define SP_GRAD_GRAD_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/core/rng.h"
#include "engine/cost/cost.h"
#include "engine/model/model.h"
#include "engine/policy/policy.h"
#include "engine/policy/rollout.h"
#include "engine/task/task.h"

SP_API_BEGIN

// A cost written by the caller (e.g. a Lua function), added to the cost terms: *c = its value
// at (x, u, t) for step k, and gx (nx), gu (nu) OVERWRITTEN by its gradients. At the terminal
// step (k == T) u and gu are NULL. Returns 0 or an SP_E* code, which stops the estimator (it
// returns the code and leaves g unchanged).
typedef int (*sp_objective_fn)(void* user, double* c, double* gx, double* gu, const double* x,
                               const double* u, double t, int k, int T);

typedef struct sp_objective {
  const sp_cost* step;          // per-step cost (nx, nu), may be NULL
  const sp_cost* terminal;      // terminal cost (nx, nu = 0), may be NULL
  const sp_task* task;          // reference for both; NULL: ref is zero
  int k0;                       // first step whose per-step cost counts (>= 0)
  double scale;                 // multiplies everything; 0 is read as 1
  sp_objective_fn step_fn;      // optional per-step cost function (counted from k0 like step)
  sp_objective_fn terminal_fn;  // optional terminal cost function
  void* user;                   // passed to both functions
} sp_objective;

// SP_ESHAPE when the costs do not fit (nx, nu); SP_EINVAL for k0 < 0 or a non-finite scale.
int sp_objective_check(const sp_objective* obj, int nx, int nu);

// J of a trajectory (objective.c). Returns 0 or an sp_objective_check code.
int sp_objective_value(double* J, const sp_objective* obj, const sp_trajview* tr);

// Per-step pieces for estimators: *c = c_k (scaled); OVERWRITES gx (nx) = dc_k/dx and
// gu (nu) = dc_k/du (either may be NULL; at k = T the terminal cost applies and gu is zeroed).
// ref is (SP_TASK_NREF) scratch, tmp (nx + nu) scratch for the cost functions. Returns 0 or a
// cost function's error code.
int sp__objective_step(const sp_objective* obj, double* c, double* gx, double* gu, double* ref,
                       double* tmp, const double* x, const double* u, double t, int k, int T,
                       int nx, int nu);

// Method 1's estimator on trajectory tr recorded from any plant; m is the approximate model.
// g (p->nparams) +=, J = objective of tr. segment: see above. SP_ESHAPE on size mismatches.
int sp_grad_feedback(double* g, double* J, const sp_policy* p, const sp_model* m,
                     const sp_objective* obj, const sp_trajview* tr, int segment);

// The adjoint pass alone (no checks, no allocation): *J = the objective, g (nparams) += the
// gradient; pd and md are workspaces of p and m, work holds SP_GRAD_ADJOINT_WORK(nx, nu, nparams)
// doubles. Returns 0 or a cost function's error code (g is then unchanged).
#define SP_GRAD_ADJOINT_WORK(nx, nu, np) (4 * (size_t)(nx) + 2 * (size_t)(nu) + SP_TASK_NREF + (np))
int sp__grad_adjoint(double* g, double* J, const sp_policy* p, sp_policy_data* pd,
                     const sp_model* m, sp_model_data* md, const sp_objective* obj,
                     const sp_trajview* tr, int segment, double* work);

// Backpropagation through the model's own rollout from tr's x[0], t[0] over tr->T steps.
int sp_grad_model_bptt(double* g, double* J, const sp_policy* p, const sp_model* m,
                       const sp_objective* obj, const sp_trajview* tr);

// REINFORCE over n >= 1 trajectories of equal length recorded with sp_policy_sample at the
// policy's current theta and noise. SP_ESTATE when the policy has no exploration noise.
int sp_grad_reinforce(double* g, double* J, const sp_policy* p, const sp_objective* obj,
                      const sp_trajview* trs, int n);

// A caller's rollout: *J = objective at parameters theta (n). Returns 0 or an SP_E* code (which
// sp_grad_es passes on).
typedef int (*sp_grad_es_fn)(void* user, double* J, const double* theta);

// ES with npairs >= 1 antithetic pairs, perturbation std sigma > 0, directions from rng;
// theta (n) is the centre (not modified). SP_EINVAL on bad arguments; a callback error or a
// non-finite J is returned and g is then left unchanged.
int sp_grad_es(double* g, double* J, const double* theta, size_t n, sp_grad_es_fn fn, void* user,
               double sigma, int npairs, sp_rng* rng);

// Closed-loop sensitivity products along tr: Phi_h = M[h-1] ... M[0], h = 1..T, with
// M[k] = A[k] + B[k] Px[k] (feedback = 1: the policy's feedback, model Jacobians at the recorded
// (x[k], u[k])) or M[k] = A[k] (feedback = 0: the same trajectory with the policy's state
// dependence removed). log_norm (T): ln of the spectral norm of Phi_h; cond (T, may be NULL):
// its 2-norm condition number sigma_max / sigma_min (INFINITY when singular). Products are
// renormalised every step, so they do not overflow.
int sp_grad_sensitivity(double* log_norm, double* cond, const sp_policy* p, const sp_model* m,
                        const sp_trajview* tr, int feedback);

// Statistics of S gradient estimates G (S x n, row-major), e.g. one per seed.
typedef struct sp_grad_stats {
  double mean_norm;     // mean of |g_s|
  double norm_of_mean;  // |mean_s g_s|
  double variance;      // trace of the sample covariance (S - 1 denominator; 0 when S = 1)
  double rel_std;       // sqrt(variance) / norm_of_mean (INFINITY when the mean is zero)
} sp_grad_stats;

int sp_grad_stats_compute(sp_grad_stats* out, const double* G, int S, size_t n);

SP_API_END

#endif  // SP_GRAD_GRAD_H
