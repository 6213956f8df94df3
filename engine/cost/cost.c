// cost.c: the weighted sum of cost terms (cost.h). Each term is a class with its own file under
// engine/cost/terms/ (constructor and evaluation); this file owns the term list and sums the
// terms through their classes.
//
// Method 1's car cost is from Westenbroek et al., arXiv 2307.08168 (car experiment); the other
// terms are the usual tracking, path-following and regularising costs of optimal control.
#include "engine/cost/cost.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/cost/internal.h"

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

int sp__cost_valid_index(const sp_cost* c, int i) {
  return i >= 0 && i < c->nx + c->nu;
}

int sp__cost_push(sp_cost* c, sp_cost_term** out, const sp_cost_term_class* cls, double w, int m,
                  int nw) {
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
  t->cls = cls;
  t->kind = cls->kind;
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

int sp__cost_push_indexed(sp_cost* c, sp_cost_term** out, const sp_cost_term_class* cls, double w,
                          const int* idx, int m) {
  for (int k = 0; k < m; k++)
    if (!sp__cost_valid_index(c, idx[k])) return SP_EINVAL;
  int j = sp__cost_push(c, out, cls, w, m, 0);
  if (j < 0) return j;
  memcpy((*out)->idx, idx, sizeof(int) * (size_t)m);
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

double sp_cost_value(const sp_cost* c, const double* x, const double* u, const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++)
    v += c->terms[j].weight * c->terms[j].cls->eval(c, &c->terms[j], 0, 0, 0, 0, 0, x, u, ref);
  return v;
}

double sp_cost_terms(const sp_cost* c, double* vals, const double* x, const double* u,
                     const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++) {
    vals[j] = c->terms[j].weight * c->terms[j].cls->eval(c, &c->terms[j], 0, 0, 0, 0, 0, x, u, ref);
    v += vals[j];
  }
  return v;
}

double sp_cost_grad(const sp_cost* c, double* gx, double* gu, double* gref, const double* x,
                    const double* u, const double* ref) {
  double v = 0;
  for (int j = 0; j < c->n; j++) {
    const sp_cost_term* t = &c->terms[j];
    v += t->weight * t->cls->eval(c, t, 1, t->weight, gx, gu, gref, x, u, ref);
  }
  return v;
}
