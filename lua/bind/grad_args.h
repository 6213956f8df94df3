// grad_args.h: the gradient estimators' option and trajectory readers (grad.c), shared with the
// Gauss-Newton binding (gn.c) so both read costs, tasks, skip, scale, segment and trajectories
// with the same rules and messages.
#ifndef SP_BIND_GRAD_ARGS_H
#define SP_BIND_GRAD_ARGS_H

#include "bind.h"
#include "engine/grad/grad.h"

// Read the options table at arg into obj (and *segment when not NULL). Pushes one value (the
// state of Lua cost functions) and any cost functions: leave them on the stack while obj is used.
// Returns the state for spL_grad_cost_failure.
void* spL_grad_objective(lua_State* L, int arg, const char* fname, sp_objective* obj, sp_policy* p,
                         int* segment);
// Raise the error of a Lua cost function that failed during an engine call, if any.
void spL_grad_cost_failure(lua_State* L, void* lc, const char* fname);
// The trajectory table at arg ({ X, U, t } or { x, u, t }) of sizes nx, nu; contiguous copies
// are pushed when needed.
sp_trajview spL_grad_traj(lua_State* L, int arg, const char* fname, int nx, int nu);

#endif  // SP_BIND_GRAD_ARGS_H
