// gn.c: the Lua binding of engine/grad/gauss_newton.c (require "spinal.gn"): method 1's
// Gauss-Newton optimiser with a trust region on the action change (docs/api/policy_grad.md).
//
//   local GN = require "spinal.gn"
//   local opt = GN.new(pol, model, { subspace = 30, radius = 0.05 })
//   local opts = { cost = C.car { nx = 4, nu = 2 }, task = task, skip = 275 }  -- as G.feedback
//   for it = 1, 5 do
//     local traj = plant:rollout(pol, { steps = 1075, x0 = x0 })
//     local info = opt:step(traj, opts, { last = it == 5 })  -- updates pol's theta in place;
//     -- last: no rollout will judge this step (a more cautious one after a poor prediction)
//   end
//   -- the pieces, for tests and diagnostics:
//   local g, J = opt:build(traj, opts)    -- caches along traj; g equals G.feedback's
//   local Gv, w = opt:gvp(v)              -- Gauss-Newton product and action changes Pt v
//   local Dv = opt:dvp(v)                 -- action metric product
//   local d, info = opt:solve(radius)     -- trust-region step (math.huge: undamped)
//   -- GN.new(pol, model, { fit = true }): each build first fits the model's parameters to the
//   -- trajectory and steps on the fitted model's Jacobians
//   local p, F0, F1 = GN.fit(model, traj)  -- the fit alone (the model is not changed)
//   local p, F0, F1 = opt:fitted()         -- the last build's fit (nil without fit = true)
#include <math.h>
#include <string.h>

#include "args.h"
#include "bind.h"
#include "engine/core/error.h"
#include "engine/grad/gauss_newton.h"
#include "grad_args.h"

#define GN_MT "spinal.gn"

typedef struct lgn {
  sp_gn* gn;
  int built;     // sp_gn_build has run (products are defined)
  int subspace;  // the subspace belongs to the current build
} lgn;

static lgn* check_gn(lua_State* L, int arg) {
  lgn* u = luaL_checkudata(L, arg, GN_MT);
  if (!u->gn) luaL_argerror(L, arg, "expected an open spinal.gn, got a closed one");
  return u;
}

static const char* const new_keys[] = {"subspace", "radius",       "radius_min", "radius_max",
                                       "eta",      "max_decrease", "fit",        NULL};

static int l_new(lua_State* L) {
  sp_policy* p = spL_checkpolicy(L, 1);
  sp_model* m = spL_checkmodel(L, 2);
  if (m->nx != p->nx || m->nu != p->nu)
    return luaL_argerror(L, 2,
                         lua_pushfstring(L,
                                         "expected a model with nx = %d, nu = %d (the "
                                         "policy's), got nx = %d, nu = %d",
                                         p->nx, p->nu, m->nx, m->nu));
  sp_gn_config cfg = {0};
  if (!lua_isnoneornil(L, 3)) {
    spA_table t = spA_opts(L, 3, 0);
    spA_check_keys(&t, new_keys);
    cfg.subspace = (int)spA_integer(&t, "subspace", 30, 1, 1000, 0);
    cfg.radius = spA_positive(&t, "radius", 0.05, 0);
    cfg.radius_min = spA_positive(&t, "radius_min", 1e-4, 0);
    cfg.radius_max = spA_positive(&t, "radius_max", 1, 0);
    if (cfg.radius_min > cfg.radius_max)
      spA_fielderror(&t, "radius_min", "expected a number <= radius_max (%f), got %f",
                     cfg.radius_max, cfg.radius_min);
    cfg.eta = spA_range(&t, "eta", 0, NAN, 0.25, 0);
    if (cfg.eta == 0.25) spA_fielderror(&t, "eta", "expected a number < 0.25, got 0.25");
    cfg.max_decrease = spA_range(&t, "max_decrease", 0.65, 0, 1, 0);
    if (cfg.max_decrease == 0)
      spA_fielderror(&t, "max_decrease", "expected a number in (0, 1], got 0");
    cfg.fit = spA_boolean(&t, "fit", 0);
  }
  // the userdata exists empty (safe to collect) before the engine object does
  lgn* u = lua_newuserdatauv(L, sizeof *u, 2);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, GN_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 2);
  int rc = sp_gn_new(&u->gn, p, &cfg);
  if (rc) return spL_raise(L, rc, "new");
  return 1;
}

