// hal_bridge.c: hal.bridge, serving an open plant over the wire protocol (hal/bridge.h) so a
// remote host drives it as a "udp" plant; the bridge applies the safe command when the link is
// silent longer than its watchdog.
//
//   local b = hal.bridge(plant, { listen = "127.0.0.1:9870", realtime = true, watchdog = 0.2,
//                                 safe = {...}, robot = "rc_car", rate = 50 })
//   b.port  b:stats()  b:wait(seconds)  b:close()
#include <math.h>
#include <string.h>
#include <time.h>

#include "hal/bridge.h"
#include "hal_bind.h"

typedef struct lbridge {
  sp_bridge* b;   // NULL until served, and after close
  spL_plant* lp;  // the plant it serves (kept alive by the user value)
} lbridge;

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
//                     safe = { 0, 0 }, robot = "rc_car" })
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
  spH_safety s;
  spH_safety_opts(&t, &p->caps, 1.0 / p->caps.rate_hz, 0, &s);
  c.watchdog_s = s.c.watchdog_s;
  if (spA_has(&t, "safe")) c.u_safe = s.c.u_safe;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return spH_lifecycle_error(L, p, "bridge", SP_ESTATE);

  // the userdata first (empty, safe to collect), then the bridge it owns
  lbridge* lb = lua_newuserdatauv(L, sizeof(lbridge), 1);
  lb->b = NULL;
  lb->lp = lp;
  luaL_setmetatable(L, SP_BRIDGE_MT);
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
