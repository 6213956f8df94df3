// ppo.c: the Lua binding of engine/rl/ppo.h and hal/vecenv.h (require "spinal.ppo";
// docs/api/ppo.md, docs/ppo.md).
//
//   local ppo = require "spinal.ppo"
//   local env = ppo.quadruped { mjcf = "robots/quadruped.xml", nenvs = 64, threads = 2, seed = 1 }
//   local agent = ppo.new { env = env, nsteps = 24, seed = 1 }
//   for it = 1, 100 do local s = agent:iterate(env) end   -- collect nsteps x nenvs, update
//   local m = agent:evaluate(env, 500, 7)                  -- deterministic policy, fixed seed
//   agent:data_parallel()   -- under mpirun: one agent trained on every rank's rollouts
#include "engine/rl/ppo.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "bind.h"
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "hal/vecenv.h"
#include "reduce_hook.h"

#define AGENT_MT "spinal.ppo.agent"
#define ENV_MT "spinal.ppo.env"

typedef struct lenv {
  sp_vecenv* v;
  double *obs, *rew, *done, *to, *act;  // (nenvs x nobs), (nenvs) x 3, (nenvs x nact)
  int nenvs, nobs, nact;
} lenv;

typedef struct lagent {
  sp_ppo* p;
  uint64_t seed;
  int rank, size;  // of the data-parallel world (0, 1 alone)
} lagent;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lenv* checkenv(lua_State* L, int arg) {
  lenv* e = luaL_checkudata(L, arg, ENV_MT);
  if (!e->v) luaL_argerror(L, arg, "the environments are closed");
  return e;
}

static lagent* checkagent(lua_State* L, int arg) {
  lagent* a = luaL_checkudata(L, arg, AGENT_MT);
  if (!a->p) luaL_argerror(L, arg, "the agent is closed");
  return a;
}

static void push_vector(lua_State* L, const double* x, int rows, int cols) {
  int64_t shape[2] = {rows, cols};
  sp_array* a = spL_newarray(L, cols > 0 ? 2 : 1, shape);
  memcpy(a->data, x, sizeof(double) * (size_t)rows * (size_t)(cols > 0 ? cols : 1));
}

// ---- environments -------------------------------------------------------------------------------

static void read_range(const spA_table* t, const char* key, double* lo, double* hi) {
  double v[2];
  if (spA_field_vector(t, key, v, 2, 1)) {
    if (!(v[0] <= v[1]))
      spA_fielderror(t, key, "expected {lo, hi} with lo <= hi, got {%f, %f}", v[0], v[1]);
    *lo = v[0], *hi = v[1];
  }
}

static void read_commands(const spA_table* t, double lo[3], double hi[3]) {
  read_range(t, "vx", lo, hi);
  read_range(t, "vy", lo + 1, hi + 1);
  read_range(t, "wz", lo + 2, hi + 2);
}

