// wm.c: the Lua binding of method 2's world model and replay buffer (require "spinal.wm") over
// engine/wm (see docs/api/wm.md).
//
//   local wm = require "spinal.wm"
//   local model = wm.new { nj = 12, nu = 12, dt = 0.02 }      -- 3 x 256 elu, float32
//   local s1 = model:step(s, a)                                -- (nx) or (batch, nx)
//   model:observe(S, A, S1)                                    -- normaliser statistics
//   local loss, parts, per_step = model:loss(S, A)             -- n-step rollout errors
//   local loss, parts = model:train(S, A, opt)                 -- one batch: loss, backward, step
//   local buf = wm.replay { nx = 37, nu = 12, capacity = 50000, seed = 1 }
//   buf:push(s, a, s1, done);  local S, A = buf:sample(512, 8)
//   local h = wm.command { vae = pol }                         -- h(z | s, command) over pol's
//   decoder local loss, parts = h:train(model, pol, S0, K, eps, opt)   -- through the world model
// Userdata types: "spinal.wm.model" (an sp_wm with its workspace, grown on demand),
// "spinal.wm.replay" (an sp_replay with its own generator), "spinal.wm.vae" (the VAE policy) and
// "spinal.wm.command" (the high-level network, docs/api/command.md).
#include "engine/wm/wm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"
#include "engine/nn/optim.h"
#include "engine/wm/command.h"
#include "engine/wm/replay.h"
#include "engine/wm/vae.h"

int luaopen_spinal_nn(lua_State* L);

#define WM_MT "spinal.wm.model"
#define REPLAY_MT "spinal.wm.replay"
#define VAE_MT "spinal.wm.vae"
#define COMMAND_MT "spinal.wm.command"

// ---- workspaces -------------------------------------------------------------------------------
// A network's calls come in shapes of rows x steps: a training batch of a few rows over a long
// horizon, an evaluation of many rows over a few steps, one step of one row on the robot. One
// workspace grown to fit them all is max(rows) x max(steps) (a fine-tuning run's evaluation over
// all the robot's windows beside h's 48-step batches made it 0.4 GB, remade and zeroed each round
// as the data grew). Each network keeps two: a call uses the smaller that fits; else the one that
// grows to cover the call for at most twice the call's own size grows (its rows by half at least,
// so a workspace following growing data is not remade on every call); else the least recently used
// is remade to the call's shape.
typedef struct ws_set {
  int rows[2], steps[2];  // the shapes its two workspaces were made for (0, 0: none)
  int last;               // the one the last call used: the other is the least recently used
} ws_set;

// which of w's two workspaces serves a call of rows x steps; *mr, *ms: the shape to (re)make it
// with first, or 0, 0 when it fits as it is
static int ws_pick(ws_set* w, int rows, int steps, int* mr, int* ms) {
  double want = (double)rows * steps, best_size = 0;
  int best = -1;
  *mr = *ms = 0;
  for (int i = 0; i < 2; i++) {
    double size = (double)w->rows[i] * w->steps[i];
    if (w->rows[i] >= rows && w->steps[i] >= steps && (best < 0 || size < best_size))
      best = i, best_size = size;
  }
  for (int i = 0; best < 0 && i < 2; i++) {
    int r0 = w->rows[i];
    if (!r0) continue;
    int r = rows <= r0 ? r0 : rows > r0 + r0 / 2 ? rows : r0 + r0 / 2;
    int k = steps > w->steps[i] ? steps : w->steps[i];
    double size = (double)r * k;
    if (size <= 2 * want && (best < 0 || size < best_size))
      best = i, best_size = size, *mr = r, *ms = k;
  }
  if (best < 0) {
    best = !w->rows[0] ? 0 : !w->rows[1] ? 1 : 1 - w->last;
    *mr = rows, *ms = steps;
  }
  w->last = best;
  return best;
}

// net:workspaces() -> { { rows =, steps = }, ... }: the shapes of the network's workspaces
static int push_workspaces(lua_State* L, const ws_set* w) {
  lua_newtable(L);
  for (int i = 0, n = 0; i < 2; i++) {
    if (!w->rows[i]) continue;
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, w->rows[i]);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, w->steps[i]);
    lua_setfield(L, -2, "steps");
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

typedef struct lwm {
  sp_wm* wm;         // NULL once closed
  sp_wm_data* d[2];  // workspaces (ws_pick), of ws.rows[i] rows and ws.steps[i] applications
  ws_set ws;
} lwm;

typedef struct lvae {
  sp_vae* v;          // NULL once closed
  sp_vae_data* d[2];  // workspaces (ws_pick)
  ws_set ws;
} lvae;

typedef struct lreplay {
  sp_replay* r;  // NULL once closed
  sp_rng rng;
} lreplay;

static lwm* checkwm(lua_State* L, int arg) {
  lwm* u = luaL_checkudata(L, arg, WM_MT);
  if (!u->wm) luaL_error(L, "attempt to use a closed world model");
  return u;
}

static lreplay* checkreplay(lua_State* L, int arg) {
  lreplay* u = luaL_checkudata(L, arg, REPLAY_MT);
  if (!u->r) luaL_error(L, "attempt to use a closed replay buffer");
  return u;
}

// a workspace for batch rows and horizon applications (allocates only when none fits: ws_pick)
static sp_wm_data* reserve(lua_State* L, lwm* u, int batch, int horizon) {
  int b, h, i = ws_pick(&u->ws, batch, horizon, &b, &h);
  if (b) {
    sp_wm_data* d;
    int rc = sp_wm_data_new(&d, u->wm, b, h);
    if (rc) spL_raise(L, rc, "world model workspace");
    sp_wm_data_free(u->d[i]);
    u->d[i] = d;
    u->ws.rows[i] = b, u->ws.steps[i] = h;
  }
  return u->d[i];
}

// an array argument of shape (lead..., width) with ndim dims in [lo_nd, hi_nd]; returns contiguous
// data (a copy pushed on the stack when needed) and writes the shape
static const double* shaped(lua_State* L, int arg, int lo_nd, int hi_nd, int64_t width,
                            const char* what, sp_array** out) {
  sp_array* a = spL_toarray(L, arg);
  if (a->ndim < lo_nd || a->ndim > hi_nd || a->shape[a->ndim - 1] != width) {
    char shape[64];
    sp_array_shape_str(shape, sizeof shape, a);
    spA_argerror(L, arg, "expected %s with %d entries per row, got shape %s", what, (int)width,
                 shape);
  }
  *out = a;
  if (sp_array_is_contiguous(a)) return a->data;
  double* c = spA_scratch(L, (size_t)sp_array_size(a));
  spA_gather(a, c);
  return c;
}

// ---- wm.new
// ---------------------------------------------------------------------------------------

static const char* const new_keys[] = {"nj",    "nu",      "dt",      "hidden",  "layers",
                                       "act",   "dtype",   "min_std", "weights", "seed",
                                       "batch", "horizon", "history", NULL};

// a weights table { position =, orientation =, ... } into w (SP_WM_NCOMP): the keys given, each
// >= 0, replace their entries; unknown keys are refused
static void read_weights(spA_table* t, double* w) {
  const char* names[SP_WM_NCOMP + 1];
  for (int i = 0; i < SP_WM_NCOMP; i++) names[i] = sp_wm_component_name(i);
  names[SP_WM_NCOMP] = NULL;
  spA_check_keys(t, names);
  for (int i = 0; i < SP_WM_NCOMP; i++) w[i] = spA_range(t, names[i], w[i], 0, NAN, 0);
}

static int l_new(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, new_keys);
  sp_wm_config c = sp_wm_default_config(0, 1, 0.02);
  c.nj = (int)spA_integer(&t, "nj", 0, 0, 1000, 1);
  c.nu = (int)spA_integer(&t, "nu", 0, 1, 1024, 1);
  c.dt = spA_positive(&t, "dt", 0, 1);
  c.history = (int)spA_integer(&t, "history", 0, 0, 1, 0);
  c.hidden = (int)spA_integer(&t, "hidden", c.hidden, 1, 65536, 0);
  c.layers = (int)spA_integer(&t, "layers", c.layers, 1, SP_MLP_MAXLAYERS - 1, 0);
  const char* act = spA_string(&t, "act", "elu", 0);
  if (sp_act_parse(&c.act, act))
    spA_fielderror(&t, "act", "unknown activation '%s'; valid: %s", act, sp_act_names());
  const char* dt = spA_string(&t, "dtype", "f32", 0);
  if (sp_dtype_parse(&c.dtype, dt))
    spA_fielderror(&t, "dtype", "unknown dtype '%s'; valid: f64, f32", dt);
  c.min_std = spA_positive(&t, "min_std", c.min_std, 0);
  spA_table w = spA_subtable(&t, "weights", 0);
  if (w.idx) read_weights(&w, c.weight);
  lua_pop(L, 1);
  lua_Integer seed = spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  int batch = (int)spA_integer(&t, "batch", 64, 1, 1 << 20, 0);
  int horizon = (int)spA_integer(&t, "horizon", 8, 1, 1 << 16, 0);
  lwm* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, WM_MT);
  int rc = sp_wm_new(&u->wm, &c, (uint64_t)seed);
  if (rc) return spL_raise(L, rc, "new");
  reserve(L, u, batch, horizon);
  return 1;
}

