// model_lua.c: models written in Lua (spinal.model.define): a registered sp_model_class whose f
// and f_jac call a Lua function f(x, u, p); Jacobians by forward-mode automatic differentiation
// (lua/spinal/model_ad.lua, spinal.autodiff: Griewank and Walther, Evaluating Derivatives, ch. 3).
//
// A Lua class is bound to the Lua state that defined it and to that state's OS thread:
// - f runs on a helper Lua thread of the defining state (anchored in its registry), so engine code
//   may call the class from any binding, inside any coroutine of that state;
// - a call from another OS thread (the HAL's real-time or bridge threads) never touches Lua: it
//   fills the outputs with NaN and counts the refusal; the hal binding refuses such uses up front;
// - once the defining state is closed, the class stays registered (the registry cannot forget a
//   class an instance may still hold) and its calls fill NaN.
// Errors never longjmp through engine frames: the trampoline runs everything under lua_pcall,
// fills the outputs with NaN on failure and records the first message in the class. Bindings that
// ran engine code call spL_model_check afterwards, which raises the recorded error in the caller's
// state ("my_car.f: models/my_car.lua:12: attempt to ...") and clears it.
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "engine/core/alloc.h"

#define LSTATE_MT "spinal.model.luastate"
#define MAXDIM 64  // states, actions, parameters each
#define MAXNAME 64

typedef struct lstate lstate;

typedef struct lclass {
  sp_model_class cls;  // first: the registry and every instance hold &cls
  lua_State* T;        // helper thread running f; NULL once the defining state closed
  lstate* owner;       // the defining state's record; NULL once it closed
  pthread_t thread;    // the only OS thread that may call into T
  int eval_ref;        // registry reference (defining state) of the evaluator closure
  atomic_int foreign;  // calls refused because they came from another thread
  int failed;          // 1: err holds the first error since the last check
  unsigned long seq;   // order of failure among the state's classes
  char err[768];
  struct lclass* next;  // the owner's list
  const char** names;   // (nx + nu + np) x_names, u_names, p_names
  double* p_default;    // (np)
  char doc[256];
} lclass;

struct lstate {
  lclass* classes;
  lua_State* T;  // helper thread (the userdata's user value keeps it alive)
  unsigned long seq;
};

static char lstate_key;
static atomic_int pending;  // classes (of any state) holding an error or refusals not yet raised

// ---- the trampolines ----------------------------------------------------------------------------

typedef struct call {
  lclass* c;
  double *xdot, *fx, *fu, *fp;  // values (nx), or the Jacobians (fu, fp NULL when not wanted)
  const double *x, *u, *p;
} call;

static void push_vec(lua_State* T, const double* v, int n) {
  lua_createtable(T, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(T, v[i]);
    lua_rawseti(T, -2, i + 1);
  }
}

// copy n numbers from the table at out, starting at its entry first + 1
static void copy_out(lua_State* T, int out, int first, double* dst, int n) {
  for (int i = 0; i < n; i++) {
    lua_rawgeti(T, out, first + i + 1);
    dst[i] = lua_tonumber(T, -1);
    lua_pop(T, 1);
  }
}

