// policy.c: the Lua binding of engine/policy (require "spinal.policy"): method 1's policies, a
// learned high level over an embedded controller, and rollouts on engine models
// (docs/api/policy_grad.md).
//
//   local P = require "spinal.policy"
//   local pol = P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 64, 64 } }
//   local pol = P.lqr { controller = ctrl.lqr(K), x_set = { 0, 0, 0, 0 }, period = 3 }
//   local pol = P.open_loop { nx = 4, nu = 2, u_ff = { 0, 0 }, features = "phase", period = 3 }
//   local u = pol:act(x, t)                 -- mean action; pol:sample(x, t) adds exploration
//   local Px = pol:jac(x, t)                -- du/dx (nu, nx)
//   local gx, gtheta = pol:vjp(x, t, mu)    -- Px' mu, Pt' mu
//   local theta = pol:params()              -- view of the flat parameters (optimisers write it)
//   local traj = pol:rollout(model, x0, steps, { t0 = 0, explore = false })  -- { X =, U =, t = }
//   pol:set_noise({ 0.1, 0.1 }, seed)       pol.nx pol.nu pol.nparams pol.nout pol.nf pol.kind
//   pol:save(path [, opt [, note]])         -- the whole policy (+ optimiser state), atomically
//   local note = pol:load(path [, opt])     -- into the same policy; P.load(path, { controller =,
//                                           -- task = }) builds one from the file
#include "engine/policy/policy.h"

#include <math.h>
#include <string.h>

#include "args.h"
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/grad/gauss_newton.h"
#include "engine/policy/checkpoint.h"
#include "engine/policy/rollout.h"

#define POLICY_MT "spinal.policy"

// the first field of the ctrl userdata (lua/bind/ctrl.c; tasks are spL_handles, bind.h)
typedef struct {
  sp_ctrl* c;
} ctrl_head;

typedef struct lpolicy {
  sp_policy* p;       // NULL until created, and after close
  sp_policy_data* d;  // the Lua state's workspace for p (its rng: the noise of pol:sample)
  sp_array params;    // (nparams) theta, the network's storage
  sp_array grads;     // (nparams) the network's gradient storage, returned by grads()
  const char* kind;   // "tracking", "lqr", "open_loop"
  double buf[];       // scratch: x (nx), mu (nu)
} lpolicy;

// the options table at arg (an argument of the calling binding)
static spA_table opts_at(lua_State* L, int arg) {
  spA_table t = {L, arg, lua_absindex(L, arg), ""};
  return t;
}

static sp_ctrl* optctrl(lua_State* L, int arg, const char* fname, int idx) {
  lua_getfield(L, arg, "controller");
  ctrl_head* h = luaL_testudata(L, -1, "spinal.ctrl");
  if (!h || !h->c)
    spA_argerror(L, arg, "field 'controller': expected an open spinal.ctrl, got %s",
                 h ? "a closed controller" : luaL_typename(L, -1));
  lua_replace(L, idx);
  return h->c;
}

static const sp_task* opttask(lua_State* L, int arg, const char* fname, int idx, int required) {
  lua_getfield(L, arg, "task");
  if (lua_isnil(L, -1) && !required) {
    lua_replace(L, idx);
    return NULL;
  }
  spL_handle* h = spL_tohandle(L, -1, SP_TASK_MT);
  if (!h || !h->obj)
    spA_argerror(L, arg, "field 'task': expected an open spinal.task, got %s",
                 h ? "a closed task" : luaL_typename(L, -1));
  lua_replace(L, idx);
  return h->obj;
}

// hidden widths (default 64, 64), activations, seed, init_last, features, period
typedef struct {
  int nhidden;
  int hidden[SP_MLP_MAXLAYERS];
  sp_act act, out_act;
  uint64_t seed;
  int init_last;
  sp_policy_features features;
  double period;
} net_opts;

// a policy configuration with o's network (o must outlive it: it points at o's widths) and the
// given outputs; the caller sets what the policy wraps (controller, task, or nx/nu)
static sp_policy_config net_config(const net_opts* o, int nout, const sp_policy_output* outs) {
  return (sp_policy_config){.features = o->features,
                            .period = o->period,
                            .nhidden = o->nhidden,
                            .hidden = o->hidden,
                            .hidden_act = o->act,
                            .out_act = o->out_act,
                            .nout = nout,
                            .outputs = outs,
                            .seed = o->seed,
                            .init_last = o->init_last};
}

