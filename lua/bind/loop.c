// loop.c: the Lua binding of the live control loop (require "spinal.loop"): a real-time loop
// (hal/loop.h) on its own thread over an open plant, with the robot's safety filter and a C-side
// policy, driven from Lua through the loop's command queue and double-buffered parameters.
//
//   local live = require "spinal.loop"
//   local loop = live.new(plant, { controller = robot.controller, reference = robot.reference,
//                                  safety = robot.safety, rate = robot.rate, robot = robot.name })
//   -- or { policy = pol, explore = false, safety = ... } for a spinal.policy
//   loop:start()                 -- the control thread runs, HELD: the safe command goes out
//   loop:resume()  loop:hold()  loop:estop()  loop:clear()  loop:stop()  loop:close()
//   loop:state()                 -- { k, t, x, u, flags, held, safe, estop, running }
//   loop:stats()                 -- ticks, missed deadlines, jitter p50/p99/max (us), rates, ...
//   loop:set_gains(K)  loop:gains()  loop:set_reference(r)  loop:reference()  (K, named: the
//   class's blocks by name)
//   loop:set_params(p)  loop:params()     -- the whole vector (a policy's theta)
//   loop:reset(x0)               -- reset a simulated plant at a tick boundary
//   loop:record(seconds)  loop:recording()  loop:save(dir)   -- every tick, NPY + CSV, and
//                                -- recording.json (robot, robot file, plant, names: what
//                                -- `spinal render DIR` needs to draw it)
//   loop:telemetry { host = "127.0.0.1", port = 9871, rate = 50 }   loop:telemetry(false)
//   loop.faults  loop.running  loop.rate  loop.nx  loop.nu  loop.robot
//
// The policy is a source with a C act function and a flat parameter vector; Lua never runs inside
// a tick. Sources: a controller of spinal.ctrl (u = kappa(x, r, K), parameters (K, r), any class:
// gains are found by the names the class gives them, hal/loop_ctrl.h), or a policy of
// spinal.policy (parameters theta). Either description is shared with Lua, read-only; the loop
// evaluates it in a workspace of its own, so calling the robot's controller or policy from Lua
// never races with the control thread (and the controller's limits cannot change under it).
#include "hal/loop.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/policy/policy.h"
#include "hal/log.h"
#include "hal/loop_ctrl.h"
#include "hal/safety.h"
#include "hal/telemetry.h"
#include "hal_bind.h"

#define LOOP_MT "spinal.loop"

typedef struct lloop lloop;

// a policy source: act on the current parameters (sp_loop_params), and a name for messages
typedef struct source {
  const char* kind;
  sp_act_fn act;
} source;

struct lloop {
  sp_loop* loop;  // NULL until created, and after close
  sp_safety* safety;
  const sp_ctrl* ctrl;   // the controller it drives (source "controller"; uservalue 2)
  sp_loop_ctrl cs;       // the controller source: the loop's workspace for ctrl
  int* ctrl_users;       // the controller userdata's count of loops driving it
  const sp_policy* pol;  // the policy it drives (source "policy"; uservalue 2)
  sp_policy_data* pd;    // the loop's workspace for pol (its theta: the loop's parameters)
  const sp_ctrl*
      safe_ctrl;            // the safe behaviour's controller (safety.safe_controller; uservalue 3)
  sp_ctrl_data* safe_data;  // the loop's workspace for it
  int* safe_users;          // its userdata's count of loops driving it
  double* safe_ref;         // (its nr) its reference, in the shadow allocation
  spL_plant* plant;
  sp_telemetry* tm;
  source src;
  int nx, nu, nr, nk, np;
  double rate;
  int started;      // the threads were started and not yet joined
  double* shadow;   // (np) parameters as last sent: K (nk), then r (nr)
  double* scratch;  // (nx + nu + np)
  char robot[64];
  char robot_file[1024];  // the robot file, for recording.json ("" when not given)
};

// ---- the policy source --------------------------------------------------------------------------

// the safe behaviour (hal/safety.h): the safe controller on the last finite state, in the loop's
// own workspace
static int act_safe(void* user, double* u, const double* x, double t) {
  (void)t;
  lloop* o = user;
  return sp_ctrl_act(o->safe_ctrl, o->safe_data, u, x, o->safe_ref, NULL) == SP_EINVAL;
}

// theta is the loop's parameter vector, read in place from the current buffer (stable for the
// tick): the shared policy's own theta is never written
static int act_policy(void* user, double* u, const double* x, double t, long k) {
  (void)k;
  lloop* o = user;
  o->pd->theta = sp_loop_params(o->loop);
  return sp_policy_act(o->pol, o->pd, u, x, t) == SP_EINVAL;
}

static int act_policy_sample(void* user, double* u, const double* x, double t, long k) {
  (void)k;
  lloop* o = user;
  o->pd->theta = sp_loop_params(o->loop);
  return sp_policy_sample(o->pol, o->pd, u, x, t) == SP_EINVAL;
}

// ---- helpers ------------------------------------------------------------------------------------

static lloop* checkloop(lua_State* L, int arg) {
  lloop* o = luaL_testudata(L, arg, LOOP_MT);
  if (!o)
    luaL_argerror(
        L, arg, lua_pushfstring(L, "expected a loop (spinal.loop), got %s", luaL_typename(L, arg)));
  if (!o->loop) luaL_argerror(L, arg, "expected an open loop, got a closed one");
  return o;
}

// join the threads of a loop that stopped by itself (a fault with stop_on_fault, or steps done)
static void reap(lloop* o) {
  if (o->started && !sp_loop_running(o->loop)) {
    sp_loop_wait(o->loop);
    o->started = 0;
  }
}

