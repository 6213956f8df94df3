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
// A trajectory is a table { X = (T+1, nx), U = (T, nu), t = (T+1) } of arrays (what
// pol:rollout returns, or what a plant recorded). g is a new array of nparams, unless
// opts.into names an array of nparams to accumulate into (it is then returned).
#include "engine/grad/grad.h"

#include <math.h>
#include <string.h>

#include "bind.h"
#include "bind_opts.h"
#include "engine/core/error.h"

// the first field of the cost and task userdata (lua/bind/cost.c, lua/bind/task.c)
typedef struct {
  sp_cost* c;
} cost_head;
typedef struct {
  sp_task* t;
} task_head;

static const char* const est_keys[] = {"cost", "terminal", "task", "skip", "scale", "segment",
                                       "into", NULL};

// the options table at arg into obj; *into is the accumulation target (or NULL)
static void read_objective(lua_State* L, int arg, const char* fname, sp_objective* obj,
                           sp_policy* p, sp_array** into, int* segment) {
  memset(obj, 0, sizeof *obj);
  *into = NULL;
  if (segment) *segment = 0;
  obj->task = p ? p->task : NULL;
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  spO_check_keys(L, arg, fname, est_keys);
  const char* ckeys[2] = {"cost", "terminal"};
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(L, arg, ckeys[i]) != LUA_TNIL) {
      cost_head* h = luaL_testudata(L, -1, "spinal.cost");
      if (!h || !h->c)
        luaL_error(L, "bad argument #%d to '%s' (expected %s = an open spinal.cost, got %s)", arg,
                   fname, ckeys[i], h ? "a closed cost" : luaL_typename(L, -1));
      if (i == 0)
        obj->step = h->c;
      else
        obj->terminal = h->c;
    }
    lua_pop(L, 1);  // the options table keeps it alive
  }
  if (lua_getfield(L, arg, "task") != LUA_TNIL) {
    task_head* h = luaL_testudata(L, -1, "spinal.task");
    if (!h || !h->t)
      luaL_error(L, "bad argument #%d to '%s' (expected task = an open spinal.task, got %s)", arg,
                 fname, h ? "a closed task" : luaL_typename(L, -1));
    obj->task = h->t;
  }
  lua_pop(L, 1);
  lua_Integer k0 = spO_integer(L, arg, fname, "skip", 0);
  if (k0 < 0 || k0 > (1 << 30))
    luaL_error(L, "bad argument #%d to '%s' (expected skip = a number of steps >= 0, got %I)", arg,
               fname, k0);
  obj->k0 = (int)k0;
  obj->scale = spO_number(L, arg, fname, "scale", 1);
  if (!isfinite(obj->scale))
    luaL_error(L, "bad argument #%d to '%s' (expected scale = a finite number)", arg, fname);
  if (segment) {
    lua_Integer s = spO_integer(L, arg, fname, "segment", 0);
    if (s < 0 || s > (1 << 30))
      luaL_error(L, "bad argument #%d to '%s' (expected segment = a number of steps >= 0, got %I)",
                 arg, fname, s);
    *segment = (int)s;
  }
  if (lua_getfield(L, arg, "into") != LUA_TNIL) {
    sp_array* a = spL_testarray(L, -1);
    if (!a || !sp_array_is_contiguous(a) || (p && sp_array_size(a) != (int64_t)p->nparams))
      luaL_error(L, "bad argument #%d to '%s' (expected into = a contiguous array of %d "
                    "gradients, got %s)", arg, fname, p ? (int)p->nparams : 0,
                 a ? lua_pushfstring(L, "an array of %d", (int)sp_array_size(a))
                   : luaL_typename(L, -1));
    *into = a;
  }
  lua_pop(L, 1);
  int nx = p ? p->nx : 0, nu = p ? p->nu : 0;
  if (p && obj->step && (obj->step->nx != nx || obj->step->nu != nu))
    luaL_error(L, "bad argument #%d to '%s' (expected cost for nx = %d, nu = %d, got nx = %d, nu "
                  "= %d)", arg, fname, nx, nu, obj->step->nx, obj->step->nu);
  if (p && obj->terminal && (obj->terminal->nx != nx || obj->terminal->nu != 0))
    luaL_error(L, "bad argument #%d to '%s' (expected terminal = a cost with nx = %d, nu = 0, got "
                  "nx = %d, nu = %d)", arg, fname, nx, obj->terminal->nx, obj->terminal->nu);
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
static sp_traj check_traj(lua_State* L, int arg, const char* fname, int nx, int nu, int idx) {
  char what[32];
  if (idx)
    snprintf(what, sizeof what, "trajectory %d", idx);
  else
    snprintf(what, sizeof what, "a trajectory");
  if (!lua_istable(L, arg))
    luaL_error(L, "bad argument #%d to '%s' (expected %s { X =, U =, t = }, got %s)", arg, fname,
               what, luaL_typename(L, arg));
  sp_array* a[3];
  const char* keys[3] = {"X", "U", "t"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, arg, keys[i]);
    a[i] = spL_testarray(L, -1);
    if (!a[i])
      luaL_error(L, "bad argument #%d to '%s' (expected %s with %s = an array, got %s)", arg,
                 fname, what, keys[i], luaL_typename(L, -1));
    lua_pop(L, 1);  // the table keeps it alive
  }
  char shape[64];
  int64_t nU = a[1]->ndim == 2 ? a[1]->shape[0] : -1;
  if (nU < 1 || (nu >= 0 && a[1]->shape[1] != nu))
    luaL_error(L, "bad argument #%d to '%s' (expected %s.U of shape T x %d with T >= 1, got %s)",
               arg, fname, what, nu, sp_array_shape_str(shape, sizeof shape, a[1]));
  int T = (int)nU;
  if (a[0]->ndim != 2 || a[0]->shape[0] != T + 1 || (nx >= 0 && a[0]->shape[1] != nx))
    luaL_error(L, "bad argument #%d to '%s' (expected %s.X of shape %dx%d, got %s)", arg, fname,
               what, T + 1, nx >= 0 ? nx : (int)(a[0]->ndim == 2 ? a[0]->shape[1] : 0),
               sp_array_shape_str(shape, sizeof shape, a[0]));
  if (sp_array_size(a[2]) != T + 1)
    luaL_error(L, "bad argument #%d to '%s' (expected %s.t with %d times, got %d)", arg, fname,
               what, T + 1, (int)sp_array_size(a[2]));
  double* X = contiguous(L, a[0]);
  double* U = contiguous(L, a[1]);
  double* t = contiguous(L, a[2]);
  return sp_traj_view(X, U, t, T, (int)a[0]->shape[1], (int)a[1]->shape[1]);
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
    return luaL_argerror(L, arg, lua_pushfstring(L, "expected a model with nx = %d, nu = %d (the "
                                                    "policy's), got nx = %d, nu = %d",
                                                 p->nx, p->nu, m->nx, m->nu));
  return 0;
}

