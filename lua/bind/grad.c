// grad.c: the Lua binding of engine/grad (require "spinal.grad"): policy-gradient estimators on
// recorded trajectories and their diagnostics (docs/api/policy_grad.md).
//
//   local G = require "spinal.grad"
//   local opts = { cost = C.car { nx = 4, nu = 2 }, terminal = nil, task = task, skip = 275 }
//   local g, J = G.feedback(pol, model, traj, opts)       -- opts.segment = 7 truncates
//   local g, J = G.model_bptt(pol, model, traj, opts)
//   local g, J = G.reinforce(pol, { traj1, traj2, ... }, opts)   -- needs pol:set_noise(...)
//   local g, J = G.es(pol, function(pol) return J end, { sigma = 0.05, pairs = 8, seed = 1 })
//   local J = G.objective(traj, opts)
//   local log_norm, cond = G.sensitivity(pol, model, traj, { feedback = true })
//   local s = G.stats(Gmat)                               -- { mean_norm, norm_of_mean, ... }
//   opts.cost / opts.terminal may also be Lua functions f(x, u, t, k) -> c, gx, gu (x, u tables;
//   u nil at the terminal step; k the 1-based row of X), or G.autodiff(f) for an f(x, u, t, k)
//   written with spinal.autodiff's math that returns the cost alone.
// A trajectory is a table { X = (T+1, nx), U = (T, nu), t = (T+1) } of arrays (what
// pol:rollout returns, or what a plant recorded; lowercase x and u, as the HAL's rollouts name
// them, are accepted too). g is a new array of nparams, unless
// opts.into names an array of nparams to accumulate into (it is then returned).
#include "engine/grad/grad.h"

#include <math.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"

// Lua cost functions, called from the estimators through sp_objective_fn
typedef struct lcost {
  lua_State* L;
  int istep, iterm;  // absolute stack indices of the functions (0: none)
  int nx, nu;
  int failed;  // 1: a Lua error (message at errref); 2: bad results (message in msg)
  int errref;
  char msg[160];
} lcost;

// n numbers from the table or array at idx into out; 0 or -1 (wrong type or length)
static int read_numbers(lua_State* L, int idx, double* out, int n) {
  sp_array* a = spL_testarray(L, idx);
  if (a) {
    if (sp_array_size(a) != n) return -1;
    spA_gather(a, out);
    return 0;
  }
  if (!lua_istable(L, idx) || (int)lua_rawlen(L, idx) != n) return -1;
  for (int i = 0; i < n; i++) {
    int isnum;
    lua_rawgeti(L, idx, i + 1);
    out[i] = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum) return -1;
  }
  return 0;
}

static void push_numbers(lua_State* L, const double* v, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, v[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int lua_cost(void* user, double* c, double* gx, double* gu, const double* x, const double* u,
                    double t, int k, int T) {
  lcost* lc = user;
  lua_State* L = lc->L;
  if (!lua_checkstack(L, 8)) return SP_ENOMEM;
  lua_pushvalue(L, k < T ? lc->istep : lc->iterm);
  push_numbers(L, x, lc->nx);
  if (u)
    push_numbers(L, u, lc->nu);
  else
    lua_pushnil(L);
  lua_pushnumber(L, t);
  lua_pushinteger(L, k + 1);
  if (lua_pcall(L, 4, 3, 0) != LUA_OK) {
    lc->failed = 1;
    lc->errref = luaL_ref(L, LUA_REGISTRYINDEX);
    return SP_ESTATE;
  }
  int isnum, top = lua_gettop(L);
  *c = lua_tonumberx(L, top - 2, &isnum);
  int bad = !isnum || read_numbers(L, top - 1, gx, lc->nx);
  if (!bad && u) {
    if (lua_isnil(L, top))
      memset(gu, 0, sizeof(double) * lc->nu);
    else
      bad = read_numbers(L, top, gu, lc->nu);
  }
  lua_settop(L, top - 3);
  if (bad) {
    lc->failed = 2;
    if (u)
      snprintf(lc->msg, sizeof lc->msg,
               "expected the cost function to return c (a number), gx (%d numbers) and gu (%d "
               "numbers, or nil)",
               lc->nx, lc->nu);
    else
      snprintf(lc->msg, sizeof lc->msg,
               "expected the terminal cost function to return c (a number) and gx (%d numbers)",
               lc->nx);
    return SP_EINVAL;
  }
  return 0;
}

// after an estimator: raise the cost function's failure, if any
static void cost_failure(lua_State* L, lcost* lc, const char* fname) {
  if (lc->failed == 1) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->errref);
    luaL_unref(L, LUA_REGISTRYINDEX, lc->errref);
    lua_error(L);
  }
  if (lc->failed == 2) luaL_error(L, "%s: %s", fname, lc->msg);
}