static void push_vec(lua_State* L, const double* v, int n) {
  int64_t shape[1] = {n};
  sp_array* a = spL_newarray(L, 1, shape);
  if (n) memcpy(a->data, v, sizeof(double) * (size_t)n);
}

static void set_num(lua_State* L, const char* k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}
static void set_int(lua_State* L, const char* k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}
static void set_bool(lua_State* L, const char* k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

// ---- live.new -----------------------------------------------------------------------------------

// the plant at 1: open, free, steppable from the real-time thread, configured
static spL_plant* check_plant(lua_State* L) {
  spL_plant* pl = spL_checkplant(L, 1);
  sp_plant* p = pl->p;
  if (pl->users > 0) luaL_argerror(L, 1, "expected a free plant, got one a live loop drives");
  if (pl->lua_model)
    spA_argerror(L, 1,
                 "expected a plant the real-time thread can step, got a model plant of '%s', a "
                 "model written in Lua (it runs only in lockstep)",
                 pl->lua_model);
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE)
    spA_argerror(L, 1, "expected a configured plant, got one %s", sp_plant_state_name(p->state));
  return pl;
}

// the loop's settings besides its source and safety
typedef struct loop_opts {
  double rate, log_s;
  int prio, cpu, explore;
  const char* robot;
  const char* robot_file;
} loop_opts;

static void check_opts(const spA_table* t, const sp_plant_caps* caps, loop_opts* o) {
  o->explore = spA_boolean(t, "explore", 0);
  o->rate = spA_range(t, "rate", caps->rate_hz, 0, 10000, 0);
  if (!(o->rate > 0)) spA_fielderror(t, "rate", "expected Hz in (0, 10000], got %f", o->rate);
  o->log_s = spA_range(t, "log_seconds", 2, 0, 600, 0);
  if (!(o->log_s > 0)) spA_fielderror(t, "log_seconds", "expected seconds in (0, 600]");
  o->prio = (int)spA_integer(t, "rt_priority", 0, 0, 99, 0);
  o->cpu = (int)spA_integer(t, "cpu", -1, -1, 1023, 0);
  o->robot = spA_string(t, "robot", NULL, 0);
  o->robot_file = spA_string(t, "robot_file", NULL, 0);
  if (o->robot_file && strlen(o->robot_file) >= 1024)
    spA_fielderror(t, "robot_file", "expected a path shorter than 1024 bytes");
}

// the source in field 'policy' (a spinal.policy) or 'controller' (a spinal.ctrl) of the options t,
// sized for the plant; both fields stay on the stack (at ipol, ictrl) while the loop is built
typedef struct loop_source {
  sp_policy* pol;
  sp_ctrl* c;
  int ipol, ictrl;
} loop_source;

static void check_source(const spA_table* t, int nx, int nu, loop_source* s) {
  lua_State* L = t->L;
  lua_getfield(L, t->idx, "policy");
  s->ipol = lua_gettop(L);
  s->pol = lua_isnil(L, s->ipol) ? NULL : spL_checkpolicy(L, s->ipol);
  lua_getfield(L, t->idx, "controller");
  s->ictrl = lua_gettop(L);
  if (!s->pol && lua_isnil(L, s->ictrl))
    spA_fielderror(t, "controller", "expected a spinal.ctrl (or field 'policy')");
  if (s->pol && !lua_isnil(L, s->ictrl))
    spA_argerror(L, t->arg, "expected field 'controller' or field 'policy', got both");
  s->c = s->pol ? NULL : spL_checkctrl(L, s->ictrl);
  int cnx = s->pol ? s->pol->nx : s->c->nx, cnu = s->pol ? s->pol->nu : s->c->nu;
  const char* kind = s->pol ? "policy" : "controller";
  if (cnx != nx || cnu != nu)
    spA_fielderror(t, kind,
                   "expected a %s for %d states and %d actions (the plant's), got %d and %d", kind,
                   nx, nu, cnx, cnu);
  if (s->pol && s->pol->nparams > (1u << 24))
    spA_fielderror(t, "policy", "too many parameters (%d)", (int)s->pol->nparams);
}

