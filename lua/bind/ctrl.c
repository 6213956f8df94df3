// ctrl.c: the Lua binding of engine/ctrl (require "spinal.ctrl"): differentiable controllers
// u = kappa(x, r, K) with their Jacobians and VJPs, and LQR design on explicit matrices.
//
//   local ctrl = require "spinal.ctrl"
//   local c = ctrl.tracker "car"                 -- or "quadruped"; ctrl.pd(n, kp, kd); ctrl.lqr(K)
//   local u = c:act(x, r)                        -- K optional third argument (default c:gains())
//   local Dx, Dr, DK = c:jac(x, r, K)            -- (nu, nx), (nu, nr), (nu, nk)
//   local gx, gr, gK = c:vjp(x, r, K, g)         -- J' g for g = dL/du; K may be nil
//   c.nx c.nu c.nr c.nk c.name  c:gains() c:set_gains(K) c:limits() c:set_limits(lo, hi)
//   c.gain_names c.ref_names                     -- the class's named blocks, e.g. { "kp", "kd" }
//   c.gain_blocks c.ref_blocks                   -- { { name = "kp", size = 2, kind = "action" } }
//   local K, named = c:gains()                   -- named: { kp = { ... }, kd = { ... } }
//   c:set_gains { kp = 2 }                       -- by name (a number fills a block), or named
//   c:saturated()                                -- booleans: which channels the last act clamped
//   local X = ctrl.dare(A, B, Q, R)               -- also ctrl.care; nil, message on failure
//   local K = ctrl.lqr_gain(A, B, Q, R, "discrete")  -- or "continuous"
//   local rho, alpha, re, im = ctrl.closed_loop(A, B, K)
//   local Ks = ctrl.tvlqr(A, B, Q, R, Qf)         -- A (T, nx, nx), B (T, nx, nu) -> (T, nu, nx)
// Vectors are arrays or tables of numbers of the right length (any shape with that many
// elements); matrices are 2-D arrays or nested tables. Results are new arrays.
#include "engine/ctrl/ctrl.h"

#include <math.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"
#include "engine/ctrl/lqr.h"
#include "engine/ctrl/tvlqr.h"
#include "engine/la/riccati.h"

#define CTRL_MT SP_CTRL_MT

typedef struct lctrl {
  sp_ctrl* c;       // NULL until created, and after close
  sp_ctrl_data* d;  // the Lua state's workspace for c, made on first use
  int users;        // live loops driving c (spinal.loop): c's limits stay put, c stays alive
  sp_ctrl* held;    // c after a close while loops drove it: freed when the userdata is collected
  double* buf;      // (nx + nr + nk + nu) gathered x, r, K, g
} lctrl;

// ---- argument helpers ---------------------------------------------------------------------------

// a vector argument of n elements (array of any shape or table), gathered into out
static void check_vec(lua_State* L, int arg, double* out, int64_t n, const char* what) {
  spA_vector(L, arg, out, n, what, 0);
}

// a matrix argument; rows, cols < 0 accept any extent and receive it. Returns the array.
static sp_array* check_mat(lua_State* L, int arg, int* rows, int* cols, const char* what) {
  sp_array* a = spL_toarray(L, arg);
  int ok = a->ndim == 2 && a->shape[0] >= 1 && a->shape[1] >= 1 && a->shape[0] <= 4096 &&
           a->shape[1] <= 4096 && (*rows < 0 || a->shape[0] == *rows) &&
           (*cols < 0 || a->shape[1] == *cols);
  if (!ok) {
    const char* want =
        lua_pushfstring(L, "(%s, %s)", *rows < 0 ? "n" : lua_pushfstring(L, "%d", *rows),
                        *cols < 0 ? "m" : lua_pushfstring(L, "%d", *cols));
    const char* got = a->ndim == 2
                          ? lua_pushfstring(L, "shape (%d, %d)", (int)a->shape[0], (int)a->shape[1])
                          : lua_pushfstring(L, "%d dimensions", a->ndim);
    luaL_argerror(L, arg, lua_pushfstring(L, "expected %s of shape %s, got %s", what, want, got));
  }
  *rows = (int)a->shape[0];
  *cols = (int)a->shape[1];
  return a;
}

