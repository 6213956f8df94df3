// bind.h: helpers shared by every lua/bind/*.c file (the only C that includes lua.h).
//
// Conventions (docs/architecture.md): arguments are checked before any side effect; messages say
// what was expected and what was given ("bad argument #2 to 'step' (expected a state of length 4,
// got 3)"); I/O failures return nil, message. C module names (lua/bind/<m>.c ->
// require "spinal.<m>") must not collide with Lua library files in lua/spinal/.
#ifndef SP_BIND_H
#define SP_BIND_H

#include <lauxlib.h>
#include <lua.h>

#include "engine/core/array.h"
#include "engine/core/rng.h"
#include "engine/ctrl/ctrl.h"
#include "engine/model/model.h"
#include "hal/hal.h"

#define SP_ARRAY_MT "spinal.array"
#define SP_RNG_MT "spinal.rng"
#define SP_MODEL_MT "spinal.model"
#define SP_CTRL_MT "spinal.ctrl"

// The array userdata at arg, or a Lua error naming the argument and what was given.
sp_array* spL_checkarray(lua_State* L, int arg);
// The array userdata at arg, or NULL.
sp_array* spL_testarray(lua_State* L, int arg);
// Push a new zero-filled array userdata of the given shape and return its descriptor.
sp_array* spL_newarray(lua_State* L, int ndim, const int64_t* shape);
// Push a userdata describing view; it takes its own reference to view's buffer (retain), so the
// caller still releases any reference it holds. A borrowed (wrapped) view is copied instead.
sp_array* spL_pushview(lua_State* L, const sp_array* view);
// Accept an array or a (nested) table of numbers at arg: returns the array, converting a table
// into a new array pushed on the stack (so it stays alive until the C function returns).
sp_array* spL_toarray(lua_State* L, int arg);
// Accept a number or an array/table at arg, like spL_toarray, returning NULL for a number.
sp_array* spL_optarray_or_number(lua_State* L, int arg, double* number);
// Parse a shape given either as one table/number at arg or as integers arg..last (last < arg:
// up to the top of the stack). Raises "expected ..." errors naming the argument.
int spL_checkshape(lua_State* L, int arg, int last, int64_t* shape);
// The rng userdata at arg (require "spinal.rng"), or a Lua error (implemented in rng.c).
sp_rng* spL_checkrng(lua_State* L, int arg);
// The open model userdata at arg (require "spinal.model"), or a Lua error (model.c). The model
// stays owned by the userdata: keep it alive (e.g. as a user value) while the pointer is used.
sp_model* spL_checkmodel(lua_State* L, int arg);
// The workspace of the model at arg for calls from this Lua state (made on first use).
sp_model_data* spL_modeldata(lua_State* L, int arg);
// The open controller at arg (require "spinal.ctrl"), or a Lua error (ctrl.c). The controller stays
// owned by the userdata.
sp_ctrl* spL_checkctrl(lua_State* L, int arg);
// Its workspace for calls from this Lua state (made on first use).
sp_ctrl_data* spL_ctrldata(lua_State* L, int arg);
// Its count of live loops driving it (they keep the userdata alive); while > 0 the controller
// refuses set_limits, and a close hides it from Lua but frees it only when it is collected.
int* spL_ctrl_users(lua_State* L, int arg);
// The plant userdata (require "spinal.hal", hal.c): the plant (NULL once closed), the number of
// live loops driving it (while users > 0 the plant refuses direct use from Lua: read, write, ...)
// and of bridges serving it (it cannot be closed under them). lua_model: for a model plant
// running a model written in Lua, its name (such a plant runs in lockstep only: live loops and
// bridges refuse it), else NULL.
typedef struct spL_plant {
  sp_plant* p;
  int users;
  int served;
  const char* lua_model;
} spL_plant;
// The open plant userdata at arg, or a Lua error.
spL_plant* spL_checkplant(lua_State* L, int arg);
// Models written in Lua (model_lua.c, spinal.model.define). spL_model_define is M.define.
// spL_model_is_lua: whether a class was defined in Lua (such a class runs only on the OS thread
// of the Lua state that defined it: never in a real-time loop or a bridge). spL_model_usable: 0
// for a Lua class that belongs to another (or a closed) Lua state. A Lua model's errors are
// recorded, not raised, while engine code runs it (its outputs are then NaN): every binding that
// ran engine code which may step a model calls spL_model_check afterwards, which raises the first
// recorded error of this state ("my_car.f: models/my_car.lua:12: ...") and clears it; it costs one
// atomic load when nothing is pending. spL_model_pending says whether check would raise (free
// what you hold first).
int spL_model_define(lua_State* L);
int spL_model_is_lua(const sp_model_class* cls);
int spL_model_usable(lua_State* L, const sp_model_class* cls);
int spL_model_pending(lua_State* L);
void spL_model_check(lua_State* L);
// The open policy userdata at arg (require "spinal.policy"), or a Lua error (policy.c).
struct sp_policy;
struct sp_policy* spL_checkpolicy(lua_State* L, int arg);
// Its workspace for calls from this Lua state (the rng of pol:sample).
struct sp_policy_data;
struct sp_policy_data* spL_policydata(lua_State* L, int arg);
// the state of the spinal.nn optimiser at arg for n float64 parameters (created on first use);
// an argument error when it already holds state of another size (lua/bind/nn.c)
struct sp_optim;
struct sp_optim* spL_optim_state(lua_State* L, int arg, size_t n);
// The same for n parameters of dtype (an sp_dtype: SP_F32 for a float32 network's parameters).
struct sp_optim* spL_optim_for(lua_State* L, int arg, size_t n, int dtype);
// Push an nn optimiser userdata that takes over o (freed by its collector); the metatable of
// spinal.nn must exist (require "spinal.nn" first).
void spL_push_optim(lua_State* L, struct sp_optim* o);
// The Gauss-Newton optimiser at arg when it is one (require "spinal.gn"), else NULL; a Lua error
// when it is closed (gn.c)
struct sp_gn;
struct sp_gn* spL_testgn(lua_State* L, int arg);
void spL_gn_restored(lua_State* L, int arg);
// The open controller userdata at arg (require "spinal.ctrl"), or a Lua error (ctrl.c). Keep the
// userdata alive while the pointer is used.
struct sp_ctrl;
struct sp_ctrl* spL_checkctrl(lua_State* L, int arg);
// Push the named blocks of controller c's class over v (its gains when gains, else its reference):
// { kx = 0.45, kp = { ... }, K = { row, ... } }, a table set_gains takes back (ctrl.c)
void spL_push_named(lua_State* L, const struct sp_ctrl* c, int gains, const double* v);
// Push a new, closed spinal.model userdata for a model of size nx, nu made elsewhere (e.g. by
// spinal.rbd): the caller stores the model in the returned slot once it exists. release frees it
// (NULL: sp_model_free); the value at index owner (0: none) is kept alive as its user value
// (model.c).
sp_model** spL_newmodel(lua_State* L, int nx, int nu, void (*release)(sp_model*), int owner);
// Register the metatable name of a userdata class: __index is index with the methods table as its
// upvalue (methods first, then the class's own fields), __gc and __close are gc, __tostring is
// tostring. Leaves the stack as it was.
void spL_class(lua_State* L, const char* name, const luaL_Reg* methods, lua_CFunction index,
               lua_CFunction gc, lua_CFunction tostring);
// Userdata that own one engine object (tasks, costs): the object is the only field, NULL after
// close. spL_newhandle pushes an empty handle with metatable mt (safe to collect before the object
// exists); spL_tohandle returns the handle at idx if it has metatable mt, else NULL, so other
// bindings can take such objects without knowing the owning binding's internals.
typedef struct spL_handle {
  void* obj;
} spL_handle;
#define SP_TASK_MT "spinal.task"
#define SP_COST_MT "spinal.cost"
spL_handle* spL_newhandle(lua_State* L, const char* mt);
spL_handle* spL_tohandle(lua_State* L, int idx, const char* mt);
// Raise a Lua error for an SP_E* code: "<what>: <sp_strerror(code)>".
int spL_raise(lua_State* L, int code, const char* what);
// Return nil, message (the Lua convention for I/O failures): pushes 2 values, returns 2.
int spL_failure(lua_State* L, const char* fmt, ...);

#endif  // SP_BIND_H
