// array.c: the Lua binding of engine/core/array (require "spinal.array"), and the helpers
// bind.h declares for every other binding.
//
// One userdata type holds an sp_array descriptor; views share the engine's reference-counted
// buffer, so a view keeps its storage alive and __gc/__close release one reference. Indexing is
// 1-based as in Lua and Torch7 (negative indices count from the end); a[i] is a number for a
// 1-D array and a row view otherwise. Operators follow numpy broadcasting.
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bind.h"
#include "engine/core/error.h"
#include "engine/core/npy.h"

int luaopen_spinal_array(lua_State* L);

// ---- helpers shared with other bindings --------------------------------------------------------

static void ensure_metatable(lua_State* L) {
  if (luaL_getmetatable(L, SP_ARRAY_MT) == LUA_TNIL) {
    luaL_requiref(L, "spinal.array", luaopen_spinal_array, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

sp_array* spL_testarray(lua_State* L, int arg) {
  return luaL_testudata(L, arg, SP_ARRAY_MT);
}

static const char* shape_of(lua_State* L, const sp_array* a) {
  char buf[SP_MAXDIM * 24];
  return lua_pushstring(L, sp_array_shape_str(buf, sizeof buf, a));
}

sp_array* spL_checkarray(lua_State* L, int arg) {
  sp_array* a = spL_testarray(L, arg);
  if (!a)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected an array, got %s", luaL_typename(L, arg)));
  if (!a->data) luaL_argerror(L, arg, "expected an array, got a closed array");
  return a;
}

// an empty userdata with the array metatable (safe to collect before it holds anything)
static sp_array* push_empty(lua_State* L) {
  ensure_metatable(L);
  sp_array* a = lua_newuserdatauv(L, sizeof(sp_array), 0);
  memset(a, 0, sizeof *a);
  luaL_setmetatable(L, SP_ARRAY_MT);
  return a;
}

// The collector sees an array's userdata (about 150 bytes), not the buffer behind it, and paces
// itself by the Lua heap: a loop making a large temporary each iteration (a batch of noise, a
// batch of states) piled up gigabytes of dead buffers before a cycle freed them (8 GB in a
// quadruped fine-tuning run). Each new buffer of a KB or more is counted as that much allocation
// (LUA_GCSTEP with its size adds it to the collector's debt), so buffers are collected at the pace
// they are made.
static void account(lua_State* L, const sp_array* a) {
  size_t kb = (size_t)sp_array_size(a) * sizeof(double) / 1024;
  if (kb > 0) lua_gc(L, LUA_GCSTEP, kb > (size_t)INT_MAX ? INT_MAX : (int)kb);
}

sp_array* spL_newarray(lua_State* L, int ndim, const int64_t* shape) {
  sp_array* a = push_empty(L);
  int rc = sp_array_new(a, ndim, shape);
  if (rc) spL_raise(L, rc, "array");
  account(L, a);
  return a;
}

sp_array* spL_pushview(lua_State* L, const sp_array* view) {
  sp_array* a = push_empty(L);
  if (view->buf) {
    sp_array_retain(a, view);
  } else {
    int rc = sp_array_copy(a, view);
    if (rc) spL_raise(L, rc, "array");
    account(L, a);
  }
  return a;
}

// push a view the caller made with sp_array_narrow & co, taking over its reference
static sp_array* push_owned(lua_State* L, sp_array* view) {
  sp_array* a = push_empty(L);
  *a = *view;
  return a;
}

int spL_raise(lua_State* L, int code, const char* what) {
  return luaL_error(L, "%s: %s", what, sp_strerror(code));
}

int spL_failure(lua_State* L, const char* fmt, ...) {
  va_list ap;
  lua_pushnil(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return 2;
}

// depth-first fill of a from the nested table at idx; path holds the 1-based indices so far
static void fill_from_table(lua_State* L, int arg, int idx, const sp_array* a, int dim,
                            int64_t* path, double** out) {
  int64_t n = (int64_t)lua_rawlen(L, idx);
  if (n != a->shape[dim]) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int d = 0; d < dim; d++) lua_pushfstring(L, "[%d]", (int)path[d]), luaL_addvalue(&b);
    luaL_pushresult(&b);
    luaL_argerror(
        L, arg,
        lua_pushfstring(L,
                        "expected a rectangular table, got length %d at %s where %d "
                        "was expected",
                        (int)n, dim ? lua_tostring(L, -1) : "the top", (int)a->shape[dim]));
  }
  luaL_checkstack(L, 4, "array nesting");
  for (int64_t i = 1; i <= n; i++) {
    path[dim] = i;
    int t = lua_rawgeti(L, idx, i);
    if (dim + 1 == a->ndim) {
      if (t != LUA_TNUMBER) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int d = 0; d <= dim; d++) lua_pushfstring(L, "[%d]", (int)path[d]), luaL_addvalue(&b);
        luaL_pushresult(&b);
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "expected a number at %s, got %s", lua_tostring(L, -1),
                                      luaL_typename(L, -2)));
      }
      *(*out)++ = lua_tonumber(L, -1);
    } else {
      if (t != LUA_TTABLE) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int d = 0; d <= dim; d++) lua_pushfstring(L, "[%d]", (int)path[d]), luaL_addvalue(&b);
        luaL_pushresult(&b);
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "expected a table at %s, got %s", lua_tostring(L, -1),
                                      luaL_typename(L, -2)));
      }
      fill_from_table(L, arg, lua_gettop(L), a, dim + 1, path, out);
    }
    lua_pop(L, 1);
  }
}