static void read_net_opts(lua_State* L, int arg, const char* fname, net_opts* o,
                          const char* def_features) {
  spA_table o_t = opts_at(L, arg);
  o->nhidden = 2, o->hidden[0] = o->hidden[1] = 64;
  int t = lua_getfield(L, arg, "hidden");
  if (t == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n > SP_MLP_MAXLAYERS - 1)
      spA_argerror(L, arg, "expected at most %d hidden layers, got %d", SP_MLP_MAXLAYERS - 1,
                   (int)n);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      int isint;
      lua_Integer w = lua_tointegerx(L, -1, &isint);
      if (!isint || w < 1 || w > (1 << 20))
        spA_argerror(L, arg, "field 'hidden[%d]': expected a positive integer, got %s", (int)i,
                     luaL_tolstring(L, -1, NULL));
      o->hidden[i - 1] = (int)w;
      lua_pop(L, 1);
    }
    o->nhidden = (int)n;
  } else if (t != LUA_TNIL) {
    spA_argerror(L, arg, "field 'hidden': expected a list of widths, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  const char* names[2] = {spA_string(&o_t, "act", "tanh", 0),
                          spA_string(&o_t, "out_act", "tanh", 0)};
  sp_act* acts[2] = {&o->act, &o->out_act};
  const char* keys[2] = {"act", "out_act"};
  for (int i = 0; i < 2; i++)
    if (sp_act_parse(acts[i], names[i]))
      spA_argerror(L, arg, "field '%s': unknown activation '%s'; valid: %s", keys[i], names[i],
                   sp_act_names());
  o->seed = (uint64_t)spA_integer(&o_t, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER, 0);
  o->init_last = spA_boolean(&o_t, "init_last", 0);
  const char* f = spA_string(&o_t, "features", def_features, 0);
  if (!strcmp(f, "car"))
    o->features = SP_POLICY_FEATURES_CAR;
  else if (!strcmp(f, "state"))
    o->features = SP_POLICY_FEATURES_STATE;
  else if (!strcmp(f, "phase"))
    o->features = SP_POLICY_FEATURES_PHASE;
  else
    spA_argerror(L, arg, "field 'features': unknown features '%s'; valid: car, state, phase", f);
  o->period = spA_number(&o_t, "period", 0);
  if (!(o->period >= 0) || !isfinite(o->period))
    spA_argerror(L, arg, "field 'period': expected a positive number, got %f", o->period);
}

// scale option: a number (every entry) or a list of n numbers, into out (left alone if absent)
static void read_scales(lua_State* L, int arg, const char* fname, const char* key, double* out,
                        int n) {
  spA_table o_t = opts_at(L, arg);
  int t = lua_getfield(L, arg, key);
  if (t == LUA_TNIL || t == LUA_TNUMBER) {
    for (int i = 0; t == LUA_TNUMBER && i < n; i++) out[i] = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  spA_field_vector(&o_t, key, out, n, 0);
}

static void fill(double* out, int n, double v) {
  for (int i = 0; i < n; i++) out[i] = v;
}

// build the policy and push its userdata; uv 1 = controller, uv 2 = task (at ictrl, itask)
static int push_policy(lua_State* L, const char* fname, const char* kind, sp_policy_config* cfg,
                       int ictrl, int itask) {
  int nx = cfg->ctrl ? cfg->ctrl->nx : cfg->nx, nu = cfg->ctrl ? cfg->ctrl->nu : cfg->nu;
  lpolicy* u = lua_newuserdatauv(L, sizeof(lpolicy) + sizeof(double) * (nx + nu), 2);
  memset(u, 0, sizeof *u);
  u->kind = kind;
  luaL_setmetatable(L, POLICY_MT);
  lua_pushvalue(L, ictrl);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, itask);
  lua_setiuservalue(L, -2, 2);
  int rc = sp_policy_new(&u->p, cfg);
  if (rc == SP_EINVAL)
    return spA_argerror(L, 1,
                        "inconsistent policy: check sizes, output indices, features (car features "
                        "need a state of at least 4) and period");
  if (rc) return spL_raise(L, rc, fname);
  int64_t n = (int64_t)u->p->nparams;
  rc = sp_array_new(&u->params, 1, &n);
  if (!rc) rc = sp_array_new(&u->grads, 1, &n);
  if (rc) return spL_raise(L, rc, fname);
  sp_mlp_use_storage(u->p->net, u->params.data, u->grads.data);
  rc = sp_policy_data_new(&u->d, u->p);
  if (rc) return spL_raise(L, rc, fname);
  return 1;
}

