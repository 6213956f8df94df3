// hal_plant.c: the plant userdata of spinal.hal: read it, write it, reset and seed it, move it
// through its lifecycle (hal.h), and read a udp plant's link counters.
//
//   plant:activate()                       -- writes need an active plant (lifecycle in hal.h)
//   local x, t, status = plant:read()      -- state array, time in seconds, SP_FLAG_PLANT_* bits
//   plant:write(u)   plant:reset(x0)   plant:seed(n)   plant:deactivate()   plant:close()
//   plant.nx plant.nu plant.robot plant.backend plant.rate plant.state plant.x_names plant.u_names
//   plant.can_reset (false for udp: rollout refuses x0)
//   car:perturb { mass = { chassis = 1.2 } }    car:perturb()  -- mujoco plants; back to the MJCF
//   robot:stats()  robot:rearm()  robot:estop()           -- udp plants: link counters, session
//   local q = plant:qpos()                 -- mujoco plants: MuJoCo's configuration (nq), what
//                                          -- spinal.render draws; nil, message for other plants
//   plant:set_lowlevel { gait = "pace", period = 0.35 }   -- the low-level controller's settings
//     while it runs (also while a live loop drives the plant): checked now, all or none, applied
//     together at its next tick (hal/lowlevel.h); a string names a value (gait = trot|pace|bound)
#include <math.h>
#include <string.h>

#include "engine/core/error.h"
#include "hal/lowlevel.h"
#include "hal_bind.h"

typedef spL_plant lplant;

spL_plant* spH_checklplant(lua_State* L, int arg) {
  lplant* lp = luaL_testudata(L, arg, SP_PLANT_MT);
  if (!lp) spA_argerror(L, arg, "expected a plant (from hal.open), got %s", luaL_typename(L, arg));
  return lp;
}

spL_plant* spL_checkplant(lua_State* L, int arg) {
  lplant* lp = spH_checklplant(L, arg);
  if (!lp->p) luaL_argerror(L, arg, "expected an open plant, got a closed one");
  return lp;
}

