// motion.c: the Lua binding of reference motions (require "spinal.motion"): motion clips over
// engine/motion (see docs/api/motion.md).
//
//   local motion = require "spinal.motion"
//   local clip = motion.load("pace.txt")                 -- public mocap text or spinal JSON
//   local clip = motion.load("trot.npy", { frame_duration = 0.02 })
//   local clip = motion.clip { frames = F, frame_duration = 0.02, loop = true }
//   clip:sample(t) -> (nx)   clip:window(t, {1/30, 1/15, 1/3, 1}) -> (k, nx)   clip:save(path)
// One userdata type, "spinal.motion.clip", owning an sp_clip.
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"
#include "engine/motion/clip.h"
#include "engine/motion/clip_file.h"

#define CLIP_MT "spinal.motion.clip"

typedef struct lclip {
  sp_clip* c;  // NULL once closed
} lclip;

static lclip* push_empty(lua_State* L) {
  lclip* u = lua_newuserdatauv(L, sizeof *u, 0);
  u->c = NULL;
  luaL_setmetatable(L, CLIP_MT);
  return u;
}

static sp_clip* checkclip(lua_State* L, int arg) {
  lclip* u = luaL_checkudata(L, arg, CLIP_MT);
  if (!u->c) luaL_error(L, "attempt to use a closed clip");
  return u->c;
}