static const char* const est_keys[] = {"cost",  "terminal", "task", "skip",
                                       "scale", "segment",  "into", NULL};

// the options table at arg into obj; *into is the accumulation target (or NULL)
static void read_objective(lua_State* L, int arg, const char* fname, sp_objective* obj,
                           sp_policy* p, sp_array** into, int* segment, lcost* lc) {
  memset(obj, 0, sizeof *obj);
  memset(lc, 0, sizeof *lc);
  lc->L = L;
  lc->errref = LUA_NOREF;
  if (p) lc->nx = p->nx, lc->nu = p->nu;
  *into = NULL;
  if (segment) *segment = 0;
  obj->task = p ? p->task : NULL;
  if (lua_isnoneornil(L, arg)) return;
  spA_table t = spA_opts(L, arg, 0);
  spA_check_keys(&t, est_keys);
  const char* ckeys[2] = {"cost", "terminal"};
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(L, arg, ckeys[i]) == LUA_TFUNCTION) {
      // stays on the stack (at a fixed index) while the estimator runs
      if (i == 0)
        lc->istep = lua_gettop(L), obj->step_fn = lua_cost;
      else
        lc->iterm = lua_gettop(L), obj->terminal_fn = lua_cost;
      obj->user = lc;
      continue;
    }
    if (!lua_isnil(L, -1)) {
      spL_handle* h = spL_tohandle(L, -1, SP_COST_MT);
      if (!h || !h->obj)
        spA_argerror(L, arg, "field '%s': expected an open spinal.cost or a function, got %s",
                     ckeys[i], h ? "a closed cost" : luaL_typename(L, -1));
      if (i == 0)
        obj->step = h->obj;
      else
        obj->terminal = h->obj;
    }
    lua_pop(L, 1);  // the options table keeps it alive
  }
  if (lua_getfield(L, arg, "task") != LUA_TNIL) {
    spL_handle* h = spL_tohandle(L, -1, SP_TASK_MT);
    if (!h || !h->obj)
      spA_argerror(L, arg, "field 'task': expected an open spinal.task, got %s",
                   h ? "a closed task" : luaL_typename(L, -1));
    obj->task = h->obj;
  }
  lua_pop(L, 1);
  obj->k0 = (int)spA_integer(&t, "skip", 0, 0, 1 << 30, 0);
  obj->scale = spA_range(&t, "scale", 1, NAN, NAN, 0);
  if (segment) *segment = (int)spA_integer(&t, "segment", 0, 0, 1 << 30, 0);
  if (lua_getfield(L, arg, "into") != LUA_TNIL) {
    sp_array* a = spL_testarray(L, -1);
    if (!a || !sp_array_is_contiguous(a) || (p && sp_array_size(a) != (int64_t)p->nparams))
      spA_argerror(
          L, arg, "field 'into': expected a contiguous array of %d gradients, got %s",
          p ? (int)p->nparams : 0,
          a ? lua_pushfstring(L, "an array of %d", (int)sp_array_size(a)) : luaL_typename(L, -1));
    *into = a;
  }
  lua_pop(L, 1);
  int nx = p ? p->nx : 0, nu = p ? p->nu : 0;
  if (p && obj->step && (obj->step->nx != nx || obj->step->nu != nu))
    spA_argerror(L, arg, "field 'cost': expected a cost for nx = %d, nu = %d, got nx = %d, nu = %d",
                 nx, nu, obj->step->nx, obj->step->nu);
  if (p && obj->terminal && (obj->terminal->nx != nx || obj->terminal->nu != 0))
    spA_argerror(L, arg,
                 "field 'terminal': expected a cost with nx = %d, nu = 0, got nx = %d, nu = %d", nx,
                 obj->terminal->nx, obj->terminal->nu);
}

// a contiguous float64 view of array a (a itself or a copy pushed on the stack)
static double* contiguous(lua_State* L, sp_array* a) {
  if (sp_array_is_contiguous(a)) return a->data;
  sp_array* c = spL_newarray(L, a->ndim, a->shape);
  int rc = sp_array_assign(c, a);
  if (rc) spL_raise(L, rc, "array");
  return c->data;
}

