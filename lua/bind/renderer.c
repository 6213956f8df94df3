// renderer.c: the Lua binding of render/render.h (require "spinal.renderer"): offscreen pictures
// of an MJCF model in given poses, from MuJoCo's renderer in a headless EGL context. The video
// and the command line (`spinal render RUN_DIR`) are spinal.render (lua/spinal/render.lua).
//
//   local R = require "spinal.renderer"
//   local r, err = R.open { mjcf = "robots/rc_car.xml", width = 640, height = 480 }
//                                         -- nil, message: no such file, no OpenGL context, ...
//   r:pose(qpos)  r:pose(Q, k)            -- nq numbers, or row k of an (n x nq) array
//   local centre, radius = r:focus()      -- the tracked body's subtree: centre of mass, size
//   r:track "trunk"                       -- follow another body (default: the robot's root)
//   local rgb = r:frame { lookat = centre, distance = 2, azimuth = 90, elevation = -30,
//                         paths = { { points = P, rgba = { 0, 0.6, 1, 1 }, width = 0.01,
//                                     count = 100 } } }
//                                         -- a string of width * height * 3 bytes, top row first
//   r:draw { ... }                        -- the same without making the string; then
//   r:write(f)                            -- the last image's bytes to a Lua file (a pipe to an
//                                         -- encoder: true, or nil, message when it closed)
//   r.nq  r.width  r.height  r:close()
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "args.h"
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "render/render.h"

#define RENDERER_MT "spinal.renderer"
#define MAX_PATHS 8

typedef struct lrenderer {
  sp_render* r;
  unsigned char* rgb;  // (width x height x 3) the last frame
} lrenderer;

static lrenderer* check(lua_State* L, int arg) {
  lrenderer* u = luaL_checkudata(L, arg, RENDERER_MT);
  if (!u->r) luaL_argerror(L, arg, "the renderer is closed");
  return u;
}

static void release(lrenderer* u) {
  sp_render_free(u->r);
  sp_free(u->rgb);
  u->r = NULL;
  u->rgb = NULL;
}

static int m_close(lua_State* L) {
  release(luaL_checkudata(L, 1, RENDERER_MT));
  return 0;
}

// R.open { mjcf =, width =, height =, samples =, track = }: a renderer, or nil, message
static int l_open(lua_State* L) {
  spA_table t = spA_opts(L, 1, 0);
  static const char* const keys[] = {"mjcf", "width", "height", "samples", "track", NULL};
  spA_check_keys(&t, keys);
  sp_render_config c = {
      .mjcf = spA_string(&t, "mjcf", NULL, 1),
      .width = (int)spA_integer(&t, "width", 640, 16, SP_RENDER_MAX_SIZE, 0),
      .height = (int)spA_integer(&t, "height", 480, 16, SP_RENDER_MAX_SIZE, 0),
      .samples = (int)spA_integer(&t, "samples", 0, 0, 16, 0),
  };
  const char* track = spA_string(&t, "track", NULL, 0);
  lrenderer* u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, RENDERER_MT);
  char msg[1024];
  if (sp_render_new(&u->r, &c, msg, sizeof msg)) return spL_failure(L, "%s", msg);
  if (track && sp_render_track(u->r, track, msg, sizeof msg)) {
    release(u);
    return spL_failure(L, "%s (in %s)", msg, c.mjcf);
  }
  u->rgb = sp_malloc((size_t)c.width * c.height * 3);
  if (!u->rgb) {
    release(u);
    return spL_failure(L, "render: %s", sp_strerror(SP_ENOMEM));
  }
  return 1;
}

