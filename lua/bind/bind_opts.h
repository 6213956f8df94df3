// bind_opts.h: option-table and vector helpers shared by the policy and grad bindings
// (lua/bind/policy.c, lua/bind/grad.c). Every helper raises "bad argument" errors that say what
// was expected and what was given, before the caller has any side effect.
#ifndef SP_BIND_OPTS_H
#define SP_BIND_OPTS_H

#include <string.h>

#include "bind.h"

// refuse keys of the options table at arg that are not in valid (NULL-terminated)
static inline void spO_check_keys(lua_State* L, int arg, const char* fname,
                                  const char* const* valid) {
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char* const* v = valid; *v && !ok; v++) ok = !strcmp(*v, lua_tostring(L, -1));
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char* const* v = valid; *v; v++) {
        if (v != valid) luaL_addstring(&b, ", ");
        luaL_addstring(&b, *v);
      }
      luaL_pushresult(&b);
      const char* list = lua_tostring(L, -1);
      const char* key = luaL_tolstring(L, -2, NULL);
      luaL_error(L, "bad argument #%d to '%s' (unknown option '%s'; valid: %s)", arg, fname, key,
                 list);
    }
  }
}

static inline double spO_number(lua_State* L, int arg, const char* fname, const char* key,
                                double def) {
  int t = lua_getfield(L, arg, key);
  double v = def;
  if (t == LUA_TNUMBER)
    v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "bad argument #%d to '%s' (expected %s = a number, got %s)", arg, fname, key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static inline lua_Integer spO_integer(lua_State* L, int arg, const char* fname, const char* key,
                                      lua_Integer def) {
  int t = lua_getfield(L, arg, key);
  lua_Integer v = def;
  if (t != LUA_TNIL) {
    int isint;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint)
      luaL_error(L, "bad argument #%d to '%s' (expected %s = an integer, got %s)", arg, fname, key,
                 luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  return v;
}

static inline int spO_boolean(lua_State* L, int arg, const char* fname, const char* key, int def) {
  int t = lua_getfield(L, arg, key);
  int v = def;
  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "bad argument #%d to '%s' (expected %s = a boolean, got %s)", arg, fname, key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static inline const char* spO_string(lua_State* L, int arg, const char* fname, const char* key,
                                     const char* def) {
  int t = lua_getfield(L, arg, key);
  const char* v = def;
  if (t == LUA_TSTRING)
    v = lua_tostring(L, -1);  // the options table keeps it alive
  else if (t != LUA_TNIL)
    luaL_error(L, "bad argument #%d to '%s' (expected %s = a string, got %s)", arg, fname, key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

// copy the elements of a into out in row-major order (a may be a strided view)
static inline void spO_gather(const sp_array* a, double* out) {
  int64_t n = sp_array_size(a), idx[SP_MAXDIM] = {0};
  for (int64_t k = 0; k < n; k++) {
    out[k] = *sp_array_at(a, idx);
    for (int d = a->ndim - 1; d >= 0; d--) {
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
}

// a vector argument of n elements (array or table, any shape), gathered into out
static inline void spO_vector(lua_State* L, int arg, const char* fname, double* out, int64_t n,
                              const char* what) {
  if (!spL_testarray(L, arg) && lua_type(L, arg) != LUA_TTABLE)
    luaL_error(L, "bad argument #%d to '%s' (expected %s of length %d, got %s)", arg, fname, what,
               (int)n, luaL_typename(L, arg));
  sp_array* a = spL_toarray(L, arg);
  int64_t got = sp_array_size(a);
  if (got != n)
    luaL_error(L, "bad argument #%d to '%s' (expected %s of length %d, got %d)", arg, fname, what,
               (int)n, (int)got);
  spO_gather(a, out);
  if (!spL_testarray(L, arg)) lua_pop(L, 1);  // the converted table
}

// field key of the table at arg as a vector of n (absent: def, which may be NULL = zeros)
static inline void spO_field_vector(lua_State* L, int arg, const char* fname, const char* key,
                                    double* out, int64_t n) {
  if (lua_getfield(L, arg, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  int top = lua_gettop(L);
  if (!spL_testarray(L, top) && lua_type(L, top) != LUA_TTABLE)
    luaL_error(L, "bad argument #%d to '%s' (expected %s = a vector of length %d, got %s)", arg,
               fname, key, (int)n, luaL_typename(L, top));
  sp_array* a = spL_toarray(L, top);
  if (sp_array_size(a) != n)
    luaL_error(L, "bad argument #%d to '%s' (expected %s = a vector of length %d, got %d)", arg,
               fname, key, (int)n, (int)sp_array_size(a));
  spO_gather(a, out);
  lua_settop(L, top - 1);
}

#endif  // SP_BIND_OPTS_H
