// model_bptt.c: backpropagation through time on the MODEL's own rollout, the "hallucinated
// experience" baseline method 1 positions itself against (arXiv 2307.08168, section 2;
// METHODS.md). Only x[0] and t[0] of the recorded trajectory are used: the policy is rolled out
// on the model for T steps and the adjoint of feedback.c runs along that imagined trajectory, so
// the gradient is exact for the model and biased for the plant by the model's errors. With a
// perfect model the imagined trajectory is the recorded one and the two estimators agree.
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp__grad_check(const sp_policy* p, const sp_model* m, const sp_objective* obj,
                   const sp_trajview* tr);

int sp_grad_model_bptt(double* g, double* J, const sp_policy* p, const sp_model* m,
                       const sp_objective* obj, const sp_trajview* tr) {
  if (!g || !m) return SP_EINVAL;
  int rc = sp__grad_check(p, m, obj, tr);
  if (rc) return rc;
  sp_trajview im;
  rc = sp_trajview_new(&im, tr->T, tr->nx, tr->nu);
  if (rc) return rc;
  double* work = sp_malloc(sizeof(double) * SP_GRAD_ADJOINT_WORK(p->nx, p->nu, p->nparams));
  sp_policy_data* pd = NULL;
  sp_model_data* md = NULL;
  if (!work || sp_policy_data_new(&pd, p) || sp_model_data_new(&md, m)) rc = SP_ENOMEM;
  if (!rc) rc = sp_policy_rollout(&im, p, pd, m, md, tr->X, tr->t[0], 0);
  double v = 0;
  if (!rc) rc = sp__grad_adjoint(g, &v, p, pd, m, md, obj, &im, 0, work);
  if (!rc && J) *J = v;
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  sp_free(work);
  sp_trajview_free(&im);
  return rc;
}
