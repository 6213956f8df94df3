// nn.c: the Lua binding of the neural-network core (require "spinal.nn"): MLPs, optimisers and
// checkpoints over engine/nn (see docs/api/nn.md).
//
// Three userdata types. "spinal.nn.mlp" holds an sp_mlp; for float64 nets its parameters and
// gradients live in two spinal arrays, so net:params() and net:grads() are views that stay valid
// after the net is collected. "spinal.nn.workspace" holds one extra forward pass of a net (for
// backpropagation through several applications of it) and keeps its net alive.
// "spinal.nn.optim" holds an optimiser configuration and, from the first step (or save/load), its
// state sized for the parameters it was first given.
// Arrays cross the boundary as float64; float32 nets convert inside sp_mlp_forward/backward.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"
#include "engine/nn/checkpoint.h"
#include "engine/nn/gemm.h"
#include "engine/nn/init.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"

#define MLP_MT "spinal.nn.mlp"
#define OPTIM_MT "spinal.nn.optim"
#define WS_MT "spinal.nn.workspace"

typedef struct lmlp {
  sp_mlp* m;        // NULL once closed
  sp_array params;  // (nparams) storage of a float64 net; empty for float32 nets
  sp_array grads;   // (nparams) likewise
  int in_ndim;      // 1 or 2: shape of the last forward's input
} lmlp;

typedef struct lws {
  sp_mlp_work* w;  // NULL once closed; user value 1 is the network
  int in_ndim;     // 1 or 2: shape of the last forward's input
} lws;

typedef struct loptim {
  sp_optim_config cfg;
  sp_optim* o;  // NULL until the first step, save or load
} loptim;

// ---- helpers ------------------------------------------------------------------------------------

static lmlp* checkmlp(lua_State* L, int arg) {
  lmlp* u = luaL_checkudata(L, arg, MLP_MT);
  if (!u->m) luaL_error(L, "attempt to use a closed network");
  return u;
}

static loptim* checkoptim(lua_State* L, int arg) {
  return luaL_checkudata(L, arg, OPTIM_MT);
}