static int e_new(lua_State* L) {
  static const char* const keys[] = {"mjcf",
                                     "keyframe",
                                     "nenvs",
                                     "threads",
                                     "seed",
                                     "substeps",
                                     "kp",
                                     "kd",
                                     "action_scale",
                                     "action_clip",
                                     "vx",
                                     "vy",
                                     "wz",
                                     "episode_steps",
                                     "resample_steps",
                                     "reset_noise",
                                     "fall_height",
                                     "fall_tilt",
                                     "sigma2",
                                     "w_lin",
                                     "w_ang",
                                     "w_vz",
                                     "w_wxy",
                                     "w_torque",
                                     "w_rate",
                                     "only_positive",
                                     "task",
                                     "clips",
                                     "track_fail",
                                     "from_start",
                                     NULL};
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, keys);
  const char* mjcf = spA_string(&t, "mjcf", NULL, 1);
  int nenvs = (int)spA_integer(&t, "nenvs", 0, 1, INT_MAX, 1);
  int threads = (int)spA_integer(&t, "threads", 1, 1, 256, 0);
  uint64_t seed = (uint64_t)spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  sp_vecenv_config c = sp_vecenv_default_config(mjcf, nenvs, threads, seed);
  c.keyframe = spA_string(&t, "keyframe", c.keyframe, 0);
  c.substeps = (int)spA_integer(&t, "substeps", c.substeps, 1, 100000, 0);
  c.kp = spA_range(&t, "kp", c.kp, 0, NAN, 0);
  c.kd = spA_range(&t, "kd", c.kd, 0, NAN, 0);
  c.action_scale = spA_positive(&t, "action_scale", c.action_scale, 0);
  c.action_clip = spA_positive(&t, "action_clip", c.action_clip, 0);
  read_commands(&t, c.cmd_lo, c.cmd_hi);
  c.episode_steps = (int)spA_integer(&t, "episode_steps", c.episode_steps, 1, INT_MAX, 0);
  c.resample_steps = (int)spA_integer(&t, "resample_steps", c.resample_steps, 0, INT_MAX, 0);
  c.reset_noise = spA_range(&t, "reset_noise", c.reset_noise, 0, NAN, 0);
  c.fall_height = spA_number(&t, "fall_height", c.fall_height);
  c.fall_tilt = spA_number(&t, "fall_tilt", c.fall_tilt);
  c.sigma2 = spA_positive(&t, "sigma2", c.sigma2, 0);
  c.w_lin = spA_range(&t, "w_lin", c.w_lin, 0, NAN, 0);
  c.w_ang = spA_range(&t, "w_ang", c.w_ang, 0, NAN, 0);
  c.w_vz = spA_range(&t, "w_vz", c.w_vz, 0, NAN, 0);
  c.w_wxy = spA_range(&t, "w_wxy", c.w_wxy, 0, NAN, 0);
  c.w_torque = spA_range(&t, "w_torque", c.w_torque, 0, NAN, 0);
  c.w_rate = spA_range(&t, "w_rate", c.w_rate, 0, NAN, 0);
  c.only_positive = spA_boolean(&t, "only_positive", c.only_positive);
  static const char* const tasks[] = {"velocity", "imitate", NULL};
  c.task = (sp_vecenv_task)spA_option(&t, "task", SP_VECENV_VELOCITY, tasks);
  c.track_fail = spA_positive(&t, "track_fail", c.track_fail, 0);
  c.from_start = spA_boolean(&t, "from_start", 0);
  // imitation clips: a list of (frames x nq) arrays, gathered into scratch memory
  const double** clips = NULL;
  int* nframes = NULL;
  if (c.task == SP_VECENV_IMITATE) {
    if (!spA_has(&t, "clips"))
      spA_fielderror(&t, "clips", "expected a list of clip frames (the imitate task), got nil");
    lua_getfield(L, 1, "clips");
    int top = lua_gettop(L);
    if (!lua_istable(L, top))
      spA_fielderror(&t, "clips", "expected a list of arrays, got %s", luaL_typename(L, top));
    int n = (int)luaL_len(L, top);
    if (n < 1) spA_fielderror(&t, "clips", "expected at least one clip, got none");
    clips = spA_scratch_bytes(L, sizeof(double*) * (size_t)n);
    nframes = spA_scratch_bytes(L, sizeof(int) * (size_t)n);
    int width = -1;
    for (int i = 0; i < n; i++) {
      // every clip leaves its scratch copy on the stack until the environments are made: room
      // for it and the array (a library has far more clips than LUA_MINSTACK slots)
      luaL_checkstack(L, 4, "ppo.quadruped: too many clips");
      lua_geti(L, top, i + 1);
      sp_array* a = spL_testarray(L, -1);
      if (!a || a->ndim != 2 || (width >= 0 && a->shape[1] != width) || a->shape[0] < 3)
        spA_fielderror(&t, "clips",
                       "entry %d: expected an array of at least 3 frames with the same number of "
                       "columns as the others (clip:frames())",
                       i + 1);
      width = (int)a->shape[1];
      double* f = spA_scratch(L, (size_t)(a->shape[0] * a->shape[1]));
      spA_gather(a, f);
      clips[i] = f;
      nframes[i] = (int)a->shape[0];
      lua_rotate(L, -2, 1);  // keep the scratch below the array, then drop the array
      lua_pop(L, 1);
    }
    c.clips = clips;
    c.clip_frames = nframes;
    c.nclips = n;
    c.clip_nq = width;
  }
  lenv* e = lua_newuserdatauv(L, sizeof *e, 0);
  memset(e, 0, sizeof *e);
  luaL_setmetatable(L, ENV_MT);
  char msg[1200];
  int rc = sp_vecenv_new(&e->v, &c, msg, sizeof msg);
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
  }
  e->nenvs = nenvs;
  e->nobs = sp_vecenv_nobs(e->v);
  e->nact = sp_vecenv_nact(e->v);
  e->obs = sp_calloc((size_t)nenvs * (e->nobs + e->nact + 3), sizeof(double));
  if (!e->obs) {
    sp_vecenv_free(e->v);
    e->v = NULL;
    return luaL_error(L, "out of memory");
  }
  e->act = e->obs + (size_t)nenvs * e->nobs;
  e->rew = e->act + (size_t)nenvs * e->nact;
  e->done = e->rew + nenvs;
  e->to = e->done + nenvs;
  sp_vecenv_reset(e->v, seed, e->obs);
  return 1;
}