// live.new(plant, { controller =, reference =, gains =, safety = { safe =, u_min =, u_max =,
//   rate_max =, watchdog =, latch_faults =, stop_on_fault = }, rate =, log_seconds =,
//   rt_priority =, cpu =, robot =, robot_file = })
static int l_new(lua_State* L) {
  spL_plant* pl = check_plant(L);
  spA_table t = spA_opts(L, 2, 0);
  sp_plant* p = pl->p;
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  int nx = caps->nx, nu = caps->nu;

  // the policy source: a controller, or a policy (spinal.policy)
  loop_source ls;
  check_source(&t, nx, nu, &ls);
  sp_policy* pol = ls.pol;
  sp_ctrl* c = ls.c;
  int ipol = ls.ipol, ictrl = ls.ictrl;  // both stay on the stack while the loop is built
  int nr = pol ? 0 : c->nr, nk = pol ? (int)pol->nparams : c->nk, np = nk + nr;

  // every option checked before anything is built
  loop_opts lo;
  check_opts(&t, caps, &lo);
  double rate = lo.rate, log_s = lo.log_s;
  int explore = lo.explore;
  const char* robot = lo.robot;
  double* params = spA_scratch(L, (size_t)np);
  memcpy(params, pol ? sp_policy_params(pol) : c->K, sizeof(double) * (size_t)nk);
  if (!pol) {
    spA_field_vector(&t, "gains", params, nk, 1);
    spA_field_vector(&t, "reference", params + nk, nr, 1);
  }
  spA_table st = spA_subtable(&t, "safety", 1);
  spH_safety sc;
  spH_safety_opts(&st, caps, 1.0 / rate, 1, &sc);
  const sp_ctrl* sctl = sc.safe_ctrl;
  int snr = sctl ? sctl->nr : 0;

  // the userdata first (empty, safe to collect), then what it owns
  lloop* o = lua_newuserdatauv(L, sizeof(lloop), 3);
  memset(o, 0, sizeof *o);
  luaL_setmetatable(L, LOOP_MT);
  int io = lua_gettop(L);
  o->nx = nx;
  o->nu = nu;
  o->nr = nr;
  o->nk = nk;
  o->np = np;
  o->rate = rate;
  o->src = pol ? (source){"policy", explore ? act_policy_sample : act_policy}
               : (source){"controller", sp_loop_ctrl_act};
  snprintf(o->robot, sizeof o->robot, "%s", robot ? robot : caps->robot);
  if (!lo.robot_file || !realpath(lo.robot_file, o->robot_file))  // absolute when it exists
    snprintf(o->robot_file, sizeof o->robot_file, "%s", lo.robot_file ? lo.robot_file : "");
  char msg[256];
  o->shadow = sp_calloc((size_t)np + (size_t)nx + (size_t)nu + (size_t)np + (size_t)snr + 1,
                        sizeof(double));
  if (!o->shadow) return spL_raise(L, SP_ENOMEM, "loop");
  o->scratch = o->shadow + np;
  o->safe_ref = o->scratch + nx + nu + np;
  if (sctl) memcpy(o->safe_ref, sc.safe_ref, sizeof(double) * (size_t)snr);
  if (sctl) {
    // the safe controller runs in a workspace of the loop's; its userdata stays alive with it
    if (sp_ctrl_data_new(&o->safe_data, sctl)) return spL_raise(L, SP_ENOMEM, "loop");
    o->safe_ctrl = sctl;
    o->safe_users = spL_ctrl_users(L, sc.safe_ctrl_idx);
    (*o->safe_users)++;
    lua_pushvalue(L, sc.safe_ctrl_idx);
    lua_setiuservalue(L, io, 3);
  }
  memcpy(o->shadow, params, sizeof(double) * (size_t)np);
  if (pol) {
    // the policy runs in the loop's own workspace, its noise continuing the Lua workspace's
    // stream; the loop keeps the policy's userdata alive
    if (sp_policy_data_new(&o->pd, pol)) return spL_raise(L, SP_ENOMEM, "loop");
    o->pd->rng = spL_policydata(L, ipol)->rng;
    o->pol = pol;
    lua_pushvalue(L, ipol);
    lua_setiuservalue(L, io, 2);
  } else {
    // the controller likewise; while the loop lives it refuses set_limits and outlives a close
    if (sp_loop_ctrl_init(&o->cs, c)) return spL_raise(L, SP_ENOMEM, "loop");
    o->ctrl = c;
    o->ctrl_users = spL_ctrl_users(L, ictrl);
    (*o->ctrl_users)++;
    lua_pushvalue(L, ictrl);
    lua_setiuservalue(L, io, 2);
  }
  if (sctl) {
    sc.c.safe_act = act_safe;
    sc.c.safe_user = o;
  }
  if (sp_safety_new(&o->safety, &sc.c, msg, sizeof msg))
    return luaL_argerror(L, 2, lua_pushfstring(L, "field 'safety': %s", msg));
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME,
                       .rate_hz = rate,
                       .act = o->src.act,
                       .user = pol ? (void*)o : (void*)&o->cs,
                       .log_capacity = (size_t)fmax(1024, ceil(log_s * rate)),
                       .stop_on_fault = sc.stop_on_fault,
                       .start_held = 1,
                       .rt_priority = lo.prio,
                       .nparams = np,
                       .params = params,
                       .robot = o->robot,
                       .record_on_request = 1,
                       .pin_cpu = lo.cpu + 1};
  int rc = sp_loop_new(&o->loop, p, o->safety, &lc, msg, sizeof msg);
  if (rc) return luaL_error(L, "%s", msg);
  o->cs.loop = o->loop;
  // the plant stays alive and refuses direct use while this loop exists
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, io, 1);
  o->plant = pl;
  pl->users++;
  lua_settop(L, io);
  return 1;
}

// ---- lifecycle and commands ---------------------------------------------------------------------

// Loops start from one long-lived spawner thread, made at the first start: threads inherit their
// creator's scheduling priority, and the REPL on the robot lowers its own thread's priority once
// the loop runs (so a long command cannot crowd the control thread out); a loop restarted from
// the prompt must still get its control thread at the original priority.
static pthread_mutex_t spawn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawn_cv = PTHREAD_COND_INITIALIZER;
static int spawn_up, spawn_pending, spawn_rc;
static sp_loop* spawn_loop;

static void* spawner_main(void* arg) {
  (void)arg;
  pthread_mutex_lock(&spawn_mu);
  for (;;) {
    while (!spawn_pending) pthread_cond_wait(&spawn_cv, &spawn_mu);
    spawn_rc = sp_loop_start(spawn_loop, 0);
    spawn_pending = 0;
    pthread_cond_broadcast(&spawn_cv);
  }
  return NULL;
}

static int start_loop(sp_loop* l) {
  pthread_mutex_lock(&spawn_mu);
  if (!spawn_up) {
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&t, NULL, spawner_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
      pthread_mutex_unlock(&spawn_mu);
      return sp_loop_start(l, 0);  // no spawner: start from this thread
    }
    pthread_detach(t);
    spawn_up = 1;
  }
  while (spawn_pending) pthread_cond_wait(&spawn_cv, &spawn_mu);
  spawn_loop = l;
  spawn_pending = 1;
  pthread_cond_broadcast(&spawn_cv);
  while (spawn_pending) pthread_cond_wait(&spawn_cv, &spawn_mu);
  int rc = spawn_rc;
  pthread_mutex_unlock(&spawn_mu);
  return rc;
}