// scratch that Lua collects: a full userdata of n doubles pushed on the stack
static double* scratch(lua_State* L, size_t n) {
  return lua_newuserdatauv(L, sizeof(double) * (n ? n : 1), 0);
}

static double* new_matrix(lua_State* L, int rows, int cols) {
  int64_t shape[2] = {rows, cols};
  return spL_newarray(L, 2, shape)->data;
}

// ---- the controller userdata --------------------------------------------------------------------

static lctrl* checkctrl(lua_State* L, int arg) {
  lctrl* u = luaL_checkudata(L, arg, CTRL_MT);
  if (!u->c) luaL_argerror(L, arg, "controller is closed");
  return u;
}

// the controller's workspace for calls from Lua, made on first use
static sp_ctrl_data* data_of(lua_State* L, lctrl* u) {
  if (!u->d && sp_ctrl_data_new(&u->d, u->c)) spL_raise(L, SP_ENOMEM, "ctrl");
  return u->d;
}

int* spL_ctrl_users(lua_State* L, int arg) {
  spL_checkctrl(L, arg);
  return &((lctrl*)lua_touserdata(L, arg))->users;
}

// refuse to change a controller a live loop reads
static void check_unused(lua_State* L, lctrl* u, const char* what) {
  if (u->users > 0)
    luaL_error(L, "ctrl:%s(): a live loop is running this controller (close the loop first)", what);
}

sp_ctrl_data* spL_ctrldata(lua_State* L, int arg) {
  spL_checkctrl(L, arg);
  return data_of(L, lua_touserdata(L, arg));
}

sp_ctrl* spL_checkctrl(lua_State* L, int arg) {
  lctrl* u = luaL_testudata(L, arg, CTRL_MT);
  if (!u)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a spinal.ctrl, got %s", luaL_typename(L, arg)));
  if (!u->c) luaL_argerror(L, arg, "expected a spinal.ctrl, got a closed controller");
  return u->c;
}

// push an empty userdata with room for the gather buffer, metatable set (safe to collect)
static lctrl* push_ctrl(lua_State* L, int nx, int nu, int nr, int nk) {
  size_t nbuf = (size_t)nx + nr + nk + nu;
  lctrl* u = lua_newuserdatauv(L, sizeof(lctrl) + sizeof(double) * nbuf, 0);
  u->c = NULL;
  u->d = NULL;
  u->users = 0;
  u->held = NULL;
  u->buf = (double*)(u + 1);
  luaL_setmetatable(L, CTRL_MT);
  return u;
}

static int l_tracker(lua_State* L) {
  static const char* const kinds[] = {"car", "quadruped", NULL};
  int kind = luaL_checkoption(L, 1, "car", kinds);
  lctrl* u = push_ctrl(L, 4, 2, 6, 6);
  int rc = sp_tracker_new(&u->c, kind ? SP_TRACKER_QUADRUPED : SP_TRACKER_CAR);
  if (rc) return spL_raise(L, rc, "tracker");
  return 1;
}

// gains for pd: nil (zeros), a number (every channel) or n values
static void check_gain(lua_State* L, int arg, double* out, int n, const char* what) {
  if (lua_isnoneornil(L, arg)) {
    for (int i = 0; i < n; i++) out[i] = 0;
  } else if (lua_type(L, arg) == LUA_TNUMBER) {
    for (int i = 0; i < n; i++) out[i] = lua_tonumber(L, arg);
  } else {
    check_vec(L, arg, out, n, what);
  }
}

static int l_pd(lua_State* L) {
  lua_settop(L, 3);  // missing arguments read as nil; scratch goes above them
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > 4096)
    luaL_argerror(L, 1, lua_pushfstring(L, "expected a joint count >= 1, got %d", (int)n));
  double* g = scratch(L, 2 * (size_t)n);
  check_gain(L, 2, g, (int)n, "kp");
  check_gain(L, 3, g + n, (int)n, "kd");
  lctrl* u = push_ctrl(L, 2 * (int)n, (int)n, 3 * (int)n, 2 * (int)n);
  int rc = sp_pd_new(&u->c, (int)n, g, g + n);
  if (rc) return spL_raise(L, rc, "pd");
  return 1;
}

