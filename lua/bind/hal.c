// hal.c: the Lua binding of the HAL plant interface (require "spinal.hal"): open a plant, read and
// write it, and run lockstep rollouts with a C-side policy through the safety filter and loop.
//
//   local hal = require "spinal.hal"
//   local plant = hal.open("model", { model = "unicycle_accel", rate = 50, params = { 1.2, 0.9 },
//                                     substeps = 4, integrator = "rk4", x0 = { 0, 0, 1, 0 },
//                                     process_std = {...}, sensor_std = {...}, delay = 2,
//                                     seed = 1, robot = "car", u_min = {...}, u_max = {...} })
//   plant:activate()                       -- writes need an active plant (lifecycle in hal.h)
//   local x, t, status = plant:read()      -- state array, time in seconds, SP_FLAG_PLANT_* bits
//   plant:write(u)   plant:reset(x0)   plant:seed(n)   plant:deactivate()   plant:close()
//   plant.nx plant.nu plant.robot plant.backend plant.rate plant.state plant.x_names plant.u_names
//   local plant = hal.open(robot, "model")  -- a robot (spinal.robot.load) opens its plant section
//   local tr = plant:rollout(policy, { seconds = 21.5, x0 = ..., seed = 1, explore = false })
//                                          -- a spinal.policy acts in C inside the loop; tr.X tr.U
//                                          -- tr.t as the estimators read them, tr.data_seconds
//   local tr = plant:rollout(ctrl, { steps = 300, r = {...} })  -- a spinal.ctrl: kappa(x, r, K)
//   local tr = plant:rollout { steps = 500 (or seconds = 10), x0 = ..., seed = 3,
//                              policy = { K = K, x_ref = ..., u_ff = ... },  -- u = u_ff - K (x -
//                              x_ref) safe = {...}, u_min = {...}, u_max = {...}, rate_max = {...},
//                              watchdog = 0.1,
//                              realtime = false, stop_on_fault = false }
//   tr.t (n+1) tr.x (n+1, nx) tr.u (n, nu) tr.flags (n) tr.k (n) tr.n tr.dt tr.seed tr.robot
//   tr.backend tr.lost
//   local car = hal.open("mujoco", { mjcf = "robots/rc_car.xml", rate = 50,
//     state = { { qpos = "chassis", index = 1 }, { qpos = "chassis", index = 2 },
//               { sensor = "chassis_vel" }, { yaw = "chassis" } },
//     actuators = { "throttle", { actuator = "steer", scale = 0.4 } },
//     x_names = {...}, u_names = {...}, substeps = 10, delay = 1, sensor_std = {...},
//     process_std = 0.01, x0 = {...}, keyframe = "rest", wheels = {...}, seed = 1,
//     perturb = { mass = 1.1, friction = 0.8, gear = { throttle = 0.9 } } })
//   car:perturb { mass = { chassis = 1.2 } }    car:perturb()  -- back to the MJCF's values
//   local robot = hal.open("udp://127.0.0.1:9870", { robot = "rc_car", x_names = {...},
//                                                   u_names = {...}, rate = 50, watchdog = 0.2,
//                                                   timeout = 2, heartbeat = 0.05, wait = 0 })
//   robot:stats()  robot:rearm()  robot:estop()           -- udp plants: link counters, session
//   local b = hal.bridge(plant, { listen = "127.0.0.1:9870", realtime = true, watchdog = 0.2,
//                                 safe = {...}, robot = "rc_car", rate = 50 })
//   b.port  b:stats()  b:wait(seconds)  b:close()        -- serve a plant over the protocol
// The policy is the built-in linear state feedback, computed in C inside the loop (Lua never sits
// inside a control tick). Configuration mistakes raise errors naming the field; failures of the
// plant itself (a backend that cannot open) return nil, message.
#include "hal/hal.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "bind.h"
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"
#include "engine/model/model.h"
#include "engine/policy/policy.h"
#include "hal/backend_model.h"
#include "hal/backend_mujoco.h"
#include "hal/backend_udp.h"
#include "hal/bridge.h"
#include "hal/loop.h"
#include "hal/safety.h"

#define PLANT_MT "spinal.hal.plant"
#define BRIDGE_MT "spinal.hal.bridge"

// the userdata: spL_plant (bind.h): the plant (NULL until opened, and after close), the number of
// live loops (spinal.loop) driving it and of bridges serving it, the Lua model it runs (if any)
typedef spL_plant lplant;

static lplant* checklplant(lua_State* L, int arg) {
  lplant* lp = luaL_testudata(L, arg, PLANT_MT);
  if (!lp)
    luaL_argerror(
        L, arg,
        lua_pushfstring(L, "expected a plant (from hal.open), got %s", luaL_typename(L, arg)));
  return lp;
}

spL_plant* spL_checkplant(lua_State* L, int arg) {
  lplant* lp = checklplant(L, arg);
  if (!lp->p) luaL_argerror(L, arg, "expected an open plant, got a closed one");
  return lp;
}

// the open plant at arg, refused while a live loop drives it (its thread owns the plant then)
static sp_plant* checkplant(lua_State* L, int arg) {
  lplant* lp = spL_checkplant(L, arg);
  if (lp->users > 0) {
    lua_Debug ar;
    const char* name =
        lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name ? ar.name : "?";
    luaL_error(L,
               "plant:%s(): the plant is driven by a live loop (use loop:state(), loop:reset(x0); "
               "loop:close() releases the plant)",
               name);
  }
  return lp->p;
}

// ---- vectors ----------------------------------------------------------------------------------

// copy the elements of a (any shape, possibly strided) in row-major order
static void gather(const sp_array* a, double* out) {
  int64_t n = sp_array_size(a), idx[SP_MAXDIM] = {0};
  for (int64_t k = 0; k < n; k++) {
    out[k] = *sp_array_at(a, idx);
    for (int d = a->ndim - 1; d >= 0; d--) {
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
}

// the vector at arg (array or table) of exactly n elements into out; what names it in errors
static void check_vec(lua_State* L, int arg, int n, double* out, const char* what) {
  int top = lua_gettop(L);
  sp_array* a = spL_toarray(L, arg);
  if (sp_array_size(a) != n)
    luaL_argerror(
        L, arg,
        lua_pushfstring(L, "expected %s of length %d, got %d", what, n, (int)sp_array_size(a)));
  gather(a, out);
  lua_settop(L, top);
}

// field of the table at t: a vector of n elements into out; returns 0 when the field is nil
static int field_vec(lua_State* L, int t, int arg, const char* field, int n, double* out) {
  lua_getfield(L, t, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  int v = lua_gettop(L);
  sp_array* a = (lua_istable(L, v) || spL_testarray(L, v)) ? spL_toarray(L, v) : NULL;
  if (!a || sp_array_size(a) != n)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field '%s': expected a vector of length %d, got %s", field, n,
                                  a ? lua_pushfstring(L, "length %d", (int)sp_array_size(a))
                                    : luaL_typename(L, v)));
  gather(a, out);
  lua_settop(L, v - 1);
  return 1;
}

static double field_num(lua_State* L, int t, int arg, const char* field, double def, int required) {
  lua_getfield(L, t, field);
  double v = def;
  if (lua_isnumber(L, -1)) {
    v = lua_tonumber(L, -1);
  } else if (!lua_isnil(L, -1) || required) {
    luaL_argerror(
        L, arg,
        lua_pushfstring(L, "field '%s': expected a number, got %s", field, luaL_typename(L, -1)));
  }
  lua_pop(L, 1);
  return v;
}

static const char* field_str(lua_State* L, int t, int arg, const char* field, int required) {
  lua_getfield(L, t, field);
  const char* s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    s = lua_tostring(L, -1);  // kept alive by the config table
  } else if (!lua_isnil(L, -1) || required) {
    luaL_argerror(
        L, arg,
        lua_pushfstring(L, "field '%s': expected a string, got %s", field, luaL_typename(L, -1)));
  }
  lua_pop(L, 1);
  return s;
}

