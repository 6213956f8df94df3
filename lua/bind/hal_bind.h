// hal_bind.h: what the files of the HAL binding (require "spinal.hal") share. One concept per file:
//   hal.c          the module: hal.open (dispatch to a backend's configuration), hal.backends
//   hal_plant.c    the plant userdata and its methods (read, write, reset, lifecycle, link stats)
//   hal_model.c    the "model" backend's configuration table
//   hal_mujoco.c   the "mujoco" backend's configuration table and perturbations
//   hal_udp.c      the "udp" backend's configuration table
//   hal_safety.c   the safety filter's configuration (rollouts, live loops, bridges)
//   hal_bridge.c   hal.bridge: serve a plant over the protocol
//   hal_rollout.c  plant:rollout: a lockstep run with a C-side policy
// Parsers fill engine configuration structs whose arrays live in scratch userdata they push on the
// stack (spA_scratch): collected even when a later check raises, so nothing leaks.
#ifndef SP_BIND_HAL_BIND_H
#define SP_BIND_HAL_BIND_H

#include "args.h"
#include "hal/backend_model.h"
#include "hal/backend_mujoco.h"
#include "hal/backend_udp.h"
#include "hal/safety.h"

#define SP_PLANT_MT "spinal.hal.plant"
#define SP_BRIDGE_MT "spinal.hal.bridge"

// ---- the plant (hal_plant.c) --------------------------------------------------------------------

// The plant userdata at arg (open or closed), or an error naming the argument.
spL_plant* spH_checklplant(lua_State* L, int arg);
// The open plant at arg, refused while a live loop drives it (its thread owns the plant then).
sp_plant* spH_checkplant(lua_State* L, int arg);
// Raise the error of a lifecycle call (op: "read", "rollout") that returned rc.
int spH_lifecycle_error(lua_State* L, sp_plant* p, const char* op, int rc);
// Push a new, empty plant userdata (safe to collect before a plant exists).
spL_plant* spH_newplant(lua_State* L);
// Register the plant metatable; the plant methods are in hal_plant.c, rollout in hal_rollout.c.
void spH_plant_open(lua_State* L);
int spH_rollout(lua_State* L);
// Small table builders shared by the plant's and the bridge's stats.
void spH_set_num(lua_State* L, const char* k, double v);
void spH_set_int(lua_State* L, const char* k, uint64_t v);
void spH_push_link_stats(lua_State* L, const sp_udp_stats* s);

// ---- backend configurations ---------------------------------------------------------------------

// The "model" backend's configuration at arg.
void spH_model_config(lua_State* L, int arg, sp_plant_model_config* c);
// The "mujoco" backend's configuration at arg (perturbations into q when given).
void spH_mujoco_config(lua_State* L, int arg, sp_plant_mujoco_config* c,
                       sp_plant_mujoco_perturbation* q);
// The field 'lowlevel' of a simulated plant's configuration t (hal/lowlevel.h): { kind, rate,
// every, params = { name = number or list } }, in scratch on the stack; NULL when absent.
const struct sp_lowlevel_config* spH_lowlevel_config(const spA_table* t);
// Perturbations { mass, friction, gear, damping, frictionloss } in the table t (idx 0: none).
void spH_mujoco_perturb(const spA_table* t, sp_plant_mujoco_perturbation* q);
// The "udp" backend's configuration at arg (may be absent); with the bare scheme "udp" the
// address comes from the fields address and port and is written into uri. names holds
// 2 * SP_PROTO_MAX_DIM pointers.
void spH_udp_config(lua_State* L, int arg, sp_plant_udp_config* c, char* uri, size_t urilen,
                    const char** names);
// Settings every simulated backend shares (checked here only): substeps (>= min_substeps),
// delay (ticks >= 0), seed (>= 0).
void spH_sim_settings(const spA_table* t, int min_substeps, int* substeps, int* delay,
                      uint64_t* seed);

// ---- safety (hal_safety.c) ----------------------------------------------------------------------

// The safety filter's settings in the table t: safe (the safe command; required when
// safe_required, else zeros), u_min, u_max (default: the plant's), rate_max, watchdog (seconds in
// [0, 3600]), watchdog_max (the longest watchdog a bridge's host may ask for, seconds in
// [0, 3600]), latch_faults, stop_on_fault, safe_controller (a spinal.ctrl for the plant's states
// and actions, run instead of the constant safe command) and safe_reference (its reference,
// zeros when absent). The arrays live in scratch userdata pushed on the stack, and so does the
// safe controller's userdata (at safe_ctrl_idx, 0 when none) so the caller can keep it alive.
// Each setting is validated here and nowhere else in the bindings; the caller gives the safe
// controller a workspace and sets c.safe_act.
typedef struct spH_safety {
  sp_safety_config c;
  int stop_on_fault;
  double watchdog_max_s;
  const sp_ctrl* safe_ctrl;  // NULL: none
  int safe_ctrl_idx;         // its stack index
  const double* safe_ref;    // (safe_ctrl->nr) its reference
} spH_safety;
void spH_safety_opts(const spA_table* t, const sp_plant_caps* caps, double period_s,
                     int safe_required, spH_safety* out);

// ---- bridge (hal_bridge.c) ----------------------------------------------------------------------

int spH_bridge(lua_State* L);
void spH_bridge_open(lua_State* L);

#endif  // SP_BIND_HAL_BIND_H
