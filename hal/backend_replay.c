// backend_replay.c: the "replay" plant backend (see backend_replay.h).
#include "hal/backend_replay.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/npy.h"
#include "hal/hal.h"

typedef struct replay_plant {
  long n, i;  // samples, current sample
  int nx, nu;
  double rate_hz;
  double* t;  // (n)
  double* x;  // (n x nx)
  char robot[64];
  char* names;           // nx + nu NUL-terminated names, back to back
  const char** x_names;  // (nx) into names
  const char** u_names;  // (nu) into names
} replay_plant;

static void replay_free(replay_plant* r) {
  if (!r) return;
  sp_free(r->t);
  sp_free(r->x);
  sp_free(r->names);
  sp_free(r->x_names);
  sp_free(r->u_names);
  sp_free(r);
}

// copy the arrays and names of a config into a new replay_plant
static int build(replay_plant** out, const sp_plant_replay_config* c, char* msg, size_t len) {
  if (c->n < 1 || c->nx < 1 || c->nu < 0 || !c->t || !c->x)
    return sp_errorf(msg, len, SP_EINVAL,
                     "replay plant: expected n >= 1, nx >= 1, nu >= 0 and t, x arrays, got n %ld, "
                     "nx %d, nu %d",
                     c->n, c->nx, c->nu);
  for (long i = 0; i < c->n; i++) {
    if (!isfinite(c->t[i]) || (i > 0 && !(c->t[i] > c->t[i - 1])))
      return sp_errorf(msg, len, SP_EINVAL,
                       "replay plant: times must be finite and strictly increasing (sample %ld)",
                       i);
  }
  double rate = c->rate_hz;
  if (!(rate > 0)) rate = c->n > 1 ? (double)(c->n - 1) / (c->t[c->n - 1] - c->t[0]) : 1.0;

  replay_plant* r = sp_calloc(1, sizeof *r);
  if (!r) return SP_ENOMEM;
  r->n = c->n;
  r->nx = c->nx;
  r->nu = c->nu;
  r->rate_hz = rate;
  snprintf(r->robot, sizeof r->robot, "%s", c->robot ? c->robot : "replay");
  r->t = sp_malloc((size_t)c->n * sizeof(double));
  r->x = sp_malloc((size_t)c->n * (size_t)c->nx * sizeof(double));

  // names: given ones copied, missing ones generated
  int nn = c->nx + c->nu;
  size_t bytes = 0;
  for (int j = 0; j < nn; j++) {
    const char* given = j < c->nx ? (c->x_names ? c->x_names[j] : NULL)
                                  : (c->u_names ? c->u_names[j - c->nx] : NULL);
    bytes += (given ? strlen(given) : 12) + 1;
  }
  r->names = sp_malloc(bytes ? bytes : 1);
  r->x_names = sp_malloc((size_t)c->nx * sizeof(char*));
  r->u_names = sp_malloc((size_t)(c->nu ? c->nu : 1) * sizeof(char*));
  if (!r->t || !r->x || !r->names || !r->x_names || !r->u_names) {
    replay_free(r);
    return SP_ENOMEM;
  }
  memcpy(r->t, c->t, (size_t)c->n * sizeof(double));
  memcpy(r->x, c->x, (size_t)c->n * (size_t)c->nx * sizeof(double));
  char* s = r->names;
  for (int j = 0; j < nn; j++) {
    int is_x = j < c->nx;
    const char* given =
        is_x ? (c->x_names ? c->x_names[j] : NULL) : (c->u_names ? c->u_names[j - c->nx] : NULL);
    if (given) {
      strcpy(s, given);
    } else {
      snprintf(s, 13, "%c%d", is_x ? 'x' : 'u', is_x ? j + 1 : j - c->nx + 1);
    }
    if (is_x) {
      r->x_names[j] = s;
    } else {
      r->u_names[j - c->nx] = s;
    }
    s += strlen(s) + 1;
  }
  *out = r;
  return 0;
}

// the column names after k,t,flags in DIR/log.csv, if it exists (names point into buf)
static int csv_names(const char* dir, char* buf, size_t n, const char** names, int max) {
  char path[1024];
  snprintf(path, sizeof path, "%s/log.csv", dir);
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  int got = 0;
  if (fgets(buf, (int)n, f)) {
    buf[strcspn(buf, "\r\n")] = 0;
    int col = 0;
    char* save = NULL;
    for (char* tok = strtok_r(buf, ",", &save); tok && got < max;
         tok = strtok_r(NULL, ",", &save), col++)
      if (col >= 3) names[got++] = tok;
  }
  fclose(f);
  return got;
}

