// model.c: the Lua binding of engine/model (require "spinal.model"): differentiable dynamics
// models by name, stepped by Euler or RK4, with exact step Jacobians and their transposed form.
//
//   local M = require "spinal.model"
//   local m = M.new("unicycle_accel", { k_a = 1 }, { dt = 0.02, integrator = "rk4", substeps = 1 })
//   local xn = m:step(x, u)               -- x, u: arrays or tables; xn: a new array (nx)
//   local A, B, P, xn = m:jac(x, u)       -- (nx x nx), (nx x nu), (nx x np), (nx)
//   local gx, gu, gp = m:vjp(x, u, g)     -- A^T g, B^T g, P^T g
//   local xd = m:f(x, u)                  -- continuous-time dynamics (the map, if discrete)
//   local fx, fu, fp = m:f_jac(x, u)      -- its Jacobians
//   m.nx  m.nu  m.np  m.name  m.doc  m.x_names  m.u_names  m.p_names
//   m.params                              -- a copy, by name; change with m:set_param(name, v)
//   m.dt  m.integrator  m.substeps        -- readable and assignable
//   M.list()  M.info(name)
//   M.define { name = "my_car", x = {...}, u = {...}, p = {...}, defaults = {...},
//              f = function(x, u, p) ... end }  -- a model written in Lua (model_lua.c)
// Errors are raised here only, after every argument is checked and before any side effect.
#include "engine/model/model.h"

#include <math.h>
#include <string.h>

#include "args.h"

int luaopen_spinal_model(lua_State* L);

typedef struct {
  sp_model* m;                 // NULL once closed
  sp_model_data* d;            // the Lua state's workspace for m, made on first use
  void (*release)(sp_model*);  // frees m: sp_model_free, or a constructor's own (spL_newmodel)
  double buf[];  // scratch: x (nx), u (nu), g (nx); parameters (np) while constructing
} lmodel;

static const char* const integrator_names[] = {"euler", "rk4", NULL};

sp_model* spL_checkmodel(lua_State* L, int arg) {
  lmodel* lm = luaL_testudata(L, arg, SP_MODEL_MT);
  if (!lm)
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "expected a spinal.model (from require "
                                  "'spinal.model'.new(name, ...)), got %s",
                                  luaL_typename(L, arg)));
  if (!lm->m) luaL_argerror(L, arg, "expected a spinal.model, got a closed model");
  return lm->m;
}

static lmodel* checklmodel(lua_State* L, int arg) {
  spL_checkmodel(L, arg);
  return lua_touserdata(L, arg);
}

// the model's workspace for calls from this Lua state, made on first use
static sp_model_data* data_of(lua_State* L, lmodel* lm) {
  if (!lm->d && sp_model_data_new(&lm->d, lm->m)) spL_raise(L, SP_ENOMEM, "model");
  return lm->d;
}

sp_model_data* spL_modeldata(lua_State* L, int arg) {
  return data_of(L, checklmodel(L, arg));
}

