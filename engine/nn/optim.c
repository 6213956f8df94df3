// optim.c: SGD with momentum and Adam with bias correction, clipping by global norm and L2
// weight decay (see optim.h for the update equations and sources).
#include "optim.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

// the element-wise loops below are the hot path of training at small batches (Adam over 5258
// parameters costs four times a 6-64-64-10 forward and backward at batch 1): let GCC vectorise them
// at the default -O2 of RelWithDebInfo (clang already does). Adam's sqrt blocks that unless errno
// handling is off, which only the command line can do (CMakeLists.txt gives this file
// -fno-math-errno; GCC ignores it in this pragma); sqrt never sees a negative argument here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

// as in act.c: with GCC the element-wise loops are compiled for AVX-512, AVX2 and the baseline and
// the loader picks the widest the CPU has; the same operations per element in the same order
// (no contraction into fused multiply-adds under -std=c11; sqrt and division are correctly
// rounded at every width), so the same bits on every CPU
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SP_OPTIM_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SP_OPTIM_KERNEL
#endif

#define REAL double
#define SFX(name) name##_f64
#define SQRT sqrt
#include "optim_impl.h"
#undef REAL
#undef SFX
#undef SQRT

#define REAL float
#define SFX(name) name##_f32
#define SQRT sqrtf
#include "optim_impl.h"
#undef REAL
#undef SFX
#undef SQRT

sp_optim_config sp_optim_sgd_config(double lr) {
  return (sp_optim_config){
      .kind = SP_OPTIM_SGD, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

sp_optim_config sp_optim_adam_config(double lr) {
  return (sp_optim_config){
      .kind = SP_OPTIM_ADAM, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

const char* sp_optim_kind_name(sp_optim_kind k) {
  return k == SP_OPTIM_SGD ? "sgd" : k == SP_OPTIM_ADAM ? "adam" : "?";
}

int sp_optim_check(const sp_optim_config* c, char* msg, size_t n) {
  if (c->kind != SP_OPTIM_SGD && c->kind != SP_OPTIM_ADAM)
    return sp_errorf(msg, n, SP_EINVAL, "unknown optimiser kind %d", (int)c->kind);
  if (!(c->lr >= 0 && isfinite(c->lr)))
    return sp_errorf(msg, n, SP_EINVAL, "lr must be finite and >= 0, got %g", c->lr);
  if (!(c->momentum >= 0 && c->momentum < 1))
    return sp_errorf(msg, n, SP_EINVAL, "momentum must be in [0, 1), got %g", c->momentum);
  if (!(c->beta1 >= 0 && c->beta1 < 1))
    return sp_errorf(msg, n, SP_EINVAL, "beta1 must be in [0, 1), got %g", c->beta1);
  if (!(c->beta2 >= 0 && c->beta2 < 1))
    return sp_errorf(msg, n, SP_EINVAL, "beta2 must be in [0, 1), got %g", c->beta2);
  if (!(c->eps > 0 && isfinite(c->eps)))
    return sp_errorf(msg, n, SP_EINVAL, "eps must be > 0, got %g", c->eps);
  if (!(c->clip >= 0))
    return sp_errorf(msg, n, SP_EINVAL, "clip must be >= 0 (0 = off), got %g", c->clip);
  if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
    return sp_errorf(msg, n, SP_EINVAL, "weight_decay must be >= 0, got %g", c->weight_decay);
  return 0;
}

int sp_optim_new(sp_optim** out, const sp_optim_config* cfg, sp_dtype dtype, size_t n) {
  *out = NULL;
  if (sp_optim_check(cfg, NULL, 0) || !sp_dtype_size(dtype)) return SP_EINVAL;
  sp_optim* o = sp_calloc(1, sizeof *o);
  if (!o) return SP_ENOMEM;
  o->cfg = *cfg;
  o->bad = -1;
  o->dtype = dtype;
  o->n = n;
  size_t es = sp_dtype_size(dtype);
  int need_m = cfg->kind == SP_OPTIM_ADAM || cfg->momentum > 0;
  int need_v = cfg->kind == SP_OPTIM_ADAM;
  if (need_m && !(o->m = sp_calloc(n ? n : 1, es))) goto nomem;
  if (need_v && !(o->v = sp_calloc(n ? n : 1, es))) goto nomem;
  *out = o;
  return 0;
nomem:
  sp_optim_free(o);
  return SP_ENOMEM;
}

void sp_optim_free(sp_optim* o) {
  if (!o) return;
  sp_free(o->v);
  sp_free(o->m);
  sp_free(o);
}

void sp_optim_reset(sp_optim* o) {
  size_t es = sp_dtype_size(o->dtype);
  if (o->m) memset(o->m, 0, o->n * es);
  if (o->v) memset(o->v, 0, o->n * es);
  o->t = 0;
  o->last_norm = 0;
  o->bad = -1;
}

double sp_norm2(const void* x, sp_dtype dtype, size_t n) {
  return dtype == SP_F64 ? norm_f64(x, n) : norm_f32(x, n);
}

int sp_optim_step(sp_optim* o, void* params, const void* grads) {
  double norm = sp_norm2(grads, o->dtype, o->n);
  o->last_norm = norm;
  o->bad = -1;
  if (!isfinite(norm)) return SP_ENUMERIC;
  double scale = o->cfg.clip > 0 && norm > o->cfg.clip ? o->cfg.clip / norm : 1.0;
  int adam = o->cfg.kind == SP_OPTIM_ADAM;
  // refuse a step that would leave a parameter or moment non-finite (e.g. a huge lr)
  if (o->dtype == SP_F64)
    o->bad =
        adam ? adam_check_f64(o, params, grads, scale) : sgd_check_f64(o, params, grads, scale);
  else
    o->bad = adam ? adam_check_f32(o, params, grads, (float)scale)
                  : sgd_check_f32(o, params, grads, (float)scale);
  if (o->bad >= 0) return SP_ENUMERIC;
  if (o->dtype == SP_F64) {
    if (adam)
      adam_f64(o, params, grads, scale);
    else
      sgd_f64(o, params, grads, scale);
  } else {
    if (adam)
      adam_f32(o, params, grads, (float)scale);
    else
      sgd_f32(o, params, grads, (float)scale);
  }
  o->t++;
  return 0;
}
