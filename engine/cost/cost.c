// cost.c: the per-step cost terms of cost.h, their exact gradients, and the weighted sum.
//
// Method 1's car cost is from Westenbroek et al., arXiv 2307.08168 (car experiment); the other
// terms are the usual tracking, path-following and regularising costs of optimal control.
#include "engine/cost/cost.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

double sp_cost_wrap_angle(double a) {
  return a - 2 * M_PI * ceil((a - M_PI) / (2 * M_PI));
}

int sp_cost_new(sp_cost** out, int nx, int nu) {
  *out = 0;
  if (nx < 1 || nu < 0) return SP_EINVAL;
  sp_cost* c = sp_calloc(1, sizeof(sp_cost));
  if (!c) return SP_ENOMEM;
  c->nx = nx;
  c->nu = nu;
  *out = c;
  return 0;
}

void sp_cost_free(sp_cost* c) {
  if (!c) return;
  for (int j = 0; j < c->n; j++) sp_free(c->terms[j].target);
  sp_free(c->terms);
  sp_free(c);
}

static int valid_index(const sp_cost* c, int i) {
  return i >= 0 && i < c->nx + c->nu;
}

// append a term whose arrays (m indices, m ref indices, m targets, nw matrix entries) share one
// allocation; returns the new term's position or a negative code
static int push(sp_cost* c, sp_cost_term** out, sp_cost_kind kind, double w, int m, int nw) {
  if (!isfinite(w)) return SP_EINVAL;
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 4;
    sp_cost_term* t = sp_realloc(c->terms, sizeof(sp_cost_term) * (size_t)cap);
    if (!t) return SP_ENOMEM;
    c->terms = t;
    c->cap = cap;
  }
  size_t bytes = sizeof(double) * (size_t)(m + nw) + sizeof(int) * 2 * (size_t)m;
  char* mem = sp_calloc(1, bytes ? bytes : 1);
  if (!mem) return SP_ENOMEM;
  sp_cost_term* t = &c->terms[c->n];
  memset(t, 0, sizeof(*t));
  t->kind = kind;
  t->weight = w;
  t->m = m;
  // doubles first so they stay aligned; target is the start of the block (freed through it)
  t->target = (double*)mem;
  t->W = t->target + m;
  t->idx = (int*)(t->W + nw);
  t->ref_idx = t->idx + m;
  if (m == 0) t->idx = t->ref_idx = 0;
  *out = t;
  return c->n++;
}

int sp_cost_add_quadratic(sp_cost* c, double w, const int* idx, const int* ref_idx,
                          const double* target, const double* W, int m) {
  if (m < 1 || !idx || !W) return SP_EINVAL;
  for (int k = 0; k < m; k++) {
    if (!valid_index(c, idx[k])) return SP_EINVAL;
    if (ref_idx && ref_idx[k] >= SP_TASK_NREF) return SP_EINVAL;
    if (target && !isfinite(target[k])) return SP_EINVAL;
  }
  for (int k = 0; k < m * m; k++)
    if (!isfinite(W[k])) return SP_EINVAL;
  sp_cost_term* t;
  int j = push(c, &t, SP_COST_QUADRATIC, w, m, m * m);
  if (j < 0) return j;
  for (int k = 0; k < m; k++) {
    t->idx[k] = idx[k];
    t->ref_idx[k] = ref_idx ? ref_idx[k] : -1;
    t->target[k] = target ? target[k] : 0;
  }
  memcpy(t->W, W, sizeof(double) * (size_t)(m * m));
  return j;
}

static int add_indexed(sp_cost* c, sp_cost_kind kind, double w, const int* idx, int m,
                       sp_cost_term** t) {
  for (int k = 0; k < m; k++)
    if (!valid_index(c, idx[k])) return SP_EINVAL;
  int j = push(c, t, kind, w, m, 0);
  if (j < 0) return j;
  memcpy((*t)->idx, idx, sizeof(int) * (size_t)m);
  return j;
}

int sp_cost_add_radial(sp_cost* c, double w, int ix, int iy) {
  sp_cost_term* t;
  return add_indexed(c, SP_COST_RADIAL, w, (int[]){ix, iy}, 2, &t);
}