// push "a, b, c" from a NULL-free list of n names
static const char* push_joined(lua_State* L, const char* const* names, int n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    if (i) luaL_addstring(&b, ", ");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

static const char* push_model_names(lua_State* L) {
  const char* names[128];
  int n = sp_model_list(names, 128);
  return push_joined(L, names, n < 128 ? n : 128);
}

// copy a vector argument of length n into out: an array or table of n numbers, or a number when
// n == 1; what names it in errors ("a state of length 4")
static void check_vec(lua_State* L, int arg, int n, const char* what, double* out) {
  if (lua_type(L, arg) == LUA_TNUMBER && n == 1) {
    out[0] = lua_tonumber(L, arg);
    return;
  }
  // a state or an action is a vector: a matrix of the right size is refused
  int top = lua_gettop(L);
  if (lua_type(L, arg) == LUA_TTABLE || spL_testarray(L, arg)) {
    sp_array* a = spL_toarray(L, arg);
    char shape[SP_MAXDIM * 24];
    if (a->ndim != 1)
      spA_argerror(L, arg, "expected %s of length %d, got an array of shape %s", what, n,
                   sp_array_shape_str(shape, sizeof shape, a));
    lua_settop(L, top);
  }
  spA_vector(L, arg, out, n, what, 0);
}

static double* new_vec(lua_State* L, int n) {
  int64_t shape[1] = {n};
  return spL_newarray(L, 1, shape)->data;
}

static double* new_mat(lua_State* L, int rows, int cols) {
  int64_t shape[2] = {rows, cols};
  return spL_newarray(L, 2, shape)->data;
}

// ---- construction -------------------------------------------------------------------------------

// parameters by name from the table at arg into p (already holding the defaults)
static void check_params(lua_State* L, int arg, const sp_model_class* cls, double* p) {
  if (lua_isnoneornil(L, arg)) return;
  if (!lua_istable(L, arg))
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a table of parameters by name, got %s",
                                  luaL_typename(L, arg)));
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    int i = -1, key = lua_gettop(L) - 1;
    if (lua_type(L, key) == LUA_TSTRING)
      for (int k = 0; k < cls->np; k++)
        if (strcmp(cls->p_names[k], lua_tostring(L, key)) == 0) i = k;
    if (i < 0) {
      const char* given = luaL_tolstring(L, key, NULL);
      const char* expected = push_joined(L, cls->p_names, cls->np);
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "expected parameters of %s (%s), got '%s'", cls->name,
                                    expected, given));
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "expected a number for parameter '%s', got %s",
                                    cls->p_names[i], luaL_typename(L, -1)));
    p[i] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
}

typedef struct {
  double dt;
  int integrator, substeps;
} options;

static const char* const option_keys[] = {"dt", "integrator", "substeps", NULL};

static void check_options(lua_State* L, int arg, options* o) {
  spA_table t = spA_opts(L, arg, 1);
  spA_check_keys(&t, option_keys);
  o->dt = spA_positive(&t, "dt", o->dt, 0);
  o->integrator = spA_option(&t, "integrator", o->integrator, integrator_names);
  o->substeps = (int)spA_integer(&t, "substeps", o->substeps, 1, 1000000, 0);
}

// M.new(name [, params] [, options])
static int l_new(lua_State* L) {
  lua_settop(L, 3);  // the userdata below goes to index 4, past the arguments
  const char* name = luaL_checkstring(L, 1);
  const sp_model_class* cls = sp_model_find(name);
  if (!cls)
    luaL_argerror(
        L, 1,
        lua_pushfstring(L, "expected a model name (%s), got '%s'", push_model_names(L), name));
  if (!spL_model_usable(L, cls))
    luaL_argerror(L, 1,
                  lua_pushfstring(L,
                                  "expected a model of this Lua state, got '%s' (a "
                                  "model written in Lua in another state)",
                                  name));
  int nbuf = 2 * cls->nx + cls->nu;
  if (cls->np > nbuf) nbuf = cls->np;
  // an empty, closed userdata first: safe to collect if a check below raises
  lmodel* lm = lua_newuserdatauv(L, sizeof(lmodel) + (size_t)nbuf * sizeof(double), 0);
  lm->m = NULL;
  lm->d = NULL;
  lm->release = sp_model_free;
  luaL_setmetatable(L, SP_MODEL_MT);
  if (cls->np > 0) memcpy(lm->buf, cls->p_default, (size_t)cls->np * sizeof(double));
  check_params(L, 2, cls, lm->buf);
  options o = {0.01, SP_INTEGRATOR_RK4, 1};
  check_options(L, 3, &o);
  sp_model* m;
  int rc = sp_model_new_class(&m, cls, lm->buf, o.dt);
  if (rc) return spL_raise(L, rc, "model.new");
  sp_model_configure(m, o.dt, (sp_integrator)o.integrator, o.substeps);
  lm->m = m;
  return 1;
}