// ---- model methods
// ----------------------------------------------------------------------------------

// what a model takes as its action input, for argument errors
static const char* action_what(const sp_wm* wm) {
  return wm->cfg.history ? "actions and the actions before ([a, a_prev], history = 1)" : "actions";
}

// model:step(s, a) -> s_next: (nx) and (na), or (batch, nx) and (batch, na); na = nu, or 2 nu
// with history ([a, a_prev])
static int m_step(lua_State* L) {
  lua_settop(L, 3);
  lwm* u = checkwm(L, 1);
  sp_wm* wm = u->wm;
  sp_array *sa, *aa;
  const double* s = shaped(L, 2, 1, 2, wm->nx, "states", &sa);
  const double* a = shaped(L, 3, 1, 2, wm->na, action_what(wm), &aa);
  int64_t batch = sa->ndim == 2 ? sa->shape[0] : 1;
  if (aa->ndim != sa->ndim || (aa->ndim == 2 && aa->shape[0] != batch))
    return spA_argerror(L, 3, "expected as many action rows as state rows (%d)", (int)batch);
  if (batch < 1 || batch > (1 << 20)) return spA_argerror(L, 2, "expected 1 to %d rows", 1 << 20);
  sp_wm_data* d = reserve(L, u, (int)batch, 1);
  int64_t shape[2] = {batch, wm->nx};
  sp_array* out = sa->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  int rc = sp_wm_step(wm, d, 0, out->data, s, a, (int)batch);
  if (rc) return spL_raise(L, rc, "step");
  return 1;
}

// model:observe(S, A, S1): rows of transitions into the normalisers
static int m_observe(lua_State* L) {
  lua_settop(L, 4);
  lwm* u = checkwm(L, 1);
  sp_wm* wm = u->wm;
  sp_array *sa, *aa, *s1a;
  const double* s = shaped(L, 2, 1, 2, wm->nx, "states", &sa);
  const double* a = shaped(L, 3, 1, 2, wm->na, action_what(wm), &aa);
  const double* s1 = shaped(L, 4, 1, 2, wm->nx, "next states", &s1a);
  int64_t n = sp_array_size(sa) / wm->nx;
  if (sp_array_size(aa) / wm->na != n || sp_array_size(s1a) / wm->nx != n)
    return spA_argerror(L, 3, "expected as many rows of actions and next states as states (%d)",
                        (int)n);
  sp_wm_observe(wm, s, a, s1, (int)n);
  lua_settop(L, 1);
  return 1;
}

// the windows S (batch, n + 1, nx) and A (batch, n, nu) at 2 and 3; returns their workspace
static sp_wm_data* windows(lua_State* L, lwm* u, const double** S, const double** A, int* batch,
                           int* n) {
  sp_wm* wm = u->wm;
  sp_array *sa, *aa;
  *S = shaped(L, 2, 3, 3, wm->nx, "windows of states (batch, n + 1, nx)", &sa);
  *A = shaped(L, 3, 3, 3, wm->na,
              wm->cfg.history ? "windows of actions and the actions before (batch, n, 2 nu): a "
                                "replay buffer with history = 1"
                              : "windows of actions (batch, n, nu)",
              &aa);
  if (aa->shape[0] != sa->shape[0] || aa->shape[1] + 1 != sa->shape[1] || aa->shape[1] < 1)
    spA_argerror(L, 3, "expected actions of shape (%d, %d, %d) for states of shape (%d, %d, %d)",
                 (int)sa->shape[0], (int)sa->shape[1] - 1, wm->na, (int)sa->shape[0],
                 (int)sa->shape[1], wm->nx);
  *batch = (int)sa->shape[0];
  *n = (int)aa->shape[1];
  return reserve(L, u, *batch, *n);
}

// push loss, {component = value}, per_step (n, 6)
static int push_losses(lua_State* L, double loss, const double* comps, const double* per, int n) {
  lua_pushnumber(L, loss);
  lua_createtable(L, 0, SP_WM_NCOMP);
  for (int c = 0; c < SP_WM_NCOMP; c++) {
    lua_pushnumber(L, comps[c]);
    lua_setfield(L, -2, sp_wm_component_name(c));
  }
  if (!per) return 2;
  int64_t shape[2] = {n, SP_WM_NCOMP};
  sp_array* p = spL_newarray(L, 2, shape);
  memcpy(p->data, per, (size_t)n * SP_WM_NCOMP * sizeof(double));
  return 3;
}

// model:loss(S, A) -> loss, parts, per_step (no gradients)
static int m_loss(lua_State* L) {
  lua_settop(L, 3);
  lwm* u = checkwm(L, 1);
  const double *S, *A;
  int batch, n;
  sp_wm_data* d = windows(L, u, &S, &A, &batch, &n);
  double loss, comps[SP_WM_NCOMP];
  double* per = spA_scratch(L, (size_t)n * SP_WM_NCOMP);
  int rc = sp_wm_rollout_loss(u->wm, d, &loss, comps, per, S, A, batch, n, 0);
  if (rc) return spL_raise(L, rc, "loss");
  return push_losses(L, loss, comps, per, n);
}

// one optimiser step of the flat params with grads (n of dtype), raising like train when refused
static void apply_step(lua_State* L, const char* what, sp_optim* o, void* params,
                       const void* grads) {
  if (sp_optim_step(o, params, grads) == SP_ENUMERIC)
    luaL_error(L, "%s: the step would make the parameters non-finite; step refused", what);
}

// n float64 values into flat storage of dtype (rounded for float32)
static void set_flat(void* dst, sp_dtype dtype, const double* src, size_t n) {
  if (dtype == SP_F64) {
    memcpy(dst, src, n * sizeof(double));
    return;
  }
  float* f = dst;
  for (size_t i = 0; i < n; i++) f[i] = (float)src[i];
}

// model:grad(S, A) -> loss, parts: zero the gradients, the loss and its gradient (no step), so
// gradients can be averaged across processes before model:apply(opt) (docs/distributed.md)
static int m_grad(lua_State* L) {
  lua_settop(L, 3);
  lwm* u = checkwm(L, 1);
  const double *S, *A;
  int batch, n;
  sp_wm_data* d = windows(L, u, &S, &A, &batch, &n);
  double loss, comps[SP_WM_NCOMP];
  sp_mlp_zero_grad(u->wm->net);
  int rc = sp_wm_rollout_loss(u->wm, d, &loss, comps, NULL, S, A, batch, n, 1);
  if (rc) return spL_raise(L, rc, "grad");
  return push_losses(L, loss, comps, NULL, n);
}

// model:apply(opt) -> model: one step of opt with the gradients the model holds
static int m_apply(lua_State* L) {
  lwm* u = checkwm(L, 1);
  sp_mlp* net = u->wm->net;
  apply_step(L, "apply", spL_optim_for(L, 2, net->nparams, net->dtype), net->params, net->grads);
  lua_settop(L, 1);
  return 1;
}

// model:train(S, A, opt) -> loss, parts: grad, then apply
static int m_train(lua_State* L) {
  lua_settop(L, 4);
  lwm* u = checkwm(L, 1);
  const double *S, *A;
  int batch, n;
  sp_wm_data* d = windows(L, u, &S, &A, &batch, &n);
  sp_mlp* net = u->wm->net;
  sp_optim* o = spL_optim_for(L, 4, net->nparams, net->dtype);
  double loss, comps[SP_WM_NCOMP];
  sp_mlp_zero_grad(net);
  int rc = sp_wm_rollout_loss(u->wm, d, &loss, comps, NULL, S, A, batch, n, 1);
  if (rc) return spL_raise(L, rc, "train");
  apply_step(L, "train", o, net->params, net->grads);
  return push_losses(L, loss, comps, NULL, n);
}

// model:params() / model:grads() -> copies as float64 arrays; model:set_params(p)
static int m_params(lua_State* L) {
  sp_mlp* net = checkwm(L, 1)->wm->net;
  int64_t n = (int64_t)net->nparams;
  sp_array* a = spL_newarray(L, 1, &n);
  sp_mlp_get_params(net, a->data);
  return 1;
}

static int m_grads(lua_State* L) {
  sp_mlp* net = checkwm(L, 1)->wm->net;
  int64_t n = (int64_t)net->nparams;
  sp_array* a = spL_newarray(L, 1, &n);
  sp_mlp_get_grads(net, a->data);
  return 1;
}