static void stop_telemetry(lloop* o) {
  sp_telemetry_free(o->tm);
  o->tm = NULL;
}

static int m_start(lua_State* L) {
  lloop* o = checkloop(L, 1);
  reap(o);
  if (o->started) return luaL_error(L, "loop:start(): the loop is already running");
  // start held: the hold command is applied before the first tick
  sp_loop_hold(o->loop);
  long k0 = -1, k = -1;
  sp_loop_latest(o->loop, NULL, NULL, NULL, &k0, NULL);
  int rc = start_loop(o->loop);
  if (rc == SP_ESTATE)
    return luaL_error(L, "loop:start(): the plant cannot be activated (it is %s)",
                      sp_plant_state_name(o->plant->p->state));
  if (rc) return spL_raise(L, rc, "loop:start()");
  o->started = 1;
  // the parameters as last sent, again: a swap queued just before a stop would otherwise be
  // applied at the restart over a later change made while stopped
  sp_loop_set_params(o->loop, o->shadow, o->np);
  // return once the first tick is out (up to 1 s), so state() describes the running loop
  for (int i = 0; i < 1000 && sp_loop_running(o->loop); i++) {
    if (sp_loop_latest(o->loop, NULL, NULL, NULL, &k, NULL) == 0 && k != k0) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  lua_settop(L, 1);
  return 1;
}

static int m_stop(lua_State* L) {
  lloop* o = checkloop(L, 1);
  if (o->started) {
    sp_loop_hold(o->loop);
    sp_loop_stop(o->loop);  // the control thread sends the safe command as it leaves
    o->started = 0;
  }
  lua_settop(L, 1);
  return 1;
}

// after hold/resume: wait (at most 1 s) for a tick that applied it, so what the caller sees next
// (loop:state(), the REPL's printout of the loop) already tells the new mode
static void wait_applied(lloop* o, int held) {
  long k0 = -1, k;
  uint32_t flags;
  sp_loop_latest(o->loop, NULL, NULL, NULL, &k0, NULL);
  for (int i = 0; i < 20000 && sp_loop_running(o->loop); i++) {
    if (sp_loop_latest(o->loop, NULL, NULL, NULL, &k, &flags) == 0 && k > k0 &&
        !(flags & SP_FLAG_HELD) == !held)
      return;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
}

static int m_hold(lua_State* L) {
  lloop* o = checkloop(L, 1);
  int rc = sp_loop_hold(o->loop);
  if (rc) return spL_raise(L, rc, "loop:hold()");
  if (o->started) wait_applied(o, 1);
  lua_settop(L, 1);
  return 1;
}

static int m_resume(lua_State* L) {
  lloop* o = checkloop(L, 1);
  reap(o);
  if (!o->started) return luaL_error(L, "loop:resume(): the loop is not running (loop:start())");
  int rc = sp_loop_resume(o->loop);
  if (rc) return spL_raise(L, rc, "loop:resume()");
  wait_applied(o, 0);
  lua_settop(L, 1);
  return 1;
}

static int m_estop(lua_State* L) {
  lloop* o = checkloop(L, 1);
  sp_loop_estop(o->loop);
  lua_settop(L, 1);
  return 1;
}

static int m_clear(lua_State* L) {
  lloop* o = checkloop(L, 1);
  sp_safety_clear(o->safety);
  lua_settop(L, 1);
  return 1;
}

static int m_reset(lua_State* L) {
  lloop* o = checkloop(L, 1);
  lua_settop(L, 2);
  double* x0 = NULL;
  if (!lua_isnil(L, 2)) {
    x0 = o->scratch;
    spA_vector(L, 2, x0, o->nx, "a state", 1);
  }
  reap(o);
  int rc = sp_loop_reset_plant(o->loop, x0);
  if (rc == SP_EUNSUPPORTED) return luaL_error(L, "loop:reset(): this plant cannot be reset");
  if (rc) return spL_raise(L, rc, "loop:reset()");
  lua_settop(L, 1);
  return 1;
}

static int m_close(lua_State* L) {
  lloop* o = luaL_checkudata(L, 1, LOOP_MT);
  stop_telemetry(o);
  if (o->loop) {
    if (o->started) sp_loop_hold(o->loop);
    sp_loop_free(o->loop);  // stops the threads: the plant gets the safe command
    o->loop = NULL;
    o->started = 0;
  }
  sp_safety_free(o->safety);
  o->safety = NULL;
  sp_loop_ctrl_release(&o->cs);
  if (o->ctrl_users) (*o->ctrl_users)--;
  o->ctrl_users = NULL;
  o->ctrl = NULL;
  sp_policy_data_free(o->pd);
  o->pd = NULL;
  sp_ctrl_data_free(o->safe_data);
  o->safe_data = NULL;
  if (o->safe_users) (*o->safe_users)--;
  o->safe_users = NULL;
  o->safe_ctrl = NULL;
  o->pol = NULL;
  sp_free(o->shadow);
  o->shadow = NULL;
  if (o->plant) {
    o->plant->users--;
    o->plant = NULL;
  }
  return 0;
}

// ---- reading ------------------------------------------------------------------------------------

static const struct {
  uint32_t bit;
  const char* name;
} flag_names[] = {
    {SP_FLAG_CLAMPED, "clamped"},
    {SP_FLAG_RATE_LIMITED, "rate_limited"},
    {SP_FLAG_NAN, "nan"},
    {SP_FLAG_WATCHDOG, "watchdog"},
    {SP_FLAG_ESTOP, "estop"},
    {SP_FLAG_POLICY_ERROR, "policy_error"},
    {SP_FLAG_SAFE, "safe"},
    {SP_FLAG_LATE, "late"},
    {SP_FLAG_DROPPED, "dropped"},
    {SP_FLAG_HELD, "held"},
    {SP_FLAG_WRITE_ERROR, "write_error"},
    {SP_FLAG_PLANT_WATCHDOG, "plant_watchdog"},
    {SP_FLAG_PLANT_SAFE_STOP, "plant_safe_stop"},
    {SP_FLAG_PLANT_ESTOP, "plant_estop"},
    {SP_FLAG_PLANT_FAULT, "plant_fault"},
};

// "safe held" for the set bits
static void push_flag_names(lua_State* L, uint32_t flags) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int n = 0;
  for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
    if (!(flags & flag_names[i].bit)) continue;
    if (n++) luaL_addchar(&b, ' ');
    luaL_addstring(&b, flag_names[i].name);
  }
  luaL_pushresult(&b);
}