static int l_list(lua_State* L) {
  const char* names[128];
  int n = sp_model_list(names, 128);
  if (n > 128) n = 128;
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static void push_names(lua_State* L, const char* const* names, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void push_params(lua_State* L, const sp_model_class* cls, const double* p) {
  lua_createtable(L, 0, cls->np);
  for (int i = 0; i < cls->np; i++) {
    lua_pushnumber(L, p[i]);
    lua_setfield(L, -2, cls->p_names[i]);
  }
}

// M.info(name): { name, doc, nx, nu, np, x_names, u_names, p_names, defaults, discrete } or nil
static int l_info(lua_State* L) {
  const sp_model_class* cls = sp_model_find(luaL_checkstring(L, 1));
  if (!cls) {
    const char* names = push_model_names(L);
    lua_pushfstring(L, "no model named '%s' (%s)", lua_tostring(L, 1), names);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_createtable(L, 0, 10);
  lua_pushstring(L, cls->name), lua_setfield(L, -2, "name");
  lua_pushstring(L, cls->doc ? cls->doc : ""), lua_setfield(L, -2, "doc");
  lua_pushinteger(L, cls->nx), lua_setfield(L, -2, "nx");
  lua_pushinteger(L, cls->nu), lua_setfield(L, -2, "nu");
  lua_pushinteger(L, cls->np), lua_setfield(L, -2, "np");
  push_names(L, cls->x_names, cls->nx), lua_setfield(L, -2, "x_names");
  push_names(L, cls->u_names, cls->nu), lua_setfield(L, -2, "u_names");
  push_names(L, cls->p_names, cls->np), lua_setfield(L, -2, "p_names");
  push_params(L, cls, cls->p_default), lua_setfield(L, -2, "defaults");
  lua_pushboolean(L, cls->discrete), lua_setfield(L, -2, "discrete");
  lua_pushboolean(L, spL_model_is_lua(cls)), lua_setfield(L, -2, "lua");
  return 1;
}

// ---- methods ------------------------------------------------------------------------------------

// check x (arg 2) and u (arg 3) into the scratch; returns pointers to them
static void check_xu(lua_State* L, lmodel* lm, double** x, double** u) {
  sp_model* m = lm->m;
  *x = lm->buf;
  *u = lm->buf + m->nx;
  check_vec(L, 2, m->nx, "a state", *x);
  check_vec(L, 3, m->nu, "an action", *u);
}

static int m_step(lua_State* L) {
  lmodel* lm = checklmodel(L, 1);
  double *x, *u;
  check_xu(L, lm, &x, &u);
  sp_model_step(lm->m, data_of(L, lm), new_vec(L, lm->m->nx), x, u);
  spL_model_check(L);
  return 1;
}

static int m_f(lua_State* L) {
  lmodel* lm = checklmodel(L, 1);
  double *x, *u;
  check_xu(L, lm, &x, &u);
  sp_model* m = lm->m;
  sp_model_f(m, data_of(L, lm), new_vec(L, m->nx), x, u);
  spL_model_check(L);
  return 1;
}

static int m_f_jac(lua_State* L) {
  lmodel* lm = checklmodel(L, 1);
  double *x, *u;
  check_xu(L, lm, &x, &u);
  sp_model* m = lm->m;
  double* fx = new_mat(L, m->nx, m->nx);
  double* fu = new_mat(L, m->nx, m->nu);
  double* fp = new_mat(L, m->nx, m->np);
  sp_model_f_jac(m, data_of(L, lm), fx, fu, fp, x, u);
  spL_model_check(L);
  return 3;
}

static int m_jac(lua_State* L) {
  lmodel* lm = checklmodel(L, 1);
  double *x, *u;
  check_xu(L, lm, &x, &u);
  sp_model* m = lm->m;
  double* A = new_mat(L, m->nx, m->nx);
  double* B = new_mat(L, m->nx, m->nu);
  double* P = new_mat(L, m->nx, m->np);
  double* xn = new_vec(L, m->nx);
  sp_model_step_jac(m, data_of(L, lm), xn, A, m->nu ? B : NULL, m->np ? P : NULL, x, u);
  spL_model_check(L);
  return 4;
}

static int m_vjp(lua_State* L) {
  lmodel* lm = checklmodel(L, 1);
  double *x, *u;
  check_xu(L, lm, &x, &u);
  sp_model* m = lm->m;
  double* g = lm->buf + m->nx + m->nu;
  check_vec(L, 4, m->nx, "a gradient of the next state", g);
  double* gx = new_vec(L, m->nx);
  double* gu = new_vec(L, m->nu);
  double* gp = new_vec(L, m->np);
  sp_model_step_vjp(m, data_of(L, lm), gx, m->nu ? gu : NULL, m->np ? gp : NULL, x, u, g);
  spL_model_check(L);
  return 3;
}

static int check_param_name(lua_State* L, int arg, const sp_model* m) {
  const char* name = luaL_checkstring(L, arg);
  int i = sp_model_param_index(m, name);
  if (i < 0) {
    const char* expected = push_joined(L, m->cls->p_names, m->np);
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a parameter of %s (%s), got '%s'", m->cls->name,
                                  expected, name));
  }
  return i;
}

static int m_set_param(lua_State* L) {
  sp_model* m = spL_checkmodel(L, 1);
  int i = check_param_name(L, 2, m);
  double v = luaL_checknumber(L, 3);
  m->p[i] = v;
  lua_settop(L, 1);
  return 1;
}

static int m_get_param(lua_State* L) {
  sp_model* m = spL_checkmodel(L, 1);
  lua_pushnumber(L, m->p[check_param_name(L, 2, m)]);
  return 1;
}

sp_model** spL_newmodel(lua_State* L, int nx, int nu, void (*release)(sp_model*), int owner) {
  if (owner) owner = lua_absindex(L, owner);
  // the metatable exists once spinal.model has been opened; open it if nobody has yet
  if (luaL_getmetatable(L, SP_MODEL_MT) == LUA_TNIL) {
    luaL_requiref(L, "spinal.model", luaopen_spinal_model, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lmodel* lm = lua_newuserdatauv(L, sizeof(lmodel) + (size_t)(2 * nx + nu) * sizeof(double), 1);
  lm->m = NULL;
  lm->d = NULL;
  lm->release = release ? release : sp_model_free;
  luaL_setmetatable(L, SP_MODEL_MT);
  if (owner) {
    lua_pushvalue(L, owner);
    lua_setiuservalue(L, -2, 1);
  }
  return &lm->m;
}

static int m_close(lua_State* L) {
  lmodel* lm = luaL_checkudata(L, 1, SP_MODEL_MT);
  sp_model_data_free(lm->d);
  lm->d = NULL;
  if (lm->m) lm->release(lm->m);
  lm->m = NULL;
  return 0;
}

static int m_tostring(lua_State* L) {
  lmodel* lm = luaL_checkudata(L, 1, SP_MODEL_MT);
  sp_model* m = lm->m;
  if (!m) {
    lua_pushstring(L, "spinal.model (closed)");
    return 1;
  }
  lua_pushfstring(L, "spinal.model %s (nx=%d, nu=%d, np=%d, dt=%f, %s%s x%d)", m->cls->name, m->nx,
                  m->nu, m->np, m->dt, m->cls->discrete ? "discrete, " : "",
                  integrator_names[m->integrator], m->substeps);
  return 1;
}

static const luaL_Reg methods[] = {
    {"step", m_step},
    {"jac", m_jac},
    {"vjp", m_vjp},
    {"f", m_f},
    {"f_jac", m_f_jac},
    {"set_param", m_set_param},
    {"get_param", m_get_param},
    {"close", m_close},
    {NULL, NULL},
};

static int m_index(lua_State* L) {
  lmodel* lm = luaL_checkudata(L, 1, SP_MODEL_MT);
  const char* k = luaL_checkstring(L, 2);
  // methods first: on a closed model they raise their own "closed model" error
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__methods");
  if (lua_getfield(L, -1, k) != LUA_TNIL) return 1;
  lua_settop(L, 2);
  sp_model* m = lm->m;
  if (!m) return luaL_error(L, "attempt to read field '%s' of a closed spinal.model", k);
  const sp_model_class* cls = m->cls;
  if (strcmp(k, "nx") == 0)
    lua_pushinteger(L, m->nx);
  else if (strcmp(k, "nu") == 0)
    lua_pushinteger(L, m->nu);
  else if (strcmp(k, "np") == 0)
    lua_pushinteger(L, m->np);
  else if (strcmp(k, "dt") == 0)
    lua_pushnumber(L, m->dt);
  else if (strcmp(k, "substeps") == 0)
    lua_pushinteger(L, m->substeps);
  else if (strcmp(k, "integrator") == 0)
    lua_pushstring(L, integrator_names[m->integrator]);
  else if (strcmp(k, "name") == 0)
    lua_pushstring(L, cls->name);
  else if (strcmp(k, "doc") == 0)
    lua_pushstring(L, cls->doc ? cls->doc : "");
  else if (strcmp(k, "discrete") == 0)
    lua_pushboolean(L, cls->discrete);
  else if (strcmp(k, "params") == 0)
    push_params(L, cls, m->p);
  else if (strcmp(k, "x_names") == 0)
    push_names(L, cls->x_names, cls->nx);
  else if (strcmp(k, "u_names") == 0)
    push_names(L, cls->u_names, cls->nu);
  else if (strcmp(k, "p_names") == 0)
    push_names(L, cls->p_names, cls->np);
  else
    lua_pushnil(L);
  return 1;
}

// m.dt, m.integrator, m.substeps = ...; other fields are read-only
static int m_newindex(lua_State* L) {
  sp_model* m = spL_checkmodel(L, 1);
  const char* k = luaL_checkstring(L, 2);
  double dt = m->dt;
  int integrator = (int)m->integrator, substeps = m->substeps;
  if (strcmp(k, "dt") == 0) {
    dt = lua_tonumber(L, 3);
    if (lua_type(L, 3) != LUA_TNUMBER || !(dt > 0) || !isfinite(dt))
      return luaL_error(L, "expected dt a positive number, got %s", luaL_tolstring(L, 3, NULL));
  } else if (strcmp(k, "integrator") == 0) {
    const char* s = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : "";
    integrator = -1;
    for (int i = 0; integrator_names[i]; i++)
      if (strcmp(s, integrator_names[i]) == 0) integrator = i;
    if (integrator < 0)
      return luaL_error(L, "expected integrator 'euler' or 'rk4', got %s",
                        luaL_tolstring(L, 3, NULL));
  } else if (strcmp(k, "substeps") == 0) {
    int isint;
    lua_Integer n = lua_tointegerx(L, 3, &isint);
    if (!isint || n < 1 || n > 1000000)
      return luaL_error(L, "expected substeps a positive integer, got %s",
                        luaL_tolstring(L, 3, NULL));
    substeps = (int)n;
  } else {
    return luaL_error(L,
                      "cannot set field '%s' of a spinal.model (settable: dt, integrator, "
                      "substeps; parameters with set_param)",
                      k);
  }
  sp_model_configure(m, dt, (sp_integrator)integrator, substeps);
  return 0;
}

int luaopen_spinal_model(lua_State* L) {
  if (luaL_newmetatable(L, SP_MODEL_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__methods");
    const luaL_Reg meta[] = {
        {"__index", m_index}, {"__newindex", m_newindex}, {"__gc", m_close},
        {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL},
    };
    luaL_setfuncs(L, meta, 0);
    lua_pushstring(L, SP_MODEL_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  const luaL_Reg lib[] = {
      {"new", l_new}, {"list", l_list}, {"info", l_info}, {"define", spL_model_define},
      {NULL, NULL},
  };
  luaL_newlib(L, lib);
  return 1;
}