static int m_set_params(lua_State* L) {
  sp_mlp* net = checkwm(L, 1)->wm->net;
  double* p = spA_scratch(L, net->nparams);
  spA_vector(L, 2, p, (int64_t)net->nparams, "a parameter vector", 1);
  sp_mlp_set_params(net, p);
  lua_settop(L, 1);
  return 1;
}

// the normalisers' statistics as one vector: for features, actions and velocity changes in turn,
// count, mean (n), m2 (n) (the layout of the model's file)
static size_t stats_len(const sp_wm* wm) {
  return 3 + 2 * (size_t)(wm->nf + wm->na + wm->nd);
}

// model:normalizers() -> array: the statistics, for broadcasting them to other ranks
static int m_normalizers(lua_State* L) {
  sp_wm* wm = checkwm(L, 1)->wm;
  int64_t n = (int64_t)stats_len(wm);
  sp_array* a = spL_newarray(L, 1, &n);
  const sp_normalizer* z[3] = {&wm->fnorm, &wm->anorm, &wm->dnorm};
  double* p = a->data;
  for (int k = 0; k < 3; k++) {
    *p++ = z[k]->count;
    memcpy(p, z[k]->mean, (size_t)z[k]->n * sizeof(double));
    p += z[k]->n;
    memcpy(p, z[k]->m2, (size_t)z[k]->n * sizeof(double));
    p += z[k]->n;
  }
  return 1;
}

// model:set_normalizers(a): statistics from model:normalizers() (of a model of the same sizes)
static int m_set_normalizers(lua_State* L) {
  sp_wm* wm = checkwm(L, 1)->wm;
  size_t n = stats_len(wm);
  double* x = spA_scratch(L, n);
  spA_vector(L, 2, x, (int64_t)n, "normaliser statistics", 1);
  sp_normalizer* z[3] = {&wm->fnorm, &wm->anorm, &wm->dnorm};
  // check every count before changing anything
  const double* p = x;
  for (int k = 0; k < 3; k++) {
    if (!(p[0] >= 0))
      return spA_argerror(L, 2, "expected normaliser statistics with counts >= 0, got %f", p[0]);
    p += 1 + 2 * (size_t)z[k]->n;
  }
  p = x;
  for (int k = 0; k < 3; k++) {
    z[k]->count = *p++;
    memcpy(z[k]->mean, p, (size_t)z[k]->n * sizeof(double));
    p += z[k]->n;
    memcpy(z[k]->m2, p, (size_t)z[k]->n * sizeof(double));
    p += z[k]->n;
    sp_normalizer_refresh(z[k]);
  }
  lua_settop(L, 1);
  return 1;
}

// model:set_grads(g): the gradients model:apply steps with (e.g. averaged across processes)
static int m_set_grads(lua_State* L) {
  sp_mlp* net = checkwm(L, 1)->wm->net;
  double* g = spA_scratch(L, net->nparams);
  spA_vector(L, 2, g, (int64_t)net->nparams, "a gradient vector", 1);
  set_flat(net->grads, net->dtype, g, net->nparams);
  lua_settop(L, 1);
  return 1;
}

// model:set_weights { velocity = 4, ... }: the loss's component weights from now on (the keys
// given; e.g. to fit one component harder while fine-tuning); saved with the model
static int m_set_weights(lua_State* L) {
  lwm* u = checkwm(L, 1);
  spA_table t = spA_opts(L, 2, 1);
  double w[SP_WM_NCOMP];  // all read before any is set: a refused table changes nothing
  memcpy(w, u->wm->cfg.weight, sizeof w);
  read_weights(&t, w);
  memcpy(u->wm->cfg.weight, w, sizeof w);
  lua_settop(L, 1);
  return 1;
}