// ---- constructors -------------------------------------------------------------------------------

static const char* const tracking_keys[] = {"task",    "controller", "hidden",     "act",
                                            "out_act", "seed",       "init_last",  "features",
                                            "period",  "ref_scale",  "gain_scale", NULL};

// P.tracking { task, controller, hidden, ref_scale = {0.5, 0.5, 1, 1}, gain_scale = 0.3, ... };
// an output whose scale is zero is left out
static int l_tracking(lua_State* L) {
  spA_table o_t = opts_at(L, 1);
  luaL_checktype(L, 1, LUA_TTABLE);
  spA_check_keys(&o_t, tracking_keys);
  lua_settop(L, 1);
  lua_pushnil(L);  // 2: controller
  lua_pushnil(L);  // 3: task
  sp_ctrl* c = optctrl(L, 1, "tracking", 2);
  const sp_task* task = opttask(L, 1, "tracking", 3, 1);
  if (c->nr != SP_TASK_NR)
    return spA_argerror(L, 1, "expected a controller with a reference of %d (a tracker), got %d",
                        SP_TASK_NR, c->nr);
  net_opts o;
  read_net_opts(L, 1, "tracking", &o, c->nx >= 4 ? "car" : "state");
  // default scales: 0.5 m for positions, 1 m/s for velocities, 0.3 for gains
  double rs[4] = {0.5, 0.5, 1.0, 1.0}, gs[64];
  if (c->nk > 64) return luaL_error(L, "tracking: at most 64 gains, got %d", c->nk);
  fill(gs, c->nk, 0.3);
  read_scales(L, 1, "tracking", "ref_scale", rs, 4);
  read_scales(L, 1, "tracking", "gain_scale", gs, c->nk);
  sp_policy_output outs[4 + 64];
  int nout = 0;
  // a zero scale drops that output (e.g. gain_scale = 0: reference corrections only)
  for (int j = 0; j < 4; j++)
    if (rs[j] != 0) outs[nout++] = (sp_policy_output){SP_POLICY_OUT_REF, j, rs[j]};
  for (int j = 0; j < c->nk; j++)
    if (gs[j] != 0) outs[nout++] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, gs[j]};
  if (nout == 0)
    return spA_argerror(L, 1,
                        "expected at least one nonzero scale in ref_scale or gain_scale, got none");
  sp_policy_config cfg = net_config(&o, nout, outs);
  cfg.ctrl = c, cfg.task = task;
  return push_policy(L, "tracking", "tracking", &cfg, 2, 3);
}

static const char* const lqr_keys[] = {
    "controller", "x_set",    "u_ff",   "hidden",    "act",        "out_act", "seed",
    "init_last",  "features", "period", "set_scale", "gain_scale", NULL};

