// loop_ctrl.h: a controller (engine/ctrl) as the control loop's policy, for any controller class.
//
// The loop's parameter vector is the controller's gains then its reference, p = (K (nk), r (nr)),
// so sp_loop_set_params changes either between two ticks. The act function runs the controller
// description, shared and read-only, with a workspace of its own (sp_ctrl_data): the loop never
// copies the controller, and the same controller may be evaluated elsewhere (from Lua, another
// loop) at the same time. Gains and reference entries are addressed by the names the controller's
// class gives them (sp_ctrl_gain_index), so a new class needs no code here or in a binding.
#ifndef SP_HAL_LOOP_CTRL_H
#define SP_HAL_LOOP_CTRL_H

#include "engine/core/export.h"
#include "engine/ctrl/ctrl.h"
#include "hal/loop.h"

SP_API_BEGIN

typedef struct sp_loop_ctrl {
  const sp_ctrl* ctrl;  // the controller (borrowed: it must outlive the loop)
  sp_ctrl_data* data;   // the loop's workspace (owned)
  const sp_loop* loop;  // the loop whose parameters act reads; set after sp_loop_new
} sp_loop_ctrl;

// Make the workspace for controller c (SP_EINVAL, SP_ENOMEM); s->loop is NULL until the caller
// sets it to the loop created with act = sp_loop_ctrl_act, user = s.
int sp_loop_ctrl_init(sp_loop_ctrl* s, const sp_ctrl* c);
void sp_loop_ctrl_release(sp_loop_ctrl* s);  // frees the workspace; a zeroed s is a no-op

// The loop's act function (sp_act_fn), user = an sp_loop_ctrl: u = kappa(x, r, K) with (K, r)
// the loop's current parameters. Returns 0, or 1 when the controller refuses the call (a
// non-finite action is left to the safety filter's NaN guard). Does not allocate.
int sp_loop_ctrl_act(void* user, double* u, const double* x, double t, long k);

// Write the gain block named name into params (nk + nr: K then r): n values, or one value for
// every entry of a per-state or per-action block. SP_ENOTFOUND for a name the class does not
// have, SP_ESHAPE when n fits neither (*count, may be NULL, is the block's length then),
// SP_EINVAL for a non-finite value (params is unchanged on error).
int sp_loop_ctrl_set_gain(const sp_ctrl* c, double* params, const char* name, const double* v,
                          int n, int* count);

SP_API_END

#endif  // SP_HAL_LOOP_CTRL_H
