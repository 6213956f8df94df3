// vae_file.c: a VAE policy and its optimiser's state in one checksummed file (see vae.h).
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/wm/internal.h"
#include "engine/wm/vae.h"

int sp_vae_save(const sp_vae* v, const sp_optim* opt, const char* path, char* msg, size_t ms) {
  const sp_vae_config* c = &v->cfg;
  if (opt && (opt->n != v->nparams || opt->dtype != c->dtype))
    return sp_errorf(msg, ms, SP_EINVAL, "%s: the optimiser is not for this policy's parameters",
                     path);
  sp__wbuf w = {0};
  sp__put_bytes(&w, "SPVAEPOL", 8);
  sp__put_u32(&w, 1);
  const int ints[] = {c->nj,     c->nu,     c->nc,       c->lat,
                      c->hidden, c->layers, (int)c->act, (int)c->dtype};
  for (int i = 0; i < 8; i++) sp__put_u32(&w, (uint32_t)ints[i]);
  sp__put_f64(&w, c->sigma);
  sp__put_f64s(&w, c->a_nom, (size_t)c->nu);
  sp__put_f64s(&w, c->track, SP_WM_NCOMP);
  const double more[] = {c->height, c->up, c->act_l1, c->act_l2, c->beta, c->gamma};
  sp__put_f64s(&w, more, 6);
  sp__put_u64(&w, v->nparams);
  sp__put_reals(&w, v->params, c->dtype, v->nparams);
  sp__put_optim(&w, opt);
  return sp__wbuf_save(&w, path, msg, ms);
}

int sp_vae_load(sp_vae** out, sp_optim** opt, const char* path, char* msg, size_t ms) {
  *out = NULL;
  if (opt) *opt = NULL;
  sp__rbuf b;
  uint8_t* data;
  int rc = sp__rbuf_load(&b, &data, path, "SPVAEPOL", "VAE policy", msg, ms);
  if (rc) return rc;
  sp_vae* v = NULL;
  sp_optim* o = NULL;
  uint32_t version = sp__get_u32(&b);
  sp_vae_config c;
  memset(&c, 0, sizeof c);
  int* ints[] = {&c.nj, &c.nu, &c.nc, &c.lat, &c.hidden, &c.layers};
  for (int i = 0; i < 6; i++) *ints[i] = (int)sp__get_u32(&b);
  c.act = (sp_act)sp__get_u32(&b);
  c.dtype = (sp_dtype)sp__get_u32(&b);
  c.sigma = sp__get_f64(&b);
  int nu_ok = c.nu >= 1 && c.nu <= SP_VAE_MAXACT;
  if (nu_ok) sp__get_f64s(&b, c.a_nom, (size_t)c.nu);
  sp__get_f64s(&b, c.track, SP_WM_NCOMP);
  double* more[] = {&c.height, &c.up, &c.act_l1, &c.act_l2, &c.beta, &c.gamma};
  for (int i = 0; i < 6; i++) *more[i] = sp__get_f64(&b);
  uint64_t np = sp__get_u64(&b);
  if (version != 1 || !nu_ok || b.short_read || sp_vae_check(&c, NULL, 0)) {
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent VAE policy description", path);
  } else if ((rc = sp_vae_new(&v, &c, 0))) {
    sp_errorf(msg, ms, rc, "%s: cannot create the policy: %s", path, sp_strerror(rc));
  } else if (np != v->nparams) {
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: %llu parameters where the description needs %zu", path,
                   (unsigned long long)np, v->nparams);
  } else {
    sp__get_reals(&b, v->params, c.dtype, v->nparams);
    if (opt && sp__get_optim(&b, &o, c.dtype, v->nparams))
      rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent optimiser state", path);
    if (!rc && b.short_read) rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: truncated", path);
  }
  sp_free(data);
  if (rc) {
    sp_vae_free(v);
    sp_optim_free(o);
    return rc;
  }
  *out = v;
  if (opt) *opt = o;
  return 0;
}