// runs protected on T: evaluate and copy the results out
static int run(lua_State* T) {
  call* k = lua_touserdata(T, 1);
  const sp_model_class* cls = &k->c->cls;
  int nx = cls->nx, nu = k->fu ? cls->nu : 0, np = k->fp ? cls->np : 0, jac = !k->xdot;
  lua_createtable(T, jac ? nx * (nx + nu + np) : nx, 0);  // index 2: the results
  lua_rawgeti(T, LUA_REGISTRYINDEX, k->c->eval_ref);
  push_vec(T, k->x, nx);
  push_vec(T, k->u, cls->nu);
  lua_createtable(T, 0, cls->np);
  for (int i = 0; i < cls->np; i++) {
    lua_pushnumber(T, k->p[i]);
    lua_setfield(T, -2, cls->p_names[i]);
  }
  lua_pushvalue(T, 2);
  lua_pushboolean(T, jac);
  lua_pushboolean(T, k->fu != NULL);
  lua_pushboolean(T, k->fp != NULL);
  if (lua_pcall(T, 7, 2, 0) != LUA_OK) {
    const char* msg = lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "(a non-string error)";
    const char* hint = jac && strstr(msg, "number expected, got spinal.dual")
                           ? " (a Lua model must use spinal.autodiff.math, which accepts duals)"
                           : "";
    lua_pushfstring(T, "%s.f: %s%s", cls->name, msg, hint);
    return lua_error(T);
  }
  if (!lua_toboolean(T, -2)) return lua_error(T);  // a result of the wrong shape, worded
  if (!jac) {
    copy_out(T, 2, 0, k->xdot, nx);
    return 0;
  }
  copy_out(T, 2, 0, k->fx, nx * nx);
  if (k->fu) copy_out(T, 2, nx * nx, k->fu, nx * nu);
  if (k->fp) copy_out(T, 2, nx * (nx + nu), k->fp, nx * np);
  return 0;
}

static void fill_nan(double* a, size_t n) {
  for (size_t i = 0; a && i < n; i++) a[i] = NAN;
}

// 1 when f may run now; else 0 (and a refusal from another thread is counted)
static int may_enter(lclass* c) {
  if (!c->T) return 0;
  if (!pthread_equal(pthread_self(), c->thread)) {
    if (atomic_fetch_add(&c->foreign, 1) == 0) atomic_fetch_add(&pending, 1);
    return 0;
  }
  return 1;
}

// An instruction limit on one call of f (as on loading a robot file, docs/robots.md): an endless
// loop in a model defined by a robot file ends in an error instead of hanging `spinal check`, the
// REPL or a rollout. A count hook on the helper thread counts millions of instructions; the hook
// the thread had (a Ctrl-C hook it inherited) still runs on count events.
#define F_HOOK_STEP 1000000
#define F_MAX_MILLIONS 50
static _Thread_local int f_millions;
static _Thread_local lua_Hook f_prev_hook;

static void f_limit_hook(lua_State* T, lua_Debug* ar) {
  if (f_prev_hook) f_prev_hook(T, ar);
  if (++f_millions > F_MAX_MILLIONS) {
    luaL_where(T, 0);  // the line of f that was running
    lua_pushfstring(T, "ran more than %d million Lua instructions in one call (an endless loop?)",
                    F_MAX_MILLIONS);
    lua_concat(T, 2);
    lua_error(T);
  }
}

// run f under lua_pcall on the helper thread; 0, or -1 after recording the error
static int invoke(lclass* c, call* k) {
  if (!may_enter(c)) return -1;
  lua_State* T = c->T;
  int top = lua_gettop(T);
  if (!lua_checkstack(T, 4)) return -1;
  lua_Hook hook = lua_gethook(T);
  int mask = lua_gethookmask(T), count = lua_gethookcount(T);
  lua_Hook saved_prev = f_prev_hook;
  int saved_millions = f_millions;
  f_prev_hook = hook && (mask & LUA_MASKCOUNT) && hook != f_limit_hook ? hook : NULL;
  f_millions = 0;
  lua_sethook(T, f_limit_hook, LUA_MASKCOUNT, F_HOOK_STEP);
  lua_pushcfunction(T, run);
  lua_pushlightuserdata(T, k);
  int rc = lua_pcall(T, 1, 0, 0);
  lua_sethook(T, hook, mask, count);
  f_prev_hook = saved_prev, f_millions = saved_millions;
  if (rc != LUA_OK && !c->failed) {
    const char* msg = lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "unknown error";
    snprintf(c->err, sizeof c->err, "%s", msg);
    c->failed = 1;
    c->seq = c->owner ? ++c->owner->seq : 0;
    atomic_fetch_add(&pending, 1);
  }
  lua_settop(T, top);
  return rc == LUA_OK ? 0 : -1;
}