// load DIR/t.npy, DIR/x.npy and (for nu) DIR/u.npy, as written by sp_log_save
static int load_dir(replay_plant** out, const char* dir, char* msg, size_t len) {
  char path[1024];
  sp_array t, x, u;
  memset(&t, 0, sizeof t);
  memset(&x, 0, sizeof x);
  memset(&u, 0, sizeof u);
  snprintf(path, sizeof path, "%s/t.npy", dir);
  int rc = sp_npy_load(&t, path, msg, len);
  if (!rc) {
    snprintf(path, sizeof path, "%s/x.npy", dir);
    rc = sp_npy_load(&x, path, msg, len);
  }
  if (rc) {
    sp_array_release(&t);
    return rc;
  }
  snprintf(path, sizeof path, "%s/u.npy", dir);
  int nu = 0;
  if (sp_npy_load(&u, path, NULL, 0) == 0) nu = u.ndim == 2 ? (int)u.shape[1] : 0;
  sp_array_release(&u);

  long n = t.ndim == 1 ? (long)t.shape[0] : -1;
  if (n < 1 || x.ndim != 2 || x.shape[0] != n || x.shape[1] < 1) {
    sp_array_release(&t);
    sp_array_release(&x);
    return sp_errorf(msg, len, SP_EFORMAT,
                     "replay plant: %s: expected t.npy (n) and x.npy (n x nx) with n >= 1", dir);
  }
  int nx = (int)x.shape[1];
  char header[4096];
  const char* names[512];
  int nn = csv_names(dir, header, sizeof header, names, 512);
  sp_plant_replay_config c = {.n = n, .nx = nx, .nu = nu, .t = t.data, .x = x.data};
  if (nn == nx + nu) {
    c.x_names = names;
    c.u_names = names + nx;
  }
  rc = build(out, &c, msg, len);
  sp_array_release(&t);
  sp_array_release(&x);
  return rc;
}

static int replay_open(sp_plant* p, const char* uri, const void* config, char* msg, size_t len) {
  replay_plant* r = NULL;
  const char* dir = strstr(uri, "://");
  int rc;
  if (config) {
    rc = build(&r, config, msg, len);
  } else if (dir && dir[3]) {
    rc = load_dir(&r, dir + 3, msg, len);
  } else {
    rc = sp_errorf(msg, len, SP_EINVAL,
                   "replay plant: give a sp_plant_replay_config or a URI replay://DIR");
  }
  if (rc) return rc;
  p->impl = r;
  return 0;
}

static int replay_configure(sp_plant* p, char* msg, size_t len) {
  replay_plant* r = p->impl;
  p->caps.robot = r->robot;
  p->caps.nx = r->nx;
  p->caps.nu = r->nu;
  p->caps.rate_hz = r->rate_hz;
  p->caps.x_names = r->x_names;
  p->caps.u_names = r->u_names;
  p->caps.can_reset = 1;
  r->i = 0;
  return 0;
}

static void replay_close(sp_plant* p) {
  replay_free(p->impl);
  p->impl = NULL;
}

static int replay_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  replay_plant* r = p->impl;
  if (r->i >= r->n) return SP_EIO;
  memcpy(x, r->x + (size_t)r->i * r->nx, (size_t)r->nx * sizeof(double));
  *t_ns = (int64_t)llround(r->t[r->i] * 1e9);
  *status = 0;
  return 0;
}

static int replay_write(sp_plant* p, const double* u) {
  replay_plant* r = p->impl;
  if (r->i < r->n) r->i++;
  return 0;
}

static int replay_reset(sp_plant* p, const double* x0) {
  replay_plant* r = p->impl;
  if (x0) return SP_EUNSUPPORTED;
  r->i = 0;
  return 0;
}

const sp_plant_backend sp__plant_replay_backend = {
    .scheme = "replay",
    .open = replay_open,
    .configure = replay_configure,
    .close = replay_close,
    .read = replay_read,
    .write = replay_write,
    .reset = replay_reset,
};
