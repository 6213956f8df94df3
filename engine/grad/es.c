// es.c: antithetic evolution strategies, a zeroth-order policy gradient (Salimans, Ho, Chen,
// Sidor, Sutskever, "Evolution Strategies as a Scalable Alternative to Reinforcement Learning",
// arXiv 1703.03864, with mirrored sampling):
//   g = (1/n) sum_i (J(theta + s d_i) - J(theta - s d_i)) / (2 s) d_i,   d_i ~ N(0, I).
// E[g] is the gradient of the smoothed objective E_d[J(theta + s d)], which equals grad J exactly
// when J is quadratic in theta and approaches it as s -> 0 for smooth J. Each pair costs two
// rollouts, supplied by the caller (any plant).
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/grad.h"

int sp_grad_es(double* g, double* J, const double* theta, size_t n, sp_grad_es_fn fn, void* user,
               double sigma, int npairs, sp_rng* rng) {
  if (!g || !theta || n < 1 || !fn || !rng || !(sigma > 0) || !isfinite(sigma) || npairs < 1)
    return SP_EINVAL;
  double* d = sp_calloc(3 * n, sizeof(double));
  if (!d) return SP_ENOMEM;
  double* th = d + n;
  double* acc = th + n;  // the estimate, added to g only when every rollout succeeded
  double Jsum = 0;
  int rc = 0;
  for (int i = 0; i < npairs && !rc; i++) {
    sp_rng_fill_normal(rng, d, n, 0, 1);
    double Jp, Jm;
    for (size_t j = 0; j < n; j++) th[j] = theta[j] + sigma * d[j];
    rc = fn(user, &Jp, th);
    if (rc) break;
    for (size_t j = 0; j < n; j++) th[j] = theta[j] - sigma * d[j];
    rc = fn(user, &Jm, th);
    if (rc) break;
    if (!isfinite(Jp) || !isfinite(Jm)) {
      rc = SP_ENUMERIC;
      break;
    }
    double w = (Jp - Jm) / (2 * sigma * npairs);
    for (size_t j = 0; j < n; j++) acc[j] += w * d[j];
    Jsum += Jp + Jm;
  }
  if (!rc)
    for (size_t j = 0; j < n; j++) g[j] += acc[j];
  sp_free(d);
  if (!rc && J) *J = Jsum / (2 * npairs);
  return rc;
}