static int m_save(lua_State* L) {
  lwm* u = checkwm(L, 1);
  const char* path = luaL_checkstring(L, 2);
  sp_optim* o =
      lua_isnoneornil(L, 3) ? NULL : spL_optim_for(L, 3, u->wm->net->nparams, u->wm->net->dtype);
  char msg[512];
  if (sp_wm_save(u->wm, o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

// model:with_history() -> a new model that also sees the previous action (sp_wm_with_history):
// the same predictions until trained; the optimiser of the old one does not fit it
static int m_with_history(lua_State* L) {
  lwm* u = checkwm(L, 1);
  if (u->wm->cfg.history)
    return luaL_error(L, "with_history: the world model already sees the previous action");
  lwm* w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  luaL_setmetatable(L, WM_MT);
  int rc = sp_wm_with_history(&w->wm, u->wm);
  if (rc) return spL_raise(L, rc, "with_history");
  for (int i = 0; i < 2; i++) {  // workspaces of the old one's shapes
    if (!u->ws.rows[i]) continue;
    rc = sp_wm_data_new(&w->d[i], w->wm, u->ws.rows[i], u->ws.steps[i]);
    if (rc) return spL_raise(L, rc, "with_history");
    w->ws.rows[i] = u->ws.rows[i], w->ws.steps[i] = u->ws.steps[i];
  }
  w->ws.last = u->ws.last;
  if (!w->d[0] && !w->d[1]) reserve(L, w, 64, 8);
  return 1;
}

static int m_gc(lua_State* L) {
  lwm* u = luaL_checkudata(L, 1, WM_MT);
  for (int i = 0; i < 2; i++) {
    sp_wm_data_free(u->d[i]);
    u->d[i] = NULL;
  }
  sp_wm_free(u->wm);
  u->wm = NULL;
  return 0;
}

static int m_tostring(lua_State* L) {
  lwm* u = luaL_checkudata(L, 1, WM_MT);
  if (!u->wm) {
    lua_pushliteral(L, "world model (closed)");
    return 1;
  }
  char net[512], buf[700];
  sp_mlp_describe(u->wm->net, net, sizeof net);
  snprintf(buf, sizeof buf, "world model: %d joints, %d actions%s, dt %g; %s", u->wm->cfg.nj,
           u->wm->cfg.nu, u->wm->cfg.history ? " and the previous ones" : "", u->wm->cfg.dt, net);
  lua_pushstring(L, buf);
  return 1;
}

static int m_workspaces(lua_State* L) {
  return push_workspaces(L, &checkwm(L, 1)->ws);
}

static const luaL_Reg wm_methods[] = {
    {"step", m_step},
    {"workspaces", m_workspaces},
    {"observe", m_observe},
    {"loss", m_loss},
    {"train", m_train},
    {"grad", m_grad},
    {"apply", m_apply},
    {"params", m_params},
    {"grads", m_grads},
    {"set_params", m_set_params},
    {"set_grads", m_set_grads},
    {"set_weights", m_set_weights},
    {"normalizers", m_normalizers},
    {"set_normalizers", m_set_normalizers},
    {"save", m_save},
    {"with_history", m_with_history},
    {"close", m_gc},
    {NULL, NULL},
};

static int m_index(lua_State* L) {
  lwm* u = luaL_checkudata(L, 1, WM_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->wm) return luaL_error(L, "attempt to use a closed world model");
  const sp_wm* wm = u->wm;
  if (!strcmp(k, "nx"))
    lua_pushinteger(L, wm->nx);
  else if (!strcmp(k, "nu"))
    lua_pushinteger(L, wm->cfg.nu);
  else if (!strcmp(k, "nj"))
    lua_pushinteger(L, wm->cfg.nj);
  else if (!strcmp(k, "history"))
    lua_pushinteger(L, wm->cfg.history);
  else if (!strcmp(k, "na"))
    lua_pushinteger(L, wm->na);
  else if (!strcmp(k, "dt"))
    lua_pushnumber(L, wm->cfg.dt);
  else if (!strcmp(k, "nparams"))
    lua_pushinteger(L, (lua_Integer)wm->net->nparams);
  else if (!strcmp(k, "dtype"))
    lua_pushstring(L, sp_dtype_name(wm->cfg.dtype));
  else if (!strcmp(k, "samples"))
    lua_pushnumber(L, wm->fnorm.count);
  else if (!strcmp(k, "components")) {
    lua_createtable(L, SP_WM_NCOMP, 0);
    for (int c = 0; c < SP_WM_NCOMP; c++) {
      lua_pushstring(L, sp_wm_component_name(c));
      lua_rawseti(L, -2, c + 1);
    }
  } else if (!strcmp(k, "weights")) {
    lua_createtable(L, 0, SP_WM_NCOMP);
    for (int c = 0; c < SP_WM_NCOMP; c++) {
      lua_pushnumber(L, wm->cfg.weight[c]);
      lua_setfield(L, -2, sp_wm_component_name(c));
    }
  } else {
    lua_pushnil(L);
  }
  return 1;
}

// push an optimiser taken over from C (spinal.nn's metatable made first), or nothing
static int push_optim(lua_State* L, sp_optim* o) {
  if (!o) return 0;
  luaL_requiref(L, "spinal.nn", luaopen_spinal_nn, 0);
  lua_pop(L, 1);
  spL_push_optim(L, o);
  return 1;
}

// wm.load(path) -> model [, opt] | nil, message
static int l_load(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  lwm* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, WM_MT);
  char msg[512];
  sp_optim* o = NULL;
  if (sp_wm_load(&u->wm, &o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  reserve(L, u, 64, 8);
  return 1 + push_optim(L, o);
}

// ---- VAE policy
// -----------------------------------------------------------------------------------

static lvae* checkvae(lua_State* L, int arg) {
  lvae* u = luaL_checkudata(L, arg, VAE_MT);
  if (!u->v) luaL_error(L, "attempt to use a closed policy");
  return u;
}

static sp_vae_data* vae_reserve(lua_State* L, lvae* u, int batch, int horizon) {
  int b, h, i = ws_pick(&u->ws, batch, horizon, &b, &h);
  if (b) {
    sp_vae_data* d;
    int rc = sp_vae_data_new(&d, u->v, b, h);
    if (rc) spL_raise(L, rc, "policy workspace");
    sp_vae_data_free(u->d[i]);
    u->d[i] = d;
    u->ws.rows[i] = b, u->ws.steps[i] = h;
  }
  return u->d[i];
}

static const char* const vae_keys[] = {
    "nj",      "nu",     "nc",     "lat",  "hidden", "layers", "act",   "dtype",   "sigma", "a_nom",
    "weights", "act_l1", "act_l2", "beta", "gamma",  "seed",   "batch", "horizon", NULL};

// wm.vae{...} -> policy
static int l_vae(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, vae_keys);
  int nj = (int)spA_integer(&t, "nj", 0, 0, 1000, 1);
  int nu = (int)spA_integer(&t, "nu", 0, 1, SP_VAE_MAXACT, 1);
  int nc = (int)spA_integer(&t, "nc", 0, 1, 1 << 16, 1);
  sp_vae_config c = sp_vae_default_config(nj, nu, nc);
  c.lat = (int)spA_integer(&t, "lat", c.lat, 1, 4096, 0);
  c.hidden = (int)spA_integer(&t, "hidden", c.hidden, 1, 65536, 0);
  c.layers = (int)spA_integer(&t, "layers", c.layers, 1, SP_MLP_MAXLAYERS - 1, 0);
  const char* act = spA_string(&t, "act", "elu", 0);
  if (sp_act_parse(&c.act, act))
    spA_fielderror(&t, "act", "unknown activation '%s'; valid: %s", act, sp_act_names());
  const char* dt = spA_string(&t, "dtype", "f32", 0);
  if (sp_dtype_parse(&c.dtype, dt))
    spA_fielderror(&t, "dtype", "unknown dtype '%s'; valid: f64, f32", dt);
  c.sigma = spA_positive(&t, "sigma", c.sigma, 0);
  spA_field_vector(&t, "a_nom", c.a_nom, nu, 1);
  spA_table w = spA_subtable(&t, "weights", 0);
  if (w.idx) {
    const char* names[SP_WM_NCOMP + 3];
    for (int i = 0; i < SP_WM_NCOMP; i++) names[i] = sp_wm_component_name(i);
    names[SP_WM_NCOMP] = "height";
    names[SP_WM_NCOMP + 1] = "up";
    names[SP_WM_NCOMP + 2] = NULL;
    spA_check_keys(&w, names);
    for (int i = 0; i < SP_WM_NCOMP; i++)
      c.track[i] = spA_range(&w, names[i], c.track[i], 0, NAN, 0);
    c.height = spA_range(&w, "height", c.height, 0, NAN, 0);
    c.up = spA_range(&w, "up", c.up, 0, NAN, 0);
  }
  lua_pop(L, 1);
  c.act_l1 = spA_range(&t, "act_l1", c.act_l1, 0, NAN, 0);
  c.act_l2 = spA_range(&t, "act_l2", c.act_l2, 0, NAN, 0);
  c.beta = spA_range(&t, "beta", c.beta, 0, NAN, 0);
  c.gamma = spA_range(&t, "gamma", c.gamma, 1e-9, 1, 0);
  lua_Integer seed = spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  int batch = (int)spA_integer(&t, "batch", 64, 1, 1 << 20, 0);
  int horizon = (int)spA_integer(&t, "horizon", 24, 1, 1 << 16, 0);
  lvae* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, VAE_MT);
  int rc = sp_vae_new(&u->v, &c, (uint64_t)seed);
  if (rc) return spL_raise(L, rc, "vae");
  vae_reserve(L, u, batch, horizon);
  return 1;
}

// pol:act(s [, c [, eps]]) -> a: rows as in model:step; c nil: the prior; eps nil: the mean
static int v_act(lua_State* L) {
  lua_settop(L, 4);
  lvae* u = checkvae(L, 1);
  const sp_vae_config* cf = &u->v->cfg;
  sp_array *sa, *ca = NULL, *ea = NULL;
  const double* s = shaped(L, 2, 1, 2, 13 + 2 * cf->nj, "states", &sa);
  const double* c = lua_isnil(L, 3) ? NULL : shaped(L, 3, 1, 2, cf->nc, "conditioning", &ca);
  const double* e = lua_isnil(L, 4) ? NULL : shaped(L, 4, 1, 2, cf->lat, "latent noise", &ea);
  int64_t batch = sa->ndim == 2 ? sa->shape[0] : 1;
  if ((ca && sp_array_size(ca) != batch * cf->nc) || (ea && sp_array_size(ea) != batch * cf->lat))
    return spA_argerror(L, 3, "expected one row of conditioning and noise per state row (%d)",
                        (int)batch);
  sp_vae_data* d = vae_reserve(L, u, (int)batch, 1);
  int64_t shape[2] = {batch, cf->nu};
  sp_array* a = sa->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  int rc = sp_vae_act(u->v, d, a->data, s, c, e, (int)batch);
  if (rc) return spL_raise(L, rc, "act");
  return 1;
}

// pol:latent(s [, c]) -> mu_q, mu_p: the posterior's and the prior's latent means (rows as in act)
static int v_latent(lua_State* L) {
  lua_settop(L, 3);
  lvae* u = checkvae(L, 1);
  const sp_vae_config* cf = &u->v->cfg;
  sp_array *sa, *ca = NULL;
  const double* s = shaped(L, 2, 1, 2, 13 + 2 * cf->nj, "states", &sa);
  const double* c = lua_isnil(L, 3) ? NULL : shaped(L, 3, 1, 2, cf->nc, "conditioning", &ca);
  int64_t batch = sa->ndim == 2 ? sa->shape[0] : 1;
  if (ca && sp_array_size(ca) != batch * cf->nc)
    return spA_argerror(L, 3, "expected one row of conditioning per state row (%d)", (int)batch);
  sp_vae_data* d = vae_reserve(L, u, (int)batch, 1);
  int64_t shape[2] = {batch, cf->lat};
  sp_array* q = sa->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  sp_array* p = sa->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  int rc = sp_vae_latent(u->v, d, q->data, p->data, s, c, (int)batch);
  if (rc) return spL_raise(L, rc, "latent");
  return 2;
}

enum { VAE_LOSS, VAE_GRAD, VAE_TRAIN };

// the two results of a policy loss: the loss, then { name = part } for its n parts
static int push_loss(lua_State* L, double loss, const double* parts, const char* const* names,
                     int n) {
  lua_pushnumber(L, loss);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, parts[i]);
    lua_setfield(L, -2, names[i]);
  }
  return 2;
}

// the arguments of loss/grad/train: model at 2, S0 (B, nx), C (B, H, nc), R (B, H, nx), eps at 6,
// opt at 7 (train)
static int vae_run(lua_State* L, int mode) {
  int train = mode == VAE_TRAIN, backward = mode != VAE_LOSS;
  const char* what = mode == VAE_LOSS ? "loss" : mode == VAE_GRAD ? "grad" : "train";
  lua_settop(L, 7);
  lvae* u = checkvae(L, 1);
  lwm* m = checkwm(L, 2);
  const sp_vae_config* cf = &u->v->cfg;
  if (m->wm->cfg.nj != cf->nj || m->wm->cfg.nu != cf->nu)
    return spA_argerror(L, 2, "expected a world model with %d joints and %d actions, got %d and %d",
                        cf->nj, cf->nu, m->wm->cfg.nj, m->wm->cfg.nu);
  if (m->wm->cfg.history)
    return spA_argerror(L, 2,
                        "expected a world model without history (the VAE's tracking rollouts "
                        "carry no previous actions; a command network's do)");
  int nx = m->wm->nx;
  sp_array *sa, *ca, *ra, *ea = NULL;
  const double* S0 = shaped(L, 3, 2, 2, nx, "start states (batch, nx)", &sa);
  const double* C = shaped(L, 4, 3, 3, cf->nc, "conditioning (batch, H, nc)", &ca);
  const double* R = shaped(L, 5, 3, 3, nx, "reference states (batch, H, nx)", &ra);
  const double* E =
      lua_isnil(L, 6) ? NULL : shaped(L, 6, 3, 3, cf->lat, "noise (batch, H, lat)", &ea);
  int64_t B = sa->shape[0], H = ca->shape[1];
  if (ca->shape[0] != B || ra->shape[0] != B || ra->shape[1] != H ||
      (ea && (ea->shape[0] != B || ea->shape[1] != H)))
    return spA_argerror(L, 5,
                        "expected %d rows and %d steps in the conditioning, references and noise",
                        (int)B, (int)H);
  sp_optim* o = train ? spL_optim_for(L, 7, u->v->nparams, u->v->cfg.dtype) : NULL;
  sp_vae_data* d = vae_reserve(L, u, (int)B, (int)H);
  sp_wm_data* md = reserve(L, m, (int)B, (int)H);
  double loss, parts[SP_VAE_NPARTS];
  if (backward) sp_vae_zero_grad(u->v);
  int rc = sp_vae_loss(u->v, d, m->wm, md, &loss, parts, S0, C, R, E, (int)B, (int)H, backward);
  if (rc) return spL_raise(L, rc, what);
  if (train) apply_step(L, "train", o, u->v->params, u->v->grads);
  static const char* const names[SP_VAE_NPARTS] = {"tracking", "action", "kl"};
  return push_loss(L, loss, parts, names, SP_VAE_NPARTS);
}

