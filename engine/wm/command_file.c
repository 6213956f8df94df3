// command_file.c: the high-level network h and its optimiser's state in one checksummed file (see
// command.h).
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/wm/command.h"
#include "engine/wm/internal.h"

int sp_command_save(const sp_command* h, const sp_optim* opt, const char* path, char* msg,
                    size_t ms) {
  const sp_command_config* c = &h->cfg;
  sp_mlp* net = h->net;
  if (opt && (opt->n != net->nparams || opt->dtype != c->dtype))
    return sp_errorf(msg, ms, SP_EINVAL, "%s: the optimiser is not for this network's parameters",
                     path);
  sp__wbuf w = {0};
  sp__put_bytes(&w, "SPCMDNET", 8);
  sp__put_u32(&w, 3);
  const int ints[] = {c->nj, c->lat, c->hidden, c->layers, (int)c->act, (int)c->dtype};
  for (int i = 0; i < 6; i++) sp__put_u32(&w, (uint32_t)ints[i]);
  const double f[] = {c->velocity, c->yaw_rate, c->position, c->heading,
                      c->up,       c->beta,     c->gamma,    c->clock};
  sp__put_f64s(&w, f, 8);
  sp__put_u32(&w, (uint32_t)c->prev_action);
  sp__put_u64(&w, net->nparams);
  sp__put_reals(&w, net->params, c->dtype, net->nparams);
  sp__put_optim(&w, opt);
  return sp__wbuf_save(&w, path, msg, ms);
}

int sp_command_load(sp_command** out, sp_optim** opt, const char* path, char* msg, size_t ms) {
  *out = NULL;
  if (opt) *opt = NULL;
  sp__rbuf b;
  uint8_t* data;
  int rc = sp__rbuf_load(&b, &data, path, "SPCMDNET", "command network", msg, ms);
  if (rc) return rc;
  sp_command* h = NULL;
  sp_optim* o = NULL;
  uint32_t version = sp__get_u32(&b);
  sp_command_config c;
  memset(&c, 0, sizeof c);
  int* ints[] = {&c.nj, &c.lat, &c.hidden, &c.layers};
  for (int i = 0; i < 4; i++) *ints[i] = (int)sp__get_u32(&b);
  c.act = (sp_act)sp__get_u32(&b);
  c.dtype = (sp_dtype)sp__get_u32(&b);
  double* f[] = {&c.velocity, &c.yaw_rate, &c.position, &c.heading, &c.up, &c.beta, &c.gamma};
  for (int i = 0; i < 7; i++) *f[i] = sp__get_f64(&b);
  c.clock = version >= 2 ? sp__get_f64(&b) : 0;             // version 1: no clock
  c.prev_action = version >= 3 ? (int)sp__get_u32(&b) : 0;  // 1 and 2: no previous action
  uint64_t np = sp__get_u64(&b);
  if (version < 1 || version > 3 || b.short_read || sp_command_check(&c, NULL, 0)) {
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent command network description", path);
  } else if ((rc = sp_command_new(&h, &c, 0))) {
    sp_errorf(msg, ms, rc, "%s: cannot create the network: %s", path, sp_strerror(rc));
  } else if (np != h->net->nparams) {
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: %llu parameters where the description needs %zu", path,
                   (unsigned long long)np, h->net->nparams);
  } else {
    sp__get_reals(&b, h->net->params, c.dtype, h->net->nparams);
    if (opt && sp__get_optim(&b, &o, c.dtype, h->net->nparams))
      rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: inconsistent optimiser state", path);
    if (!rc && b.short_read) rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: truncated", path);
  }
  sp_free(data);
  if (rc) {
    sp_command_free(h);
    sp_optim_free(o);
    return rc;
  }
  *out = h;
  if (opt) *opt = o;
  return 0;
}
