// rbd.c: the Lua binding of engine/rbd and hal/mjcf_rbd (require "spinal.rbd"): kinematic trees
// from a readable Lua description or an MJCF file, their dynamics algorithms, and the tree as a
// spinal.model.
//
//   local rbd = require "spinal.rbd"
//   local t = rbd.tree { gravity = {0, 0, -9.81}, bodies = {
//     { name = "link1", parent = "world", pos = {0, 0, 1},
//       joint = { type = "revolute", axis = {0, 1, 0}, pos = {0, 0, 0}, damping = 0.1 },
//       mass = 1, com = {0, 0, -0.5}, inertia = {0.1, 0.1, 0.01} } } }
//   local t2 = assert(rbd.load_mjcf "robots/arm3.xml")
//   t.nq t.nv t.nu t.links t.params          t:set_param("link1.mass", 1.2)  t:get_param(name)
//   t:rnea(q, v, a)  t:bias(q, v)  t:crba(q)  t:aba(q, v, tau)
//   t:rnea_derivatives(q, v, a) -> dq, dv    t:aba_derivatives(q, v, tau) -> qdd, dq, dv, dtau, dp
//   t:step(q, v, u, dt) -> q+, v+, A, B, P   t:integrate(q, v, dt)  t:neutral()
//   (dp, P: with respect to the named parameters, columns in the order of t.param_names)
//   t:jacobian(q, link [, point]) -> J (6 x nv)     t:placement(q, link) -> R, p
//   t:register(name [, { scheme = ... }])  -> spinal.model.new(name, ...) and robot files use it
//   t:model { dt = 0.01, scheme = "continuous" | "semi_implicit", integrator = "rk4" | "euler",
//             substeps = 1 } -> a spinal.model whose parameters are the tree's (m.p_names);
//             it writes them into the tree at each evaluation (use m:set_param once it exists)
// Errors name the body and field: "bodies[3] ('shin'): inertia must be ...".
#include "engine/rbd/rbd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "engine/core/alloc.h"
#include "engine/rbd/rbd_model.h"
#include "engine/rbd/spatial.h"
#include "hal/mjcf_rbd.h"

int luaopen_spinal_rbd(lua_State* L);

#define TREE_MT "spinal.rbd.tree"

typedef struct {
  sp_rbd* t;       // NULL until built, and once freed
  sp_rbd_data* d;  // workspace for the methods
  double* buf;     // scratch: q (nq), v (nv), x (nv), u (nu)
  int models;      // spinal.models made from it (they keep it alive; close then only marks it)
  int registered;  // the model registry owns t (tree:register): never freed here
  int closed;
} ltree;

static void tree_release(ltree* lt) {
  sp_rbd_data_free(lt->d);
  if (!lt->registered) sp_rbd_free(lt->t);
  sp_free(lt->buf);
  lt->d = NULL, lt->t = NULL, lt->buf = NULL;
}

static ltree* checkltree(lua_State* L, int arg) {
  ltree* lt = luaL_testudata(L, arg, TREE_MT);
  if (!lt)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a spinal.rbd tree, got %s", luaL_typename(L, arg)));
  if (lt->closed || !lt->t) luaL_argerror(L, arg, "expected a spinal.rbd tree, got a closed tree");
  return lt;
}

static ltree* new_ltree(lua_State* L) {
  ltree* lt = lua_newuserdatauv(L, sizeof *lt, 0);
  memset(lt, 0, sizeof *lt);
  luaL_setmetatable(L, TREE_MT);
  return lt;
}

// after the tree is finalized: workspace and scratch
static void ltree_ready(lua_State* L, ltree* lt) {
  const sp_rbd* t = lt->t;
  int rc = sp_rbd_data_new(&lt->d, t);
  lt->buf = sp_malloc((size_t)(t->nq + 2 * t->nv + t->nu + 1) * sizeof(double));
  if (rc || !lt->buf) spL_raise(L, rc ? rc : SP_ENOMEM, "rbd");
}

// ---- description parsing ----------------------------------------------------------------------

typedef struct {
  lua_State* L;
  int i;             // body index (1-based)
  const char* name;  // body name or "?"
} ctx;

static int cx_error(ctx* c, const char* fmt, const char* field, const char* extra) {
  lua_State* L = c->L;
  const char* what = lua_pushfstring(L, fmt, field, extra);
  return luaL_argerror(L, 1, lua_pushfstring(L, "bodies[%d] ('%s'): %s", c->i, c->name, what));
}