static void lua_f(const sp_model* m, double* xdot, const double* x, const double* u,
                  const double* p) {
  lclass* c = (lclass*)m->cls;
  call k = {c, xdot, NULL, NULL, NULL, x, u, p};
  if (invoke(c, &k)) fill_nan(xdot, (size_t)c->cls.nx);
}

static void lua_f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                      const double* u, const double* p) {
  lclass* c = (lclass*)m->cls;
  int nx = c->cls.nx, nu = c->cls.nu, np = c->cls.np;
  call k = {c, NULL, fx, nu > 0 ? fu : NULL, np > 0 ? fp : NULL, x, u, p};
  if (invoke(c, &k)) {
    fill_nan(fx, (size_t)nx * nx);
    fill_nan(k.fu, (size_t)nx * nu);
    fill_nan(k.fp, (size_t)nx * np);
  }
}

int spL_model_is_lua(const sp_model_class* cls) {
  return cls && cls->f == lua_f;
}

// ---- per-state record ---------------------------------------------------------------------------

static lstate* find_state(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lstate_key);
  lstate* s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return s;
}

// the state closes: its classes stay registered but never call Lua again
static int lstate_gc(lua_State* L) {
  lstate* s = luaL_checkudata(L, 1, LSTATE_MT);
  for (lclass* c = s->classes; c; c = c->next) {
    if (c->failed) atomic_fetch_sub(&pending, 1);
    if (atomic_exchange(&c->foreign, 0)) atomic_fetch_sub(&pending, 1);
    c->failed = 0;
    c->T = NULL;
    c->owner = NULL;
  }
  s->classes = NULL;
  return 0;
}

static lstate* get_state(lua_State* L) {
  lstate* s = find_state(L);
  if (s) return s;
  s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  if (luaL_newmetatable(L, LSTATE_MT)) {
    lua_pushcfunction(L, lstate_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  s->T = lua_newthread(L);
  lua_setiuservalue(L, -2, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lstate_key);
  return s;
}

int spL_model_pending(lua_State* L) {
  if (atomic_load(&pending) == 0) return 0;
  lstate* s = find_state(L);
  if (!s) return 0;
  for (lclass* c = s->classes; c; c = c->next)
    if (c->failed || atomic_load(&c->foreign)) return 1;
  return 0;
}

void spL_model_check(lua_State* L) {
  if (!spL_model_pending(L)) return;
  lstate* s = find_state(L);
  lclass* first = NULL;
  int foreign = 0;
  const char* fname = NULL;
  for (lclass* c = s->classes; c; c = c->next) {
    int nf = atomic_exchange(&c->foreign, 0);
    if (nf) {
      atomic_fetch_sub(&pending, 1);
      if (!foreign) fname = c->cls.name, foreign = nf;
    }
    if (c->failed && (!first || c->seq < first->seq)) first = c;
  }
  luaL_where(L, 1);
  if (first)
    lua_pushstring(L, first->err);
  else
    lua_pushfstring(L,
                    "%s.f: called %d time(s) from another thread (a model written in Lua runs "
                    "only on the thread of the Lua state that defined it)",
                    fname, foreign);
  for (lclass* c = s->classes; c; c = c->next)
    if (c->failed) {
      c->failed = 0;
      atomic_fetch_sub(&pending, 1);
    }
  lua_concat(L, 2);
  lua_error(L);
}

int spL_model_usable(lua_State* L, const sp_model_class* cls) {
  if (!spL_model_is_lua(cls)) return 1;
  const lclass* c = (const lclass*)cls;
  return c->owner && c->owner == find_state(L);
}

// ---- define -------------------------------------------------------------------------------------

static const char* const define_keys[] = {"name",     "doc", "x",        "u",       "p",
                                          "defaults", "f",   "discrete", "replace", NULL};

static int define_error(lua_State* L, const char* fmt, const char* a, const char* b) {
  return spA_argerror(L, 1, "%s", lua_pushfstring(L, fmt, a, b));
}

// the list of names in field key (absent and allow_empty: 0 names) into names; returns the count
static int check_names(lua_State* L, const char* key, int allow_empty, const char** names) {
  int t = lua_getfield(L, 1, key);
  if (t == LUA_TNIL && allow_empty) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != LUA_TTABLE)
    define_error(L, "field '%s': expected a list of names, got %s", key, luaL_typename(L, -1));
  int n = (int)lua_rawlen(L, -1);
  if ((n < 1 && !allow_empty) || n > MAXDIM)
    spA_argerror(L, 1, "field '%s': expected a list of %d to %d names, got %d", key,
                 allow_empty ? 0 : 1, MAXDIM, n);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    size_t len;
    const char* s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!s || len == 0 || len >= MAXNAME)
      spA_argerror(L, 1, "field '%s[%d]': expected a name of 1 to %d characters, got %s", key,
                   i + 1, MAXNAME - 1, luaL_tolstring(L, -1, NULL));
    for (int j = 0; j < i; j++)
      if (!strcmp(names[j], s)) spA_argerror(L, 1, "field '%s': lists '%s' twice", key, s);
    names[i] = s;  // kept alive by the definition table
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

static int same_names(const char* const* a, const char* const* b, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(a[i], b[i])) return 0;
  return 1;
}

