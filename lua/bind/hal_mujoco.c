// hal_mujoco.c: the "mujoco" backend's configuration table for hal.open (hal/backend_mujoco.h):
// which MJCF to load, which quantities make the state, which actuators each action drives, noise,
// delay and model perturbations. Parsed in named steps: settings, sizes, names, state sources,
// actuator targets, vectors, wheels and perturbations.
//
//   hal.open("mujoco", { mjcf = "robots/rc_car.xml", rate = 50,
//     state = { { qpos = "chassis", index = 1 }, { sensor = "chassis_vel" }, { yaw = "chassis" } },
//     actuators = { "throttle", { actuator = "steer", scale = 0.4 } },
//     x_names = {...}, u_names = {...}, substeps = 10, delay = 1, sensor_std = {...},
//     process_std = 0.01, x0 = {...}, keyframe = "rest", wheels = {...}, seed = 1,
//     perturb = { mass = 1.1, friction = 0.8, gear = { throttle = 0.9 } } })
#include <limits.h>
#include <math.h>
#include <string.h>

#include "hal/lowlevel.h"
#include "hal_bind.h"

static const char* const mj_sources[] = {"qpos",     "qvel",     "sensor",   "yaw",
                                         "body_pos", "body_yaw", "body_vel", "body_angvel"};

