// workspace.h: workspaces for tests that evaluate models and controllers on one thread, one
// description at a time. A workspace depends only on the sizes it was made for, so these keep one
// per size signature, made on first use and kept for the process. Tests about the workspaces
// themselves (no allocation, several threads) make theirs explicitly.
#ifndef SP_TEST_WORKSPACE_H
#define SP_TEST_WORKSPACE_H

#include <stdlib.h>

#include "engine/ctrl/ctrl.h"
#include "engine/model/model.h"
#include "engine/policy/policy.h"

#define TEST_WS_MAX 64

static inline sp_model_data* model_ws(const sp_model* m) {
  static sp_model_data* pool[TEST_WS_MAX];
  for (int i = 0; i < TEST_WS_MAX; i++) {
    sp_model_data* d = pool[i];
    if (!d) {
      if (sp_model_data_new(&pool[i], m)) abort();
      return pool[i];
    }
    if (d->nx == m->nx && d->nu == m->nu && d->np == m->np) return d;
  }
  abort();
}

static inline sp_ctrl_data* ctrl_ws(const sp_ctrl* c) {
  static sp_ctrl_data* pool[TEST_WS_MAX];
  for (int i = 0; i < TEST_WS_MAX; i++) {
    sp_ctrl_data* d = pool[i];
    if (!d) {
      if (sp_ctrl_data_new(&pool[i], c)) abort();
      return pool[i];
    }
    if (d->nx == c->nx && d->nu == c->nu && d->nr == c->nr && d->nk == c->nk &&
        d->nwork == c->nwork)
      return d;
  }
  abort();
}

// a policy's workspace depends on the policy itself: one per policy, dropped when the policy is
// freed through policy_free (so a later policy at the same address gets its own)
typedef struct {
  const sp_policy* p;
  sp_policy_data* d;
} test_policy_ws;
static test_policy_ws test_policy_pool[TEST_WS_MAX];

static inline sp_policy_data* policy_ws(const sp_policy* p) {
  for (int i = 0; i < TEST_WS_MAX; i++)
    if (test_policy_pool[i].p == p && p) return test_policy_pool[i].d;
  for (int i = 0; i < TEST_WS_MAX; i++)
    if (!test_policy_pool[i].p) {
      if (sp_policy_data_new(&test_policy_pool[i].d, p)) abort();
      test_policy_pool[i].p = p;
      return test_policy_pool[i].d;
    }
  abort();
}

static inline void policy_free(sp_policy* p) {
  for (int i = 0; i < TEST_WS_MAX; i++)
    if (test_policy_pool[i].p == p && p) {
      sp_policy_data_free(test_policy_pool[i].d);
      test_policy_pool[i].p = NULL;
      test_policy_pool[i].d = NULL;
    }
  sp_policy_free(p);
}

// the noise level sigma on the policy and its workspace's rng seeded from (seed, stream 0)
static inline int set_noise(sp_policy* p, const double* sigma, uint64_t seed) {
  int rc = sp_policy_set_noise(p, sigma);
  if (!rc) sp_policy_data_seed(policy_ws(p), seed, 0);
  return rc;
}

#endif  // SP_TEST_WORKSPACE_H