// state() -> { k, t, x, u, flags, flag_names, held, safe, estop, running } or nil before a tick
static int m_state(lua_State* L) {
  lloop* o = checkloop(L, 1);
  reap(o);
  double* x = o->scratch;
  double* u = x + o->nx;
  double t;
  long k;
  uint32_t flags;
  int rc = sp_loop_latest(o->loop, x, u, &t, &k, &flags);
  if (rc == SP_ENOTFOUND) return spL_failure(L, "no tick yet (loop:start())");
  if (rc) return spL_raise(L, rc, "loop:state()");
  lua_createtable(L, 0, 10);
  set_int(L, "k", k);
  set_num(L, "t", t);
  push_vec(L, x, o->nx);
  lua_setfield(L, -2, "x");
  push_vec(L, u, o->nu);
  lua_setfield(L, -2, "u");
  set_int(L, "flags", flags);
  push_flag_names(L, flags);
  lua_setfield(L, -2, "flag_names");
  set_bool(L, "held", (flags & SP_FLAG_HELD) != 0);
  set_bool(L, "safe", (flags & SP_FLAG_SAFE) != 0);
  set_bool(L, "estop", sp_safety_estopped(o->safety));
  set_bool(L, "running", o->started);
  return 1;
}

static void push_triple(lua_State* L, const char* key, const char* a, double va, const char* b,
                        double vb, const char* c, double vc) {
  lua_createtable(L, 0, 3);
  set_num(L, a, va);
  set_num(L, b, vb);
  if (c) set_num(L, c, vc);
  lua_setfield(L, -2, key);
}

static int m_stats(lua_State* L) {
  lloop* o = checkloop(L, 1);
  reap(o);
  sp_loop_stats s;
  sp_loop_stats_get(o->loop, &s);
  lua_createtable(L, 0, 16);
  set_int(L, "ticks", (lua_Integer)s.ticks);
  set_int(L, "overruns", (lua_Integer)s.overruns);
  set_int(L, "missed", (lua_Integer)s.missed);
  set_int(L, "faults", (lua_Integer)s.faults);
  set_int(L, "log_overflows", (lua_Integer)s.log_overflows);
  set_bool(L, "sched_fifo", s.sched_fifo);
  set_num(L, "rate", o->rate);
  set_num(L, "rate_actual", s.period_mean_us > 0 ? 1e6 / s.period_mean_us : 0);
  lua_createtable(L, 0, 4);
  set_num(L, "mean", s.jitter_mean_us);
  set_num(L, "p50", s.jitter_p50_us);
  set_num(L, "p99", s.jitter_p99_us);
  set_num(L, "max", s.jitter_max_us);
  lua_setfield(L, -2, "jitter_us");
  push_triple(L, "period_us", "min", s.period_min_us, "mean", s.period_mean_us, "max",
              s.period_max_us);
  push_triple(L, "tick_us", "mean", s.tick_mean_us, "max", s.tick_max_us, NULL, 0);
  push_triple(L, "read_us", "mean", s.read_mean_us, "max", s.read_max_us, NULL, 0);
  push_triple(L, "write_us", "mean", s.write_mean_us, "max", s.write_max_us, NULL, 0);
  if (o->tm) {
    push_triple(L, "telemetry", "sent", (double)sp_telemetry_sent(o->tm), "dropped",
                (double)sp_telemetry_dropped(o->tm), NULL, 0);
  }
  return 1;
}

static const char* cause_why(int cause) {
  switch (cause) {
    case SP_CAUSE_ESTOP:
      return "e-stop latched (estop(), loop:estop() or Ctrl-C at the prompt); loop:clear() "
             "releases it";
    case SP_CAUSE_LATCHED:
      return "an earlier fault latched (safety.on_fault = \"hold\"); loop:clear() releases it";
    case SP_CAUSE_WATCHDOG:
      return "no new state from the plant within the watchdog time";
    case SP_CAUSE_NAN_STATE:
      return "the plant reported a NaN or infinite state";
    case SP_CAUSE_POLICY_ERROR:
      return "the policy failed to compute a command";
    case SP_CAUSE_NAN_COMMAND:
      return "the policy produced a NaN or infinite command";
  }
  return "no fault";
}