// a new array from the nested table at arg, pushed on the stack
static sp_array* from_table(lua_State* L, int arg) {
  arg = lua_absindex(L, arg);
  int64_t shape[SP_MAXDIM];
  int ndim = 0;
  lua_pushvalue(L, arg);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (ndim == SP_MAXDIM)
      luaL_argerror(L, arg, "expected a table nested at most 8 levels deep, got more");
    shape[ndim++] = (int64_t)lua_rawlen(L, -1);
    if (shape[ndim - 1] == 0) break;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  sp_array* a = spL_newarray(L, ndim, shape);
  int top = lua_gettop(L);
  if (sp_array_size(a) > 0) {
    int64_t path[SP_MAXDIM];
    double* out = a->data;
    fill_from_table(L, arg, arg, a, 0, path, &out);
  }
  lua_settop(L, top);
  return a;
}

sp_array* spL_toarray(lua_State* L, int arg) {
  sp_array* a = spL_testarray(L, arg);
  if (a) return spL_checkarray(L, arg);
  if (lua_type(L, arg) == LUA_TTABLE) return from_table(L, arg);
  luaL_argerror(
      L, arg,
      lua_pushfstring(L, "expected an array or a table of numbers, got %s", luaL_typename(L, arg)));
  return NULL;
}

sp_array* spL_optarray_or_number(lua_State* L, int arg, double* number) {
  if (lua_type(L, arg) == LUA_TNUMBER) {
    *number = lua_tonumber(L, arg);
    return NULL;
  }
  if (spL_testarray(L, arg) || lua_type(L, arg) == LUA_TTABLE) return spL_toarray(L, arg);
  luaL_argerror(
      L, arg,
      lua_pushfstring(L, "expected a number, an array or a table, got %s", luaL_typename(L, arg)));
  return NULL;
}

static int64_t check_extent(lua_State* L, int arg, int idx) {
  int isint;
  lua_Integer v = lua_tointegerx(L, idx, &isint);
  if (!isint)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected an integer extent, got %s",
                                  lua_type(L, idx) == LUA_TNUMBER
                                      ? lua_pushfstring(L, "%f", lua_tonumber(L, idx))
                                      : luaL_typename(L, idx)));
  if (v < -1)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a non-negative extent, got %I", (lua_Integer)v));
  return (int64_t)v;
}

int spL_checkshape(lua_State* L, int arg, int last, int64_t* shape) {
  if (lua_type(L, arg) == LUA_TTABLE) {
    int n = (int)lua_rawlen(L, arg);
    if (n > SP_MAXDIM)
      luaL_argerror(L, arg, lua_pushfstring(L, "expected at most 8 dimensions, got %d", n));
    for (int d = 0; d < n; d++) {
      lua_rawgeti(L, arg, d + 1);
      shape[d] = check_extent(L, arg, -1);
      lua_pop(L, 1);
    }
    return n;
  }
  if (last < arg) last = lua_gettop(L);
  int n = last - arg + 1;
  if (n <= 0 || lua_isnoneornil(L, arg))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a shape (integers or a table), got %s",
                                  luaL_typename(L, arg)));
  if (n > SP_MAXDIM)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected at most 8 dimensions, got %d", n));
  for (int d = 0; d < n; d++) shape[d] = check_extent(L, arg + d, arg + d);
  return n;
}

// shapes for constructors must be fully known
static int check_new_shape(lua_State* L, int arg, int last, int64_t* shape) {
  int n = spL_checkshape(L, arg, last, shape);
  for (int d = 0; d < n; d++)
    if (shape[d] < 0) luaL_argerror(L, arg, "expected non-negative extents, got -1");
  return n;
}

// ---- indices -----------------------------------------------------------------------------------

static int check_dim(lua_State* L, int arg, const sp_array* a) {
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d < 0) d += a->ndim + 1;
  if (d < 1 || d > a->ndim)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "dimension %I out of range for a %d-D array",
                                  luaL_checkinteger(L, arg), a->ndim));
  return (int)d - 1;
}

// 0-based index from a 1-based (or negative, from the end) Lua index, or an error
static int64_t check_index(lua_State* L, int arg, lua_Integer i, const sp_array* a, int dim) {
  int64_t n = a->shape[dim];
  int64_t j = i < 0 ? i + n : i - 1;
  if (j < 0 || j >= n) {
    if (arg > 0)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "index %I out of range for dimension %d of size %I", i,
                                    dim + 1, (lua_Integer)n));
    luaL_error(L, "index %I out of range for dimension %d of size %I", i, dim + 1, (lua_Integer)n);
  }
  return j;
}

// ---- construction ------------------------------------------------------------------------------

static int l_new(lua_State* L) {
  if (spL_testarray(L, 1)) {
    sp_array* src = spL_checkarray(L, 1);
    sp_array* a = push_empty(L);
    int rc = sp_array_copy(a, src);
    if (rc) spL_raise(L, rc, "new");
    account(L, a);
    return 1;
  }
  if (lua_type(L, 1) == LUA_TNUMBER) {
    double v = lua_tonumber(L, 1);
    sp_array* a = spL_newarray(L, 0, NULL);
    a->data[0] = v;
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  from_table(L, 1);
  return 1;
}

static int l_call(lua_State* L) {
  lua_remove(L, 1);  // the module table
  return l_new(L);
}

static int l_zeros(lua_State* L) {
  int64_t shape[SP_MAXDIM];
  int n = check_new_shape(L, 1, 0, shape);
  spL_newarray(L, n, shape);
  return 1;
}

static int l_ones(lua_State* L) {
  int64_t shape[SP_MAXDIM];
  int n = check_new_shape(L, 1, 0, shape);
  sp_array_fill(spL_newarray(L, n, shape), 1);
  return 1;
}

static int l_full(lua_State* L) {
  int64_t shape[SP_MAXDIM];
  int n = check_new_shape(L, 1, 1, shape);
  double v = luaL_checknumber(L, 2);
  sp_array_fill(spL_newarray(L, n, shape), v);
  return 1;
}

static int l_eye(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1), m = luaL_optinteger(L, 2, n);
  if (n < 0) luaL_argerror(L, 1, lua_pushfstring(L, "expected a size >= 0, got %I", n));
  if (m < 0) luaL_argerror(L, 2, lua_pushfstring(L, "expected a size >= 0, got %I", m));
  int64_t shape[2] = {n, m};
  sp_array* a = spL_newarray(L, 2, shape);
  for (int64_t i = 0; i < n && i < m; i++) a->data[i * m + i] = 1;
  return 1;
}