static int l_lqr(lua_State* L) {
  lua_settop(L, 1);  // missing arguments read as nil; scratch goes above them
  int nu = -1, nx = -1;
  sp_array* K = check_mat(L, 1, &nu, &nx, "a gain K");
  double* k = scratch(L, (size_t)nu * nx);
  spA_gather(K, k);
  lctrl* u = push_ctrl(L, nx, nu, nx + nu, nx * nu);
  int rc = sp_lqr_new(&u->c, k, nx, nu);
  if (rc) return spL_raise(L, rc, "lqr");
  return 1;
}

// gather x (arg), r (arg + 1) and the optional K (arg + 2) into the buffer; returns K's pointer
static const double* gather_xrK(lua_State* L, lctrl* u, int arg) {
  sp_ctrl* c = u->c;
  double *x = u->buf, *r = x + c->nx, *K = r + c->nr;
  check_vec(L, arg, x, c->nx, "a state");
  check_vec(L, arg + 1, r, c->nr, "a reference");
  if (lua_isnoneornil(L, arg + 2)) return NULL;
  check_vec(L, arg + 2, K, c->nk, "gains");
  return K;
}

static int m_act(lua_State* L) {
  lua_settop(L, 4);  // missing arguments read as nil; scratch goes above them
  lctrl* u = checkctrl(L, 1);
  const double* K = gather_xrK(L, u, 2);
  sp_ctrl* c = u->c;
  int64_t shape[1] = {c->nu};
  sp_array* out = spL_newarray(L, 1, shape);
  sp_ctrl_act(c, data_of(L, u), out->data, u->buf, u->buf + c->nx,
              K);  // a NaN action is returned as NaN
  return 1;
}

static int m_jac(lua_State* L) {
  lua_settop(L, 4);  // missing arguments read as nil; scratch goes above them
  lctrl* u = checkctrl(L, 1);
  const double* K = gather_xrK(L, u, 2);
  sp_ctrl* c = u->c;
  double* Dx = new_matrix(L, c->nu, c->nx);
  double* Dr = new_matrix(L, c->nu, c->nr);
  double* DK = new_matrix(L, c->nu, c->nk);
  sp_ctrl_jac(c, data_of(L, u), Dx, Dr, DK, u->buf, u->buf + c->nx, K);
  return 3;
}

static int m_vjp(lua_State* L) {
  lua_settop(L, 5);  // missing arguments read as nil; scratch goes above them
  lctrl* u = checkctrl(L, 1);
  const double* K = gather_xrK(L, u, 2);
  sp_ctrl* c = u->c;
  double* g = u->buf + c->nx + c->nr + c->nk;
  check_vec(L, 5, g, c->nu, "an action gradient");
  int64_t sx[1] = {c->nx}, sr[1] = {c->nr}, sk[1] = {c->nk};
  double* gx = spL_newarray(L, 1, sx)->data;
  double* gr = spL_newarray(L, 1, sr)->data;
  double* gK = spL_newarray(L, 1, sk)->data;
  sp_ctrl_vjp(c, data_of(L, u), gx, gr, gK, u->buf, u->buf + c->nx, K, g);
  return 3;
}

static int m_gains(lua_State* L) {
  sp_ctrl* c = checkctrl(L, 1)->c;
  int64_t shape[1] = {c->nk};
  memcpy(spL_newarray(L, 1, shape)->data, c->K, sizeof(double) * (size_t)c->nk);
  if (!c->cls->ngains) return 1;
  spL_push_named(L, c, 1, c->K);
  return 2;
}