static int trajectory_estimator(lua_State* L, const char* fname, int bptt) {
  sp_policy* p = spL_checkpolicy(L, 1);
  sp_model* m = spL_checkmodel(L, 2);
  check_model_fits(L, 2, m, p);
  sp_traj tr = check_traj(L, 3, fname, p->nx, p->nu, 0);
  sp_objective obj;
  sp_array* into;
  int segment;
  read_objective(L, 4, fname, &obj, p, &into, bptt ? NULL : &segment);
  sp_array* g = push_target(L, into, p->nparams);
  double J;
  int rc = bptt ? sp_grad_model_bptt(g->data, &J, p, m, &obj, &tr)
                : sp_grad_feedback(g->data, &J, p, m, &obj, &tr, segment);
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
    return luaL_argerror(L, 1, "expected a policy with exploration noise (pol:set_noise), got "
                               "none");
  sp_objective obj;
  sp_array* into;
  read_objective(L, 3, "reinforce", &obj, p, &into, NULL);
  sp_traj* trs = lua_newuserdatauv(L, sizeof(sp_traj) * n, 0);
  for (int i = 0; i < n; i++) {
    luaL_checkstack(L, 8, "reinforce: too many trajectories");
    lua_rawgeti(L, 2, i + 1);
    trs[i] = check_traj(L, lua_gettop(L), "reinforce", p->nx, p->nu, i + 1);
    if (trs[i].T != trs[0].T)
      return luaL_error(L, "bad argument #2 to 'reinforce' (expected trajectories of %d steps "
                           "each, got %d in trajectory %d)", trs[0].T, trs[i].T, i + 1);
    // any contiguous copies stay alive on the stack until we return
  }
  sp_array* g = push_target(L, into, p->nparams);
  double J;
  int rc = sp_grad_reinforce(g->data, &J, p, &obj, trs, n);
  if (rc) return spL_raise(L, rc, "reinforce");
  lua_pushnumber(L, J);
  return 2;
}

