// render.c: MuJoCo's renderer in a headless EGL context (render.h). The context is made with EGL
// on the first platform that works (Mesa's surfaceless, an EGL device, the default display), the
// OpenGL version and extensions MuJoCo needs are checked before mjr_makeContext (which would exit
// the process on them), and every frame draws into MuJoCo's offscreen framebuffer.
#include "render/render.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <math.h>
#include <mujoco/mujoco.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

struct sp_render {
  mjModel* m;
  mjData* d;
  mjvScene scn;
  mjvOption opt;
  mjrContext con;
  int have_scene, have_con;
  EGLDisplay dpy;
  EGLContext ctx;
  int width, height;
  int track;            // body the focus follows
  unsigned char* row;   // (width x 3) scratch for flipping the image
};

// ---- EGL --------------------------------------------------------------------------------------

// EGL displays are per process: one initialised display is shared by every renderer on it and
// terminated when the last one is freed
static pthread_mutex_t displays_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  EGLDisplay dpy;
  int refs;
} displays[8];

static void display_release(EGLDisplay dpy) {
  pthread_mutex_lock(&displays_lock);
  for (int i = 0; i < 8; i++)
    if (displays[i].dpy == dpy && displays[i].refs > 0 && --displays[i].refs == 0) {
      eglTerminate(dpy);
      displays[i].dpy = EGL_NO_DISPLAY;
    }
  pthread_mutex_unlock(&displays_lock);
}

static int display_acquire(EGLDisplay dpy) {
  pthread_mutex_lock(&displays_lock);
  int slot = -1, ok = 0;
  for (int i = 0; i < 8; i++) {
    if (displays[i].refs > 0 && displays[i].dpy == dpy) {
      displays[i].refs++;
      ok = 1;
      break;
    }
    if (slot < 0 && displays[i].refs == 0) slot = i;
  }
  if (!ok && slot >= 0 && eglInitialize(dpy, NULL, NULL)) {
    displays[slot].dpy = dpy;
    displays[slot].refs = 1;
    ok = 1;
  }
  pthread_mutex_unlock(&displays_lock);
  return ok;
}

static const char* egl_error(void) {
  switch (eglGetError()) {
    case EGL_SUCCESS: return "no error reported";
    case EGL_NOT_INITIALIZED: return "EGL_NOT_INITIALIZED";
    case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
    case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
    case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
    case EGL_BAD_CONFIG: return "EGL_BAD_CONFIG";
    case EGL_BAD_CONTEXT: return "EGL_BAD_CONTEXT";
    case EGL_BAD_DISPLAY: return "EGL_BAD_DISPLAY";
    case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
    case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
    default: return "EGL error";
  }
}

// whole-word search in a space-separated extension list
static int has_word(const char* list, const char* word) {
  size_t n = strlen(word);
  for (const char* p = list; p && (p = strstr(p, word)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  return 0;
}

// an OpenGL context on dpy made current, checked for what MuJoCo's renderer needs; 0, or a reason
// in why
#define GL_VERSION_ 0x1F02
#define GL_EXTENSIONS_ 0x1F03
#define GL_MAX_RENDERBUFFER_SIZE_ 0x84E8
static int context_on(sp_render* r, EGLDisplay dpy, char* why, size_t n) {
  if (dpy == EGL_NO_DISPLAY) return snprintf(why, n, "no display (%s)", egl_error()), -1;
  if (!display_acquire(dpy)) return snprintf(why, n, "eglInitialize: %s", egl_error()), -1;
  static const EGLint attr[] = {EGL_SURFACE_TYPE,
                                EGL_PBUFFER_BIT,
                                EGL_RENDERABLE_TYPE,
                                EGL_OPENGL_BIT,
                                EGL_RED_SIZE,
                                8,
                                EGL_GREEN_SIZE,
                                8,
                                EGL_BLUE_SIZE,
                                8,
                                EGL_DEPTH_SIZE,
                                24,
                                EGL_NONE};
  EGLConfig cfg;
  EGLint found = 0;
  const char* step = NULL;
  EGLContext ctx = EGL_NO_CONTEXT;
  if (!eglChooseConfig(dpy, attr, &cfg, 1, &found) || found < 1)
    step = "no configuration with desktop OpenGL and 8-bit colour";
  else if (!eglBindAPI(EGL_OPENGL_API))
    step = "eglBindAPI(EGL_OPENGL_API)";
  else if ((ctx = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, NULL)) == EGL_NO_CONTEXT)
    step = "eglCreateContext";
  else if (!eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx))
    step = "eglMakeCurrent without a surface";
  if (step) {
    snprintf(why, n, "%s: %s", step, egl_error());
    if (ctx != EGL_NO_CONTEXT) eglDestroyContext(dpy, ctx);
    display_release(dpy);
    return -1;
  }
  r->dpy = dpy;
  r->ctx = ctx;

  // MuJoCo's own requirements (mjr_makeContext ends the process when they are not met)
  typedef const unsigned char* (*get_string_fn)(unsigned);
  typedef void (*get_integer_fn)(unsigned, int*);
  get_string_fn get_string = (get_string_fn)eglGetProcAddress("glGetString");
  get_integer_fn get_integer = (get_integer_fn)eglGetProcAddress("glGetIntegerv");
  const char* version = get_string ? (const char*)get_string(GL_VERSION_) : NULL;
  const char* ext = get_string ? (const char*)get_string(GL_EXTENSIONS_) : NULL;
  int major = 0, minor = 0, max_size = 0;
  if (version) sscanf(version, "%d.%d", &major, &minor);
  if (get_integer) get_integer(GL_MAX_RENDERBUFFER_SIZE_, &max_size);
  step = !version                                    ? "glGetString gives no OpenGL version"
         : major * 10 + minor < 15                   ? "MuJoCo needs OpenGL 1.5 or later"
         : !has_word(ext, "GL_ARB_framebuffer_object") ? "MuJoCo needs GL_ARB_framebuffer_object"
         : (max_size > 0 && (r->width > max_size || r->height > max_size))
             ? "the image is larger than GL_MAX_RENDERBUFFER_SIZE"
             : NULL;
  if (step) {
    snprintf(why, n, "%s (OpenGL %s, largest image %d)", step, version ? version : "unknown",
             max_size);
    eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    eglDestroyContext(dpy, ctx);
    display_release(dpy);
    r->dpy = EGL_NO_DISPLAY;
    r->ctx = EGL_NO_CONTEXT;
    return -1;
  }
  return 0;
}

