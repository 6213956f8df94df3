// hal_rollout.c: plant:rollout, a lockstep (or real-time) run of a plant under the safety filter
// with a C-side policy, returned as a table of arrays the estimators read.
//
//   local tr = plant:rollout(policy, { seconds = 21.5, x0 = ..., seed = 1, explore = false })
//                                          -- a spinal.policy acts in C inside the loop
//   local tr = plant:rollout(ctrl, { steps = 300, r = {...} })  -- a spinal.ctrl: kappa(x, r, K)
//   local tr = plant:rollout { steps = 500 (or seconds = 10), x0 = ..., seed = 3,
//                              policy = { K = K, x_ref = ..., u_ff = ... },  -- u = u_ff - K (x -
//                              x_ref) safe = {...}, u_min = {...}, u_max = {...}, rate_max = {...},
//                              watchdog = 0.1, realtime = false, stop_on_fault = false }
//   tr.t (n+1) tr.x (n+1, nx) tr.u (n, nu) tr.flags (n) tr.k (n) tr.n tr.dt tr.seed tr.robot
//   tr.backend tr.lost tr.data_seconds
//   on a mujoco plant also tr.qpos (n+1, nq): MuJoCo's configuration at every recorded state, and
//   tr.mjcf (the model file, an absolute path when it resolves): what `spinal render` draws
// The safety settings (safe, u_min, u_max, rate_max, watchdog, latch_faults, stop_on_fault) are
// read by the one safety parser (hal_safety.c). Everything the run owns (safety filter, loop,
// trajectory) hangs off a userdata made before any of it is acquired, so an error at any point,
// even while the result is marshalled into Lua, leaks nothing.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"
#include "engine/policy/policy.h"
#include "hal/backend_mujoco.h"
#include "hal/loop.h"
#include "hal_bind.h"

#define RUN_MT "spinal.hal.rollout"

// what one rollout owns; freed by its __gc (or at the end of the call)
typedef struct run {
  sp_safety* s;
  sp_loop* l;
  sp_traj tr;
  double* qpos;  // (rows x nq) a mujoco plant's configuration per tick, NaN where none was taken
} run;

static int run_gc(lua_State* L) {
  run* r = luaL_checkudata(L, 1, RUN_MT);
  sp_loop_free(r->l);
  sp_safety_free(r->s);
  sp_traj_free(&r->tr);
  sp_free(r->qpos);
  memset(r, 0, sizeof *r);
  return 0;
}