static int e_gc(lua_State* L) {
  lenv* e = luaL_checkudata(L, 1, ENV_MT);
  sp_vecenv_free(e->v);
  sp_free(e->obs);
  e->v = NULL;
  e->obs = NULL;
  return 0;
}

static int e_tostring(lua_State* L) {
  lenv* e = luaL_checkudata(L, 1, ENV_MT);
  if (!e->v)
    lua_pushstring(L, "ppo env (closed)");
  else
    lua_pushfstring(L, "ppo env: %d quadrupeds, %d observations, %d actions", e->nenvs, e->nobs,
                    e->nact);
  return 1;
}

static int e_reset(lua_State* L) {
  lenv* e = checkenv(L, 1);
  uint64_t seed = (uint64_t)luaL_checkinteger(L, 2);
  sp_vecenv_reset(e->v, seed, e->obs);
  push_vector(L, e->obs, e->nenvs, e->nobs);
  return 1;
}

static int e_step(lua_State* L) {
  lenv* e = checkenv(L, 1);
  char what[64];
  snprintf(what, sizeof what, "actions (%d x %d)", e->nenvs, e->nact);
  spA_vector(L, 2, e->act, (int64_t)e->nenvs * e->nact, what, 0);
  sp_vecenv_step(e->v, e->obs, e->rew, e->done, e->to, e->act);
  push_vector(L, e->obs, e->nenvs, e->nobs);
  push_vector(L, e->rew, e->nenvs, 0);
  push_vector(L, e->done, e->nenvs, 0);
  push_vector(L, e->to, e->nenvs, 0);
  return 4;
}

static int e_raw(lua_State* L) {
  lenv* e = checkenv(L, 1);
  int n = (int)luaL_optinteger(L, 2, 1);
  for (int i = 0; i < n; i++) sp_vecenv_step_raw(e->v);
  return 0;
}

static void push_metrics(lua_State* L, const sp_vecenv_metrics* m) {
  lua_createtable(L, 0, 8);
  lua_pushnumber(L, m->steps), lua_setfield(L, -2, "steps");
  lua_pushnumber(L, m->vel_error), lua_setfield(L, -2, "vel_error");
  lua_pushnumber(L, m->yaw_error), lua_setfield(L, -2, "yaw_error");
  lua_pushnumber(L, m->reward), lua_setfield(L, -2, "reward");
  lua_pushnumber(L, m->episodes), lua_setfield(L, -2, "episodes");
  lua_pushnumber(L, m->falls), lua_setfield(L, -2, "falls");
  lua_pushnumber(L, m->episode_return), lua_setfield(L, -2, "episode_return");
  lua_pushnumber(L, m->episode_length), lua_setfield(L, -2, "episode_length");
  lua_pushnumber(L, m->joint_error), lua_setfield(L, -2, "joint_error");
  lua_pushnumber(L, m->root_error), lua_setfield(L, -2, "root_error");
}