// scratch doubles owned by a userdata on the stack (freed by the GC even if an error is raised)
static double* scratch(lua_State* L, size_t n) {
  double* d = lua_newuserdatauv(L, sizeof(double) * (n ? n : 1), 0);
  memset(d, 0, sizeof(double) * (n ? n : 1));
  return d;
}

// ---- hal.open ---------------------------------------------------------------------------------

// parse a "model" backend config at arg into c, with arrays in userdata scratch on the stack
static void parse_model_config(lua_State* L, int arg, sp_plant_model_config* c) {
  luaL_checktype(L, arg, LUA_TTABLE);
  memset(c, 0, sizeof *c);
  c->model = field_str(L, arg, arg, "model", 1);
  const sp_model_class* cls = sp_model_find(c->model);
  if (!cls)
    luaL_argerror(L, arg, lua_pushfstring(L, "field 'model': no model named '%s'", c->model));
  int nx = cls->nx, nu = cls->nu, np = cls->np;
  c->rate_hz = field_num(L, arg, arg, "rate", 0, 1);
  if (!(c->rate_hz > 0) || !isfinite(c->rate_hz))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'rate': expected a number > 0, got %f", c->rate_hz));
  double sub = field_num(L, arg, arg, "substeps", 1, 0);
  double delay = field_num(L, arg, arg, "delay", 0, 0);
  if (sub < 1 || sub != floor(sub) || sub > SP_PLANT_MAX_SUBSTEPS)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'substeps': expected an integer in [1, %d], got %f",
                                  SP_PLANT_MAX_SUBSTEPS, sub));
  if (delay < 0 || delay != floor(delay) || delay > SP_PLANT_MAX_DELAY)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'delay': expected an integer in [0, %d], got %f",
                                  SP_PLANT_MAX_DELAY, delay));
  c->substeps = (int)sub;
  c->delay_ticks = (int)delay;
  const char* integ = field_str(L, arg, arg, "integrator", 0);
  c->integrator = SP_INTEGRATOR_RK4;
  if (integ && !strcmp(integ, "euler")) {
    c->integrator = SP_INTEGRATOR_EULER;
  } else if (integ && strcmp(integ, "rk4")) {
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'integrator': expected \"euler\" or \"rk4\", "
                                  "got \"%s\"",
                                  integ));
  }
  double seed = field_num(L, arg, arg, "seed", 0, 0);
  if (seed < 0 || seed != floor(seed))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'seed': expected an integer >= 0, got %f", seed));
  c->seed = (uint64_t)seed;
  c->robot = field_str(L, arg, arg, "robot", 0);

  // vectors: scratch userdata left on the stack until the plant copied them
  double* d = scratch(L, (size_t)np + 3 * (size_t)nx + 3 * (size_t)nu);
  double *p = d, *x0 = p + np, *wstd = x0 + nx, *vstd = wstd + nx, *uinit = vstd + nx;
  double *umin = uinit + nu, *umax = umin + nu;
  if (field_vec(L, arg, arg, "params", np, p)) c->p = p;
  if (field_vec(L, arg, arg, "x0", nx, x0)) c->x0 = x0;
  if (field_vec(L, arg, arg, "process_std", nx, wstd)) c->process_std = wstd;
  if (field_vec(L, arg, arg, "sensor_std", nx, vstd)) c->sensor_std = vstd;
  if (field_vec(L, arg, arg, "u_init", nu, uinit)) c->u_init = uinit;
  if (field_vec(L, arg, arg, "u_min", nu, umin)) c->u_min = umin;
  if (field_vec(L, arg, arg, "u_max", nu, umax)) c->u_max = umax;
}

// ---- the mujoco backend's config ----------------------------------------------------------------

// scratch bytes owned by a userdata on the stack
static void* scratch_bytes(lua_State* L, size_t n) {
  void* d = lua_newuserdatauv(L, n ? n : 1, 0);
  memset(d, 0, n ? n : 1);
  return d;
}

static const char* const mj_sources[] = {"qpos",     "qvel",     "sensor",   "yaw",
                                         "body_pos", "body_yaw", "body_vel", "body_angvel"};

// the names list at field (a list of strings) into out (n), or 0 when the field is nil
static int field_names(lua_State* L, int t, int arg, const char* field, int n, const char** out) {
  lua_getfield(L, t, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != n)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field '%s': expected a list of %d names, got %s", field, n,
                                  luaL_typename(L, -1)));
  for (int i = 0; i < n; i++) {
    if (lua_rawgeti(L, -1, i + 1) != LUA_TSTRING)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "field '%s[%d]': expected a string, got %s", field, i + 1,
                                    luaL_typename(L, -1)));
    out[i] = lua_tostring(L, -1);  // kept alive by the config table
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

// the entry of a state or action list: list[i], or list[names[i]] for a table keyed by name
static int get_entry(lua_State* L, int list, int i, const char* const* names) {
  int t = lua_rawgeti(L, list, i + 1);
  if (t == LUA_TNIL && names) {
    lua_pop(L, 1);
    t = lua_getfield(L, list, names[i]);
  }
  return t;
}

// one state source at the top of the stack: { qpos = "joint", index = 1, scale, offset } (any
// source key), or the robot files' resolved form { source = "qpos", name = "joint", ... }
static void parse_mj_state(lua_State* L, int arg, int i, sp_plant_mujoco_state* s) {
  int e = lua_gettop(L);
  if (!lua_istable(L, e))
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'state[%d]': expected a source such as "
                                  "{ qpos = \"joint\", index = 1 }, got %s",
                                  i + 1, luaL_typename(L, e)));
  int found = 0;
  const char* src = field_str(L, e, arg, "source", 0);
  for (int k = 0; k < 8; k++) {
    if (src && !strcmp(src, mj_sources[k])) {
      s->source = (sp_plant_mujoco_source)k;
      s->name = field_str(L, e, arg, "name", 0);
      found++;
    }
    lua_getfield(L, e, mj_sources[k]);
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "field 'state[%d].%s': expected a name, got %s", i + 1,
                                      mj_sources[k], luaL_typename(L, -1)));
      s->source = (sp_plant_mujoco_source)k;
      s->name = lua_tostring(L, -1);
      found++;
    }
    lua_pop(L, 1);
  }
  if (found != 1)
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'state[%d]': expected exactly one source (qpos, qvel, "
                                  "sensor, yaw, body_pos, body_yaw, body_vel, body_angvel), got %d",
                                  i + 1, found));
  double index = field_num(L, e, arg, "index", 1, 0);
  if (index < 1 || index != floor(index) || index > 1e6)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'state[%d].index': expected an integer >= 1, got %f",
                                  i + 1, index));
  s->index = (int)index - 1;
  s->scale = field_num(L, e, arg, "scale", 1, 0);
  s->offset = field_num(L, e, arg, "offset", 0, 0);
  if (s->scale == 0 || !isfinite(s->scale) || !isfinite(s->offset))
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'state[%d]': expected a finite, nonzero scale and a "
                                  "finite offset",
                                  i + 1));
}