static int ends_with(const char* s, const char* suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

// the joint map of options table t (field 'map'): "default" or "laikago" (the named maps), or a
// table of fields that change the default map
static sp_clip_map read_map(const spA_table* t) {
  lua_State* L = t->L;
  sp_clip_map m = sp_clip_map_default();
  if (lua_getfield(L, t->idx, "map") == LUA_TSTRING) {
    const char* name = lua_tostring(L, -1);
    if (!strcmp(name, "laikago"))
      m = sp_clip_map_laikago();
    else if (strcmp(name, "default"))
      spA_fielderror(t, "map", "expected \"default\", \"laikago\" or a table, got \"%s\"", name);
    lua_pop(L, 1);
    return m;
  }
  lua_pop(L, 1);
  spA_table mt = spA_subtable(t, "map", 0);
  if (mt.idx) {
    static const char* const keys[] = {"perm",  "sign",        "offset", "root_quat",
                                       "scale", "root_offset", NULL};
    spA_check_keys(&mt, keys);
    double perm[SP_CLIP_MOCAP_JOINTS];
    if (spA_field_vector(&mt, "perm", perm, SP_CLIP_MOCAP_JOINTS, 1))
      for (int i = 0; i < SP_CLIP_MOCAP_JOINTS; i++) {
        if (perm[i] != (int)perm[i] || perm[i] < 1 || perm[i] > SP_CLIP_MOCAP_JOINTS)
          spA_fielderror(&mt, "perm", "expected file joint numbers in [1, 12], got %f at %d",
                         perm[i], i + 1);
        m.perm[i] = (int)perm[i] - 1;
      }
    spA_field_vector(&mt, "sign", m.sign, SP_CLIP_MOCAP_JOINTS, 1);
    spA_field_vector(&mt, "offset", m.offset, SP_CLIP_MOCAP_JOINTS, 1);
    spA_field_vector(&mt, "root_quat", m.root_quat, 4, 1);
    spA_field_vector(&mt, "root_offset", m.root_offset, 3, 1);
    m.scale = spA_positive(&mt, "scale", 1, 0);
    char msg[160];
    if (sp_clip_map_check(&m, msg, sizeof msg))
      spA_fielderror(&mt, strstr(msg, "root_quat") ? "root_quat" : "perm", "%s", msg + 11);
  }
  lua_pop(t->L, 1);
  return m;
}

// motion.load(path [, opts]) -> clip | nil, message
static int l_load(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  spA_table t = spA_opts(L, 2, 1);
  static const char* const keys[] = {"frame_duration", "loop", "map", NULL};
  spA_check_keys(&t, keys);
  int npy = ends_with(path, ".npy");
  double dt = spA_positive(&t, "frame_duration", 0, npy);
  int loop = spA_boolean(&t, "loop", 0);
  sp_clip_map map = read_map(&t);
  lclip* u = push_empty(L);
  char msg[512];
  int rc = npy ? sp_clip_load_npy(&u->c, path, dt, loop, msg, sizeof msg)
               : sp_clip_load_json(&u->c, path, &map, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  return 1;
}

// motion.clip{frames = (n, 7 + nj), frame_duration = dt, loop = false} -> clip
static int l_clip(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  static const char* const keys[] = {"frames", "frame_duration", "loop", NULL};
  spA_check_keys(&t, keys);
  double dt = spA_positive(&t, "frame_duration", 0, 1);
  int loop = spA_boolean(&t, "loop", 0);
  lua_getfield(L, 1, "frames");
  if (lua_isnil(L, -1))
    spA_fielderror(&t, "frames", "expected an array (frames, 7 + joints), got nil");
  sp_array* f = spL_toarray(L, lua_gettop(L));
  if (f->ndim != 2 || f->shape[0] < 2 || f->shape[1] < 7 || f->shape[1] > 7 + SP_CLIP_MAXJOINTS) {
    char shape[64];
    sp_array_shape_str(shape, sizeof shape, f);
    spA_fielderror(&t, "frames",
                   "expected an array (frames >= 2, 7 + joints) of position, quaternion w x y z "
                   "and joint angles, got shape %s",
                   shape);
  }
  int n = (int)f->shape[0], w = (int)f->shape[1], nj = w - 7;
  double* rows = spA_scratch(L, (size_t)n * w);
  spA_gather(f, rows);
  lclip* u = push_empty(L);
  int rc = sp_clip_new(&u->c, n, nj, dt, loop);
  if (rc) return spL_raise(L, rc, "clip");
  for (int i = 0; i < n; i++) {
    memcpy(u->c->pos + 3 * i, rows + (size_t)i * w, 3 * sizeof(double));
    memcpy(u->c->quat + 4 * i, rows + (size_t)i * w + 3, 4 * sizeof(double));
    memcpy(u->c->joints + (size_t)i * nj, rows + (size_t)i * w + 7, (size_t)nj * sizeof(double));
  }
  char msg[200];
  if ((rc = sp_clip_finish(u->c, msg, sizeof msg))) spA_fielderror(&t, "frames", "%s", msg);
  return 1;
}

// a map as a Lua table { perm =, sign =, offset =, root_quat =, root_offset =, scale = }
static void push_map(lua_State* L, const sp_clip_map* m) {
  lua_createtable(L, 0, 6);
  const char* names[3] = {"perm", "sign", "offset"};
  for (int k = 0; k < 3; k++) {
    lua_createtable(L, SP_CLIP_MOCAP_JOINTS, 0);
    for (int i = 0; i < SP_CLIP_MOCAP_JOINTS; i++) {
      if (k == 0)
        lua_pushinteger(L, m->perm[i] + 1);
      else
        lua_pushnumber(L, k == 1 ? m->sign[i] : m->offset[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, names[k]);
  }
  lua_createtable(L, 4, 0);
  for (int i = 0; i < 4; i++) {
    lua_pushnumber(L, m->root_quat[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "root_quat");
  lua_createtable(L, 3, 0);
  for (int i = 0; i < 3; i++) {
    lua_pushnumber(L, m->root_offset[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "root_offset");
  lua_pushnumber(L, m->scale);
  lua_setfield(L, -2, "scale");
}

static int l_default_map(lua_State* L) {
  sp_clip_map m = sp_clip_map_default();
  push_map(L, &m);
  return 1;
}

static int l_laikago_map(lua_State* L) {
  sp_clip_map m = sp_clip_map_laikago();
  push_map(L, &m);
  return 1;
}

// ---- clip methods -------------------------------------------------------------------------------

static int m_sample(lua_State* L) {
  sp_clip* c = checkclip(L, 1);
  double t = luaL_checknumber(L, 2);
  int64_t nx = sp_clip_nx(c);
  sp_array* a = spL_newarray(L, 1, &nx);
  sp_clip_sample(c, a->data, t);
  return 1;
}

static int m_window(lua_State* L) {
  sp_clip* c = checkclip(L, 1);
  double t = luaL_checknumber(L, 2);
  sp_array* o = spL_toarray(L, 3);
  int64_t k = sp_array_size(o);
  if (o->ndim > 1 || k < 1 || k > 4096)
    return spA_argerror(L, 3, "expected a list of 1 to 4096 time offsets (s)");
  double* off = spA_scratch(L, (size_t)k);
  spA_gather(o, off);
  int64_t shape[2] = {k, sp_clip_nx(c)};
  sp_array* w = spL_newarray(L, 2, shape);
  sp_clip_window(c, w->data, t, off, (int)k);
  return 1;
}

// clip:states() -> (nframes, nx): the clip sampled at its frames
static int m_states(lua_State* L) {
  sp_clip* c = checkclip(L, 1);
  int64_t shape[2] = {c->nframes, sp_clip_nx(c)};
  sp_array* a = spL_newarray(L, 2, shape);
  for (int i = 0; i < c->nframes; i++)
    sp_clip_sample(c, a->data + (size_t)i * shape[1], i * c->frame_dt);
  return 1;
}

// clip:frames() -> (nframes, 7 + nj) in the file layout
static int m_frames(lua_State* L) {
  sp_clip* c = checkclip(L, 1);
  int64_t shape[2] = {c->nframes, 7 + c->nj};
  sp_array* a = spL_newarray(L, 2, shape);
  for (int i = 0; i < c->nframes; i++) {
    double* r = a->data + (size_t)i * shape[1];
    memcpy(r, c->pos + 3 * i, 3 * sizeof(double));
    memcpy(r + 3, c->quat + 4 * i, 4 * sizeof(double));
    memcpy(r + 7, c->joints + (size_t)i * c->nj, (size_t)c->nj * sizeof(double));
  }
  return 1;
}

static int m_save(lua_State* L) {
  sp_clip* c = checkclip(L, 1);
  const char* path = luaL_checkstring(L, 2);
  char msg[512];
  int rc = ends_with(path, ".npy") ? sp_clip_save_npy(c, path, msg, sizeof msg)
                                   : sp_clip_save_json(c, path, msg, sizeof msg);
  if (rc) return spL_failure(L, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_gc(lua_State* L) {
  lclip* u = luaL_checkudata(L, 1, CLIP_MT);
  sp_clip_free(u->c);
  u->c = NULL;
  return 0;
}

static int m_tostring(lua_State* L) {
  lclip* u = luaL_checkudata(L, 1, CLIP_MT);
  if (!u->c) {
    lua_pushliteral(L, "clip (closed)");
    return 1;
  }
  char buf[160];
  snprintf(buf, sizeof buf, "clip: %d frames of %d joints, %g s%s", u->c->nframes, u->c->nj,
           sp_clip_duration(u->c), u->c->loop ? ", looping" : "");
  lua_pushstring(L, buf);
  return 1;
}

static const luaL_Reg methods[] = {
    {"sample", m_sample}, {"window", m_window}, {"states", m_states}, {"frames", m_frames},
    {"save", m_save},     {"close", m_gc},      {NULL, NULL},
};

static int m_index(lua_State* L) {
  lclip* u = luaL_checkudata(L, 1, CLIP_MT);
  const char* k = luaL_checkstring(L, 2);
  if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL) return 1;
  if (!u->c) return luaL_error(L, "attempt to use a closed clip");
  const sp_clip* c = u->c;
  if (!strcmp(k, "nframes"))
    lua_pushinteger(L, c->nframes);
  else if (!strcmp(k, "nj"))
    lua_pushinteger(L, c->nj);
  else if (!strcmp(k, "nx"))
    lua_pushinteger(L, sp_clip_nx(c));
  else if (!strcmp(k, "frame_duration"))
    lua_pushnumber(L, c->frame_dt);
  else if (!strcmp(k, "duration"))
    lua_pushnumber(L, sp_clip_duration(c));
  else if (!strcmp(k, "loop"))
    lua_pushboolean(L, c->loop);
  else
    lua_pushnil(L);
  return 1;
}

static const luaL_Reg functions[] = {{"load", l_load},
                                     {"clip", l_clip},
                                     {"default_map", l_default_map},
                                     {"laikago_map", l_laikago_map},
                                     {NULL, NULL}};

int luaopen_spinal_motion(lua_State* L) {
  spL_class(L, CLIP_MT, methods, m_index, m_gc, m_tostring);
  luaL_newlib(L, functions);
  return 1;
}
