// core.c: the Lua C module spinal/core.so, for a stock Lua 5.4 interpreter (lua5.4, luarocks).
//
// The spinal binary preloads every lua/bind/<m>.c module itself (lua/host/main.c). A stock
// interpreter instead finds <cmoddir>/spinal/core.so through package.cpath when
// lua/spinal/init.lua runs require "spinal.core"; luaopen_spinal_core registers the same modules
// in package.preload, so require "spinal.<m>" and spinal.<m> work as they do under the binary.
// The module does not link liblua: the interpreter that loads it provides the Lua API.
#include <lauxlib.h>
#include <lua.h>

#include "engine/core/export.h"
#include "preload.h"

// register every binding as package.preload["spinal.<m>"]; returns the list of names
SP_API int luaopen_spinal_core(lua_State* L) {
  luaL_checkversion(L);
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  int n = 0;
  for (const luaL_Reg* m = sp_preload_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
    lua_pushstring(L, m->name);
    lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 1);
  return 1;
}
