// feedback.c: method 1's gradient estimator (Westenbroek, Levy, Fridovich-Keil, "Feedback is All
// You Need", arXiv 2307.08168; METHODS.md, method 1).
//
// The recorded trajectory (x[k], u[k]) comes from the real system; only the derivatives come
// from the approximate model, evaluated at the recorded points. Reverse (adjoint) form:
//   lam[T] = grad_x c_T(x[T])
//   for k = T-1 .. 0:
//     mu[k]  = grad_u c[k] + B[k]^T lam[k+1]
//     lam[k] = grad_x c[k] + A[k]^T lam[k+1] + Px[k]^T mu[k]
//     g     += Pt[k]^T mu[k]
// A[k]^T lam and B[k]^T lam are one sp_model_step_vjp; Px^T mu and Pt^T mu one sp_policy_vjp,
// so a gradient costs O(T) vector-Jacobian products and no dense Jacobian. With segment N > 0,
// each segment starts from the recorded state (the reference implementation re-plans there): at
// k = N, 2N, ... the state's own cost still counts (it is where the previous segment ended), but
// nothing downstream flows back through it: lam[k] = grad_x c[k].
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp__grad_adjoint(double* g, double* J, const sp_policy* p, sp_policy_data* pd,
                     const sp_model* m, sp_model_data* md, const sp_objective* obj,
                     const sp_trajview* tr, int segment, double* work) {
  int nx = tr->nx, nu = tr->nu, T = tr->T;
  size_t np = p->nparams;
  double* lam = work;                 // (nx) lam[k+1]
  double* lam_k = lam + nx;           // (nx) lam[k]
  double* cx = lam_k + nx;            // (nx) the step's own cost gradient
  double* mu = cx + nx;               // (nu)
  double* tmp = mu + nu;              // (nx + nu) cost-function scratch
  double* ref = tmp + nx + nu;        // (SP_TASK_NREF)
  double* gacc = ref + SP_TASK_NREF;  // (np) this trajectory's gradient
  memset(gacc, 0, sizeof(double) * np);
  double sum, c;
  int rc = sp__objective_step(obj, &sum, lam, NULL, ref, tmp, tr->X + (size_t)T * nx, NULL,
                              tr->t[T], T, T, nx, nu);
  for (int k = T - 1; k >= 0 && !rc; k--) {
    const double* x = tr->X + (size_t)k * nx;
    const double* u = tr->U + (size_t)k * nu;
    // the step's cost gradients start lam[k] and mu[k]; the model adds A^T lam, B^T lam
    rc = sp__objective_step(obj, &c, lam_k, mu, ref, tmp, x, u, tr->t[k], k, T, nx, nu);
    sum += c;
    int cut = segment > 0 && k > 0 && k % segment == 0;
    if (cut) memcpy(cx, lam_k, sizeof(double) * nx);
    sp_model_step_vjp(m, md, lam_k, mu, NULL, x, u, lam);
    // the policy adds Px^T mu to lam[k] and Pt^T mu to the gradient
    sp_policy_vjp(p, pd, lam_k, gacc, x, tr->t[k], mu);
    // at a segment start only the state's own cost flows back into the previous segment
    if (cut) memcpy(lam_k, cx, sizeof(double) * nx);
    double* s = lam;
    lam = lam_k, lam_k = s;
  }
  if (rc) return rc;
  for (size_t j = 0; j < np; j++) g[j] += gacc[j];
  *J = sum;
  return 0;
}

// shared argument checks of the trajectory estimators
int sp__grad_check(const sp_policy* p, const sp_model* m, const sp_objective* obj,
                   const sp_trajview* tr);
int sp__grad_check(const sp_policy* p, const sp_model* m, const sp_objective* obj,
                   const sp_trajview* tr) {
  if (!p || !obj || !tr || !tr->X || !tr->U || !tr->t || tr->T < 1) return SP_EINVAL;
  if (tr->nx != p->nx || tr->nu != p->nu) return SP_ESHAPE;
  if (m && (m->nx != p->nx || m->nu != p->nu)) return SP_ESHAPE;
  return sp_objective_check(obj, p->nx, p->nu);
}

int sp_grad_feedback(double* g, double* J, const sp_policy* p, const sp_model* m,
                     const sp_objective* obj, const sp_trajview* tr, int segment) {
  if (!g || !m) return SP_EINVAL;
  int rc = sp__grad_check(p, m, obj, tr);
  if (rc) return rc;
  double* work = sp_malloc(sizeof(double) * SP_GRAD_ADJOINT_WORK(p->nx, p->nu, p->nparams));
  sp_policy_data* pd = NULL;
  sp_model_data* md = NULL;
  if (!work || sp_policy_data_new(&pd, p) || sp_model_data_new(&md, m)) rc = SP_ENOMEM;
  double v = 0;
  if (!rc) rc = sp__grad_adjoint(g, &v, p, pd, m, md, obj, tr, segment, work);
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  sp_free(work);
  if (!rc && J) *J = v;
  return rc;
}
