// fuzz_robot.c: libFuzzer target for the robot-file loader (lua/spinal/robot.lua, spinal check).
//
// (the sources and flags lines are read whole by fuzz_short.sh: clang-format leaves them be)
// clang-format off
// sources: lua/bind/*.c
// flags: -I${BUILD}/gen -L${BUILD} -lspinal_render -lspinal_hal -lspinal_engine -Wl,-rpath,${BUILD} $(pkg-config --cflags --libs lua5.4 openblas lapacke)
// The suite runs it for 10 s (tests/integration/fuzz_short.sh). Each input drives
// tests/fuzz/fuzz_robot.lua: an even first byte makes the rest a robot file's source text; an odd
// one applies byte-driven mutations (replace, delete, retype, resize fields) to a shipped robot's
// table. Property: robot.check reports problems, it never raises, and building a robot from an
// accepted table never crashes; a Lua error escaping check aborts (a finding). Robot files may run
// code, so the harness removes os.execute/remove/rename/exit and io.popen/open-for-writing, and a
// count hook stops runaway loops.
// clang-format on
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload.h"

static lua_State* L;
static int driver_ref;

static void budget_hook(lua_State* l, lua_Debug* ar) {
  (void)ar;
  luaL_error(l, "fuzz: instruction budget exhausted");
}

static void setup(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg* m = sp_preload_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  const char* src = getenv("SPINAL_SOURCE_DIR");
  if (!src) src = ".";
  char chunk[2048];
  snprintf(chunk, sizeof chunk,
           "package.path = '%s/lua/?.lua;%s/lua/?/init.lua;' .. package.path\n"
           "os.execute, os.remove, os.rename, os.exit, io.popen = nil, nil, nil, nil, nil\n"
           "local open = io.open\n"
           "io.open = function(p, m) if m and m:find '[wa+]' then return nil, 'fuzz: no writes' "
           "end return open(p, m) end\n"
           "return dofile('%s/tests/fuzz/fuzz_robot.lua')",
           src, src, src);
  if (luaL_dostring(L, chunk) != LUA_OK) {
    fprintf(stderr, "fuzz_robot: setup failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const unsigned char* data, size_t size) {
  if (!L) setup();
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
  lua_pushlstring(L, (const char*)data, size);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 5000000);
  int rc = lua_pcall(L, 1, 0, 0);
  lua_sethook(L, NULL, 0, 0);
  if (rc != LUA_OK) {
    const char* msg = lua_tostring(L, -1);
    // the budget hook fires inside the robot file's own code: not a loader bug
    if (!msg || !strstr(msg, "fuzz: instruction budget exhausted")) {
      fprintf(stderr, "fuzz_robot: the loader raised instead of reporting: %s\n",
              msg ? msg : "(non-string error)");
      abort();
    }
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