static int e_metrics(lua_State* L) {
  lenv* e = checkenv(L, 1);
  int clear = spA_optboolean(L, 2, 0);
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(e->v, &m, clear);
  push_metrics(L, &m);
  return 1;
}

static int e_set_commands(lua_State* L) {
  lenv* e = checkenv(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  static const char* const keys[] = {"vx", "vy", "wz", NULL};
  spA_check_keys(&t, keys);
  double lo[3] = {-1, -0.5, -1}, hi[3] = {1, 0.5, 1};
  read_commands(&t, lo, hi);
  sp_vecenv_set_commands(e->v, lo, hi);
  return 0;
}

static int e_index(lua_State* L) {
  lenv* e = luaL_checkudata(L, 1, ENV_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!e->v) return luaL_error(L, "attempt to use closed environments");
  if (!strcmp(k, "nenvs"))
    lua_pushinteger(L, e->nenvs);
  else if (!strcmp(k, "nobs"))
    lua_pushinteger(L, e->nobs);
  else if (!strcmp(k, "nact"))
    lua_pushinteger(L, e->nact);
  else if (!strcmp(k, "dt"))
    lua_pushnumber(L, sp_vecenv_dt(e->v));
  else if (!strcmp(k, "obs"))
    push_vector(L, e->obs, e->nenvs, e->nobs);
  else
    lua_pushnil(L);
  return 1;
}

static const luaL_Reg env_methods[] = {{"reset", e_reset},
                                       {"step", e_step},
                                       {"step_raw", e_raw},
                                       {"metrics", e_metrics},
                                       {"set_commands", e_set_commands},
                                       {"close", e_gc},
                                       {NULL, NULL}};

// ---- the agent ----------------------------------------------------------------------------------

static int a_new(lua_State* L) {
  static const char* const keys[] = {"env",
                                     "nobs",
                                     "nact",
                                     "nenvs",
                                     "nsteps",
                                     "hidden",
                                     "activation",
                                     "dtype",
                                     "init_std",
                                     "lr",
                                     "lr_min",
                                     "lr_max",
                                     "desired_kl",
                                     "lr_iterations",
                                     "gamma",
                                     "lambda",
                                     "clip",
                                     "clip_value",
                                     "value_coef",
                                     "entropy_coef",
                                     "max_grad_norm",
                                     "epochs",
                                     "minibatches",
                                     "normalize_adv",
                                     "normalize_obs",
                                     "obs_clip",
                                     "seed",
                                     "kl_per_update",
                                     NULL};
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, keys);
  int nobs = 0, nact = 0, nenvs = 0;
  if (spA_has(&t, "env")) {
    lua_getfield(L, 1, "env");
    lenv* e = luaL_testudata(L, -1, ENV_MT);
    if (!e || !e->v) spA_fielderror(&t, "env", "expected open ppo environments");
    nobs = e->nobs, nact = e->nact, nenvs = e->nenvs;
    lua_pop(L, 1);
  }
  nobs = (int)spA_integer(&t, "nobs", nobs, 1, INT_MAX, nobs == 0);
  nact = (int)spA_integer(&t, "nact", nact, 1, INT_MAX, nact == 0);
  nenvs = (int)spA_integer(&t, "nenvs", nenvs, 1, INT_MAX, nenvs == 0);
  int nsteps = (int)spA_integer(&t, "nsteps", 24, 1, INT_MAX, 0);
  sp_ppo_config c = sp_ppo_default_config(nobs, nact, nenvs, nsteps);
  if (spA_has(&t, "hidden")) {
    spA_table h = spA_subtable(&t, "hidden", 1);
    int n = (int)luaL_len(L, -1);
    if (n < 1 || n > SP_PPO_MAXHIDDEN)
      spA_fielderror(&t, "hidden", "expected 1 to %d layer widths, got %d", SP_PPO_MAXHIDDEN, n);
    for (int i = 0; i < n; i++) {
      lua_geti(L, -1, i + 1);
      int ok;
      lua_Integer w = lua_tointegerx(L, -1, &ok);
      if (!ok || w < 1 || w > 1 << 16)
        spA_fielderror(&t, "hidden", "expected integer widths in [1, 65536] (entry %d)", i + 1);
      c.hidden[i] = (int)w;
      lua_pop(L, 1);
    }
    c.nhidden = n;
    (void)h;
    lua_pop(L, 1);
  }
  static const char* const acts[] = {"identity", "tanh", "relu", "elu", NULL};
  c.act = (sp_act)spA_option(&t, "activation", (int)c.act, acts);
  static const char* const dtypes[] = {"f64", "f32", NULL};
  c.dtype = (sp_dtype)spA_option(&t, "dtype", (int)c.dtype, dtypes);
  c.init_std = spA_positive(&t, "init_std", c.init_std, 0);
  c.lr = spA_positive(&t, "lr", c.lr, 0);
  c.lr_min = spA_positive(&t, "lr_min", c.lr_min, 0);
  c.lr_max = spA_positive(&t, "lr_max", c.lr_max, 0);
  c.desired_kl = spA_range(&t, "desired_kl", c.desired_kl, 0, NAN, 0);
  c.kl_per_update = spA_boolean(&t, "kl_per_update", c.kl_per_update);
  c.lr_iterations = (int)spA_integer(&t, "lr_iterations", 0, 0, INT_MAX, 0);
  c.gamma = spA_range(&t, "gamma", c.gamma, 0, 1, 0);
  c.lambda = spA_range(&t, "lambda", c.lambda, 0, 1, 0);
  c.clip = spA_positive(&t, "clip", c.clip, 0);
  c.clip_value = spA_boolean(&t, "clip_value", c.clip_value);
  c.value_coef = spA_range(&t, "value_coef", c.value_coef, 0, NAN, 0);
  c.entropy_coef = spA_range(&t, "entropy_coef", c.entropy_coef, 0, NAN, 0);
  c.max_grad_norm = spA_range(&t, "max_grad_norm", c.max_grad_norm, 0, NAN, 0);
  c.epochs = (int)spA_integer(&t, "epochs", c.epochs, 1, INT_MAX, 0);
  c.minibatches = (int)spA_integer(&t, "minibatches", c.minibatches, 1, INT_MAX, 0);
  c.normalize_adv = spA_boolean(&t, "normalize_adv", c.normalize_adv);
  c.normalize_obs = spA_boolean(&t, "normalize_obs", c.normalize_obs);
  c.obs_clip = spA_range(&t, "obs_clip", c.obs_clip, 0, NAN, 0);
  uint64_t seed = (uint64_t)spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  char msg[256];
  if (sp_ppo_check(&c, msg, sizeof msg)) return spA_argerror(L, 1, "%s", msg);
  lagent* a = lua_newuserdatauv(L, sizeof *a, 0);
  a->p = NULL;
  a->seed = seed;
  a->rank = 0, a->size = 1;
  luaL_setmetatable(L, AGENT_MT);
  int rc = sp_ppo_new(&a->p, &c, seed);
  if (rc) return luaL_error(L, "ppo.new: %s", sp_strerror(rc));
  return 1;
}