// one actuator target at stack index e: "name" or { actuator | name = "name", scale, offset }
static void parse_mj_actuator(lua_State* L, int arg, int e, int action, int j,
                              sp_plant_mujoco_actuator* a) {
  a->action = action;
  a->scale = 1;
  if (lua_type(L, e) == LUA_TSTRING) {
    a->name = lua_tostring(L, e);
    return;
  }
  if (!lua_istable(L, e))
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'actuators[%d]': expected an actuator name or "
                                  "{ actuator = name, scale = s, offset = o }, got %s",
                                  action + 1, luaL_typename(L, e)));
  a->name = field_str(L, e, arg, "actuator", 0);
  if (!a->name) a->name = field_str(L, e, arg, "name", 0);
  if (!a->name)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'actuators[%d][%d]': expected an actuator name",
                                  action + 1, j + 1));
  a->scale = field_num(L, e, arg, "scale", 1, 0);
  a->offset = field_num(L, e, arg, "offset", 0, 0);
  if (a->scale == 0 || !isfinite(a->scale) || !isfinite(a->offset))
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "field 'actuators[%d]': expected a finite, nonzero scale and "
                                  "a finite offset",
                                  action + 1));
}

// an action's targets at stack index e: one target, or a list of them
static int is_target_list(lua_State* L, int e) {
  if (!lua_istable(L, e) || lua_rawlen(L, e) == 0) return 0;
  lua_getfield(L, e, "actuator");
  lua_getfield(L, e, "name");
  int single = !lua_isnil(L, -1) || !lua_isnil(L, -2);
  lua_pop(L, 2);
  return !single;
}

// perturbations: { mass = s | { body = s }, friction = s | { geom = s }, gear = s | { act = s } }
static void parse_mj_perturb(lua_State* L, int t, int arg, sp_plant_mujoco_perturbation* q) {
  memset(q, 0, sizeof *q);
  if (lua_isnoneornil(L, t)) return;
  if (!lua_istable(L, t))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected perturbations { mass, friction, gear, damping, "
                                  "frictionloss }, got %s",
                                  luaL_typename(L, t)));
  static const char* const keys[3] = {"mass", "friction", "gear"};
  double* global[3] = {&q->mass, &q->friction, &q->gear};
  const sp_plant_mujoco_scale** lists[3] = {&q->body_mass, &q->geom_friction, &q->actuator_gear};
  int* counts[3] = {&q->nbody_mass, &q->ngeom_friction, &q->nactuator_gear};
  // joint losses: damping is a global scale, frictionloss an added force or torque
  lua_getfield(L, t, "damping");
  if (!lua_isnil(L, -1)) {
    q->damping = lua_tonumber(L, -1);
    if (!lua_isnumber(L, -1) || !(q->damping > 0) || !isfinite(q->damping))
      luaL_argerror(L, arg, "field 'perturb.damping': expected a scale > 0");
  }
  lua_getfield(L, t, "frictionloss");
  if (!lua_isnil(L, -1)) {
    q->frictionloss = lua_tonumber(L, -1);
    if (!lua_isnumber(L, -1) || !(q->frictionloss >= 0) || !isfinite(q->frictionloss))
      luaL_argerror(L, arg,
                    "field 'perturb.frictionloss': expected a force or torque >= 0 added to every "
                    "joint");
  }
  lua_pop(L, 2);
  for (int k = 0; k < 3; k++) {
    lua_getfield(L, t, keys[k]);
    int v = lua_gettop(L);
    if (lua_isnumber(L, v)) {
      *global[k] = lua_tonumber(L, v);
      if (!(*global[k] > 0) || !isfinite(*global[k]))
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "field 'perturb.%s': expected a scale > 0, got %f",
                                      keys[k], *global[k]));
    } else if (lua_istable(L, v)) {
      int n = 0;
      for (lua_pushnil(L); lua_next(L, v); lua_pop(L, 1)) n++;
      sp_plant_mujoco_scale* s = scratch_bytes(L, sizeof *s * (size_t)n);
      lua_insert(L, v);  // keep the scratch below the table
      v++;
      int i = 0;
      for (lua_pushnil(L); lua_next(L, v); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > 0))
          luaL_argerror(L, arg,
                        lua_pushfstring(L,
                                        "field 'perturb.%s': expected { name = scale > 0, ... }, "
                                        "got a %s key with a %s value",
                                        keys[k], luaL_typename(L, -2), luaL_typename(L, -1)));
        s[i].name = lua_tostring(L, -2);
        s[i].scale = lua_tonumber(L, -1);
        i++;
      }
      *lists[k] = s;
      *counts[k] = n;
    } else if (!lua_isnil(L, v)) {
      luaL_argerror(L, arg,
                    lua_pushfstring(L,
                                    "field 'perturb.%s': expected a scale or { name = scale }, "
                                    "got %s",
                                    keys[k], luaL_typename(L, v)));
    }
    lua_pop(L, 1);  // the value; scratch stays on the stack
  }
}

