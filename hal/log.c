// log.c: SPSC sample ring (Lamport's single-producer/single-consumer queue with C11 atomics) and
// its growing consumer-side arrays, saved through engine/core/npy.h and as CSV.
#include "hal/log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/npy.h"

// a ring slot holds [k, t, flags, x (nx), u (nu)] as doubles (k and flags are exact below 2^53)
#define SLOT_HEAD 3

struct sp_log {
  int nx, nu;
  size_t stride;       // doubles per slot
  size_t cap, mask;    // ring slots (power of two)
  double* ring;        // (cap x stride)
  atomic_size_t head;  // next slot the producer writes (producer-owned)
  atomic_size_t tail;  // next slot the consumer reads (consumer-owned)
  atomic_uint_fast64_t overflows, pushed;

  // consumer-side arrays
  long n, n_cap;
  long* k;          // (n_cap)
  double* t;        // (n_cap)
  uint32_t* flags;  // (n_cap)
  double* x;        // (n_cap x nx)
  double* u;        // (n_cap x nu)
  const char* const* x_names;
  const char* const* u_names;
};

int sp_log_new(sp_log** out, int nx, int nu, size_t capacity) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (nx < 0 || nu < 0 || capacity < 2 || capacity > ((size_t)1 << 30)) return SP_EINVAL;
  size_t cap = 2;
  while (cap < capacity) cap <<= 1;
  sp_log* g = sp_calloc(1, sizeof *g);
  if (!g) return SP_ENOMEM;
  g->nx = nx;
  g->nu = nu;
  g->stride = SLOT_HEAD + (size_t)nx + (size_t)nu;
  g->cap = cap;
  g->mask = cap - 1;
  g->ring = sp_malloc(cap * g->stride * sizeof(double));
  if (!g->ring) {
    sp_free(g);
    return SP_ENOMEM;
  }
  atomic_init(&g->head, 0);
  atomic_init(&g->tail, 0);
  atomic_init(&g->overflows, 0);
  atomic_init(&g->pushed, 0);
  *out = g;
  return 0;
}

void sp_log_free(sp_log* g) {
  if (!g) return;
  sp_free(g->ring);
  sp_free(g->k);
  sp_free(g->t);
  sp_free(g->flags);
  sp_free(g->x);
  sp_free(g->u);
  sp_free(g);
}

void sp_log_set_names(sp_log* g, const char* const* x_names, const char* const* u_names) {
  g->x_names = x_names;
  g->u_names = u_names;
}

int sp_log_push(sp_log* g, long k, double t, const double* x, const double* u, uint32_t flags) {
  size_t h = atomic_load_explicit(&g->head, memory_order_relaxed);
  size_t tl = atomic_load_explicit(&g->tail, memory_order_acquire);
  if (h - tl >= g->cap) {
    atomic_fetch_add_explicit(&g->overflows, 1, memory_order_relaxed);
    return SP_ERANGE;
  }
  double* s = g->ring + (h & g->mask) * g->stride;
  s[0] = (double)k;
  s[1] = t;
  s[2] = (double)flags;
  for (int i = 0; i < g->nx; i++) s[SLOT_HEAD + i] = x ? x[i] : NAN;
  for (int i = 0; i < g->nu; i++) s[SLOT_HEAD + g->nx + i] = u ? u[i] : NAN;
  atomic_store_explicit(&g->head, h + 1, memory_order_release);
  atomic_fetch_add_explicit(&g->pushed, 1, memory_order_relaxed);
  return 0;
}

// grow the arrays to hold at least need samples
static int reserve(sp_log* g, long need) {
  if (need <= g->n_cap) return 0;
  long cap = g->n_cap ? g->n_cap : 1024;
  while (cap < need) cap *= 2;
  size_t c = (size_t)cap;
  long* k = sp_realloc(g->k, c * sizeof *k);
  if (k) g->k = k;
  double* t = sp_realloc(g->t, c * sizeof *t);
  if (t) g->t = t;
  uint32_t* f = sp_realloc(g->flags, c * sizeof *f);
  if (f) g->flags = f;
  double* x = g->nx ? sp_realloc(g->x, c * (size_t)g->nx * sizeof *x) : g->x;
  if (x) g->x = x;
  double* u = g->nu ? sp_realloc(g->u, c * (size_t)g->nu * sizeof *u) : g->u;
  if (u) g->u = u;
  if (!k || !t || !f || (g->nx && !x) || (g->nu && !u)) return SP_ENOMEM;
  g->n_cap = cap;
  return 0;
}

long sp_log_drain(sp_log* g) {
  size_t tl = atomic_load_explicit(&g->tail, memory_order_relaxed);
  size_t h = atomic_load_explicit(&g->head, memory_order_acquire);
  long avail = (long)(h - tl);
  if (avail == 0) return 0;
  if (reserve(g, g->n + avail)) return SP_ENOMEM;
  for (long j = 0; j < avail; j++) {
    const double* s = g->ring + ((tl + (size_t)j) & g->mask) * g->stride;
    long i = g->n + j;
    g->k[i] = (long)s[0];
    g->t[i] = s[1];
    g->flags[i] = (uint32_t)s[2];
    memcpy(g->x + (size_t)i * g->nx, s + SLOT_HEAD, (size_t)g->nx * sizeof(double));
    memcpy(g->u + (size_t)i * g->nu, s + SLOT_HEAD + g->nx, (size_t)g->nu * sizeof(double));
  }
  g->n += avail;
  atomic_store_explicit(&g->tail, h, memory_order_release);
  return avail;
}

