// checkpoint.c: MLP + optimiser checkpoints with a CRC-32 and atomic replacement (see
// checkpoint.h for the layout).
#include "checkpoint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/crc32.h"
#include "engine/core/error.h"
#include "engine/core/file.h"

static const char magic[8] = {'S', 'P', 'N', 'N', 'C', 'K', 'P', 'T'};
#define FIXED_HEADER 24  // magic, version, reserved, length

// ---- little-endian encoding ---------------------------------------------------------------------

typedef struct writer {
  uint8_t* p;
  size_t n;
} writer;

static void put_u32(writer* w, uint32_t x) {
  for (int i = 0; i < 4; i++) w->p[w->n++] = (uint8_t)(x >> (8 * i));
}

static void put_u64(writer* w, uint64_t x) {
  for (int i = 0; i < 8; i++) w->p[w->n++] = (uint8_t)(x >> (8 * i));
}

static void put_f64(writer* w, double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  put_u64(w, u);
}

// n elements of dtype t
static void put_reals(writer* w, const void* x, sp_dtype t, size_t n) {
  if (t == SP_F64) {
    const double* d = x;
    for (size_t i = 0; i < n; i++) put_f64(w, d[i]);
  } else {
    const float* f = x;
    for (size_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, &f[i], 4);
      put_u32(w, u);
    }
  }
}