// parse a "mujoco" backend config at arg into c, with arrays in userdata scratch on the stack
static void parse_mujoco_config(lua_State* L, int arg, sp_plant_mujoco_config* c,
                                sp_plant_mujoco_perturbation* q) {
  luaL_checktype(L, arg, LUA_TTABLE);
  memset(c, 0, sizeof *c);
  c->mjcf = field_str(L, arg, arg, "mjcf", 0);
  c->robot = field_str(L, arg, arg, "robot", 0);
  c->keyframe = field_str(L, arg, arg, "keyframe", 0);
  c->rate_hz = field_num(L, arg, arg, "rate", 0, 0);
  if (!(c->rate_hz >= 0) || !isfinite(c->rate_hz))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'rate': expected a number >= 0, got %f", c->rate_hz));
  double sub = field_num(L, arg, arg, "substeps", 0, 0);
  double delay = field_num(L, arg, arg, "delay", 0, 0);
  double seed = field_num(L, arg, arg, "seed", 0, 0);
  if (sub < 0 || sub != floor(sub) || sub > SP_PLANT_MAX_SUBSTEPS)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'substeps': expected an integer in [0, %d], got %f",
                                  SP_PLANT_MAX_SUBSTEPS, sub));
  if (delay < 0 || delay != floor(delay) || delay > SP_PLANT_MAX_DELAY)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'delay': expected an integer in [0, %d], got %f",
                                  SP_PLANT_MAX_DELAY, delay));
  if (seed < 0 || seed != floor(seed))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'seed': expected an integer >= 0, got %f", seed));
  c->substeps = (int)sub;
  c->delay_ticks = (int)delay;
  c->seed = (uint64_t)seed;
  c->process_std_all = field_num(L, arg, arg, "process_std", 0, 0);
  if (!(c->process_std_all >= 0))
    luaL_argerror(L, arg, "field 'process_std': expected a number >= 0 (the std of every dof)");

  // sizes: from the state and actuator lists (or their names)
  lua_getfield(L, arg, "state");
  int st = lua_gettop(L);
  lua_getfield(L, arg, "actuators");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, arg, "action");
  }
  int at = lua_gettop(L);
  if (!lua_isnil(L, st) && !lua_istable(L, st))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'state': expected a list of sources, got %s",
                                  luaL_typename(L, st)));
  if (!lua_isnil(L, at) && !lua_istable(L, at))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'actuators': expected a list per action, got %s",
                                  luaL_typename(L, at)));
  lua_getfield(L, arg, "x_names");
  int nx = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  lua_pop(L, 1);
  lua_getfield(L, arg, "u_names");
  int nu = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  lua_pop(L, 1);
  if (lua_istable(L, st) && lua_rawlen(L, st) > 0) nx = (int)lua_rawlen(L, st);
  if (lua_istable(L, at) && lua_rawlen(L, at) > 0) nu = (int)lua_rawlen(L, at);
  if (lua_isnil(L, st)) nx = 0;
  if (lua_isnil(L, at)) nu = 0;
  lua_pushnil(L);
  if (!nx && lua_istable(L, st) && lua_next(L, st)) {
    luaL_argerror(L, arg, "field 'state': a table keyed by state name needs 'x_names' (the order)");
  }
  lua_settop(L, at);
  lua_pushnil(L);
  if (!nu && lua_istable(L, at) && lua_next(L, at)) {
    luaL_argerror(L, arg,
                  "field 'actuators': a table keyed by action name needs 'u_names' (the order)");
  }
  lua_settop(L, at);

  const char** names = scratch_bytes(L, sizeof(char*) * (size_t)(nx + nu + 1));
  const char** xn = names;
  const char** un = names + nx;
  if (nx && field_names(L, arg, arg, "x_names", nx, xn)) c->x_names = xn;
  if (nu && field_names(L, arg, arg, "u_names", nu, un)) c->u_names = un;

  // state sources
  if (nx) {
    sp_plant_mujoco_state* s = scratch_bytes(L, sizeof *s * (size_t)nx);
    for (int i = 0; i < nx; i++) {
      if (get_entry(L, st, i, c->x_names) == LUA_TNIL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "field 'state': no source for state %d%s%s", i + 1,
                                      c->x_names ? " " : "", c->x_names ? c->x_names[i] : ""));
      parse_mj_state(L, arg, i, &s[i]);
      lua_pop(L, 1);
    }
    c->nx = nx;
    c->state = s;
  }

  // actuator targets: count, then fill
  if (nu) {
    int nact = 0;
    for (int j = 0; j < nu; j++) {
      if (get_entry(L, at, j, c->u_names) == LUA_TNIL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "field 'actuators': no actuator for action %d%s%s", j + 1,
                                      c->u_names ? " " : "", c->u_names ? c->u_names[j] : ""));
      nact += is_target_list(L, lua_gettop(L)) ? (int)lua_rawlen(L, -1) : 1;
      lua_pop(L, 1);
    }
    sp_plant_mujoco_actuator* a = scratch_bytes(L, sizeof *a * (size_t)nact);
    int k = 0;
    for (int j = 0; j < nu; j++) {
      get_entry(L, at, j, c->u_names);
      int e = lua_gettop(L);
      if (is_target_list(L, e)) {
        int n = (int)lua_rawlen(L, e);
        for (int r = 0; r < n; r++) {
          lua_rawgeti(L, e, r + 1);
          parse_mj_actuator(L, arg, lua_gettop(L), j, r, &a[k++]);
          lua_pop(L, 1);
        }
      } else {
        parse_mj_actuator(L, arg, e, j, 0, &a[k++]);
      }
      lua_pop(L, 1);
    }
    c->nu = nu;
    c->actuators = a;
    c->nactuators = nact;
  }

  // vectors over the state and the command
  double* d = scratch(L, 2 * (size_t)nx + 3 * (size_t)nu);
  double *x0 = d, *vstd = x0 + nx, *uinit = vstd + nx, *umin = uinit + nu, *umax = umin + nu;
  if (nx && field_vec(L, arg, arg, "x0", nx, x0)) c->x0 = x0;
  lua_getfield(L, arg, "sensor_std");
  if (lua_isnumber(L, -1)) {
    double v = lua_tonumber(L, -1);
    for (int i = 0; i < nx; i++) vstd[i] = v;
    if (nx) c->sensor_std = vstd;
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
    if (nx && field_vec(L, arg, arg, "sensor_std", nx, vstd)) c->sensor_std = vstd;
  }
  if (nu && field_vec(L, arg, arg, "u_init", nu, uinit)) c->u_init = uinit;
  if (nu && field_vec(L, arg, arg, "u_min", nu, umin)) c->u_min = umin;
  if (nu && field_vec(L, arg, arg, "u_max", nu, umax)) c->u_max = umax;

  // wheels and perturbations
  lua_getfield(L, arg, "wheels");
  if (!lua_isnil(L, -1)) {
    int n = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : -1;
    lua_pop(L, 1);
    if (n < 0) luaL_argerror(L, arg, "field 'wheels': expected a list of joint names");
    const char** w = scratch_bytes(L, sizeof(char*) * (size_t)(n + 1));
    field_names(L, arg, arg, "wheels", n, w);
    c->wheels = w;
    c->nwheels = n;
  } else {
    lua_pop(L, 1);
  }
  lua_getfield(L, arg, "perturb");
  int pt = lua_gettop(L);
  parse_mj_perturb(L, pt, arg, q);
  if (!lua_isnil(L, pt)) c->perturb = q;
}