// the first platform that gives a working context: Mesa's surfaceless, EGL devices, the default
static int make_context(sp_render* r, char* msg, size_t len) {
  const char* client = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
  PFNEGLGETPLATFORMDISPLAYEXTPROC platform_display =
      (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
  char tried[600] = "", why[200];
  size_t at = 0;
#define TRIED(name)                                                                   \
  at += (size_t)snprintf(tried + at, at < sizeof tried ? sizeof tried - at : 0, "%s%s: %s", \
                         at ? "; " : "", name, why)

  if (platform_display && has_word(client, "EGL_MESA_platform_surfaceless")) {
    EGLDisplay dpy = platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
    if (!context_on(r, dpy, why, sizeof why)) return 0;
    TRIED("surfaceless");
  }
  PFNEGLQUERYDEVICESEXTPROC query_devices =
      (PFNEGLQUERYDEVICESEXTPROC)eglGetProcAddress("eglQueryDevicesEXT");
  if (platform_display && query_devices && has_word(client, "EGL_EXT_platform_device")) {
    EGLDeviceEXT dev[8];
    EGLint ndev = 0;
    if (query_devices(8, dev, &ndev))
      for (int i = 0; i < ndev; i++) {
        EGLDisplay dpy = platform_display(EGL_PLATFORM_DEVICE_EXT, dev[i], NULL);
        if (!context_on(r, dpy, why, sizeof why)) return 0;
        TRIED("device");
      }
  }
  if (!context_on(r, eglGetDisplay(EGL_DEFAULT_DISPLAY), why, sizeof why)) return 0;
  TRIED("default display");
#undef TRIED
  return sp_errorf(msg, len, SP_EUNSUPPORTED,
                   "render: no OpenGL context for offscreen rendering (%s); a headless machine "
                   "needs Mesa's EGL and software driver (Debian: libegl1 libegl-mesa0 "
                   "libgl1-mesa-dri, installed by tools/install-deps) or a GPU driver with EGL",
                   tried);
}

// ---- the renderer -----------------------------------------------------------------------------


// the robot's root: the first body on a free joint, else the world's first child
static int root_body(const mjModel* m) {
  for (int b = 1; b < m->nbody; b++)
    if (m->body_jntnum[b] > 0 && m->jnt_type[m->body_jntadr[b]] == mjJNT_FREE) return b;
  return m->nbody > 1 ? 1 : 0;
}

int sp_render_new(sp_render** out, const sp_render_config* c, char* msg, size_t len) {
  *out = NULL;
  if (!c || !c->mjcf) return sp_errorf(msg, len, SP_EINVAL, "render: no MJCF file given");
  int w = c->width ? c->width : 640, h = c->height ? c->height : 480;
  if (w < 16 || h < 16 || w > SP_RENDER_MAX_SIZE || h > SP_RENDER_MAX_SIZE)
    return sp_errorf(msg, len, SP_ERANGE, "render: image size %d x %d (expected %d to %d pixels "
                     "each way)", w, h, 16, SP_RENDER_MAX_SIZE);
  if (c->samples < 0 || c->samples > 16)
    return sp_errorf(msg, len, SP_ERANGE, "render: samples %d (expected 0 to 16)", c->samples);
  FILE* f = fopen(c->mjcf, "r");
  if (!f) return sp_errorf(msg, len, SP_ENOTFOUND, "render: cannot open MJCF %s", c->mjcf);
  fclose(f);

  sp_render* r = sp_calloc(1, sizeof *r);
  unsigned char* row = sp_malloc((size_t)w * 3);
  if (!r || !row) {
    sp_free(r);
    sp_free(row);
    return SP_ENOMEM;
  }
  r->row = row;
  r->width = w;
  r->height = h;
  r->dpy = EGL_NO_DISPLAY;
  r->ctx = EGL_NO_CONTEXT;

  char err[512] = "";
  r->m = mj_loadXML(c->mjcf, NULL, err, sizeof err);
  if (!r->m) {
    for (char* s = err; *s; s++)
      if (*s == '\n') *s = ' ';
    sp_render_free(r);
    return sp_errorf(msg, len, SP_EFORMAT, "render: %s: %s", c->mjcf,
                     err[0] ? err : "cannot load");
  }
  r->d = mj_makeData(r->m);
  if (!r->d) {
    sp_render_free(r);
    return sp_errorf(msg, len, SP_ENOMEM, "render: cannot allocate mjData");
  }
  r->track = root_body(r->m);
  int rc = make_context(r, msg, len);
  if (rc) {
    sp_render_free(r);
    return rc;
  }

  // MuJoCo's offscreen buffer at the image size; the scene with room for the paths
  mjModel* m = r->m;
  m->vis.global.offwidth = w;
  m->vis.global.offheight = h;
  if (c->samples) m->vis.quality.offsamples = c->samples;
  mjv_defaultOption(&r->opt);
  mjv_defaultScene(&r->scn);
  mjr_defaultContext(&r->con);
  mjv_makeScene(m, &r->scn, 2 * (m->ngeom + m->nsite + m->nbody) + 500 + SP_RENDER_MAX_SEGMENTS);
  r->have_scene = 1;
  mjr_makeContext(m, &r->con, mjFONTSCALE_100);
  r->have_con = 1;
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  if (r->con.currentBuffer != mjFB_OFFSCREEN || r->con.offWidth != w || r->con.offHeight != h) {
    sp_render_free(r);
    return sp_errorf(msg, len, SP_EUNSUPPORTED,
                     "render: MuJoCo made no %d x %d offscreen framebuffer in this OpenGL context",
                     w, h);
  }
  mj_forward(m, r->d);
  *out = r;
  return 0;
}

void sp_render_free(sp_render* r) {
  if (!r) return;
  if (r->ctx != EGL_NO_CONTEXT) eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, r->ctx);
  if (r->have_con) mjr_freeContext(&r->con);
  if (r->have_scene) mjv_freeScene(&r->scn);
  if (r->ctx != EGL_NO_CONTEXT) {
    eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    eglDestroyContext(r->dpy, r->ctx);
    display_release(r->dpy);
  }
  if (r->d) mj_deleteData(r->d);
  if (r->m) mj_deleteModel(r->m);
  sp_free(r->row);
  sp_free(r);
}