// faults: { count, first, first_t, why, estop, by_cause = { estop = n, ... } }
static void push_faults(lua_State* L, lloop* o) {
  sp_safety_stats s;
  sp_safety_stats_get(o->safety, &s);
  lua_createtable(L, 0, 6);
  set_int(L, "count", (lua_Integer)s.faults);
  lua_pushstring(L, sp_safety_cause_name((sp_safety_cause)s.first_cause));
  lua_setfield(L, -2, "first");
  if (s.first_cause != SP_CAUSE_NONE) set_num(L, "first_t", s.first_fault_t);
  lua_pushstring(L, cause_why(s.first_cause));
  lua_setfield(L, -2, "why");
  set_bool(L, "estop", sp_safety_estopped(o->safety));
  lua_createtable(L, 0, SP_CAUSE_COUNT);
  for (int c = 1; c < SP_CAUSE_COUNT; c++) {
    if (!s.by_cause[c]) continue;
    set_int(L, sp_safety_cause_name((sp_safety_cause)c), (lua_Integer)s.by_cause[c]);
  }
  lua_setfield(L, -2, "by_cause");
}

// ---- parameters ---------------------------------------------------------------------------------

static void send_params(lua_State* L, lloop* o, const char* what) {
  reap(o);
  int rc = sp_loop_set_params(o->loop, o->shadow, o->np);
  if (rc) spL_raise(L, rc, what);
}

// set_gains(K): nk numbers (an LQR gain as a nu x nx matrix), or named gains { kx = 0.5 } that
// change only those; applied between two ticks
static void check_ctrl_source(lua_State* L, lloop* o, const char* what) {
  if (!o->ctrl)
    luaL_error(L, "loop:%s(): this loop runs a policy; use loop:set_params(theta)", what);
}

static int m_set_gains(lua_State* L) {
  lloop* o = checkloop(L, 1);
  check_ctrl_source(L, o, "set_gains");
  lua_settop(L, 2);
  luaL_checkany(L, 2);
  double* K = o->scratch;  // nx + nu + np >= nk
  memcpy(K, o->shadow, sizeof(double) * (size_t)o->nk);
  int named = 0;
  if (lua_istable(L, 2)) {
    spA_table gt = spA_opts(L, 2, 0);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        // the block the controller's class names so: one number (every entry of a per-state or
        // per-action block) or the block's numbers
        const char* name = lua_tostring(L, -2);
        int count, i = sp_ctrl_gain_index(o->ctrl, name, &count, NULL);
        if (i < 0) {
          // name the gains the class has
          const sp_ctrl_class* cls = o->ctrl->cls;
          luaL_Buffer b;
          luaL_buffinit(L, &b);
          for (int j = 0; j < cls->ngains; j++) {
            if (j) luaL_addstring(&b, ", ");
            luaL_addstring(&b, cls->gains[j].name);
          }
          luaL_pushresult(&b);
          spA_argerror(L, 2, "unknown gain '%s' for a %s controller (its gains: %s)", name,
                       cls->name, lua_tostring(L, -1));
        }
        double v = lua_tonumber(L, -1);
        int rc = lua_type(L, -1) == LUA_TNUMBER
                     ? sp_loop_ctrl_set_gain(o->ctrl, K, name, &v, 1, NULL)
                     : SP_ESHAPE;
        if (rc == SP_ESHAPE) spA_field_vector(&gt, name, K + i, count, 1);
        if (rc == SP_EINVAL) spA_fielderror(&gt, name, "expected finite gains");
        named++;
      }
      lua_pop(L, 1);
    }
  }
  if (!named) spA_vector(L, 2, K, o->nk, "gains", 1);
  memcpy(o->shadow, K, sizeof(double) * (size_t)o->nk);
  send_params(L, o, "loop:set_gains()");
  lua_settop(L, 1);
  return 1;
}

// gains() -> K [, named]: the gains as last sent, and (a controller whose class names them) the
// same by name, { kx = 0.45, ... } or { kp = { ... }, kd = { ... } } or { K = { row, ... } }
static int m_gains(lua_State* L) {
  lloop* o = checkloop(L, 1);
  push_vec(L, o->shadow, o->nk);
  if (!o->ctrl || !o->ctrl->cls->ngains) return 1;
  spL_push_named(L, o->ctrl, 1, o->shadow);
  return 2;
}

static int m_set_reference(lua_State* L) {
  lloop* o = checkloop(L, 1);
  check_ctrl_source(L, o, "set_reference");
  lua_settop(L, 2);
  double* r = o->scratch;
  spA_vector(L, 2, r, o->nr, "a reference", 1);
  memcpy(o->shadow + o->nk, r, sizeof(double) * (size_t)o->nr);
  send_params(L, o, "loop:set_reference()");
  lua_settop(L, 1);
  return 1;
}

// set_params(p): the whole parameter vector (a policy's theta; a controller's K then r), applied
// between two ticks
static int m_set_params(lua_State* L) {
  lloop* o = checkloop(L, 1);
  lua_settop(L, 2);
  double* d = o->scratch;  // nx + nu + np doubles
  spA_vector(L, 2, d, o->np, "parameters", 1);
  memcpy(o->shadow, d, sizeof(double) * (size_t)o->np);
  send_params(L, o, "loop:set_params()");
  lua_settop(L, 1);
  return 1;
}

static int m_params(lua_State* L) {
  lloop* o = checkloop(L, 1);
  push_vec(L, o->shadow, o->np);
  return 1;
}

// reference() -> r [, named]: as gains(), for the reference's blocks
static int m_reference(lua_State* L) {
  lloop* o = checkloop(L, 1);
  push_vec(L, o->shadow + o->nk, o->nr);
  if (!o->ctrl || !o->ctrl->cls->nrefs) return 1;
  spL_push_named(L, o->ctrl, 0, o->shadow + o->nk);
  return 2;
}

// ---- recording ----------------------------------------------------------------------------------

static const char* rec_name(sp_loop_rec r) {
  static const char* const names[] = {"idle", "requested", "recording", "stopping", "done"};
  return names[r];
}