// set_gains(K): nk numbers (an LQR gain as a nu x nx matrix), or gains by the names the class
// gives them ({ kx = 0.5 }, { kp = { ... } }, { K = { row, ... } }, c:gains()'s second result)
// that change only those
static int m_set_gains(lua_State* L) {
  lua_settop(L, 2);  // missing arguments read as nil; scratch goes above them
  lctrl* u = checkctrl(L, 1);
  sp_ctrl* c = u->c;
  double* K = u->buf + c->nx + c->nr;
  int named = 0;
  if (lua_istable(L, 2)) {
    memcpy(K, c->K, sizeof(double) * (size_t)c->nk);
    spA_table gt = spA_opts(L, 2, 0);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        const char* name = lua_tostring(L, -2);
        int count = 0, matrix = 0, i = sp_ctrl_gain_index(c, name, &count, &matrix);
        if (i < 0) {
          luaL_Buffer b;
          luaL_buffinit(L, &b);
          for (int j = 0; j < c->cls->ngains; j++) {
            if (j) luaL_addstring(&b, ", ");
            luaL_addstring(&b, c->cls->gains[j].name);
          }
          luaL_pushresult(&b);
          spA_argerror(L, 2, "unknown gain '%s' for a %s controller (its gains: %s)", name,
                       c->cls->name, c->cls->ngains ? lua_tostring(L, -1) : "none named");
        }
        if (lua_type(L, -1) == LUA_TNUMBER && !matrix) {  // one number: every entry of the block
          double v = lua_tonumber(L, -1);
          if (!isfinite(v)) spA_fielderror(&gt, name, "expected a finite number, got %f", v);
          for (int j = 0; j < count; j++) K[i + j] = v;
        } else {
          spA_field_vector(&gt, name, K + i, count, 1);
        }
        named++;
      }
      lua_pop(L, 1);
    }
  }
  if (!named) check_vec(L, 2, K, c->nk, "gains");
  sp_ctrl_set_gains(c, K);
  lua_settop(L, 1);
  return 1;
}

static int m_limits(lua_State* L) {
  sp_ctrl* c = checkctrl(L, 1)->c;
  int64_t shape[1] = {c->nu};
  memcpy(spL_newarray(L, 1, shape)->data, c->lo, sizeof(double) * (size_t)c->nu);
  memcpy(spL_newarray(L, 1, shape)->data, c->hi, sizeof(double) * (size_t)c->nu);
  return 2;
}

// a limit: nil (none), a number (every channel) or nu values
static void check_limit(lua_State* L, int arg, double* out, int nu, double none) {
  if (lua_isnoneornil(L, arg)) {
    for (int i = 0; i < nu; i++) out[i] = none;
  } else if (lua_type(L, arg) == LUA_TNUMBER) {
    for (int i = 0; i < nu; i++) out[i] = lua_tonumber(L, arg);
  } else {
    check_vec(L, arg, out, nu, "limits");
  }
}

static int m_set_limits(lua_State* L) {
  lua_settop(L, 3);  // missing arguments read as nil; scratch goes above them
  check_unused(L, checkctrl(L, 1), "set_limits");
  sp_ctrl* c = checkctrl(L, 1)->c;
  double* lim = scratch(L, 2 * (size_t)c->nu);
  check_limit(L, 2, lim, c->nu, -INFINITY);
  check_limit(L, 3, lim + c->nu, c->nu, INFINITY);
  for (int i = 0; i < c->nu; i++)
    if (!(lim[i] <= lim[c->nu + i]))
      luaL_argerror(L, 3,
                    lua_pushfstring(L, "expected lo <= hi, got %f > %f on channel %d", lim[i],
                                    lim[c->nu + i], i + 1));
  sp_ctrl_set_limits(c, lim, lim + c->nu);
  lua_settop(L, 1);
  return 1;
}