long sp_log_count(const sp_log* g) {
  return g->n;
}
const long* sp_log_k(const sp_log* g) {
  return g->k;
}
const double* sp_log_t(const sp_log* g) {
  return g->t;
}
const uint32_t* sp_log_flags(const sp_log* g) {
  return g->flags;
}
const double* sp_log_x(const sp_log* g) {
  return g->x;
}
const double* sp_log_u(const sp_log* g) {
  return g->u;
}
void sp_log_clear(sp_log* g) {
  g->n = 0;
}

void sp_log_truncate(sp_log* g, long n) {
  if (n >= 0 && n < g->n) g->n = n;
}

long sp_log_discard(sp_log* g) {
  size_t tl = atomic_load_explicit(&g->tail, memory_order_relaxed);
  size_t h = atomic_load_explicit(&g->head, memory_order_acquire);
  atomic_store_explicit(&g->tail, h, memory_order_release);
  return (long)(h - tl);
}

uint64_t sp_log_overflows(const sp_log* g) {
  return atomic_load(&((sp_log*)g)->overflows);
}
uint64_t sp_log_pushed(const sp_log* g) {
  return atomic_load(&((sp_log*)g)->pushed);
}
size_t sp_log_capacity(const sp_log* g) {
  return g->cap;
}

size_t sp_log_pending(const sp_log* g) {
  sp_log* m = (sp_log*)g;
  return atomic_load_explicit(&m->head, memory_order_acquire) -
         atomic_load_explicit(&m->tail, memory_order_acquire);
}

// ---- saving -----------------------------------------------------------------------------------

static int save_npy(const char* dir, const char* name, double* data, long n, int cols, char* msg,
                    size_t msglen) {
  char path[1024];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return sp_errorf(msg, msglen, SP_EINVAL, "log: path too long: %s/%s", dir, name);
  sp_array a;
  int64_t shape[2] = {n, cols};
  static double empty;
  int rc = sp_array_wrap(&a, data ? data : &empty, cols ? 2 : 1, shape);
  if (!rc) rc = sp_npy_save(path, &a, msg, msglen);
  return rc;
}

int sp_log_save(const sp_log* g, const char* dir, char* msg, size_t msglen) {
  if (!g || !dir) return SP_EINVAL;
  if (mkdir(dir, 0777) && errno != EEXIST)
    return sp_errorf(msg, msglen, SP_EIO, "log: cannot create directory %s: %s", dir,
                     strerror(errno));
  long n = g->n;

  // k, t and flags as float64 columns (exact for these ranges)
  double* col = sp_malloc((size_t)(n ? n : 1) * 2 * sizeof(double));
  if (!col) return sp_errorf(msg, msglen, SP_ENOMEM, "log: out of memory saving %s", dir);
  double* kf = col;
  double* ff = col + n;
  for (long i = 0; i < n; i++) {
    kf[i] = (double)g->k[i];
    ff[i] = (double)g->flags[i];
  }
  int rc = save_npy(dir, "k.npy", kf, n, 0, msg, msglen);
  if (!rc) rc = save_npy(dir, "t.npy", g->t, n, 0, msg, msglen);
  if (!rc) rc = save_npy(dir, "flags.npy", ff, n, 0, msg, msglen);
  if (!rc) rc = save_npy(dir, "x.npy", g->x, n, g->nx, msg, msglen);
  if (!rc) rc = save_npy(dir, "u.npy", g->u, n, g->nu, msg, msglen);
  sp_free(col);
  if (rc) return rc;

  // CSV with a named header, full precision
  char path[1024];
  if (snprintf(path, sizeof path, "%s/log.csv", dir) >= (int)sizeof path)
    return sp_errorf(msg, msglen, SP_EINVAL, "log: path too long: %s/log.csv", dir);
  FILE* f = fopen(path, "w");
  if (!f) return sp_errorf(msg, msglen, SP_EIO, "log: cannot write %s: %s", path, strerror(errno));
  fprintf(f, "k,t,flags");
  for (int j = 0; j < g->nx; j++)
    g->x_names ? fprintf(f, ",%s", g->x_names[j]) : fprintf(f, ",x%d", j);
  for (int j = 0; j < g->nu; j++)
    g->u_names ? fprintf(f, ",%s", g->u_names[j]) : fprintf(f, ",u%d", j);
  fputc('\n', f);
  for (long i = 0; i < n; i++) {
    fprintf(f, "%ld,%.17g,%u", g->k[i], g->t[i], (unsigned)g->flags[i]);
    for (int j = 0; j < g->nx; j++) fprintf(f, ",%.17g", g->x[(size_t)i * g->nx + j]);
    for (int j = 0; j < g->nu; j++) fprintf(f, ",%.17g", g->u[(size_t)i * g->nu + j]);
    fputc('\n', f);
  }
  if (ferror(f) | fclose(f)) return sp_errorf(msg, msglen, SP_EIO, "log: error writing %s", path);
  return 0;
}
