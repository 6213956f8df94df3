// hal_udp.c: the "udp" backend's configuration for hal.open (hal/backend_udp.h): a robot served
// over the wire protocol, its expected names, rate and link timing.
//
//   hal.open("udp://127.0.0.1:9870", { robot = "rc_car", x_names = {...}, u_names = {...},
//                                      rate = 50, watchdog = 0.2, timeout = 2, heartbeat = 0.05,
//                                      wait = 0 })
//   hal.open("udp", { address = "127.0.0.1", port = 9870, ... })   -- as robot files declare it
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hal/protocol.h"
#include "hal_bind.h"

// a list of names (strings of protocol size) in field of t, pointers into out (kept alive by the
// table); returns their number, 0 when the field is nil
static int name_list(const spA_table* t, const char* field, const char** out) {
  lua_State* L = t->L;
  if (lua_getfield(L, t->idx, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1))
    spA_fielderror(t, field, "expected a list of names, got %s", luaL_typename(L, -1));
  int n = (int)luaL_len(L, -1);
  if (n > SP_PROTO_MAX_DIM)
    spA_fielderror(t, field, "expected at most %d names, got %d", SP_PROTO_MAX_DIM, n);
  for (int i = 0; i < n; i++) {
    lua_geti(L, -1, i + 1);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) >= SP_PROTO_MAX_NAME)
      spA_fielderror(t, field, "name %d: expected a string of at most %d bytes, got %s", i + 1,
                     SP_PROTO_MAX_NAME - 1, luaL_typename(L, -1));
    out[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

void spH_udp_config(lua_State* L, int arg, sp_plant_udp_config* c, char* uri, size_t urilen,
                    const char** names) {
  memset(c, 0, sizeof *c);
  spA_table t = spA_opts(L, arg, 1);
  if (!strcmp(uri, "udp")) {
    const char* host = spA_string(&t, "address", NULL, 0);
    lua_Integer port =
        t.idx && lua_getfield(L, t.idx, "port") == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    if (t.idx) lua_pop(L, 1);
    if (!host || port < 1 || port > 65535)
      spA_argerror(L, arg,
                   "expected fields 'address' and 'port' (1..65535), or a URI udp://HOST:PORT");
    snprintf(uri, urilen, strchr(host, ':') ? "udp://[%s]:%d" : "udp://%s:%d", host, (int)port);
  }
  if (!t.idx) return;
  c->robot = spA_string(&t, "robot", NULL, 0);
  c->rate_hz = spA_range(&t, "rate", 0, 0, NAN, 0);
  c->watchdog_s = spA_range(&t, "watchdog", 0, 0, 3600, 0);
  c->timeout_s = spA_range(&t, "timeout", 0, 0, 3600, 0);
  c->heartbeat_s = spA_range(&t, "heartbeat", 0, 0, NAN, 0);
  c->wait_s = spA_range(&t, "wait", 0, 0, 60, 0);
  c->nx = name_list(&t, "x_names", names);
  c->nu = name_list(&t, "u_names", names + SP_PROTO_MAX_DIM);
  if (c->nx) c->x_names = names;
  if (c->nu) c->u_names = names + SP_PROTO_MAX_DIM;
}
