// rollout.h: the trajectory view the gradient estimators consume, and a rollout of a policy on an
// engine model (the stand-in plant of tests, and model_bptt's imagined rollout).
//
// A trajectory of T steps is plain row-major arrays, from any plant (simulation, the HAL's loop,
// a replayed log):
//   X (T+1 x nx)  states x[0..T]          U (T x nu)  actions u[0..T-1] actually applied
//   t (T+1)       times in seconds of each state (the policy's time argument)
// sp_trajview only points at them; whoever recorded them owns them (sp_trajview_new gives owned
// storage when the caller has none). The HAL's recorded sp_traj (hal/loop.h) has this layout:
// sp_trajview_of(tr.x, tr.u, tr.t, tr.n, tr.nx, tr.nu) views it without a copy.
#ifndef SP_POLICY_ROLLOUT_H
#define SP_POLICY_ROLLOUT_H

#include "engine/core/export.h"
#include "engine/model/model.h"
#include "engine/policy/policy.h"

SP_API_BEGIN

typedef struct sp_trajview {
  int T;  // steps (>= 1)
  int nx, nu;
  double* X;  // ((T+1) x nx)
  double* U;  // (T x nu)
  double* t;  // (T+1)
  void* own;  // non-NULL when made by sp_trajview_new (one allocation holding X, U, t)
} sp_trajview;

// A view of caller-owned arrays (no allocation, nothing checked beyond NULL pointers).
sp_trajview sp_trajview_of(double* X, double* U, double* t, int T, int nx, int nu);

// Owned zero-filled storage for T steps. SP_EINVAL for T < 1, nx < 1, nu < 1; SP_ENOMEM.
int sp_trajview_new(sp_trajview* tr, int T, int nx, int nu);
// Release storage made by sp_trajview_new; views are left alone.
void sp_trajview_free(sp_trajview* tr);

// Roll the policy out on model m for tr->T steps from x0 (nx) at time t0: t[k] = t0 + k m->dt,
// u[k] = act (explore = 0) or sample (explore = 1) at (x[k], t[k]), x[k+1] = step(x[k], u[k]).
// tr must have the policy's and model's sizes (SP_ESHAPE otherwise). SP_ENUMERIC when a state or
// action stops being finite (the rollout stops there; later rows are left as they were).
// pd is a workspace of p (its rng gives the exploration noise), md one of m: p and m are only
// read, so several threads may roll out one policy on one model at once, each with its own
// workspaces and trajectory. Does not allocate.
int sp_policy_rollout(sp_trajview* tr, const sp_policy* p, sp_policy_data* pd, const sp_model* m,
                      sp_model_data* md, const double* x0, double t0, int explore);

SP_API_END

#endif  // SP_POLICY_ROLLOUT_H