// P.lqr { controller = ctrl.lqr(K), x_set, u_ff, set_scale = 0.3, gain_scale = 1, period, ... }
static int l_lqr(lua_State* L) {
  spA_table o_t = opts_at(L, 1);
  luaL_checktype(L, 1, LUA_TTABLE);
  spA_check_keys(&o_t, lqr_keys);
  lua_settop(L, 1);
  lua_pushnil(L);  // 2: controller
  lua_pushnil(L);  // 3: no task
  sp_ctrl* c = optctrl(L, 1, "lqr", 2);
  if (c->nr != c->nx + c->nu || c->nk != c->nx * c->nu)
    return spA_argerror(L, 1,
                        "expected a linear state-feedback controller (spinal.ctrl.lqr), got one "
                        "with a reference of %d and %d gains",
                        c->nr, c->nk);
  net_opts o;
  read_net_opts(L, 1, "lqr", &o, "state");
  if (!(o.period > 0))
    return spA_argerror(L, 1,
                        "field 'period': expected a positive number of seconds (the phase "
                        "feature's period), got none");
  int nx = c->nx, nu = c->nu;
  if (nx > 64 || nx * nu > 256)
    return luaL_error(L, "lqr: the system is too large (%d, %d)", nx, nu);
  double r0[64 + 64] = {0}, ss[64], gs[256];
  if (nu > 64) return luaL_error(L, "lqr: at most 64 actions, got %d", nu);
  spA_field_vector(&o_t, "x_set", r0, nx, 0);
  spA_field_vector(&o_t, "u_ff", r0 + nx, nu, 0);
  fill(ss, nx, 0.3);
  fill(gs, nx * nu, 1.0);
  read_scales(L, 1, "lqr", "set_scale", ss, nx);
  read_scales(L, 1, "lqr", "gain_scale", gs, nx * nu);
  sp_policy_output outs[64 + 256];
  int nout = 0;
  for (int j = 0; j < nx; j++) outs[nout++] = (sp_policy_output){SP_POLICY_OUT_REF, j, ss[j]};
  for (int j = 0; j < nx * nu; j++) outs[nout++] = (sp_policy_output){SP_POLICY_OUT_GAIN, j, gs[j]};
  sp_policy_config cfg = net_config(&o, nout, outs);
  cfg.ctrl = c, cfg.r0 = r0;
  return push_policy(L, "lqr", "lqr", &cfg, 2, 3);
}

static const char* const open_keys[] = {"nx",      "nu",   "u_ff",      "scale",    "hidden", "act",
                                        "out_act", "seed", "init_last", "features", "period", NULL};

// P.open_loop { nx, nu, u_ff, scale = 1, features = "state", period, ... }: u = u_ff + scale y
static int l_open_loop(lua_State* L) {
  spA_table o_t = opts_at(L, 1);
  luaL_checktype(L, 1, LUA_TTABLE);
  spA_check_keys(&o_t, open_keys);
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_Integer nx = spA_integer(&o_t, "nx", 0, LUA_MININTEGER, LUA_MAXINTEGER, 0);
  lua_Integer nu = spA_integer(&o_t, "nu", 0, LUA_MININTEGER, LUA_MAXINTEGER, 0);
  if (nx < 1 || nx > 1024 || nu < 1 || nu > 64)
    return spA_argerror(L, 1, "expected nx >= 1 and 1 <= nu <= 64, got nx = %d, nu = %d", (int)nx,
                        (int)nu);
  net_opts o;
  read_net_opts(L, 1, "open_loop", &o, "state");
  if (!(o.period > 0))
    return spA_argerror(L, 1, "field 'period': expected a positive number of seconds, got none");
  double uff[64] = {0}, sc[64];
  spA_field_vector(&o_t, "u_ff", uff, nu, 0);
  fill(sc, (int)nu, 1.0);
  read_scales(L, 1, "open_loop", "scale", sc, (int)nu);
  sp_policy_output outs[64];
  for (int j = 0; j < nu; j++) outs[j] = (sp_policy_output){SP_POLICY_OUT_ACTION, j, sc[j]};
  sp_policy_config cfg = net_config(&o, (int)nu, outs);
  cfg.nx = (int)nx, cfg.nu = (int)nu, cfg.u_ff = uff;
  return push_policy(L, "open_loop", "open_loop", &cfg, 2, 3);
}

// ---- methods ------------------------------------------------------------------------------------

sp_policy* spL_checkpolicy(lua_State* L, int arg) {
  lpolicy* u = luaL_testudata(L, arg, POLICY_MT);
  if (!u)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a spinal.policy, got %s", luaL_typename(L, arg)));
  if (!u->p) luaL_argerror(L, arg, "expected a spinal.policy, got a closed policy");
  return u->p;
}

