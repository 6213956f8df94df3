// replay.c: the ring of transitions and its n-step window sampling (see replay.h).
#include "replay.h"

#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/wm/internal.h"

int sp_replay_new(sp_replay** out, int nx, int nu, int64_t capacity) {
  *out = NULL;
  if (nx < 1 || nu < 1 || capacity < 1 || capacity > ((int64_t)1 << 32)) return SP_EINVAL;
  sp_replay* r = sp_calloc(1, sizeof *r);
  size_t C = (size_t)capacity;
  double* d = sp_malloc(C * (2 * (size_t)nx + (size_t)nu) * sizeof(double));
  unsigned char* e = sp_calloc(C, 1);
  if (!r || !d || !e) {
    sp_free(r);
    sp_free(d);
    sp_free(e);
    return SP_ENOMEM;
  }
  r->nx = nx;
  r->nu = nu;
  r->capacity = capacity;
  r->s = d;
  r->a = d + C * nx;
  r->s_next = r->a + C * nu;
  r->end = e;
  *out = r;
  return 0;
}

void sp_replay_free(sp_replay* r) {
  if (!r) return;
  sp_free(r->s);
  sp_free(r->end);
  sp_free(r);
}

void sp_replay_clear(sp_replay* r) {
  r->size = r->head = 0;
}

void sp_replay_push(sp_replay* r, const double* s, const double* a, const double* s_next, int end) {
  size_t h = (size_t)r->head;
  memcpy(r->s + h * r->nx, s, (size_t)r->nx * sizeof(double));
  memcpy(r->a + h * r->nu, a, (size_t)r->nu * sizeof(double));
  memcpy(r->s_next + h * r->nx, s_next, (size_t)r->nx * sizeof(double));
  r->end[h] = end != 0;
  r->head = (r->head + 1) % r->capacity;
  if (r->size < r->capacity) r->size++;
  r->pushed++;
}

// physical slot of entry i (0 = oldest)
static size_t slot(const sp_replay* r, int64_t i) {
  return (size_t)((r->head - r->size + i + r->capacity) % r->capacity);
}

int sp_replay_valid(const sp_replay* r, int64_t i, int n) {
  if (n < 1 || i < 0 || i + n > r->size) return 0;
  for (int k = 0; k < n - 1; k++)
    if (r->end[slot(r, i + k)]) return 0;
  return 1;
}

int sp_replay_set_history(sp_replay* r, int history) {
  if (history < 0 || history > 1) return SP_EINVAL;
  r->history = history;
  return 0;
}

static void gather(const sp_replay* r, double* S, double* A, int64_t i, int n) {
  size_t nx = (size_t)r->nx, nu = (size_t)r->nu, na = nu * (1 + (size_t)r->history);
  for (int k = 0; k < n; k++) {
    size_t p = slot(r, i + k);
    memcpy(S + k * nx, r->s + p * nx, nx * sizeof(double));
    memcpy(A + k * na, r->a + p * nu, nu * sizeof(double));
    if (r->history) {
      // the entry before, when it leads into this one (held, same episode)
      int64_t j = i + k - 1;
      size_t q = j >= 0 && !r->end[slot(r, j)] ? slot(r, j) : p;
      memcpy(A + k * na + nu, r->a + q * nu, nu * sizeof(double));
    }
    if (k == n - 1) memcpy(S + (size_t)n * nx, r->s_next + p * nx, nx * sizeof(double));
  }
}

int sp_replay_window(const sp_replay* r, double* S, double* A, int64_t i, int n) {
  if (!sp_replay_valid(r, i, n)) return SP_ERANGE;
  gather(r, S, A, i, n);
  return 0;
}

int sp_replay_sample(const sp_replay* r, sp_rng* rng, double* S, double* A, int64_t* starts,
                     int batch, int n) {
  if (n < 1 || batch < 1) return SP_EINVAL;
  if (r->size < n) return SP_ENOTFOUND;
  uint64_t nstart = (uint64_t)(r->size - n + 1);
  for (int b = 0; b < batch; b++) {
    int64_t i = -1;
    for (int tries = 0; tries < 64 && i < 0; tries++) {
      int64_t c = (int64_t)sp_rng_below(rng, nstart);
      if (sp_replay_valid(r, c, n)) i = c;
    }
    if (i < 0) return SP_ENOTFOUND;
    gather(r, S + (size_t)b * (n + 1) * r->nx, A + (size_t)b * n * r->nu * (1 + r->history), i, n);
    if (starts) starts[b] = i;
  }
  return 0;
}