static int l_arange(lua_State* L) {
  double start = 0, stop, step = 1;
  if (lua_isnoneornil(L, 2)) {
    stop = luaL_checknumber(L, 1);
  } else {
    start = luaL_checknumber(L, 1);
    stop = luaL_checknumber(L, 2);
    step = luaL_optnumber(L, 3, 1);
  }
  if (step == 0 || isnan(step)) luaL_argerror(L, 3, "expected a non-zero step, got 0");
  double count = ceil((stop - start) / step);
  if (!(count >= 0)) count = 0;
  if (count > 1e12) luaL_argerror(L, 2, "expected a range of fewer than 1e12 elements");
  int64_t shape[1] = {(int64_t)count};
  sp_array* a = spL_newarray(L, 1, shape);
  for (int64_t i = 0; i < shape[0]; i++) a->data[i] = start + (double)i * step;
  return 1;
}

static int l_linspace(lua_State* L) {
  double lo = luaL_checknumber(L, 1), hi = luaL_checknumber(L, 2);
  lua_Integer n = luaL_optinteger(L, 3, 50);
  if (n < 0) luaL_argerror(L, 3, lua_pushfstring(L, "expected a count >= 0, got %I", n));
  int64_t shape[1] = {n};
  sp_array* a = spL_newarray(L, 1, shape);
  for (int64_t i = 0; i < n; i++)
    a->data[i] = n == 1 ? lo : (i == n - 1 ? hi : lo + (hi - lo) * (double)i / (double)(n - 1));
  return 1;
}

static int random_array(lua_State* L, int normal) {
  int64_t shape[SP_MAXDIM];
  int n = check_new_shape(L, 1, 1, shape);
  sp_rng* r = spL_checkrng(L, 2);
  sp_array* a = spL_newarray(L, n, shape);
  if (normal)
    sp_rng_fill_normal(r, a->data, (size_t)sp_array_size(a), 0, 1);
  else
    sp_rng_fill_uniform(r, a->data, (size_t)sp_array_size(a), 0, 1);
  return 1;
}

static int l_rand(lua_State* L) {
  return random_array(L, 0);
}
static int l_randn(lua_State* L) {
  return random_array(L, 1);
}

static int l_is_array(lua_State* L) {
  lua_pushboolean(L, spL_testarray(L, 1) != NULL);
  return 1;
}

// ---- element access ----------------------------------------------------------------------------

