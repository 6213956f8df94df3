// file_io.c: little-endian buffers and checksummed files for the world-model family (replay
// buffers, VAE policies; see internal.h), written atomically through engine/core/file.h.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/crc32.h"
#include "engine/core/error.h"
#include "engine/core/file.h"
#include "engine/wm/internal.h"

static int grow(sp__wbuf* w, size_t k) {
  if (w->failed) return 0;
  if (w->n + k <= w->cap) return 1;
  size_t cap = w->cap ? w->cap : 4096;
  while (cap < w->n + k) cap *= 2;
  uint8_t* p = sp_realloc(w->p, cap);
  if (!p) {
    w->failed = 1;
    return 0;
  }
  w->p = p;
  w->cap = cap;
  return 1;
}

void sp__put_bytes(sp__wbuf* w, const void* x, size_t n) {
  if (!grow(w, n)) return;
  memcpy(w->p + w->n, x, n);
  w->n += n;
}

void sp__put_u32(sp__wbuf* w, uint32_t x) {
  uint8_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
  sp__put_bytes(w, b, 4);
}

void sp__put_u64(sp__wbuf* w, uint64_t x) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
  sp__put_bytes(w, b, 8);
}

void sp__put_f64(sp__wbuf* w, double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  sp__put_u64(w, u);
}

void sp__put_f64s(sp__wbuf* w, const double* x, size_t n) {
  for (size_t i = 0; i < n; i++) sp__put_f64(w, x[i]);
}

int sp__wbuf_save(sp__wbuf* w, const char* path, char* msg, size_t ms) {
  sp__put_u32(w, sp_crc32(0, w->p, w->n));
  if (w->failed) {
    sp_free(w->p);
    return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  }
  int rc = sp_file_write_atomic(path, w->p, w->n, msg, ms);
  sp_free(w->p);
  return rc;
}

int sp__rbuf_load(sp__rbuf* r, uint8_t** data, const char* path, const char* magic,
                  const char* what, char* msg, size_t ms) {
  *data = NULL;
  uint8_t* buf;
  size_t n;
  int rc = sp_file_read(path, &buf, &n, msg, ms);
  if (rc) return rc;
  if (n < 12 || memcmp(buf, magic, 8)) {
    sp_free(buf);
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: not a %s file", path, what);
  }
  uint32_t want = (uint32_t)buf[n - 4] | (uint32_t)buf[n - 3] << 8 | (uint32_t)buf[n - 2] << 16 |
                  (uint32_t)buf[n - 1] << 24;
  if (want != sp_crc32(0, buf, n - 4)) {
    sp_free(buf);
    return sp_errorf(msg, ms, SP_ECHECKSUM, "%s: checksum mismatch: the file is corrupt", path);
  }
  r->p = buf;
  r->n = n - 4;
  r->at = 8;
  r->short_read = 0;
  *data = buf;
  return 0;
}

void sp__get_bytes(sp__rbuf* r, void* x, size_t n) {
  if (r->n - r->at < n) {
    r->short_read = 1;
    memset(x, 0, n);
    r->at = r->n;
    return;
  }
  memcpy(x, r->p + r->at, n);
  r->at += n;
}

uint32_t sp__get_u32(sp__rbuf* r) {
  uint8_t b[4];
  sp__get_bytes(r, b, 4);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint64_t sp__get_u64(sp__rbuf* r) {
  uint64_t lo = sp__get_u32(r);
  return lo | (uint64_t)sp__get_u32(r) << 32;
}

double sp__get_f64(sp__rbuf* r) {
  uint64_t u = sp__get_u64(r);
  double x;
  memcpy(&x, &u, 8);
  return x;
}

void sp__get_f64s(sp__rbuf* r, double* x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = sp__get_f64(r);
}

void sp__put_reals(sp__wbuf* w, const void* x, sp_dtype t, size_t n) {
  for (size_t i = 0; i < n; i++)
    sp__put_f64(w, t == SP_F64 ? ((const double*)x)[i] : ((const float*)x)[i]);
}

void sp__get_reals(sp__rbuf* r, void* x, sp_dtype t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double d = sp__get_f64(r);
    if (t == SP_F64)
      ((double*)x)[i] = d;
    else
      ((float*)x)[i] = (float)d;
  }
}

void sp__put_optim(sp__wbuf* w, const sp_optim* opt) {
  sp__put_u32(w, opt != NULL);
  if (!opt) return;
  const sp_optim_config* o = &opt->cfg;
  sp__put_u32(w, (uint32_t)o->kind);
  const double f[] = {o->lr, o->momentum, o->beta1, o->beta2, o->eps, o->clip, o->weight_decay};
  sp__put_f64s(w, f, 7);
  sp__put_u64(w, (uint64_t)opt->t);
  sp__put_u32(w, opt->m != NULL);
  sp__put_u32(w, opt->v != NULL);
  if (opt->m) sp__put_reals(w, opt->m, opt->dtype, opt->n);
  if (opt->v) sp__put_reals(w, opt->v, opt->dtype, opt->n);
}

int sp__get_optim(sp__rbuf* r, sp_optim** out, sp_dtype dtype, size_t n) {
  *out = NULL;
  if (!sp__get_u32(r)) return 0;
  sp_optim_config oc;
  memset(&oc, 0, sizeof oc);
  oc.kind = (sp_optim_kind)sp__get_u32(r);
  double* f[] = {&oc.lr, &oc.momentum, &oc.beta1, &oc.beta2, &oc.eps, &oc.clip, &oc.weight_decay};
  for (int i = 0; i < 7; i++) *f[i] = sp__get_f64(r);
  int64_t t = (int64_t)sp__get_u64(r);
  uint32_t has_m = sp__get_u32(r), has_v = sp__get_u32(r);
  sp_optim* o = NULL;
  if (r->short_read || sp_optim_new(&o, &oc, dtype, n) || (o->m != NULL) != (has_m != 0) ||
      (o->v != NULL) != (has_v != 0)) {
    sp_optim_free(o);
    return SP_EFORMAT;
  }
  o->t = t;
  if (o->m) sp__get_reals(r, o->m, dtype, o->n);
  if (o->v) sp__get_reals(r, o->v, dtype, o->n);
  *out = o;
  return 0;
}