sp_plant* spH_checkplant(lua_State* L, int arg) {
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

spL_plant* spH_newplant(lua_State* L) {
  lplant* lp = lua_newuserdatauv(L, sizeof(lplant), 0);
  memset(lp, 0, sizeof *lp);
  luaL_setmetatable(L, SP_PLANT_MT);
  return lp;
}

// ---- plant methods ----------------------------------------------------------------------------

int spH_lifecycle_error(lua_State* L, sp_plant* p, const char* op, int rc) {
  if (rc == SP_ESTATE)
    return luaL_error(L, "%s: not valid while the plant is %s%s", op, sp_plant_state_name(p->state),
                      p->state == SP_PLANT_CONFIGURED ? " (call plant:activate() first)" : "");
  return spL_raise(L, rc, op);
}

static int m_read(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int64_t shape[1] = {p->caps.nx};
  sp_array* x = spL_newarray(L, 1, shape);
  int64_t t = 0;
  uint32_t status = 0;
  int rc = sp_plant_read(p, x->data, &t, &status);
  if (rc == SP_ESTATE) return spH_lifecycle_error(L, p, "read", rc);
  if (rc == SP_ETIMEOUT)  // a lockstep plant (udp with wait) whose robot did not answer
    return spL_failure(L,
                       "read: no state from the robot after the last command within the "
                       "plant's wait: it stopped answering (link down, robot stopped)");
  if (rc) return spL_failure(L, "read: %s", sp_strerror(rc));
  lua_pushnumber(L, (double)t * 1e-9);
  lua_pushinteger(L, (lua_Integer)status);
  return 3;
}

static int m_write(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  double* u = spA_scratch(L, (size_t)p->caps.nu);
  spA_vector(L, 2, u, p->caps.nu, "a command", 1);
  int rc = sp_plant_write(p, u);
  spL_model_check(L);
  if (rc == SP_ESTATE) return spH_lifecycle_error(L, p, "write", rc);
  if (rc) return spL_failure(L, "write: %s", sp_strerror(rc));
  lua_settop(L, 1);
  return 1;
}

static int m_reset(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  double* x0 = NULL;
  if (!lua_isnoneornil(L, 2)) {
    x0 = spA_scratch(L, (size_t)p->caps.nx);
    spA_vector(L, 2, x0, p->caps.nx, "a state", 0);
  }
  int rc = sp_plant_reset(p, x0);
  if (rc) return spH_lifecycle_error(L, p, "reset", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_seed(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  lua_Integer s = luaL_checkinteger(L, 2);
  if (s < 0) spA_argerror(L, 2, "expected a seed >= 0, got %I", s);
  int rc = sp_plant_seed(p, (uint64_t)s);
  if (rc) return spL_raise(L, rc, "seed");
  lua_settop(L, 1);
  return 1;
}

// plant:perturb { mass = ..., friction = ..., gear = ... } (mujoco plants); no table: restore
static int m_perturb(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  if (strcmp(p->caps.backend, "mujoco"))
    return luaL_error(L,
                      "perturb: only mujoco plants have model perturbations (this is a %s plant)",
                      p->caps.backend);
  sp_plant_mujoco_perturbation q;
  spA_table t = spA_opts(L, 2, 1);
  spH_mujoco_perturb(&t, &q);
  char msg[512];
  int rc = sp_plant_mujoco_perturb(p, lua_isnoneornil(L, 2) ? NULL : &q, msg, sizeof msg);
  if (rc == SP_ENOTFOUND || rc == SP_EINVAL) return luaL_argerror(L, 2, msg);
  if (rc) return spL_raise(L, rc, "perturb");
  lua_settop(L, 1);
  return 1;
}

// plant:safe(on): the plant's own safe behaviour on or off (a low-level controller's safe mode:
// a legged robot sits down); false, message for a plant that has none
static int m_safe(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int on = spA_checkboolean(L, 2);
  int rc = sp_plant_safe(p, on);
  if (rc == SP_EUNSUPPORTED) {
    lua_pushboolean(L, 0);
    lua_pushfstring(L,
                    "safe: this %s plant has no safe behaviour of its own (no low-level "
                    "controller)",
                    p->caps.backend);
    return 2;
  }
  if (rc == SP_ESTATE) return spH_lifecycle_error(L, p, "safe", rc);
  if (rc) return spL_raise(L, rc, "safe");
  lua_pushboolean(L, 1);
  return 1;
}

static int m_activate(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int rc = p->state == SP_PLANT_ACTIVE ? 0 : sp_plant_activate(p);
  if (rc) return spH_lifecycle_error(L, p, "activate", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_deactivate(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int rc = p->state == SP_PLANT_ACTIVE ? sp_plant_deactivate(p) : 0;
  if (rc) return spL_raise(L, rc, "deactivate");
  lua_settop(L, 1);
  return 1;
}

static int m_close(lua_State* L) {
  lplant* lp = spH_checklplant(L, 1);
  if (lp->served) return luaL_error(L, "close: the plant is served by a bridge (close it first)");
  if (lp->p) spH_checkplant(L, 1);
  sp_plant_close(lp->p);
  lp->p = NULL;
  return 0;
}

// collected while a loop or a bridge still uses it (only at lua_close, in an unusual order): leave
// it open rather than pull the plant from under their threads
static int m_gc(lua_State* L) {
  lplant* lp = spH_checklplant(L, 1);
  if (lp->users > 0 || lp->served > 0) return 0;
  sp_plant_close(lp->p);
  lp->p = NULL;
  return 0;
}

static int m_tostring(lua_State* L) {
  lplant* lp = spH_checklplant(L, 1);
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

void spH_set_num(lua_State* L, const char* k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

void spH_set_int(lua_State* L, const char* k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

// the link counters as a table: received, accepted, dropped = { crc = n, ... }, rtt_*_us, ...
void spH_push_link_stats(lua_State* L, const sp_udp_stats* s) {
  lua_createtable(L, 0, 16);
  spH_set_int(L, "received", s->received);
  spH_set_int(L, "accepted", s->accepted);
  spH_set_int(L, "dropped_total", s->dropped_total);
  spH_set_int(L, "lost", s->lost);
  spH_set_int(L, "sent", s->sent);
  spH_set_int(L, "send_errors", s->send_errors);
  spH_set_int(L, "rtt_samples", s->rtt_samples);
  spH_set_num(L, "rtt_last_us", s->rtt_last_us);
  spH_set_num(L, "rtt_mean_us", s->rtt_mean_us);
  spH_set_num(L, "rtt_p50_us", s->rtt_p50_us);
  spH_set_num(L, "rtt_p99_us", s->rtt_p99_us);
  spH_set_num(L, "rtt_max_us", s->rtt_max_us);
  spH_set_num(L, "since_rx", s->since_rx_s);
  lua_createtable(L, 0, SP_UDP_DROP_COUNT);
  for (int i = 0; i < SP_UDP_DROP_COUNT; i++) spH_set_int(L, sp_udp_drop_name(i), s->dropped[i]);
  lua_setfield(L, -2, "dropped");
}

static int m_stats(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  sp_udp_stats s;
  if (sp_plant_udp_stats(p, &s))
    return spL_failure(L, "stats: link counters exist for udp plants only (this one is %s)",
                       p->caps.backend);
  uint32_t status = 0;
  sp_plant_udp_status(p, &status);
  spH_push_link_stats(L, &s);
  spH_set_int(L, "status", status);
  return 1;
}

static int m_rearm(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int rc = sp_plant_udp_rearm(p);
  if (rc == SP_EINVAL) return luaL_error(L, "rearm: only udp plants can be re-armed");
  if (rc) return spH_lifecycle_error(L, p, "rearm", rc);
  lua_settop(L, 1);
  return 1;
}

static int m_estop(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int rc = sp_plant_udp_estop(p, SP_PROTO_ESTOP_OPERATOR);
  if (rc == SP_EINVAL) return luaL_error(L, "estop: only udp plants take a remote e-stop");
  if (rc) return spH_lifecycle_error(L, p, "estop", rc);
  lua_settop(L, 1);
  return 1;
}

// qpos(): MuJoCo's configuration of a mujoco plant (after its last step or reset)
static int m_qpos(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int nq = sp_plant_mujoco_qpos(p, NULL, 0);
  if (nq < 0)
    return spL_failure(L, "qpos: only mujoco plants have MuJoCo's configuration (this one is %s)",
                       p->caps.backend);
  int64_t shape[1] = {nq};
  sp_array* a = spL_newarray(L, 1, shape);
  sp_plant_mujoco_qpos(p, a->data, nq);
  return 1;
}

// truth(): a mujoco plant's state as read() reports it, without its sensor noise (what a
// motion-capture system would measure: for scoring, never for the policy)
static int m_truth(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  int nx = sp_plant_mujoco_truth(p, NULL, 0);
  if (nx < 0)
    return spL_failure(L,
                       "truth: only mujoco plants know the state without sensor noise (this "
                       "one is %s)",
                       p->caps.backend);
  int64_t shape[1] = {nx};
  sp_array* a = spL_newarray(L, 1, shape);
  sp_plant_mujoco_truth(p, a->data, nx);
  return 1;
}

// plant:set_lowlevel { name = number | "name" | { numbers }, ... }
static int m_set_lowlevel(lua_State* L) {
  lplant* lp = spL_checkplant(L, 1);  // a live loop may drive it: the change is thread-safe
  sp_plant* p = lp->p;
  luaL_checktype(L, 2, LUA_TTABLE);
  const sp_lowlevel* ll = sp_plant_lowlevel(p);
  char msg[512];
  int n = 0, nval = 0;
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return spA_argerror(L, 2, "expected settings by name, got a %s key", luaL_typename(L, -2));
    n++;
    nval += lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 1;
  }
  sp_lowlevel_param* prm = spA_scratch_bytes(L, sizeof *prm * (size_t)(n + 1));
  double* v = spA_scratch(L, (size_t)nval + 1);
  // in name order, so the same table always makes the same request
  const char** names = spA_scratch_bytes(L, sizeof(char*) * (size_t)(n + 1));
  int i = 0;
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
    const char* k = lua_tostring(L, -2);
    int at = i++;
    while (at > 0 && strcmp(names[at - 1], k) > 0) names[at] = names[at - 1], at--;
    names[at] = k;
  }
  for (i = 0; i < n; i++) {
    const char* name = names[i];
    prm[i].name = name;
    prm[i].v = v;
    int ty = lua_getfield(L, 2, name);
    if (ty == LUA_TNUMBER) {
      *v++ = lua_tonumber(L, -1);
      prm[i].n = 1;
    } else if (ty == LUA_TSTRING) {
      if (!ll) break;  // the plant's own error below
      int rc = sp_lowlevel_value(ll, name, lua_tostring(L, -1), v++, msg, sizeof msg);
      if (rc) return luaL_error(L, "set_lowlevel: %s", msg);
      prm[i].n = 1;
    } else if (ty == LUA_TTABLE && lua_rawlen(L, -1) > 0) {
      int m = (int)lua_rawlen(L, -1);
      for (int k = 1; k <= m; k++) {
        if (lua_rawgeti(L, -1, k) != LUA_TNUMBER)
          return luaL_error(L, "set_lowlevel: setting '%s': expected a number or a list of numbers",
                            name);
        *v++ = lua_tonumber(L, -1);
        lua_pop(L, 1);
      }
      prm[i].n = m;
    } else {
      return luaL_error(L,
                        "set_lowlevel: setting '%s': expected a number, a name or a list of "
                        "numbers, got %s",
                        name, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  int rc = sp_plant_set_lowlevel(p, prm, n, msg, sizeof msg);
  if (rc == SP_ESTATE && p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return spH_lifecycle_error(L, p, "set_lowlevel", rc);
  if (rc)
    return luaL_error(L, "%s%s", strncmp(msg, "set_lowlevel", 12) ? "set_lowlevel: " : "", msg);
  lua_settop(L, 1);
  return 1;
}

static int m_index(lua_State* L) {
  lplant* lp = spH_checklplant(L, 1);
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
  luaL_getmetatable(L, SP_PLANT_MT);
  lua_getfield(L, -1, "__methods");
  lua_getfield(L, -1, k);
  return 1;
}

static const luaL_Reg plant_methods[] = {
    {"read", m_read},
    {"write", m_write},
    {"reset", m_reset},
    {"safe", m_safe},
    {"seed", m_seed},
    {"activate", m_activate},
    {"deactivate", m_deactivate},
    {"close", m_close},
    {"rollout", spH_rollout},
    {"perturb", m_perturb},
    {"qpos", m_qpos},
    {"truth", m_truth},
    {"stats", m_stats},
    {"rearm", m_rearm},
    {"estop", m_estop},
    {"set_lowlevel", m_set_lowlevel},
    {NULL, NULL},
};

void spH_plant_open(lua_State* L) {
  if (luaL_newmetatable(L, SP_PLANT_MT)) {
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
}