static int m_saturated(lua_State* L) {
  lctrl* u = checkctrl(L, 1);
  sp_ctrl* c = u->c;
  sp_ctrl_data* d = data_of(L, u);
  lua_createtable(L, c->nu, 0);
  for (int i = 0; i < c->nu; i++) {
    lua_pushboolean(L, d->saturated[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static void release(lctrl* u) {
  sp_ctrl_data_free(u->d);
  u->d = NULL;
  sp_ctrl_free(u->c);
  u->c = NULL;
  sp_ctrl_free(u->held);
  u->held = NULL;
}

// close (and __close): closed for Lua at once; a controller a live loop runs is freed only when
// the userdata is collected (the loop keeps it alive until the loop is gone)
static int m_close(lua_State* L) {
  lctrl* u = luaL_checkudata(L, 1, CTRL_MT);
  if (u->users > 0 && u->c) {
    u->held = u->c;
    u->c = NULL;
    return 0;
  }
  release(u);
  return 0;
}

static int m_gc(lua_State* L) {
  release(luaL_checkudata(L, 1, CTRL_MT));
  return 0;
}

static int m_tostring(lua_State* L) {
  lctrl* u = luaL_checkudata(L, 1, CTRL_MT);
  if (!u->c)
    lua_pushliteral(L, "spinal.ctrl (closed)");
  else
    lua_pushfstring(L, "spinal.ctrl %s (nx %d, nu %d, nr %d, nk %d)", u->c->cls->name, u->c->nx,
                    u->c->nu, u->c->nr, u->c->nk);
  return 1;
}

// the names of a class's blocks as a list
static void push_blocks(lua_State* L, const sp_ctrl_block* b, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, b[i].name);
    lua_rawseti(L, -2, i + 1);
  }
}

// a class's blocks as a list of { name =, size =, kind = } for this controller's sizes: kind is
// "state" (nx entries), "action" (nu), "matrix" (nu x nx, row-major) or "fixed"
static void push_block_info(lua_State* L, const sp_ctrl* c, const sp_ctrl_block* b, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, b[i].name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, sp_ctrl_block_size(c, &b[i]));
    lua_setfield(L, -2, "size");
    lua_pushstring(L, b[i].size == SP_CTRL_PER_STATE    ? "state"
                      : b[i].size == SP_CTRL_PER_ACTION ? "action"
                      : b[i].size == SP_CTRL_MATRIX     ? "matrix"
                                                        : "fixed");
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, i + 1);
  }
}

void spL_push_named(lua_State* L, const sp_ctrl* c, int gains, const double* v) {
  const sp_ctrl_block* b = gains ? c->cls->gains : c->cls->refs;
  int n = gains ? c->cls->ngains : c->cls->nrefs;
  lua_createtable(L, 0, n);
  for (int i = 0, k = 0; i < n; i++) {
    int size = sp_ctrl_block_size(c, &b[i]);
    if (b[i].size == 1) {
      lua_pushnumber(L, v[k]);
    } else if (b[i].size == SP_CTRL_MATRIX) {
      lua_createtable(L, c->nu, 0);
      for (int r = 0; r < c->nu; r++) {
        lua_createtable(L, c->nx, 0);
        for (int j = 0; j < c->nx; j++) {
          lua_pushnumber(L, v[k + r * c->nx + j]);
          lua_rawseti(L, -2, j + 1);
        }
        lua_rawseti(L, -2, r + 1);
      }
    } else {
      lua_createtable(L, size, 0);
      for (int j = 0; j < size; j++) {
        lua_pushnumber(L, v[k + j]);
        lua_rawseti(L, -2, j + 1);
      }
    }
    lua_setfield(L, -2, b[i].name);
    k += size;
  }
}