// ES rollouts call back into Lua: fn(policy) with the perturbed parameters in place
typedef struct es_user {
  lua_State* L;
  sp_policy* p;
  int ipol, ifn;   // stack slots of the policy and the function
  int failed;      // 1 after a Lua error (its message left in the registry slot below)
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
    luaL_checktype(L, 3, LUA_TTABLE);
    spO_check_keys(L, 3, "es", es_keys);
    sigma = spO_number(L, 3, "es", "sigma", sigma);
    pairs = spO_integer(L, 3, "es", "pairs", pairs);
    seed = spO_integer(L, 3, "es", "seed", seed);
    if (lua_getfield(L, 3, "into") != LUA_TNIL) {
      into = spL_testarray(L, -1);
      if (!into || !sp_array_is_contiguous(into) || sp_array_size(into) != (int64_t)p->nparams)
        return luaL_error(L, "bad argument #3 to 'es' (expected into = a contiguous array of %d "
                             "gradients)", (int)p->nparams);
    }
    lua_pop(L, 1);
  }
  if (!(sigma > 0) || !isfinite(sigma))
    return luaL_error(L, "bad argument #3 to 'es' (expected sigma > 0, got %f)", sigma);
  if (pairs < 1 || pairs > (1 << 20))
    return luaL_error(L, "bad argument #3 to 'es' (expected pairs >= 1, got %I)", pairs);
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
  sp_traj tr = check_traj(L, 1, "objective", -1, -1, 0);
  sp_objective obj;
  sp_array* into;
  read_objective(L, 2, "objective", &obj, NULL, &into, NULL);
  if ((obj.step && (obj.step->nx != tr.nx || obj.step->nu != tr.nu)) ||
      (obj.terminal && obj.terminal->nx != tr.nx))
    return luaL_error(L, "bad argument #2 to 'objective' (expected costs for nx = %d, nu = %d)",
                      tr.nx, tr.nu);
  double J;
  int rc = sp_objective_value(&J, &obj, &tr);
  if (rc) return spL_raise(L, rc, "objective");
  lua_pushnumber(L, J);
  return 1;
}

static const char* const sens_keys[] = {"feedback", NULL};

static int l_sensitivity(lua_State* L) {
  sp_policy* p = spL_checkpolicy(L, 1);
  sp_model* m = spL_checkmodel(L, 2);
  check_model_fits(L, 2, m, p);
  sp_traj tr = check_traj(L, 3, "sensitivity", p->nx, p->nu, 0);
  int feedback = 1;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    spO_check_keys(L, 4, "sensitivity", sens_keys);
    feedback = spO_boolean(L, 4, "sensitivity", "feedback", 1);
  }
  int64_t T = tr.T;
  sp_array* ln = spL_newarray(L, 1, &T);
  sp_array* cond = spL_newarray(L, 1, &T);
  int rc = sp_grad_sensitivity(ln->data, cond->data, p, m, &tr, feedback);
  if (rc) return spL_raise(L, rc, "sensitivity");
  return 2;
}

static int l_stats(lua_State* L) {
  sp_array* a = spL_toarray(L, 1);
  if (a->ndim != 2 || a->shape[0] < 1 || a->shape[1] < 1)
    return luaL_argerror(L, 1, lua_pushfstring(L, "expected a matrix of gradients (S, n), got %d "
                                                  "dimensions", a->ndim));
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
    {"feedback", l_feedback},   {"model_bptt", l_model_bptt},   {"reinforce", l_reinforce},
    {"es", l_es},               {"objective", l_objective},     {"sensitivity", l_sensitivity},
    {"stats", l_stats},         {NULL, NULL},
};

int luaopen_spinal_grad(lua_State* L) {
  luaL_newlib(L, functions);
  return 1;
}