// one allocation for a class and its names
static lclass* new_class(const char* name, const char** names, int nx, int nu, int np) {
  size_t nn = (size_t)(nx + nu + np), chars = strlen(name) + 1;
  for (size_t i = 0; i < nn; i++) chars += strlen(names[i]) + 1;
  size_t size = sizeof(lclass) + nn * sizeof(char*) + (size_t)np * sizeof(double) + chars;
  lclass* c = sp_calloc(1, size);
  if (!c) return NULL;
  c->names = (const char**)(c + 1);
  c->p_default = (double*)(c->names + nn);
  char* q = (char*)(c->p_default + np);
  for (size_t i = 0; i < nn; i++) {
    c->names[i] = q;
    q += sprintf(q, "%s", names[i]) + 1;
  }
  c->cls.name = q;
  sprintf(q, "%s", name);
  c->cls.nx = nx, c->cls.nu = nu, c->cls.np = np;
  c->cls.x_names = c->names;
  c->cls.u_names = c->names + nx;
  c->cls.p_names = c->names + nx + nu;
  c->cls.p_default = c->p_default;
  c->cls.doc = c->doc;
  c->cls.f = lua_f;
  c->cls.f_jac = lua_f_jac;
  atomic_init(&c->foreign, 0);
  return c;
}

static void push_info(lua_State* L, const char* name) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "spinal.model");
  lua_getfield(L, -1, "info");
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
}