static int m_index(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int isint = 0;
  lua_Integer i = lua_type(L, 2) == LUA_TNUMBER ? lua_tointegerx(L, 2, &isint) : 0;
  if (isint) {
    if (a->ndim == 0) luaL_error(L, "cannot index a 0-D array (use get())");
    int64_t j = check_index(L, 0, i, a, 0);
    if (a->ndim == 1) {
      lua_pushnumber(L, a->data[j * a->stride[0]]);
    } else {
      sp_array v;
      sp_array_select(&v, a, 0, j);
      push_owned(L, &v);
    }
    return 1;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char* k = lua_tostring(L, 2);
    if (!strcmp(k, "shape")) {
      lua_createtable(L, a->ndim, 0);
      for (int d = 0; d < a->ndim; d++) {
        lua_pushinteger(L, a->shape[d]);
        lua_rawseti(L, -2, d + 1);
      }
      return 1;
    }
    if (!strcmp(k, "ndim")) {
      lua_pushinteger(L, a->ndim);
      return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
  }
  if (lua_type(L, 2) == LUA_TNUMBER)
    luaL_error(L, "expected an integer index, got %f", lua_tonumber(L, 2));
  lua_pushnil(L);
  return 1;
}

static int m_newindex(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int isint = 0;
  lua_Integer i = lua_type(L, 2) == LUA_TNUMBER ? lua_tointegerx(L, 2, &isint) : 0;
  if (!isint)
    luaL_error(L, "cannot assign to field '%s' of an array (expected an integer index)",
               luaL_tolstring(L, 2, NULL));
  if (a->ndim == 0) luaL_error(L, "cannot index a 0-D array (use set())");
  int64_t j = check_index(L, 0, i, a, 0);
  if (a->ndim == 1) {
    if (lua_type(L, 3) != LUA_TNUMBER)
      luaL_error(L, "cannot assign %s to an element of a 1-D array (expected a number)",
                 luaL_typename(L, 3));
    a->data[j * a->stride[0]] = lua_tonumber(L, 3);
    return 0;
  }
  sp_array v;
  sp_array_select(&v, a, 0, j);
  // the view is owned by a userdata so an error below cannot leak it
  sp_array* row = push_owned(L, &v);
  char shape[SP_MAXDIM * 24];
  double x;
  sp_array* src = spL_optarray_or_number(L, 3, &x);
  if (!src) {
    sp_array_fill(row, x);
  } else if (sp_array_assign(row, src) == SP_ESHAPE) {
    sp_array_shape_str(shape, sizeof shape, row);
    luaL_error(L, "cannot assign an array of shape %s to a row of shape %s", shape_of(L, src),
               shape);
  }
  return 0;
}

// the element addressed by the integers at arg .. arg+ndim-1
static double* element(lua_State* L, sp_array* a, int arg, int given, const char* fname) {
  (void)fname;
  if (given != a->ndim)
    luaL_argerror(L, arg + (given < a->ndim ? given : a->ndim),
                  lua_pushfstring(L, "expected %d indices for a %d-D array, got %d", a->ndim,
                                  a->ndim, given));
  int64_t idx[SP_MAXDIM];
  for (int d = 0; d < a->ndim; d++)
    idx[d] = check_index(L, arg + d, luaL_checkinteger(L, arg + d), a, d);
  return sp_array_at(a, idx);
}

static int m_get(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  lua_pushnumber(L, *element(L, a, 2, lua_gettop(L) - 1, "get"));
  return 1;
}

static int m_set(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int top = lua_gettop(L);
  double v = luaL_checknumber(L, top);
  *element(L, a, 2, top - 2, "set") = v;
  lua_settop(L, 1);
  return 1;
}

static int m_len(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  if (a->ndim == 0) luaL_error(L, "attempt to get the length of a 0-D array");
  lua_pushinteger(L, a->shape[0]);
  return 1;
}

static int m_size(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    lua_pushinteger(L, a->shape[check_dim(L, 2, a)]);
    return 1;
  }
  lua_createtable(L, a->ndim, 0);
  for (int d = 0; d < a->ndim; d++) {
    lua_pushinteger(L, a->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}

static int m_numel(lua_State* L) {
  lua_pushinteger(L, sp_array_size(spL_checkarray(L, 1)));
  return 1;
}

static int m_dim(lua_State* L) {
  lua_pushinteger(L, spL_checkarray(L, 1)->ndim);
  return 1;
}

static int m_is_contiguous(lua_State* L) {
  lua_pushboolean(L, sp_array_is_contiguous(spL_checkarray(L, 1)));
  return 1;
}

static void push_table(lua_State* L, const sp_array* a, int dim, const double* p) {
  if (dim == a->ndim) {
    lua_pushnumber(L, *p);
    return;
  }
  luaL_checkstack(L, 3, "totable");
  lua_createtable(L, (int)a->shape[dim], 0);
  for (int64_t i = 0; i < a->shape[dim]; i++) {
    push_table(L, a, dim + 1, p + i * a->stride[dim]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int m_totable(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  push_table(L, a, 0, a->data);
  return 1;
}

static int m_tostring(lua_State* L) {
  sp_array* a = spL_testarray(L, 1);
  if (!a) return luaL_argerror(L, 1, "expected an array");
  size_t n = sp_array_format(NULL, 0, a);
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, n + 1);
  sp_array_format(p, n + 1, a);
  luaL_pushresultsize(&b, n);
  return 1;
}

static int m_gc(lua_State* L) {
  sp_array* a = luaL_checkudata(L, 1, SP_ARRAY_MT);
  sp_array_release(a);
  return 0;
}

// ---- views -------------------------------------------------------------------------------------

static int m_narrow(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int dim = check_dim(L, 2, a);
  lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  int64_t n = a->shape[dim];
  if (start < 0) start += n + 1;
  if (start < 1 || start > n + 1)
    luaL_argerror(L, 3,
                  lua_pushfstring(L, "expected a start in 1..%I for dimension %d, got %I",
                                  (lua_Integer)n + 1, dim + 1, luaL_checkinteger(L, 3)));
  if (len < 0 || len > n - (start - 1))
    luaL_argerror(L, 4,
                  lua_pushfstring(L, "expected a length in 0..%I from start %I, got %I",
                                  (lua_Integer)(n - start + 1), start, len));
  sp_array v;
  sp_array_narrow(&v, a, dim, start - 1, len);
  push_owned(L, &v);
  return 1;
}

static int m_select(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int dim = check_dim(L, 2, a);
  int64_t i = check_index(L, 3, luaL_checkinteger(L, 3), a, dim);
  sp_array v;
  sp_array_select(&v, a, dim, i);
  push_owned(L, &v);
  return 1;
}

static int m_transpose(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  if (a->ndim < 2 && lua_isnoneornil(L, 2))
    luaL_argerror(L, 1,
                  lua_pushfstring(L, "expected at least 2 dimensions, got a %d-D array", a->ndim));
  int d1 = lua_isnoneornil(L, 2) ? 0 : check_dim(L, 2, a);
  int d2 = lua_isnoneornil(L, 3) ? 1 : check_dim(L, 3, a);
  sp_array v;
  sp_array_transpose(&v, a, d1, d2);
  push_owned(L, &v);
  return 1;
}

static int m_t(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  if (a->ndim > 2)
    luaL_argerror(L, 1,
                  lua_pushfstring(L,
                                  "expected a 1-D or 2-D array, got %d-D (use "
                                  "transpose(d1, d2))",
                                  a->ndim));
  sp_array v;
  if (a->ndim == 2)
    sp_array_transpose(&v, a, 0, 1);
  else
    sp_array_retain(&v, a);
  push_owned(L, &v);
  return 1;
}

static int m_reshape(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int64_t shape[SP_MAXDIM];
  int n = spL_checkshape(L, 2, 0, shape);
  int inferred = 0;
  for (int d = 0; d < n; d++) inferred += shape[d] == -1;
  if (inferred > 1) luaL_argerror(L, 2, "expected at most one extent of -1, got several");
  sp_array v;
  int rc = sp_array_reshape(&v, a, n, shape);
  if (rc == SP_ESHAPE) {
    sp_array t = {.ndim = n};
    for (int d = 0; d < n; d++) t.shape[d] = shape[d];
    char want[SP_MAXDIM * 24];
    sp_array_shape_str(want, sizeof want, &t);
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a shape with %d elements, got %s",
                                  (int)sp_array_size(a), want));
  }
  if (rc) spL_raise(L, rc, "reshape");
  push_owned(L, &v);
  return 1;
}

static int m_flatten(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int64_t shape[1] = {-1};
  sp_array v;
  int rc = sp_array_reshape(&v, a, 1, shape);
  if (rc) spL_raise(L, rc, "flatten");
  push_owned(L, &v);
  return 1;
}

// one dimension of slice(): nil/true keeps it, an integer selects, {first, last, step} ranges
static int m_slice(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  int nspec = lua_gettop(L) - 1;
  if (nspec > a->ndim)
    luaL_argerror(L, a->ndim + 2,
                  lua_pushfstring(L,
                                  "expected at most %d specs for a %d-D "
                                  "array, got %d",
                                  a->ndim, a->ndim, nspec));
  // check every spec before taking any reference
  int64_t first[SP_MAXDIM], stop[SP_MAXDIM], step[SP_MAXDIM];
  int kind[SP_MAXDIM];  // 0 keep, 1 select, 2 range
  for (int k = 0; k < nspec; k++) {
    int arg = k + 2;
    int64_t n = a->shape[k];
    if (lua_isnoneornil(L, arg) || lua_isboolean(L, arg)) {
      kind[k] = 0;
    } else if (lua_isinteger(L, arg)) {
      kind[k] = 1;
      first[k] = check_index(L, arg, lua_tointeger(L, arg), a, k);
    } else if (lua_istable(L, arg)) {
      kind[k] = 2;
      lua_rawgeti(L, arg, 3);
      step[k] = luaL_optinteger(L, -1, 1);
      lua_rawgeti(L, arg, 1);
      lua_Integer f = luaL_optinteger(L, -1, step[k] > 0 ? 1 : n);
      lua_rawgeti(L, arg, 2);
      lua_Integer l = luaL_optinteger(L, -1, step[k] > 0 ? n : 1);
      lua_pop(L, 3);
      if (step[k] == 0) luaL_argerror(L, arg, "expected a non-zero step, got 0");
      if (f < 0) f += n + 1;
      if (l < 0) l += n + 1;
      int empty = step[k] > 0 ? l < f : l > f;
      if (!empty && (f < 1 || f > n || l < 1 || l > n))
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "expected a range inside 1..%d of dimension "
                                      "%d, got %I..%I",
                                      (int)n, k + 1, f, l));
      first[k] = empty ? 0 : f - 1;
      stop[k] = empty ? 0 : (step[k] > 0 ? l : l - 2);
      if (empty) step[k] = 1;
    } else {
      luaL_argerror(L, arg,
                    lua_pushfstring(L,
                                    "expected nil, an index or a {first, last, step} "
                                    "table, got %s",
                                    luaL_typename(L, arg)));
    }
  }
  sp_array v, w;
  sp_array_retain(&v, a);
  for (int k = nspec - 1; k >= 0; k--) {  // from the last so selects keep earlier dims in place
    if (kind[k] == 0) continue;
    if (kind[k] == 1)
      sp_array_select(&w, &v, k, first[k]);
    else
      sp_array_slice(&w, &v, k, first[k], stop[k], step[k]);
    sp_array_release(&v);
    v = w;
  }
  push_owned(L, &v);
  return 1;
}

