// hal.c: the Lua binding of the HAL plant interface (require "spinal.hal"): open a plant on one of
// the backends, serve it over the protocol, run rollouts. The binding's files, one concept each,
// are listed in hal_bind.h.
//
//   local hal = require "spinal.hal"
//   local plant = hal.open("model", { model = "unicycle_accel", rate = 50, ... })   -- hal_model.c
//   local car = hal.open("mujoco", { mjcf = "robots/rc_car.xml", ... })            -- hal_mujoco.c
//   local robot = hal.open("udp://127.0.0.1:9870", { robot = "rc_car", ... })      -- hal_udp.c
//   local plant = hal.open(robot, "model")  -- a robot (spinal.robot.load) opens its plant section
//   hal.backends()                          -- the backends this build has
//   local b = hal.bridge(plant, { listen = "127.0.0.1:9870", ... })                -- hal_bridge.c
//   plant:read() plant:write(u) ...                                                -- hal_plant.c
//   local tr = plant:rollout(policy, { seconds = 21.5, ... })                      -- hal_rollout.c
// Configuration mistakes raise errors naming the field; failures of the plant itself (a backend
// that cannot open) return nil, message.
#include <string.h>

#include "engine/model/model.h"
#include "hal/protocol.h"
#include "hal_bind.h"

// hal.open(robot [, uri]): a robot object (spinal.robot) opens its own plant configuration
static int open_robot(lua_State* L) {
  if (lua_getfield(L, 1, "open") != LUA_TFUNCTION)
    luaL_argerror(L, 1, "expected a plant URI or a robot (from spinal.robot.load), got a table");
  int top = lua_gettop(L) - 1;
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L) - top;
}

// hal.open(uri [, config]): the backend's configuration is parsed (and every field checked) before
// the plant userdata exists, and the userdata exists (empty) before the plant is opened
static int l_open(lua_State* L) {
  if (lua_istable(L, 1)) return open_robot(L);
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
    spH_model_config(L, 2, &mc);
    cfg = &mc;
    const sp_model_class* cls = sp_model_find(mc.model);
    if (cls && !spL_model_usable(L, cls))
      spA_argerror(L, 2,
                   "expected a model of this Lua state, got '%s' (a model written in Lua in "
                   "another state)",
                   cls->name);
    if (spL_model_is_lua(cls)) lua_cls = cls;
  } else if ((!strcmp(uri, "mujoco") || !strncmp(uri, "mujoco://", 9)) && !lua_isnoneornil(L, 2)) {
    spH_mujoco_config(L, 2, &jc, &jq);
    if (!jc.mjcf && strncmp(uri, "mujoco://", 9))
      luaL_argerror(L, 2, "field 'mjcf': expected the MJCF file name (or open \"mujoco://PATH\")");
    cfg = &jc;
  } else if (!strcmp(uri, "udp") || !strncmp(uri, "udp://", 6)) {
    snprintf(udp_uri, sizeof udp_uri, "%s", uri);
    spH_udp_config(L, 2, &uc, udp_uri, sizeof udp_uri, names);
    uri = udp_uri;
    cfg = &uc;
  } else if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
  }

  spL_plant* lp = spH_newplant(L);
  lp->lua_model = lua_cls ? lua_cls->name : NULL;
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

static const luaL_Reg funcs[] = {
    {"open", l_open},
    {"backends", l_backends},
    {"bridge", spH_bridge},
    {NULL, NULL},
};

int luaopen_spinal_hal(lua_State* L) {
  spH_plant_open(L);
  spH_bridge_open(L);
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