sp_gn* spL_testgn(lua_State* L, int arg) {
  lgn* u = luaL_testudata(L, arg, GN_MT);
  if (!u) return NULL;
  if (!u->gn) luaL_argerror(L, arg, "expected an open spinal.gn, got a closed one");
  return u->gn;
}

// after its state was restored (pol:load) the optimiser has no trajectory caches
void spL_gn_restored(lua_State* L, int arg) {
  lgn* u = luaL_checkudata(L, arg, GN_MT);
  u->built = u->subspace = 0;
}

// the policy and model the optimiser was made for (its user values), pushed
static void push_owners(lua_State* L, int idx, sp_policy** p, sp_model** m) {
  lua_getiuservalue(L, idx, 1);
  *p = spL_checkpolicy(L, lua_gettop(L));
  lua_getiuservalue(L, idx, 2);
  *m = spL_checkmodel(L, lua_gettop(L));
}

static void push_info(lua_State* L, const sp_gn_info* in) {
  lua_createtable(L, 0, 9);
  const char* keys[] = {"J", "grad_norm", "rho", "pred", "dact", "lambda", "radius"};
  double vals[] = {in->J, in->grad_norm, in->rho, in->pred, in->dact, in->lambda, in->radius};
  for (int i = 0; i < 7; i++) {
    lua_pushnumber(L, vals[i]);
    lua_setfield(L, -2, keys[i]);
  }
  lua_pushboolean(L, in->accepted);
  lua_setfield(L, -2, "accepted");
  lua_pushinteger(L, in->subspace);
  lua_setfield(L, -2, "subspace");
}

static const char* const step_keys[] = {"last", NULL};