static int a_gc(lua_State* L) {
  lagent* a = luaL_checkudata(L, 1, AGENT_MT);
  sp_ppo_free(a->p);
  a->p = NULL;
  return 0;
}

static int a_tostring(lua_State* L) {
  lagent* a = luaL_checkudata(L, 1, AGENT_MT);
  if (!a->p) {
    lua_pushstring(L, "ppo agent (closed)");
    return 1;
  }
  const sp_ppo_config* c = &a->p->cfg;
  lua_pushfstring(L, "ppo agent: %d -> %d, %d envs x %d steps, %d parameters (%s), iteration %d",
                  c->nobs, c->nact, c->nenvs, c->nsteps, (int)a->p->nparams,
                  sp_dtype_name(c->dtype), (int)a->p->iteration);
  return 1;
}

static void check_match(lua_State* L, const sp_ppo* p, const lenv* e) {
  if (e->nenvs != p->cfg.nenvs || e->nobs != p->cfg.nobs || e->nact != p->cfg.nact)
    spA_argerror(L, 2,
                 "expected environments of %d envs, %d observations and %d actions, got %d, %d "
                 "and %d",
                 p->cfg.nenvs, p->cfg.nobs, p->cfg.nact, e->nenvs, e->nobs, e->nact);
}

static void push_stats(lua_State* L, const sp_ppo_stats* s) {
  lua_createtable(L, 0, 12);
  lua_pushnumber(L, s->surrogate), lua_setfield(L, -2, "surrogate");
  lua_pushnumber(L, s->value_loss), lua_setfield(L, -2, "value_loss");
  lua_pushnumber(L, s->entropy), lua_setfield(L, -2, "entropy");
  lua_pushnumber(L, s->kl), lua_setfield(L, -2, "kl");
  lua_pushnumber(L, s->kl_final), lua_setfield(L, -2, "kl_final");
  lua_pushnumber(L, s->clip_fraction), lua_setfield(L, -2, "clip_fraction");
  lua_pushnumber(L, s->lr), lua_setfield(L, -2, "lr");
  lua_pushnumber(L, s->grad_norm), lua_setfield(L, -2, "grad_norm");
  lua_pushnumber(L, s->mean_reward), lua_setfield(L, -2, "mean_reward");
  lua_pushnumber(L, s->mean_value), lua_setfield(L, -2, "mean_value");
  lua_pushnumber(L, s->mean_return), lua_setfield(L, -2, "mean_return");
  lua_pushinteger(L, s->steps), lua_setfield(L, -2, "steps");
  lua_pushinteger(L, s->refused), lua_setfield(L, -2, "refused");
}