// "(6)" or "(4, 6)", pushed
static const char* shape_str(lua_State* L, const sp_array* a) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '(');
  for (int d = 0; d < a->ndim; d++) {
    if (d) luaL_addstring(&b, ", ");
    lua_pushfstring(L, "%I", (lua_Integer)a->shape[d]);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

static sp_act opt_act(const spA_table* t, const char* key, const char* def) {
  const char* name = spA_string(t, key, def, 0);
  sp_act a;
  if (sp_act_parse(&a, name))
    spA_fielderror(t, key, "unknown activation '%s'; valid: %s", name, sp_act_names());
  return a;
}

// a contiguous version of a (a itself, or a copy pushed on the stack)
static const double* contiguous(lua_State* L, const sp_array* a) {
  if (sp_array_is_contiguous(a)) return a->data;
  sp_array* c = spL_newarray(L, a->ndim, a->shape);
  int rc = sp_array_assign(c, a);
  if (rc) spL_raise(L, rc, "array");
  return c->data;
}

// push an empty network userdata (safe to collect before it holds a net)
static lmlp* push_empty_mlp(lua_State* L) {
  lmlp* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->in_ndim = 2;
  luaL_setmetatable(L, MLP_MT);
  return u;
}

// for a float64 net just placed in u, move its parameters and gradients into arrays
static void adopt_storage(lua_State* L, lmlp* u) {
  if (u->m->dtype != SP_F64) return;
  int64_t n = (int64_t)u->m->nparams;
  int rc = sp_array_new(&u->params, 1, &n);
  if (!rc) rc = sp_array_new(&u->grads, 1, &n);
  if (rc) spL_raise(L, rc, "mlp");
  sp_mlp_use_storage(u->m, u->params.data, u->grads.data);
}

// ---- nn.mlp -------------------------------------------------------------------------------------

static const char* const mlp_options[] = {"sizes",     "act",  "out_act", "dtype", "init",
                                          "zero_last", "seed", "batch",   NULL};

static int l_mlp(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, mlp_options);

  // sizes
  int sizes[SP_MLP_MAXLAYERS + 1];
  if (lua_getfield(L, 1, "sizes") != LUA_TTABLE)
    spA_fielderror(&t, "sizes", "expected a list of layer widths, got %s", luaL_typename(L, -1));
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n < 2 || n > SP_MLP_MAXLAYERS + 1)
    spA_fielderror(&t, "sizes", "expected 2 to %d widths, got %d", SP_MLP_MAXLAYERS + 1, (int)n);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    int isint;
    lua_Integer w = lua_tointegerx(L, -1, &isint);
    if (!isint || w < 1 || w > (1 << 24)) {
      const char* got = luaL_tolstring(L, -1, NULL);
      spA_fielderror(&t, lua_pushfstring(L, "sizes[%d]", (int)i),
                     "expected a positive integer, got %s", got);
    }
    sizes[i - 1] = (int)w;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  int nlayers = (int)n - 1;

  // everything else
  sp_act act = opt_act(&t, "act", "tanh");
  sp_act out_act = opt_act(&t, "out_act", "identity");
  const char* dname = spA_string(&t, "dtype", "f64", 0);
  sp_dtype dtype;
  if (sp_dtype_parse(&dtype, dname))
    spA_fielderror(&t, "dtype", "unknown dtype '%s'; valid: f64, f32", dname);
  const char* iname = spA_string(&t, "init", "xavier", 0);
  sp_init init;
  if (sp_init_parse(&init, iname))
    spA_fielderror(&t, "init", "unknown init '%s'; valid: xavier, orthogonal", iname);
  int zero_last = spA_boolean(&t, "zero_last", 0);
  lua_Integer seed = spA_integer(&t, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER, 0);
  lua_Integer batch = spA_integer(&t, "batch", 1, 1, 1 << 24, 0);

  // build
  sp_act acts[SP_MLP_MAXLAYERS];
  for (int l = 0; l < nlayers; l++) acts[l] = l == nlayers - 1 ? out_act : act;
  lmlp* u = push_empty_mlp(L);
  int rc = sp_mlp_new(&u->m, nlayers, sizes, acts, dtype, (int)batch);
  if (!rc) rc = sp_mlp_init(u->m, init, (uint64_t)seed);
  if (!rc && zero_last) rc = sp_mlp_zero_layer(u->m, -1);
  if (rc) spL_raise(L, rc, "mlp");
  adopt_storage(L, u);
  return 1;
}

// ---- network methods ----------------------------------------------------------------------------

// the workspace argument at arg (none: the net's own), checked to belong to the net at 1; sets
// *in_ndim to where the input's rank is remembered
static sp_mlp_work* optws(lua_State* L, int arg, lmlp* u, int** in_ndim) {
  *in_ndim = &u->in_ndim;
  if (lua_isnoneornil(L, arg)) return NULL;
  lws* w = luaL_testudata(L, arg, WS_MT);
  if (!w)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a workspace from net:workspace(), got %s",
                                  luaL_typename(L, arg)));
  lua_getiuservalue(L, arg, 1);
  int mine = lua_rawequal(L, -1, 1);
  lua_pop(L, 1);
  if (!w->w || !mine)
    luaL_argerror(L, arg,
                  w->w ? "expected a workspace of this network, got another network's"
                       : "expected a workspace, got a closed one");
  *in_ndim = &w->in_ndim;
  return w->w;
}

