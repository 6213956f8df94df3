// args.c: the argument and option-table layer (args.h). Every error is raised by luaL_argerror,
// so Lua names the function and numbers the argument (not counting self in a method call).
#include "args.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int spA_argerror(lua_State* L, int arg, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char* msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return luaL_argerror(L, arg, msg);
}

// ---- option tables ------------------------------------------------------------------------------

spA_table spA_opts(lua_State* L, int arg, int optional) {
  spA_table t = {L, arg, lua_absindex(L, arg), ""};
  if (optional && lua_isnoneornil(L, arg))
    t.idx = 0;
  else if (!lua_istable(L, arg))
    spA_argerror(L, arg, "expected a table of options, got %s", luaL_typename(L, arg));
  return t;
}

const char* spA_fieldname(const spA_table* t, const char* key) {
  return t->path[0] ? lua_pushfstring(t->L, "%s.%s", t->path, key) : lua_pushstring(t->L, key);
}

int spA_fielderror(const spA_table* t, const char* key, const char* fmt, ...) {
  lua_State* L = t->L;
  const char* name = spA_fieldname(t, key);
  va_list ap;
  va_start(ap, fmt);
  const char* msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return spA_argerror(L, t->arg, "field '%s': %s", name, msg);
}

spA_table spA_nested(const spA_table* t, int idx, const char* path) {
  spA_table s = {t->L, t->arg, lua_absindex(t->L, idx), ""};
  int n = snprintf(s.path, sizeof s.path, "%s%s%s", t->path,
                   t->path[0] && path[0] != '[' ? "." : "", path);
  if (n >= (int)sizeof s.path) s.path[sizeof s.path - 1] = '\0';  // long paths are cut
  return s;
}

// push field key of t (nil when t is absent); returns its type
static int get(const spA_table* t, const char* key) {
  if (!t->idx) {
    lua_pushnil(t->L);
    return LUA_TNIL;
  }
  return lua_getfield(t->L, t->idx, key);
}

spA_table spA_subtable(const spA_table* t, const char* key, int required) {
  lua_State* L = t->L;
  int ty = get(t, key);
  if (ty == LUA_TTABLE) return spA_nested(t, -1, key);
  if (ty != LUA_TNIL || required)
    spA_fielderror(t, key, "expected a table, got %s", luaL_typename(L, -1));
  spA_table s = spA_nested(t, -1, key);
  s.idx = 0;
  return s;
}

void spA_check_keys(const spA_table* t, const char* const* valid) {
  lua_State* L = t->L;
  if (!t->idx) return;
  lua_pushnil(L);
  while (lua_next(L, t->idx)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char* const* v = valid; *v && !ok; v++) ok = !strcmp(*v, lua_tostring(L, -1));
    if (ok) continue;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char* const* v = valid; *v; v++) {
      if (v != valid) luaL_addstring(&b, ", ");
      luaL_addstring(&b, *v);
    }
    luaL_pushresult(&b);
    if (lua_type(L, -2) != LUA_TSTRING)
      spA_argerror(L, t->arg, "expected named options (%s), got a %s key", lua_tostring(L, -1),
                   luaL_typename(L, -2));
    const char* key = spA_fieldname(t, lua_tostring(L, -2));
    spA_argerror(L, t->arg, "unknown option '%s'; valid: %s", key, lua_tostring(L, -2));
  }
}

int spA_has(const spA_table* t, const char* key) {
  int ty = get(t, key);
  lua_pop(t->L, 1);
  return ty != LUA_TNIL;
}

// a number as a user wrote it: 3, not 3.0 (lua_pushfstring's %f marks integral floats)
static const char* numstr(lua_State* L, double v) {
  if (v == floor(v) && fabs(v) < 1e15) return lua_pushfstring(L, "%I", (lua_Integer)v);
  return lua_pushfstring(L, "%f", v);
}

