// task.c: the Lua binding of engine/task (require "spinal.task"): reference generators, the
// active circle, the cost reference vector and the progress estimate (docs/api/tasks_costs.md).
//
//   local T = require "spinal.task"
//   local task = T.figure_eight { radius = 1.5, period = 5.5 }
//   local r, drdt = task:eval(1.2)          -- arrays of 6: x, y, xdot, ydot, xddot, yddot
//   local ref = task:ref(1.2)               -- array of 10: r, then cx, cy, radius, dir
//   local s = task:progress(x, y, s_prev)   -- progress in [0, 1), hinted by the previous value
//   T.circle { center = { 0, 0 }, radius = 2, period = 8, dir = -1, angle0 = 0 }
//   T.lemniscate { a = 2, period = 10 }
//   T.sampled { t = { ... }, xy = { { x, y }, ... }, interp = "cubic", periodic = true }
//   T.sample(function(t) return x, y end, { t0 = 0, t1 = 10, n = 201, periodic = true })
#include "engine/task/task.h"

#include <math.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"

static sp_task* checktask(lua_State* L, int arg) {
  spL_handle* u = spL_tohandle(L, arg, SP_TASK_MT);
  if (!u) spA_argerror(L, arg, "expected a spinal.task, got %s", luaL_typename(L, arg));
  if (!u->obj) luaL_argerror(L, arg, "expected a spinal.task, got a closed task");
  return u->obj;
}

static int l_figure_eight(lua_State* L) {
  spA_table o = spA_opts(L, 1, 1);
  double R = spA_positive(&o, "radius", 1.5, 0), T = spA_positive(&o, "period", 5.5, 0);
  spL_handle* u = spL_newhandle(L, SP_TASK_MT);
  sp_task* obj = NULL;
  int rc = sp_task_figure_eight_new(&obj, R, T);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "figure_eight");
  return 1;
}

static int l_circle(lua_State* L) {
  spA_table o = spA_opts(L, 1, 1);
  double c[2] = {0, 0};
  spA_field_vector(&o, "center", c, 2, 1);
  double R = spA_positive(&o, "radius", 1.5, 0), T = spA_positive(&o, "period", 5.5, 0);
  int dir = (int)spA_integer(&o, "dir", 1, -1, 1, 0);
  if (dir == 0) spA_fielderror(&o, "dir", "expected 1 or -1, got 0");
  double a0 = spA_range(&o, "angle0", 0, NAN, NAN, 0);
  spL_handle* u = spL_newhandle(L, SP_TASK_MT);
  sp_task* obj = NULL;
  int rc = sp_task_circle_new(&obj, c[0], c[1], R, T, dir, a0);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "circle");
  return 1;
}

static int l_lemniscate(lua_State* L) {
  spA_table o = spA_opts(L, 1, 1);
  double a = spA_positive(&o, "a", 1.5, 0), T = spA_positive(&o, "period", 10, 0);
  spL_handle* u = spL_newhandle(L, SP_TASK_MT);
  sp_task* obj = NULL;
  int rc = sp_task_lemniscate_new(&obj, a, T);
  u->obj = obj;
  if (rc) return spL_raise(L, rc, "lemniscate");
  return 1;
}

static const char* const interps[] = {"linear", "cubic", NULL};

// interpolation and closure options shared by sampled and sample
static void interp_options(const spA_table* o, sp_task_interp* interp, int* periodic) {
  *interp = spA_option(o, "interp", 1, interps) ? SP_TASK_CUBIC : SP_TASK_LINEAR;
  *periodic = spA_boolean(o, "periodic", 0);
}

// the reason sp_task_sampled_new refused knots, in words
static int sampled_error(lua_State* L, const char* fname, const double* t, const double* xy, int n,
                         sp_task_interp interp, int periodic) {
  int nmin = interp == SP_TASK_LINEAR ? 2 : (periodic ? 4 : 3);
  if (n < nmin)
    return luaL_error(L, "%s: expected at least %d knots for %s%s interpolation, got %d", fname,
                      nmin, periodic ? "periodic " : "",
                      interp == SP_TASK_LINEAR ? "linear" : "cubic", n);
  for (int i = 0; i + 1 < n; i++)
    if (!(t[i + 1] > t[i]))
      return luaL_error(L, "%s: expected strictly increasing times, got t[%d] = %f after %f", fname,
                        i + 2, t[i + 1], t[i]);
  if (periodic && (xy[0] != xy[2 * (n - 1)] || xy[1] != xy[2 * (n - 1) + 1]))
    return luaL_error(L,
                      "%s: expected a closed path (last knot equal to the first) for a "
                      "periodic task",
                      fname);
  return luaL_error(L, "%s: expected finite knot times and positions", fname);
}