static int l_step(lua_State* L) {
  lgn* u = check_gn(L, 1);
  int last = 0;
  if (!lua_isnoneornil(L, 4)) {
    spA_table t = spA_opts(L, 4, 0);
    spA_check_keys(&t, step_keys);
    lua_getfield(L, 4, "last");
    last = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  sp_policy* p;
  sp_model* m;
  push_owners(L, 1, &p, &m);
  sp_trajview tr = spL_grad_traj(L, 2, "step", p->nx, p->nu);
  sp_objective obj;
  int segment;
  void* lc = spL_grad_objective(L, 3, "step", &obj, p, &segment);
  sp_gn_info info;
  u->gn->last_step = last;
  int rc = sp_gn_step(u->gn, &info, p, m, &obj, &tr, segment);
  u->gn->last_step = 0;
  spL_grad_cost_failure(L, lc, "step");
  spL_model_check(L);
  if (rc) return spL_raise(L, rc, "step");
  u->built = u->gn->T > 0, u->subspace = 1;
  push_info(L, &info);
  return 1;
}

static int l_build(lua_State* L) {
  lgn* u = check_gn(L, 1);
  sp_policy* p;
  sp_model* m;
  push_owners(L, 1, &p, &m);
  sp_trajview tr = spL_grad_traj(L, 2, "build", p->nx, p->nu);
  sp_objective obj;
  int segment;
  void* lc = spL_grad_objective(L, 3, "build", &obj, p, &segment);
  u->built = u->subspace = 0;
  int rc = sp_gn_build(u->gn, p, m, &obj, &tr, segment);
  spL_grad_cost_failure(L, lc, "build");
  spL_model_check(L);
  if (rc) return spL_raise(L, rc, "build");
  u->built = 1;
  int64_t n = (int64_t)u->gn->np;
  sp_array* g = spL_newarray(L, 1, &n);
  memcpy(g->data, u->gn->g, sizeof(double) * u->gn->np);
  lua_pushnumber(L, u->gn->J);
  return 2;
}

// the parameter-sized vector at arg, as a contiguous copy in a new array (pushed)
static double* check_vector(lua_State* L, int arg, const char* fname, sp_gn* gn) {
  int64_t n = (int64_t)gn->np;
  sp_array* v = spL_newarray(L, 1, &n);
  (void)fname;
  spA_vector(L, arg, v->data, n, "v", 1);
  return v->data;
}

static lgn* check_built(lua_State* L, const char* fname) {
  lgn* u = check_gn(L, 1);
  if (!u->built) luaL_error(L, "%s: call build (or step) with a trajectory first", fname);
  return u;
}

static int l_gvp(lua_State* L) {
  lgn* u = check_built(L, "gvp");
  double* v = check_vector(L, 2, "gvp", u->gn);
  int64_t n = (int64_t)u->gn->np, shape[2] = {u->gn->T, u->gn->nu};
  sp_array* out = spL_newarray(L, 1, &n);
  sp_array* w = spL_newarray(L, 2, shape);
  sp_gn_gvp(u->gn, out->data, w->data, v);
  return 2;
}

static int l_dvp(lua_State* L) {
  lgn* u = check_built(L, "dvp");
  double* v = check_vector(L, 2, "dvp", u->gn);
  int64_t n = (int64_t)u->gn->np;
  sp_array* out = spL_newarray(L, 1, &n);
  sp_gn_dvp(u->gn, out->data, v);
  return 1;
}

static int l_solve(lua_State* L) {
  lgn* u = check_built(L, "solve");
  double radius = luaL_optnumber(L, 2, u->gn->radius);
  if (!(radius > 0))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected a radius > 0, got %f", radius));
  if (!u->subspace) sp_gn_subspace(u->gn), u->subspace = 1;
  int64_t n = (int64_t)u->gn->np;
  sp_array* d = spL_newarray(L, 1, &n);
  sp_gn_info info;
  memset(&info, 0, sizeof info);
  info.J = u->gn->J, info.rho = NAN, info.accepted = 1;
  sp_gn_solve(u->gn, d->data, &info, radius);
  push_info(L, &info);
  return 2;
}

// GN.fit(model, traj [, iters]) -> p, rss_before, rss_after: the model's parameters fitted to the
// trajectory's transitions (sp_gn_fit; the model is not changed)
static int l_fit(lua_State* L) {
  sp_model* m = spL_checkmodel(L, 1);
  sp_trajview tr = spL_grad_traj(L, 2, "fit", m->nx, m->nu);
  int iters = (int)luaL_optinteger(L, 3, 0);
  if (iters < 0)
    return luaL_argerror(L, 3, lua_pushfstring(L, "expected iters >= 0, got %d", iters));
  int64_t n = (int64_t)m->np;
  sp_array* p = spL_newarray(L, 1, &n);
  double rss[2];
  int rc = sp_gn_fit(p->data, rss, m, &tr, iters);
  spL_model_check(L);
  if (rc) return spL_raise(L, rc, "fit");
  lua_pushnumber(L, rss[0]);
  lua_pushnumber(L, rss[1]);
  return 3;
}

// opt:fitted() -> p, rss_before, rss_after of the last build's fit (nil without fit = true)
static int l_fitted(lua_State* L) {
  lgn* u = check_gn(L, 1);
  if (!u->gn->cfg.fit || !u->built || !u->gn->npfit) {
    lua_pushnil(L);
    return 1;
  }
  int64_t n = (int64_t)u->gn->npfit;
  sp_array* p = spL_newarray(L, 1, &n);
  memcpy(p->data, u->gn->pfit, sizeof(double) * (size_t)n);
  lua_pushnumber(L, u->gn->fit_rss[0]);
  lua_pushnumber(L, u->gn->fit_rss[1]);
  return 3;
}

static int l_radius(lua_State* L) {
  lgn* u = check_gn(L, 1);
  lua_pushnumber(L, u->gn->radius);
  return 1;
}

static int l_close(lua_State* L) {
  lgn* u = luaL_checkudata(L, 1, GN_MT);
  sp_gn_free(u->gn);
  u->gn = NULL;
  return 0;
}

static int l_tostring(lua_State* L) {
  lgn* u = luaL_checkudata(L, 1, GN_MT);
  if (!u->gn) {
    lua_pushliteral(L, "gn (closed)");
    return 1;
  }
  lua_pushfstring(L, "gn (%d parameters, subspace %d, radius %f)", (int)u->gn->np, u->gn->mcap,
                  u->gn->radius);
  return 1;
}

static const luaL_Reg methods[] = {
    {"step", l_step},   {"build", l_build},   {"gvp", l_gvp},
    {"dvp", l_dvp},     {"solve", l_solve},   {"radius", l_radius},
    {"close", l_close}, {"fitted", l_fitted}, {NULL, NULL},
};

int luaopen_spinal_gn(lua_State* L) {
  if (luaL_newmetatable(L, GN_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  lua_pushcfunction(L, l_fit);
  lua_setfield(L, -2, "fit");
  return 1;
}