// agent:iterate(env): nsteps steps of every environment with the stochastic policy, then the
// update; returns the update's statistics with the environments' metrics over the rollout
static int a_iterate(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  lenv* e = checkenv(L, 2);
  check_match(L, p, e);
  if (p->t != 0 || p->pending) return luaL_error(L, "iterate: a rollout is half collected");
  sp_vecenv_metrics_get(e->v, &(sp_vecenv_metrics){0}, 1);
  double t0 = now();
  for (int t = 0; t < p->cfg.nsteps; t++) {
    int rc = sp_ppo_collect(p, e->act, e->obs);
    if (!rc) rc = sp_vecenv_step(e->v, e->obs, e->rew, e->done, e->to, e->act);
    if (!rc) rc = sp_ppo_record(p, e->rew, e->done, e->to);
    if (rc) return luaL_error(L, "iterate: %s", sp_strerror(rc));
  }
  double t1 = now();
  int rc = sp_ppo_update(p, e->obs);
  if (rc) return luaL_error(L, "iterate: %s", sp_strerror(rc));
  double t2 = now();
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(e->v, &m, 1);
  push_stats(L, &p->stats);
  lua_pushnumber(L, t1 - t0), lua_setfield(L, -2, "collect_seconds");
  lua_pushnumber(L, t2 - t1), lua_setfield(L, -2, "update_seconds");
  lua_pushinteger(L, (lua_Integer)p->cfg.nsteps * p->cfg.nenvs), lua_setfield(L, -2, "samples");
  push_metrics(L, &m);
  lua_setfield(L, -2, "env");
  return 1;
}

// agent:evaluate(env, steps, seed [, stochastic]): reset env with seed, run the policy's mean
// (or samples) for steps steps; the environments' metrics over them
static int a_evaluate(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  lenv* e = checkenv(L, 2);
  check_match(L, p, e);
  int steps = (int)luaL_checkinteger(L, 3);
  if (steps < 1) return spA_argerror(L, 3, "expected a number of steps >= 1, got %d", steps);
  uint64_t seed = (uint64_t)luaL_checkinteger(L, 4);
  int stochastic = spA_optboolean(L, 5, 0);
  sp_vecenv_reset(e->v, seed, e->obs);
  sp_vecenv_metrics_get(e->v, &(sp_vecenv_metrics){0}, 1);
  for (int t = 0; t < steps; t++) {
    sp_ppo_act(p, e->act, NULL, e->obs, e->nenvs, stochastic);
    sp_vecenv_step(e->v, e->obs, e->rew, e->done, e->to, e->act);
  }
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(e->v, &m, 1);
  push_metrics(L, &m);
  return 1;
}