// fields nx, nu, nr, nk, name, gain_names, ref_names, gain_blocks, ref_blocks; otherwise the
// methods table (upvalue 1)
static int m_index(lua_State* L) {
  lctrl* u = luaL_checkudata(L, 1, CTRL_MT);
  const char* k = lua_tostring(L, 2);
  if (k && u->c) {
    if (!strcmp(k, "nx")) return lua_pushinteger(L, u->c->nx), 1;
    if (!strcmp(k, "nu")) return lua_pushinteger(L, u->c->nu), 1;
    if (!strcmp(k, "nr")) return lua_pushinteger(L, u->c->nr), 1;
    if (!strcmp(k, "nk")) return lua_pushinteger(L, u->c->nk), 1;
    if (!strcmp(k, "name")) return lua_pushstring(L, u->c->cls->name), 1;
    const sp_ctrl_class* cls = u->c->cls;
    if (!strcmp(k, "gain_names")) return push_blocks(L, cls->gains, cls->ngains), 1;
    if (!strcmp(k, "ref_names")) return push_blocks(L, cls->refs, cls->nrefs), 1;
    if (!strcmp(k, "gain_blocks")) return push_block_info(L, u->c, cls->gains, cls->ngains), 1;
    if (!strcmp(k, "ref_blocks")) return push_block_info(L, u->c, cls->refs, cls->nrefs), 1;
  }
  lua_pushvalue(L, 2);
  lua_gettable(L, lua_upvalueindex(1));
  return 1;
}

// ---- design on matrices -------------------------------------------------------------------------

// A (n, n), B (n, m), Q (n, n), R (m, m) at args 1..4 gathered into one scratch block
static double* check_abqr(lua_State* L, int* nx, int* nu) {
  int n = -1, m = -1;
  sp_array* A = check_mat(L, 1, &n, &m, "A");
  if (n != m) luaL_argerror(L, 1, lua_pushfstring(L, "expected a square A, got (%d, %d)", n, m));
  m = -1;
  sp_array* B = check_mat(L, 2, &n, &m, "B");
  int q = n;
  sp_array* Q = check_mat(L, 3, &n, &q, "Q");
  int r = m;
  sp_array* R = check_mat(L, 4, &m, &r, "R");
  double* w = scratch(L, 2 * (size_t)n * n + (size_t)n * m + (size_t)m * m);
  spA_gather(A, w);
  spA_gather(B, w + (size_t)n * n);
  spA_gather(Q, w + (size_t)n * n + (size_t)n * m);
  spA_gather(R, w + 2 * (size_t)n * n + (size_t)n * m);
  *nx = n;
  *nu = m;
  return w;
}

// argument errors raise; numerical outcomes (no stabilising solution) return nil, message
static int design_result(lua_State* L, int rc, const char* what) {
  if (rc == SP_EINVAL || rc == SP_ESHAPE || rc == SP_ENOMEM) return spL_raise(L, rc, what);
  return spL_failure(L, "%s: %s", what, sp_strerror(rc));
}

static int riccati(lua_State* L, int continuous) {
  lua_settop(L, 4);  // missing arguments read as nil; scratch goes above them
  int nx, nu;
  double* w = check_abqr(L, &nx, &nu);
  double *A = w, *B = A + (size_t)nx * nx, *Q = B + (size_t)nx * nu, *R = Q + (size_t)nx * nx;
  double* X = new_matrix(L, nx, nx);
  int rc = continuous ? sp_care_solve(X, A, B, Q, R, nx, nu) : sp_dare_solve(X, A, B, Q, R, nx, nu);
  return rc ? design_result(L, rc, continuous ? "care" : "dare") : 1;
}

static int l_dare(lua_State* L) {
  return riccati(L, 0);
}
static int l_care(lua_State* L) {
  return riccati(L, 1);
}

static int l_lqr_gain(lua_State* L) {
  lua_settop(L, 5);  // missing arguments read as nil; scratch goes above them
  static const char* const modes[] = {"discrete", "continuous", NULL};
  int mode = luaL_checkoption(L, 5, "discrete", modes);
  int nx, nu;
  double* w = check_abqr(L, &nx, &nu);
  double *A = w, *B = A + (size_t)nx * nx, *Q = B + (size_t)nx * nu, *R = Q + (size_t)nx * nx;
  double* K = new_matrix(L, nu, nx);
  int rc = mode ? sp_lqr_gain_continuous(K, A, B, Q, R, nx, nu)
                : sp_lqr_gain_discrete(K, A, B, Q, R, nx, nu);
  return rc ? design_result(L, rc, "lqr_gain") : 1;
}

