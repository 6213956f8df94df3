// hal.c: backend registry and the plant lifecycle state machine around backend vtables.
//
// The lifecycle checks live here, once, so every backend gets the same SP_ESTATE behaviour for
// misuse (write before activate, configure twice, read after deactivate-and-close...).
#include "hal/hal.h"

#include <pthread.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "hal/lowlevel.h"

#define MAX_BACKENDS 16

static const sp_plant_backend* registry[MAX_BACKENDS];
static int nregistry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static int add_backend(const sp_plant_backend* b) {
  for (int i = 0; i < nregistry; i++)
    if (!strcmp(registry[i]->scheme, b->scheme)) return SP_EINVAL;
  if (nregistry == MAX_BACKENDS) return SP_ERANGE;
  registry[nregistry++] = b;
  return 0;
}

// built-in backends, compiled into libspinal
extern const sp_plant_backend sp__plant_model_backend;
extern const sp_plant_backend sp__plant_replay_backend;
extern const sp_plant_backend sp__plant_mujoco_backend;
extern const sp_plant_backend sp__plant_udp_backend;

static void register_builtins(void) {
  pthread_mutex_lock(&registry_lock);
  add_backend(&sp__plant_model_backend);
  add_backend(&sp__plant_replay_backend);
  add_backend(&sp__plant_mujoco_backend);
  add_backend(&sp__plant_udp_backend);
  pthread_mutex_unlock(&registry_lock);
}

int sp_plant_register(const sp_plant_backend* b) {
  if (!b || !b->scheme || !b->scheme[0] || !b->open || !b->close) return SP_EINVAL;
  pthread_once(&builtins_once, register_builtins);
  pthread_mutex_lock(&registry_lock);
  int rc = add_backend(b);
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

const sp_plant_backend* sp_plant_find_backend(const char* scheme) {
  if (!scheme) return NULL;
  pthread_once(&builtins_once, register_builtins);
  const sp_plant_backend* found = NULL;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < nregistry && !found; i++)
    if (!strcmp(registry[i]->scheme, scheme)) found = registry[i];
  pthread_mutex_unlock(&registry_lock);
  return found;
}

int sp_plant_list(const char** names, int n) {
  pthread_once(&builtins_once, register_builtins);
  pthread_mutex_lock(&registry_lock);
  int total = nregistry;
  for (int i = 0; i < total && i < n; i++) names[i] = registry[i]->scheme;
  pthread_mutex_unlock(&registry_lock);
  return total;
}

int sp_plant_open(sp_plant** out, const char* uri, const void* config, char* msg, size_t msglen) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!uri || !uri[0]) return sp_errorf(msg, msglen, SP_EINVAL, "plant URI is empty");
  if (strlen(uri) >= sizeof((sp_plant*)0)->uri)
    return sp_errorf(msg, msglen, SP_EINVAL, "plant URI is longer than %zu bytes",
                     sizeof((sp_plant*)0)->uri - 1);

  // the scheme is everything before "://", or the whole URI
  char scheme[32];
  const char* sep = strstr(uri, "://");
  size_t n = sep ? (size_t)(sep - uri) : strlen(uri);
  if (n == 0 || n >= sizeof scheme)
    return sp_errorf(msg, msglen, SP_EINVAL, "plant URI '%s' has no valid scheme", uri);
  memcpy(scheme, uri, n);
  scheme[n] = 0;

  const sp_plant_backend* b = sp_plant_find_backend(scheme);
  if (!b) {
    const char* names[MAX_BACKENDS];
    int k = sp_plant_list(names, MAX_BACKENDS);
    char list[256] = "";
    for (int i = 0; i < k && i < MAX_BACKENDS; i++) {
      if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return sp_errorf(msg, msglen, SP_ENOTFOUND, "no plant backend for scheme '%s' (registered: %s)",
                     scheme, list);
  }

  sp_plant* p = sp_calloc(1, sizeof *p);
  if (!p) return sp_errorf(msg, msglen, SP_ENOMEM, "out of memory opening plant '%s'", uri);
  p->backend = b;
  p->caps.backend = b->scheme;
  strcpy(p->uri, uri);
  if (msg && msglen) msg[0] = 0;
  int rc = b->open(p, uri, config, msg, msglen);
  if (rc) {
    b->close(p);
    sp_free(p);
    if (msg && msglen && !msg[0]) sp_errorf(msg, msglen, rc, "%s: %s", uri, sp_strerror(rc));
    return rc;
  }
  p->state = SP_PLANT_OPENED;
  *out = p;
  return 0;
}