static uint32_t get_u32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t* p) {
  return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static double get_f64(const uint8_t* p) {
  uint64_t u = get_u64(p);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

static void get_reals(void* out, const uint8_t* p, sp_dtype t, size_t n) {
  if (t == SP_F64) {
    double* d = out;
    for (size_t i = 0; i < n; i++) d[i] = get_f64(p + 8 * i);
  } else {
    float* f = out;
    for (size_t i = 0; i < n; i++) {
      uint32_t u = get_u32(p + 4 * i);
      memcpy(&f[i], &u, 4);
    }
  }
}

// ---- save ---------------------------------------------------------------------------------------

static size_t header_size(int nlayers, int has_opt, int has_meta) {
  size_t n = FIXED_HEADER + 8 + 4 * ((size_t)nlayers + 1) + 4 * (size_t)nlayers + 8 + 4;
  if (has_opt) n += 7 * 8 + 8 + 4 + 4;
  if (has_meta) n += 8;
  return n;
}

int sp_checkpoint_save(const char* path, const sp_mlp* net, const sp_optim* opt, char* msg,
                       size_t ms) {
  return sp_checkpoint_save_meta(path, net, opt, NULL, 0, msg, ms);
}

int sp_checkpoint_save_meta(const char* path, const sp_mlp* net, const sp_optim* opt,
                            const void* meta, size_t meta_len, char* msg, size_t ms) {
  if (opt && (opt->n != net->nparams || opt->dtype != net->dtype))
    return sp_errorf(msg, ms, SP_EINVAL,
                     "%s: the optimiser holds %zu %s parameters, the network %zu %s", path, opt->n,
                     sp_dtype_name(opt->dtype), net->nparams, sp_dtype_name(net->dtype));
  size_t es = sp_dtype_size(net->dtype);
  size_t nstate = opt ? (opt->m != NULL) + (opt->v != NULL) : 0;
  int has_meta = meta_len > 0;
  size_t total = header_size(net->nlayers, opt != NULL, has_meta) +
                 (1 + nstate) * net->nparams * es + meta_len + 4;
  uint8_t* buf = sp_malloc(total);
  if (!buf) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory (%zu bytes)", path, total);
  writer w = {buf, 0};

  // header
  memcpy(buf, magic, 8);
  w.n = 8;
  put_u32(&w, has_meta ? 2 : 1);
  put_u32(&w, 0);
  put_u64(&w, total);
  put_u32(&w, (uint32_t)net->dtype);
  put_u32(&w, (uint32_t)net->nlayers);
  put_u32(&w, (uint32_t)net->nin);
  for (int l = 0; l < net->nlayers; l++) put_u32(&w, (uint32_t)net->layers[l].nout);
  for (int l = 0; l < net->nlayers; l++) put_u32(&w, (uint32_t)net->layers[l].act);
  put_u64(&w, net->nparams);
  put_u32(&w, opt ? (uint32_t)opt->cfg.kind : 0);
  if (opt) {
    const sp_optim_config* c = &opt->cfg;
    put_f64(&w, c->lr);
    put_f64(&w, c->momentum);
    put_f64(&w, c->beta1);
    put_f64(&w, c->beta2);
    put_f64(&w, c->eps);
    put_f64(&w, c->clip);
    put_f64(&w, c->weight_decay);
    put_u64(&w, (uint64_t)opt->t);
    put_u32(&w, opt->m != NULL);
    put_u32(&w, opt->v != NULL);
  }
  if (has_meta) put_u64(&w, meta_len);

  // payload, meta and checksum
  put_reals(&w, net->params, net->dtype, net->nparams);
  if (opt && opt->m) put_reals(&w, opt->m, opt->dtype, opt->n);
  if (opt && opt->v) put_reals(&w, opt->v, opt->dtype, opt->n);
  if (has_meta) {
    memcpy(w.p + w.n, meta, meta_len);
    w.n += meta_len;
  }
  put_u32(&w, sp_crc32(0, buf, w.n));

  int rc = sp_file_write_atomic(path, buf, w.n, msg, ms);
  sp_free(buf);
  return rc;
}

// ---- load ---------------------------------------------------------------------------------------

typedef struct ckpt {
  uint8_t* buf;
  size_t size;
  sp_dtype dtype;
  int nlayers;
  int sizes[SP_MLP_MAXLAYERS + 1];
  sp_act acts[SP_MLP_MAXLAYERS];
  size_t nparams;
  int has_opt;
  sp_optim_config cfg;
  int64_t t;
  int has_m, has_v;
  const uint8_t* params;
  const uint8_t* m;
  const uint8_t* v;
  const uint8_t* meta;  // (meta_len) or NULL
  size_t meta_len;
} ckpt;

// read and check everything that does not depend on the network the caller has
static int parse(ckpt* c, const char* path, char* msg, size_t ms) {
  memset(c, 0, sizeof *c);
  int rc = sp_file_read(path, &c->buf, &c->size, msg, ms);
  if (rc) return rc;
  const uint8_t* b = c->buf;
  size_t size = c->size;

  // identity, version, length and checksum before trusting any field
  if (size >= 8 && memcmp(b, magic, 8))
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: not a spinal network checkpoint", path);
  if (size < FIXED_HEADER + 4)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: truncated (%zu bytes, the header alone needs %d)",
                     path, size, FIXED_HEADER + 4);
  uint32_t version = get_u32(b + 8);
  if (version < 1 || version > SP_CHECKPOINT_VERSION)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: checkpoint version %u, this build reads versions 1 to %d", path, version,
                     SP_CHECKPOINT_VERSION);
  uint64_t length = get_u64(b + 16);
  if (size < length)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: truncated (%zu of %llu bytes)", path, size,
                     (unsigned long long)length);
  if (size > length)
    return sp_errorf(msg, ms, SP_ECHECKSUM, "%s: %zu bytes where the header says %llu (corrupt)",
                     path, size, (unsigned long long)length);
  uint32_t want = get_u32(b + size - 4);
  uint32_t got = sp_crc32(0, b, size - 4);
  if (want != got)
    return sp_errorf(msg, ms, SP_ECHECKSUM,
                     "%s: checksum mismatch (stored %08x, computed %08x): the file is corrupt",
                     path, want, got);

  // the architecture and optimiser description
  size_t end = size - 4, p = FIXED_HEADER;
