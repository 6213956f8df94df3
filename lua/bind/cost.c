// cost.c: the Lua binding of engine/cost (require "spinal.cost"): per-step cost terms with exact
// gradients, composed into a weighted sum (docs/api/tasks_costs.md). Indices are 1-based into
// z = (x, u); reference entries are named ("x", "y", "xdot", "ydot", "xddot", "yddot", "cx",
// "cy", "radius").
//
//   local C = require "spinal.cost"
//   local c = C.new { nx = 4, nu = 2 }                   -- nu = 0 makes a terminal cost
//   c:radial { weight = 1, x = 1, y = 2 }
//    :speed { weight = 1 / 30, v = 3 }                   -- reference speed when `ref` is absent
//    :heading { weight = 10 / 30, phi = 4, x = 1, y = 2, mode = "circle" }
//    :quadratic { weight = 1, index = { 1, 2 }, target = { "x", "y" }, W = { { 1, 0 }, { 0, 1 } } }
//    :action { weight = 0.1 }  :limit { weight = 10, index = 5, lo = -0.75, hi = 0.75 }
//   local car = C.car { nx = 4, nu = 2 }                 -- method 1's car cost
//   local v, gx, gu, gref = c:grad(x, u, task:ref(t))
#include "engine/cost/cost.h"

#include <math.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"

static sp_cost* checkcost(lua_State* L, int arg) {
  spL_handle* u = spL_tohandle(L, arg, SP_COST_MT);
  if (!u) spA_argerror(L, arg, "expected a spinal.cost, got %s", luaL_typename(L, arg));
  if (!u->obj) luaL_argerror(L, arg, "expected a spinal.cost, got a closed cost");
  return u->obj;
}

// ---- option tables ---------------------------------------------------------------------------

// a 1-based index field into z = (x, u), returned 0-based (def < 0: required)
static int index_field(const spA_table* t, const char* key, int def, const sp_cost* c) {
  return (int)spA_integer(t, key, def, 1, c->nx + c->nu, def < 0) - 1;
}

static double weight_field(const spA_table* t) {
  return spA_range(t, "weight", 1, NAN, NAN, 0);
}

static const char* const ref_names[] = {"x",     "y",  "xdot", "ydot",   "xddot",
                                        "yddot", "cx", "cy",   "radius", NULL};

// square matrix field (m x m) into W; absent: identity
static void matrix_field(const spA_table* t, const char* key, int m, double* W) {
  lua_State* L = t->L;
  if (lua_getfield(L, t->idx, key) == LUA_TNIL) {
    for (int k = 0; k < m * m; k++) W[k] = (k % (m + 1) == 0);
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1) && !spL_testarray(L, -1))
    spA_fielderror(t, key, "expected a matrix of shape (%d, %d), got %s", m, m,
                   luaL_typename(L, -1));
  sp_array* a = spL_toarray(L, lua_gettop(L));
  if (a->ndim != 2 || a->shape[0] != m || a->shape[1] != m) {
    char buf[SP_MAXDIM * 24];
    spA_fielderror(t, key, "expected a matrix of shape (%d, %d), got %s", m, m,
                   sp_array_shape_str(buf, sizeof buf, a));
  }
  spA_gather(a, W);
}

// raise the engine's refusal of a term (arguments were checked, so this is rare)
static int add_result(lua_State* L, int rc, const char* fname) {
  if (rc < 0) return spL_raise(L, rc, fname);
  lua_settop(L, 1);
  return 1;  // self, for chaining
}

// ---- constructors and terms ---------------------------------------------------------------------

static int l_new(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  int nx = (int)spA_integer(&t, "nx", 0, 1, 1000000, 1);
  int nu = (int)spA_integer(&t, "nu", 0, 0, 1000000, 0);
  spL_handle* u = spL_newhandle(L, SP_COST_MT);
  sp_cost* obj = NULL;
  int rc = sp_cost_new(&obj, nx, nu);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "new");
  return 1;
}

static int l_car(lua_State* L) {
  spA_table t = spA_opts(L, 1, 1);
  int nx = (int)spA_integer(&t, "nx", 4, 1, 1000000, 0);
  int nu = (int)spA_integer(&t, "nu", 2, 0, 1000000, 0);
  sp_cost probe = {.nx = nx, .nu = nu};
  int ix = index_field(&t, "x", 1, &probe), iy = index_field(&t, "y", 2, &probe);
  int iv = index_field(&t, "v", 3, &probe), iphi = index_field(&t, "phi", 4, &probe);
  spL_handle* u = spL_newhandle(L, SP_COST_MT);
  sp_cost* obj = NULL;
  int rc = sp_cost_new_car(&obj, nx, nu, ix, iy, iv, iphi);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "car");
  return 1;
}

