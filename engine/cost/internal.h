// internal.h: what the cost terms (engine/cost/terms/*.c) share with cost.c. A term is a class,
// as models and controllers are: one file holds its constructor (sp_cost_add_<name>, declared in
// cost.h) and its evaluation, and cost.c sums terms through the class without knowing them.
#ifndef SP_COST_INTERNAL_H
#define SP_COST_INTERNAL_H

#include "engine/cost/cost.h"

// The evaluation of one term: its unweighted value at (x, u, ref); when grad is set, it also
// ACCUMULATES w times its gradient into gx (nx), gu (nu) and gref (SP_TASK_NREF), any of which
// may be NULL. Never allocates.
typedef double (*sp_cost_eval_fn)(const sp_cost* c, const sp_cost_term* t, int grad, double w,
                                  double* gx, double* gu, double* gref, const double* x,
                                  const double* u, const double* ref);

struct sp_cost_term_class {
  const char* name;
  sp_cost_kind kind;
  sp_cost_eval_fn eval;
};

// Append a term of class cls with weight w whose arrays (m indices, m ref indices, m targets, nw
// matrix entries) share one allocation; returns its position (>= 0) and the term in *out, or a
// negative code (c unchanged).
int sp__cost_push(sp_cost* c, sp_cost_term** out, const sp_cost_term_class* cls, double w, int m,
                  int nw);
// Append a term addressing the m indices idx (each checked to lie in z = (x, u)).
int sp__cost_push_indexed(sp_cost* c, sp_cost_term** out, const sp_cost_term_class* cls, double w,
                          const int* idx, int m);
// Whether i addresses z = (x, u).
int sp__cost_valid_index(const sp_cost* c, int i);

// Element i of z = (x, u), and gradient accumulation into the block it belongs to.
static inline double sp__cost_z(const sp_cost* c, const double* x, const double* u, int i) {
  return i < c->nx ? x[i] : u[i - c->nx];
}

static inline void sp__cost_zadd(const sp_cost* c, double* gx, double* gu, int i, double g) {
  if (i < c->nx) {
    if (gx) gx[i] += g;
  } else if (gu) {
    gu[i - c->nx] += g;
  }
}

#endif  // SP_COST_INTERNAL_H