// the names list at field (a list of n strings) into out, or 0 when the field is nil
static int field_names(const spA_table* t, const char* field, int n, const char** out) {
  lua_State* L = t->L;
  if (lua_getfield(L, t->idx, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != n)
    spA_fielderror(t, field, "expected a list of %d names, got %s", n, luaL_typename(L, -1));
  for (int i = 0; i < n; i++) {
    if (lua_rawgeti(L, -1, i + 1) != LUA_TSTRING) {
      const char* got = luaL_typename(L, -1);
      spA_fielderror(t, lua_pushfstring(L, "%s[%d]", field, i + 1), "expected a string, got %s",
                     got);
    }
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

// a finite, nonzero scale and a finite offset of the entry e
static void scale_offset(const spA_table* e, double* scale, double* offset) {
  *scale = spA_number(e, "scale", 1);
  *offset = spA_number(e, "offset", 0);
  if (*scale == 0 || !isfinite(*scale) || !isfinite(*offset))
    spA_argerror(e->L, e->arg, "field '%s': expected a finite, nonzero scale and a finite offset",
                 e->path);
}

// one state source at the top of the stack: { qpos = "joint", index = 1, scale, offset } (any
// source key), or the robot files' resolved form { source = "qpos", name = "joint", ... }
static void parse_state(const spA_table* t, int i, sp_plant_mujoco_state* s) {
  lua_State* L = t->L;
  const char* path = lua_pushfstring(L, "state[%d]", i + 1);
  spA_table e = spA_nested(t, -2, path);
  lua_pop(L, 1);
  if (!lua_istable(L, e.idx))
    spA_argerror(L, t->arg,
                 "field '%s': expected a source such as { qpos = \"joint\", index = 1 }, got %s",
                 e.path, luaL_typename(L, e.idx));
  int found = 0;
  const char* src = spA_string(&e, "source", NULL, 0);
  for (int k = 0; k < 8; k++) {
    if (src && !strcmp(src, mj_sources[k])) {
      s->source = (sp_plant_mujoco_source)k;
      s->name = spA_string(&e, "name", NULL, 0);
      found++;
    }
    const char* name = spA_string(&e, mj_sources[k], NULL, 0);
    if (name) {
      s->source = (sp_plant_mujoco_source)k;
      s->name = name;
      found++;
    }
  }
  if (found != 1)
    spA_argerror(L, t->arg,
                 "field '%s': expected exactly one source (qpos, qvel, sensor, yaw, body_pos, "
                 "body_yaw, body_vel, body_angvel), got %d",
                 e.path, found);
  s->index = (int)spA_integer(&e, "index", 1, 1, SP_PLANT_MAX_INDEX, 0) - 1;
  scale_offset(&e, &s->scale, &s->offset);
}

// one actuator target at stack index e: "name" or { actuator | name = "name", scale, offset }
static void parse_actuator(const spA_table* t, int e, int action, int j,
                           sp_plant_mujoco_actuator* a) {
  lua_State* L = t->L;
  a->action = action;
  a->scale = 1;
  if (lua_type(L, e) == LUA_TSTRING) {
    a->name = lua_tostring(L, e);
    return;
  }
  const char* path = lua_pushfstring(L, "actuators[%d]", action + 1);
  spA_table et = spA_nested(t, e, path);
  lua_pop(L, 1);
  if (!lua_istable(L, e))
    spA_argerror(L, t->arg,
                 "field '%s': expected an actuator name or { actuator = name, scale = s, "
                 "offset = o }, got %s",
                 et.path, luaL_typename(L, e));
  a->name = spA_string(&et, "actuator", NULL, 0);
  if (!a->name) a->name = spA_string(&et, "name", NULL, 0);
  if (!a->name)
    spA_argerror(L, t->arg, "field '%s[%d]': expected an actuator name", et.path, j + 1);
  scale_offset(&et, &a->scale, &a->offset);
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

// one kind of perturbation: a global scale, or { name = scale } per body, geom or actuator
static void parse_scales(const spA_table* t, const char* key, double* global,
                         const sp_plant_mujoco_scale** list, int* count) {
  lua_State* L = t->L;
  int ty = lua_getfield(L, t->idx, key);
  int v = lua_gettop(L);
  if (ty == LUA_TNUMBER) {
    *global = lua_tonumber(L, v);
    if (!(*global > 0) || !isfinite(*global))
      spA_fielderror(t, key, "expected a scale > 0, got %f", *global);
  } else if (ty == LUA_TTABLE) {
    int n = 0;
    for (lua_pushnil(L); lua_next(L, v); lua_pop(L, 1)) n++;
    sp_plant_mujoco_scale* s = spA_scratch_bytes(L, sizeof *s * (size_t)n);
    lua_insert(L, v);  // keep the scratch below the table
    v++;
    int i = 0;
    for (lua_pushnil(L); lua_next(L, v); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > 0))
        spA_fielderror(t, key, "expected { name = scale > 0, ... }, got a %s key with a %s value",
                       luaL_typename(L, -2), luaL_typename(L, -1));
      s[i].name = lua_tostring(L, -2);
      s[i].scale = lua_tonumber(L, -1);
      i++;
    }
    *list = s;
    *count = n;
  } else if (ty != LUA_TNIL) {
    spA_fielderror(t, key, "expected a scale or { name = scale }, got %s", luaL_typename(L, v));
  }
  lua_pop(L, 1);  // the value; scratch stays on the stack
}

void spH_mujoco_perturb(const spA_table* t, sp_plant_mujoco_perturbation* q) {
  memset(q, 0, sizeof *q);
  if (!t->idx) return;
  if (!lua_istable(t->L, t->idx))
    spA_argerror(t->L, t->arg,
                 "expected perturbations { mass, friction, gear, damping, frictionloss }, got %s",
                 luaL_typename(t->L, t->idx));
  // joint losses: damping is a global scale, frictionloss an added force or torque
  if (spA_has(t, "damping")) q->damping = spA_positive(t, "damping", 0, 1);
  if (spA_has(t, "frictionloss")) q->frictionloss = spA_range(t, "frictionloss", 0, 0, NAN, 1);
  // the "real" robot's variants (ranges: docs/quadruped.md; the backend checks them again)
  q->payload = spA_range(t, "payload", 0, 0, 1e4, 0);
  q->payload_x = spA_range(t, "payload_x", 0, -10, 10, 0);
  q->payload_y = spA_range(t, "payload_y", 0, -10, 10, 0);
  if (spA_has(t, "motor")) q->motor = spA_positive(t, "motor", 0, 1);
  if (spA_has(t, "pd")) q->pd = spA_positive(t, "pd", 0, 1);
  q->latency = spA_range(t, "latency", 0, 0, 10, 0);
  q->noise = spA_range(t, "noise", 0, 0, 1e3, 0);
  q->push = spA_range(t, "push", 0, -1e4, 1e4, 0);
  q->push_time = spA_range(t, "push_time", 0, 0, 1e9, 0);
  parse_scales(t, "mass", &q->mass, &q->body_mass, &q->nbody_mass);
  parse_scales(t, "friction", &q->friction, &q->geom_friction, &q->ngeom_friction);
  parse_scales(t, "gear", &q->gear, &q->actuator_gear, &q->nactuator_gear);
}

// ---- the configuration, step by step -----------------------------------------------------------

// scalar settings: files, rate, substeps, delay, seed, process noise
static void parse_settings(const spA_table* t, sp_plant_mujoco_config* c) {
  c->mjcf = spA_string(t, "mjcf", NULL, 0);
  c->robot = spA_string(t, "robot", NULL, 0);
  c->keyframe = spA_string(t, "keyframe", NULL, 0);
  c->rate_hz = spA_range(t, "rate", 0, 0, NAN, 0);
  spH_sim_settings(t, 0, &c->substeps, &c->delay_ticks, &c->seed);
  c->process_std_all = spA_range(t, "process_std", 0, 0, NAN, 0);
}

// the state and action lists (st, at: stack indices, nil when absent) and their sizes, from the
// lists themselves or from x_names / u_names for tables keyed by name
static void parse_sizes(const spA_table* t, int st, int at, int* nx, int* nu) {
  lua_State* L = t->L;
  if (!lua_isnil(L, st) && !lua_istable(L, st))
    spA_fielderror(t, "state", "expected a list of sources, got %s", luaL_typename(L, st));
  if (!lua_isnil(L, at) && !lua_istable(L, at))
    spA_fielderror(t, "actuators", "expected a list per action, got %s", luaL_typename(L, at));
  lua_getfield(L, t->idx, "x_names");
  *nx = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  lua_getfield(L, t->idx, "u_names");
  *nu = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  lua_pop(L, 2);
  if (lua_istable(L, st) && lua_rawlen(L, st) > 0) *nx = (int)lua_rawlen(L, st);
  if (lua_istable(L, at) && lua_rawlen(L, at) > 0) *nu = (int)lua_rawlen(L, at);
  if (lua_isnil(L, st)) *nx = 0;
  if (lua_isnil(L, at)) *nu = 0;
  int top = lua_gettop(L);
  lua_pushnil(L);
  if (!*nx && lua_istable(L, st) && lua_next(L, st))
    spA_fielderror(t, "state", "a table keyed by state name needs 'x_names' (the order)");
  lua_settop(L, top);
  lua_pushnil(L);
  if (!*nu && lua_istable(L, at) && lua_next(L, at))
    spA_fielderror(t, "actuators", "a table keyed by action name needs 'u_names' (the order)");
  lua_settop(L, top);
}

// the state sources of the list at st
static void parse_states(const spA_table* t, int st, int nx, sp_plant_mujoco_config* c) {
  lua_State* L = t->L;
  sp_plant_mujoco_state* s = spA_scratch_bytes(L, sizeof *s * (size_t)nx);
  for (int i = 0; i < nx; i++) {
    if (get_entry(L, st, i, c->x_names) == LUA_TNIL)
      spA_fielderror(t, "state", "no source for state %d%s%s", i + 1, c->x_names ? " " : "",
                     c->x_names ? c->x_names[i] : "");
    parse_state(t, i, &s[i]);
    lua_pop(L, 1);
  }
  c->nx = nx;
  c->state = s;
}

// the actuator targets of the list at at: count, then fill
static void parse_actuators(const spA_table* t, int at, int nu, sp_plant_mujoco_config* c) {
  lua_State* L = t->L;
  int nact = 0;
  for (int j = 0; j < nu; j++) {
    if (get_entry(L, at, j, c->u_names) == LUA_TNIL)
      spA_fielderror(t, "actuators", "no actuator for action %d%s%s", j + 1, c->u_names ? " " : "",
                     c->u_names ? c->u_names[j] : "");
    nact += is_target_list(L, lua_gettop(L)) ? (int)lua_rawlen(L, -1) : 1;
    lua_pop(L, 1);
  }
  sp_plant_mujoco_actuator* a = spA_scratch_bytes(L, sizeof *a * (size_t)nact);
  int k = 0;
  for (int j = 0; j < nu; j++) {
    get_entry(L, at, j, c->u_names);
    int e = lua_gettop(L);
    if (is_target_list(L, e)) {
      int n = (int)lua_rawlen(L, e);
      for (int r = 0; r < n; r++) {
        lua_rawgeti(L, e, r + 1);
        parse_actuator(t, lua_gettop(L), j, r, &a[k++]);
        lua_pop(L, 1);
      }
    } else {
      parse_actuator(t, e, j, 0, &a[k++]);
    }
    lua_pop(L, 1);
  }
  c->nu = nu;
  c->actuators = a;
  c->nactuators = nact;
}

// vectors over the state and the command (sensor_std may be one number for every state)
static void parse_vectors(const spA_table* t, int nx, int nu, sp_plant_mujoco_config* c) {
  lua_State* L = t->L;
  double* d = spA_scratch(L, 2 * (size_t)nx + 3 * (size_t)nu);
  double *x0 = d, *vstd = x0 + nx, *uinit = vstd + nx, *umin = uinit + nu, *umax = umin + nu;
  if (nx && spA_field_vector(t, "x0", x0, nx, 0)) c->x0 = x0;
  lua_getfield(L, t->idx, "sensor_std");
  int all = lua_isnumber(L, -1);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (all) {
    for (int i = 0; i < nx; i++) vstd[i] = v;
    if (nx) c->sensor_std = vstd;
  } else if (nx && spA_field_vector(t, "sensor_std", vstd, nx, 0)) {
    c->sensor_std = vstd;
  }
  if (nu && spA_field_vector(t, "u_init", uinit, nu, 0)) c->u_init = uinit;
  if (nu && spA_field_vector(t, "u_min", umin, nu, 0)) c->u_min = umin;
  if (nu && spA_field_vector(t, "u_max", umax, nu, 0)) c->u_max = umax;
}

// the wheel joints (a list of names)
static void parse_wheels(const spA_table* t, sp_plant_mujoco_config* c) {
  lua_State* L = t->L;
  int ty = lua_getfield(L, t->idx, "wheels");
  int n = ty == LUA_TTABLE ? (int)lua_rawlen(L, -1) : -1;
  lua_pop(L, 1);
  if (ty == LUA_TNIL) return;
  if (n < 0)
    spA_fielderror(t, "wheels", "expected a list of joint names, got %s", lua_typename(L, ty));
  const char** w = spA_scratch_bytes(L, sizeof(char*) * (size_t)(n + 1));
  field_names(t, "wheels", n, w);
  c->wheels = w;
  c->nwheels = n;
}

// the low-level controller { kind = "joint_pd", rate = Hz, params = { kp = 40, kd = { ... } } }
// of a simulated plant (hal/lowlevel.h), kept alive in scratch on the stack; NULL when absent
const sp_lowlevel_config* spH_lowlevel_config(const spA_table* t) {
  lua_State* L = t->L;
  spA_table lt = spA_subtable(t, "lowlevel", 0);
  if (!lt.idx) return NULL;
  static const char* const keys[] = {"kind", "rate", "every", "params", NULL};
  spA_check_keys(&lt, keys);
  sp_lowlevel_config* ll = spA_scratch_bytes(L, sizeof *ll);
  memset(ll, 0, sizeof *ll);
  ll->kind = spA_string(&lt, "kind", NULL, 1);
  ll->rate_hz = spA_range(&lt, "rate", 0, 0, NAN, 0);
  ll->every = (int)spA_integer(&lt, "every", 0, 0, SP_PLANT_MAX_SUBSTEPS, 0);
  spA_table pt = spA_subtable(&lt, "params", 0);
  if (pt.idx) {
    int n = 0, nval = 0;
    for (lua_pushnil(L); lua_next(L, pt.idx); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        spA_fielderror(&pt, "?", "expected settings by name, got a %s key", luaL_typename(L, -2));
      n++;
      nval += lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 1;
    }
    sp_lowlevel_param* prm = spA_scratch_bytes(L, sizeof *prm * (size_t)(n + 1));
    double* v = spA_scratch(L, (size_t)nval + 1);
    int i = 0;
    for (lua_pushnil(L); lua_next(L, pt.idx); lua_pop(L, 1)) {
      const char* name = lua_tostring(L, -2);
      prm[i].name = name;
      prm[i].v = v;
      if (lua_isnumber(L, -1)) {
        *v++ = lua_tonumber(L, -1);
        prm[i].n = 1;
      } else if (lua_istable(L, -1) && lua_rawlen(L, -1) > 0) {
        int m = (int)lua_rawlen(L, -1);
        for (int k = 1; k <= m; k++) {
          if (lua_rawgeti(L, -1, k) != LUA_TNUMBER)
            spA_fielderror(&pt, name, "expected a number or a list of numbers");
          *v++ = lua_tonumber(L, -1);
          lua_pop(L, 1);
        }
        prm[i].n = m;
      } else {
        spA_fielderror(&pt, name, "expected a number or a list of numbers, got %s",
                       luaL_typename(L, -1));
      }
      i++;
    }
    ll->params = prm;
    ll->nparams = n;
  }
  return ll;
}

void spH_mujoco_config(lua_State* L, int arg, sp_plant_mujoco_config* c,
                       sp_plant_mujoco_perturbation* q) {
  spA_table t = spA_opts(L, arg, 0);
  memset(c, 0, sizeof *c);
  parse_settings(&t, c);

  // the state and action lists stay on the stack while their entries are read
  lua_getfield(L, arg, "state");
  int st = lua_gettop(L);
  if (lua_getfield(L, arg, "actuators") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, arg, "action");
  }
  int at = lua_gettop(L);
  int nx, nu;
  parse_sizes(&t, st, at, &nx, &nu);
  const char** names = spA_scratch_bytes(L, sizeof(char*) * (size_t)(nx + nu + 1));
  if (nx && field_names(&t, "x_names", nx, names)) c->x_names = names;
  if (nu && field_names(&t, "u_names", nu, names + nx)) c->u_names = names + nx;
  if (nx) parse_states(&t, st, nx, c);
  if (nu) parse_actuators(&t, at, nu, c);
  parse_vectors(&t, nx, nu, c);
  parse_wheels(&t, c);
  c->lowlevel = spH_lowlevel_config(&t);
  spA_table pt = spA_subtable(&t, "perturb", 0);
  spH_mujoco_perturb(&pt, q);
  if (pt.idx) c->perturb = q;
}