int sp_plant_configure(sp_plant* p, char* msg, size_t msglen) {
  if (!p) return SP_EINVAL;
  if (p->state != SP_PLANT_OPENED)
    return sp_errorf(msg, msglen, SP_ESTATE, "configure: plant is %s, expected opened",
                     sp_plant_state_name(p->state));
  if (msg && msglen) msg[0] = 0;
  int rc = p->backend->configure ? p->backend->configure(p, msg, msglen) : 0;
  if (rc) {
    if (msg && msglen && !msg[0]) sp_errorf(msg, msglen, rc, "%s: %s", p->uri, sp_strerror(rc));
    return rc;
  }
  if (!p->caps.robot) p->caps.robot = "unnamed";
  p->state = SP_PLANT_CONFIGURED;
  return 0;
}

int sp_plant_activate(sp_plant* p) {
  if (!p) return SP_EINVAL;
  if (p->state != SP_PLANT_CONFIGURED) return SP_ESTATE;
  int rc = p->backend->activate ? p->backend->activate(p) : 0;
  if (!rc) p->state = SP_PLANT_ACTIVE;
  return rc;
}

int sp_plant_deactivate(sp_plant* p) {
  if (!p) return SP_EINVAL;
  if (p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  int rc = p->backend->deactivate ? p->backend->deactivate(p) : 0;
  // a plant that failed to deactivate cleanly is still no longer accepting commands from us
  p->state = SP_PLANT_CONFIGURED;
  return rc;
}

void sp_plant_close(sp_plant* p) {
  if (!p) return;
  if (p->state == SP_PLANT_ACTIVE) sp_plant_deactivate(p);
  p->backend->close(p);
  sp_free(p);
}

int sp_plant_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  if (!p || !x) return SP_EINVAL;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  int64_t t = 0;
  uint32_t s = 0;
  int rc = p->backend->read ? p->backend->read(p, x, &t, &s) : SP_EUNSUPPORTED;
  if (t_ns) *t_ns = t;
  if (status) *status = s;
  return rc;
}

int sp_plant_write(sp_plant* p, const double* u) {
  if (!p || !u) return SP_EINVAL;
  if (p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  return p->backend->write ? p->backend->write(p, u) : SP_EUNSUPPORTED;
}

int sp_plant_reset(sp_plant* p, const double* x0) {
  if (!p) return SP_EINVAL;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  return p->backend->reset ? p->backend->reset(p, x0) : SP_EUNSUPPORTED;
}

int sp_plant_seed(sp_plant* p, uint64_t seed) {
  if (!p) return SP_EINVAL;
  if (p->state == SP_PLANT_CLOSED) return SP_ESTATE;
  return p->backend->seed ? p->backend->seed(p, seed) : 0;
}

int sp_plant_safe(sp_plant* p, int on) {
  if (!p) return SP_EINVAL;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  return p->backend->safe ? p->backend->safe(p, on != 0) : SP_EUNSUPPORTED;
}

int sp_plant_set_lowlevel(sp_plant* p, const sp_lowlevel_param* params, int n, char* msg,
                          size_t len) {
  if (!p || (n > 0 && !params) || n < 0) return SP_EINVAL;
  if (p->state != SP_PLANT_CONFIGURED && p->state != SP_PLANT_ACTIVE) return SP_ESTATE;
  sp_lowlevel* ll = p->backend->lowlevel ? p->backend->lowlevel(p) : NULL;
  if (!ll) {
    if (!strcmp(p->backend->scheme, "udp"))
      return sp_errorf(msg, len, SP_EUNSUPPORTED,
                       "set_lowlevel: a udp plant's low-level controller runs on the robot and the "
                       "wire protocol carries no settings: change them on the robot's side");
    return sp_errorf(msg, len, SP_EUNSUPPORTED,
                     "set_lowlevel: this %s plant runs no low-level controller (the robot file's "
                     "plant has no lowlevel = { kind = ... })",
                     p->backend->scheme);
  }
  return sp_lowlevel_request(ll, params, n, msg, len);
}

const sp_lowlevel* sp_plant_lowlevel(sp_plant* p) {
  if (!p || p->state < SP_PLANT_CONFIGURED || !p->backend->lowlevel) return NULL;
  return p->backend->lowlevel(p);
}

const sp_plant_caps* sp_plant_capabilities(const sp_plant* p) {
  return p ? &p->caps : NULL;
}

const char* sp_plant_state_name(sp_plant_state s) {
  switch (s) {
    case SP_PLANT_CLOSED:
      return "closed";
    case SP_PLANT_OPENED:
      return "opened";
    case SP_PLANT_CONFIGURED:
      return "configured";
    case SP_PLANT_ACTIVE:
      return "active";
  }
  return "unknown";
}