int sp_cost_add_heading(sp_cost* c, double w, int iphi, int ix, int iy, sp_cost_heading_mode mode) {
  if (mode != SP_COST_HEADING_CIRCLE && mode != SP_COST_HEADING_REF) return SP_EINVAL;
  sp_cost_term* t;
  int j = mode == SP_COST_HEADING_CIRCLE
              ? add_indexed(c, SP_COST_HEADING, w, (int[]){iphi, ix, iy}, 3, &t)
              : add_indexed(c, SP_COST_HEADING, w, (int[]){iphi}, 1, &t);
  if (j >= 0) t->mode = mode;
  return j;
}

int sp_cost_add_speed(sp_cost* c, double w, int iv, double v_ref) {
  if (isinf(v_ref)) return SP_EINVAL;
  sp_cost_term* t;
  int j = add_indexed(c, SP_COST_SPEED, w, (int[]){iv}, 1, &t);
  if (j >= 0) t->v_ref = v_ref;
  return j;
}

int sp_cost_add_action(sp_cost* c, double w, const double* R) {
  int nu = c->nu;
  if (nu < 1) return SP_EINVAL;
  if (R)
    for (int k = 0; k < nu * nu; k++)
      if (!isfinite(R[k])) return SP_EINVAL;
  sp_cost_term* t;
  int j = push(c, &t, SP_COST_ACTION, w, 0, nu * nu);
  if (j < 0) return j;
  for (int k = 0; k < nu * nu; k++) t->W[k] = R ? R[k] : (k % (nu + 1) == 0);
  return j;
}

int sp_cost_add_limit(sp_cost* c, double w, int i, double lo, double hi) {
  if (isnan(lo) || isnan(hi) || !(lo <= hi)) return SP_EINVAL;
  sp_cost_term* t;
  int j = add_indexed(c, SP_COST_LIMIT, w, (int[]){i}, 1, &t);
  if (j >= 0) {
    t->lo = lo;
    t->hi = hi;
  }
  return j;
}

int sp_cost_new_car(sp_cost** out, int nx, int nu, int ix, int iy, int iv, int iphi) {
  sp_cost* c;
  int rc = sp_cost_new(&c, nx, nu);
  if (rc) return rc;
  if ((rc = sp_cost_add_radial(c, 1.0, ix, iy)) < 0 ||
      (rc = sp_cost_add_speed(c, 1.0 / 30.0, iv, NAN)) < 0 ||
      (rc = sp_cost_add_heading(c, 10.0 / 30.0, iphi, ix, iy, SP_COST_HEADING_CIRCLE)) < 0) {
    sp_cost_free(c);
    *out = 0;
    return rc;
  }
  *out = c;
  return 0;
}

// element i of z = (x, u), and gradient accumulation into the matching block
static double zget(const sp_cost* c, const double* x, const double* u, int i) {
  return i < c->nx ? x[i] : u[i - c->nx];
}

static void zadd(const sp_cost* c, double* gx, double* gu, int i, double g) {
  if (i < c->nx) {
    if (gx) gx[i] += g;
  } else if (gu) {
    gu[i - c->nx] += g;
  }
}

