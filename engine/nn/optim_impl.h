// optim_impl.h: optimiser updates written once for a REAL type (included by optim.c).
//
// Expects REAL, SFX(name), SQRT and SP_OPTIM_KERNEL (attributes of the element-wise loops). scale
// is the clipping factor (1 when not clipping).

static double SFX(norm)(const REAL* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

SP_OPTIM_KERNEL static void SFX(sgd)(sp_optim* o, REAL* p, const REAL* g, REAL scale) {
  const REAL lr = (REAL)o->cfg.lr, mu = (REAL)o->cfg.momentum, wd = (REAL)o->cfg.weight_decay;
  REAL* b = o->m;
  for (size_t i = 0; i < o->n; i++) {
    REAL gi = scale * g[i] + wd * p[i];
    if (b) {
      b[i] = mu * b[i] + gi;
      gi = b[i];
    }
    p[i] -= lr * gi;
  }
}

SP_OPTIM_KERNEL static void SFX(adam)(sp_optim* o, REAL* p, const REAL* g, REAL scale) {
  const double t = (double)(o->t + 1);
  const REAL b1 = (REAL)o->cfg.beta1, b2 = (REAL)o->cfg.beta2, wd = (REAL)o->cfg.weight_decay;
  const REAL eps = (REAL)o->cfg.eps;
  // bias corrections folded into the step size and the denominator
  const REAL step = (REAL)(o->cfg.lr / (1 - pow(o->cfg.beta1, t)));
  const REAL rc2 = (REAL)(1 / sqrt(1 - pow(o->cfg.beta2, t)));
  REAL* m = o->m;
  REAL* v = o->v;
  for (size_t i = 0; i < o->n; i++) {
    REAL gi = scale * g[i] + wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] -= step * m[i] / (SQRT(v[i]) * rc2 + eps);
  }
}

// the index of the first parameter (or state entry) the step would make non-finite, or -1: the
// same arithmetic as sgd/adam above without writing anything, so a refused step changes nothing
SP_OPTIM_KERNEL static long SFX(sgd_check)(const sp_optim* o, const REAL* p, const REAL* g,
                                           REAL scale) {
  const REAL lr = (REAL)o->cfg.lr, mu = (REAL)o->cfg.momentum, wd = (REAL)o->cfg.weight_decay;
  const REAL* b = o->m;
  for (size_t i = 0; i < o->n; i++) {
    REAL gi = scale * g[i] + wd * p[i];
    if (b) gi = mu * b[i] + gi;
    if (!isfinite(gi) || !isfinite(p[i] - lr * gi)) return (long)i;
  }
  return -1;
}

SP_OPTIM_KERNEL static long SFX(adam_check)(const sp_optim* o, const REAL* p, const REAL* g,
                                            REAL scale) {
  const double t = (double)(o->t + 1);
  const REAL b1 = (REAL)o->cfg.beta1, b2 = (REAL)o->cfg.beta2, wd = (REAL)o->cfg.weight_decay;
  const REAL eps = (REAL)o->cfg.eps;
  const REAL step = (REAL)(o->cfg.lr / (1 - pow(o->cfg.beta1, t)));
  const REAL rc2 = (REAL)(1 / sqrt(1 - pow(o->cfg.beta2, t)));
  const REAL* m = o->m;
  const REAL* v = o->v;
  // a pass without an early exit first (it vectorises; almost every step is finite), then the
  // first bad index only when there is one
  int bad = 0;
  for (size_t i = 0; i < o->n; i++) {
    REAL gi = scale * g[i] + wd * p[i];
    REAL mi = b1 * m[i] + (1 - b1) * gi;
    REAL vi = b2 * v[i] + (1 - b2) * gi * gi;
    REAL pi = p[i] - step * mi / (SQRT(vi) * rc2 + eps);
    bad |= !isfinite(mi) | !isfinite(vi) | !isfinite(pi);
  }
  if (!bad) return -1;
  for (size_t i = 0; i < o->n; i++) {
    REAL gi = scale * g[i] + wd * p[i];
    REAL mi = b1 * m[i] + (1 - b1) * gi;
    REAL vi = b2 * v[i] + (1 - b2) * gi * gi;
    if (!isfinite(mi) || !isfinite(vi) || !isfinite(p[i] - step * mi / (SQRT(vi) * rc2 + eps)))
      return (long)i;
  }
  return -1;
}
