// gauss_newton.h: a Gauss-Newton (Levenberg-Marquardt) step with a trust region on the change of
// actions, for method 1's policies, from one recorded trajectory (docs/api/policy_grad.md).
//
// Method 1 (Westenbroek et al., arXiv 2307.08168; METHODS.md) differentiates the real system's
// cost J(theta) = sum_k c(x[k], u[k]) + c_T(x[T]) (grad.h's objective) with the MODEL's Jacobians
// A[k] = df/dx, B[k] = df/du at the RECORDED points and the policy's Px[k] = dpi/dx,
// Pt[k] = dpi/dtheta. The same Jacobians give the closed loop's forward sensitivities for a
// parameter direction v (feedback.c's adjoint, run forwards):
//   dx[0] = 0,  du[k] = Px[k] dx[k] + Pt[k] v,  dx[k+1] = A[k] dx[k] + B[k] du[k]
// i.e. the Jacobian Jz = d(x[k], u[k])/dtheta of the whole trajectory. The generalised
// Gauss-Newton matrix (Schraudolph 2002) of the trajectory cost is
//   G = sum_k Jz[k]^T H[k] Jz[k],   H[k] = PSD part of the Hessian of c in z = (x[k], u[k])
// (H by central differences of the cost gradient, negative eigenvalues set to zero), so G is
// positive semi-definite and equals the Hessian of J for a linear model, a policy linear in
// (x, theta) and a quadratic cost. G v is one forward sensitivity pass and one adjoint pass
// weighted by H (no dense Jacobian). Truncation (segment N) restarts dx at k = N, 2N, ... as
// feedback.c's lam does, so g and G describe the same truncated model.
//
// Trust region on actions. The step d changes the actions on the recorded states by
// w[k] = Pt[k] d to first order; D = (1/T) sum_k Pt[k]^T Pt[k] measures it:
// |d|_D = sqrt(d^T D d) is the root-mean-square action change. The step solves
//   min_d  q(d) = g^T d + 1/2 d^T G d   subject to  |d|_(D + eps I) <= radius,
// i.e. (G + lambda (D + eps I)) d = -g with the smallest lambda >= 0 that keeps the action
// change within the radius (Levenberg-Marquardt damping in the action metric plus eps I, eps =
// 0.1 x the mean eigenvalue of D in the subspace: it keeps the step off parameter directions whose
// first-order action changes cancel, where the network's curvature would move the actions much
// further than the linearisation says). It is solved in the Krylov subspace
// span{g, G g, ..., G^(m-1) g} built by Lanczos with full re-orthogonalisation (m products
// G v; the conjugate-gradient solution of the undamped system lies in the same subspace), where
// the projected problem is small and dense: whitening with M = V^T D V + eps I and one
// symmetric eigen-decomposition make |a|_M a monotone function of lambda (bisection).
//
// Radius from the next rollout (no extra plant data). sp_gn_step is called once per recorded
// rollout. The previous step's predicted decrease pred = -q(d) is compared with the decrease the
// new rollout actually shows, rho = (J_prev - J) / pred (Moré, "Recent developments in algorithms
// and software for trust region methods", 1983; Nocedal & Wright ch. 4): rho < 1/4 shrinks the
// radius to 1/4 of the step taken, rho > 3/4 with the step on the boundary doubles it, and a
// step whose rollout cost more than it saved by eta (rho < eta) is rejected. The rejected
// rollout is data too: the next step is either a smaller one from the previous point (theta
// returns there; the previous, stored subspace) or one from the rejected point on the model
// built along the rejected rollout, whichever model predicts the lower cost; either way the
// rejected rollout is the only data that step used. A step is also shrunk until it predicts
// removing at most max_decrease (0.65) of the current cost: an approximate model cannot see how
// low the plant's cost can go, and steps predicting J -> 0 overshot on the car under mismatch.
// The last step of a run (gn->last_step) cannot be undone by a later rollout: when the previous
// step did less than 3/4 of what it predicted, its cap is halved (on the car's R = 2 m track a
// full last step from rho = 0.58 tripled the cost).
//
// Model fit (cfg.fit). The recorded rollout also shows how the plant moves: sp_gn_build first
// fits the model's parameters to its transitions (sp_gn_fit: weighted least squares on the
// one-step prediction error, Levenberg-Marquardt from the model's own parameters) and takes A[k],
// B[k] from the fitted model; everything above is unchanged (the same recorded points, the
// plant's measured cost for rho). On the car every parameter off by gamma = 0.25 made each step's
// curvature 4x wrong; the fit recovers the plant's parameters from one rollout.
//
// Memory: sp_gn_build allocates (the caches grow with T: Pt is T x nu x nparams doubles, and it
// makes and frees its own policy and model workspaces); sp_gn_gvp, sp_gn_dvp and sp_gn_solve
// never allocate. The policy and the model are only read (sp_gn_step writes theta); one sp_gn
// per thread.
#ifndef SP_GRAD_GAUSS_NEWTON_H
#define SP_GRAD_GAUSS_NEWTON_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/grad/grad.h"