static lpolicy* checklpolicy(lua_State* L, int arg) {
  spL_checkpolicy(L, arg);
  return lua_touserdata(L, arg);
}

sp_policy_data* spL_policydata(lua_State* L, int arg) {
  return checklpolicy(L, arg)->d;
}

static double check_time(lua_State* L, int arg) {
  double t = luaL_checknumber(L, arg);
  if (!isfinite(t)) luaL_argerror(L, arg, "expected a finite time in seconds");
  return t;
}

static int act_common(lua_State* L, const char* fname, int sample) {
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  spA_vector(L, 2, u->buf, p->nx, "a state", 0);
  double t = check_time(L, 3);
  int64_t n = p->nu;
  sp_array* a = spL_newarray(L, 1, &n);
  if (sample)
    sp_policy_sample(p, u->d, a->data, u->buf, t);
  else
    sp_policy_act(p, u->d, a->data, u->buf, t);
  return 1;
}

static int m_act(lua_State* L) {
  return act_common(L, "act", 0);
}
static int m_sample(lua_State* L) {
  return act_common(L, "sample", 1);
}

static int m_jac(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  spA_vector(L, 2, u->buf, p->nx, "a state", 0);
  double t = check_time(L, 3);
  int64_t shape[2] = {p->nu, p->nx};
  sp_array* a = spL_newarray(L, 2, shape);
  sp_policy_jac_x(p, u->d, a->data, u->buf, t);
  return 1;
}

static int m_vjp(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  spA_vector(L, 2, u->buf, p->nx, "a state", 0);
  double t = check_time(L, 3);
  spA_vector(L, 4, u->buf + p->nx, p->nu, "an action gradient", 0);
  int64_t nx = p->nx, np = (int64_t)p->nparams;
  sp_array* gx = spL_newarray(L, 1, &nx);
  sp_array* gt = spL_newarray(L, 1, &np);
  sp_policy_vjp(p, u->d, gx->data, gt->data, u->buf, t, u->buf + p->nx);
  return 2;
}

static int m_features(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  spA_vector(L, 2, u->buf, p->nx, "a state", 0);
  double t = check_time(L, 3);
  int64_t nf = p->nf;
  sp_array* a = spL_newarray(L, 1, &nf);
  sp_policy_features_eval(p, a->data, NULL, u->buf, t);
  return 1;
}

static int m_params(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  spL_pushview(L, &u->params);
  return 1;
}

static int m_grads(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  spL_pushview(L, &u->grads);
  return 1;
}

static int m_zero_grad(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_array_fill(&u->grads, 0);
  lua_settop(L, 1);
  return 1;
}

static int m_set_params(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_array* a = spL_toarray(L, 2);
  if (sp_array_size(a) != (int64_t)u->p->nparams)
    return luaL_argerror(L, 2,
                         lua_pushfstring(L, "expected %d parameters, got %d", (int)u->p->nparams,
                                         (int)sp_array_size(a)));
  double* tmp = lua_newuserdatauv(L, sizeof(double) * u->p->nparams, 0);
  spA_gather(a, tmp);
  memcpy(u->params.data, tmp, sizeof(double) * u->p->nparams);
  lua_settop(L, 1);
  return 1;
}

static int m_set_noise(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  double* s = u->buf;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    for (int i = 0; i < p->nu; i++) s[i] = lua_tonumber(L, 2);
  } else {
    spA_vector(L, 2, s, p->nu, "noise standard deviations", 0);
  }
  lua_Integer seed = luaL_optinteger(L, 3, 0);
  for (int i = 0; i < p->nu; i++)
    if (!(s[i] >= 0) || !isfinite(s[i]))
      return luaL_argerror(L, 2,
                           lua_pushfstring(L, "expected standard deviations >= 0, got %f", s[i]));
  sp_policy_set_noise(p, s);
  sp_policy_data_seed(u->d, (uint64_t)seed, 0);
  lua_settop(L, 1);
  return 1;
}

static int m_noise(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  int64_t n = u->p->nu;
  sp_array* a = spL_newarray(L, 1, &n);
  memcpy(a->data, u->p->sigma, sizeof(double) * n);
  return 1;
}

static const char* const rollout_keys[] = {"t0", "explore", NULL};