// a list of n names (strings) in field of the table at t, pointers into out (kept alive by the
// table); returns n, 0 when the field is nil
static int field_name_list(lua_State* L, int t, int arg, const char* field, const char** out) {
  lua_getfield(L, t, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field '%s': expected a list of names, got %s", field,
                                  luaL_typename(L, -1)));
  int n = (int)luaL_len(L, -1);
  if (n > SP_PROTO_MAX_DIM)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field '%s': expected at most %d names, got %d", field,
                                  SP_PROTO_MAX_DIM, n));
  for (int i = 0; i < n; i++) {
    lua_geti(L, -1, i + 1);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) >= SP_PROTO_MAX_NAME)
      luaL_argerror(L, arg,
                    lua_pushfstring(L,
                                    "field '%s': name %d: expected a string of at most %d "
                                    "bytes, got %s",
                                    field, i + 1, SP_PROTO_MAX_NAME - 1, luaL_typename(L, -1)));
    out[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

// parse a "udp" backend config at arg (may be absent) into c; with scheme "udp" alone the address
// comes from the fields address and port (as robot files declare it), written into uri
static void parse_udp_config(lua_State* L, int arg, sp_plant_udp_config* c, char* uri,
                             size_t urilen, const char** names) {
  memset(c, 0, sizeof *c);
  int has = !lua_isnoneornil(L, arg);
  if (has) luaL_checktype(L, arg, LUA_TTABLE);
  if (!strcmp(uri, "udp")) {
    const char* host = has ? field_str(L, arg, arg, "address", 0) : NULL;
    double port = has ? field_num(L, arg, arg, "port", 0, 0) : 0;
    if (!host || !(port >= 1 && port <= 65535 && port == floor(port)))
      luaL_argerror(L, arg,
                    "expected fields 'address' and 'port' (1..65535), or a URI udp://HOST:PORT");
    snprintf(uri, urilen, strchr(host, ':') ? "udp://[%s]:%d" : "udp://%s:%d", host, (int)port);
  }
  if (!has) return;
  c->robot = field_str(L, arg, arg, "robot", 0);
  c->rate_hz = field_num(L, arg, arg, "rate", 0, 0);
  c->watchdog_s = field_num(L, arg, arg, "watchdog", 0, 0);
  c->timeout_s = field_num(L, arg, arg, "timeout", 0, 0);
  c->heartbeat_s = field_num(L, arg, arg, "heartbeat", 0, 0);
  c->wait_s = field_num(L, arg, arg, "wait", 0, 0);
  if (!(c->rate_hz >= 0) || !(c->watchdog_s >= 0) || !(c->timeout_s >= 0) ||
      !(c->heartbeat_s >= 0) || !(c->wait_s >= 0) || c->timeout_s > 3600 || c->watchdog_s > 3600 ||
      c->wait_s > 60)
    luaL_argerror(L, arg,
                  "fields 'rate', 'watchdog', 'timeout', 'heartbeat', 'wait': expected numbers "
                  ">= 0 (seconds at most 3600, wait at most 60)");
  c->nx = field_name_list(L, arg, arg, "x_names", names);
  c->nu = field_name_list(L, arg, arg, "u_names", names + SP_PROTO_MAX_DIM);
  if (c->nx) c->x_names = names;
  if (c->nu) c->u_names = names + SP_PROTO_MAX_DIM;
}

static int l_open(lua_State* L) {
  // hal.open(robot [, uri]): a robot object (spinal.robot) opens its own plant configuration
  if (lua_istable(L, 1)) {
    if (lua_getfield(L, 1, "open") != LUA_TFUNCTION)
      luaL_argerror(L, 1, "expected a plant URI or a robot (from spinal.robot.load), got a table");
    int top = lua_gettop(L) - 1;
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, LUA_MULTRET);
    return lua_gettop(L) - top;
  }
  const char* uri = luaL_checkstring(L, 1);
  sp_plant_model_config mc;
  sp_plant_mujoco_config jc;
  sp_plant_mujoco_perturbation jq;
  sp_plant_udp_config uc;
  const char* names[2 * SP_PROTO_MAX_DIM];
  char udp_uri[128];
  const void* cfg = NULL;
  const sp_model_class* lua_cls = NULL;
  if (!strcmp(uri, "model") || !strncmp(uri, "model://", 8)) {
    parse_model_config(L, 2, &mc);
    cfg = &mc;
    const sp_model_class* cls = mc.model ? sp_model_find(mc.model) : NULL;
    if (cls && !spL_model_usable(L, cls))
      luaL_argerror(L, 2, lua_pushfstring(L, "expected a model of this Lua state, got '%s' (a "
                                          "model written in Lua in another state)", cls->name));
    if (spL_model_is_lua(cls)) lua_cls = cls;
  } else if ((!strcmp(uri, "mujoco") || !strncmp(uri, "mujoco://", 9)) && !lua_isnoneornil(L, 2)) {
    parse_mujoco_config(L, 2, &jc, &jq);
    if (!jc.mjcf && strncmp(uri, "mujoco://", 9))
      luaL_argerror(L, 2, "field 'mjcf': expected the MJCF file name (or open \"mujoco://PATH\")");
    cfg = &jc;
  } else if (!strcmp(uri, "udp") || !strncmp(uri, "udp://", 6)) {
    snprintf(udp_uri, sizeof udp_uri, "%s", uri);
    parse_udp_config(L, 2, &uc, udp_uri, sizeof udp_uri, names);
    uri = udp_uri;
    cfg = &uc;
  } else if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
  }

  // the userdata exists (empty, safe to collect) before the plant is opened
  lplant* lp = lua_newuserdatauv(L, sizeof(lplant), 0);
  lp->p = NULL;
  lp->served = 0;
  lp->users = 0;
  lp->lua_model = lua_cls ? lua_cls->name : NULL;
  luaL_setmetatable(L, PLANT_MT);
  char msg[768];
  sp_plant* p = NULL;
  int rc = sp_plant_open(&p, uri, cfg, msg, sizeof msg);
  if (!rc && (rc = sp_plant_configure(p, msg, sizeof msg))) sp_plant_close(p);
  if (rc) return spL_failure(L, "%s", msg);
  lp->p = p;
  return 1;
}