SP_API_BEGIN

typedef struct sp_gn_config {
  int subspace;         // Krylov dimension m (>= 1); 0: 30
  double radius;        // initial trust radius (RMS action change); 0: 0.05
  double radius_min;    // 0: 1e-4
  double radius_max;    // 0: 1
  double eta;           // rejection threshold on rho (a step with rho < eta is undone); 0 allowed
  double max_decrease;  // a step predicts removing at most this fraction of J (0, 1]; 0: 0.65
  int fit;              // 1: fit the model's parameters to each recorded trajectory (sp_gn_fit)
                        // and take the Jacobians from the fitted model; 0: the model as given
} sp_gn_config;

typedef struct sp_gn_info {
  double J;          // objective of the trajectory just given
  double grad_norm;  // |g| at the point the step was taken from
  double rho;        // actual / predicted decrease of the previous step (NAN on the first call)
  double pred;       // predicted decrease q(0) - q(d) of the step just taken (>= 0)
  double dact;       // its RMS action change |d|_D
  double lambda;     // its damping
  double radius;     // the radius it was taken with
  int accepted;      // 0: the previous step was rejected and theta returned to its start (a
                     // rejected step that goes on from where it ended has rho < eta, accepted 1)
  int subspace;      // dimension of the subspace actually built (Lanczos may stop early)
} sp_gn_info;

typedef struct sp_gn {
  int nx, nu, nz;  // nz = nx + nu
  size_t np;
  int T, Tcap;  // steps of the trajectory the caches hold, and their capacity
  int k0, segment;
  sp_gn_config cfg;
  // caches along the recorded trajectory (sp_gn_build)
  double* A;   // (T x nx x nx) model step Jacobians
  double* B;   // (T x nx x nu)
  double* Px;  // (T x nu x nx) policy feedback
  double* Pt;  // (T x nu x np) policy parameter Jacobian
  double* H;   // ((T+1) x nz x nz) PSD cost Hessians (terminal: the x block of row T)
  double* cg;  // ((T+1) x nz) cost gradients in z (terminal: x part of row T)
  double* g;   // (np) gradient of J (equals sp_grad_feedback's)
  double J;    // objective of the trajectory
  // product scratch
  double* dz;   // ((T+1) x nz) forward perturbations (dx[k], du[k]); row T holds dx[T]
  double* vec;  // (4 nz) lam, lam_k, y, mu
  // Krylov subspace (sp_gn_subspace)
  int m, mcap;
  double* V;   // (mcap x np) orthonormal basis
  double* GV;  // (mcap x np) G V
  double* W;   // (mcap x T x nu) action changes Pt V
  double* Gm;  // (mcap x mcap) V^T G V
  double* Dm;  // (mcap x mcap) V^T D V
  double* gm;  // (mcap) V^T g
  double* sm;  // (6 mcap x mcap) solve scratch
  // a second subspace (the rejected point's, while both candidates are solved) and its step
  struct {
    int m;
    double *V, *g, *gm, *Gm, *Dm;
  } alt;
  double* dalt;  // (np)
  // the model's parameters fitted to the last built trajectory (cfg.fit; npfit of them), and the
  // fit's weighted mean squared one-step residual before and after
  double* pfit;
  int npfit;
  double fit_rss[2];
  // trust-region state (sp_gn_step)
  double radius;
  double* theta0;  // (np) where the pending step started
  double J0, pred, dact;
  int pending;
  // set by the caller before the last sp_gn_step of a run (no later rollout can judge or undo
  // it): when the previous step's rho was below 3/4, this step's predicted decrease is capped at
  // half of cfg.max_decrease
  int last_step;
} sp_gn;

// Create for policy p. cfg may be NULL (defaults). SP_EINVAL for a bad config; SP_ENOMEM.
int sp_gn_new(sp_gn** out, const sp_policy* p, const sp_gn_config* cfg);
void sp_gn_free(sp_gn* gn);  // NULL is a no-op