// record([seconds]): keep every tick from now on, for seconds (nil: until loop:save)
static int m_record(lua_State* L) {
  lloop* o = checkloop(L, 1);
  double s = luaL_optnumber(L, 2, 0);
  if (!(s >= 0) || s > 86400)
    luaL_argerror(L, 2, lua_pushfstring(L, "expected seconds in [0, 86400], got %f", s));
  reap(o);
  if (!o->started) return luaL_error(L, "loop:record(): the loop is not running (loop:start())");
  long ticks = s > 0 ? (long)fmax(1, llround(s * o->rate)) : 0;
  int rc = sp_loop_record(o->loop, ticks);
  if (rc == SP_ESTATE)
    return luaL_error(L, "loop:record(): a recording is already running (loop:save(dir) ends it)");
  if (rc) return spL_raise(L, rc, "loop:record()");
  lua_settop(L, 1);
  return 1;
}

// recording() -> { state = "recording", ticks = n, seconds = s, want = n }
static int m_recording(lua_State* L) {
  lloop* o = checkloop(L, 1);
  long n;
  sp_loop_rec r = sp_loop_record_state(o->loop, &n);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, rec_name(r));
  lua_setfield(L, -2, "state");
  set_int(L, "ticks", n);
  set_num(L, "seconds", (double)n / o->rate);
  return 1;
}

// create dir's missing parents (dir itself is made by sp_log_save); 0 or errno
static int make_parents(const char* dir) {
  char buf[1024];
  size_t n = strlen(dir);
  if (n >= sizeof buf) return ENAMETOOLONG;
  memcpy(buf, dir, n + 1);
  for (char* p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
    *p = '/';
  }
  return 0;
}