static int l_closed_loop(lua_State* L) {
  lua_settop(L, 3);  // missing arguments read as nil; scratch goes above them
  int n = -1, m = -1;
  sp_array* A = check_mat(L, 1, &n, &m, "A");
  if (n != m) luaL_argerror(L, 1, lua_pushfstring(L, "expected a square A, got (%d, %d)", n, m));
  m = -1;
  sp_array* B = check_mat(L, 2, &n, &m, "B");
  int nx = n;
  sp_array* K = check_mat(L, 3, &m, &nx, "K");
  double* w = scratch(L, (size_t)n * n + 2 * (size_t)n * m);
  spA_gather(A, w);
  spA_gather(B, w + (size_t)n * n);
  spA_gather(K, w + (size_t)n * n + (size_t)n * m);
  int64_t shape[1] = {n};
  double rho, alpha;
  double* re = spL_newarray(L, 1, shape)->data;
  double* im = spL_newarray(L, 1, shape)->data;
  int rc = sp_lqr_closed_loop(re, im, &rho, &alpha, w, w + (size_t)n * n,
                              w + (size_t)n * n + (size_t)n * m, n, m);
  if (rc) return design_result(L, rc, "closed_loop");
  lua_pushnumber(L, rho);
  lua_pushnumber(L, alpha);
  lua_rotate(L, -4, 2);  // rho, alpha, re, im
  return 4;
}

static int l_tvlqr(lua_State* L) {
  lua_settop(L, 5);  // missing arguments read as nil; scratch goes above them
  sp_array* A = spL_toarray(L, 1);
  if (A->ndim != 3 || A->shape[0] < 1 || A->shape[1] < 1 || A->shape[1] != A->shape[2] ||
      A->shape[1] > 4096)
    luaL_argerror(L, 1, "expected A of shape (T, nx, nx)");
  int T = (int)A->shape[0], nx = (int)A->shape[1];
  sp_array* B = spL_toarray(L, 2);
  if (B->ndim != 3 || B->shape[0] != T || B->shape[1] != nx || B->shape[2] < 1 ||
      B->shape[2] > 4096)
    luaL_argerror(L, 2, lua_pushfstring(L, "expected B of shape (%d, %d, nu)", T, nx));
  int nu = (int)B->shape[2], q = nx, r = nu, f = nx, f2 = nx;
  sp_array* Q = check_mat(L, 3, &q, &f2, "Q");
  sp_array* R = check_mat(L, 4, &r, &nu, "R");
  f2 = nx;
  sp_array* Qf = check_mat(L, 5, &f, &f2, "Qf");
  size_t n2 = (size_t)nx * nx, nm = (size_t)nx * nu;
  double* w = scratch(L, (size_t)T * (n2 + nm) + 2 * n2 + (size_t)nu * nu);
  double *a = w, *b = a + (size_t)T * n2, *qq = b + (size_t)T * nm, *qf = qq + n2, *rr = qf + n2;
  spA_gather(A, a);
  spA_gather(B, b);
  spA_gather(Q, qq);
  spA_gather(Qf, qf);
  spA_gather(R, rr);
  int64_t shape[3] = {T, nu, nx};
  double* K = spL_newarray(L, 3, shape)->data;
  int rc = sp_tvlqr_solve(K, NULL, a, b, qq, rr, qf, T, nx, nu);
  return rc ? design_result(L, rc, "tvlqr") : 1;
}

static const luaL_Reg methods[] = {
    {"act", m_act},
    {"jac", m_jac},
    {"vjp", m_vjp},
    {"gains", m_gains},
    {"set_gains", m_set_gains},
    {"limits", m_limits},
    {"set_limits", m_set_limits},
    {"saturated", m_saturated},
    {"close", m_close},
    {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"tracker", l_tracker},
    {"pd", l_pd},
    {"lqr", l_lqr},
    {"dare", l_dare},
    {"care", l_care},
    {"lqr_gain", l_lqr_gain},
    {"closed_loop", l_closed_loop},
    {"tvlqr", l_tvlqr},
    {NULL, NULL},
};

int luaopen_spinal_ctrl(lua_State* L) {
  if (luaL_newmetatable(L, CTRL_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