// what was given, for "got ..." (numbers by value, anything else by type)
static const char* given(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) return numstr(L, lua_tonumber(L, idx));
  return luaL_typename(L, idx);
}

double spA_number(const spA_table* t, const char* key, double def) {
  int ty = get(t, key);
  double v = def;
  if (ty == LUA_TNUMBER)
    v = lua_tonumber(t->L, -1);
  else if (ty != LUA_TNIL)
    spA_fielderror(t, key, "expected a number, got %s", luaL_typename(t->L, -1));
  lua_pop(t->L, 1);
  return v;
}

// "a number >= lo", "an integer in [lo, hi]", ...
static const char* describe(lua_State* L, const char* kind, double lo, double hi) {
  if (!isnan(lo) && !isnan(hi))
    return lua_pushfstring(L, "%s in [%s, %s]", kind, numstr(L, lo), numstr(L, hi));
  if (!isnan(lo)) return lua_pushfstring(L, "%s >= %s", kind, numstr(L, lo));
  if (!isnan(hi)) return lua_pushfstring(L, "%s <= %s", kind, numstr(L, hi));
  return lua_pushstring(L, kind);
}

double spA_range(const spA_table* t, const char* key, double def, double lo, double hi,
                 int required) {
  lua_State* L = t->L;
  int ty = get(t, key);
  double v = def;
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  if ((ty != LUA_TNUMBER && (ty != LUA_TNIL || required)) ||
      (ty == LUA_TNUMBER && (!isfinite(v) || (!isnan(lo) && v < lo) || (!isnan(hi) && v > hi)))) {
    const char* got = given(L, -1);
    spA_fielderror(t, key, "expected %s, got %s", describe(L, "a number", lo, hi), got);
  }
  lua_pop(L, 1);
  return v;
}

double spA_positive(const spA_table* t, const char* key, double def, int required) {
  lua_State* L = t->L;
  int ty = get(t, key);
  double v = def;
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  if ((ty != LUA_TNUMBER && (ty != LUA_TNIL || required)) ||
      (ty == LUA_TNUMBER && !(v > 0 && isfinite(v))))
    spA_fielderror(t, key, "expected a number > 0, got %s", given(L, -1));
  lua_pop(L, 1);
  return v;
}

lua_Integer spA_integer(const spA_table* t, const char* key, lua_Integer def, lua_Integer lo,
                        lua_Integer hi, int required) {
  lua_State* L = t->L;
  int ty = get(t, key);
  lua_Integer v = def;
  int ok = ty == LUA_TNIL && !required;
  if (ty == LUA_TNUMBER) {
    int isint = 0;
    v = lua_tointegerx(L, -1, &isint);
    ok = isint && v >= lo && v <= hi;
  }
  if (!ok) {
    double dlo = lo == LUA_MININTEGER ? NAN : (double)lo;
    double dhi = hi >= INT_MAX ? NAN : (double)hi;
    const char* got = given(L, -1);
    spA_fielderror(t, key, "expected %s, got %s", describe(L, "an integer", dlo, dhi), got);
  }
  lua_pop(L, 1);
  return v;
}

int spA_boolean(const spA_table* t, const char* key, int def) {
  int ty = get(t, key);
  int v = def;
  if (ty == LUA_TBOOLEAN)
    v = lua_toboolean(t->L, -1);
  else if (ty != LUA_TNIL)
    spA_fielderror(t, key, "expected a boolean, got %s", luaL_typename(t->L, -1));
  lua_pop(t->L, 1);
  return v;
}

const char* spA_string(const spA_table* t, const char* key, const char* def, int required) {
  int ty = get(t, key);
  const char* v = def;
  if (ty == LUA_TSTRING)
    v = lua_tostring(t->L, -1);  // the options table keeps it alive
  else if (ty != LUA_TNIL || required)
    spA_fielderror(t, key, "expected a string, got %s", luaL_typename(t->L, -1));
  lua_pop(t->L, 1);
  return v;
}

