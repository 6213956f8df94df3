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

#include "bind.h"
#include "engine/core/error.h"


static sp_cost* checkcost(lua_State* L, int arg) {
  spL_handle* u = spL_tohandle(L, arg, SP_COST_MT);
  if (!u)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a spinal.cost, got %s", luaL_typename(L, arg)));
  if (!u->obj) luaL_argerror(L, arg, "expected a spinal.cost, got a closed cost");
  return u->obj;
}


// ---- option tables ---------------------------------------------------------------------------

static void check_options(lua_State* L, int arg, const char* fname) {
  if (!lua_istable(L, arg))
    luaL_error(L, "bad argument #%d to '%s' (expected a table of options, got %s)", arg, fname,
               luaL_typename(L, arg));
}

// number field (def when absent; required when def is NAN and required is set)
static double num_field(lua_State* L, int arg, const char* fname, const char* key, double def,
                        int required) {
  lua_getfield(L, arg, key);
  double v = def;
  if (lua_isnil(L, -1)) {
    if (required)
      luaL_error(L, "bad argument #%d to '%s' (expected field '%s', got nil)", arg, fname, key);
  } else if (!lua_isnumber(L, -1)) {
    luaL_error(L, "bad argument #%d to '%s' (expected field '%s' to be a number, got %s)", arg,
               fname, key, luaL_typename(L, -1));
  } else {
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

// a 1-based index field into z = (x, u), returned 0-based
static int index_field(lua_State* L, int arg, const char* fname, const char* key, int def,
                       const sp_cost* c) {
  double v = num_field(L, arg, fname, key, def, def < 0);
  int n = c->nx + c->nu;
  if (v != floor(v) || v < 1 || v > n)
    luaL_error(L,
               "bad argument #%d to '%s' (expected field '%s' to be an index 1..%d into "
               "(x, u), got %f)",
               arg, fname, key, n, v);
  return (int)v - 1;
}

static double weight_field(lua_State* L, int arg, const char* fname) {
  double w = num_field(L, arg, fname, "weight", 1, 0);
  if (!isfinite(w))
    luaL_error(L, "bad argument #%d to '%s' (expected a finite weight, got %f)", arg, fname, w);
  return w;
}

static const char* const ref_names[] = {"x",     "y",  "xdot", "ydot",   "xddot",
                                        "yddot", "cx", "cy",   "radius", NULL};

// square matrix field (m x m) into W; absent: identity
static void matrix_field(lua_State* L, int arg, const char* fname, const char* key, int m,
                         double* W) {
  lua_getfield(L, arg, key);
  if (lua_isnil(L, -1)) {
    for (int k = 0; k < m * m; k++) W[k] = (k % (m + 1) == 0);
    lua_pop(L, 1);
    return;
  }
  sp_array* a = spL_toarray(L, lua_gettop(L));
  if (a->ndim != 2 || a->shape[0] != m || a->shape[1] != m) {
    char buf[SP_MAXDIM * 24];
    luaL_error(L, "bad argument #%d to '%s' (expected field '%s' of shape (%d, %d), got %s)", arg,
               fname, key, m, m, sp_array_shape_str(buf, sizeof buf, a));
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < m; j++) W[i * m + j] = *sp_array_at(a, (int64_t[]){i, j});
}

// raise the engine's refusal of a term (arguments were checked, so this is rare)
static int add_result(lua_State* L, int rc, const char* fname) {
  if (rc < 0) return spL_raise(L, rc, fname);
  lua_settop(L, 1);
  return 1;  // self, for chaining
}

// ---- constructors and terms ---------------------------------------------------------------------

static int l_new(lua_State* L) {
  check_options(L, 1, "new");
  double nx = num_field(L, 1, "new", "nx", NAN, 1), nu = num_field(L, 1, "new", "nu", 0, 0);
  if (!(nx >= 1) || nx != floor(nx) || nx > 1e6)
    return luaL_error(L, "bad argument #1 to 'new' (expected an integer nx >= 1, got %f)", nx);
  if (!(nu >= 0) || nu != floor(nu) || nu > 1e6)
    return luaL_error(L, "bad argument #1 to 'new' (expected an integer nu >= 0, got %f)", nu);
  spL_handle* u = spL_newhandle(L, SP_COST_MT);
  sp_cost* obj = NULL;
  int rc = sp_cost_new(&obj, (int)nx, (int)nu);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "new");
  return 1;
}

static int l_car(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  check_options(L, 1, "car");
  double nx = num_field(L, 1, "car", "nx", 4, 0), nu = num_field(L, 1, "car", "nu", 2, 0);
  if (!(nx >= 1) || nx != floor(nx) || !(nu >= 0) || nu != floor(nu))
    return luaL_error(L,
                      "bad argument #1 to 'car' (expected integers nx >= 1 and nu >= 0, got "
                      "%f and %f)",
                      nx, nu);
  sp_cost probe = {.nx = (int)nx, .nu = (int)nu};
  int ix = index_field(L, 1, "car", "x", 1, &probe), iy = index_field(L, 1, "car", "y", 2, &probe);
  int iv = index_field(L, 1, "car", "v", 3, &probe);
  int iphi = index_field(L, 1, "car", "phi", 4, &probe);
  spL_handle* u = spL_newhandle(L, SP_COST_MT);
  sp_cost* obj = NULL;
  int rc = sp_cost_new_car(&obj, (int)nx, (int)nu, ix, iy, iv, iphi);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "car");
  return 1;
}

