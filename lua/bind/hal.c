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
//   local tr = plant:rollout { steps = 500 (or seconds = 10), x0 = ..., seed = 3,
//                              policy = { K = K, x_ref = ..., u_ff = ... },  -- u = u_ff - K (x -
//                              x_ref) safe = {...}, u_min = {...}, u_max = {...}, rate_max = {...},
//                              watchdog = 0.1 }
//   tr.t (n+1) tr.x (n+1, nx) tr.u (n, nu) tr.flags (n) tr.n tr.dt tr.seed tr.robot tr.backend
//   tr.lost
//   local car = hal.open("mujoco", { mjcf = "robots/rc_car.xml", rate = 50,
//     state = { { qpos = "chassis", index = 1 }, { qpos = "chassis", index = 2 },
//               { sensor = "chassis_vel" }, { yaw = "chassis" } },
//     actuators = { "throttle", { actuator = "steer", scale = 0.4 } },
//     x_names = {...}, u_names = {...}, substeps = 10, delay = 1, sensor_std = {...},
//     process_std = 0.01, x0 = {...}, keyframe = "rest", wheels = {...}, seed = 1,
//     perturb = { mass = 1.1, friction = 0.8, gear = { throttle = 0.9 } } })
//   car:perturb { mass = { chassis = 1.2 } }    car:perturb()  -- back to the MJCF's values
// The policy is the built-in linear state feedback, computed in C inside the loop (Lua never sits
// inside a control tick). Configuration mistakes raise errors naming the field; failures of the
// plant itself (a backend that cannot open) return nil, message.
#include "hal/hal.h"

#include <math.h>
#include <string.h>

#include "bind.h"
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/model/model.h"
#include "hal/backend_model.h"
#include "hal/backend_mujoco.h"
#include "hal/loop.h"
#include "hal/safety.h"

#define PLANT_MT "spinal.hal.plant"

// the userdata: spL_plant (bind.h): the plant (NULL until opened, and after close) and the number
// of live loops (spinal.loop) driving it
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
  if (sub < 1 || sub != floor(sub) || sub > 1e6)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'substeps': expected an integer >= 1, got %f", sub));
  if (delay < 0 || delay != floor(delay) || delay > 100000)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'delay': expected an integer >= 0, got %f", delay));
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
                  lua_pushfstring(L, "expected perturbations { mass, friction, gear }, got %s",
                                  luaL_typename(L, t)));
  static const char* const keys[3] = {"mass", "friction", "gear"};
  double* global[3] = {&q->mass, &q->friction, &q->gear};
  const sp_plant_mujoco_scale** lists[3] = {&q->body_mass, &q->geom_friction, &q->actuator_gear};
  int* counts[3] = {&q->nbody_mass, &q->ngeom_friction, &q->nactuator_gear};
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
  if (sub < 0 || sub != floor(sub) || sub > 1e6)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'substeps': expected an integer >= 0, got %f", sub));
  if (delay < 0 || delay != floor(delay) || delay > 100000)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "field 'delay': expected an integer >= 0, got %f", delay));
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

static int l_open(lua_State* L) {
  const char* uri = luaL_checkstring(L, 1);
  sp_plant_model_config mc;
  sp_plant_mujoco_config jc;
  sp_plant_mujoco_perturbation jq;
  const void* cfg = NULL;
  if (!strcmp(uri, "model") || !strncmp(uri, "model://", 8)) {
    parse_model_config(L, 2, &mc);
    cfg = &mc;
  } else if ((!strcmp(uri, "mujoco") || !strncmp(uri, "mujoco://", 9)) && !lua_isnoneornil(L, 2)) {
    parse_mujoco_config(L, 2, &jc, &jq);
    if (!jc.mjcf && strncmp(uri, "mujoco://", 9))
      luaL_argerror(L, 2, "field 'mjcf': expected the MJCF file name (or open \"mujoco://PATH\")");
    cfg = &jc;
  } else if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
  }

  // the userdata exists (empty, safe to collect) before the plant is opened
  lplant* lp = lua_newuserdatauv(L, sizeof(lplant), 0);
  lp->p = NULL;
  lp->users = 0;
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
  if (lp->p) checkplant(L, 1);
  sp_plant_close(lp->p);
  lp->p = NULL;
  return 0;
}