int spA_option(const spA_table* t, const char* key, int def, const char* const* names) {
  lua_State* L = t->L;
  int ty = get(t, key);
  int r = def;
  if (ty != LUA_TNIL) {
    r = -1;
    if (ty == LUA_TSTRING)
      for (int k = 0; names[k] && r < 0; k++)
        if (!strcmp(lua_tostring(L, -1), names[k])) r = k;
    if (r < 0) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int k = 0; names[k]; k++) {
        if (k) luaL_addstring(&b, ", ");
        lua_pushfstring(L, "'%s'", names[k]);
        luaL_addvalue(&b);
      }
      luaL_pushresult(&b);
      const char* list = lua_tostring(L, -1);
      const char* got = ty == LUA_TSTRING ? lua_pushfstring(L, "'%s'", lua_tostring(L, -2))
                                          : luaL_typename(L, -2);
      spA_fielderror(t, key, "expected one of %s, got %s", list, got);
    }
  }
  lua_pop(L, 1);
  return r;
}

int spA_field_vector(const spA_table* t, const char* key, double* out, int64_t n, int finite) {
  lua_State* L = t->L;
  int ty = get(t, key);
  int v = lua_gettop(L);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  sp_array* a = (ty == LUA_TTABLE || spL_testarray(L, v)) ? spL_toarray(L, v) : NULL;
  if (!a)
    spA_fielderror(t, key, "expected a vector of length %d, got %s", (int)n, luaL_typename(L, v));
  if (sp_array_size(a) != n)
    spA_fielderror(t, key, "expected a vector of length %d, got length %d", (int)n,
                   (int)sp_array_size(a));
  spA_gather(a, out);
  for (int64_t i = 0; finite && i < n; i++)
    if (!isfinite(out[i]))
      spA_fielderror(t, key, "expected finite numbers, got %f at %d", out[i], (int)i + 1);
  lua_settop(L, v - 1);
  return 1;
}

// ---- positional arguments -----------------------------------------------------------------------

void spA_vector(lua_State* L, int arg, double* out, int64_t n, const char* what, int finite) {
  int top = lua_gettop(L);
  if (!spL_testarray(L, arg) && lua_type(L, arg) != LUA_TTABLE)
    spA_argerror(L, arg, "expected %s of length %d, got %s", what, (int)n, luaL_typename(L, arg));
  sp_array* a = spL_toarray(L, arg);
  if (sp_array_size(a) != n)
    spA_argerror(L, arg, "expected %s of length %d, got %d", what, (int)n, (int)sp_array_size(a));
  spA_gather(a, out);
  for (int64_t i = 0; finite && i < n; i++)
    if (!isfinite(out[i]))
      spA_argerror(L, arg, "expected %s of finite numbers, got %f at %d", what, out[i], (int)i + 1);
  lua_settop(L, top);
}

int spA_checkboolean(lua_State* L, int arg) {
  if (lua_type(L, arg) != LUA_TBOOLEAN) luaL_typeerror(L, arg, "boolean");
  return lua_toboolean(L, arg);
}

int spA_optboolean(lua_State* L, int arg, int def) {
  return lua_isnoneornil(L, arg) ? def : spA_checkboolean(L, arg);
}

// ---- memory -------------------------------------------------------------------------------------

void spA_gather(const sp_array* a, double* out) {
  int64_t n = sp_array_size(a), idx[SP_MAXDIM] = {0};
  for (int64_t k = 0; k < n; k++) {
    out[k] = *sp_array_at(a, idx);
    for (int d = a->ndim - 1; d >= 0; d--) {
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
}

void* spA_scratch_bytes(lua_State* L, size_t n) {
  void* d = lua_newuserdatauv(L, n ? n : 1, 0);
  memset(d, 0, n ? n : 1);
  return d;
}

double* spA_scratch(lua_State* L, size_t n) {
  return spA_scratch_bytes(L, sizeof(double) * n);
}