// Evaluate and cache the Jacobians, cost Hessians, the gradient gn->g and gn->J along trajectory
// tr recorded from any plant (m the approximate model; with cfg.fit the Jacobians are those of m
// with the parameters sp_gn_fit finds on tr, kept in gn->pfit). Allocates when tr is longer than
// before. SP_ESHAPE / SP_EINVAL as sp_grad_feedback; a cost function's error code.
int sp_gn_build(sp_gn* gn, const sp_policy* p, const sp_model* m, const sp_objective* obj,
                const sp_trajview* tr, int segment);

// Fit the model's parameters to the transitions of a recorded trajectory (any plant): p (m->np)
// minimises the weighted one-step prediction error
//   F(p) = (1/T) sum_k sum_i w_i (x_i[k+1] - step_i(x[k], u[k]; p))^2,
//   w_i = 1 / ((1/T) sum_k (x_i[k+1] - x_i[k])^2)      (each state's change per step as its unit)
// plus 1e-9 sum_j ((p_j - m->p_j) / s_j)^2 (s_j = |m->p_j|, or 1 when it is zero), which only keeps
// parameters the data does not determine at the model's values. Levenberg-Marquardt from m->p
// with the model's exact parameter Jacobian P = dstep/dp (at most iters iterations; 0: 50). rss
// (may be NULL) receives F at m->p and at p (the fit never ends above its start). A transition
// whose state change or prediction is not finite is skipped. m is only read. Allocates scratch.
// SP_EINVAL (NULL arguments), SP_ESHAPE (the trajectory's sizes are not the model's), SP_ENOMEM.
int sp_gn_fit(double* p, double rss[2], const sp_model* m, const sp_trajview* tr, int iters);

// out (np) = G v; w (T x nu, may be NULL) = the first-order action changes Pt[k] v. out may not
// alias v. No allocation.
void sp_gn_gvp(sp_gn* gn, double* out, double* w, const double* v);

// out (np) = D v = (1/T) sum_k Pt[k]^T Pt[k] v. No allocation.
void sp_gn_dvp(const sp_gn* gn, double* out, const double* v);

// Build the Krylov subspace of G from g (cfg.subspace products). Returns its dimension.
int sp_gn_subspace(sp_gn* gn);

// d (np) = the trust-region step in the current subspace for radius (INFINITY: the undamped
// Gauss-Newton step); info's pred, dact, lambda and radius are filled. No allocation.
void sp_gn_solve(sp_gn* gn, double* d, sp_gn_info* info, double radius);

// One iteration on the trajectory tr just recorded with the policy's current theta: judge the
// previous step (rho), then either take a new step from tr (accepted), or, rejected, undo the
// previous one and take a smaller one from its subspace, or take a smaller one from tr, whichever
// predicts the lower cost. theta (sp_policy_params) is updated in
// place. info may be NULL.
int sp_gn_step(sp_gn* gn, sp_gn_info* info, sp_policy* p, const sp_model* m,
               const sp_objective* obj, const sp_trajview* tr, int segment);

// The trust-region state sp_gn_step carries from one rollout to the next, as bytes (to save with
// a policy checkpoint, so a resumed run continues exactly): the radius, the pending step (its
// start theta0, J0, predicted decrease and action change) and the subspace a rejected step is
// re-solved from (g, gm, Gm, Dm and the basis V). Layout, little-endian: "SPGNSTAT" u32 version
// (1) u64 np u32 subspace capacity u32 m u32 pending f64 radius J0 pred dact, f64 theta0 (np),
// g (np), gm (m), Gm (m x m), Dm (m x m), V (m x np). The caches along the trajectory are not
// part of it (the next step rebuilds them from its rollout).
size_t sp_gn_state_size(const sp_gn* gn);
// Write sp_gn_state_size(gn) bytes to out.
void sp_gn_state_save(const sp_gn* gn, void* out);
// Check bytes in (n) against gn without changing it: SP_EFORMAT (not Gauss-Newton state, truncated,
// non-finite), SP_EMISMATCH (another parameter count or subspace capacity), msg naming the field.
int sp_gn_state_check(const sp_gn* gn, const void* in, size_t n, char* msg, size_t msg_size);
// The length of the Gauss-Newton state at the start of in (n bytes), from its head; 0 when in does
// not start with one (a caller stores other bytes after it, e.g. a checkpoint's note).
size_t sp_gn_state_span(const void* in, size_t n);
// Check, then restore gn's trust-region state from in; gn is unchanged on an error. No allocation.
int sp_gn_state_load(sp_gn* gn, const void* in, size_t n, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_GRAD_GAUSS_NEWTON_H