#define NEED(k)                                                                                   \
  do {                                                                                            \
    if (end - p < (size_t)(k))                                                                    \
      return sp_errorf(msg, ms, SP_EFORMAT, "%s: header overruns the file at byte %zu", path, p); \
  } while (0)
  NEED(8);
  uint32_t dtype = get_u32(b + p), nl = get_u32(b + p + 4);
  p += 8;
  if (dtype > SP_F32) return sp_errorf(msg, ms, SP_EFORMAT, "%s: unknown dtype %u", path, dtype);
  if (nl < 1 || nl > SP_MLP_MAXLAYERS)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: %u layers (1 to %d supported)", path, nl,
                     SP_MLP_MAXLAYERS);
  c->dtype = (sp_dtype)dtype;
  c->nlayers = (int)nl;
  NEED(4 * (2 * (size_t)nl + 1) + 12);
  for (uint32_t l = 0; l <= nl; l++, p += 4) {
    uint32_t s = get_u32(b + p);
    if (s < 1 || s > (1u << 24))
      return sp_errorf(msg, ms, SP_EFORMAT, "%s: layer width %u out of range", path, s);
    c->sizes[l] = (int)s;
  }
  for (uint32_t l = 0; l < nl; l++, p += 4) {
    uint32_t a = get_u32(b + p);
    if (a >= SP_ACT_COUNT)
      return sp_errorf(msg, ms, SP_EFORMAT, "%s: layer %u has unknown activation %u", path, l + 1,
                       a);
    c->acts[l] = (sp_act)a;
  }
  c->nparams = (size_t)get_u64(b + p);
  p += 8;
  if (c->nparams != sp_mlp_count_params(c->nlayers, c->sizes))
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: %zu parameters do not fit the layer sizes", path,
                     c->nparams);
  uint32_t kind = get_u32(b + p);
  p += 4;
  if (kind > SP_OPTIM_ADAM)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: unknown optimiser %u", path, kind);
  if (kind) {
    NEED(7 * 8 + 8 + 8);
    c->has_opt = 1;
    c->cfg.kind = (sp_optim_kind)kind;
    double* f[7] = {&c->cfg.lr,  &c->cfg.momentum, &c->cfg.beta1,       &c->cfg.beta2,
                    &c->cfg.eps, &c->cfg.clip,     &c->cfg.weight_decay};
    for (int i = 0; i < 7; i++, p += 8) *f[i] = get_f64(b + p);
    c->t = (int64_t)get_u64(b + p);
    c->has_m = get_u32(b + p + 8) != 0;
    c->has_v = get_u32(b + p + 12) != 0;
    p += 16;
    if (sp_optim_check(&c->cfg, NULL, 0) || c->t < 0 ||
        c->has_m != (kind == SP_OPTIM_ADAM || c->cfg.momentum > 0) ||
        c->has_v != (kind == SP_OPTIM_ADAM))
      return sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent optimiser description", path);
  }
  uint64_t meta_len = 0;
  if (version >= 2) {
    NEED(8);
    meta_len = get_u64(b + p);
    p += 8;
    if (meta_len > end - p)
      return sp_errorf(msg, ms, SP_EFORMAT, "%s: meta of %llu bytes overruns the file", path,
                       (unsigned long long)meta_len);
  }
#undef NEED

  // the payload must fill the rest exactly
  size_t block = c->nparams * sp_dtype_size(c->dtype);
  size_t blocks = 1 + (size_t)c->has_m + (size_t)c->has_v;
  if (end - p - meta_len != blocks * block)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: payload of %zu bytes, the header describes %zu",
                     path, end - p - (size_t)meta_len, blocks * block);
  c->meta_len = (size_t)meta_len;
  c->meta = meta_len ? b + p + blocks * block : NULL;
  c->params = b + p;
  c->m = c->has_m ? c->params + block : NULL;
  c->v = c->has_v ? c->params + block * (1 + (size_t)c->has_m) : NULL;
  return 0;
}