static int v_loss(lua_State* L) {
  return vae_run(L, VAE_LOSS);
}
// pol:grad(model, S0, C, R [, eps]) -> loss, parts: zero the gradients, the loss and its gradient
// (no step), for gradients averaged across processes before pol:apply(opt)
static int v_grad(lua_State* L) {
  return vae_run(L, VAE_GRAD);
}
static int v_train(lua_State* L) {
  return vae_run(L, VAE_TRAIN);
}

// pol:apply(opt) -> pol: one step of opt with the gradients the policy holds
static int v_apply(lua_State* L) {
  lvae* u = checkvae(L, 1);
  apply_step(L, "apply", spL_optim_for(L, 2, u->v->nparams, u->v->cfg.dtype), u->v->params,
             u->v->grads);
  lua_settop(L, 1);
  return 1;
}

// pol:set_params(p), pol:set_grads(g): from float64 vectors of nparams (rounded for float32)
static int vae_set(lua_State* L, int grads) {
  lvae* u = checkvae(L, 1);
  size_t n = u->v->nparams;
  double* x = spA_scratch(L, n);
  spA_vector(L, 2, x, (int64_t)n, grads ? "a gradient vector" : "a parameter vector", 1);
  set_flat(grads ? u->v->grads : u->v->params, u->v->cfg.dtype, x, n);
  lua_settop(L, 1);
  return 1;
}
static int v_set_params(lua_State* L) {
  return vae_set(L, 0);
}
static int v_set_grads(lua_State* L) {
  return vae_set(L, 1);
}

static int v_params(lua_State* L) {
  lvae* u = checkvae(L, 1);
  int64_t n = (int64_t)u->v->nparams;
  const void* src = lua_toboolean(L, 2) ? u->v->grads : u->v->params;  // before the push below
  sp_array* a = spL_newarray(L, 1, &n);
  for (int64_t i = 0; i < n; i++)
    a->data[i] = u->v->cfg.dtype == SP_F64 ? ((const double*)src)[i] : ((const float*)src)[i];
  return 1;
}

static int v_grads(lua_State* L) {
  lua_settop(L, 1);
  lua_pushboolean(L, 1);
  return v_params(L);
}