// pol:rollout(model, x0, steps [, { t0 = 0, explore = false }]) -> { X =, U =, t = } [, message]
static int m_rollout(lua_State* L) {
  spA_table o_t = opts_at(L, 5);
  lpolicy* u = checklpolicy(L, 1);
  sp_policy* p = u->p;
  sp_model* m = spL_checkmodel(L, 2);
  if (m->nx != p->nx || m->nu != p->nu)
    return luaL_argerror(L, 2,
                         lua_pushfstring(L,
                                         "expected a model with nx = %d, nu = %d (the "
                                         "policy's), got nx = %d, nu = %d",
                                         p->nx, p->nu, m->nx, m->nu));
  spA_vector(L, 3, u->buf, p->nx, "an initial state", 0);
  lua_Integer T = luaL_checkinteger(L, 4);
  if (T < 1 || T > (1 << 26))
    return luaL_argerror(L, 4, lua_pushfstring(L, "expected a number of steps >= 1, got %I", T));
  double t0 = 0;
  int explore = 0;
  if (!lua_isnoneornil(L, 5)) {
    luaL_checktype(L, 5, LUA_TTABLE);
    spA_check_keys(&o_t, rollout_keys);
    t0 = spA_number(&o_t, "t0", 0);
    explore = spA_boolean(&o_t, "explore", 0);
  }
  lua_settop(L, 5);
  lua_createtable(L, 0, 3);
  int64_t sx[2] = {T + 1, p->nx}, su[2] = {T, p->nu}, st = T + 1;
  sp_array* X = spL_newarray(L, 2, sx);
  lua_setfield(L, 6, "X");
  sp_array* U = spL_newarray(L, 2, su);
  lua_setfield(L, 6, "U");
  sp_array* tt = spL_newarray(L, 1, &st);
  lua_setfield(L, 6, "t");
  sp_trajview tr = sp_trajview_of(X->data, U->data, tt->data, (int)T, p->nx, p->nu);
  int rc = sp_policy_rollout(&tr, p, u->d, m, spL_modeldata(L, 2), u->buf, t0, explore);
  spL_model_check(L);
  if (rc) {
    lua_pushfstring(L, "rollout: %s", sp_strerror(rc));
    return 2;
  }
  return 1;
}