static int m_quadratic(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "quadratic");
  double w = weight_field(L, 2, "quadratic");
  lua_getfield(L, 2, "index");
  if (!lua_istable(L, -1) || lua_rawlen(L, -1) < 1)
    return luaL_error(L,
                      "bad argument #2 to 'quadratic' (expected field 'index' to be a "
                      "non-empty table of indices, got %s)",
                      luaL_typename(L, -1));
  int m = (int)lua_rawlen(L, -1), n = c->nx + c->nu;
  // scratch for the term's arrays, owned by the Lua stack until the engine copies them
  int64_t len = (int64_t)m * m + 4 * m;
  sp_array* scratch = spL_newarray(L, 1, &len);
  double *W = scratch->data, *target = W + m * m;
  int* idx = (int*)(target + m);
  int* ridx = idx + m;
  for (int k = 0; k < m; k++) {
    lua_rawgeti(L, 3, k + 1);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    if (v != floor(v) || v < 1 || v > n)
      return luaL_error(L, "bad argument #2 to 'quadratic' (expected index[%d] in 1..%d, got %s)",
                        k + 1, n, luaL_tolstring(L, -1, NULL));
    idx[k] = (int)v - 1;
    lua_pop(L, 1);
  }
  lua_getfield(L, 2, "target");
  int has_target = !lua_isnil(L, -1);
  if (has_target && (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != m))
    return luaL_error(L,
                      "bad argument #2 to 'quadratic' (expected field 'target' to be a table "
                      "of %d numbers or reference names, got %s)",
                      m, luaL_typename(L, -1));
  for (int k = 0; k < m; k++) {
    ridx[k] = -1;
    target[k] = 0;
    if (!has_target) continue;
    lua_rawgeti(L, -1, k + 1);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      target[k] = lua_tonumber(L, -1);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
      const char* s = lua_tostring(L, -1);
      for (int j = 0; ref_names[j]; j++)
        if (strcmp(s, ref_names[j]) == 0) ridx[k] = j;
      if (ridx[k] < 0)
        return luaL_error(L,
                          "bad argument #2 to 'quadratic' (expected target[%d] to be a number "
                          "or one of x, y, xdot, ydot, xddot, yddot, cx, cy, radius, got "
                          "\"%s\")",
                          k + 1, s);
    } else {
      return luaL_error(L,
                        "bad argument #2 to 'quadratic' (expected target[%d] to be a number "
                        "or a reference name, got %s)",
                        k + 1, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  matrix_field(L, 2, "quadratic", "W", m, W);
  return add_result(L, sp_cost_add_quadratic(c, w, idx, ridx, target, W, m), "quadratic");
}

static int m_radial(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "radial");
  double w = weight_field(L, 2, "radial");
  int ix = index_field(L, 2, "radial", "x", 1, c), iy = index_field(L, 2, "radial", "y", 2, c);
  return add_result(L, sp_cost_add_radial(c, w, ix, iy), "radial");
}