// numeric field of the table at idx; def when absent
static double get_num(ctx* c, int idx, const char* key, double def) {
  lua_State* L = c->L;
  int t = lua_getfield(L, idx, key);
  double x = def;
  if (t == LUA_TNUMBER)
    x = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    cx_error(c, "%s must be a number, got %s", key, luaL_typename(L, -1));
  if (!isfinite(x)) cx_error(c, "%s must be finite%s", key, "");
  lua_pop(L, 1);
  return x;
}

// list of n numbers (n in [nmin, nmax]) at field key; returns the count, 0 when absent
static int get_list(ctx* c, int idx, const char* key, double* out, int nmin, int nmax,
                    const char* expect) {
  lua_State* L = c->L;
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != LUA_TTABLE) cx_error(c, "%s must be %s", key, expect);
  int n = (int)luaL_len(L, -1);
  if (n < nmin || n > nmax || (nmin != nmax && n != nmin && n != nmax))
    cx_error(c, "%s must be %s", key, expect);
  for (int k = 0; k < n; k++) {
    lua_geti(L, -1, k + 1);
    if (!lua_isnumber(L, -1)) cx_error(c, "%s must be %s", key, expect);
    out[k] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

static const char* const joint_types[] = {"fixed", "revolute", "prismatic", "ball", "free", NULL};

static void parse_body(lua_State* L, ltree* lt, ctx* c, int bi) {
  sp_rbd_link l;
  // name
  if (lua_getfield(L, bi, "name") != LUA_TSTRING) cx_error(c, "%s must be a string%s", "name", "");
  c->name = lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_pushstring(L, c->name);  // keep it alive while parsing (anchored below the body table)
  lua_insert(L, bi);
  bi++;
  // parent
  int parent = -1;
  int tp = lua_getfield(L, bi, "parent");
  if (tp == LUA_TSTRING) {
    const char* pn = lua_tostring(L, -1);
    if (strcmp(pn, "world") != 0) {
      parent = sp_rbd_find(lt->t, pn);
      if (parent < 0 || lt->t->links[parent].hidden)
        cx_error(c, "parent '%s' is not an earlier body%s", pn, "");
    }
  } else if (tp != LUA_TNIL) {
    cx_error(c, "%s must be a body name or 'world', got %s", "parent", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  // joint
  sp_rbd_joint type = SP_RBD_FIXED;
  int tj = lua_getfield(L, bi, "joint");
  int ji = lua_gettop(L);
  if (tj == LUA_TTABLE) {
    if (lua_getfield(L, ji, "type") != LUA_TSTRING)
      cx_error(c, "%s must be one of fixed, revolute, prismatic, ball, free%s", "joint.type", "");
    const char* s = lua_tostring(L, -1);
    int found = -1;
    for (int k = 0; joint_types[k]; k++)
      if (!strcmp(s, joint_types[k])) found = k;
    if (found < 0)
      cx_error(c, "joint.type must be one of fixed, revolute, prismatic, ball, free, got '%s'%s", s,
               "");
    type = (sp_rbd_joint)found;
    lua_pop(L, 1);
  } else if (tj != LUA_TNIL) {
    cx_error(c, "%s must be a table, got %s", "joint", luaL_typename(L, -1));
  }
  sp_rbd_link_init(&l, c->name, parent, type);
  if (tj == LUA_TTABLE) {
    get_list(c, ji, "axis", l.axis, 3, 3, "a list of 3 numbers");
    get_list(c, ji, "pos", l.anchor, 3, 3, "a list of 3 numbers");
    l.ref = get_num(c, ji, "ref", 0);
    l.damping = get_num(c, ji, "damping", 0);
    l.armature = get_num(c, ji, "armature", 0);
    l.stiffness = get_num(c, ji, "stiffness", 0);
    l.springref = get_num(c, ji, "springref", 0);
    l.gear = get_num(c, ji, "gear", 1);
    int ta = lua_getfield(L, ji, "actuated");
    l.actuated = ta == LUA_TNIL ? (type == SP_RBD_REVOLUTE || type == SP_RBD_PRISMATIC)
                                : lua_toboolean(L, -1);
    if (ta != LUA_TNIL && ta != LUA_TBOOLEAN)
      cx_error(c, "%s must be a boolean, got %s", "joint.actuated", luaL_typename(L, -1));
    lua_pop(L, 1);
    if (l.actuated && type != SP_RBD_REVOLUTE && type != SP_RBD_PRISMATIC)
      cx_error(c, "%s needs a revolute or prismatic joint%s", "joint.actuated", "");
  }
  lua_pop(L, 1);
  // placement and inertia
  get_list(c, bi, "pos", l.pos, 3, 3, "a list of 3 numbers");
  double quat[4];
  if (get_list(c, bi, "quat", quat, 4, 4, "a list of 4 numbers (w, x, y, z)")) {
    if (!(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3] > 0))
      cx_error(c, "%s must be a non-zero quaternion%s", "quat", "");
    sp_m3_from_quat(l.rot, quat);
  }
  l.mass = get_num(c, bi, "mass", 0);
  get_list(c, bi, "com", l.com, 3, 3, "a list of 3 numbers");
  double in[6] = {0};
  int ni = get_list(c, bi, "inertia", in, 3, 6,
                    "a list of 3 (ixx, iyy, izz) or 6 (ixx, iyy, izz, ixy, ixz, iyz) numbers");
  if (ni) memcpy(l.inertia, in, sizeof in);
  char msg[256];
  int rc = sp_rbd_add(lt->t, &l, NULL, msg, sizeof msg);
  if (rc) {
    // the engine says "link 'name': what"; keep "what"
    const char* what = strstr(msg, "': ");
    cx_error(c, "%s%s", what ? what + 3 : msg, "");
  }
  lua_remove(L, bi - 1);
}

// rbd.tree(description)
static int l_tree(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  ltree* lt = new_ltree(L);  // index 2
  if (sp_rbd_new(&lt->t)) return spL_raise(L, SP_ENOMEM, "rbd.tree");
  ctx c = {L, 0, "?"};
  // gravity: a list of 3 numbers, default (0, 0, -9.81)
  int tg = lua_getfield(L, 1, "gravity");
  if (tg != LUA_TNIL) {
    int ok = tg == LUA_TTABLE && luaL_len(L, -1) == 3;
    for (int k = 0; ok && k < 3; k++) {
      ok = lua_geti(L, -1, k + 1) == LUA_TNUMBER;
      if (ok) lt->t->gravity[k] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    if (!ok) luaL_argerror(L, 1, "gravity must be a list of 3 numbers");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "bodies") != LUA_TTABLE)
    luaL_argerror(
        L, 1,
        lua_pushfstring(L, "expected bodies, a list of body tables, got %s", luaL_typename(L, -1)));
  int nb = (int)luaL_len(L, -1);
  if (nb < 1) luaL_argerror(L, 1, "expected bodies, a list of body tables, got an empty list");
  for (int i = 1; i <= nb; i++) {
    c.i = i, c.name = "?";
    if (lua_geti(L, -1, i) != LUA_TTABLE)
      cx_error(&c, "%s must be a table, got %s", "the body", luaL_typename(L, -1));
    parse_body(L, lt, &c, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  char msg[256];
  int rc = sp_rbd_finalize(lt->t, msg, sizeof msg);
  if (rc) return luaL_error(L, "rbd.tree: %s", msg);
  ltree_ready(L, lt);
  return 1;
}

// rbd.load_mjcf(path) -> tree | nil, message
static int l_load_mjcf(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  ltree* lt = new_ltree(L);
  char msg[600];
  int rc = sp_mjcf_rbd_load(&lt->t, path, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  ltree_ready(L, lt);
  return 1;
}

// rbd.check_mjcf(path) -> true | nil, message: MuJoCo compiles it, its timestep is positive and
// no number is NaN or infinite (what the mujoco plant and load_mjcf both require)
static int l_check_mjcf(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  char msg[600];
  if (sp_mjcf_check_file(path, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

// ---- methods ---------------------------------------------------------------------------------

static void check_vec(lua_State* L, int arg, int n, const char* what, double* out) {
  spA_vector(L, arg, out, n, what, 0);
}

static double* new_vec(lua_State* L, int n) {
  int64_t shape[1] = {n};
  return spL_newarray(L, 1, shape)->data;
}

static double* new_mat(lua_State* L, int rows, int cols) {
  int64_t shape[2] = {rows, cols};
  return spL_newarray(L, 2, shape)->data;
}

// q (nq) at arg, then optionally two nv vectors (names given); pointers into lt->buf
static void check_qvx(lua_State* L, ltree* lt, int arg, const char* n2, const char* n3, double** q,
                      double** v, double** x) {
  const sp_rbd* t = lt->t;
  *q = lt->buf, *v = lt->buf + t->nq, *x = lt->buf + t->nq + t->nv;
  check_vec(L, arg, t->nq, "a configuration q", *q);
  if (n2) check_vec(L, arg + 1, t->nv, n2, *v);
  if (n3) check_vec(L, arg + 2, t->nv, n3, *x);
}

static int t_rnea(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *a;
  check_qvx(L, lt, 2, "a velocity v", "an acceleration a", &q, &v, &a);
  sp_rbd_rnea(new_vec(L, lt->t->nv), lt->d, q, v, a);
  return 1;
}

static int t_bias(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *a;
  check_qvx(L, lt, 2, "a velocity v", NULL, &q, &v, &a);
  sp_rbd_bias(new_vec(L, lt->t->nv), lt->d, q, v);
  return 1;
}

static int t_crba(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *a;
  check_qvx(L, lt, 2, NULL, NULL, &q, &v, &a);
  sp_rbd_crba(new_mat(L, lt->t->nv, lt->t->nv), lt->d, q);
  return 1;
}

static int t_aba(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *tau;
  check_qvx(L, lt, 2, "a velocity v", "a generalised force tau", &q, &v, &tau);
  sp_rbd_aba(new_vec(L, lt->t->nv), lt->d, q, v, tau);
  return 1;
}

static int t_rnea_derivatives(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *a;
  int nv = lt->t->nv;
  check_qvx(L, lt, 2, "a velocity v", "an acceleration a", &q, &v, &a);
  double* dq = new_mat(L, nv, nv);
  double* dv = new_mat(L, nv, nv);
  sp_rbd_rnea_derivatives(dq, dv, lt->d, q, v, a);
  return 2;
}

static int t_aba_derivatives(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *tau;
  int nv = lt->t->nv;
  check_qvx(L, lt, 2, "a velocity v", "a generalised force tau", &q, &v, &tau);
  double* qdd = new_vec(L, nv);
  double* dq = new_mat(L, nv, nv);
  double* dv = new_mat(L, nv, nv);
  double* dt = new_mat(L, nv, nv);
  double* dp = new_mat(L, nv, lt->t->np);
  int rc = sp_rbd_aba_derivatives(qdd, dq, dv, dt, dp, lt->d, q, v, tau);
  if (rc) return spL_raise(L, rc, "aba_derivatives");
  return 5;
}

static double check_dt(lua_State* L, int arg) {
  double dt = luaL_checknumber(L, arg);
  if (!(dt > 0) || !isfinite(dt))
    luaL_argerror(L, arg, lua_pushfstring(L, "expected a positive time step, got %f", dt));
  return dt;
}

static int t_step(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  const sp_rbd* t = lt->t;
  double *q, *v, *x, *u = lt->buf + t->nq + 2 * t->nv;
  check_qvx(L, lt, 2, "a velocity v", NULL, &q, &v, &x);
  check_vec(L, 4, t->nu, "an action u", u);
  double dt = check_dt(L, 5);
  double* qn = new_vec(L, t->nq);
  double* vn = new_vec(L, t->nv);
  double* A = new_mat(L, 2 * t->nv, 2 * t->nv);
  double* B = new_mat(L, 2 * t->nv, t->nu);
  double* P = new_mat(L, 2 * t->nv, t->np);
  int rc = sp_rbd_step(qn, vn, A, B, P, lt->d, q, v, u, dt);
  if (rc) return spL_raise(L, rc, "step");
  return 5;
}

static int t_integrate(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *x;
  check_qvx(L, lt, 2, "a velocity v", NULL, &q, &v, &x);
  double dt = luaL_optnumber(L, 4, 1.0);
  sp_rbd_integrate(lt->t, new_vec(L, lt->t->nq), q, v, dt);
  return 1;
}

static int t_neutral(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  sp_rbd_neutral(lt->t, new_vec(L, lt->t->nq));
  return 1;
}

static int check_link(lua_State* L, ltree* lt, int arg) {
  const char* name = luaL_checkstring(L, arg);
  int i = sp_rbd_find(lt->t, name);
  if (i < 0) luaL_argerror(L, arg, lua_pushfstring(L, "expected a body name, got '%s'", name));
  return i;
}

static int t_jacobian(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *x;
  check_qvx(L, lt, 2, NULL, NULL, &q, &v, &x);
  int link = check_link(L, lt, 3);
  double pt[3] = {0, 0, 0};
  if (!lua_isnoneornil(L, 4)) check_vec(L, 4, 3, "a point", pt);
  sp_rbd_fk(lt->d, q);
  sp_rbd_jacobian(new_mat(L, 6, lt->t->nv), lt->d, link, pt);
  return 1;
}

static int t_placement(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  double *q, *v, *x;
  check_qvx(L, lt, 2, NULL, NULL, &q, &v, &x);
  int link = check_link(L, lt, 3);
  sp_rbd_fk(lt->d, q);
  memcpy(new_mat(L, 3, 3), lt->d->R + 9 * link, 9 * sizeof(double));
  memcpy(new_vec(L, 3), lt->d->p + 3 * link, 3 * sizeof(double));
  return 2;
}

static int check_param(lua_State* L, ltree* lt, int arg) {
  const char* name = luaL_checkstring(L, arg);
  int i = sp_rbd_param_index(lt->t, name);
  if (i < 0)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a parameter name (e.g. '%s'), got '%s'",
                                  lt->t->np ? lt->t->param_name[0] : "", name));
  return i;
}

static int t_set_param(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  int i = check_param(L, lt, 2);
  double x = luaL_checknumber(L, 3);
  if (!isfinite(x)) luaL_argerror(L, 3, "expected a finite number");
  const char* name = lt->t->param_name[i];
  const char* field = strrchr(name, '.') + 1;
  int nonneg = !strcmp(field, "mass") || !strcmp(field, "damping") || !strcmp(field, "armature") ||
               !strcmp(field, "stiffness");
  if (nonneg && x < 0) luaL_argerror(L, 3, lua_pushfstring(L, "expected %s >= 0, got %f", name, x));
  *lt->t->param[i] = x;
  return 0;
}

static int t_get_param(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  lua_pushnumber(L, *lt->t->param[check_param(L, lt, 2)]);
  return 1;
}

static const char* const schemes[] = {"continuous", "semi_implicit", NULL};
static const char* const integrators[] = {"euler", "rk4", NULL};

// t:model { dt, scheme, integrator, substeps }
static int t_model(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  spA_table o = spA_opts(L, 2, 1);
  double dt = spA_positive(&o, "dt", 0.01, 0);
  int scheme = spA_option(&o, "scheme", 0, schemes);
  int integ = spA_option(&o, "integrator", 1, integrators);
  int substeps = (int)spA_integer(&o, "substeps", 1, 1, 1000000, 0);
  lua_settop(L, 2);
  const sp_rbd* t = lt->t;
  if (scheme == SP_RBD_SEMI_IMPLICIT && t->nq != t->nv)
    luaL_argerror(L, 2,
                  "expected scheme 'continuous' for a tree with ball or free joints, got "
                  "'semi_implicit' (use t:step for the manifold semi-implicit step)");
  int nx = scheme == SP_RBD_SEMI_IMPLICIT ? 2 * t->nv : t->nq + t->nv;
  sp_model** slot = spL_newmodel(L, nx, t->nu, sp_rbd_model_free, 1);
  sp_model* m;
  int rc = sp_rbd_model_new(&m, lt->t, dt, (sp_rbd_scheme)scheme, "rbd");
  if (rc) return spL_raise(L, rc, "model");
  sp_model_configure(m, dt, (sp_integrator)integ, substeps);
  *slot = m;
  lt->models++;
  return 1;
}

// t:register(name [, { scheme = ... }]): a model class by that name for spinal.model.new and
// robot files; the tree then lives as long as the process
static int t_register(lua_State* L) {
  ltree* lt = checkltree(L, 1);
  const char* name = luaL_checkstring(L, 2);
  spA_table o = spA_opts(L, 3, 1);
  int scheme = spA_option(&o, "scheme", 0, schemes);
  if (!name[0] || sp_model_find(name))
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a new model name, got '%s' (%s)", name,
                                  name[0] ? "already registered" : "empty"));
  const sp_rbd* t = lt->t;
  if (scheme == SP_RBD_SEMI_IMPLICIT && t->nq != t->nv)
    luaL_argerror(L, 3,
                  "expected scheme 'continuous' for a tree with ball or free joints, got "
                  "'semi_implicit'");
  int rc = sp_rbd_model_register(lt->t, name, (sp_rbd_scheme)scheme);
  if (rc) return spL_raise(L, rc, "register");
  lt->registered = 1;
  return 0;
}

static int t_close(lua_State* L) {
  ltree* lt = luaL_checkudata(L, 1, TREE_MT);
  lt->closed = 1;
  if (!lt->models) tree_release(lt);
  return 0;
}

static int t_gc(lua_State* L) {
  ltree* lt = luaL_checkudata(L, 1, TREE_MT);
  tree_release(lt);
  return 0;
}

static int t_tostring(lua_State* L) {
  ltree* lt = luaL_checkudata(L, 1, TREE_MT);
  if (lt->closed || !lt->t)
    lua_pushstring(L, "spinal.rbd tree (closed)");
  else
    lua_pushfstring(L, "spinal.rbd tree (%d links, nq=%d, nv=%d, nu=%d)", lt->t->nlinks, lt->t->nq,
                    lt->t->nv, lt->t->nu);
  return 1;
}

static const luaL_Reg methods[] = {
    {"rnea", t_rnea},
    {"bias", t_bias},
    {"crba", t_crba},
    {"aba", t_aba},
    {"rnea_derivatives", t_rnea_derivatives},
    {"aba_derivatives", t_aba_derivatives},
    {"step", t_step},
    {"integrate", t_integrate},
    {"neutral", t_neutral},
    {"jacobian", t_jacobian},
    {"placement", t_placement},
    {"set_param", t_set_param},
    {"get_param", t_get_param},
    {"model", t_model},
    {"register", t_register},
    {"close", t_close},
    {NULL, NULL},
};

static int t_index(lua_State* L) {
  ltree* lt = luaL_checkudata(L, 1, TREE_MT);
  const char* k = luaL_checkstring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__methods");
  if (lua_getfield(L, -1, k) != LUA_TNIL) return 1;
  lua_settop(L, 2);
  if (lt->closed || !lt->t) return luaL_error(L, "attempt to read field '%s' of a closed tree", k);
  const sp_rbd* t = lt->t;
  if (!strcmp(k, "nq"))
    lua_pushinteger(L, t->nq);
  else if (!strcmp(k, "nv"))
    lua_pushinteger(L, t->nv);
  else if (!strcmp(k, "nu"))
    lua_pushinteger(L, t->nu);
  else if (!strcmp(k, "nlinks"))
    lua_pushinteger(L, t->nlinks);
  else if (!strcmp(k, "gravity")) {
    lua_createtable(L, 3, 0);
    for (int i = 0; i < 3; i++) lua_pushnumber(L, t->gravity[i]), lua_rawseti(L, -2, i + 1);
  } else if (!strcmp(k, "links")) {
    lua_createtable(L, t->nlinks, 0);
    for (int i = 0; i < t->nlinks; i++)
      lua_pushstring(L, t->links[i].name), lua_rawseti(L, -2, i + 1);
  } else if (!strcmp(k, "param_names")) {
    lua_createtable(L, t->np, 0);
    for (int i = 0; i < t->np; i++) lua_pushstring(L, t->param_name[i]), lua_rawseti(L, -2, i + 1);
  } else if (!strcmp(k, "params")) {
    lua_createtable(L, 0, t->np);
    for (int i = 0; i < t->np; i++)
      lua_pushnumber(L, *t->param[i]), lua_setfield(L, -2, t->param_name[i]);
  } else
    lua_pushnil(L);
  return 1;
}

int luaopen_spinal_rbd(lua_State* L) {
  if (luaL_newmetatable(L, TREE_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__methods");
    const luaL_Reg meta[] = {
        {"__index", t_index},       {"__gc", t_gc}, {"__close", t_close},
        {"__tostring", t_tostring}, {NULL, NULL},
    };
    luaL_setfuncs(L, meta, 0);
    lua_pushstring(L, TREE_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  const luaL_Reg lib[] = {
      {"tree", l_tree},
      {"load_mjcf", l_load_mjcf},
      {"check_mjcf", l_check_mjcf},
      {NULL, NULL},
  };
  luaL_newlib(L, lib);
  return 1;
}