static run* newrun(lua_State* L) {
  run* r = lua_newuserdatauv(L, sizeof(run), 0);
  memset(r, 0, sizeof *r);
  if (luaL_newmetatable(L, RUN_MT)) {
    lua_pushcfunction(L, run_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return r;
}

// ---- policies the loop calls --------------------------------------------------------------------

typedef struct linear_policy {
  int nx, nu;
  const double *K, *x_ref, *u_ff;  // (nu x nx), (nx), (nu)
} linear_policy;

// u = u_ff - K (x - x_ref)
static int act_linear(void* user, double* u, const double* x, double t, long k) {
  const linear_policy* lp = user;
  (void)t, (void)k;
  for (int i = 0; i < lp->nu; i++) {
    double s = lp->u_ff[i];
    for (int j = 0; j < lp->nx; j++) s -= lp->K[i * lp->nx + j] * (x[j] - lp->x_ref[j]);
    u[i] = s;
  }
  return 0;
}

// a spinal.ctrl: u = kappa(x, r, K) with a constant reference r and the controller's own gains
typedef struct ctrl_act {
  const sp_ctrl* c;
  sp_ctrl_data* d;  // the controller userdata's workspace
  const double* r;  // (nr)
} ctrl_act;

static int act_ctrl(void* user, double* u, const double* x, double t, long k) {
  const ctrl_act* a = user;
  (void)t, (void)k;
  return sp_ctrl_act(a->c, a->d, u, x, a->r, NULL);
}

// on a mujoco plant: the acting policy wrapped to take MuJoCo's configuration at tick k first (the
// state the policy is given was read from it; nothing is allocated)
typedef struct qpos_act {
  sp_act_fn act;
  void* user;
  sp_plant* p;
  double* qpos;  // (rows x nq)
  long rows;
  int nq;
} qpos_act;

static int act_recording(void* user, double* u, const double* x, double t, long k) {
  const qpos_act* a = user;
  if (k >= 0 && k < a->rows) sp_plant_mujoco_qpos(a->p, a->qpos + (size_t)k * a->nq, a->nq);
  return a->act(a->user, u, x, t, k);
}

// tr.qpos (n+1 x nq): the row of each recorded tick (by its index k), then the final state's;
// tr.mjcf: the plant's file
static void push_qpos(lua_State* L, int out, const run* r, sp_plant* p, const qpos_act* qa) {
  const sp_traj* tr = &r->tr;
  int64_t shape[2] = {tr->n + 1, qa->nq};
  sp_array* a = spL_newarray(L, 2, shape);
  for (long i = 0; i < tr->n; i++) {
    long k = tr->k[i];
    for (int j = 0; j < qa->nq; j++)
      a->data[(size_t)i * qa->nq + j] =
          k >= 0 && k < qa->rows ? qa->qpos[(size_t)k * qa->nq + j] : NAN;
  }
  sp_plant_mujoco_qpos(p, a->data + (size_t)tr->n * qa->nq, qa->nq);
  lua_setfield(L, out, "qpos");
  const char* file = sp_plant_mujoco_file(p);
  char abs[PATH_MAX];
  lua_pushstring(L, realpath(file, abs) ? abs : file);
  lua_setfield(L, out, "mjcf");
}

// the acting object at argument 2 (a controller or a policy) sized for the plant; returns the
// index of the options table
static int check_actor(lua_State* L, int nx, int nu, sp_ctrl** ctl, sp_policy** pol) {
  if (luaL_testudata(L, 2, SP_CTRL_MT)) {
    *ctl = spL_checkctrl(L, 2);
    if ((*ctl)->nx != nx || (*ctl)->nu != nu)
      spA_argerror(L, 2,
                   "expected a controller with nx = %d, nu = %d (the plant's), got nx = %d, "
                   "nu = %d",
                   nx, nu, (*ctl)->nx, (*ctl)->nu);
    return 3;
  }
  if (lua_type(L, 2) == LUA_TUSERDATA) {
    *pol = spL_checkpolicy(L, 2);
    if ((*pol)->nx != nx || (*pol)->nu != nu)
      spA_argerror(L, 2,
                   "expected a policy with nx = %d, nu = %d (the plant's), got nx = %d, nu = %d",
                   nx, nu, (*pol)->nx, (*pol)->nu);
    return 3;
  }
  return 2;
}

// the linear feedback table opts.policy = { K, x_ref, u_ff } into lin's arrays (scratch)
static void parse_linear(const spA_table* t, int nx, int nu, linear_policy* lin) {
  lua_State* L = t->L;
  double* d = spA_scratch(L, (size_t)nu * nx + nx + nu);
  double *K = d, *x_ref = K + (size_t)nu * nx, *u_ff = x_ref + nx;
  if (lua_getfield(L, t->idx, "policy") != LUA_TTABLE)
    spA_fielderror(t, "policy",
                   "expected a table { K = (%d x %d), x_ref = (%d), u_ff = (%d) }, got %s", nu, nx,
                   nx, nu, luaL_typename(L, -1));
  spA_table pt = spA_nested(t, -1, "policy");
  if (!spA_field_vector(&pt, "K", K, (int64_t)nu * nx, 0))
    spA_fielderror(&pt, "K", "expected a %d x %d gain, got nil", nu, nx);
  spA_field_vector(&pt, "x_ref", x_ref, nx, 0);
  spA_field_vector(&pt, "u_ff", u_ff, nu, 0);
  lua_pop(L, 1);
  *lin = (linear_policy){nx, nu, K, x_ref, u_ff};
}

// the trajectory as a table of arrays (flags as numbers: exact for 32-bit values)
static void push_traj(lua_State* L, const sp_traj* tr) {
  lua_createtable(L, 0, 14);
  int out = lua_gettop(L);
  luaL_newmetatable(L, "spinal.traj");  // a name only, for help(traj) and type checks
  lua_setmetatable(L, out);
  int64_t shape[2] = {tr->n + 1, tr->nx};
  sp_array* a = spL_newarray(L, 1, shape);
  memcpy(a->data, tr->t, sizeof(double) * (size_t)(tr->n + 1));
  lua_setfield(L, out, "t");
  a = spL_newarray(L, 2, shape);
  if (tr->nx) memcpy(a->data, tr->x, sizeof(double) * (size_t)((tr->n + 1) * tr->nx));
  lua_pushvalue(L, -1);
  lua_setfield(L, out, "X");  // the estimators' names (spinal.grad) for the same arrays
  lua_setfield(L, out, "x");
  shape[0] = tr->n;
  shape[1] = tr->nu;
  a = spL_newarray(L, 2, shape);
  if (tr->n > 0 && tr->nu > 0) memcpy(a->data, tr->u, sizeof(double) * (size_t)(tr->n * tr->nu));
  lua_pushvalue(L, -1);
  lua_setfield(L, out, "U");
  lua_setfield(L, out, "u");
  sp_array* f = spL_newarray(L, 1, shape);
  for (long i = 0; i < tr->n; i++) f->data[i] = (double)tr->flags[i];
  lua_setfield(L, out, "flags");
  sp_array* ks = spL_newarray(L, 1, shape);
  for (long i = 0; i < tr->n; i++) ks->data[i] = (double)tr->k[i];
  lua_setfield(L, out, "k");
  lua_pushinteger(L, tr->n);
  lua_setfield(L, out, "n");
  lua_pushnumber(L, tr->dt);
  lua_setfield(L, out, "dt");
  lua_pushnumber(L, (double)tr->n * tr->dt);
  lua_setfield(L, out, "data_seconds");  // plant time this rollout used
  lua_pushinteger(L, (lua_Integer)tr->seed);
  lua_setfield(L, out, "seed");
  lua_pushinteger(L, (lua_Integer)tr->lost);
  lua_setfield(L, out, "lost");
  lua_pushstring(L, tr->robot);
  lua_setfield(L, out, "robot");
  lua_pushstring(L, tr->backend);
  lua_setfield(L, out, "backend");
}

// plant:rollout(opts) with opts.policy a linear feedback table, plant:rollout(policy, opts) with
// a spinal.policy, or plant:rollout(ctrl, opts) with a spinal.ctrl and opts.r; each acts in C
int spH_rollout(lua_State* L) {
  sp_plant* p = spH_checkplant(L, 1);
  const char* lua_model = spH_checklplant(L, 1)->lua_model;
  int nx = p->caps.nx, nu = p->caps.nu;
  sp_policy* pol = NULL;
  sp_ctrl* ctl = NULL;
  int o = check_actor(L, nx, nu, &ctl, &pol);
  spA_table t = spA_opts(L, o, 0);

  // every check before any side effect
  lua_Integer steps = spA_integer(&t, "steps", 0, 1, LUA_MAXINTEGER, 0);
  double seconds = spA_range(&t, "seconds", 0, 0, NAN, 0);
  if (steps == 0 && seconds == 0)
    spA_argerror(L, o, "expected field 'steps' (an integer > 0) or 'seconds' (a number > 0)");
  // refused up front when the trajectory could not fit in memory (it grows as the rollout runs)
  long max_steps = sp_loop_max_steps(nx, nu);
  if ((steps > 0 ? (double)steps : seconds * p->caps.rate_hz) > (double)max_steps)
    spA_fielderror(&t, steps > 0 ? "steps" : "seconds",
                   "%f is longer than this machine's memory allows: at most %I steps (%f s at %f "
                   "Hz)",
                   steps > 0 ? (double)steps : seconds, (lua_Integer)max_steps,
                   max_steps / p->caps.rate_hz, p->caps.rate_hz);
  uint64_t seed = (uint64_t)spA_integer(&t, "seed", 0, 0, LUA_MAXINTEGER, 0);
  int explore = spA_boolean(&t, "explore", 0);
  int realtime = spA_boolean(&t, "realtime", 0);
  if (realtime && lua_model)
    spA_fielderror(&t, "realtime",
                   "expected false for a model plant of '%s', a model written in Lua (it runs "
                   "only in lockstep: the real-time thread never calls Lua)",
                   lua_model);
  double* x0 = spA_scratch(L, (size_t)nx);
  int has_x0 = spA_field_vector(&t, "x0", x0, nx, 0);
  spH_safety sc;
  spH_safety_opts(&t, &p->caps, 1.0 / p->caps.rate_hz, 0, &sc);
  if (sc.safe_ctrl)
    spA_fielderror(&t, "safe_controller",
                   "expected nil (a rollout falls back to the constant safe command), got a "
                   "spinal.ctrl");
  linear_policy lin = {0};
  ctrl_act ca = {ctl, ctl ? spL_ctrldata(L, 2) : NULL, NULL};
  if (ctl) {
    double* r = spA_scratch(L, (size_t)ctl->nr);
    if (!spA_field_vector(&t, "r", r, ctl->nr, 0) && ctl->nr > 0)
      spA_fielderror(&t, "r", "expected the controller's reference (%d numbers), got nil", ctl->nr);
    ca.r = r;
  } else if (!pol) {
    parse_linear(&t, nx, nu, &lin);
  }
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    return spH_lifecycle_error(L, p, "rollout", SP_ESTATE);
  if (has_x0 && !p->caps.can_reset) {  // a robot over udp starts where it is
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < nx; i++) {
      lua_pushfstring(L, i ? ", %f" : "%f", x0[i]);
      luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return spA_fielderror(&t, "x0",
                          "%s plants cannot reset to x0: start the robot at (%s) or leave x0 out",
                          p->caps.backend, lua_tostring(L, -1));
  }

  // the owner of the run first (empty, safe to collect), then the safety filter and the loop
  run* r = newrun(L);
  sp_act_fn act = ctl       ? act_ctrl
                  : !pol    ? act_linear
                  : explore ? sp_policy_loop_sample
                            : sp_policy_loop_act;
  void* user = ctl ? (void*)&ca : pol ? (void*)spL_policydata(L, 2) : (void*)&lin;
  // a mujoco plant's configuration is recorded with every tick (for spinal render)
  qpos_act qa = {act, user, p, NULL, 0, sp_plant_mujoco_qpos(p, NULL, 0)};
  if (qa.nq > 0) {
    qa.rows = (steps > 0 ? (long)steps : lround(seconds * p->caps.rate_hz)) + 1;
    r->qpos = sp_malloc(sizeof(double) * (size_t)qa.rows * (size_t)qa.nq);
    if (!r->qpos) return spL_failure(L, "rollout: %s", sp_strerror(SP_ENOMEM));
    qa.qpos = r->qpos;
    act = act_recording;
    user = &qa;
  }
  sp_loop_config lc = {.mode = realtime ? SP_LOOP_REALTIME : SP_LOOP_LOCKSTEP,
                       .act = act,
                       .user = user,
                       .stop_on_fault = sc.stop_on_fault};
  char msg[256];
  if (sp_safety_new(&r->s, &sc.c, msg, sizeof msg)) return luaL_argerror(L, o, msg);
  if (sp_loop_new(&r->l, p, r->s, &lc, msg, sizeof msg)) return spL_failure(L, "rollout: %s", msg);
  sp_rollout_opts ro = {
      .steps = (long)steps, .seconds = seconds, .x0 = has_x0 ? x0 : NULL, .seed = seed};
  int rc = sp_loop_rollout(r->l, &r->tr, &ro);
  spL_model_check(L);
  if (rc) return spL_failure(L, "rollout: %s", sp_strerror(rc));
  push_traj(L, &r->tr);
  if (qa.qpos) push_qpos(L, lua_gettop(L), r, p, &qa);
  lua_pushcfunction(L, run_gc);  // free the run's memory now rather than at the next collection
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  return 1;
}