int sp_render_nq(const sp_render* r) {
  return r->m->nq;
}

void sp_render_size(const sp_render* r, int* width, int* height) {
  if (width) *width = r->width;
  if (height) *height = r->height;
}

int sp_render_pose(sp_render* r, const double* qpos) {
  const mjModel* m = r->m;
  for (int i = 0; i < m->nq; i++)
    if (!isfinite(qpos[i])) return SP_ENUMERIC;
  memcpy(r->d->qpos, qpos, sizeof(double) * (size_t)m->nq);
  mj_kinematics(m, r->d);
  mj_comPos(m, r->d);
  mj_camlight(m, r->d);
  return 0;
}

int sp_render_track(sp_render* r, const char* body, char* msg, size_t len) {
  if (!body) {
    r->track = root_body(r->m);
    return 0;
  }
  int b = mj_name2id(r->m, mjOBJ_BODY, body);
  if (b < 0) return sp_errorf(msg, len, SP_ENOTFOUND, "render: no body named '%s'", body);
  r->track = b;
  return 0;
}

void sp_render_focus(const sp_render* r, double centre[3], double* radius) {
  const mjModel* m = r->m;
  const mjData* d = r->d;
  const double* c = d->subtree_com + 3 * r->track;
  double rad = 0;
  for (int g = 0; g < m->ngeom; g++) {
    int b = m->geom_bodyid[g];
    while (b > 0 && b != r->track) b = m->body_parentid[b];
    if (b != r->track || m->geom_type[g] == mjGEOM_PLANE) continue;
    const double* p = d->geom_xpos + 3 * g;
    double dx = p[0] - c[0], dy = p[1] - c[1], dz = p[2] - c[2];
    double e = sqrt(dx * dx + dy * dy + dz * dz) + m->geom_rbound[g];
    if (e > rad) rad = e;
  }
  memcpy(centre, c, 3 * sizeof(double));
  *radius = rad;
}