// ---- files
// ----------------------------------------------------------------------------------------

int sp_replay_save(const sp_replay* r, const sp_rng* rng, const char* path, char* msg, size_t ms) {
  sp__wbuf w = {0};
  sp__put_bytes(&w, "SPREPLAY", 8);
  sp__put_u32(&w, 1);
  sp__put_u32(&w, (uint32_t)r->nx);
  sp__put_u32(&w, (uint32_t)r->nu);
  sp__put_u32(&w, rng != NULL);
  sp__put_u64(&w, (uint64_t)r->size);
  sp__put_u64(&w, (uint64_t)r->pushed);
  for (int64_t i = 0; i < r->size; i++) {
    size_t p = slot(r, i);
    sp__put_f64s(&w, r->s + p * r->nx, (size_t)r->nx);
    sp__put_f64s(&w, r->a + p * r->nu, (size_t)r->nu);
    sp__put_f64s(&w, r->s_next + p * r->nx, (size_t)r->nx);
  }
  for (int64_t i = 0; i < r->size; i++) sp__put_bytes(&w, &r->end[slot(r, i)], 1);
  if (rng) {
    for (int k = 0; k < 4; k++) sp__put_u64(&w, rng->s[k]);
    sp__put_f64(&w, rng->spare);
    sp__put_u32(&w, (uint32_t)rng->has_spare);
  }
  return sp__wbuf_save(&w, path, msg, ms);
}

int sp_replay_load(sp_replay* r, sp_rng* rng, const char* path, char* msg, size_t ms) {
  sp__rbuf b;
  uint8_t* data;
  int rc = sp__rbuf_load(&b, &data, path, "SPREPLAY", "replay buffer", msg, ms);
  if (rc) return rc;
  uint32_t version = sp__get_u32(&b), nx = sp__get_u32(&b), nu = sp__get_u32(&b);
  uint32_t has_rng = sp__get_u32(&b);
  uint64_t size = sp__get_u64(&b), pushed = sp__get_u64(&b);
  size_t entry = (2 * (size_t)nx + nu) * 8 + 1;
  if (version != 1)
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: replay buffer version %u, this build reads 1", path,
                   version);
  else if (nx != (uint32_t)r->nx || nu != (uint32_t)r->nu)
    rc = sp_errorf(msg, ms, SP_EMISMATCH,
                   "%s: transitions of nx %u, nu %u in the file, nx %d, nu %d in the buffer", path,
                   nx, nu, r->nx, r->nu);
  else if (size > (b.n - b.at) / entry ||
           b.n - b.at != size * entry + (has_rng ? 4 * 8 + 8 + 4 : 0))
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: truncated or inconsistent replay buffer", path);
  if (rc) {
    sp_free(data);
    return rc;
  }
  // the newest entries that fit, oldest first
  uint64_t skip = size > (uint64_t)r->capacity ? size - (uint64_t)r->capacity : 0;
  size_t ends = b.at + (size_t)size * (entry - 1);
  sp_replay_clear(r);
  for (uint64_t i = 0; i < size; i++) {
    size_t h = (size_t)r->head;
    if (i < skip) {
      b.at += entry - 1;
      continue;
    }
    sp__get_f64s(&b, r->s + h * r->nx, (size_t)r->nx);
    sp__get_f64s(&b, r->a + h * r->nu, (size_t)r->nu);
    sp__get_f64s(&b, r->s_next + h * r->nx, (size_t)r->nx);
    r->end[h] = b.p[ends + i] != 0;
    r->head = (r->head + 1) % r->capacity;
    r->size++;
  }
  r->pushed = (int64_t)pushed;
  b.at = ends + (size_t)size;
  if (has_rng && rng) {
    for (int k = 0; k < 4; k++) rng->s[k] = sp__get_u64(&b);
    rng->spare = sp__get_f64(&b);
    rng->has_spare = (int)sp__get_u32(&b);
  }
  sp_free(data);
  return 0;
}