// field key of o as an array (tables converted; pushed on the stack)
static sp_array* field_array(const spA_table* o, const char* key) {
  int ty = lua_getfield(o->L, o->idx, key);
  if (ty != LUA_TTABLE && !spL_testarray(o->L, -1))
    spA_fielderror(o, key, "expected an array, got %s", luaL_typename(o->L, -1));
  return spL_toarray(o->L, lua_gettop(o->L));
}

static int l_sampled(lua_State* L) {
  spA_table o = spA_opts(L, 1, 0);
  sp_array* t = field_array(&o, "t");
  sp_array* xy = field_array(&o, "xy");
  int64_t n = sp_array_size(t);
  if (t->ndim != 1) spA_fielderror(&o, "t", "expected a vector, got %d dimensions", t->ndim);
  if (xy->ndim != 2 || xy->shape[0] != n || xy->shape[1] != 2) {
    char buf[SP_MAXDIM * 24];
    spA_fielderror(&o, "xy", "expected an array of shape (%d, 2), got %s", (int)n,
                   sp_array_shape_str(buf, sizeof buf, xy));
  }
  sp_task_interp interp;
  int periodic;
  interp_options(&o, &interp, &periodic);
  // contiguous copies owned by the Lua stack
  sp_array* tc = spL_newarray(L, 1, t->shape);
  sp_array* xyc = spL_newarray(L, 2, xy->shape);
  sp_array_assign(tc, t);
  sp_array_assign(xyc, xy);
  spL_handle* u = spL_newhandle(L, SP_TASK_MT);
  sp_task* obj = NULL;
  int rc = sp_task_sampled_new(&obj, tc->data, xyc->data, (int)n, interp, periodic);
  u->obj = obj;
  if (rc == SP_EINVAL)
    return sampled_error(L, "sampled", tc->data, xyc->data, (int)n, interp, periodic);
  if (rc) return spL_raise(L, rc, "sampled");
  return 1;
}

// sample(f, opts): knots f(t) -> x, y at n times evenly spaced over [t0, t1]
static int l_sample(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  spA_table o = spA_opts(L, 2, 0);
  double t0 = spA_range(&o, "t0", 0, NAN, NAN, 0), t1 = spA_range(&o, "t1", 0, NAN, NAN, 1);
  if (!(t1 > t0)) return spA_argerror(L, 2, "expected t0 < t1, got %f and %f", t0, t1);
  int n = (int)spA_integer(&o, "n", 201, 2, 10000000, 0);
  sp_task_interp interp;
  int periodic;
  interp_options(&o, &interp, &periodic);
  int64_t shape[2] = {n, 2};
  sp_array* tt = spL_newarray(L, 1, shape);
  sp_array* xy = spL_newarray(L, 2, shape);
  for (int i = 0; i < n; i++) {
    double t = i == n - 1 ? t1 : t0 + (t1 - t0) * i / (n - 1);
    tt->data[i] = t;
    lua_pushvalue(L, 1);
    lua_pushnumber(L, t);
    lua_call(L, 1, 2);
    if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1))
      return luaL_error(L,
                        "sample: expected f(t) to return two numbers x, y, got %s and %s at "
                        "t = %f",
                        luaL_typename(L, -2), luaL_typename(L, -1), t);
    xy->data[2 * i] = lua_tonumber(L, -2);
    xy->data[2 * i + 1] = lua_tonumber(L, -1);
    lua_pop(L, 2);
  }
  if (periodic) {
    // a closed path: f(t1) must return to f(t0); make the closure exact
    double dx = xy->data[2 * (n - 1)] - xy->data[0], dy = xy->data[2 * (n - 1) + 1] - xy->data[1];
    double scale = 1 + fabs(xy->data[0]) + fabs(xy->data[1]);
    if (hypot(dx, dy) > 1e-6 * scale)
      return luaL_error(L,
                        "sample: expected f(t1) == f(t0) for a periodic path, they differ by "
                        "%f",
                        hypot(dx, dy));
    xy->data[2 * (n - 1)] = xy->data[0];
    xy->data[2 * (n - 1) + 1] = xy->data[1];
  }
  spL_handle* u = spL_newhandle(L, SP_TASK_MT);
  sp_task* obj = NULL;
  int rc = sp_task_sampled_new(&obj, tt->data, xy->data, n, interp, periodic);
  u->obj = obj;
  if (rc == SP_EINVAL) return sampled_error(L, "sample", tt->data, xy->data, n, interp, periodic);
  if (rc) return spL_raise(L, rc, "sample");
  return 1;
}