// M.define { name =, doc =, x =, u =, p =, defaults =, f =, discrete =, replace = }
int spL_model_define(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  // keys first
  spA_table t = spA_opts(L, 1, 0);
  spA_check_keys(&t, define_keys);
  lua_getfield(L, 1, "name");
  size_t len;
  const char* name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (!name || len == 0 || len >= MAXNAME)
    define_error(L, "field 'name': expected a string of 1 to 63 characters, got %s",
                 luaL_tolstring(L, -1, NULL), "");
  lua_getfield(L, 1, "f");
  if (!lua_isfunction(L, -1))
    define_error(L, "field 'f': expected a function f(x, u, p), got %s", luaL_typename(L, -1), "");
  int f_idx = lua_gettop(L) - 0;
  const char* names[3 * MAXDIM];
  int nx = check_names(L, "x", 0, names);
  int nu = check_names(L, "u", 1, names + nx);
  int np = check_names(L, "p", 1, names + nx + nu);
  double p_default[MAXDIM];
  int dt = lua_getfield(L, 1, "defaults");
  if (dt != LUA_TNIL && dt != LUA_TTABLE)
    define_error(L, "field 'defaults': expected a table of parameter values by name, got %s",
                 luaL_typename(L, -1), "");
  for (int i = 0; i < np; i++) {
    if (dt != LUA_TTABLE || lua_getfield(L, -1, names[nx + nu + i]) != LUA_TNUMBER)
      define_error(L,
                   "field 'defaults.%s': expected a number (every parameter in p needs a "
                   "default), got %s",
                   names[nx + nu + i], dt == LUA_TTABLE ? luaL_typename(L, -1) : "nil");
    p_default[i] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  if (dt == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      int ok = 0;
      for (int i = 0; i < np && !ok; i++)
        ok = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), names[nx + nu + i]);
      if (!ok)
        define_error(L, "field 'defaults.%s': not a parameter listed in p%s",
                     luaL_tolstring(L, -1, NULL), "");
    }
  }
  lua_pop(L, 1);
  int discrete = spA_boolean(&t, "discrete", 0), replace = spA_boolean(&t, "replace", 0);
  const char* doc = spA_string(&t, "doc", "a model written in Lua", 0);

  // an existing name: replaced only when asked, only a Lua class of this state, same shape
  const sp_model_class* old = sp_model_find(name);
  lclass* c = NULL;
  if (old) {
    if (!spL_model_is_lua(old))
      luaL_error(L,
                 "define: model '%s' is already defined (a built-in C model); choose "
                 "another name",
                 name);
    c = (lclass*)old;
    if (!replace)
      luaL_error(L,
                 "define: model '%s' is already defined; pass replace = true to replace its "
                 "function, defaults and doc",
                 name);
    if (c->owner && c->owner != find_state(L))
      luaL_error(L, "define: model '%s' belongs to another Lua state", name);
    if (old->nx != nx || old->nu != nu || old->np != np || !same_names(old->x_names, names, nx) ||
        !same_names(old->u_names, names + nx, nu) || !same_names(old->p_names, names + nx + nu, np))
      luaL_error(L,
                 "define: replacing model '%s' must keep its states, actions and parameters "
                 "(names and order); define a new name instead",
                 name);
  }

  // the evaluator closure, then every side effect
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal.model_ad");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "evaluator");
  lua_pushstring(L, name);
  lua_pushvalue(L, f_idx);
  lua_pushinteger(L, nx);
  lua_pushinteger(L, nu);
  lua_pushinteger(L, np);
  lua_createtable(L, np, 0);
  for (int i = 0; i < np; i++) {
    lua_pushstring(L, names[nx + nu + i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_call(L, 6, 1);
  lstate* s = get_state(L);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (!c) {
    c = new_class(name, names, nx, nu, np);
    if (!c) {
      luaL_unref(L, LUA_REGISTRYINDEX, ref);
      return spL_raise(L, SP_ENOMEM, "define");
    }
    int rc = sp_model_register(&c->cls);
    if (rc) {
      sp_free(c);
      luaL_unref(L, LUA_REGISTRYINDEX, ref);
      return luaL_error(
          L, "define: cannot register model '%s': %s", name,
          rc == SP_ERANGE ? "the registry is full (128 models)" : "the name was taken meanwhile");
    }
  } else if (c->owner) {
    luaL_unref(L, LUA_REGISTRYINDEX, c->eval_ref);
  }
  if (!c->owner) {  // new, or left by a closed state
    c->next = s->classes;
    s->classes = c;
  }
  c->eval_ref = ref;
  c->owner = s;
  c->T = s->T;
  c->thread = pthread_self();
  c->cls.discrete = discrete;
  memcpy(c->p_default, p_default, (size_t)np * sizeof(double));
  snprintf(c->doc, sizeof c->doc, "%s", doc);
  push_info(L, name);
  return 1;
}