static int m_unsqueeze(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  lua_Integer d = luaL_checkinteger(L, 2);
  if (d < 0) d += a->ndim + 2;
  if (d < 1 || d > a->ndim + 1 || a->ndim == SP_MAXDIM)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a position in 1..%d for a %d-D array, got %I",
                                  a->ndim + 1, a->ndim, luaL_checkinteger(L, 2)));
  sp_array v;
  sp_array_unsqueeze(&v, a, (int)d - 1);
  push_owned(L, &v);
  return 1;
}

// A.cat(list, dim) and A.stack(list, dim): join arrays along an existing or a new dimension
static int join(lua_State* L, int stack) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer given = luaL_optinteger(L, 2, 1);
  lua_settop(L, 2);
  int n = (int)lua_rawlen(L, 1);
  if (n < 1) luaL_argerror(L, 1, "expected a non-empty list of arrays, got an empty table");
  luaL_checkstack(L, n + 4, "cat");
  int base = lua_gettop(L) + 1;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    sp_array* a = spL_testarray(L, -1);
    if (!a && lua_type(L, -1) != LUA_TTABLE)
      luaL_argerror(
          L, 1,
          lua_pushfstring(L, "expected a list of arrays, got %s at [%d]", luaL_typename(L, -1), i));
    if (!a) {
      from_table(L, -1);
      lua_replace(L, -2);
    } else if (!a->data) {
      luaL_argerror(L, 1,
                    lua_pushfstring(L,
                                    "expected a list of arrays, got a closed array at "
                                    "[%d]",
                                    i));
    }
  }
  sp_array* first = lua_touserdata(L, base);
  int nd = first->ndim + stack;
  lua_Integer d = given < 0 ? given + nd + 1 : given;
  if (d < 1 || d > nd)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "dimension %I out of range for %d-D %s", given, nd,
                                  stack ? "results" : "arrays"));
  const sp_array* parts[256];
  sp_array views[256];
  if (n > 256) luaL_argerror(L, 1, lua_pushfstring(L, "expected at most 256 arrays, got %d", n));
  for (int i = 0; i < n; i++) {
    sp_array* a = lua_touserdata(L, base + i);
    char s1[SP_MAXDIM * 24], s2[SP_MAXDIM * 24];
    int same = a->ndim == first->ndim;
    for (int k = 0; k < a->ndim && same; k++)
      same = (!stack && k == d - 1) || a->shape[k] == first->shape[k];
    if (!same || (stack && a->ndim == SP_MAXDIM))
      luaL_argerror(L, 1,
                    lua_pushfstring(L,
                                    "expected arrays that agree %s, got %s at [1] and %s "
                                    "at [%d]",
                                    stack ? "in shape" : "off the joined dimension",
                                    sp_array_shape_str(s1, sizeof s1, first),
                                    sp_array_shape_str(s2, sizeof s2, a), i + 1));
    views[i] = *a;
    if (stack) {
      // a size-1 dimension at d (stride 0, no reference taken: a stays on the stack)
      for (int k = a->ndim; k > d - 1; k--) {
        views[i].shape[k] = a->shape[k - 1];
        views[i].stride[k] = a->stride[k - 1];
      }
      views[i].shape[d - 1] = 1;
      views[i].stride[d - 1] = 0;
      views[i].ndim++;
    }
    parts[i] = &views[i];
  }
  sp_array* out = push_empty(L);
  int rc = sp_array_cat(out, parts, n, (int)d - 1);
  if (rc) spL_raise(L, rc, stack ? "stack" : "cat");
  return 1;
}