static sp_array* push_vector(lua_State* L, int64_t n) {
  return spL_newarray(L, 1, &n);
}

static int m_eval(lua_State* L) {
  sp_task* task = checktask(L, 1);
  double t = luaL_checknumber(L, 2);
  sp_array* r = push_vector(L, SP_TASK_NR);
  sp_array* d = push_vector(L, SP_TASK_NR);
  sp_task_eval(task, r->data, d->data, t);
  return 2;
}

static int m_eval_s(lua_State* L) {
  sp_task* task = checktask(L, 1);
  double s = luaL_checknumber(L, 2);
  sp_array* r = push_vector(L, SP_TASK_NR);
  sp_array* d = push_vector(L, SP_TASK_NR);
  sp_task_eval_s(task, r->data, d->data, s);
  return 2;
}

static int m_ref(lua_State* L) {
  sp_task* task = checktask(L, 1);
  double t = luaL_checknumber(L, 2);
  sp_array* ref = push_vector(L, SP_TASK_NREF);
  int rc = sp_task_ref(task, ref->data, t);
  lua_pushboolean(L, rc == 0);
  return 2;
}

static int m_circle(lua_State* L) {
  sp_task* task = checktask(L, 1);
  double t = luaL_checknumber(L, 2), c[2], R, dir;
  int rc = sp_task_circle(task, c, &R, &dir, t);
  if (rc) return spL_failure(L, "circle: the reference has no osculating circle at t = %f", t);
  lua_pushnumber(L, c[0]);
  lua_pushnumber(L, c[1]);
  lua_pushnumber(L, R);
  lua_pushinteger(L, (lua_Integer)dir);
  return 4;
}

static int m_progress(lua_State* L) {
  sp_task* task = checktask(L, 1);
  double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3);
  double hint = luaL_optnumber(L, 4, -1), window = luaL_optnumber(L, 5, 0);
  if (!isfinite(x) || !isfinite(y))
    return spA_argerror(L, isfinite(x) ? 3 : 2, "expected a finite position, got %f",
                        isfinite(x) ? y : x);
  if (window > 0.5) return spA_argerror(L, 5, "expected a window <= 0.5 of a lap, got %f", window);
  lua_pushnumber(L, sp_task_progress(task, x, y, hint, window));
  return 1;
}

static int l_phase_features(lua_State* L) {
  double f[2];
  sp_task_phase_features(f, luaL_checknumber(L, 1));
  lua_pushnumber(L, f[0]);
  lua_pushnumber(L, f[1]);
  return 2;
}

static int m_period(lua_State* L) {
  lua_pushnumber(L, sp_task_period(checktask(L, 1)));
  return 1;
}

static int m_name(lua_State* L) {
  lua_pushstring(L, sp_task_name(checktask(L, 1)));
  return 1;
}

static int m_tostring(lua_State* L) {
  spL_handle* u = luaL_checkudata(L, 1, SP_TASK_MT);
  if (!u->obj) {
    lua_pushliteral(L, "spinal.task (closed)");
    return 1;
  }
  lua_pushfstring(L, "spinal.task %s (period %f s)", sp_task_name(u->obj), sp_task_period(u->obj));
  return 1;
}

static int m_gc(lua_State* L) {
  spL_handle* u = luaL_checkudata(L, 1, SP_TASK_MT);
  sp_task_free(u->obj);
  u->obj = NULL;
  return 0;
}

static const luaL_Reg methods[] = {
    {"eval", m_eval},     {"eval_s", m_eval_s},     {"ref", m_ref},
    {"circle", m_circle}, {"progress", m_progress}, {"period", m_period},
    {"name", m_name},     {"close", m_gc},          {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"figure_eight", l_figure_eight},
    {"circle", l_circle},
    {"lemniscate", l_lemniscate},
    {"sampled", l_sampled},
    {"sample", l_sample},
    {"phase_features", l_phase_features},
    {NULL, NULL},
};

int luaopen_spinal_task(lua_State* L) {
  if (luaL_newmetatable(L, SP_TASK_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