// a path's segments as flat boxes (a ribbon: a capsule costs the software rasteriser a hundred
// times more), thinned to at most room of them
static void add_path(mjvScene* scn, const sp_render_path* p, int room) {
  int segs = p->n - 1;
  if (segs < 1 || room < 1 || !(p->width > 0)) return;
  int stride = (segs + room - 1) / room;
  for (int i = 0; i < segs && scn->ngeom < scn->maxgeom; i += stride) {
    int j = i + stride < p->n - 1 ? i + stride : p->n - 1;
    const double *a = p->points + 3 * i, *b = p->points + 3 * j;
    double x[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double len = sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
    if (!isfinite(len) || len < 1e-9) continue;
    for (int k = 0; k < 3; k++) x[k] /= len;
    // y across the ribbon, horizontal; z its normal (up for a path on the floor)
    double y[3] = {-x[1], x[0], 0};
    double ny = sqrt(y[0] * y[0] + y[1] * y[1]);
    if (ny < 1e-6) {  // a vertical segment
      y[0] = 0, y[1] = 1, ny = 1;
    }
    y[0] /= ny, y[1] /= ny;
    double z[3] = {x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]};
    mjtNum mat[9] = {x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]};
    mjtNum pos[3] = {(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2};
    // at most 4 mm thick: a path a few mm above the floor stays clear of it (and of its mirror
    // image in a reflective floor, which would otherwise poke through as speckles)
    mjtNum size[3] = {len / 2 + p->width / 2, p->width, p->width / 4 < 0.002 ? p->width / 4 : 0.002};
    mjvGeom* g = scn->geoms + scn->ngeom;
    mjv_initGeom(g, mjGEOM_BOX, size, pos, mat, p->rgba);
    g->category = mjCAT_DECOR;
    g->emission = 0.6f;  // lit from within: no shadow acne on the flat top, reads in the dark
    g->specular = 0;
    g->objtype = mjOBJ_UNKNOWN;
    g->objid = -1;
    g->segid = scn->ngeom;
    scn->ngeom++;
  }
}

// the scene drawn into MuJoCo's offscreen buffer
static void draw(sp_render* r, const sp_render_camera* cam, const sp_render_path* paths,
                 int npaths) {
  mjvCamera c;
  mjv_defaultCamera(&c);
  c.type = mjCAMERA_FREE;
  memcpy(c.lookat, cam->lookat, sizeof c.lookat);
  c.distance = cam->distance;
  c.azimuth = cam->azimuth;
  c.elevation = cam->elevation;
  // the camera first: MuJoCo places an infinite floor around the camera the scene already has,
  // so without this a frame would show the floor as the previous camera saw it
  mjv_updateCamera(r->m, r->d, &c, &r->scn);
  mjv_updateScene(r->m, r->d, &r->opt, NULL, &c, mjCAT_ALL, &r->scn);
  for (int i = 0; i < npaths; i++)
    add_path(&r->scn, paths + i, (r->scn.maxgeom - r->scn.ngeom) / (npaths - i));

  mjrRect viewport = {0, 0, r->width, r->height};
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  mjr_render(viewport, &r->scn, &r->con);
}

int sp_render_frame(sp_render* r, unsigned char* rgb, const sp_render_camera* cam,
                    const sp_render_path* paths, int npaths) {
  if (!rgb || !cam || !(cam->distance > 0) || npaths < 0 || (npaths > 0 && !paths))
    return SP_EINVAL;
  if (!eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, r->ctx)) return SP_ESTATE;
  draw(r, cam, paths, npaths);
  mjrRect viewport = {0, 0, r->width, r->height};
  mjr_readPixels(rgb, NULL, viewport, &r->con);

  // OpenGL's rows run bottom to top; images top to bottom
  size_t stride = (size_t)r->width * 3;
  for (int y = 0; y < r->height / 2; y++) {
    unsigned char *top = rgb + stride * y, *bottom = rgb + stride * (r->height - 1 - y);
    memcpy(r->row, top, stride);
    memcpy(top, bottom, stride);
    memcpy(bottom, r->row, stride);
  }
  return 0;
}
