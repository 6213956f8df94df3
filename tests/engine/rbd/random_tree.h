// random_tree.h: random kinematic trees for the rbd tests (every joint type, random placements,
// anchors, axes, masses and inertias), random states, and small comparison helpers.
#ifndef SP_TEST_RANDOM_TREE_H
#define SP_TEST_RANDOM_TREE_H

#include <math.h>
#include <stdio.h>

#include "engine/core/rng.h"
#include "engine/rbd/rbd.h"
#include "engine/rbd/spatial.h"

static inline double rt_u(sp_rng* r, double lo, double hi) {
  return lo + (hi - lo) * sp_rng_uniform(r);
}

static inline void rt_unit(sp_rng* r, double* a) {
  double n;
  do {
    for (int k = 0; k < 3; k++) a[k] = sp_rng_normal(r);
    n = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  } while (n < 1e-3);
  for (int k = 0; k < 3; k++) a[k] /= n;
}

// a tree of n links: link 0 free (if free_base) or revolute, the rest revolute, prismatic, ball
// or fixed under a random earlier link; damping and armature when passive is 0
static inline sp_rbd* rt_tree(uint64_t seed, int n, int free_base, int passive) {
  sp_rng r;
  sp_rng_seed(&r, seed, 7);
  sp_rbd* t;
  if (sp_rbd_new(&t)) return NULL;
  t->gravity[0] = rt_u(&r, -1, 1);
  t->gravity[2] = -9.81;
  int idx[64];
  for (int i = 0; i < n; i++) {
    sp_rbd_link l;
    char name[16];
    snprintf(name, sizeof name, "l%d", i);
    int parent = i == 0 ? -1 : idx[sp_rng_below(&r, (uint64_t)i)];
    sp_rbd_joint j = SP_RBD_REVOLUTE;
    if (i == 0 && free_base) j = SP_RBD_FREE;
    if (i > 0) {
      int c = (int)sp_rng_below(&r, 10);
      j = c < 5 ? SP_RBD_REVOLUTE : c < 7 ? SP_RBD_PRISMATIC : c < 9 ? SP_RBD_BALL : SP_RBD_FIXED;
    }
    sp_rbd_link_init(&l, name, parent, j);
    for (int k = 0; k < 3; k++) {
      l.pos[k] = rt_u(&r, -0.5, 0.5);
      l.anchor[k] = rt_u(&r, -0.2, 0.2);
      l.com[k] = rt_u(&r, -0.3, 0.3);
    }
    double ax[3], ang = rt_u(&r, -2, 2);
    rt_unit(&r, ax);
    sp_m3_axis_angle(l.rot, ax, ang);
    rt_unit(&r, l.axis);
    l.ref = rt_u(&r, -0.3, 0.3);
    l.mass = rt_u(&r, 0.5, 3);
    // inertia R diag R^T with a random rotation
    double d[3] = {rt_u(&r, 0.02, 0.2), rt_u(&r, 0.02, 0.2), 0}, R[9];
    d[2] = rt_u(&r, fabs(d[0] - d[1]) + 0.01, d[0] + d[1]);
    rt_unit(&r, ax);
    sp_m3_axis_angle(R, ax, rt_u(&r, -3, 3));
    double I[9];
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++)
        I[3 * a + b] = R[3 * a] * d[0] * R[3 * b] + R[3 * a + 1] * d[1] * R[3 * b + 1] +
                       R[3 * a + 2] * d[2] * R[3 * b + 2];
    l.inertia[0] = I[0], l.inertia[1] = I[4], l.inertia[2] = I[8];
    l.inertia[3] = I[1], l.inertia[4] = I[2], l.inertia[5] = I[5];
    if (!passive) l.damping = rt_u(&r, 0, 0.5), l.armature = rt_u(&r, 0, 0.1);
    if (!passive && (j == SP_RBD_REVOLUTE || j == SP_RBD_PRISMATIC))
      l.stiffness = rt_u(&r, 0, 2), l.springref = rt_u(&r, -0.5, 0.5);
    l.actuated = j == SP_RBD_REVOLUTE || j == SP_RBD_PRISMATIC;
    l.gear = rt_u(&r, 0.5, 2);
    if (sp_rbd_add(t, &l, &idx[i], NULL, 0)) return NULL;
  }
  if (sp_rbd_finalize(t, NULL, 0)) return NULL;
  return t;
}

// a random state: q on the manifold, v and a normal
static inline void rt_state(const sp_rbd* t, sp_rng* r, double* q, double* v, double* a) {
  sp_rbd_neutral(t, q);
  double w[64];
  for (int k = 0; k < t->nv; k++) w[k] = sp_rng_normal(r);
  sp_rbd_integrate(t, q, q, w, 1.0);
  for (int k = 0; k < t->nv; k++) {
    if (v) v[k] = sp_rng_normal(r);
    if (a) a[k] = sp_rng_normal(r);
  }
}

// max |a - b| / (1 + max |b|)
static inline double rt_err(const double* a, const double* b, int n) {
  double e = 0, s = 0;
  for (int i = 0; i < n; i++) {
    e = fmax(e, fabs(a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return e / (1 + s);
}

#endif  // SP_TEST_RANDOM_TREE_H