// r:pose(qpos) or r:pose(Q, k): self, or nil, message for a pose with a non-finite value
static int m_pose(lua_State* L) {
  lrenderer* u = check(L, 1);
  int nq = sp_render_nq(u->r);
  int by_row = !lua_isnoneornil(L, 3);
  double* q = spA_scratch(L, (size_t)nq);
  if (!by_row) {
    spA_vector(L, 2, q, nq, "a configuration (qpos)", 0);
  } else {
    const sp_array* a = spL_checkarray(L, 2);
    if (a->ndim != 2 || a->shape[1] != nq)
      spA_argerror(L, 2, "expected an (n x %d) array of configurations, got %s", nq,
                   a->ndim == 2 ? lua_pushfstring(L, "(%I x %I)", (lua_Integer)a->shape[0],
                                                  (lua_Integer)a->shape[1])
                                : lua_pushfstring(L, "%d dimensions", a->ndim));
    lua_Integer k = luaL_checkinteger(L, 3);
    if (k < 1 || k > a->shape[0])
      spA_argerror(L, 3, "expected a row in [1, %I], got %I", (lua_Integer)a->shape[0], k);
    for (int j = 0; j < nq; j++) q[j] = a->data[(k - 1) * a->stride[0] + j * a->stride[1]];
  }
  if (sp_render_pose(u->r, q)) return spL_failure(L, "render: the configuration is not finite");
  lua_settop(L, 1);
  return 1;
}

static int m_track(lua_State* L) {
  lrenderer* u = check(L, 1);
  const char* body = luaL_optstring(L, 2, NULL);
  char msg[256];
  if (sp_render_track(u->r, body, msg, sizeof msg)) return spA_argerror(L, 2, "%s", msg);
  lua_settop(L, 1);
  return 1;
}