static int l_cat(lua_State* L) {
  return join(L, 0);
}
static int l_stack(lua_State* L) {
  return join(L, 1);
}

static int m_copy(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_array* c = push_empty(L);
  int rc = sp_array_copy(c, a);
  if (rc) spL_raise(L, rc, "copy");
  account(L, c);
  return 1;
}

static int m_contiguous(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  if (sp_array_is_contiguous(a)) {
    lua_settop(L, 1);
    return 1;
  }
  return m_copy(L);
}

// ---- elementwise -------------------------------------------------------------------------------

static const char* const binop_names[] = {"+", "-", "*", "/", "^", "min", "max"};

// result of x op y for numbers and arrays; arg0 is the stack index of x
static int arith(lua_State* L, sp_binop op, int method) {
  double sx = 0, sy = 0;
  sp_array* x = spL_optarray_or_number(L, 1, &sx);
  sp_array* y = spL_optarray_or_number(L, 2, &sy);
  if (!x && !y) {
    sp_array* out = spL_newarray(L, 0, NULL);
    sp_array a, b;
    sp_array_wrap(&a, &sx, 0, NULL);
    sp_array_wrap(&b, &sy, 0, NULL);
    sp_array_binop(out, &a, &b, op);
    return 1;
  }
  if (!y || !x) {
    sp_array* a = x ? x : y;
    sp_array* out = spL_newarray(L, a->ndim, a->shape);
    sp_array_binop_scalar(out, a, x ? sy : sx, op, x == NULL);
    return 1;
  }
  int ndim;
  int64_t shape[SP_MAXDIM];
  if (sp_array_broadcast_shape(&ndim, shape, x, y)) {
    const char *sa = shape_of(L, x), *sb = shape_of(L, y);
    if (method)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "expected shapes that broadcast, got %s and %s", sa, sb));
    luaL_error(L, "bad operands to '%s' (expected shapes that broadcast, got %s and %s)",
               binop_names[op], sa, sb);
  }
  sp_array* out = spL_newarray(L, ndim, shape);
  int rc = sp_array_binop(out, x, y, op);
  if (rc) spL_raise(L, rc, binop_names[op]);
  return 1;
}

static int m_add(lua_State* L) {
  return arith(L, SP_OP_ADD, 0);
}
static int m_sub(lua_State* L) {
  return arith(L, SP_OP_SUB, 0);
}
static int m_mul(lua_State* L) {
  return arith(L, SP_OP_MUL, 0);
}
static int m_div(lua_State* L) {
  return arith(L, SP_OP_DIV, 0);
}
static int m_pow(lua_State* L) {
  return arith(L, SP_OP_POW, 0);
}

// a:add(b) and friends: the operator under a method name (errors name the argument)
static int m_binop(lua_State* L) {
  spL_checkarray(L, 1);
  return arith(L, (sp_binop)lua_tointeger(L, lua_upvalueindex(1)), 1);
}

static int m_unm(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_array* out = spL_newarray(L, a->ndim, a->shape);
  sp_array_unop(out, a, SP_OP_NEG);
  return 1;
}

// a:add_(b) and friends: in place, b broadcast to a's shape
static int m_binop_(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_binop op = (sp_binop)lua_tointeger(L, lua_upvalueindex(1));
  double s;
  sp_array* b = spL_optarray_or_number(L, 2, &s);
  int rc = b ? sp_array_binop(a, a, b, op) : sp_array_binop_scalar(a, a, s, op, 0);
  if (rc == SP_ESHAPE)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a shape that broadcasts to %s, got %s",
                                  shape_of(L, a), shape_of(L, b)));
  if (rc) spL_raise(L, rc, "in-place operation");
  lua_settop(L, 1);
  return 1;
}

static int m_fill_(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_array_fill(a, luaL_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}

static int m_zero_(lua_State* L) {
  sp_array_fill(spL_checkarray(L, 1), 0);
  lua_settop(L, 1);
  return 1;
}

static int m_copy_(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  double s;
  sp_array* b = spL_optarray_or_number(L, 2, &s);
  if (!b) {
    sp_array_fill(a, s);
  } else {
    int rc = sp_array_assign(a, b);
    if (rc == SP_ESHAPE)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "expected a shape that broadcasts to %s, got %s",
                                    shape_of(L, a), shape_of(L, b)));
    if (rc) spL_raise(L, rc, "copy_");
  }
  lua_settop(L, 1);
  return 1;
}