// agent:act(obs [, stochastic]) -> actions (n x nact) for n rows of observations
static int a_act(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  sp_array* x = spL_toarray(L, 2);
  int64_t total = 1;
  for (int i = 0; i < x->ndim; i++) total *= x->shape[i];
  int n = (int)(total / p->cfg.nobs);
  if (total % p->cfg.nobs || n < 1 || n > p->cfg.nenvs)
    return spA_argerror(L, 2, "expected 1 to %d rows of %d observations, got %d numbers",
                        p->cfg.nenvs, p->cfg.nobs, (int)total);
  int stochastic = spA_optboolean(L, 3, 0);
  double* obs = spA_scratch(L, (size_t)total);
  spA_gather(x, obs);
  int64_t shape[2] = {n, p->cfg.nact};
  sp_array* out = spL_newarray(L, 2, shape);
  sp_ppo_act(p, out->data, NULL, obs, n, stochastic);
  return 1;
}

// agent:data_parallel() -> rank, size: join the agent to the MPI world (spinal.mpi): every rank
// takes rank 0's parameters, its action noise and shuffles follow stream `rank` of the agent's
// seed, and every update averages the minibatch gradients and the statistics it normalises with
// over the ranks (engine/rl/ppo.h, docs/distributed.md). Call on every rank, before collecting,
// with the same settings everywhere. A world of one leaves the agent as it was.
static int a_data_parallel(lua_State* L) {
  lagent* a = checkagent(L, 1);
  sp_ppo* p = a->p;
  if (p->t != 0 || p->pending)
    return luaL_error(L, "data_parallel: a rollout is half collected (call it before collecting)");
  lua_getglobal(L, "require");
  lua_pushstring(L, "spinal.mpi");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "rank");
  lua_call(L, 0, 1);
  lua_getfield(L, -2, "size");
  lua_call(L, 0, 1);
  int rank = (int)lua_tointeger(L, -2), size = (int)lua_tointeger(L, -1);
  lua_pop(L, 3);
  if (size > 1) {
    lua_getfield(L, LUA_REGISTRYINDEX, SPL_REDUCE_HOOK_KEY);
    const spL_reduce_hook* h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!h) return luaL_error(L, "data_parallel: spinal.mpi's reduction hook is missing");
    sp_ppo_set_reduce(p, h->sum, h->ctx);
    int rc = sp_ppo_share_params(p, rank == 0);
    if (rc) return luaL_error(L, "data_parallel: sharing rank 0's parameters: %s", sp_strerror(rc));
    sp_ppo_set_noise(p, a->seed, (uint64_t)rank);
  }
  a->rank = rank, a->size = size;
  lua_pushinteger(L, rank);
  lua_pushinteger(L, size);
  return 2;
}

// agent:collect(obs [, actions]) -> actions: step t of the rollout on raw observations
// (nenvs x nobs); actions sampled from the policy, or the given ones recorded
static int a_collect(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  lua_settop(L, 3);  // the scratch below goes above the arguments
  int n = p->cfg.nenvs, no = p->cfg.nobs, k = p->cfg.nact;
  char what[64];
  snprintf(what, sizeof what, "observations (%d x %d)", n, no);
  double* obs = spA_scratch(L, (size_t)n * no);
  spA_vector(L, 2, obs, (int64_t)n * no, what, 1);
  double* given = NULL;
  if (!lua_isnoneornil(L, 3)) {
    snprintf(what, sizeof what, "actions (%d x %d)", n, k);
    given = spA_scratch(L, (size_t)n * k);
    spA_vector(L, 3, given, (int64_t)n * k, what, 1);
  }
  int64_t shape[2] = {n, k};
  sp_array* out = spL_newarray(L, 2, shape);
  int rc = given ? sp_ppo_collect_given(p, given, obs) : sp_ppo_collect(p, out->data, obs);
  if (rc == SP_ESTATE)
    return luaL_error(
        L, "collect: %s",
        p->pending ? "the last step waits for record" : "the rollout is complete: call update");
  if (rc) return luaL_error(L, "collect: %s", sp_strerror(rc));
  if (given) memcpy(out->data, given, sizeof(double) * (size_t)n * k);
  return 1;
}