static int m_focus(lua_State* L) {
  lrenderer* u = check(L, 1);
  double c[3], radius;
  sp_render_focus(u->r, c, &radius);
  lua_createtable(L, 3, 0);
  for (int i = 0; i < 3; i++) {
    lua_pushnumber(L, c[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushnumber(L, radius);
  return 2;
}

// opts.paths[i] into p (points must be a contiguous (n x 3) array)
static void check_path(const spA_table* t, int i, sp_render_path* p) {
  lua_State* L = t->L;
  lua_rawgeti(L, -1, i);
  char where[32];
  snprintf(where, sizeof where, "paths[%d]", i);
  if (!lua_istable(L, -1))
    spA_fielderror(t, where, "expected a table { points = (n x 3) array, ... }, got %s",
                   luaL_typename(L, -1));
  spA_table pt = spA_nested(t, lua_gettop(L), where);
  static const char* const keys[] = {"points", "rgba", "width", "count", NULL};
  spA_check_keys(&pt, keys);
  lua_getfield(L, pt.idx, "points");
  const sp_array* a = spL_testarray(L, -1);
  if (!a || a->ndim != 2 || a->shape[1] != 3 || !sp_array_is_contiguous(a))
    spA_fielderror(&pt, "points", "expected a contiguous (n x 3) spinal.array, got %s",
                   !a              ? luaL_typename(L, -1)
                   : a->ndim != 2  ? lua_pushfstring(L, "an array of %d dimensions", a->ndim)
                   : a->shape[1] != 3
                       ? lua_pushfstring(L, "a (%I x %I) array", (lua_Integer)a->shape[0],
                                         (lua_Integer)a->shape[1])
                       : "a view that is not contiguous (copy it with :copy())");
  lua_pop(L, 1);
  double rgba[4] = {1, 1, 1, 1};
  spA_field_vector(&pt, "rgba", rgba, 4, 1);
  for (int j = 0; j < 4; j++) {
    if (rgba[j] < 0 || rgba[j] > 1)
      spA_fielderror(&pt, "rgba", "expected 4 numbers in [0, 1], got %f at %d", rgba[j], j + 1);
    p->rgba[j] = (float)rgba[j];
  }
  p->points = a->data;
  p->width = spA_range(&pt, "width", 0.01, 1e-6, 100, 0);
  p->n = (int)spA_integer(&pt, "count", a->shape[0], 0, a->shape[0], 0);
  lua_pop(L, 1);
}

// r:draw { lookat, distance, azimuth, elevation, paths }: self, the image kept for r:write
static int m_draw(lua_State* L) {
  lrenderer* u = check(L, 1);
  spA_table t = spA_opts(L, 2, 0);
  static const char* const keys[] = {"lookat", "distance", "azimuth", "elevation", "paths", NULL};
  spA_check_keys(&t, keys);
  sp_render_camera cam = {{0, 0, 0}, 1, 90, -30};
  if (!spA_field_vector(&t, "lookat", cam.lookat, 3, 1))
    spA_fielderror(&t, "lookat", "expected 3 numbers (a world point), got nil");
  cam.distance = spA_range(&t, "distance", 0, 1e-6, 1e6, 1);
  cam.azimuth = spA_range(&t, "azimuth", 90, -1e6, 1e6, 0);
  cam.elevation = spA_range(&t, "elevation", -30, -90, 90, 0);
  sp_render_path paths[MAX_PATHS];
  int npaths = 0;
  if (lua_getfield(L, t.idx, "paths") != LUA_TNIL) {
    if (!lua_istable(L, -1))
      spA_fielderror(&t, "paths", "expected a list of paths, got %s", luaL_typename(L, -1));
    npaths = (int)luaL_len(L, -1);
    if (npaths > MAX_PATHS)
      spA_fielderror(&t, "paths", "expected at most %d paths, got %d", MAX_PATHS, npaths);
    for (int i = 0; i < npaths; i++) check_path(&t, i + 1, paths + i);
  }
  lua_pop(L, 1);
  int rc = sp_render_frame(u->r, u->rgb, &cam, paths, npaths);
  if (rc) return spL_failure(L, "render: %s", sp_strerror(rc));
  lua_settop(L, 1);
  return 1;
}

// r:frame { ... }: draw, and the image as a string of width * height * 3 bytes
static int m_frame(lua_State* L) {
  lrenderer* u = check(L, 1);
  int n = m_draw(L);
  if (n != 1) return n;
  int w, h;
  sp_render_size(u->r, &w, &h);
  lua_pushlstring(L, (const char*)u->rgb, (size_t)w * h * 3);
  return 1;
}

// r:write(file): the last image to a Lua file. A pipe whose reader has gone (an encoder that
// failed) gives nil, message instead of SIGPIPE ending the process: the signal is blocked for the
// write and a pending one taken back before it is unblocked.
static int m_write(lua_State* L) {
  lrenderer* u = check(L, 1);
  luaL_Stream* s = luaL_checkudata(L, 2, LUA_FILEHANDLE);
  if (!s->closef) return spA_argerror(L, 2, "the file is closed");
  int w, h;
  sp_render_size(u->r, &w, &h);
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  size_t n = (size_t)w * h * 3;
  size_t done = fwrite(u->rgb, 1, n, s->f);
  int err = done == n ? 0 : errno;
  if (!err && fflush(s->f)) err = errno;
  if (err == EPIPE) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe, NULL, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) return spL_failure(L, "render: cannot write the image (%s)", strerror(err));
  lua_pushboolean(L, 1);
  return 1;
}

static int m_tostring(lua_State* L) {
  lrenderer* u = luaL_checkudata(L, 1, RENDERER_MT);
  if (!u->r) {
    lua_pushliteral(L, "spinal.renderer (closed)");
    return 1;
  }
  int w, h;
  sp_render_size(u->r, &w, &h);
  lua_pushfstring(L, "spinal.renderer (%d x %d, nq = %d)", w, h, sp_render_nq(u->r));
  return 1;
}

static const luaL_Reg methods[] = {
    {"pose", m_pose},   {"track", m_track}, {"focus", m_focus}, {"draw", m_draw},
    {"frame", m_frame}, {"write", m_write}, {"close", m_close}, {NULL, NULL},
};

// methods, then the fields nq, width, height
static int m_index(lua_State* L) {
  lrenderer* u = luaL_checkudata(L, 1, RENDERER_MT);
  const char* key = lua_tostring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  if (!key || !u->r) return 0;
  int w, h;
  sp_render_size(u->r, &w, &h);
  if (!strcmp(key, "nq"))
    lua_pushinteger(L, sp_render_nq(u->r));
  else if (!strcmp(key, "width"))
    lua_pushinteger(L, w);
  else if (!strcmp(key, "height"))
    lua_pushinteger(L, h);
  else
    lua_pushnil(L);
  return 1;
}

int luaopen_spinal_renderer(lua_State* L) {
  if (luaL_newmetatable(L, RENDERER_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, m_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, l_open);
  lua_setfield(L, -2, "open");
  return 1;
}