// does the file describe this network?
static int match_net(const ckpt* c, const sp_mlp* net, const char* path, char* msg, size_t ms) {
  if (c->dtype != net->dtype)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: dtype is %s in the file, %s in the network", path,
                     sp_dtype_name(c->dtype), sp_dtype_name(net->dtype));
  if (c->nlayers != net->nlayers)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: %d layers in the file, %d in the network", path,
                     c->nlayers, net->nlayers);
  for (int l = 0; l < c->nlayers; l++) {
    const sp_layer* ly = &net->layers[l];
    if (c->sizes[l] != ly->nin)
      return sp_errorf(msg, ms, SP_EMISMATCH,
                       "%s: layer %d has %d inputs in the file, %d in the network", path, l + 1,
                       c->sizes[l], ly->nin);
    if (c->sizes[l + 1] != ly->nout)
      return sp_errorf(msg, ms, SP_EMISMATCH,
                       "%s: layer %d has %d outputs in the file, %d in the network", path, l + 1,
                       c->sizes[l + 1], ly->nout);
    if (c->acts[l] != ly->act)
      return sp_errorf(msg, ms, SP_EMISMATCH,
                       "%s: layer %d activation is %s in the file, %s in the network", path, l + 1,
                       sp_act_name(c->acts[l]), sp_act_name(ly->act));
  }
  return 0;
}

static int match_opt(const ckpt* c, const sp_optim* o, const char* path, char* msg, size_t ms) {
  if (!c->has_opt)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: the file holds no optimiser state", path);
  if (c->cfg.kind != o->cfg.kind)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: optimiser is %s in the file, %s given", path,
                     sp_optim_kind_name(c->cfg.kind), sp_optim_kind_name(o->cfg.kind));
  if (c->nparams != o->n || c->dtype != o->dtype)
    return sp_errorf(msg, ms, SP_EMISMATCH,
                     "%s: optimiser state is for %zu %s parameters in the file, %zu %s given", path,
                     c->nparams, sp_dtype_name(c->dtype), o->n, sp_dtype_name(o->dtype));
  if (c->has_m != (o->m != NULL))
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: momentum is %s in the file, %s given", path,
                     c->has_m ? "on" : "off", o->m ? "on" : "off");
  return 0;
}

static void restore_opt(const ckpt* c, sp_optim* o) {
  o->t = c->t;
  if (o->m) get_reals(o->m, c->m, c->dtype, c->nparams);
  if (o->v) get_reals(o->v, c->v, c->dtype, c->nparams);
}

int sp_checkpoint_load(const char* path, sp_mlp* net, sp_optim* opt, char* msg, size_t ms) {
  ckpt c;
  int rc = parse(&c, path, msg, ms);
  if (!rc) rc = match_net(&c, net, path, msg, ms);
  if (!rc && opt) rc = match_opt(&c, opt, path, msg, ms);
  if (!rc) {
    get_reals(net->params, c.params, c.dtype, c.nparams);
    if (opt) restore_opt(&c, opt);
  }
  sp_free(c.buf);
  return rc;
}

int sp_checkpoint_read(const char* path, sp_mlp** net, sp_optim** opt, int max_batch, char* msg,
                       size_t ms) {
  *net = NULL;
  if (opt) *opt = NULL;
  ckpt c;
  int rc = parse(&c, path, msg, ms);
  sp_mlp* m = NULL;
  sp_optim* o = NULL;
  if (!rc && (rc = sp_mlp_new(&m, c.nlayers, c.sizes, c.acts, c.dtype, max_batch)))
    sp_errorf(msg, ms, rc, "%s: cannot create the network: %s", path, sp_strerror(rc));
  if (!rc && opt && c.has_opt && (rc = sp_optim_new(&o, &c.cfg, c.dtype, c.nparams)))
    sp_errorf(msg, ms, rc, "%s: cannot create the optimiser: %s", path, sp_strerror(rc));
  if (!rc) {
    get_reals(m->params, c.params, c.dtype, c.nparams);
    if (o) restore_opt(&c, o);
    *net = m;
    if (opt) *opt = o;
  } else {
    sp_mlp_free(m);
    sp_optim_free(o);
  }
  sp_free(c.buf);
  return rc;
}

int sp_checkpoint_read_meta(const char* path, void** meta, size_t* meta_len, char* msg, size_t ms) {
  *meta = NULL;
  *meta_len = 0;
  ckpt c;
  int rc = parse(&c, path, msg, ms);
  if (!rc && c.meta_len) {
    if (!(*meta = sp_malloc(c.meta_len))) {
      rc = sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
    } else {
      memcpy(*meta, c.meta, c.meta_len);
      *meta_len = c.meta_len;
    }
  }
  sp_free(c.buf);
  return rc;
}
