// hal_bridge.c: hal.bridge, serving an open plant over the wire protocol (hal/bridge.h) so a
// remote host drives it as a "udp" plant; the bridge applies the safe command when the link is
// silent longer than its watchdog.
//
//   local b = hal.bridge(plant, { listen = "127.0.0.1:9870", realtime = true, watchdog = 0.2,
//                                 safe = {...}, robot = "rc_car", rate = 50, u_min =, u_max =,
//                                 rate_max =, watchdog_max = 0.2, safe_controller = ctl,
//                                 safe_reference = {...} })
//   b.port  b:stats()  b:wait(seconds)  b:close()
#include <math.h>
#include <string.h>
#include <time.h>

#include "hal/bridge.h"
#include "hal_bind.h"

typedef struct lbridge {
  sp_bridge* b;              // NULL until served, and after close
  spL_plant* lp;             // the plant it serves (kept alive by the user value)
  const sp_ctrl* safe_ctrl;  // the safe behaviour's controller (user value 2), or NULL
  sp_ctrl_data* safe_data;   // the bridge's workspace for it
  int* safe_users;           // its userdata's count of loops and bridges driving it
  double* safe_ref;          // its reference (user value 3)
} lbridge;

// the bridge's safe behaviour, on its plant thread
static int bridge_safe_act(void* user, double* u, const double* x, double t) {
  (void)t;
  lbridge* lb = user;
  return sp_ctrl_act(lb->safe_ctrl, lb->safe_data, u, x, lb->safe_ref, NULL) == SP_EINVAL;
}

static lbridge* checkbridge(lua_State* L, int arg) {
  lbridge* lb = luaL_testudata(L, arg, SP_BRIDGE_MT);
  if (!lb)
    spA_argerror(L, arg, "expected a bridge (from hal.bridge), got %s", luaL_typename(L, arg));
  return lb;
}

static sp_bridge* checkopenbridge(lua_State* L, int arg) {
  lbridge* lb = checkbridge(L, arg);
  if (!lb->b) luaL_argerror(L, arg, "expected an open bridge, got a closed one");
  return lb->b;
}