// unweighted value of term t; when grad is set, adds w * gradient into gx, gu, gref
static double term(const sp_cost* c, const sp_cost_term* t, int grad, double w, double* gx,
                   double* gu, double* gref, const double* x, const double* u, const double* ref) {
  switch (t->kind) {
    case SP_COST_QUADRATIC: {
      int m = t->m;
      double v = 0;
      for (int k = 0; k < m; k++) {
        double ek =
            zget(c, x, u, t->idx[k]) - (t->ref_idx[k] >= 0 ? ref[t->ref_idx[k]] : t->target[k]);
        double gk = 0;
        for (int l = 0; l < m; l++) {
          double el =
              zget(c, x, u, t->idx[l]) - (t->ref_idx[l] >= 0 ? ref[t->ref_idx[l]] : t->target[l]);
          v += ek * t->W[k * m + l] * el;
          gk += (t->W[k * m + l] + t->W[l * m + k]) * el;
        }
        if (grad) {
          zadd(c, gx, gu, t->idx[k], w * gk);
          if (gref && t->ref_idx[k] >= 0) gref[t->ref_idx[k]] -= w * gk;
        }
      }
      return v;
    }
    case SP_COST_RADIAL: {
      double dx = zget(c, x, u, t->idx[0]) - ref[SP_TASK_CX];
      double dy = zget(c, x, u, t->idx[1]) - ref[SP_TASK_CY];
      double rho = hypot(dx, dy), e = rho - ref[SP_TASK_RADIUS];
      if (grad) {
        double gx_ = rho > 0 ? 2 * e * dx / rho : 0, gy_ = rho > 0 ? 2 * e * dy / rho : 0;
        zadd(c, gx, gu, t->idx[0], w * gx_);
        zadd(c, gx, gu, t->idx[1], w * gy_);
        if (gref) {
          gref[SP_TASK_CX] -= w * gx_;
          gref[SP_TASK_CY] -= w * gy_;
          gref[SP_TASK_RADIUS] -= w * 2 * e;
        }
      }
      return e * e;
    }
    case SP_COST_HEADING: {
      double phi = zget(c, x, u, t->idx[0]), des, dx = 0, dy = 0, r2 = 0;
      if (t->mode == SP_COST_HEADING_CIRCLE) {
        dx = zget(c, x, u, t->idx[1]) - ref[SP_TASK_CX];
        dy = zget(c, x, u, t->idx[2]) - ref[SP_TASK_CY];
        r2 = dx * dx + dy * dy;
        des = atan2(dy, dx) + ref[SP_TASK_DIR] * 0.5 * M_PI;
      } else {
        r2 = ref[SP_TASK_XD] * ref[SP_TASK_XD] + ref[SP_TASK_YD] * ref[SP_TASK_YD];
        des = atan2(ref[SP_TASK_YD], ref[SP_TASK_XD]);
      }
      double e = sp_cost_wrap_angle(phi - des);
      if (grad) {
        zadd(c, gx, gu, t->idx[0], w * 2 * e);
        if (r2 > 0) {
          if (t->mode == SP_COST_HEADING_CIRCLE) {
            // d atan2(dy, dx) = (-dy, dx) / r2, entering with a minus sign
            double gpx = w * 2 * e * dy / r2, gpy = -w * 2 * e * dx / r2;
            zadd(c, gx, gu, t->idx[1], gpx);
            zadd(c, gx, gu, t->idx[2], gpy);
            if (gref) {
              gref[SP_TASK_CX] -= gpx;
              gref[SP_TASK_CY] -= gpy;
            }
          } else if (gref) {
            gref[SP_TASK_XD] += w * 2 * e * ref[SP_TASK_YD] / r2;
            gref[SP_TASK_YD] -= w * 2 * e * ref[SP_TASK_XD] / r2;
          }
        }
      }
      return e * e;
    }
    case SP_COST_SPEED: {
      double vr = t->v_ref;
      int from_ref = isnan(vr);
      if (from_ref) vr = hypot(ref[SP_TASK_XD], ref[SP_TASK_YD]);
      double e = zget(c, x, u, t->idx[0]) - vr;
      if (grad) {
        zadd(c, gx, gu, t->idx[0], w * 2 * e);
        if (gref && from_ref && vr > 0) {
          gref[SP_TASK_XD] -= w * 2 * e * ref[SP_TASK_XD] / vr;
          gref[SP_TASK_YD] -= w * 2 * e * ref[SP_TASK_YD] / vr;
        }
      }
      return e * e;
    }
    case SP_COST_ACTION: {
      int nu = c->nu;
      double v = 0;
      for (int k = 0; k < nu; k++) {
        double gk = 0;
        for (int l = 0; l < nu; l++) {
          v += u[k] * t->W[k * nu + l] * u[l];
          gk += (t->W[k * nu + l] + t->W[l * nu + k]) * u[l];
        }
        if (grad && gu) gu[k] += w * gk;
      }
      return v;
    }
    case SP_COST_LIMIT: {
      double z = zget(c, x, u, t->idx[0]), e = 0;
      if (z > t->hi)
        e = z - t->hi;
      else if (z < t->lo)
        e = z - t->lo;
      if (grad) zadd(c, gx, gu, t->idx[0], w * 2 * e);
      return e * e;
    }
  }
  return 0;
}

double sp_cost_value(const sp_cost* c, const double* x, const double* u, const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++)
    v += c->terms[j].weight * term(c, &c->terms[j], 0, 0, 0, 0, 0, x, u, ref);
  return v;
}

double sp_cost_terms(const sp_cost* c, double* vals, const double* x, const double* u,
                     const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++) {
    vals[j] = c->terms[j].weight * term(c, &c->terms[j], 0, 0, 0, 0, 0, x, u, ref);
    v += vals[j];
  }
  return v;
}

double sp_cost_grad(const sp_cost* c, double* gx, double* gu, double* gref, const double* x,
                    const double* u, const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++) {
    const sp_cost_term* t = &c->terms[j];
    v += t->weight * term(c, t, 1, t->weight, gx, gu, gref, x, u, ref);
  }
  return v;
}