// pol:save(path [, opt [, note]]) -> true | nil, message: network, optimiser state, exploration
// noise and rng, the description and the note (a string, e.g. a run's progress), atomically. opt:
// a spinal.nn optimiser (its state goes with the network) or a spinal.gn optimiser (its
// trust-region state goes first in the checkpoint's user bytes, the note after it)
static int m_save(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  const char* path = luaL_checkstring(L, 2);
  sp_gn* gn = lua_isnoneornil(L, 3) ? NULL : spL_testgn(L, 3);
  sp_optim* o = lua_isnoneornil(L, 3) || gn ? NULL : spL_optim_state(L, 3, u->p->nparams);
  if (gn && gn->np != u->p->nparams)
    return spA_argerror(L, 3, "expected an optimiser for %d parameters, got one for %d",
                        (int)u->p->nparams, (int)gn->np);
  size_t nlen = 0;
  const char* note = luaL_optlstring(L, 4, "", &nlen);
  size_t glen = gn ? sp_gn_state_size(gn) : 0;
  char* user = (char*)note;
  if (gn) {
    user = lua_newuserdatauv(L, glen + nlen, 0);  // freed by the collector
    sp_gn_state_save(gn, user);
    memcpy(user + glen, note, nlen);
  }
  char msg[512];
  if (sp_policy_save(path, u->p, u->d, o, u->kind, user, glen + nlen, msg, sizeof msg))
    return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

// the note in a checkpoint's user bytes: after the Gauss-Newton state when one leads them
static void push_note(lua_State* L, const char* user, size_t n) {
  size_t span = user ? sp_gn_state_span(user, n) : 0;
  lua_pushlstring(L, user ? user + span : "", n - span);
}

// pol:load(path [, opt]) -> note (a string, "" when none) | nil, message. opt: the spinal.nn or
// spinal.gn optimiser whose state the file holds (nothing changes unless everything loads)
static int m_load(lua_State* L) {
  lpolicy* u = checklpolicy(L, 1);
  const char* path = luaL_checkstring(L, 2);
  sp_gn* gn = lua_isnoneornil(L, 3) ? NULL : spL_testgn(L, 3);
  sp_optim* o = lua_isnoneornil(L, 3) || gn ? NULL : spL_optim_state(L, 3, u->p->nparams);
  char msg[512];
  void* note = NULL;
  size_t nlen = 0;
  if (gn) {
    // the Gauss-Newton state checked before the policy changes
    if (sp_policy_user_read(path, &note, &nlen, msg, sizeof msg)) return spL_failure(L, "%s", msg);
    size_t span = note ? sp_gn_state_span(note, nlen) : 0;
    int bad = !span;
    if (bad)
      snprintf(msg, sizeof msg,
               "%s: holds no Gauss-Newton optimiser state (saved with another optimiser)", path);
    else {
      char why[256];
      if (sp_gn_state_check(gn, note, span, why, sizeof why))
        bad = 1, snprintf(msg, sizeof msg, "%s: %s", path, why);
    }
    sp_free(note);
    note = NULL;
    if (bad) return spL_failure(L, "%s", msg);
  }
  if (sp_policy_load(path, u->p, u->d, o, &note, &nlen, msg, sizeof msg))
    return spL_failure(L, "%s", msg);
  if (gn) {
    size_t span = sp_gn_state_span(note, nlen);
    sp_gn_state_load(gn, note, span, msg, sizeof msg);  // checked above
    spL_gn_restored(L, 3);
  }
  push_note(L, note, nlen);
  sp_free(note);
  return 1;
}

static int m_close(lua_State* L) {
  lpolicy* u = luaL_checkudata(L, 1, POLICY_MT);
  sp_policy_data_free(u->d);
  u->d = NULL;
  sp_policy_free(u->p);  // frees the network; the parameter arrays below outlive it in views
  u->p = NULL;
  sp_array_release(&u->params);
  sp_array_release(&u->grads);
  return 0;
}

static int m_tostring(lua_State* L) {
  lpolicy* u = luaL_checkudata(L, 1, POLICY_MT);
  if (!u->p) {
    lua_pushliteral(L, "policy (closed)");
    return 1;
  }
  char net[64 * (SP_MLP_MAXLAYERS + 2)];
  sp_mlp_describe(u->p->net, net, sizeof net);
  lua_pushfstring(L, "policy %s (nx %d, nu %d, %d outputs; %s)", u->kind, u->p->nx, u->p->nu,
                  u->p->nout, net);
  return 1;
}

static const luaL_Reg methods[] = {
    {"act", m_act},
    {"sample", m_sample},
    {"jac", m_jac},
    {"vjp", m_vjp},
    {"features", m_features},
    {"params", m_params},
    {"grads", m_grads},
    {"zero_grad", m_zero_grad},
    {"set_params", m_set_params},
    {"set_noise", m_set_noise},
    {"noise", m_noise},
    {"rollout", m_rollout},
    {"save", m_save},
    {"load", m_load},
    {"close", m_close},
    {NULL, NULL},
};

static int m_index(lua_State* L) {
  lpolicy* u = luaL_checkudata(L, 1, POLICY_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->p) return luaL_error(L, "attempt to use a closed policy");
  const sp_policy* p = u->p;
  if (!strcmp(k, "nx"))
    lua_pushinteger(L, p->nx);
  else if (!strcmp(k, "nu"))
    lua_pushinteger(L, p->nu);
  else if (!strcmp(k, "nparams"))
    lua_pushinteger(L, (lua_Integer)p->nparams);
  else if (!strcmp(k, "nout"))
    lua_pushinteger(L, p->nout);
  else if (!strcmp(k, "nf"))
    lua_pushinteger(L, p->nf);
  else if (!strcmp(k, "period"))
    lua_pushnumber(L, p->period);
  else if (!strcmp(k, "kind"))
    lua_pushstring(L, u->kind);
  else if (!strcmp(k, "controller"))
    lua_getiuservalue(L, 1, 1);
  else if (!strcmp(k, "task"))
    lua_getiuservalue(L, 1, 2);
  else
    lua_pushnil(L);
  return 1;
}

static const char* const load_keys[] = {"controller", "task", NULL};

// P.load(path [, { controller =, task = }]) -> policy, note | nil, message: a policy rebuilt from
// a file (pol:save); a closed-loop policy needs its controller (and task, if it had one) again
static int l_load(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  spA_table o_t = spA_opts(L, 2, 1);
  spA_check_keys(&o_t, load_keys);
  lua_settop(L, 2);
  lua_pushnil(L);  // 3: controller
  lua_pushnil(L);  // 4: task
  sp_policy_info info;
  char msg[512];
  if (sp_policy_info_read(path, &info, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  // the info's storage must be freed on every path, errors included: copy what is needed first
  sp_policy_config cfg = info.cfg;
  int nout = cfg.nout, nh = cfg.nhidden;
  if (nout > 4 + 256 + 64 || nh > SP_MLP_MAXLAYERS || info.nr > 128 || info.nk > 256 ||
      info.nu > 64) {
    sp_policy_info_free(&info);
    return spL_failure(L, "%s: the policy is larger than this loader supports", path);
  }
  sp_policy_output outs[4 + 256 + 64];
  int hidden[SP_MLP_MAXLAYERS];
  double r0[128], K0[256], uff[64];
  memcpy(outs, cfg.outputs, sizeof(sp_policy_output) * nout);
  memcpy(hidden, cfg.hidden, sizeof(int) * (nh > 0 ? nh : 0));
  if (cfg.r0) memcpy(r0, cfg.r0, sizeof(double) * info.nr);
  if (cfg.K0) memcpy(K0, cfg.K0, sizeof(double) * info.nk);
  memcpy(uff, cfg.u_ff, sizeof(double) * info.nu);
  char label[32];
  memcpy(label, info.label, sizeof label);
  int open = info.open_loop, nx = info.nx, nu = info.nu, nr = info.nr, nk = info.nk;
  sp_policy_info_free(&info);
  cfg.outputs = outs, cfg.hidden = hidden, cfg.u_ff = uff;
  cfg.r0 = cfg.r0 ? r0 : NULL;
  cfg.K0 = cfg.K0 ? K0 : NULL;
  const char* kind = !strcmp(label, "tracking") ? "tracking"
                     : !strcmp(label, "lqr")    ? "lqr"
                                                : "open_loop";
  if (!open) {
    if (!spA_has(&o_t, "controller"))
      return spA_fielderror(&o_t, "controller",
                            "%s holds a %s policy: expected its controller (nx %d, nu %d, %d "
                            "reference entries, %d gains), got nil",
                            path, kind, nx, nu, nr, nk);
    sp_ctrl* c = optctrl(L, 2, "load", 3);
    if (c->nx != nx || c->nu != nu || c->nr != nr || c->nk != nk)
      return spA_fielderror(&o_t, "controller",
                            "expected a controller with nx %d, nu %d, %d reference entries and "
                            "%d gains (%s's), got %d, %d, %d, %d",
                            nx, nu, nr, nk, path, c->nx, c->nu, c->nr, c->nk);
    cfg.ctrl = c;
    if (!strcmp(kind, "tracking")) cfg.task = opttask(L, 2, "load", 4, 1);
  }
  push_policy(L, "load", kind, &cfg, 3, 4);
  lpolicy* u = lua_touserdata(L, -1);
  void* note = NULL;
  size_t nlen = 0;
  if (sp_policy_load(path, u->p, u->d, NULL, &note, &nlen, msg, sizeof msg))
    return spL_failure(L, "%s", msg);
  push_note(L, note, nlen);
  sp_free(note);
  return 2;
}

static const luaL_Reg functions[] = {
    {"tracking", l_tracking}, {"lqr", l_lqr}, {"open_loop", l_open_loop},
    {"load", l_load},         {NULL, NULL},
};

int luaopen_spinal_policy(lua_State* L) {
  spL_class(L, POLICY_MT, methods, m_index, m_close, m_tostring);
  luaL_newlib(L, functions);
  return 1;
}