// the target of a quadratic term: numbers, or names of reference entries (ridx >= 0)
static void quadratic_target(const spA_table* t, int m, double* target, int* ridx) {
  lua_State* L = t->L;
  int ty = lua_getfield(L, t->idx, "target");
  if (ty != LUA_TNIL && (ty != LUA_TTABLE || (int)lua_rawlen(L, -1) != m))
    spA_fielderror(t, "target", "expected a list of %d numbers or reference names, got %s", m,
                   luaL_typename(L, -1));
  for (int k = 0; k < m; k++) {
    ridx[k] = -1;
    target[k] = 0;
    if (ty == LUA_TNIL) continue;
    int ky = lua_rawgeti(L, -1, k + 1);
    if (ky == LUA_TNUMBER) {
      target[k] = lua_tonumber(L, -1);
    } else if (ky == LUA_TSTRING) {
      const char* s = lua_tostring(L, -1);
      for (int j = 0; ref_names[j]; j++)
        if (strcmp(s, ref_names[j]) == 0) ridx[k] = j;
      if (ridx[k] < 0)
        spA_fielderror(t, lua_pushfstring(L, "target[%d]", k + 1),
                       "expected a number or one of x, y, xdot, ydot, xddot, yddot, cx, cy, "
                       "radius, got '%s'",
                       s);
    } else {
      const char* got = luaL_typename(L, -1);
      spA_fielderror(t, lua_pushfstring(L, "target[%d]", k + 1),
                     "expected a number or a reference name, got %s", got);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int m_quadratic(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  double w = weight_field(&t);
  if (lua_getfield(L, 2, "index") != LUA_TTABLE || lua_rawlen(L, -1) < 1)
    spA_fielderror(&t, "index", "expected a non-empty list of indices, got %s",
                   luaL_typename(L, -1));
  int m = (int)lua_rawlen(L, -1), n = c->nx + c->nu;
  // scratch for the term's arrays, owned by the Lua stack until the engine copies them
  double* W = spA_scratch(L, (size_t)m * m + 4 * (size_t)m);
  double* target = W + m * m;
  int* idx = (int*)(target + m);
  int* ridx = idx + m;
  for (int k = 0; k < m; k++) {
    lua_rawgeti(L, 3, k + 1);
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    if (!lua_isnumber(L, -1) || (double)v != lua_tonumber(L, -1) || v < 1 || v > n) {
      const char* got = luaL_tolstring(L, -1, NULL);
      spA_fielderror(&t, lua_pushfstring(L, "index[%d]", k + 1),
                     "expected an integer in [1, %d], got %s", n, got);
    }
    idx[k] = (int)v - 1;
    lua_pop(L, 1);
  }
  quadratic_target(&t, m, target, ridx);
  matrix_field(&t, "W", m, W);
  return add_result(L, sp_cost_add_quadratic(c, w, idx, ridx, target, W, m), "quadratic");
}

static int m_radial(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  double w = weight_field(&t);
  int ix = index_field(&t, "x", 1, c), iy = index_field(&t, "y", 2, c);
  return add_result(L, sp_cost_add_radial(c, w, ix, iy), "radial");
}

static const char* const heading_modes[] = {"circle", "ref", NULL};

static int m_heading(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  double w = weight_field(&t);
  int circle = spA_option(&t, "mode", 0, heading_modes) == 0;
  int iphi = index_field(&t, "phi", 4, c);
  int ix = circle ? index_field(&t, "x", 1, c) : 0;
  int iy = circle ? index_field(&t, "y", 2, c) : 0;
  return add_result(L,
                    sp_cost_add_heading(c, w, iphi, ix, iy,
                                        circle ? SP_COST_HEADING_CIRCLE : SP_COST_HEADING_REF),
                    "heading");
}

static int m_speed(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  double w = weight_field(&t);
  int iv = index_field(&t, "v", 3, c);
  double vref = spA_range(&t, "ref", NAN, NAN, NAN, 0);  // absent: the task's speed
  return add_result(L, sp_cost_add_speed(c, w, iv, vref), "speed");
}

static int m_action(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  if (c->nu < 1)
    return luaL_argerror(L, 1, "expected a cost with actions, got a terminal cost (nu = 0)");
  double w = weight_field(&t);
  double* R = spA_scratch(L, (size_t)c->nu * c->nu);
  matrix_field(&t, "R", c->nu, R);
  return add_result(L, sp_cost_add_action(c, w, R), "action");
}

static int m_limit(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  double w = weight_field(&t);
  int i = index_field(&t, "index", -1, c);
  double lo = spA_number(&t, "lo", -INFINITY), hi = spA_number(&t, "hi", INFINITY);
  if (!(lo <= hi)) return spA_argerror(L, 2, "expected lo <= hi, got %f and %f", lo, hi);
  return add_result(L, sp_cost_add_limit(c, w, i, lo, hi), "limit");
}

// ---- evaluation ------------------------------------------------------------------------------

// a vector of length n at arg (array or table), copied into scratch on the stack
static const double* check_vector(lua_State* L, int arg, int64_t n, const char* what) {
  double* d = spA_scratch(L, (size_t)n);
  spA_vector(L, arg, d, n, what, 0);
  return d;
}

// the three inputs of an evaluation, checked before anything is computed
static void inputs(lua_State* L, const sp_cost* c, const double** x, const double** u,
                   const double** ref) {
  lua_settop(L, 4);
  *x = check_vector(L, 2, c->nx, "a state");
  if (c->nu == 0) {
    if (!lua_isnil(L, 3))
      spA_argerror(L, 3, "expected nil for a terminal cost, got %s", luaL_typename(L, 3));
    *u = NULL;
  } else {
    *u = check_vector(L, 3, c->nu, "an action");
  }
  *ref = check_vector(L, 4, SP_TASK_NREF, "a task reference (task:ref(t))");
}

static int m_value(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  const double *x, *u, *ref;
  inputs(L, c, &x, &u, &ref);
  lua_pushnumber(L, sp_cost_value(c, x, u, ref));
  return 1;
}

static int m_grad(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  const double *x, *u, *ref;
  inputs(L, c, &x, &u, &ref);
  int64_t nx = c->nx, nu = c->nu, nr = SP_TASK_NREF;
  int top = lua_gettop(L);
  lua_pushnil(L);  // slot for the value
  sp_array* gx = spL_newarray(L, 1, &nx);
  sp_array* gu = nu > 0 ? spL_newarray(L, 1, &nu) : NULL;
  if (!gu) lua_pushnil(L);
  sp_array* gr = spL_newarray(L, 1, &nr);
  double v = sp_cost_grad(c, gx->data, gu ? gu->data : NULL, gr->data, x, u, ref);
  lua_pushnumber(L, v);
  lua_replace(L, top + 1);
  return 4;
}

static int m_terms(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  const double *x, *u, *ref;
  inputs(L, c, &x, &u, &ref);
  int64_t n = c->n;
  sp_array* vals = spL_newarray(L, 1, &n);
  if (n > 0) sp_cost_terms(c, vals->data, x, u, ref);
  return 1;
}

static int m_len(lua_State* L) {
  lua_pushinteger(L, checkcost(L, 1)->n);
  return 1;
}

static int m_sizes(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  lua_pushinteger(L, c->nx);
  lua_pushinteger(L, c->nu);
  return 2;
}

static int m_tostring(lua_State* L) {
  spL_handle* u = luaL_checkudata(L, 1, SP_COST_MT);
  if (!u->obj) {
    lua_pushliteral(L, "spinal.cost (closed)");
    return 1;
  }
  const sp_cost* c = u->obj;
  lua_pushfstring(L, "spinal.cost (nx %d, nu %d, %d terms)", c->nx, c->nu, c->n);
  return 1;
}

static int m_gc(lua_State* L) {
  spL_handle* u = luaL_checkudata(L, 1, SP_COST_MT);
  sp_cost_free(u->obj);
  u->obj = NULL;
  return 0;
}

static const luaL_Reg methods[] = {
    {"quadratic", m_quadratic}, {"radial", m_radial}, {"heading", m_heading}, {"speed", m_speed},
    {"action", m_action},       {"limit", m_limit},   {"value", m_value},     {"grad", m_grad},
    {"terms", m_terms},         {"sizes", m_sizes},   {"close", m_gc},        {NULL, NULL},
};

int luaopen_spinal_cost(lua_State* L) {
  if (luaL_newmetatable(L, SP_COST_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  lua_pushcfunction(L, l_car);
  lua_setfield(L, -2, "car");
  return 1;
}