static int m_heading(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "heading");
  double w = weight_field(L, 2, "heading");
  lua_getfield(L, 2, "mode");
  const char* mode = lua_isnil(L, -1) ? "circle" : lua_tostring(L, -1);
  if (!mode || (strcmp(mode, "circle") && strcmp(mode, "ref")))
    return luaL_error(L,
                      "bad argument #2 to 'heading' (expected 'mode' \"circle\" or \"ref\", "
                      "got %s)",
                      mode ? mode : luaL_typename(L, -1));
  int circle = strcmp(mode, "circle") == 0;
  lua_pop(L, 1);
  int iphi = index_field(L, 2, "heading", "phi", 4, c);
  int ix = circle ? index_field(L, 2, "heading", "x", 1, c) : 0;
  int iy = circle ? index_field(L, 2, "heading", "y", 2, c) : 0;
  return add_result(L,
                    sp_cost_add_heading(c, w, iphi, ix, iy,
                                        circle ? SP_COST_HEADING_CIRCLE : SP_COST_HEADING_REF),
                    "heading");
}

static int m_speed(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "speed");
  double w = weight_field(L, 2, "speed");
  int iv = index_field(L, 2, "speed", "v", 3, c);
  double vref = num_field(L, 2, "speed", "ref", NAN, 0);
  if (isinf(vref))
    return luaL_error(L, "bad argument #2 to 'speed' (expected a finite 'ref', got %f)", vref);
  return add_result(L, sp_cost_add_speed(c, w, iv, vref), "speed");
}

static int m_action(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "action");
  if (c->nu < 1)
    return luaL_error(L,
                      "bad argument #1 to 'action' (expected a cost with actions, got a "
                      "terminal cost (nu = 0))");
  double w = weight_field(L, 2, "action");
  int64_t len = (int64_t)c->nu * c->nu;
  sp_array* R = spL_newarray(L, 1, &len);
  matrix_field(L, 2, "action", "R", c->nu, R->data);
  return add_result(L, sp_cost_add_action(c, w, R->data), "action");
}

static int m_limit(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  check_options(L, 2, "limit");
  double w = weight_field(L, 2, "limit");
  int i = index_field(L, 2, "limit", "index", -1, c);
  double lo = num_field(L, 2, "limit", "lo", -INFINITY, 0);
  double hi = num_field(L, 2, "limit", "hi", INFINITY, 0);
  if (!(lo <= hi))
    return luaL_error(L, "bad argument #2 to 'limit' (expected lo <= hi, got %f and %f)", lo, hi);
  return add_result(L, sp_cost_add_limit(c, w, i, lo, hi), "limit");
}

// ---- evaluation ------------------------------------------------------------------------------

// contiguous data of a vector of length n at arg (array or table)
static const double* check_vector(lua_State* L, int arg, int64_t n, const char* fname,
                                  const char* what) {
  sp_array* a = spL_toarray(L, arg);
  if (a->ndim != 1 || sp_array_size(a) != n) {
    char buf[SP_MAXDIM * 24];
    luaL_error(L, "bad argument #%d to '%s' (expected %s of length %d, got %s)", arg, fname, what,
               (int)n,
               a->ndim == 1 ? lua_pushfstring(L, "%d", (int)sp_array_size(a))
                            : sp_array_shape_str(buf, sizeof buf, a));
  }
  if (sp_array_is_contiguous(a)) return a->data;
  sp_array* c = spL_newarray(L, 1, &n);
  sp_array_assign(c, a);
  return c->data;
}

// the three inputs of an evaluation, checked before anything is computed
static void inputs(lua_State* L, const sp_cost* c, const char* fname, const double** x,
                   const double** u, const double** ref) {
  lua_settop(L, 4);
  *x = check_vector(L, 2, c->nx, fname, "a state");
  if (c->nu == 0) {
    if (!lua_isnil(L, 3))
      luaL_error(L, "bad argument #3 to '%s' (expected nil for a terminal cost, got %s)", fname,
                 luaL_typename(L, 3));
    *u = NULL;
  } else {
    *u = check_vector(L, 3, c->nu, fname, "an action");
  }
  *ref = check_vector(L, 4, SP_TASK_NREF, fname, "a task reference (task:ref(t))");
}

static int m_value(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  const double *x, *u, *ref;
  inputs(L, c, "value", &x, &u, &ref);
  lua_pushnumber(L, sp_cost_value(c, x, u, ref));
  return 1;
}

static int m_grad(lua_State* L) {
  sp_cost* c = checkcost(L, 1);
  const double *x, *u, *ref;
  inputs(L, c, "grad", &x, &u, &ref);
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
  inputs(L, c, "terms", &x, &u, &ref);
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
