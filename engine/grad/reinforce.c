// reinforce.c: the likelihood-ratio (REINFORCE) policy gradient with Gaussian exploration
// (Williams 1992, eq. 11; with the causality "cost-to-go" form and a baseline as in Sutton and
// Barto, Reinforcement Learning, 2nd ed., section 13.4), the model-free baseline of method 1:
//   grad E[J] = E[ sum_k grad_theta log pi(u_k | x_k, t_k) (C_k - b_k) ],
//   C_k = sum_{j >= k} c_j + c_T   (cost-to-go, objective weights included).
// The baseline b_k of trajectory i is the mean cost-to-go at step k of the other trajectories in
// the batch (leave-one-out), independent of trajectory i's actions, so the estimate stays
// unbiased. No model is used.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp__grad_check(const sp_policy* p, const sp_model* m, const sp_objective* obj,
                   const sp_trajview* tr);

int sp_grad_reinforce(double* g, double* J, const sp_policy* p, const sp_objective* obj,
                      const sp_trajview* trs, int n) {
  if (!g || !trs || n < 1) return SP_EINVAL;
  for (int i = 0; i < n; i++) {
    int rc = sp__grad_check(p, NULL, obj, &trs[i]);
    if (rc) return rc;
    if (trs[i].T != trs[0].T) return SP_ESHAPE;
  }
  int any = 0;
  for (int i = 0; i < p->nu; i++) any |= p->sigma[i] > 0;
  if (!any) return SP_ESTATE;
  int T = trs[0].T, nx = p->nx, nu = p->nu;

  // cost-to-go C (n x (T+1)) and its column sums
  size_t np = p->nparams;
  double* C = sp_calloc((size_t)n * (T + 1) + (T + 1) + nx + nu + np, sizeof(double));
  sp_policy_data* pd = NULL;
  if (!C || sp_policy_data_new(&pd, p)) {
    sp_free(C);
    return SP_ENOMEM;
  }
  double* sum = C + (size_t)n * (T + 1);
  double* tmp = sum + (T + 1);
  double* gacc = tmp + nx + nu;  // (np) added to g only when every cost evaluated
  double ref[SP_TASK_NREF], Jsum = 0;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const sp_trajview* tr = &trs[i];
    double* Ci = C + (size_t)i * (T + 1);
    double acc = 0, c;
    for (int k = T; k >= 0 && !rc; k--) {
      rc = sp__objective_step(obj, &c, NULL, NULL, ref, tmp, tr->X + (size_t)k * nx,
                              k < T ? tr->U + (size_t)k * nu : NULL, tr->t[k], k, T, nx, nu);
      acc += c;
      Ci[k] = acc;
      sum[k] += acc;
    }
    Jsum += Ci[0];
  }
  if (rc) {
    sp_policy_data_free(pd);
    sp_free(C);
    return rc;
  }

  // score-function terms weighted by the advantage over the baseline
  for (int i = 0; i < n; i++) {
    const sp_trajview* tr = &trs[i];
    const double* Ci = C + (size_t)i * (T + 1);
    for (int k = 0; k < T; k++) {
      double b = n > 1 ? (sum[k] - Ci[k]) / (n - 1) : 0;
      sp_policy_logp_vjp(p, pd, NULL, gacc, tr->X + (size_t)k * nx, tr->t[k],
                         tr->U + (size_t)k * nu, (Ci[k] - b) / n);
    }
  }
  for (size_t j = 0; j < np; j++) g[j] += gacc[j];
  sp_policy_data_free(pd);
  sp_free(C);
  if (J) *J = Jsum / n;
  return 0;
}