// trajectory table at arg (index idx in a list, 0 for a lone argument); nx, nu < 0: any
static sp_trajview check_traj(lua_State* L, int arg, const char* fname, int nx, int nu, int idx) {
  char what[32];
  if (idx)
    snprintf(what, sizeof what, "trajectory %d", idx);
  else
    snprintf(what, sizeof what, "a trajectory");
  if (!lua_istable(L, arg))
    spA_argerror(L, arg, "expected %s { X =, U =, t = }, got %s", what, luaL_typename(L, arg));
  sp_array* a[3];
  const char* keys[3] = {"X", "U", "t"};
  const char* alt[3] = {"x", "u", "t"};  // the HAL's rollout tables name them x, u, t
  for (int i = 0; i < 3; i++) {
    if (lua_getfield(L, arg, keys[i]) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_getfield(L, arg, alt[i]);
    }
    a[i] = spL_testarray(L, -1);
    if (!a[i])
      spA_argerror(L, arg, "expected %s with %s = an array, got %s", what, keys[i],
                   luaL_typename(L, -1));
    lua_pop(L, 1);  // the table keeps it alive
  }
  char shape[64];
  int64_t nU = a[1]->ndim == 2 ? a[1]->shape[0] : -1;
  if (nU < 1 || (nu >= 0 && a[1]->shape[1] != nu))
    spA_argerror(L, arg, "expected %s.U of shape T x %d with T >= 1, got %s", what, nu,
                 sp_array_shape_str(shape, sizeof shape, a[1]));
  int T = (int)nU;
  if (a[0]->ndim != 2 || a[0]->shape[0] != T + 1 || (nx >= 0 && a[0]->shape[1] != nx))
    spA_argerror(L, arg, "expected %s.X of shape %dx%d, got %s", what, T + 1,
                 nx >= 0 ? nx : (int)(a[0]->ndim == 2 ? a[0]->shape[1] : 0),
                 sp_array_shape_str(shape, sizeof shape, a[0]));
  if (sp_array_size(a[2]) != T + 1)
    spA_argerror(L, arg, "expected %s.t with %d times, got %d", what, T + 1,
                 (int)sp_array_size(a[2]));
  double* X = contiguous(L, a[0]);
  double* U = contiguous(L, a[1]);
  double* t = contiguous(L, a[2]);
  return sp_trajview_of(X, U, t, T, (int)a[0]->shape[1], (int)a[1]->shape[1]);
}

// the gradient target: opts.into, or a new zero array (pushed)
static sp_array* push_target(lua_State* L, sp_array* into, size_t n) {
  if (into) {
    spL_pushview(L, into);
    return into;
  }
  int64_t len = (int64_t)n;
  return spL_newarray(L, 1, &len);
}

static int check_model_fits(lua_State* L, int arg, sp_model* m, sp_policy* p) {
  if (m->nx != p->nx || m->nu != p->nu)
    return luaL_argerror(L, arg,
                         lua_pushfstring(L,
                                         "expected a model with nx = %d, nu = %d (the "
                                         "policy's), got nx = %d, nu = %d",
                                         p->nx, p->nu, m->nx, m->nu));
  return 0;
}

static int trajectory_estimator(lua_State* L, const char* fname, int bptt) {
  sp_policy* p = spL_checkpolicy(L, 1);
  sp_model* m = spL_checkmodel(L, 2);
  check_model_fits(L, 2, m, p);
  sp_trajview tr = check_traj(L, 3, fname, p->nx, p->nu, 0);
  sp_objective obj;
  sp_array* into;
  int segment;
  lcost lc;
  read_objective(L, 4, fname, &obj, p, &into, bptt ? NULL : &segment, &lc);
  sp_array* g = push_target(L, into, p->nparams);
  double J;
  int rc = bptt ? sp_grad_model_bptt(g->data, &J, p, m, &obj, &tr)
                : sp_grad_feedback(g->data, &J, p, m, &obj, &tr, segment);
  cost_failure(L, &lc, fname);
  spL_model_check(L);
  if (rc) return spL_raise(L, rc, fname);
  lua_pushnumber(L, J);
  return 2;
}

static int l_feedback(lua_State* L) {
  return trajectory_estimator(L, "feedback", 0);
}
static int l_model_bptt(lua_State* L) {
  return trajectory_estimator(L, "model_bptt", 1);
}