// unary math: upvalue 1 the sp_unop, upvalue 2 true for the in-place form
static int m_unop(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_unop op = (sp_unop)lua_tointeger(L, lua_upvalueindex(1));
  int inplace = lua_toboolean(L, lua_upvalueindex(2));
  sp_array* out = inplace ? a : spL_newarray(L, a->ndim, a->shape);
  int rc = sp_array_unop(out, a, op);
  if (rc) spL_raise(L, rc, "elementwise operation");
  if (inplace) lua_settop(L, 1);
  return 1;
}

static int clamp(lua_State* L, int inplace) {
  sp_array* a = spL_checkarray(L, 1);
  double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
  if (!(lo <= hi))
    luaL_argerror(L, 3, lua_pushfstring(L, "expected an upper bound >= %f, got %f", lo, hi));
  sp_array* out = inplace ? a : spL_newarray(L, a->ndim, a->shape);
  sp_array_clamp(out, a, lo, hi);
  if (inplace) lua_settop(L, 1);
  return 1;
}

static int m_clamp(lua_State* L) {
  return clamp(L, 0);
}
static int m_clamp_(lua_State* L) {
  return clamp(L, 1);
}

// ---- reductions and products -------------------------------------------------------------------

static int m_reduce(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_reduce op = (sp_reduce)lua_tointeger(L, lua_upvalueindex(1));
  if (lua_isnoneornil(L, 2)) {
    double v;
    if (sp_array_reduce_all(&v, a, op))
      luaL_argerror(L, 1, "expected a non-empty array, got an empty one");
    lua_pushnumber(L, v);
    return 1;
  }
  int dim = check_dim(L, 2, a);
  if (a->shape[dim] == 0 && op != SP_REDUCE_SUM && op != SP_REDUCE_PROD)
    luaL_argerror(L, 2,
                  lua_pushfstring(L,
                                  "expected a non-empty dimension, dimension %d has "
                                  "size 0",
                                  dim + 1));
  int64_t shape[SP_MAXDIM];
  for (int d = 0, k = 0; d < a->ndim; d++)
    if (d != dim) shape[k++] = a->shape[d];
  sp_array* out = spL_newarray(L, a->ndim - 1, shape);
  sp_array_reduce(out, a, dim, op);
  if (out->ndim == 0) lua_pushnumber(L, out->data[0]);
  return 1;
}

static int argext(lua_State* L, int want_max) {
  sp_array* a = spL_checkarray(L, 1);
  if (a->ndim != 1)
    luaL_argerror(L, 1, lua_pushfstring(L, "expected a 1-D array, got %d-D", a->ndim));
  int64_t i;
  if (sp_array_argext(&i, a, want_max))
    luaL_argerror(L, 1, "expected a non-empty array, got an empty one");
  lua_pushinteger(L, i + 1);
  return 1;
}

static int m_argmax(lua_State* L) {
  return argext(L, 1);
}
static int m_argmin(lua_State* L) {
  return argext(L, 0);
}

static int m_norm(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  double p = 2;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char* s = lua_tostring(L, 2);
    if (!strcmp(s, "fro"))
      p = 2;
    else if (!strcmp(s, "inf"))
      p = HUGE_VAL;
    else
      luaL_argerror(L, 2,
                    lua_pushfstring(L,
                                    "expected 1, 2, math.huge, 'inf' or 'fro', got "
                                    "'%s'",
                                    s));
  } else if (!lua_isnoneornil(L, 2)) {
    p = luaL_checknumber(L, 2);
    if (p != 1 && p != 2 && p != HUGE_VAL)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "expected 1, 2, math.huge, 'inf' or 'fro', got %f", p));
  }
  double v;
  sp_array_norm(&v, a, p);
  lua_pushnumber(L, v);
  return 1;
}

static int m_dot(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  sp_array* b = spL_toarray(L, 2);
  if (a->ndim != 1)
    luaL_argerror(L, 1, lua_pushfstring(L, "expected a 1-D array, got %d-D", a->ndim));
  if (b->ndim != 1 || b->shape[0] != a->shape[0])
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a 1-D array of length %d, got shape %s",
                                  (int)a->shape[0], shape_of(L, b)));
  double v;
  sp_array_dot(&v, a, b);
  lua_pushnumber(L, v);
  return 1;
}

static int l_matmul(lua_State* L) {
  sp_array* a = spL_toarray(L, 1);
  sp_array* b = spL_toarray(L, 2);
  int ndim;
  int64_t shape[SP_MAXDIM];
  if (a->ndim < 1 || a->ndim > 2)
    luaL_argerror(L, 1, lua_pushfstring(L, "expected a 1-D or 2-D array, got %d-D", a->ndim));
  if (b->ndim < 1 || b->ndim > 2)
    luaL_argerror(L, 2, lua_pushfstring(L, "expected a 1-D or 2-D array, got %d-D", b->ndim));
  if (sp_array_matmul_shape(&ndim, shape, a, b))
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected inner dimensions to agree, got %s and %s",
                                  shape_of(L, a), shape_of(L, b)));
  sp_array* out = spL_newarray(L, ndim, shape);
  int rc = sp_array_matmul(out, a, b);
  if (rc) spL_raise(L, rc, "matmul");
  if (ndim == 0) lua_pushnumber(L, out->data[0]);
  return 1;
}