static int m_forward(lua_State* L) {
  lua_settop(L, 3);  // a table argument is converted into an array pushed above
  lmlp* u = checkmlp(L, 1);
  sp_mlp* m = u->m;
  sp_array* x = spL_toarray(L, 2);
  int* in_ndim;
  sp_mlp_work* ws = optws(L, 3, u, &in_ndim);
  if (x->ndim != 1 && x->ndim != 2) {
    lua_pushfstring(L, "expected an array of shape (%d) or (batch, %d), got shape %s", m->nin,
                    m->nin, shape_str(L, x));
    return luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  int64_t width = x->shape[x->ndim - 1];
  if (width != m->nin)
    return luaL_argerror(
        L, 2, lua_pushfstring(L, "expected %d inputs per row, got %d", m->nin, (int)width));
  int64_t batch = x->ndim == 2 ? x->shape[0] : 1;
  if (batch < 1 || batch > (1 << 24))
    return luaL_argerror(L, 2,
                         lua_pushfstring(L, "expected 1 to %d rows, got %d", 1 << 24, (int)batch));
  const double* xd = contiguous(L, x);
  int rc = sp_mlp_reserve(m, ws, (int)batch);
  if (rc) return spL_raise(L, rc, "forward");
  int64_t shape[2] = {batch, m->nout};
  sp_array* y = x->ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  sp_mlp_forward(m, ws, y->data, xd, (int)batch);
  *in_ndim = x->ndim;
  return 1;
}

// backward (params set: accumulate parameter gradients) or backward_input
static int backward(lua_State* L, int params) {
  lua_settop(L, 3);  // a table argument is converted into an array pushed above
  lmlp* u = checkmlp(L, 1);
  sp_mlp* m = u->m;
  sp_array* g = spL_toarray(L, 2);
  int* in_ndim;
  sp_mlp_work* ws = optws(L, 3, u, &in_ndim);
  int batch = ws ? ws->batch : m->ws.batch;
  if (batch < 1) return luaL_error(L, "backward: no forward pass to differentiate");
  int ok = g->ndim == *in_ndim && g->shape[g->ndim - 1] == m->nout &&
           (g->ndim == 1 || g->shape[0] == batch);
  if (!ok) {
    if (*in_ndim == 2)
      lua_pushfstring(L, "expected an output gradient of shape (%d, %d), got shape %s", batch,
                      m->nout, shape_str(L, g));
    else
      lua_pushfstring(L, "expected an output gradient of shape (%d), got shape %s", m->nout,
                      shape_str(L, g));
    return luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  const double* gd = contiguous(L, g);
  int64_t shape[2] = {batch, m->nin};
  sp_array* gx = *in_ndim == 2 ? spL_newarray(L, 2, shape) : spL_newarray(L, 1, shape + 1);
  int rc =
      params ? sp_mlp_backward(m, ws, gx->data, gd) : sp_mlp_backward_input(m, ws, gx->data, gd);
  if (rc) return spL_raise(L, rc, "backward");
  return 1;
}

static int m_backward(lua_State* L) {
  return backward(L, 1);
}
static int m_backward_input(lua_State* L) {
  return backward(L, 0);
}

// net:workspace([batch]) -> a workspace keeping one forward pass for a later backward
static int m_workspace(lua_State* L) {
  lmlp* u = checkmlp(L, 1);
  lua_Integer b = luaL_optinteger(L, 2, 1);
  if (b < 1 || b > (1 << 24))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected a batch size >= 1, got %d", (int)b));
  lws* w = lua_newuserdatauv(L, sizeof *w, 1);
  memset(w, 0, sizeof *w);
  w->in_ndim = 2;
  luaL_setmetatable(L, WS_MT);
  lua_pushvalue(L, 1);  // the workspace keeps its network alive
  lua_setiuservalue(L, -2, 1);
  int rc = sp_mlp_work_new(&w->w, u->m, (int)b);
  if (rc) return spL_raise(L, rc, "workspace");
  return 1;
}

static int w_gc(lua_State* L) {
  lws* w = luaL_checkudata(L, 1, WS_MT);
  sp_mlp_work_free(w->w);
  w->w = NULL;
  return 0;
}

static int w_tostring(lua_State* L) {
  lws* w = luaL_checkudata(L, 1, WS_MT);
  if (!w->w)
    lua_pushliteral(L, "workspace (closed)");
  else
    lua_pushfstring(L, "workspace (%d rows, %s)", w->w->max_batch,
                    w->w->batch ? "holding a forward pass" : "empty");
  return 1;
}

static int m_zero_grad(lua_State* L) {
  sp_mlp_zero_grad(checkmlp(L, 1)->m);
  lua_settop(L, 1);
  return 1;
}

// params() / grads(): views for float64 nets, copies for float32 nets
static int flat(lua_State* L, int grads) {
  lmlp* u = checkmlp(L, 1);
  if (u->m->dtype == SP_F64) {
    spL_pushview(L, grads ? &u->grads : &u->params);
    return 1;
  }
  int64_t n = (int64_t)u->m->nparams;
  sp_array* a = spL_newarray(L, 1, &n);
  if (grads)
    sp_mlp_get_grads(u->m, a->data);
  else
    sp_mlp_get_params(u->m, a->data);
  return 1;
}

static int m_params(lua_State* L) {
  return flat(L, 0);
}
static int m_grads(lua_State* L) {
  return flat(L, 1);
}

static int m_set_params(lua_State* L) {
  lmlp* u = checkmlp(L, 1);
  sp_array* a = spL_toarray(L, 2);
  int64_t n = sp_array_size(a);
  if (n != (int64_t)u->m->nparams)
    return luaL_argerror(
        L, 2, lua_pushfstring(L, "expected %d parameters, got %d", (int)u->m->nparams, (int)n));
  const double* d = contiguous(L, a);
  if (u->m->dtype == SP_F64)
    memmove(u->m->params, d, (size_t)n * sizeof(double));  // a may be our own view
  else
    sp_mlp_set_params(u->m, d);
  lua_settop(L, 1);
  return 1;
}

static int m_reserve(lua_State* L) {
  lmlp* u = checkmlp(L, 1);
  lua_Integer b = luaL_checkinteger(L, 2);
  if (b < 1 || b > (1 << 24))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected a batch size >= 1, got %d", (int)b));
  int rc = sp_mlp_reserve(u->m, NULL, (int)b);
  if (rc) return spL_raise(L, rc, "reserve");
  lua_settop(L, 1);
  return 1;
}

// make sure the optimiser has state for this net (save/load need it before any step)
static int ensure_state(lua_State* L, loptim* o, const sp_mlp* m, int arg, const char* fname) {
  if (o->o) {
    if (o->o->n != m->nparams || o->o->dtype != m->dtype)
      return luaL_argerror(L, arg,
                           lua_pushfstring(L,
                                           "expected an optimiser for %d %s parameters,"
                                           " got one for %d %s parameters",
                                           (int)m->nparams, sp_dtype_name(m->dtype), (int)o->o->n,
                                           sp_dtype_name(o->o->dtype)));
    return 0;
  }
  int rc = sp_optim_new(&o->o, &o->cfg, m->dtype, m->nparams);
  if (rc) spL_raise(L, rc, fname);
  return 0;
}

struct sp_optim* spL_optim_for(lua_State* L, int arg, size_t n, int dtype) {
  loptim* o = checkoptim(L, arg);
  if (o->o && (o->o->n != n || o->o->dtype != (sp_dtype)dtype))
    spA_argerror(L, arg, "expected an optimiser for %d %s parameters, got one for %d %s parameters",
                 (int)n, sp_dtype_name((sp_dtype)dtype), (int)o->o->n, sp_dtype_name(o->o->dtype));
  if (!o->o) {
    int rc = sp_optim_new(&o->o, &o->cfg, (sp_dtype)dtype, n);
    if (rc) spL_raise(L, rc, "optimiser");
  }
  return o->o;
}

void spL_push_optim(lua_State* L, struct sp_optim* o) {
  loptim* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->cfg = o->cfg;
  u->o = o;
  luaL_setmetatable(L, OPTIM_MT);
}

struct sp_optim* spL_optim_state(lua_State* L, int arg, size_t n) {
  return spL_optim_for(L, arg, n, SP_F64);
}

static int m_save(lua_State* L) {
  lmlp* u = checkmlp(L, 1);
  const char* path = luaL_checkstring(L, 2);
  loptim* o = lua_isnoneornil(L, 3) ? NULL : checkoptim(L, 3);
  if (o) ensure_state(L, o, u->m, 3, "save");
  char msg[512];
  int rc = sp_checkpoint_save(path, u->m, o ? o->o : NULL, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_load(lua_State* L) {
  lmlp* u = checkmlp(L, 1);
  const char* path = luaL_checkstring(L, 2);
  loptim* o = lua_isnoneornil(L, 3) ? NULL : checkoptim(L, 3);
  if (o) ensure_state(L, o, u->m, 3, "load");
  char msg[512];
  int rc = sp_checkpoint_load(path, u->m, o ? o->o : NULL, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_gc(lua_State* L) {
  lmlp* u = luaL_checkudata(L, 1, MLP_MT);
  sp_mlp_free(u->m);
  u->m = NULL;
  sp_array_release(&u->params);  // views handed out keep their own references
  sp_array_release(&u->grads);
  return 0;
}

static int m_tostring(lua_State* L) {
  lmlp* u = luaL_checkudata(L, 1, MLP_MT);
  if (!u->m) {
    lua_pushliteral(L, "mlp (closed)");
    return 1;
  }
  char buf[64 * (SP_MLP_MAXLAYERS + 2)];
  sp_mlp_describe(u->m, buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

static const luaL_Reg mlp_methods[] = {
    {"forward", m_forward},
    {"backward", m_backward},
    {"backward_input", m_backward_input},
    {"zero_grad", m_zero_grad},
    {"params", m_params},
    {"grads", m_grads},
    {"set_params", m_set_params},
    {"reserve", m_reserve},
    {"workspace", m_workspace},
    {"save", m_save},
    {"load", m_load},
    {"close", m_gc},
    {NULL, NULL},
};

static int m_index(lua_State* L) {
  lmlp* u = luaL_checkudata(L, 1, MLP_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->m) return luaL_error(L, "attempt to use a closed network");
  const sp_mlp* m = u->m;
  if (!strcmp(k, "nparams")) {
    lua_pushinteger(L, (lua_Integer)m->nparams);
  } else if (!strcmp(k, "nin")) {
    lua_pushinteger(L, m->nin);
  } else if (!strcmp(k, "nout")) {
    lua_pushinteger(L, m->nout);
  } else if (!strcmp(k, "nlayers")) {
    lua_pushinteger(L, m->nlayers);
  } else if (!strcmp(k, "dtype")) {
    lua_pushstring(L, sp_dtype_name(m->dtype));
  } else if (!strcmp(k, "max_batch")) {
    lua_pushinteger(L, m->ws.max_batch);
  } else if (!strcmp(k, "sizes") || !strcmp(k, "acts")) {
    int acts = k[0] == 'a';
    lua_createtable(L, m->nlayers + 1, 0);
    if (!acts) {
      lua_pushinteger(L, m->nin);
      lua_rawseti(L, -2, 1);
    }
    for (int l = 0; l < m->nlayers; l++) {
      if (acts)
        lua_pushstring(L, sp_act_name(m->layers[l].act));
      else
        lua_pushinteger(L, m->layers[l].nout);
      lua_rawseti(L, -2, l + (acts ? 1 : 2));
    }
  } else {
    lua_pushnil(L);
  }
  return 1;
}

// ---- optimisers ---------------------------------------------------------------------------------

static loptim* push_optim(lua_State* L, const sp_optim_config* cfg) {
  char msg[256];
  if (sp_optim_check(cfg, msg, sizeof msg)) luaL_argerror(L, 1, msg);
  loptim* o = lua_newuserdatauv(L, sizeof *o, 0);
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  luaL_setmetatable(L, OPTIM_MT);
  return o;
}

static const char* const sgd_options[] = {"lr", "momentum", "clip", "weight_decay", NULL};
static const char* const adam_options[] = {"lr", "betas", "eps", "clip", "weight_decay", NULL};

static int l_sgd(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, sgd_options);
  sp_optim_config c = sp_optim_sgd_config(spA_range(&t, "lr", 0, NAN, NAN, 1));
  c.momentum = spA_number(&t, "momentum", 0);
  c.clip = spA_number(&t, "clip", 0);
  c.weight_decay = spA_number(&t, "weight_decay", 0);
  push_optim(L, &c);
  return 1;
}

static int l_adam(lua_State* L) {
  spA_table t = spA_opts(L, 1, 1);
  spA_check_keys(&t, adam_options);
  sp_optim_config c = sp_optim_adam_config(spA_number(&t, "lr", 1e-3));
  double betas[2] = {c.beta1, c.beta2};
  spA_field_vector(&t, "betas", betas, 2, 0);
  c.beta1 = betas[0];
  c.beta2 = betas[1];
  c.eps = spA_number(&t, "eps", c.eps);
  c.clip = spA_number(&t, "clip", 0);
  c.weight_decay = spA_number(&t, "weight_decay", 0);
  push_optim(L, &c);
  return 1;
}

// opt:step(net) or opt:step(params, grads) -> gradient norm before clipping
static int o_step(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  void* params;
  const void* grads;
  size_t n;
  sp_dtype dtype = SP_F64;
  lmlp* u = luaL_testudata(L, 2, MLP_MT);
  if (u) {
    u = checkmlp(L, 2);
    params = u->m->params;
    grads = u->m->grads;
    n = u->m->nparams;
    dtype = u->m->dtype;
  } else if (spL_testarray(L, 2)) {
    sp_array* p = spL_checkarray(L, 2);
    sp_array* g = spL_checkarray(L, 3);
    if (!sp_array_is_contiguous(p))
      return luaL_argerror(L, 2,
                           "expected a contiguous parameter array (a view of storage the "
                           "update can write through), got a strided view");
    if (sp_array_size(g) != sp_array_size(p))
      return luaL_argerror(L, 3,
                           lua_pushfstring(L,
                                           "expected %d gradients (one per parameter), "
                                           "got %d",
                                           (int)sp_array_size(p), (int)sp_array_size(g)));
    params = p->data;
    grads = contiguous(L, g);
    n = (size_t)sp_array_size(p);
  } else {
    return luaL_argerror(
        L, 2,
        lua_pushfstring(L, "expected a network or a parameter array, got %s", luaL_typename(L, 2)));
  }
  if (o->o && (o->o->n != n || o->o->dtype != dtype))
    return luaL_argerror(
        L, 2,
        lua_pushfstring(L,
                        "expected %d %s parameters (this optimiser's "
                        "state), got %d %s",
                        (int)o->o->n, sp_dtype_name(o->o->dtype), (int)n, sp_dtype_name(dtype)));
  if (!o->o) {
    int rc = sp_optim_new(&o->o, &o->cfg, dtype, n);
    if (rc) return spL_raise(L, rc, "step");
  }
  int rc = sp_optim_step(o->o, params, grads);
  if (rc == SP_ENUMERIC && o->o->bad >= 0) {
    char num[32];
    snprintf(num, sizeof num, "%g", o->cfg.lr);
    // no position prefix: the message is the whole story for the user of an experiment
    lua_pushfstring(L,
                    "step: %s (lr %s) would make parameter %d of %d non-finite; step refused, "
                    "parameters unchanged",
                    sp_optim_kind_name(o->cfg.kind), num, (int)o->o->bad + 1, (int)o->o->n);
    return lua_error(L);
  }
  if (rc == SP_ENUMERIC)
    return luaL_error(L, "step: the gradient is not finite (norm %f); parameters unchanged",
                      o->o->last_norm);
  lua_pushnumber(L, o->o->last_norm);
  return 1;
}

static int o_reset(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  if (o->o) sp_optim_reset(o->o);
  lua_settop(L, 1);
  return 1;
}

static int o_gc(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  sp_optim_free(o->o);
  o->o = NULL;
  return 0;
}

static int o_tostring(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  const sp_optim_config* c = &o->cfg;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (c->kind == SP_OPTIM_ADAM)
    lua_pushfstring(L, "adam (lr %f, betas %f %f, eps %f", c->lr, c->beta1, c->beta2, c->eps);
  else
    lua_pushfstring(L, "sgd (lr %f, momentum %f", c->lr, c->momentum);
  luaL_addvalue(&b);
  if (c->clip > 0) {
    lua_pushfstring(L, ", clip %f", c->clip);
    luaL_addvalue(&b);
  }
  if (c->weight_decay > 0) {
    lua_pushfstring(L, ", weight_decay %f", c->weight_decay);
    luaL_addvalue(&b);
  }
  lua_pushfstring(L, "; %d steps)", o->o ? (int)o->o->t : 0);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg optim_methods[] = {
    {"step", o_step},
    {"reset", o_reset},
    {"close", o_gc},
    {NULL, NULL},
};

static int o_index(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  const sp_optim_config* c = &o->cfg;
  if (!strcmp(k, "lr"))
    lua_pushnumber(L, c->lr);
  else if (!strcmp(k, "kind"))
    lua_pushstring(L, sp_optim_kind_name(c->kind));
  else if (!strcmp(k, "t"))
    lua_pushinteger(L, o->o ? o->o->t : 0);
  else if (!strcmp(k, "last_norm"))
    lua_pushnumber(L, o->o ? o->o->last_norm : 0);
  else if (!strcmp(k, "momentum"))
    lua_pushnumber(L, c->momentum);
  else if (!strcmp(k, "clip"))
    lua_pushnumber(L, c->clip);
  else if (!strcmp(k, "weight_decay"))
    lua_pushnumber(L, c->weight_decay);
  else
    lua_pushnil(L);
  return 1;
}

// opt.lr = x (learning-rate schedules); other fields are fixed at creation
static int o_newindex(lua_State* L) {
  loptim* o = checkoptim(L, 1);
  const char* k = luaL_checkstring(L, 2);
  if (strcmp(k, "lr")) return luaL_error(L, "cannot set field '%s' of an optimiser (only lr)", k);
  double lr = luaL_checknumber(L, 3);
  if (!(lr >= 0 && isfinite(lr)))
    return luaL_error(L, "bad value for lr (expected a finite number >= 0, got %f)", lr);
  o->cfg.lr = lr;
  if (o->o) o->o->cfg.lr = lr;
  return 0;
}

// ---- nn.load ------------------------------------------------------------------------------------

// nn.load(path [, {batch = n}]) -> net [, opt] | nil, message
static int l_load(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  lua_Integer batch = 1;
  {
    spA_table t = spA_opts(L, 2, 1);
    static const char* const valid[] = {"batch", NULL};
    spA_check_keys(&t, valid);
    batch = spA_integer(&t, "batch", 1, 1, 1 << 24, 0);
  }
  // both userdata first, empty, so nothing read below can leak
  loptim* lo = lua_newuserdatauv(L, sizeof *lo, 0);
  memset(lo, 0, sizeof *lo);
  luaL_setmetatable(L, OPTIM_MT);
  lmlp* u = push_empty_mlp(L);
  char msg[512];
  int rc = sp_checkpoint_read(path, &u->m, &lo->o, (int)batch, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  adopt_storage(L, u);
  if (!lo->o) return 1;
  lo->cfg = lo->o->cfg;
  lua_insert(L, -2);  // net, opt
  return 2;
}

// ---- module -------------------------------------------------------------------------------------

// nn.gemm_kernel() -> "avx512" | "openblas": what computes this process's large float32 products
// (spinal's AVX-512 kernel on a CPU that has it with single-threaded OpenBLAS, else cblas_sgemm).
// Their sums are ordered differently, so a training run repeats bit for bit only where this and
// OpenBLAS's kernel (spinal.host.blas) are the same.
static int l_gemm_kernel(lua_State* L) {
  lua_pushstring(L, sp_gemm_f32_native(1 << 10, 1 << 10, 1 << 10) ? "avx512" : "openblas");
  return 1;
}

static const luaL_Reg functions[] = {
    {"mlp", l_mlp},
    {"sgd", l_sgd},
    {"adam", l_adam},
    {"load", l_load},
    {"gemm_kernel", l_gemm_kernel},
    {NULL, NULL},
};

int luaopen_spinal_nn(lua_State* L) {
  spL_class(L, MLP_MT, mlp_methods, m_index, m_gc, m_tostring);

  luaL_newmetatable(L, WS_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, w_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, w_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, w_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, w_gc);
  lua_setfield(L, -2, "close");
  lua_pop(L, 1);

  luaL_newmetatable(L, OPTIM_MT);
  luaL_newlib(L, optim_methods);
  lua_pushcclosure(L, o_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, o_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, o_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, o_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, o_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newlib(L, functions);
  lua_createtable(L, SP_ACT_COUNT, 0);
  for (int a = 0; a < SP_ACT_COUNT; a++) {
    lua_pushstring(L, sp_act_name((sp_act)a));
    lua_rawseti(L, -2, a + 1);
  }
  lua_setfield(L, -2, "activations");
  return 1;
}
