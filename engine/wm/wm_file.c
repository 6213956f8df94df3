// wm_file.c: a world model in one checkpoint file: the network (and optimiser state) as any
// network checkpoint (engine/nn/checkpoint.h), the configuration and normalisers in its meta bytes:
//   "SPWM" u32 version (2; 1 is read as without history)
//   u32 nj, nu, hidden, layers, act, dtype; f64 dt, min_std, weight[6]; (version 2) u32 history
//   for the feature, action and delta normalisers in turn: f64 count, mean (n), m2 (n)
// all little-endian.
#include <stdint.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/checkpoint.h"
#include "engine/wm/internal.h"
#include "engine/wm/wm.h"

static void put_u32(uint8_t** p, uint32_t x) {
  for (int i = 0; i < 4; i++) *(*p)++ = (uint8_t)(x >> (8 * i));
}
static void put_f64(uint8_t** p, double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  for (int i = 0; i < 8; i++) *(*p)++ = (uint8_t)(u >> (8 * i));
}
static uint32_t get_u32(const uint8_t** p) {
  uint32_t x = 0;
  for (int i = 0; i < 4; i++) x |= (uint32_t)(*p)[i] << (8 * i);
  *p += 4;
  return x;
}
static double get_f64(const uint8_t** p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u |= (uint64_t)(*p)[i] << (8 * i);
  *p += 8;
  double x;
  memcpy(&x, &u, 8);
  return x;
}

// the meta bytes of a version: na action inputs
static size_t meta_size(uint32_t version, int nf, int na, int nd) {
  return 8 + 6 * 4 + 8 * 8 + (version >= 2 ? 4 : 0) + 8 * (3 + 2 * (size_t)(nf + na + nd));
}

int sp_wm_save(const sp_wm* wm, const sp_optim* opt, const char* path, char* msg, size_t ms) {
  size_t n = meta_size(2, wm->nf, wm->na, wm->nd);
  uint8_t* meta = sp_malloc(n);
  if (!meta) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  uint8_t* p = meta;
  memcpy(p, "SPWM", 4);
  p += 4;
  put_u32(&p, 2);
  const sp_wm_config* c = &wm->cfg;
  put_u32(&p, (uint32_t)c->nj);
  put_u32(&p, (uint32_t)c->nu);
  put_u32(&p, (uint32_t)c->hidden);
  put_u32(&p, (uint32_t)c->layers);
  put_u32(&p, (uint32_t)c->act);
  put_u32(&p, (uint32_t)c->dtype);
  put_f64(&p, c->dt);
  put_f64(&p, c->min_std);
  for (int i = 0; i < SP_WM_NCOMP; i++) put_f64(&p, c->weight[i]);
  put_u32(&p, (uint32_t)c->history);
  const sp_normalizer* z[3] = {&wm->fnorm, &wm->anorm, &wm->dnorm};
  for (int k = 0; k < 3; k++) {
    put_f64(&p, z[k]->count);
    for (int i = 0; i < z[k]->n; i++) put_f64(&p, z[k]->mean[i]);
    for (int i = 0; i < z[k]->n; i++) put_f64(&p, z[k]->m2[i]);
  }
  int rc = sp_checkpoint_save_meta(path, wm->net, opt, meta, n, msg, ms);
  sp_free(meta);
  return rc;
}

int sp_wm_load(sp_wm** out, sp_optim** opt, const char* path, char* msg, size_t ms) {
  *out = NULL;
  if (opt) *opt = NULL;
  void* meta = NULL;
  size_t len = 0;
  int rc = sp_checkpoint_read_meta(path, &meta, &len, msg, ms);
  if (rc) return rc;
  const uint8_t* p = meta;
  sp_wm_config c;
  if (len < 8 + 6 * 4 + 8 * 8 || memcmp(p, "SPWM", 4)) {
    sp_free(meta);
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: a network checkpoint without a world model", path);
  }
  p += 4;
  uint32_t version = get_u32(&p);
  if (version != 1 && version != 2) {
    sp_free(meta);
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: world model version %u, this build reads 1 and 2",
                     path, version);
  }
  c.nj = (int)get_u32(&p);
  c.nu = (int)get_u32(&p);
  c.hidden = (int)get_u32(&p);
  c.layers = (int)get_u32(&p);
  c.act = (sp_act)get_u32(&p);
  c.dtype = (sp_dtype)get_u32(&p);
  c.dt = get_f64(&p);
  c.min_std = get_f64(&p);
  for (int i = 0; i < SP_WM_NCOMP; i++) c.weight[i] = get_f64(&p);
  c.history = 0;
  if (version >= 2) {
    if (len < (size_t)(p - (const uint8_t*)meta) + 4)
      c.history = -1;  // refused below
    else
      c.history = (int)get_u32(&p);
  }
  char why[200];
  if (sp_wm_check(&c, why, sizeof why) ||
      len != meta_size(version, 10 + 2 * c.nj, c.nu * (1 + c.history), 6 + c.nj)) {
    sp_free(meta);
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent world model description", path);
  }
  sp_mlp* net = NULL;
  sp_optim* o = NULL;
  rc = sp_checkpoint_read(path, &net, opt ? &o : NULL, 1, msg, ms);
  sp_wm* wm = NULL;
  if (!rc && (rc = sp__wm_wrap(&wm, &c, net)))
    sp_errorf(msg, ms, SP_EFORMAT, "%s: the network does not fit the world model described", path);
  if (rc) {
    sp_mlp_free(net);
    sp_optim_free(o);
    sp_free(meta);
    return rc;
  }
  sp_normalizer* z[3] = {&wm->fnorm, &wm->anorm, &wm->dnorm};
  for (int k = 0; k < 3; k++) {
    z[k]->count = get_f64(&p);
    for (int i = 0; i < z[k]->n; i++) z[k]->mean[i] = get_f64(&p);
    for (int i = 0; i < z[k]->n; i++) z[k]->m2[i] = get_f64(&p);
    sp_normalizer_refresh(z[k]);
  }
  sp_free(meta);
  *out = wm;
  if (opt) *opt = o;
  return 0;
}
