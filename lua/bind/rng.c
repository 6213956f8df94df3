// rng.c: the Lua binding of engine/core/rng (require "spinal.rng"): seeded generators with
// independent streams, so the same (seed, stream) gives the same numbers on every run.
//
//   local R = require "spinal.rng"
//   local g = R.new(42, 0)        -- seed, stream (default 0)
//   g:uniform()  g:uniform(lo, hi)  g:normal()  g:normal(mu, sigma)  g:integer(n)  -- 1..n
#include <math.h>
#include <string.h>

#include "bind.h"

sp_rng* spL_checkrng(lua_State* L, int arg) {
  sp_rng* r = luaL_testudata(L, arg, SP_RNG_MT);
  if (!r)
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "expected a spinal.rng (from require 'spinal.rng'"
                                  ".new(seed, stream)), got %s",
                                  luaL_typename(L, arg)));
  return r;
}

static uint64_t check_seed(lua_State* L, int arg, lua_Integer def) {
  lua_Integer v = luaL_optinteger(L, arg, def);
  if (v < 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected a non-negative integer, got %I", v));
  return (uint64_t)v;
}

static int l_new(lua_State* L) {
  uint64_t seed = check_seed(L, 1, 0), stream = check_seed(L, 2, 0);
  sp_rng* r = lua_newuserdatauv(L, sizeof(sp_rng), 0);
  sp_rng_seed(r, seed, stream);
  luaL_setmetatable(L, SP_RNG_MT);
  return 1;
}

static int m_seed(lua_State* L) {
  sp_rng* r = spL_checkrng(L, 1);
  uint64_t seed = check_seed(L, 2, 0), stream = check_seed(L, 3, 0);
  sp_rng_seed(r, seed, stream);
  lua_settop(L, 1);
  return 1;
}

static int m_uniform(lua_State* L) {
  sp_rng* r = spL_checkrng(L, 1);
  double lo = luaL_optnumber(L, 2, 0), hi = luaL_optnumber(L, 3, 1);
  if (lua_gettop(L) == 2) {  // uniform(hi) as math.random(m) reads
    hi = lo;
    lo = 0;
  }
  if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
    luaL_argerror(L, 3,
                  lua_pushfstring(L, "expected finite bounds lo <= hi, got %f and %f", lo, hi));
  lua_pushnumber(L, lo + (hi - lo) * sp_rng_uniform(r));
  return 1;
}

static int m_normal(lua_State* L) {
  sp_rng* r = spL_checkrng(L, 1);
  double mu = luaL_optnumber(L, 2, 0), sigma = luaL_optnumber(L, 3, 1);
  if (!(sigma >= 0))
    luaL_argerror(L, 3, lua_pushfstring(L, "expected a standard deviation >= 0, got %f", sigma));
  lua_pushnumber(L, mu + sigma * sp_rng_normal(r));
  return 1;
}

static int m_integer(lua_State* L) {
  sp_rng* r = spL_checkrng(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  if (n < 1) luaL_argerror(L, 2, lua_pushfstring(L, "expected an integer >= 1, got %I", n));
  lua_pushinteger(L, (lua_Integer)sp_rng_below(r, (uint64_t)n) + 1);
  return 1;
}

static int m_tostring(lua_State* L) {
  sp_rng* r = spL_checkrng(L, 1);
  lua_pushfstring(L, "spinal.rng (%p)", (void*)r);
  return 1;
}

// nothing to free: the state lives in the userdata; __close is accepted for `local g <close>`
static int m_close(lua_State* L) {
  return 0;
}

static const luaL_Reg methods[] = {
    {"seed", m_seed},       {"uniform", m_uniform}, {"normal", m_normal},
    {"integer", m_integer}, {NULL, NULL},
};

int luaopen_spinal_rng(lua_State* L) {
  if (luaL_newmetatable(L, SP_RNG_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  return 1;
}