// a JSON string (quotes, backslashes and control characters escaped)
static void json_string(FILE* f, const char* s) {
  fputc('"', f);
  for (const unsigned char* c = (const unsigned char*)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

static void json_names(FILE* f, const char* const* names, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    json_string(f, names ? names[i] : "");
  }
  fputc(']', f);
}

// dir/recording.json: what the recording is of (the robot, its file, the plant), so that
// `spinal render DIR` can draw it (lua/spinal/render.lua)
static int save_info(const lloop* o, const char* dir, char* msg, size_t len) {
  char path[1200];
  snprintf(path, sizeof path, "%s/recording.json", dir);
  FILE* f = fopen(path, "w");
  if (!f) {
    snprintf(msg, len, "loop:save(): cannot write %.160s: %.60s", path, strerror(errno));
    return SP_EIO;
  }
  sp_plant* p = o->plant->p;
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  const char* mjcf = sp_plant_mujoco_file(p);
  fputs("{\n  \"kind\": \"loop\",\n  \"robot\": ", f);
  json_string(f, o->robot);
  fputs(",\n  \"robot_file\": ", f);
  if (o->robot_file[0])
    json_string(f, o->robot_file);
  else
    fputs("null", f);
  fputs(",\n  \"plant\": ", f);
  json_string(f, p->uri);
  fputs(",\n  \"backend\": ", f);
  json_string(f, caps->backend);
  fputs(",\n  \"mjcf\": ", f);
  if (mjcf)
    json_string(f, mjcf);
  else
    fputs("null", f);
  fprintf(f, ",\n  \"rate\": %.17g,\n  \"state\": ", o->rate);
  json_names(f, caps->x_names, o->nx);
  fputs(",\n  \"action\": ", f);
  json_names(f, caps->u_names, o->nu);
  fputs("\n}\n", f);
  if (fclose(f) != 0) {
    snprintf(msg, len, "loop:save(): cannot write %.200s", path);
    return SP_EIO;
  }
  return 0;
}

// save(dir [, wait]): finish the recording (a bounded one is waited for unless wait == false, or
// until Ctrl-C), write dir/{k,t,flags,x,u}.npy, dir/log.csv and dir/recording.json; returns dir,
// ticks, or nil, message
static int m_save(lua_State* L) {
  lloop* o = checkloop(L, 1);
  const char* dir = luaL_checkstring(L, 2);
  int wait = spA_optboolean(L, 3, 1);
  long n;
  sp_loop_rec r = sp_loop_record_state(o->loop, &n);
  if (r == SP_LOOP_REC_IDLE) return spL_failure(L, "nothing recorded (loop:record(seconds) first)");
  // a bounded recording runs to its end; a hook appearing on L means Ctrl-C: save what is there
  lua_Hook hook = lua_gethook(L);
  while (wait && o->started && sp_loop_running(o->loop) && lua_gethook(L) == hook) {
    r = sp_loop_record_state(o->loop, &n);
    if (r == SP_LOOP_REC_DONE) break;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  reap(o);
  int rc = sp_loop_record_stop(o->loop);
  if (rc) return spL_failure(L, "loop:save(): %s", sp_strerror(rc));
  char msg[256];
  sp_log* g = sp_loop_log(o->loop);
  long count = sp_log_count(g);
  int perr = make_parents(dir);
  if (perr)
    snprintf(msg, sizeof msg, "loop:save(): cannot create the parents of %s: %s", dir,
             strerror(perr));
  rc = perr ? SP_EIO : sp_log_save(g, dir, msg, sizeof msg);
  if (!rc) rc = save_info(o, dir, msg, sizeof msg);
  sp_loop_record_release(o->loop);
  if (rc) return spL_failure(L, "%s", msg);
  lua_pushstring(L, dir);
  lua_pushinteger(L, count);
  return 2;
}

// ---- telemetry ----------------------------------------------------------------------------------

// telemetry { host =, port =, rate = } starts (or restarts) the sender; telemetry(false) stops it
static int m_telemetry(lua_State* L) {
  lloop* o = checkloop(L, 1);
  if (lua_isboolean(L, 2) && !lua_toboolean(L, 2)) {
    stop_telemetry(o);
    lua_settop(L, 1);
    return 1;
  }
  spA_table t = spA_opts(L, 2, 1);
  const char* host = spA_string(&t, "host", "127.0.0.1", 0);
  int port = (int)spA_integer(&t, "port", SP_TELEMETRY_PORT, 1, 65535, 0);
  double rate = spA_range(&t, "rate", 50, 0, 1000, 0);
  if (!(rate > 0)) spA_fielderror(&t, "rate", "expected Hz in (0, 1000], got %f", rate);
  // JSON into the robot's own port would land among its commands: say so
  const char* uri = o->plant->p->uri;
  const char* colon = strrchr(uri, ':');
  if (!strncmp(uri, "udp://", 6) && colon && atoi(colon + 1) == port)
    fprintf(stderr,
            "spinal.loop: warning: telemetry port %d is the plant's (%s): the robot will drop "
            "the JSON as malformed; PlotJuggler usually listens on %d\n",
            port, uri, SP_TELEMETRY_PORT);
  const sp_plant_caps* caps = sp_plant_capabilities(o->plant->p);
  sp_telemetry_config tc = {.host = host,
                            .port = port,
                            .rate_hz = rate,
                            .nx = o->nx,
                            .nu = o->nu,
                            .x_names = caps->x_names,
                            .u_names = caps->u_names};
  stop_telemetry(o);
  char msg[256];
  if (sp_telemetry_new(&o->tm, o->loop, &tc, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_settop(L, 1);
  return 1;
}

// ---- metatable ----------------------------------------------------------------------------------

static int m_tostring(lua_State* L) {
  lloop* o = luaL_checkudata(L, 1, LOOP_MT);
  if (!o->loop) {
    lua_pushliteral(L, "spinal.loop (closed)");
    return 1;
  }
  reap(o);
  uint32_t flags = 0;
  int have = sp_loop_latest(o->loop, NULL, NULL, NULL, NULL, &flags) == 0;
  const char* what = !o->started && sp_safety_estopped(o->safety) ? "stopped, E-STOPPED"
                     : !o->started                                ? "stopped"
                     : !have                                      ? "starting"
                     : sp_safety_estopped(o->safety)              ? "running, E-STOPPED"
                     : have && (flags & SP_FLAG_HELD)             ? "running, held (safe command)"
                     : have && (flags & SP_FLAG_SAFE)             ? "running, safe command (fault)"
                                                                  : "running, policy acting";
  lua_pushfstring(L, "spinal.loop %s on %s at %f Hz, %s: %s", o->robot,
                  sp_plant_capabilities(o->plant->p)->backend, o->rate,
                  o->ctrl ? o->ctrl->cls->name : "policy", what);
  return 1;
}

static void push_names(lua_State* L, const char* const* names, int n, const char* prefix) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    if (names)
      lua_pushstring(L, names[i]);
    else
      lua_pushfstring(L, "%s%d", prefix, i);
    lua_rawseti(L, -2, i + 1);
  }
}

static int m_index(lua_State* L) {
  lloop* o = luaL_checkudata(L, 1, LOOP_MT);
  const char* k = lua_tostring(L, 2);
  if (k && o->loop) {
    const sp_plant_caps* caps = sp_plant_capabilities(o->plant->p);
    if (!strcmp(k, "faults")) return push_faults(L, o), 1;
    if (!strcmp(k, "running")) {
      reap(o);
      return lua_pushboolean(L, o->started), 1;
    }
    if (!strcmp(k, "rate")) return lua_pushnumber(L, o->rate), 1;
    if (!strcmp(k, "nx")) return lua_pushinteger(L, o->nx), 1;
    if (!strcmp(k, "nu")) return lua_pushinteger(L, o->nu), 1;
    if (!strcmp(k, "robot")) return lua_pushstring(L, o->robot), 1;
    if (!strcmp(k, "policy")) return lua_pushstring(L, o->src.kind), 1;
    if (!strcmp(k, "safe_command")) return push_vec(L, sp_safety_safe_command(o->safety), o->nu), 1;
    if (!strcmp(k, "x_names")) return push_names(L, caps->x_names, o->nx, "x"), 1;
    if (!strcmp(k, "u_names")) return push_names(L, caps->u_names, o->nu, "u"), 1;
  }
  lua_pushvalue(L, 2);
  lua_gettable(L, lua_upvalueindex(1));
  return 1;
}

static const luaL_Reg methods[] = {
    {"start", m_start},
    {"stop", m_stop},
    {"hold", m_hold},
    {"resume", m_resume},
    {"estop", m_estop},
    {"clear", m_clear},
    {"reset", m_reset},
    {"close", m_close},
    {"state", m_state},
    {"stats", m_stats},
    {"set_gains", m_set_gains},
    {"gains", m_gains},
    {"set_reference", m_set_reference},
    {"reference", m_reference},
    {"set_params", m_set_params},
    {"params", m_params},
    {"record", m_record},
    {"recording", m_recording},
    {"save", m_save},
    {"telemetry", m_telemetry},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"new", l_new},
    {NULL, NULL},
};

int luaopen_spinal_loop(lua_State* L) {
  // the method table, shared by every loop: also the module's `methods` (the REPL's completion,
  // and where Lua adds methods: spinal.live's loop:command)
  if (luaL_getsubtable(L, LUA_REGISTRYINDEX, "spinal.loop.methods")) {
    // already made
  } else {
    luaL_setfuncs(L, methods, 0);
  }
  int mt = lua_gettop(L);
  if (luaL_newmetatable(L, LOOP_MT)) {
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  // the method names, for the REPL's completion (the loop's __index is a function)
  lua_pushvalue(L, mt);
  lua_setfield(L, -2, "methods");
  return 1;
}