static int l_reinforce(lua_State* L) {
  sp_policy* p = spL_checkpolicy(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = (int)lua_rawlen(L, 2);
  if (n < 1) return luaL_argerror(L, 2, "expected a non-empty list of trajectories, got 0");
  int any = 0;
  for (int i = 0; i < p->nu; i++) any |= p->sigma[i] > 0;
  if (!any)
    return luaL_argerror(L, 1,
                         "expected a policy with exploration noise (pol:set_noise), got "
                         "none");
  sp_objective obj;
  sp_array* into;
  lcost lc;
  read_objective(L, 3, "reinforce", &obj, p, &into, NULL, &lc);
  sp_trajview* trs = lua_newuserdatauv(L, sizeof(sp_trajview) * n, 0);
  for (int i = 0; i < n; i++) {
    luaL_checkstack(L, 8, "reinforce: too many trajectories");
    lua_rawgeti(L, 2, i + 1);
    trs[i] = check_traj(L, lua_gettop(L), "reinforce", p->nx, p->nu, i + 1);
    if (trs[i].T != trs[0].T)
      return spA_argerror(L, 2, "expected trajectories of %d steps each, got %d in trajectory %d",
                          trs[0].T, trs[i].T, i + 1);
    // any contiguous copies stay alive on the stack until we return
  }
  sp_array* g = push_target(L, into, p->nparams);
  double J;
  int rc = sp_grad_reinforce(g->data, &J, p, &obj, trs, n);
  cost_failure(L, &lc, "reinforce");
  if (rc) return spL_raise(L, rc, "reinforce");
  lua_pushnumber(L, J);
  return 2;
}

// ES rollouts call back into Lua: fn(policy) with the perturbed parameters in place
typedef struct es_user {
  lua_State* L;
  sp_policy* p;
  int ipol, ifn;  // stack slots of the policy and the function
  int failed;     // 1 after a Lua error (its message left in the registry slot below)
  int errref;
} es_user;

static int es_call(void* user, double* J, const double* theta) {
  es_user* u = user;
  lua_State* L = u->L;
  memcpy(sp_policy_params(u->p), theta, sizeof(double) * u->p->nparams);
  lua_pushvalue(L, u->ifn);
  lua_pushvalue(L, u->ipol);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    u->failed = 1;
    u->errref = luaL_ref(L, LUA_REGISTRYINDEX);
    return SP_ESTATE;
  }
  int isnum;
  *J = lua_tonumberx(L, -1, &isnum);
  lua_pop(L, 1);
  if (!isnum) {
    u->failed = 2;
    return SP_EINVAL;
  }
  return 0;
}

static const char* const es_keys[] = {"sigma", "pairs", "seed", "into", NULL};