// hal.bridge(plant, { listen = "127.0.0.1:9870", realtime = true, rate = 50, watchdog = 0.2,
//                     safe = { 0, 0 }, robot = "rc_car", u_min =, u_max =, rate_max =,
//                     watchdog_max = 0.2, safe_controller = ctl, safe_reference = {...},
//                     reset_on_session = false })
// The safety settings are read by the one safety parser (hal_safety.c). A safe controller runs
// on the bridge's plant thread in a workspace of the bridge's own (the controller itself is
// shared, read-only, and stays alive while the bridge serves).
int spH_bridge(lua_State* L) {
  spL_plant* lp = spH_checklplant(L, 1);
  if (!lp->p) luaL_argerror(L, 1, "expected an open plant, got a closed one");
  spA_table t = spA_opts(L, 2, 0);
  sp_plant* p = lp->p;
  if (lp->lua_model)
    spA_argerror(L, 1,
                 "expected a plant the bridge's threads can step, got a model plant of '%s', a "
                 "model written in Lua (it runs only on its Lua state's thread)",
                 lp->lua_model);
  sp_bridge_config c = {0};
  c.listen = spA_string(&t, "listen", NULL, 1);
  c.realtime = spA_boolean(&t, "realtime", 0);
  c.rate_hz = spA_range(&t, "rate", 0, 0, NAN, 0);
  c.robot = spA_string(&t, "robot", NULL, 0);
  c.reset_on_session = spA_boolean(&t, "reset_on_session", 0);
  spH_safety s;
  spH_safety_opts(&t, &p->caps, 1.0 / p->caps.rate_hz, 0, &s);
  c.watchdog_s = s.c.watchdog_s;
  c.watchdog_max_s = s.watchdog_max_s;
  if (spA_has(&t, "safe")) c.u_safe = s.c.u_safe;
  c.u_min = s.c.u_min;  // the plant's when absent
  c.u_max = s.c.u_max;
  c.rate_max = s.c.rate_max;
  int nr = s.safe_ctrl ? s.safe_ctrl->nr : 0;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return spH_lifecycle_error(L, p, "bridge", SP_ESTATE);

  // the userdata first (empty, safe to collect), then the bridge it owns
  // (its reference in a userdata of its own, user value 3: the scratch one may be collected)
  double* sref = lua_newuserdatauv(L, sizeof(double) * (size_t)(nr ? nr : 1), 0);
  int iref = lua_gettop(L);
  memset(sref, 0, sizeof(double) * (size_t)(nr ? nr : 1));
  if (nr) memcpy(sref, s.safe_ref, sizeof(double) * (size_t)nr);
  lbridge* lb = lua_newuserdatauv(L, sizeof(lbridge), 3);
  memset(lb, 0, sizeof *lb);
  lb->lp = lp;
  lb->safe_ref = sref;
  luaL_setmetatable(L, SP_BRIDGE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (s.safe_ctrl) {
    lua_pushvalue(L, s.safe_ctrl_idx);
    lua_setiuservalue(L, -2, 2);
  }
  lua_pushvalue(L, iref);
  lua_setiuservalue(L, -2, 3);
  if (s.safe_ctrl) {
    if (sp_ctrl_data_new(&lb->safe_data, s.safe_ctrl)) return spL_raise(L, SP_ENOMEM, "hal.bridge");
    lb->safe_ctrl = s.safe_ctrl;
    lb->safe_users = spL_ctrl_users(L, s.safe_ctrl_idx);
    (*lb->safe_users)++;
    c.safe_act = bridge_safe_act;
    c.safe_user = lb;
  }
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
  sp_ctrl_data_free(lb->safe_data);
  lb->safe_data = NULL;
  if (lb->safe_users) (*lb->safe_users)--;
  lb->safe_users = NULL;
  return 0;
}

static int b_stats(lua_State* L) {
  sp_bridge_stats s;
  sp_bridge_stats_get(checkopenbridge(L, 1), &s);
  spH_push_link_stats(L, &s.link);
  spH_set_int(L, "steps", s.steps);
  spH_set_int(L, "commands", s.commands);
  spH_set_int(L, "safe_steps", s.safe_steps);
  spH_set_int(L, "sessions", s.sessions);
  spH_set_int(L, "watchdog_trips", s.watchdog_trips);
  spH_set_num(L, "last_trip_silence", s.last_trip_silence_s);
  spH_set_num(L, "watchdog", s.watchdog_s);
  spH_set_num(L, "watchdog_asked", s.watchdog_asked_s);
  spH_set_int(L, "rejected", s.rejected);
  spH_set_int(L, "limited", s.limited);
  spH_set_int(L, "goodbyes", s.goodbyes);
  spH_set_int(L, "resets", s.resets);
  spH_set_int(L, "status", s.status);
  spH_set_int(L, "port", (uint64_t)s.port);
  return 1;
}

// bridge:wait(seconds): sleep (the bridge's threads keep serving); returns early on a signal
static int b_wait(lua_State* L) {
  checkopenbridge(L, 1);
  double s = luaL_checknumber(L, 2);
  if (!(s >= 0) || s > 3600) spA_argerror(L, 2, "expected seconds in [0, 3600], got %f", s);
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  lua_pushboolean(L, nanosleep(&ts, NULL) == 0);
  return 1;
}

static int b_index(lua_State* L) {
  lbridge* lb = checkbridge(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (!strcmp(k, "port")) return lua_pushinteger(L, lb->b ? sp_bridge_port(lb->b) : 0), 1;
  luaL_getmetatable(L, SP_BRIDGE_MT);
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

void spH_bridge_open(lua_State* L) {
  if (luaL_newmetatable(L, SP_BRIDGE_MT)) {
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
}