// collected while a loop still drives it (only at lua_close, in an unusual order): leave it open
// rather than pull the plant from under the control thread
static int m_gc(lua_State* L) {
  lplant* lp = checklplant(L, 1);
  if (lp->users > 0) return 0;
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

static int m_rollout(lua_State* L) {
  sp_plant* p = checkplant(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int nx = p->caps.nx, nu = p->caps.nu;

  // every check before any side effect
  double steps = field_num(L, 2, 2, "steps", 0, 0), seconds = field_num(L, 2, 2, "seconds", 0, 0);
  if (steps < 0 || steps != floor(steps) || seconds < 0 || !isfinite(seconds) ||
      (steps == 0 && seconds == 0))
    luaL_argerror(L, 2, "expected field 'steps' (an integer > 0) or 'seconds' (a number > 0)");
  double seed = field_num(L, 2, 2, "seed", 0, 0);
  if (seed < 0 || seed != floor(seed))
    luaL_argerror(L, 2, lua_pushfstring(L, "field 'seed': expected an integer >= 0, got %f", seed));
  double watchdog = field_num(L, 2, 2, "watchdog", 0, 0);
  if (!(watchdog >= 0))
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "field 'watchdog': expected seconds >= 0, got %f", watchdog));
  double* d = scratch(L, 3 * (size_t)nx + (size_t)nu * nx + 6 * (size_t)nu);
  double *x0 = d, *x_ref = x0 + nx, *K = x_ref + nx, *u_ff = K + (size_t)nu * nx;
  double *safe = u_ff + nu, *umin = safe + nu, *umax = umin + nu, *rate = umax + nu;
  int has_x0 = field_vec(L, 2, 2, "x0", nx, x0);
  int has_min = field_vec(L, 2, 2, "u_min", nu, umin);
  int has_max = field_vec(L, 2, 2, "u_max", nu, umax);
  int has_rate = field_vec(L, 2, 2, "rate_max", nu, rate);
  field_vec(L, 2, 2, "safe", nu, safe);
  if (lua_getfield(L, 2, "policy") != LUA_TTABLE)
    luaL_argerror(L, 2,
                  lua_pushfstring(L,
                                  "field 'policy': expected a table { K = (%d x %d), "
                                  "x_ref = (%d), u_ff = (%d) }, got %s",
                                  nu, nx, nx, nu, luaL_typename(L, -1)));
  int pol = lua_gettop(L);
  if (!field_vec(L, pol, 2, "K", nu * nx, K))
    luaL_argerror(L, 2, lua_pushfstring(L, "field 'policy.K': expected a %d x %d gain", nu, nx));
  field_vec(L, pol, 2, "x_ref", nx, x_ref);
  field_vec(L, pol, 2, "u_ff", nu, u_ff);
  lua_pop(L, 1);
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return lifecycle_error(L, p, "rollout", SP_ESTATE);

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
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_linear, .user = &lin};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  int rc = sp_safety_new(&s, &sc, msg, sizeof msg);
  if (rc) return luaL_argerror(L, 2, msg);
  if ((rc = sp_loop_new(&l, p, s, &lc, msg, sizeof msg))) {
    sp_safety_free(s);
    return spL_failure(L, "rollout: %s", msg);
  }
  sp_traj tr;
  sp_rollout_opts o = {
      .steps = (long)steps, .seconds = seconds, .x0 = has_x0 ? x0 : NULL, .seed = (uint64_t)seed};
  rc = sp_loop_rollout(l, &tr, &o);
  sp_loop_free(l);
  sp_safety_free(s);
  if (rc) return spL_failure(L, "rollout: %s", sp_strerror(rc));

  // the trajectory as a table of arrays (flags as numbers: exact for 32-bit values)
  lua_createtable(L, 0, 12);
  int out = lua_gettop(L);
  push_array(L, tr.t, 1, tr.n + 1, 0);
  lua_setfield(L, out, "t");
  push_array(L, tr.x, 2, tr.n + 1, nx);
  lua_setfield(L, out, "x");
  push_array(L, tr.u, 2, tr.n, nu);
  lua_setfield(L, out, "u");
  int64_t shape[1] = {tr.n};
  sp_array* f = spL_newarray(L, 1, shape);
  for (long i = 0; i < tr.n; i++) f->data[i] = (double)tr.flags[i];
  lua_setfield(L, out, "flags");
  lua_pushinteger(L, tr.n);
  lua_setfield(L, out, "n");
  lua_pushnumber(L, tr.dt);
  lua_setfield(L, out, "dt");
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
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"open", l_open},
    {"backends", l_backends},
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
  luaL_newlib(L, funcs);
  return 1;
}