static int l_es(lua_State* L) {
  sp_policy* p = spL_checkpolicy(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  double sigma = 0.05;
  lua_Integer pairs = 8, seed = 0;
  sp_array* into = NULL;
  if (!lua_isnoneornil(L, 3)) {
    spA_table t = spA_opts(L, 3, 0);
    spA_check_keys(&t, es_keys);
    sigma = spA_positive(&t, "sigma", sigma, 0);
    pairs = spA_integer(&t, "pairs", pairs, 1, 1 << 20, 0);
    seed = spA_integer(&t, "seed", seed, LUA_MININTEGER, LUA_MAXINTEGER, 0);
    if (lua_getfield(L, 3, "into") != LUA_TNIL) {
      into = spL_testarray(L, -1);
      if (!into || !sp_array_is_contiguous(into) || sp_array_size(into) != (int64_t)p->nparams)
        return spA_argerror(L, 3, "field 'into': expected a contiguous array of %d gradients",
                            (int)p->nparams);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  sp_array* g = push_target(L, into, p->nparams);  // 4
  int64_t n = (int64_t)p->nparams;
  sp_array* centre = spL_newarray(L, 1, &n);  // 5: theta, restored afterwards
  memcpy(centre->data, sp_policy_params(p), sizeof(double) * n);
  sp_rng r;
  sp_rng_seed(&r, (uint64_t)seed, 7);
  es_user u = {L, p, 1, 2, 0, LUA_NOREF};
  double J;
  int rc = sp_grad_es(g->data, &J, centre->data, (size_t)n, es_call, &u, sigma, (int)pairs, &r);
  memcpy(sp_policy_params(p), centre->data, sizeof(double) * n);
  if (u.failed == 1) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u.errref);
    luaL_unref(L, LUA_REGISTRYINDEX, u.errref);
    return lua_error(L);
  }
  if (u.failed == 2)
    return luaL_error(L, "es: the rollout function must return the cost (a number)");
  if (rc) return spL_raise(L, rc, "es");
  lua_settop(L, 4);
  lua_pushnumber(L, J);
  return 2;
}

static int l_objective(lua_State* L) {
  sp_trajview tr = check_traj(L, 1, "objective", -1, -1, 0);
  sp_objective obj;
  sp_array* into;
  lcost lc;
  read_objective(L, 2, "objective", &obj, NULL, &into, NULL, &lc);
  lc.nx = tr.nx, lc.nu = tr.nu;
  if ((obj.step && (obj.step->nx != tr.nx || obj.step->nu != tr.nu)) ||
      (obj.terminal && obj.terminal->nx != tr.nx))
    return spA_argerror(L, 2, "field 'cost': expected costs for nx = %d, nu = %d", tr.nx, tr.nu);
  double J;
  int rc = sp_objective_value(&J, &obj, &tr);
  cost_failure(L, &lc, "objective");
  if (rc) return spL_raise(L, rc, "objective");
  lua_pushnumber(L, J);
  return 1;
}

static const char* const sens_keys[] = {"feedback", NULL};

static int l_sensitivity(lua_State* L) {
  sp_policy* p = spL_checkpolicy(L, 1);
  sp_model* m = spL_checkmodel(L, 2);
  check_model_fits(L, 2, m, p);
  sp_trajview tr = check_traj(L, 3, "sensitivity", p->nx, p->nu, 0);
  int feedback = 1;
  spA_table o = spA_opts(L, 4, 1);
  spA_check_keys(&o, sens_keys);
  feedback = spA_boolean(&o, "feedback", 1);
  int64_t T = tr.T;
  sp_array* ln = spL_newarray(L, 1, &T);
  sp_array* cond = spL_newarray(L, 1, &T);
  int rc = sp_grad_sensitivity(ln->data, cond->data, p, m, &tr, feedback);
  spL_model_check(L);
  if (rc) return spL_raise(L, rc, "sensitivity");
  return 2;
}

static int l_stats(lua_State* L) {
  sp_array* a = spL_toarray(L, 1);
  if (a->ndim != 2 || a->shape[0] < 1 || a->shape[1] < 1)
    return luaL_argerror(L, 1,
                         lua_pushfstring(L,
                                         "expected a matrix of gradients (S, n), got %d "
                                         "dimensions",
                                         a->ndim));
  double* G = contiguous(L, a);
  sp_grad_stats s;
  sp_grad_stats_compute(&s, G, (int)a->shape[0], (size_t)a->shape[1]);
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, s.mean_norm);
  lua_setfield(L, -2, "mean_norm");
  lua_pushnumber(L, s.norm_of_mean);
  lua_setfield(L, -2, "norm_of_mean");
  lua_pushnumber(L, s.variance);
  lua_setfield(L, -2, "variance");
  lua_pushnumber(L, s.rel_std);
  lua_setfield(L, -2, "rel_std");
  return 1;
}

static const luaL_Reg functions[] = {
    {"feedback", l_feedback},   {"model_bptt", l_model_bptt},
    {"reinforce", l_reinforce}, {"es", l_es},
    {"objective", l_objective}, {"sensitivity", l_sensitivity},
    {"stats", l_stats},         {NULL, NULL},
};

// G.autodiff(f): a cost function returning c, gx, gu from an f(x, u, t, k) that returns c alone,
// its gradients by spinal.autodiff's forward mode over z = (x, u)
static const char autodiff_chunk[] =
    "return function(f)\n"
    "  if type(f) ~= 'function' then\n"
    "    error(\"bad argument #1 to 'autodiff' (expected a function, got \" .. type(f) .. \")\", "
    "2)\n"
    "  end\n"
    "  local ad = require 'spinal.autodiff'\n"
    "  return function(x, u, t, k)\n"
    "    local nx, nu, z = #x, u and #u or 0, {}\n"
    "    for i = 1, nx do z[i] = x[i] end\n"
    "    for i = 1, nu do z[nx + i] = u[i] end\n"
    "    local c, g = ad.gradient(function(zz)\n"
    "      local xx, uu = {}, nil\n"
    "      for i = 1, nx do xx[i] = zz[i] end\n"
    "      if u then uu = {} for i = 1, nu do uu[i] = zz[nx + i] end end\n"
    "      return f(xx, uu, t, k)\n"
    "    end, z)\n"
    "    local gx, gu = {}, {}\n"
    "    for i = 1, nx do gx[i] = g[i] end\n"
    "    for i = 1, nu do gu[i] = g[nx + i] end\n"
    "    return c, gx, u and gu or nil\n"
    "  end\n"
    "end\n";

int luaopen_spinal_grad(lua_State* L) {
  luaL_newlib(L, functions);
  if (luaL_loadbuffer(L, autodiff_chunk, sizeof autodiff_chunk - 1, "=spinal.grad.autodiff"))
    return lua_error(L);
  lua_call(L, 0, 1);
  lua_setfield(L, -2, "autodiff");
  return 1;
}