static int l_backends(lua_State* L) {
  const char* names[32];
  int n = sp_plant_list(names, 32);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n && i < 32; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

// ---- plant methods ----------------------------------------------------------------------------

static int lifecycle_error(lua_State* L, sp_plant* p, const char* op, int rc) {
  if (rc == SP_ESTATE)
    return luaL_error(L, "%s: not valid while the plant is %s%s", op, sp_plant_state_name(p->state),
                      p->state == SP_PLANT_CONFIGURED ? " (call plant:activate() first)" : "");
  return spL_raise(L, rc, op);
}

static int m_read(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int64_t shape[1] = {p->caps.nx};
  sp_array* x = spL_newarray(L, 1, shape);
  int64_t t = 0;
  uint32_t status = 0;
  int rc = sp_plant_read(p, x->data, &t, &status);
  if (rc == SP_ESTATE) return lifecycle_error(L, p, "read", rc);
  if (rc) return spL_failure(L, "read: %s", sp_strerror(rc));
  lua_pushnumber(L, (double)t * 1e-9);
  lua_pushinteger(L, (lua_Integer)status);
  return 3;
}

static int m_write(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  double* u = scratch(L, (size_t)p->caps.nu);
  check_vec(L, 2, p->caps.nu, u, "a command");
  for (int i = 0; i < p->caps.nu; i++)
    if (!isfinite(u[i]))
      luaL_argerror(
          L, 2, lua_pushfstring(L, "expected a finite command, got %f in channel %d", u[i], i + 1));
  int rc = sp_plant_write(p, u);
  spL_model_check(L);
  if (rc == SP_ESTATE) return lifecycle_error(L, p, "write", rc);
  if (rc) return spL_failure(L, "write: %s", sp_strerror(rc));
  lua_settop(L, 1);
  return 1;
}

static int m_reset(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  double* x0 = NULL;
  if (!lua_isnoneornil(L, 2)) {
    x0 = scratch(L, (size_t)p->caps.nx);
    check_vec(L, 2, p->caps.nx, x0, "a state");
  }
  int rc = sp_plant_reset(p, x0);
  if (rc) return lifecycle_error(L, p, "reset", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_seed(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  lua_Integer s = luaL_checkinteger(L, 2);
  if (s < 0) luaL_argerror(L, 2, lua_pushfstring(L, "expected a seed >= 0, got %I", s));
  int rc = sp_plant_seed(p, (uint64_t)s);
  if (rc) return spL_raise(L, rc, "seed");
  lua_settop(L, 1);
  return 1;
}

// plant:perturb { mass = ..., friction = ..., gear = ... } (mujoco plants); no table: restore
static int m_perturb(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  if (strcmp(p->caps.backend, "mujoco"))
    return luaL_error(L,
                      "perturb: only mujoco plants have model perturbations (this is a %s plant)",
                      p->caps.backend);
  sp_plant_mujoco_perturbation q;
  parse_mj_perturb(L, 2, 2, &q);
  char msg[512];
  int rc = sp_plant_mujoco_perturb(p, lua_isnoneornil(L, 2) ? NULL : &q, msg, sizeof msg);
  if (rc == SP_ENOTFOUND || rc == SP_EINVAL)
    return luaL_error(L, "bad argument #2 to 'perturb' (%s)", msg);
  if (rc) return spL_raise(L, rc, "perturb");
  lua_settop(L, 1);
  return 1;
}

static int m_activate(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int rc = p->state == SP_PLANT_ACTIVE ? 0 : sp_plant_activate(p);
  if (rc) return lifecycle_error(L, p, "activate", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_deactivate(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int rc = p->state == SP_PLANT_ACTIVE ? sp_plant_deactivate(p) : 0;
  if (rc) return spL_raise(L, rc, "deactivate");
  lua_settop(L, 1);
  return 1;
}

static int m_close(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  if (lp->served) return luaL_error(L, "close: the plant is served by a bridge (close it first)");
  if (lp->p) checkplant(L, 1);
  sp_plant_close(lp->p);
  lp->p = NULL;
  return 0;
}

// collected while a loop or a bridge still uses it (only at lua_close, in an unusual order): leave
// it open rather than pull the plant from under their threads
static int m_gc(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  if (lp->users > 0 || lp->served > 0) return 0;
  sp_plant_close(lp->p);
  lp->p = NULL;
  return 0;
}

static int m_tostring(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  if (!lp->p) {
    lua_pushliteral(L, "spinal.hal.plant (closed)");
  } else {
    const sp_plant_caps* c = &lp->p->caps;
    lua_pushfstring(L, "spinal.hal.plant %s on %s (nx %d, nu %d, %f Hz, %s)", c->robot, c->backend,
                    c->nx, c->nu, c->rate_hz, sp_plant_state_name(lp->p->state));
  }
  return 1;
}

static void push_names(lua_State* L, const char* const* names, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; names && i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

// ---- udp link counters, re-arm, e-stop ----------------------------------------------------------

static void set_num(lua_State* L, const char* k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State* L, const char* k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

// the link counters as a table: received, accepted, dropped = { crc = n, ... }, rtt_*_us, ...
static void push_link_stats(lua_State* L, const sp_udp_stats* s) {
  lua_createtable(L, 0, 16);
  set_int(L, "received", s->received);
  set_int(L, "accepted", s->accepted);
  set_int(L, "dropped_total", s->dropped_total);
  set_int(L, "lost", s->lost);
  set_int(L, "sent", s->sent);
  set_int(L, "send_errors", s->send_errors);
  set_int(L, "rtt_samples", s->rtt_samples);
  set_num(L, "rtt_last_us", s->rtt_last_us);
  set_num(L, "rtt_mean_us", s->rtt_mean_us);
  set_num(L, "rtt_p50_us", s->rtt_p50_us);
  set_num(L, "rtt_p99_us", s->rtt_p99_us);
  set_num(L, "rtt_max_us", s->rtt_max_us);
  set_num(L, "since_rx", s->since_rx_s);
  lua_createtable(L, 0, SP_UDP_DROP_COUNT);
  for (int i = 0; i < SP_UDP_DROP_COUNT; i++) set_int(L, sp_udp_drop_name(i), s->dropped[i]);
  lua_setfield(L, -2, "dropped");
}

static int m_stats(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  sp_udp_stats s;
  if (sp_plant_udp_stats(p, &s))
    return spL_failure(L, "stats: link counters exist for udp plants only (this one is %s)",
                       p->caps.backend);
  uint32_t status = 0;
  sp_plant_udp_status(p, &status);
  push_link_stats(L, &s);
  set_int(L, "status", status);
  return 1;
}

static int m_rearm(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int rc = sp_plant_udp_rearm(p);
  if (rc == SP_EINVAL) return luaL_error(L, "rearm: only udp plants can be re-armed");
  if (rc) return lifecycle_error(L, p, "rearm", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_estop(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int rc = sp_plant_udp_estop(p, SP_PROTO_ESTOP_OPERATOR);
  if (rc == SP_EINVAL) return luaL_error(L, "estop: only udp plants take a remote e-stop");
  if (rc) return lifecycle_error(L, p, "estop", rc);
  lua_settop(L, 1);
  return 1;
}

// ---- bridge -----------------------------------------------------------------------------------

typedef struct lbridge {
  sp_bridge* b;  // NULL after close
  lplant* lp;    // the plant it serves (kept alive by the user value)
} lbridge;

static lbridge* checkbridge(lua_State* L, int arg) {
  lbridge* lb = luaL_testudata(L, arg, BRIDGE_MT);
  if (!lb)
    luaL_argerror(
        L, arg,
        lua_pushfstring(L, "expected a bridge (from hal.bridge), got %s", luaL_typename(L, arg)));
  return lb;
}

// hal.bridge(plant, { listen = "127.0.0.1:9870", realtime = true, rate = 50, watchdog = 0.2,
//                     safe = { 0, 0 }, robot = "rc_car" })
static int l_bridge(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  if (!lp->p) luaL_argerror(L, 1, "expected an open plant, got a closed one");
  luaL_checktype(L, 2, LUA_TTABLE);
  sp_plant* p = lp->p;
  if (lp->lua_model)
    luaL_argerror(L, 1, lua_pushfstring(L, "expected a plant the bridge's threads can step, got a "
                                        "model plant of '%s', a model written in Lua (it runs "
                                        "only on its Lua state's thread)", lp->lua_model));
  sp_bridge_config c = {0};
  c.listen = field_str(L, 2, 2, "listen", 1);
  lua_getfield(L, 2, "realtime");
  c.realtime = lua_toboolean(L, -1);
  lua_pop(L, 1);
  c.rate_hz = field_num(L, 2, 2, "rate", 0, 0);
  c.watchdog_s = field_num(L, 2, 2, "watchdog", 0, 0);
  if (!(c.rate_hz >= 0) || !(c.watchdog_s >= 0) || c.watchdog_s > 3600)
    luaL_argerror(L, 2, "fields 'rate', 'watchdog': expected numbers >= 0 (watchdog <= 3600 s)");
  c.robot = field_str(L, 2, 2, "robot", 0);
  double* safe = scratch(L, (size_t)p->caps.nu);
  if (field_vec(L, 2, 2, "safe", p->caps.nu, safe)) c.u_safe = safe;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return lifecycle_error(L, p, "bridge", SP_ESTATE);

  lbridge* lb = lua_newuserdatauv(L, sizeof(lbridge), 1);
  lb->b = NULL;
  lb->lp = lp;
  luaL_setmetatable(L, BRIDGE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  char msg[256];
  int rc = sp_bridge_new(&lb->b, p, &c, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  lp->served++;
  return 1;
}

static int b_close(lua_State* L) {
  lbridge* lb = checkbridge(L, 1);
  if (lb->b) {
    sp_bridge_free(lb->b);
    lb->b = NULL;
    lb->lp->served--;
  }
  return 0;
}

static sp_bridge* checkopenbridge(lua_State* L, int arg) {
  lbridge* lb = checkbridge(L, arg);
  if (!lb->b) luaL_argerror(L, arg, "expected an open bridge, got a closed one");
  return lb->b;
}

static int b_stats(lua_State* L) {
  sp_bridge_stats s;
  sp_bridge_stats_get(checkopenbridge(L, 1), &s);
  push_link_stats(L, &s.link);
  set_int(L, "steps", s.steps);
  set_int(L, "commands", s.commands);
  set_int(L, "safe_steps", s.safe_steps);
  set_int(L, "sessions", s.sessions);
  set_int(L, "watchdog_trips", s.watchdog_trips);
  set_num(L, "last_trip_silence", s.last_trip_silence_s);
  set_num(L, "watchdog", s.watchdog_s);
  set_int(L, "status", s.status);
  set_int(L, "port", (uint64_t)s.port);
  return 1;
}

// bridge:wait(seconds): sleep (the bridge's threads keep serving); returns early on a signal
static int b_wait(lua_State* L) {
  checkopenbridge(L, 1);
  double s = luaL_checknumber(L, 2);
  if (!(s >= 0) || s > 3600)
    luaL_argerror(L, 2, lua_pushfstring(L, "expected seconds in [0, 3600], got %f", s));
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  lua_pushboolean(L, nanosleep(&ts, NULL) == 0);
  return 1;
}

static int b_index(lua_State* L) {
  lbridge* lb = checkbridge(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (!strcmp(k, "port")) return lua_pushinteger(L, lb->b ? sp_bridge_port(lb->b) : 0), 1;
  luaL_getmetatable(L, BRIDGE_MT);
  lua_getfield(L, -1, "__methods");
  lua_getfield(L, -1, k);
  return 1;
}

static int b_tostring(lua_State* L) {
  lbridge* lb = checkbridge(L, 1);
  if (!lb->b)
    lua_pushliteral(L, "spinal.hal.bridge (closed)");
  else
    lua_pushfstring(L, "spinal.hal.bridge serving %s on port %d", lb->lp->p->caps.robot,
                    sp_bridge_port(lb->b));
  return 1;
}

static const luaL_Reg bridge_methods[] = {
    {"stats", b_stats},
    {"wait", b_wait},
    {"close", b_close},
    {NULL, NULL},
};

// ---- rollout ----------------------------------------------------------------------------------

typedef struct linear_policy {
  int nx, nu;
  const double *K, *x_ref, *u_ff;  // (nu x nx), (nx), (nu)
} linear_policy;

// u = u_ff - K (x - x_ref)
static int act_linear(void* user, double* u, const double* x, double t, long k) {
  const linear_policy* lp = user;
  for (int i = 0; i < lp->nu; i++) {
    double s = lp->u_ff[i];
    for (int j = 0; j < lp->nx; j++) s -= lp->K[i * lp->nx + j] * (x[j] - lp->x_ref[j]);
    u[i] = s;
  }
  return 0;
}

static void push_array(lua_State* L, const double* data, int ndim, int64_t d0, int64_t d1) {
  int64_t shape[2] = {d0, d1};
  sp_array* a = spL_newarray(L, ndim, shape);
  if (d0 * (ndim == 2 ? d1 : 1) > 0)
    memcpy(a->data, data, sizeof(double) * (size_t)(d0 * (ndim == 2 ? d1 : 1)));
}

// a spinal.ctrl as the loop's act callback: u = kappa(x, r, K) with a constant reference r and
// the controller's own gains
typedef struct ctrl_act {
  const sp_ctrl* c;
  sp_ctrl_data* d;  // the controller userdata's workspace
  const double* r;  // (nr)
} ctrl_act;

static int act_ctrl(void* user, double* u, const double* x, double t, long k) {
  const ctrl_act* a = user;
  (void)t, (void)k;
  return sp_ctrl_act(a->c, a->d, u, x, a->r, NULL);
}

// plant:rollout(opts) with opts.policy a linear feedback table, plant:rollout(policy, opts) with
// a spinal.policy, or plant:rollout(ctrl, opts) with a spinal.ctrl and opts.r; each acts in C
static int m_rollout(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  int nx = p->caps.nx, nu = p->caps.nu;
  sp_policy* pol = NULL;
  sp_ctrl* ctl = NULL;
  int o = 2;
  if (luaL_testudata(L, 2, SP_CTRL_MT)) {
    ctl = spL_checkctrl(L, 2);
    if (ctl->nx != nx || ctl->nu != nu)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "expected a controller with nx = %d, nu = %d (the plant's), "
                                    "got nx = %d, nu = %d", nx, nu, ctl->nx, ctl->nu));
    o = 3;
  } else if (lua_type(L, 2) == LUA_TUSERDATA) {
    pol = spL_checkpolicy(L, 2);
    if (pol->nx != nx || pol->nu != nu)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "expected a policy with nx = %d, nu = %d (the plant's), "
                                    "got nx = %d, nu = %d", nx, nu, pol->nx, pol->nu));
    o = 3;
  }
  luaL_checktype(L, o, LUA_TTABLE);

  // every check before any side effect
  double steps = field_num(L, o, o, "steps", 0, 0), seconds = field_num(L, o, o, "seconds", 0, 0);
  if (steps < 0 || steps != floor(steps) || seconds < 0 || !isfinite(seconds) ||
      (steps == 0 && seconds == 0))
    luaL_argerror(L, o, "expected field 'steps' (an integer > 0) or 'seconds' (a number > 0)");
  // refused up front when the trajectory could not fit in memory (it grows as the rollout runs)
  long max_steps = sp_loop_max_steps(nx, nu);
  if ((steps > 0 ? steps : seconds * p->caps.rate_hz) > (double)max_steps)
    luaL_argerror(
        L, o,
        lua_pushfstring(L,
                        "field '%s': %f is longer than this machine's memory allows: "
                        "at most %d steps (%f s at %f Hz)",
                        steps > 0 ? "steps" : "seconds", steps > 0 ? steps : seconds,
                        (lua_Integer)max_steps, max_steps / p->caps.rate_hz, p->caps.rate_hz));
  double seed = field_num(L, o, o, "seed", 0, 0);
  if (seed < 0 || seed != floor(seed))
    luaL_argerror(L, o, lua_pushfstring(L, "field 'seed': expected an integer >= 0, got %f", seed));
  double watchdog = field_num(L, o, o, "watchdog", 0, 0);
  if (!(watchdog >= 0))
    luaL_argerror(L, o,
                  lua_pushfstring(L, "field 'watchdog': expected seconds >= 0, got %f", watchdog));
  lua_getfield(L, o, "explore");
  int explore = lua_toboolean(L, -1);
  lua_getfield(L, o, "realtime");
  int realtime = lua_toboolean(L, -1);
  lua_getfield(L, o, "stop_on_fault");
  int stop_on_fault = lua_toboolean(L, -1);
  lua_pop(L, 3);
  if (realtime && checklplant(L, 1)->lua_model)
    luaL_argerror(L, o, lua_pushfstring(L, "expected realtime = false for a model plant of '%s', "
                                        "a model written in Lua (it runs only in lockstep: the "
                                        "real-time thread never calls Lua)",
                                        checklplant(L, 1)->lua_model));
  double* d = scratch(L, 3 * (size_t)nx + (size_t)nu * nx + 6 * (size_t)nu);
  double *x0 = d, *x_ref = x0 + nx, *K = x_ref + nx, *u_ff = K + (size_t)nu * nx;
  double *safe = u_ff + nu, *umin = safe + nu, *umax = umin + nu, *rate = umax + nu;
  int has_x0 = field_vec(L, o, o, "x0", nx, x0);
  int has_min = field_vec(L, o, o, "u_min", nu, umin);
  int has_max = field_vec(L, o, o, "u_max", nu, umax);
  int has_rate = field_vec(L, o, o, "rate_max", nu, rate);
  field_vec(L, o, o, "safe", nu, safe);
  double* r = NULL;
  if (ctl) {
    r = scratch(L, (size_t)ctl->nr);
    if (!field_vec(L, o, o, "r", ctl->nr, r) && ctl->nr > 0)
      luaL_argerror(L, o,
                    lua_pushfstring(L, "field 'r': expected the controller's reference (%d "
                                    "numbers), got nil", ctl->nr));
  } else if (!pol) {
    if (lua_getfield(L, o, "policy") != LUA_TTABLE)
      luaL_argerror(L, o,
                    lua_pushfstring(L,
                                    "field 'policy': expected a table { K = (%d x %d), "
                                    "x_ref = (%d), u_ff = (%d) }, got %s",
                                    nu, nx, nx, nu, luaL_typename(L, -1)));
    int pt = lua_gettop(L);
    if (!field_vec(L, pt, o, "K", nu * nx, K))
      luaL_argerror(L, o, lua_pushfstring(L, "field 'policy.K': expected a %d x %d gain", nu, nx));
    field_vec(L, pt, o, "x_ref", nx, x_ref);
    field_vec(L, pt, o, "u_ff", nu, u_ff);
    lua_pop(L, 1);
  }
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return lifecycle_error(L, p, "rollout", SP_ESTATE);
  if (has_x0 && !p->caps.can_reset) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s plants cannot reset to x0: start the robot at (", p->caps.backend);
    luaL_addvalue(&b);
    for (int i = 0; i < nx; i++) {
      lua_pushfstring(L, i ? ", %f" : "%f", x0[i]);
      luaL_addvalue(&b);
    }
    luaL_addstring(&b, ") or leave x0 out");
    luaL_pushresult(&b);
    return luaL_argerror(L, o, lua_tostring(L, -1));
  }

  // safety filter and lockstep loop for this rollout
  char msg[256];
  sp_safety_config sc = {.nx = nx,
                         .nu = nu,
                         .u_min = has_min ? umin : p->caps.u_min,
                         .u_max = has_max ? umax : p->caps.u_max,
                         .rate_max = has_rate ? rate : NULL,
                         .u_safe = safe,
                         .period_s = 1.0 / p->caps.rate_hz,
                         .watchdog_s = watchdog};
  linear_policy lin = {nx, nu, K, x_ref, u_ff};
  ctrl_act ca = {ctl, ctl ? spL_ctrldata(L, 2) : NULL, r};
  sp_act_fn act = ctl   ? act_ctrl
                  : !pol ? act_linear
                  : explore ? sp_policy_loop_sample
                            : sp_policy_loop_act;
  void* user = ctl ? (void*)&ca : pol ? (void*)spL_policydata(L, 2) : (void*)&lin;
  sp_loop_config lc = {.mode = realtime ? SP_LOOP_REALTIME : SP_LOOP_LOCKSTEP,
                       .act = act,
                       .user = user,
                       .stop_on_fault = stop_on_fault};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  int rc = sp_safety_new(&s, &sc, msg, sizeof msg);
  if (rc) return luaL_argerror(L, o, msg);
  if ((rc = sp_loop_new(&l, p, s, &lc, msg, sizeof msg))) {
    sp_safety_free(s);
    return spL_failure(L, "rollout: %s", msg);
  }
  sp_traj tr;
  sp_rollout_opts ro = {
      .steps = (long)steps, .seconds = seconds, .x0 = has_x0 ? x0 : NULL, .seed = (uint64_t)seed};
  rc = sp_loop_rollout(l, &tr, &ro);
  sp_loop_free(l);
  sp_safety_free(s);
  if (!rc && spL_model_pending(L)) sp_traj_free(&tr);
  spL_model_check(L);
  if (rc) return spL_failure(L, "rollout: %s", sp_strerror(rc));

  // the trajectory as a table of arrays (flags as numbers: exact for 32-bit values)
  lua_createtable(L, 0, 12);
  int out = lua_gettop(L);
  push_array(L, tr.t, 1, tr.n + 1, 0);
  lua_setfield(L, out, "t");
  push_array(L, tr.x, 2, tr.n + 1, nx);
  lua_pushvalue(L, -1);
  lua_setfield(L, out, "X");  // the estimators' names (spinal.grad) for the same arrays
  lua_setfield(L, out, "x");
  push_array(L, tr.u, 2, tr.n, nu);
  lua_pushvalue(L, -1);
  lua_setfield(L, out, "U");
  lua_setfield(L, out, "u");
  int64_t shape[1] = {tr.n};
  sp_array* f = spL_newarray(L, 1, shape);
  for (long i = 0; i < tr.n; i++) f->data[i] = (double)tr.flags[i];
  lua_setfield(L, out, "flags");
  sp_array* ks = spL_newarray(L, 1, shape);
  for (long i = 0; i < tr.n; i++) ks->data[i] = (double)tr.k[i];
  lua_setfield(L, out, "k");
  lua_pushinteger(L, tr.n);
  lua_setfield(L, out, "n");
  lua_pushnumber(L, tr.dt);
  lua_setfield(L, out, "dt");
  lua_pushnumber(L, (double)tr.n * tr.dt);
  lua_setfield(L, out, "data_seconds");  // plant time this rollout used
  lua_pushinteger(L, (lua_Integer)tr.seed);
  lua_setfield(L, out, "seed");
  lua_pushinteger(L, (lua_Integer)tr.lost);
  lua_setfield(L, out, "lost");
  lua_pushstring(L, tr.robot);
  lua_setfield(L, out, "robot");
  lua_pushstring(L, tr.backend);
  lua_setfield(L, out, "backend");
  sp_traj_free(&tr);
  return 1;
}

static int m_index(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (lp->p) {
    const sp_plant_caps* c = &lp->p->caps;
    if (!strcmp(k, "nx")) return lua_pushinteger(L, c->nx), 1;
    if (!strcmp(k, "nu")) return lua_pushinteger(L, c->nu), 1;
    if (!strcmp(k, "rate")) return lua_pushnumber(L, c->rate_hz), 1;
    if (!strcmp(k, "robot")) return lua_pushstring(L, c->robot), 1;
    if (!strcmp(k, "backend")) return lua_pushstring(L, c->backend), 1;
    if (!strcmp(k, "can_reset")) return lua_pushboolean(L, c->can_reset), 1;
    if (!strcmp(k, "x_names")) return push_names(L, c->x_names, c->nx), 1;
    if (!strcmp(k, "u_names")) return push_names(L, c->u_names, c->nu), 1;
  }
  if (!strcmp(k, "state"))
    return lua_pushstring(L, lp->p ? sp_plant_state_name(lp->p->state) : "closed"), 1;
  luaL_getmetatable(L, PLANT_MT);
  lua_getfield(L, -1, "__methods");
  lua_getfield(L, -1, k);
  return 1;
}

static const luaL_Reg plant_methods[] = {
    {"read", m_read},   {"write", m_write},       {"reset", m_reset},
    {"seed", m_seed},   {"activate", m_activate}, {"deactivate", m_deactivate},
    {"close", m_close}, {"rollout", m_rollout},   {"perturb", m_perturb},
    {"stats", m_stats}, {"rearm", m_rearm},       {"estop", m_estop},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"open", l_open},
    {"backends", l_backends},
    {"bridge", l_bridge},
    {NULL, NULL},
};

int luaopen_spinal_hal(lua_State* L) {
  if (luaL_newmetatable(L, PLANT_MT)) {
    luaL_newlib(L, plant_methods);
    lua_setfield(L, -2, "__methods");
    lua_pushcfunction(L, m_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, BRIDGE_MT)) {
    luaL_newlib(L, bridge_methods);
    lua_setfield(L, -2, "__methods");
    lua_pushcfunction(L, b_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, b_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, b_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, b_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  // the limits every plant applies (robot files are checked against the same numbers)
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, SP_PLANT_MAX_SUBSTEPS);
  lua_setfield(L, -2, "substeps");
  lua_pushinteger(L, SP_PLANT_MAX_DELAY);
  lua_setfield(L, -2, "delay");
  lua_setfield(L, -2, "limits");
  return 1;
}