// agent:record(reward, done [, timeout]): the outcome (nenvs each) of the step just collected
static int a_record(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  lua_settop(L, 4);
  int n = p->cfg.nenvs;
  double* v = spA_scratch(L, 3 * (size_t)n);
  char what[64];
  snprintf(what, sizeof what, "rewards (%d)", n);
  spA_vector(L, 2, v, n, what, 1);
  snprintf(what, sizeof what, "done flags (%d)", n);
  spA_vector(L, 3, v + n, n, what, 1);
  double* to = NULL;
  if (!lua_isnoneornil(L, 4)) {
    snprintf(what, sizeof what, "time-out flags (%d)", n);
    to = v + 2 * n;
    spA_vector(L, 4, to, n, what, 1);
  }
  if (sp_ppo_record(p, v, v + n, to)) return luaL_error(L, "record: no collected step waits");
  return 0;
}

// agent:update(last_obs) -> stats: after nsteps collect/record pairs
static int a_update(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  lua_settop(L, 2);
  int n = p->cfg.nenvs, no = p->cfg.nobs;
  char what[64];
  snprintf(what, sizeof what, "observations (%d x %d)", n, no);
  double* obs = spA_scratch(L, (size_t)n * no);
  spA_vector(L, 2, obs, (int64_t)n * no, what, 1);
  int rc = sp_ppo_update(p, obs);
  if (rc == SP_ESTATE)
    return luaL_error(L, "update: the rollout has %d of %d steps", p->t, p->cfg.nsteps);
  if (rc) return luaL_error(L, "update: %s", sp_strerror(rc));
  push_stats(L, &p->stats);
  return 1;
}

// agent:params() -> a float64 copy of [actor | critic | log sigma]
static int a_params(lua_State* L) {
  sp_ppo* p = checkagent(L, 1)->p;
  int64_t n = (int64_t)p->nparams;
  sp_array* out = spL_newarray(L, 1, &n);
  for (int64_t i = 0; i < n; i++)
    out->data[i] = p->cfg.dtype == SP_F32 ? ((float*)p->params)[i] : ((double*)p->params)[i];
  return 1;
}

static int a_index(lua_State* L) {
  lagent* a = luaL_checkudata(L, 1, AGENT_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!a->p) return luaL_error(L, "attempt to use a closed agent");
  sp_ppo* p = a->p;
  if (!strcmp(k, "iteration"))
    lua_pushinteger(L, p->iteration);
  else if (!strcmp(k, "nparams"))
    lua_pushinteger(L, (lua_Integer)p->nparams);
  else if (!strcmp(k, "lr"))
    lua_pushnumber(L, p->opt->cfg.lr);
  else if (!strcmp(k, "rank"))
    lua_pushinteger(L, a->rank);
  else if (!strcmp(k, "ranks"))
    lua_pushinteger(L, a->size);
  else if (!strcmp(k, "stats"))
    push_stats(L, &p->stats);
  else if (!strcmp(k, "std")) {
    lua_createtable(L, p->cfg.nact, 0);
    for (int j = 0; j < p->cfg.nact; j++) {
      lua_pushnumber(L, exp(p->logstd[j]));
      lua_rawseti(L, -2, j + 1);
    }
  } else
    lua_pushnil(L);
  return 1;
}

static const luaL_Reg agent_methods[] = {{"iterate", a_iterate}, {"evaluate", a_evaluate},
                                         {"act", a_act},         {"data_parallel", a_data_parallel},
                                         {"collect", a_collect}, {"record", a_record},
                                         {"update", a_update},   {"params", a_params},
                                         {"close", a_gc},        {NULL, NULL}};

static const luaL_Reg functions[] = {{"new", a_new}, {"quadruped", e_new}, {NULL, NULL}};

int luaopen_spinal_ppo(lua_State* L) {
  spL_class(L, AGENT_MT, agent_methods, a_index, a_gc, a_tostring);
  spL_class(L, ENV_MT, env_methods, e_index, e_gc, e_tostring);
  luaL_newlib(L, functions);
  return 1;
}
