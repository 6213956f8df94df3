// limit.c: the limit cost term max(0, z_i - hi)^2 + max(0, lo - z_i)^2: zero inside [lo, hi],
// quadratic beyond, with a continuous gradient.
#include <math.h>

#include "engine/core/error.h"
#include "engine/cost/internal.h"

static double eval(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  (void)gref, (void)ref;
  double z = sp__cost_z(c, x, u, t->idx[0]), e = 0;
  if (z > t->hi)
    e = z - t->hi;
  else if (z < t->lo)
    e = z - t->lo;
  if (grad) sp__cost_zadd(c, gx, gu, t->idx[0], w * 2 * e);
  return e * e;
}

static const sp_cost_term_class limit = {"limit", SP_COST_LIMIT, eval};

int sp_cost_add_limit(sp_cost* c, double w, int i, double lo, double hi) {
  if (isnan(lo) || isnan(hi) || !(lo <= hi)) return SP_EINVAL;
  sp_cost_term* t;
  int j = sp__cost_push_indexed(c, &t, &limit, w, (int[]){i}, 1);
  if (j >= 0) {
    t->lo = lo;
    t->hi = hi;
  }
  return j;
}