static int l_allclose(lua_State* L) {
  sp_array* a = spL_toarray(L, 1);
  sp_array* b = spL_toarray(L, 2);
  double rtol = luaL_optnumber(L, 3, 1e-5), atol = luaL_optnumber(L, 4, 1e-8);
  int r = sp_array_allclose(a, b, rtol, atol);
  if (r < 0)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected shapes that broadcast, got %s and %s",
                                  shape_of(L, a), shape_of(L, b)));
  lua_pushboolean(L, r);
  return 1;
}

// ---- files -------------------------------------------------------------------------------------

static int m_save(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  const char* path = luaL_checkstring(L, 2);
  char msg[512];
  if (sp_npy_save(path, a, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_load(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  char msg[512];
  sp_array* a = push_empty(L);
  if (sp_npy_load(a, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  return 1;
}

// ---- module ------------------------------------------------------------------------------------

static const luaL_Reg methods[] = {
    {"get", m_get},
    {"set", m_set},
    {"size", m_size},
    {"numel", m_numel},
    {"dim", m_dim},
    {"is_contiguous", m_is_contiguous},
    {"totable", m_totable},
    {"narrow", m_narrow},
    {"select", m_select},
    {"transpose", m_transpose},
    {"t", m_t},
    {"reshape", m_reshape},
    {"view", m_reshape},
    {"flatten", m_flatten},
    {"slice", m_slice},
    {"copy", m_copy},
    {"unsqueeze", m_unsqueeze},
    {"clone", m_copy},
    {"contiguous", m_contiguous},
    {"fill_", m_fill_},
    {"zero_", m_zero_},
    {"copy_", m_copy_},
    {"clamp", m_clamp},
    {"clamp_", m_clamp_},
    {"argmax", m_argmax},
    {"argmin", m_argmin},
    {"norm", m_norm},
    {"dot", m_dot},
    {"matmul", l_matmul},
    {"save", m_save},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__newindex", m_newindex}, {"__len", m_len}, {"__tostring", m_tostring}, {"__gc", m_gc},
    {"__close", m_gc},          {"__add", m_add}, {"__sub", m_sub},           {"__mul", m_mul},
    {"__div", m_div},           {"__pow", m_pow}, {"__unm", m_unm},           {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"new", l_new},           {"zeros", l_zeros},   {"ones", l_ones},         {"full", l_full},
    {"eye", l_eye},           {"arange", l_arange}, {"linspace", l_linspace}, {"rand", l_rand},
    {"randn", l_randn},       {"matmul", l_matmul}, {"allclose", l_allclose}, {"load", l_load},
    {"is_array", l_is_array}, {"cat", l_cat},       {"stack", l_stack},       {NULL, NULL},
};

static const struct {
  const char* name;
  sp_unop op;
} unops[] = {
    {"neg", SP_OP_NEG},         {"abs", SP_OP_ABS},   {"exp", SP_OP_EXP}, {"log", SP_OP_LOG},
    {"sqrt", SP_OP_SQRT},       {"tanh", SP_OP_TANH}, {"sin", SP_OP_SIN}, {"cos", SP_OP_COS},
    {"sigmoid", SP_OP_SIGMOID}, {"sign", SP_OP_SIGN},
};

static const struct {
  const char* name;
  sp_binop op;
} binops[] = {
    {"add", SP_OP_ADD}, {"sub", SP_OP_SUB},     {"mul", SP_OP_MUL},     {"div", SP_OP_DIV},
    {"pow", SP_OP_POW}, {"minimum", SP_OP_MIN}, {"maximum", SP_OP_MAX},
};

static const struct {
  const char* name;
  sp_reduce op;
} reductions[] = {
    {"sum", SP_REDUCE_SUM}, {"mean", SP_REDUCE_MEAN}, {"min", SP_REDUCE_MIN},
    {"max", SP_REDUCE_MAX}, {"prod", SP_REDUCE_PROD},
};

int luaopen_spinal_array(lua_State* L) {
  // methods table (upvalue of __index)
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  for (size_t i = 0; i < sizeof unops / sizeof unops[0]; i++) {
    for (int inplace = 0; inplace <= 1; inplace++) {
      lua_pushinteger(L, unops[i].op);
      lua_pushboolean(L, inplace);
      lua_pushcclosure(L, m_unop, 2);
      lua_pushfstring(L, inplace ? "%s_" : "%s", unops[i].name);
      lua_insert(L, -2);
      lua_rawset(L, -3);
    }
  }
  for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++) {
    lua_pushinteger(L, binops[i].op);
    lua_pushcclosure(L, m_binop, 1);
    lua_setfield(L, -2, binops[i].name);
    lua_pushinteger(L, binops[i].op);
    lua_pushcclosure(L, m_binop_, 1);
    lua_pushfstring(L, "%s_", binops[i].name);
    lua_insert(L, -2);
    lua_rawset(L, -3);
  }
  for (size_t i = 0; i < sizeof reductions / sizeof reductions[0]; i++) {
    lua_pushinteger(L, reductions[i].op);
    lua_pushcclosure(L, m_reduce, 1);
    lua_setfield(L, -2, reductions[i].name);
  }
  int methods_idx = lua_gettop(L);

  // the userdata metatable
  if (luaL_newmetatable(L, SP_ARRAY_MT)) {
    luaL_setfuncs(L, metamethods, 0);
    lua_pushvalue(L, methods_idx);
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);

  // the module: functions, plus A{...} through __call
  lua_newtable(L);
  luaL_setfuncs(L, functions, 0);
  lua_pushvalue(L, methods_idx);
  lua_setfield(L, -2, "methods");
  lua_newtable(L);
  lua_pushcfunction(L, l_call);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  return 1;
}