// pol:save(path [, opt]) -> true | nil, message
static int v_save(lua_State* L) {
  lvae* u = checkvae(L, 1);
  const char* path = luaL_checkstring(L, 2);
  sp_optim* o = lua_isnoneornil(L, 3) ? NULL : spL_optim_for(L, 3, u->v->nparams, u->v->cfg.dtype);
  char msg[512];
  if (sp_vae_save(u->v, o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

// wm.load_vae(path) -> policy [, opt] | nil, message
static int l_load_vae(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  lvae* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, VAE_MT);
  char msg[512];
  sp_optim* o = NULL;
  if (sp_vae_load(&u->v, &o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  vae_reserve(L, u, 64, 24);
  return 1 + push_optim(L, o);
}

static int v_gc(lua_State* L) {
  lvae* u = luaL_checkudata(L, 1, VAE_MT);
  for (int i = 0; i < 2; i++) {
    sp_vae_data_free(u->d[i]);
    u->d[i] = NULL;
  }
  sp_vae_free(u->v);
  u->v = NULL;
  return 0;
}

static int v_tostring(lua_State* L) {
  lvae* u = luaL_checkudata(L, 1, VAE_MT);
  if (!u->v)
    lua_pushliteral(L, "vae policy (closed)");
  else
    lua_pushfstring(
        L, "vae policy: %d joints, %d actions, latent %d, conditioning %d (%I parameters)",
        u->v->cfg.nj, u->v->cfg.nu, u->v->cfg.lat, u->v->cfg.nc, (lua_Integer)u->v->nparams);
  return 1;
}

static int v_workspaces(lua_State* L) {
  return push_workspaces(L, &checkvae(L, 1)->ws);
}

static const luaL_Reg vae_methods[] = {
    {"act", v_act},
    {"workspaces", v_workspaces},
    {"latent", v_latent},
    {"loss", v_loss},
    {"grad", v_grad},
    {"train", v_train},
    {"apply", v_apply},
    {"params", v_params},
    {"grads", v_grads},
    {"set_params", v_set_params},
    {"set_grads", v_set_grads},
    {"save", v_save},
    {"close", v_gc},
    {NULL, NULL},
};

static int v_index(lua_State* L) {
  lvae* u = luaL_checkudata(L, 1, VAE_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->v) return luaL_error(L, "attempt to use a closed policy");
  const sp_vae_config* c = &u->v->cfg;
  if (!strcmp(k, "nparams"))
    lua_pushinteger(L, (lua_Integer)u->v->nparams);
  else if (!strcmp(k, "lat"))
    lua_pushinteger(L, c->lat);
  else if (!strcmp(k, "nc"))
    lua_pushinteger(L, c->nc);
  else if (!strcmp(k, "nu"))
    lua_pushinteger(L, c->nu);
  else if (!strcmp(k, "nj"))
    lua_pushinteger(L, c->nj);
  else if (!strcmp(k, "beta"))
    lua_pushnumber(L, c->beta);
  else
    lua_pushnil(L);
  return 1;
}

// pol.beta = x (the KL weight schedule); other fields are fixed at creation
static int v_newindex(lua_State* L) {
  lvae* u = checkvae(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (strcmp(k, "beta")) return luaL_error(L, "cannot set field '%s' of a policy (only beta)", k);
  double b = luaL_checknumber(L, 3);
  if (!(b >= 0) || !isfinite(b))
    return luaL_error(L, "bad value for beta (expected a finite number >= 0, got %f)", b);
  u->v->cfg.beta = b;
  return 0;
}

// ---- the high-level network h(z | s, command)
// ------------------------------------------------------------------------------

typedef struct lcommand {
  sp_command* h;          // NULL once closed
  sp_command_data* d[2];  // workspaces for the VAE in `vae` (ws_pick)
  ws_set ws;
  const lvae* vae;  // the VAE userdata the workspaces were made for (kept in user value 1)
} lcommand;

static lcommand* checkcommand(lua_State* L, int arg) {
  lcommand* u = luaL_checkudata(L, arg, COMMAND_MT);
  if (!u->h) luaL_error(L, "attempt to use a closed command network");
  return u;
}

// a VAE argument that fits h (its joints and latent size)
static lvae* command_vae(lua_State* L, lcommand* u, int arg) {
  lvae* p = checkvae(L, arg);
  if (p->v->cfg.nj != u->h->cfg.nj || p->v->cfg.lat != u->h->cfg.lat)
    spA_argerror(L, arg, "expected a VAE policy with %d joints and latent size %d, got %d and %d",
                 u->h->cfg.nj, u->h->cfg.lat, p->v->cfg.nj, p->v->cfg.lat);
  return p;
}

// the workspaces and their shapes dropped (h closed, or another VAE)
static void command_drop(lcommand* u) {
  for (int i = 0; i < 2; i++) {
    sp_command_data_free(u->d[i]);
    u->d[i] = NULL;
  }
  u->ws = (ws_set){{0, 0}, {0, 0}, 0};
  u->vae = NULL;
}

// a workspace for VAE p (at arg) with batch rows and horizon steps (allocates only when none fits,
// ws_pick, or when the VAE changes); u is at index 1
static sp_command_data* command_reserve(lua_State* L, lcommand* u, lvae* p, int arg, int batch,
                                        int horizon) {
  if (u->vae != p) {
    command_drop(u);
    u->vae = p;
    lua_pushvalue(L, arg);
    lua_setiuservalue(L, 1, 1);
  }
  int b, h, i = ws_pick(&u->ws, batch, horizon, &b, &h);
  if (b) {
    sp_command_data* d;
    int rc = sp_command_data_new(&d, u->h, p->v, b, h);
    if (rc) spL_raise(L, rc, "command network workspace");
    sp_command_data_free(u->d[i]);
    u->d[i] = d;
    u->ws.rows[i] = b, u->ws.steps[i] = h;
  }
  return u->d[i];
}

static const char* const command_keys[] = {"nj",    "lat",   "vae",         "hidden", "layers",
                                           "act",   "dtype", "weights",     "beta",   "gamma",
                                           "clock", "seed",  "prev_action", NULL};
static const char* const command_weights[] = {"velocity", "yaw_rate", "position",
                                              "heading",  "up",       NULL};

// wm.command{...} -> network
static int l_command(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, command_keys);
  int nj, lat, vae_nu = 0;
  lua_getfield(L, t.idx, "vae");
  if (!lua_isnil(L, -1)) {
    lvae* p = luaL_testudata(L, -1, VAE_MT);
    if (!p || !p->v) spA_fielderror(&t, "vae", "expected an open VAE policy (wm.vae)");
    nj = p->v->cfg.nj;
    lat = p->v->cfg.lat;
    vae_nu = p->v->cfg.nu;
  } else {
    nj = (int)spA_integer(&t, "nj", 0, 0, 1000, 1);
    lat = (int)spA_integer(&t, "lat", 0, 1, 4096, 1);
  }
  lua_pop(L, 1);
  sp_command_config c = sp_command_default_config(nj, lat);
  c.hidden = (int)spA_integer(&t, "hidden", c.hidden, 1, 65536, 0);
  c.layers = (int)spA_integer(&t, "layers", c.layers, 1, SP_MLP_MAXLAYERS - 1, 0);
  const char* act = spA_string(&t, "act", "elu", 0);
  if (sp_act_parse(&c.act, act))
    spA_fielderror(&t, "act", "unknown activation '%s'; valid: %s", act, sp_act_names());
  const char* dt = spA_string(&t, "dtype", "f32", 0);
  if (sp_dtype_parse(&c.dtype, dt))
    spA_fielderror(&t, "dtype", "unknown dtype '%s'; valid: f64, f32", dt);
  spA_table w = spA_subtable(&t, "weights", 0);
  if (w.idx) {
    spA_check_keys(&w, command_weights);
    double* f[] = {&c.velocity, &c.yaw_rate, &c.position, &c.heading, &c.up};
    for (int i = 0; i < 5; i++) *f[i] = spA_range(&w, command_weights[i], *f[i], 0, NAN, 0);
  }
  lua_pop(L, 1);
  c.beta = spA_range(&t, "beta", c.beta, 0, NAN, 0);
  c.gamma = spA_range(&t, "gamma", c.gamma, 1e-9, 1, 0);
  c.clock = spA_range(&t, "clock", c.clock, 0, 3.14159265358979323846, 0);
  lua_getfield(L, t.idx, "prev_action");  // true: the VAE's actions; or their count
  int prev_is_bool = lua_isboolean(L, -1), prev_true = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (prev_is_bool && prev_true && !vae_nu)
    spA_fielderror(&t, "prev_action", "true needs vae = (the actions' count), or give the count");
  c.prev_action =
      prev_is_bool ? (prev_true ? vae_nu : 0) : (int)spA_integer(&t, "prev_action", 0, 0, 4096, 0);
  lua_Integer seed = spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  lcommand* u = lua_newuserdatauv(L, sizeof *u, 1);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, COMMAND_MT);
  int rc = sp_command_new(&u->h, &c, (uint64_t)seed);
  if (rc) return spL_raise(L, rc, "command");
  return 1;
}

// h:act(pol, s, k [, eps [, ap]]) -> a, z: rows as in model:step; eps nil: the mean; ap the
// previous actions for a network that sees them (nil: the VAE's a_nom; ignored otherwise)
static int c_act(lua_State* L) {
  lua_settop(L, 6);
  lcommand* u = checkcommand(L, 1);
  lvae* p = command_vae(L, u, 2);
  int nj = u->h->cfg.nj, lat = u->h->cfg.lat, nu = p->v->cfg.nu;
  sp_array *sa, *ka, *ea = NULL;
  const double* s = shaped(L, 3, 1, 2, 13 + 2 * nj, "states", &sa);
  int nk = u->h->nk;
  const double* k = shaped(L, 4, 1, 2, nk, "commands", &ka);
  const double* e = lua_isnil(L, 5) ? NULL : shaped(L, 5, 1, 2, lat, "latent noise", &ea);
  sp_array* pa = NULL;
  const double* ap = !u->h->cfg.prev_action || lua_isnil(L, 6)
                         ? NULL
                         : shaped(L, 6, 1, 2, nu, "previous actions", &pa);
  int64_t batch = sa->ndim == 2 ? sa->shape[0] : 1;
  if (sp_array_size(ka) != batch * nk || (ea && sp_array_size(ea) != batch * lat) ||
      (pa && sp_array_size(pa) != batch * nu))
    return spA_argerror(L, 4,
                        "expected one command (and noise, previous action) row per state row (%d)",
                        (int)batch);
  if (batch < 1 || batch > (1 << 20)) return spA_argerror(L, 3, "expected 1 to %d rows", 1 << 20);
  sp_command_data* d = command_reserve(L, u, p, 2, (int)batch, 1);
  int64_t as[2] = {batch, nu}, zs[2] = {batch, lat};
  sp_array* a = sa->ndim == 2 ? spL_newarray(L, 2, as) : spL_newarray(L, 1, as + 1);
  sp_array* z = sa->ndim == 2 ? spL_newarray(L, 2, zs) : spL_newarray(L, 1, zs + 1);
  int rc = sp_command_act(u->h, d, p->v, a->data, z->data, s, k, ap, e, (int)batch);
  if (rc) return spL_raise(L, rc, "act");
  return 2;
}

// h:features(S, K [, P]) -> X (batch, nin): the network's inputs [f(s), u(s, k) (, p)] for states
// S (batch, nx), command rows K (batch, h.nk: 7, or 8 with a clock) and, for a network that sees
// them, previous actions P (batch, nu; required then), for fitting h's parameters to other targets
// (command.fit)
static int c_features(lua_State* L) {
  lua_settop(L, 4);
  lcommand* u = checkcommand(L, 1);
  int nin = u->h->nin, nx = 13 + 2 * u->h->cfg.nj;
  sp_array *sa, *ka;
  const double* S = shaped(L, 2, 1, 2, nx, "states", &sa);
  int nk = u->h->nk;
  const double* K = shaped(L, 3, 1, 2, nk, "commands", &ka);
  int64_t batch = sa->ndim == 2 ? sa->shape[0] : 1;
  if (sp_array_size(ka) != batch * nk)
    return spA_argerror(L, 3, "expected one command row per state row (%d)", (int)batch);
  sp_array* pa = NULL;
  int np = u->h->cfg.prev_action;
  const double* P = np ? shaped(L, 4, 1, 2, np, "previous actions", &pa) : NULL;
  if (pa && sp_array_size(pa) != batch * np)
    return spA_argerror(L, 4, "expected one previous action row per state row (%d)", (int)batch);
  int64_t shape[2] = {batch, nin};
  sp_array* X = sa->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  for (int64_t r = 0; r < batch; r++)
    sp_command_input(u->h, X->data + r * nin, S + r * nx, K + r * nk, P ? P + r * np : NULL);
  return 1;
}

enum { CMD_LOSS, CMD_GRAD, CMD_TRAIN };

// loss/grad/train: model at 2, pol at 3, S0 (B, nx) at 4, K (B, H, h.nk) at 5, eps at 6, then opt
// (train) or what (grad: "net", "decoder" or "both") at 7, the model's correction R (B, H, nx) at
// 8 (nil: none; sp_command_loss_corrected), the actions before the starts P0 (B, nu) at 9 (a model
// with history; nil: each start's first action), sensor noise N (B, H, nx) at 10 on the states the
// policy sees (nil: none)
static int command_run(lua_State* L, int mode) {
  static const char* const whats[] = {"net", "decoder", "both", NULL};
  const char* what = mode == CMD_LOSS ? "loss" : mode == CMD_GRAD ? "grad" : "train";
  lua_settop(L, 10);
  lcommand* u = checkcommand(L, 1);
  lwm* m = checkwm(L, 2);
  lvae* p = command_vae(L, u, 3);
  if (m->wm->cfg.nj != u->h->cfg.nj || m->wm->cfg.nu != p->v->cfg.nu)
    return spA_argerror(L, 2, "expected a world model with %d joints and %d actions, got %d and %d",
                        u->h->cfg.nj, p->v->cfg.nu, m->wm->cfg.nj, m->wm->cfg.nu);
  int nx = m->wm->nx, lat = u->h->cfg.lat;
  sp_array *sa, *ka, *ea = NULL;
  const double* S0 = shaped(L, 4, 2, 2, nx, "start states (batch, nx)", &sa);
  const double* K = shaped(L, 5, 3, 3, u->h->nk, "commands (batch, H, h.nk)", &ka);
  const double* E = lua_isnil(L, 6) ? NULL : shaped(L, 6, 3, 3, lat, "noise (batch, H, lat)", &ea);
  int64_t B = sa->shape[0], H = ka->shape[1];
  if (ka->shape[0] != B || (ea && (ea->shape[0] != B || ea->shape[1] != H)))
    return spA_argerror(L, 5, "expected %d rows and %d steps in the commands and noise", (int)B,
                        (int)H);
  sp_array* ra = NULL;
  const double* R =
      lua_isnil(L, 8) ? NULL : shaped(L, 8, 3, 3, nx, "model correction (batch, H, nx)", &ra);
  if (ra && (ra->shape[0] != B || ra->shape[1] != H))
    return spA_argerror(L, 8,
                        "expected %d rows and %d steps in the model correction, got %d and %d",
                        (int)B, (int)H, (int)ra->shape[0], (int)ra->shape[1]);
  sp_array* pa = NULL;
  const double* P0 = lua_isnil(L, 9) ? NULL
                                     : shaped(L, 9, 2, 2, p->v->cfg.nu,
                                              "actions before the starts (batch, nu)", &pa);
  if (pa && pa->shape[0] != B)
    return spA_argerror(L, 9, "expected %d rows of actions before the starts, got %d", (int)B,
                        (int)pa->shape[0]);
  sp_array* na = NULL;
  const double* N =
      lua_isnil(L, 10) ? NULL : shaped(L, 10, 3, 3, nx, "sensor noise (batch, H, nx)", &na);
  if (na && (na->shape[0] != B || na->shape[1] != H))
    return spA_argerror(L, 10, "expected %d rows and %d steps in the sensor noise, got %d and %d",
                        (int)B, (int)H, (int)na->shape[0], (int)na->shape[1]);
  int flags = 0;
  sp_optim* o = NULL;
  if (mode == CMD_TRAIN) {
    o = spL_optim_for(L, 7, u->h->net->nparams, u->h->cfg.dtype);
    flags = SP_COMMAND_GRAD_NET;
  } else if (mode == CMD_GRAD) {
    int w = luaL_checkoption(L, 7, "net", whats);
    flags = w == 0   ? SP_COMMAND_GRAD_NET
            : w == 1 ? SP_COMMAND_GRAD_DECODER
                     : SP_COMMAND_GRAD_NET | SP_COMMAND_GRAD_DECODER;
  }
  sp_command_data* d = command_reserve(L, u, p, 3, (int)B, (int)H);
  sp_wm_data* md = reserve(L, m, (int)B, (int)H);
  if (flags & SP_COMMAND_GRAD_NET) sp_mlp_zero_grad(u->h->net);
  if (flags & SP_COMMAND_GRAD_DECODER) sp_vae_zero_grad(p->v);
  double loss, parts[SP_COMMAND_NPARTS];
  int rc = sp_command_loss_corrected(u->h, d, p->v, m->wm, md, &loss, parts, S0, K, R, P0, N, E,
                                     (int)B, (int)H, flags);
  if (rc) return spL_raise(L, rc, what);
  if (o) apply_step(L, "train", o, u->h->net->params, u->h->net->grads);
  static const char* const names[SP_COMMAND_NPARTS] = {"velocity", "pose", "upright", "prior"};
  return push_loss(L, loss, parts, names, SP_COMMAND_NPARTS);
}

// h:loss(model, pol, S0, K [, eps [, nil [, R [, P0 [, N]]]]]) -> loss, parts
static int c_loss(lua_State* L) {
  return command_run(L, CMD_LOSS);
}
// h:grad(model, pol, S0, K [, eps [, what [, R [, P0 [, N]]]]]) -> loss, parts: zero the gradients
// asked for ("net": h's, "decoder": the VAE's, "both"), the loss and its gradient (no step); R: the
// model's correction along recorded windows (sp_command_loss_corrected); P0: the actions the robot
// held before the starts (a model with history); N: sensor noise on the states the policy sees
static int c_grad(lua_State* L) {
  return command_run(L, CMD_GRAD);
}
// h:train(model, pol, S0, K, eps, opt) -> loss, parts: grad ("net"), then one step of opt
static int c_train(lua_State* L) {
  return command_run(L, CMD_TRAIN);
}

// h:with_prev_action(nu) -> a new network that also sees the previous action of nu entries
// (sp_command_with_prev_action): the same actions until trained; the old optimiser does not fit it
static int c_with_prev_action(lua_State* L) {
  lcommand* u = checkcommand(L, 1);
  int nu = (int)luaL_checkinteger(L, 2);
  if (nu < 1 || nu > 4096) return spA_argerror(L, 2, "expected the actions' count, got %d", nu);
  if (u->h->cfg.prev_action)
    return luaL_error(L, "with_prev_action: the command network already sees the previous action");
  lcommand* w = lua_newuserdatauv(L, sizeof *w, 1);
  memset(w, 0, sizeof *w);
  luaL_setmetatable(L, COMMAND_MT);
  int rc = sp_command_with_prev_action(&w->h, u->h, nu);
  if (rc) return spL_raise(L, rc, "with_prev_action");
  return 1;
}

// h:apply(opt) -> h: one step of opt with the gradients h holds
static int c_apply(lua_State* L) {
  sp_mlp* net = checkcommand(L, 1)->h->net;
  apply_step(L, "apply", spL_optim_for(L, 2, net->nparams, net->dtype), net->params, net->grads);
  lua_settop(L, 1);
  return 1;
}

static int c_params(lua_State* L) {
  sp_mlp* net = checkcommand(L, 1)->h->net;
  int grads = lua_toboolean(L, 2);
  int64_t n = (int64_t)net->nparams;
  sp_array* a = spL_newarray(L, 1, &n);
  if (grads)
    sp_mlp_get_grads(net, a->data);
  else
    sp_mlp_get_params(net, a->data);
  return 1;
}

static int c_grads(lua_State* L) {
  lua_settop(L, 1);
  lua_pushboolean(L, 1);
  return c_params(L);
}

static int command_set(lua_State* L, int grads) {
  sp_mlp* net = checkcommand(L, 1)->h->net;
  double* x = spA_scratch(L, net->nparams);
  spA_vector(L, 2, x, (int64_t)net->nparams, grads ? "a gradient vector" : "a parameter vector", 1);
  set_flat(grads ? net->grads : net->params, net->dtype, x, net->nparams);
  lua_settop(L, 1);
  return 1;
}
static int c_set_params(lua_State* L) {
  return command_set(L, 0);
}
static int c_set_grads(lua_State* L) {
  return command_set(L, 1);
}

// h:save(path [, opt]) -> true | nil, message
static int c_save(lua_State* L) {
  lcommand* u = checkcommand(L, 1);
  const char* path = luaL_checkstring(L, 2);
  sp_mlp* net = u->h->net;
  sp_optim* o = lua_isnoneornil(L, 3) ? NULL : spL_optim_for(L, 3, net->nparams, net->dtype);
  char msg[512];
  if (sp_command_save(u->h, o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

// wm.load_command(path) -> network [, opt] | nil, message
static int l_load_command(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  lcommand* u = lua_newuserdatauv(L, sizeof *u, 1);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, COMMAND_MT);
  char msg[512];
  sp_optim* o = NULL;
  if (sp_command_load(&u->h, &o, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  return 1 + push_optim(L, o);
}

static int c_gc(lua_State* L) {
  lcommand* u = luaL_checkudata(L, 1, COMMAND_MT);
  command_drop(u);
  sp_command_free(u->h);
  u->h = NULL;
  return 0;
}

static int c_tostring(lua_State* L) {
  lcommand* u = luaL_checkudata(L, 1, COMMAND_MT);
  if (!u->h) {
    lua_pushliteral(L, "command network (closed)");
    return 1;
  }
  char net[512];
  sp_mlp_describe(u->h->net, net, sizeof net);
  lua_pushfstring(L, "command network h(z | s, command): %d joints, latent %d; %s", u->h->cfg.nj,
                  u->h->cfg.lat, net);
  return 1;
}

static int c_workspaces(lua_State* L) {
  return push_workspaces(L, &checkcommand(L, 1)->ws);
}

static const luaL_Reg command_methods[] = {
    {"act", c_act},
    {"workspaces", c_workspaces},
    {"features", c_features},
    {"loss", c_loss},
    {"grad", c_grad},
    {"train", c_train},
    {"apply", c_apply},
    {"params", c_params},
    {"grads", c_grads},
    {"set_params", c_set_params},
    {"set_grads", c_set_grads},
    {"save", c_save},
    {"with_prev_action", c_with_prev_action},
    {"close", c_gc},
    {NULL, NULL},
};

static int c_index(lua_State* L) {
  lcommand* u = luaL_checkudata(L, 1, COMMAND_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->h) return luaL_error(L, "attempt to use a closed command network");
  const sp_command_config* c = &u->h->cfg;
  if (!strcmp(k, "nparams"))
    lua_pushinteger(L, (lua_Integer)u->h->net->nparams);
  else if (!strcmp(k, "lat"))
    lua_pushinteger(L, c->lat);
  else if (!strcmp(k, "nj"))
    lua_pushinteger(L, c->nj);
  else if (!strcmp(k, "nk"))
    lua_pushinteger(L, u->h->nk);
  else if (!strcmp(k, "clock"))
    lua_pushnumber(L, c->clock);
  else if (!strcmp(k, "nin"))
    lua_pushinteger(L, u->h->nin);
  else if (!strcmp(k, "prev_action"))
    lua_pushboolean(L, c->prev_action > 0);
  else if (!strcmp(k, "hidden"))
    lua_pushinteger(L, c->hidden);
  else if (!strcmp(k, "layers"))
    lua_pushinteger(L, c->layers);
  else if (!strcmp(k, "activation"))
    lua_pushstring(L, sp_act_name(c->act));
  else if (!strcmp(k, "dtype"))
    lua_pushstring(L, sp_dtype_name(c->dtype));
  else if (!strcmp(k, "beta"))
    lua_pushnumber(L, c->beta);
  else if (!strcmp(k, "weights")) {
    const double f[] = {c->velocity, c->yaw_rate, c->position, c->heading, c->up};
    lua_createtable(L, 0, 5);
    for (int i = 0; i < 5; i++) {
      lua_pushnumber(L, f[i]);
      lua_setfield(L, -2, command_weights[i]);
    }
  } else
    lua_pushnil(L);
  return 1;
}

// h.beta = x (the prior term's weight, for a schedule); other fields are fixed at creation
static int c_newindex(lua_State* L) {
  lcommand* u = checkcommand(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (strcmp(k, "beta"))
    return luaL_error(L, "cannot set field '%s' of a command network (only beta)", k);
  double b = luaL_checknumber(L, 3);
  if (!(b >= 0) || !isfinite(b))
    return luaL_error(L, "bad value for beta (expected a finite number >= 0, got %f)", b);
  u->h->cfg.beta = b;
  return 0;
}

// ---- replay
// ---------------------------------------------------------------------------------------

static int l_replay(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  static const char* const keys[] = {"nx", "nu", "capacity", "seed", "history", NULL};
  spA_check_keys(&t, keys);
  int nx = (int)spA_integer(&t, "nx", 0, 1, 1 << 16, 1);
  int nu = (int)spA_integer(&t, "nu", 0, 1, 1 << 16, 1);
  lua_Integer cap = spA_integer(&t, "capacity", 0, 1, (lua_Integer)1 << 32, 1);
  lua_Integer seed = spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  int history = (int)spA_integer(&t, "history", 0, 0, 1, 0);
  lreplay* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, REPLAY_MT);
  sp_rng_seed(&u->rng, (uint64_t)seed, 0);
  int rc = sp_replay_new(&u->r, nx, nu, cap);
  if (rc) return spL_raise(L, rc, "replay");
  sp_replay_set_history(u->r, history);
  return 1;
}

// buf:set_history(h) -> buf: windows' actions with (1: [a, a_prev]) or without (0) the action
// before each, for a world model with that history (the entries are the same)
static int r_set_history(lua_State* L) {
  lreplay* u = checkreplay(L, 1);
  lua_Integer h = luaL_checkinteger(L, 2);
  if (sp_replay_set_history(u->r, (int)h) || h != (int)h)
    return spA_argerror(L, 2, "expected history 0 or 1, got %I", h);
  lua_settop(L, 1);
  return 1;
}

// buf:push(s, a, s_next [, done])
static int r_push(lua_State* L) {
  lreplay* u = checkreplay(L, 1);
  sp_replay* r = u->r;
  double* s = spA_scratch(L, (size_t)r->nx);
  double* a = spA_scratch(L, (size_t)r->nu);
  double* s1 = spA_scratch(L, (size_t)r->nx);
  spA_vector(L, 2, s, r->nx, "a state", 1);
  spA_vector(L, 3, a, r->nu, "an action", 1);
  spA_vector(L, 4, s1, r->nx, "a next state", 1);
  int done = spA_optboolean(L, 5, 0);
  sp_replay_push(r, s, a, s1, done);
  lua_settop(L, 1);
  return 1;
}

// buf:sample(batch, n) -> S (batch, n + 1, nx), A (batch, n, nu (1 + history)) | nil, message
static int r_sample(lua_State* L) {
  lreplay* u = checkreplay(L, 1);
  lua_Integer batch = luaL_checkinteger(L, 2), n = luaL_checkinteger(L, 3);
  if (batch < 1 || batch > (1 << 20))
    return spA_argerror(L, 2, "expected a batch in [1, %d], got %I", 1 << 20, batch);
  if (n < 1 || n > (1 << 16)) return spA_argerror(L, 3, "expected n in [1, 65536], got %I", n);
  int64_t ss[3] = {batch, n + 1, u->r->nx}, as[3] = {batch, n, u->r->nu * (1 + u->r->history)};
  sp_array* S = spL_newarray(L, 3, ss);
  sp_array* A = spL_newarray(L, 3, as);
  int rc = sp_replay_sample(u->r, &u->rng, S->data, A->data, NULL, (int)batch, (int)n);
  if (rc == SP_ENOTFOUND)
    return spL_failure(L, "sample: no window of %d steps in %d transitions (episodes too short?)",
                       (int)n, (int)u->r->size);
  return 2;
}

// buf:save(path) / buf:load(path) -> true | nil, message (entries, counters, generator state)
static int r_save(lua_State* L) {
  lreplay* u = checkreplay(L, 1);
  const char* path = luaL_checkstring(L, 2);
  char msg[512];
  if (sp_replay_save(u->r, &u->rng, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int r_load(lua_State* L) {
  lreplay* u = checkreplay(L, 1);
  const char* path = luaL_checkstring(L, 2);
  char msg[512];
  if (sp_replay_load(u->r, &u->rng, path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int r_clear(lua_State* L) {
  sp_replay_clear(checkreplay(L, 1)->r);
  lua_settop(L, 1);
  return 1;
}

static int r_gc(lua_State* L) {
  lreplay* u = luaL_checkudata(L, 1, REPLAY_MT);
  sp_replay_free(u->r);
  u->r = NULL;
  return 0;
}

static int r_tostring(lua_State* L) {
  lreplay* u = luaL_checkudata(L, 1, REPLAY_MT);
  if (!u->r)
    lua_pushliteral(L, "replay buffer (closed)");
  else
    lua_pushfstring(L, "replay buffer: %I of %I transitions (nx %d, nu %d)",
                    (lua_Integer)u->r->size, (lua_Integer)u->r->capacity, u->r->nx, u->r->nu);
  return 1;
}

static const luaL_Reg replay_methods[] = {
    {"push", r_push}, {"sample", r_sample},           {"clear", r_clear}, {"save", r_save},
    {"load", r_load}, {"set_history", r_set_history}, {"close", r_gc},    {NULL, NULL},
};

static int r_index(lua_State* L) {
  lreplay* u = luaL_checkudata(L, 1, REPLAY_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->r) return luaL_error(L, "attempt to use a closed replay buffer");
  if (!strcmp(k, "size"))
    lua_pushinteger(L, (lua_Integer)u->r->size);
  else if (!strcmp(k, "capacity"))
    lua_pushinteger(L, (lua_Integer)u->r->capacity);
  else if (!strcmp(k, "pushed"))
    lua_pushinteger(L, (lua_Integer)u->r->pushed);
  else if (!strcmp(k, "history"))
    lua_pushinteger(L, u->r->history);
  else
    lua_pushnil(L);
  return 1;
}

static const luaL_Reg functions[] = {{"new", l_new},
                                     {"load", l_load},
                                     {"replay", l_replay},
                                     {"vae", l_vae},
                                     {"load_vae", l_load_vae},
                                     {"command", l_command},
                                     {"load_command", l_load_command},
                                     {NULL, NULL}};

int luaopen_spinal_wm(lua_State* L) {
  spL_class(L, WM_MT, wm_methods, m_index, m_gc, m_tostring);
  spL_class(L, REPLAY_MT, replay_methods, r_index, r_gc, r_tostring);
  spL_class(L, VAE_MT, vae_methods, v_index, v_gc, v_tostring);
  luaL_getmetatable(L, VAE_MT);
  lua_pushcfunction(L, v_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
  spL_class(L, COMMAND_MT, command_methods, c_index, c_gc, c_tostring);
  luaL_getmetatable(L, COMMAND_MT);
  lua_pushcfunction(L, c_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
