// lowlevel.c: the low-level controller registry, its generic tick (hold between ticks, finite
// output) and the joint_pd class (see lowlevel.h).
#include "hal/lowlevel.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define MAX_CLASSES 16

static const sp_lowlevel_class* registry[MAX_CLASSES];
static int nregistry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static int add_class(const sp_lowlevel_class* c) {
  for (int i = 0; i < nregistry; i++)
    if (!strcmp(registry[i]->name, c->name)) return SP_EINVAL;
  if (nregistry == MAX_CLASSES) return SP_ERANGE;
  registry[nregistry++] = c;
  return 0;
}

extern const sp_lowlevel_class sp__lowlevel_joint_pd;
// the walking controller's adapter (lowlevel_gait.c); NULL when engine/ctrl/gait.h is not built
extern const sp_lowlevel_class* const sp__lowlevel_gait;

static void register_builtins(void) {
  pthread_mutex_lock(&registry_lock);
  add_class(&sp__lowlevel_joint_pd);
  if (sp__lowlevel_gait) add_class(sp__lowlevel_gait);
  pthread_mutex_unlock(&registry_lock);
}

int sp_lowlevel_register(const sp_lowlevel_class* c) {
  if (!c || !c->name || !c->create || !c->tick || !c->free || !c->data_new || !c->data_free)
    return SP_EINVAL;
  pthread_once(&builtins_once, register_builtins);
  pthread_mutex_lock(&registry_lock);
  int rc = add_class(c);
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

const sp_lowlevel_class* sp_lowlevel_find(const char* kind) {
  if (!kind) return NULL;
  pthread_once(&builtins_once, register_builtins);
  const sp_lowlevel_class* found = NULL;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < nregistry && !found; i++)
    if (!strcmp(registry[i]->name, kind)) found = registry[i];
  pthread_mutex_unlock(&registry_lock);
  return found;
}

int sp_lowlevel_list(const char** names, int n) {
  pthread_once(&builtins_once, register_builtins);
  pthread_mutex_lock(&registry_lock);
  int total = nregistry;
  for (int i = 0; i < total && i < n; i++) names[i] = registry[i]->name;
  pthread_mutex_unlock(&registry_lock);
  return total;
}

// ---- the generic object -------------------------------------------------------------------------

// Changes requested while the controller runs (sp_lowlevel_request): fixed slots made with the
// controller, filled under the lock by requesters, emptied by the ticking thread under the same
// lock taken only when free; `queued` lets a tick skip the lock when nothing waits.
#define NAME_MAX_LEN 48
typedef struct slot {
  char name[NAME_MAX_LEN];
  int n;
  double* v;  // (nact)
} slot;

struct sp__lowlevel_queue {
  pthread_mutex_t lock;
  atomic_int queued;
  int n;
  slot s[SP_LOWLEVEL_QUEUE];
};

static struct sp__lowlevel_queue* queue_new(int nact) {
  struct sp__lowlevel_queue* q =
      sp_calloc(1, sizeof *q + sizeof(double) * (size_t)nact * SP_LOWLEVEL_QUEUE);
  if (!q) return NULL;
  double* v = (double*)(q + 1);
  for (int i = 0; i < SP_LOWLEVEL_QUEUE; i++) q->s[i].v = v + (size_t)i * (size_t)nact;
  pthread_mutex_init(&q->lock, NULL);
  atomic_init(&q->queued, 0);
  return q;
}

static void queue_free(struct sp__lowlevel_queue* q) {
  if (!q) return;
  pthread_mutex_destroy(&q->lock);
  sp_free(q);
}

// the ticking thread: apply what is queued when the lock is free (never waits)
static void queue_apply(const sp_lowlevel* ll) {
  struct sp__lowlevel_queue* q = ll->queue;
  if (!q || !atomic_load_explicit(&q->queued, memory_order_acquire)) return;
  if (pthread_mutex_trylock(&q->lock)) return;
  char msg[8];
  for (int i = 0; i < q->n; i++)  // checked when requested: set succeeds
    ll->cls->set(ll->self, q->s[i].name, q->s[i].v, q->s[i].n, msg, sizeof msg);
  q->n = 0;
  atomic_store_explicit(&q->queued, 0, memory_order_release);
  pthread_mutex_unlock(&q->lock);
}

int sp_lowlevel_new(sp_lowlevel** out, const sp_lowlevel_config* c, const sp_lowlevel_plant* pl,
                    char* msg, size_t len) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!c || !pl) return sp_errorf(msg, len, SP_EINVAL, "low-level controller: no configuration");
  const sp_lowlevel_class* cls = sp_lowlevel_find(c->kind);
  if (!cls) {
    const char* names[MAX_CLASSES];
    int n = sp_lowlevel_list(names, MAX_CLASSES);
    char known[256] = "";
    for (int i = 0; i < n; i++) {
      strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
      strncat(known, names[i], sizeof known - strlen(known) - 1);
    }
    return sp_errorf(msg, len, SP_ENOTFOUND, "low-level controller: unknown kind '%s' (known: %s)",
                     c->kind ? c->kind : "(null)", known);
  }
  if (c->every < 0)
    return sp_errorf(msg, len, SP_EINVAL,
                     "low-level controller: 'every' must be >= 1 physics step, got %d", c->every);
  int every = c->every ? c->every : 1;
  if (c->rate_hz != 0) {
    double r = 1.0 / (c->rate_hz * pl->dt);
    every = (int)llround(r);
    if (!(c->rate_hz > 0) || !isfinite(r) || every < 1 || fabs(r - every) > 1e-6 * r)
      return sp_errorf(msg, len, SP_EINVAL,
                       "low-level controller: a %g Hz rate is %.6g physics steps of %g s: not a "
                       "whole number",
                       c->rate_hz, r, pl->dt);
  }
  if (pl->nact < 1 || pl->nq < 0 || pl->nv < 0)
    return sp_errorf(msg, len, SP_EINVAL, "low-level controller %s: the plant has no actuators",
                     cls->name);
  sp_lowlevel* ll = sp_calloc(1, sizeof *ll);
  if (!ll) return SP_ENOMEM;
  ll->cls = cls;
  ll->nact = pl->nact;
  ll->nq = pl->nq;
  ll->nv = pl->nv;
  ll->every = every;
  ll->gain_scale = 1;
  if (cls->check && !(ll->queue = queue_new(pl->nact))) {
    sp_free(ll);
    return SP_ENOMEM;
  }
  int rc = cls->create(&ll->self, &ll->ncmd, pl, msg, len);
  if (rc) {
    queue_free(ll->queue);
    sp_free(ll);
    return rc;
  }
  for (int i = 0; i < c->nparams; i++) {
    if ((rc = sp_lowlevel_set(ll, c->params[i].name, c->params[i].v, c->params[i].n, msg, len))) {
      sp_lowlevel_free(ll);
      return rc;
    }
  }
  *out = ll;
  return 0;
}

void sp_lowlevel_free(sp_lowlevel* ll) {
  if (!ll) return;
  if (ll->self) ll->cls->free(ll->self);
  queue_free(ll->queue);
  sp_free(ll);
}

// the checks every setting gets before the class sees it
static int check_common(const sp_lowlevel* ll, const char* name, const double* v, int n,
                        char* msg, size_t len) {
  if (!ll || !name || !v || n < 1) return sp_errorf(msg, len, SP_EINVAL, "low-level: bad setting");
  for (int i = 0; i < n; i++)
    if (!isfinite(v[i]))
      return sp_errorf(msg, len, SP_EINVAL,
                       "low-level controller %s: setting '%s': expected "
                       "finite numbers",
                       ll->cls->name, name);
  return 0;
}

static int check_one(const sp_lowlevel* ll, const sp_lowlevel_param* p, char* msg, size_t len) {
  int rc = check_common(ll, p->name, p->v, p->n, msg, len);
  if (rc) return rc;
  if (!ll->cls->check || !ll->queue)
    return sp_errorf(msg, len, SP_EUNSUPPORTED,
                     "low-level controller %s: setting '%s': its settings cannot change while it "
                     "runs",
                     ll->cls->name, p->name);
  if (strlen(p->name) >= NAME_MAX_LEN)
    return sp_errorf(msg, len, SP_ENOTFOUND, "low-level controller %s: no setting named '%s'",
                     ll->cls->name, p->name);
  if (p->n > ll->nact)
    return sp_errorf(msg, len, SP_ESHAPE,
                     "low-level controller %s: setting '%s': expected at most %d numbers, got %d",
                     ll->cls->name, p->name, ll->nact, p->n);
  return ll->cls->check(ll->self, p->name, p->v, p->n, msg, len);
}

int sp_lowlevel_request(sp_lowlevel* ll, const sp_lowlevel_param* params, int n, char* msg,
                        size_t len) {
  if (!ll || n < 0 || (n && !params)) return sp_errorf(msg, len, SP_EINVAL, "low-level: bad setting");
  for (int k = 0; k < n; k++) {
    int rc = check_one(ll, &params[k], msg, len);
    if (rc) return rc;
  }
  if (!n) return 0;
  struct sp__lowlevel_queue* q = ll->queue;
  pthread_mutex_lock(&q->lock);
  // room: names not queued yet need new slots
  int need = q->n;
  for (int k = 0; k < n; k++) {
    int i = 0;
    while (i < q->n && strcmp(q->s[i].name, params[k].name)) i++;
    int dup = 0;
    for (int m = 0; m < k && !dup; m++) dup = !strcmp(params[m].name, params[k].name);
    if (i == q->n && !dup) need++;
  }
  if (need > SP_LOWLEVEL_QUEUE) {
    pthread_mutex_unlock(&q->lock);
    return sp_errorf(msg, len, SP_ESTATE,
                     "low-level controller %s: setting '%s': %d changes are queued already (the "
                     "plant has not ticked since)",
                     ll->cls->name, params[0].name, q->n);
  }
  for (int k = 0; k < n; k++) {
    int i = 0;
    while (i < q->n && strcmp(q->s[i].name, params[k].name)) i++;
    if (i == q->n) {  // a new slot at the end; a queued name keeps its place, takes the value
      snprintf(q->s[i].name, NAME_MAX_LEN, "%s", params[k].name);
      q->n++;
    }
    q->s[i].n = params[k].n;
    memcpy(q->s[i].v, params[k].v, sizeof(double) * (size_t)params[k].n);
  }
  atomic_store_explicit(&q->queued, q->n, memory_order_release);
  pthread_mutex_unlock(&q->lock);
  return 0;
}

int sp_lowlevel_queued(const sp_lowlevel* ll) {
  return ll && ll->queue ? atomic_load_explicit(&ll->queue->queued, memory_order_acquire) : 0;
}

int sp_lowlevel_value(const sp_lowlevel* ll, const char* name, const char* text, double* v,
                      char* msg, size_t len) {
  if (!ll || !name || !text || !v) return sp_errorf(msg, len, SP_EINVAL, "low-level: bad setting");
  if (ll->cls->value) return ll->cls->value(ll->self, name, text, v, msg, len);
  return sp_errorf(msg, len, SP_ENOTFOUND,
                   "low-level controller %s: setting '%s': expected a number, got '%s'",
                   ll->cls->name, name, text);
}

int sp_lowlevel_set(sp_lowlevel* ll, const char* name, const double* v, int n, char* msg,
                    size_t len) {
  int rc = check_common(ll, name, v, n, msg, len);
  if (rc) return rc;
  if (!ll->cls->set)
    return sp_errorf(msg, len, SP_ENOTFOUND, "low-level controller %s: no setting named '%s'",
                     ll->cls->name, name);
  return ll->cls->set(ll->self, name, v, n, msg, len);
}

int sp_lowlevel_set_gain_scale(sp_lowlevel* ll, double s) {
  if (!ll || !(s > 0) || !isfinite(s)) return SP_EINVAL;
  int rc = ll->cls->scale_gains ? ll->cls->scale_gains(ll->self, s) : 0;
  if (!rc) ll->gain_scale = ll->cls->scale_gains ? 1 : s;
  return rc;
}

int sp_lowlevel_data_new(sp_lowlevel_data** out, const sp_lowlevel* ll) {
  if (!out || !ll) return SP_EINVAL;
  *out = NULL;
  sp_lowlevel_data* d = sp_calloc(1, sizeof *d + sizeof(double) * (size_t)ll->nact);
  if (!d) return SP_ENOMEM;
  d->ll = ll;
  d->act = (double*)(d + 1);
  int rc = ll->cls->data_new(&d->ws, ll->self);
  if (rc) {
    sp_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void sp_lowlevel_data_free(sp_lowlevel_data* d) {
  if (!d) return;
  if (d->ws) d->ll->cls->data_free(d->ws);
  sp_free(d);
}

void sp_lowlevel_reset(const sp_lowlevel* ll, sp_lowlevel_data* d, const double* qpos,
                       const double* qvel) {
  d->step = 0;
  memset(d->act, 0, sizeof(double) * (size_t)ll->nact);
  if (ll->cls->reset) ll->cls->reset(ll->self, d->ws, qpos, qvel);
}

int sp_lowlevel_tick(const sp_lowlevel* ll, sp_lowlevel_data* d, sp_lowlevel_mode mode, double t,
                     const double* qpos, const double* qvel, const double* cmd, double* act) {
  int rc = 0;
  if (d->step % ll->every == 0) {
    queue_apply(ll);  // the tick boundary: changes requested while it ran
    rc = ll->cls->tick(ll->self, d->ws, (int)mode, t, qpos, qvel, cmd, ll->gain_scale, d->act);
    for (int k = 0; k < ll->nact; k++) {
      if (!isfinite(d->act[k])) {
        memset(d->act, 0, sizeof(double) * (size_t)ll->nact);
        rc = SP_ENUMERIC;
        break;
      }
    }
  }
  d->step++;
  memcpy(act, d->act, sizeof(double) * (size_t)ll->nact);
  return rc;
}

// ---- joint_pd -----------------------------------------------------------------------------------

typedef struct joint_pd {
  int nact;
  int has_sit;  // q_sit given: the safe mode is a PD to it (kp_sit), else damping only
  // one allocation, carved
  int* qadr;       // (nact)
  int* vadr;       // (nact)
  double* kp;      // (nact)
  double* kd;      // (nact)
  double* ff;      // (nact)
  double* kp_sit;  // (nact)
  double* kd_sit;  // (nact)
  double* q_sit;   // (nact)
  int kd_sit_set;  // kd_sit given (else 2 kd)
} joint_pd;

static int jpd_create(void** self, int* ncmd, const sp_lowlevel_plant* pl, char* msg, size_t len) {
  int n = pl->nact;
  for (int k = 0; k < n; k++) {
    if (!pl->qadr || !pl->vadr || pl->qadr[k] < 0 || pl->vadr[k] < 0 || pl->qadr[k] >= pl->nq ||
        pl->vadr[k] >= pl->nv)
      return sp_errorf(msg, len, SP_EINVAL,
                       "low-level controller joint_pd: actuator %d drives no joint (joint PD "
                       "needs every actuator on a hinge or slide joint)",
                       k + 1);
  }
  joint_pd* j = sp_calloc(1, sizeof *j + (size_t)n * (2 * sizeof(int) + 6 * sizeof(double)) + 16);
  if (!j) return SP_ENOMEM;
  double* d = (double*)(void*)(((size_t)(j + 1) + 15) & ~(size_t)15);
  j->kp = d, d += n;
  j->kd = d, d += n;
  j->ff = d, d += n;
  j->kp_sit = d, d += n;
  j->kd_sit = d, d += n;
  j->q_sit = d, d += n;
  j->qadr = (int*)(void*)d;
  j->vadr = j->qadr + n;
  j->nact = n;
  memcpy(j->qadr, pl->qadr, sizeof(int) * (size_t)n);
  memcpy(j->vadr, pl->vadr, sizeof(int) * (size_t)n);
  for (int k = 0; k < n; k++) j->kp[k] = 20, j->kd[k] = 0.5;
  *self = j;
  *ncmd = n;
  return 0;
}

// a setting: one number for every actuator, or one per actuator
static int fill(double* dst, int nact, const char* name, const double* v, int n, char* msg,
                size_t len) {
  if (n != 1 && n != nact)
    return sp_errorf(msg, len, SP_ESHAPE,
                     "low-level controller joint_pd: setting '%s': expected a number or %d "
                     "numbers (one per actuator), got %d",
                     name, nact, n);
  for (int k = 0; k < nact; k++) dst[k] = v[n == 1 ? 0 : k];
  return 0;
}

static const char* const jpd_names[] = {"kp", "kd", "ff", "kp_sit", "kd_sit", "q_sit"};

static int jpd_check(const void* self, const char* name, const double* v, int n, char* msg,
                     size_t len) {
  const joint_pd* j = self;
  int known = 0;
  for (int i = 0; i < 6; i++) known |= !strcmp(name, jpd_names[i]);
  if (!known)
    return sp_errorf(msg, len, SP_ENOTFOUND,
                     "low-level controller joint_pd: no setting named '%s' (known: kp, kd, ff, "
                     "kp_sit, kd_sit, q_sit)",
                     name);
  int gain = !strcmp(name, "kp") || !strcmp(name, "kd") || !strcmp(name, "kp_sit") ||
             !strcmp(name, "kd_sit");
  if (gain)
    for (int i = 0; i < n; i++)
      if (v[i] < 0)
        return sp_errorf(msg, len, SP_EINVAL,
                         "low-level controller joint_pd: setting '%s': expected gains >= 0, got %g",
                         name, v[i]);
  if (n != 1 && n != j->nact)
    return sp_errorf(msg, len, SP_ESHAPE,
                     "low-level controller joint_pd: setting '%s': expected a number or %d "
                     "numbers (one per actuator), got %d",
                     name, j->nact, n);
  return 0;
}

static int jpd_set(void* self, const char* name, const double* v, int n, char* msg, size_t len) {
  joint_pd* j = self;
  int nact = j->nact;
  int rc = jpd_check(self, name, v, n, msg, len);
  if (rc) return rc;
  if (!strcmp(name, "kp")) return fill(j->kp, nact, name, v, n, msg, len);
  if (!strcmp(name, "kd")) return fill(j->kd, nact, name, v, n, msg, len);
  if (!strcmp(name, "ff")) return fill(j->ff, nact, name, v, n, msg, len);
  if (!strcmp(name, "kp_sit")) return fill(j->kp_sit, nact, name, v, n, msg, len);
  if (!strcmp(name, "kd_sit")) {
    j->kd_sit_set = 1;
    return fill(j->kd_sit, nact, name, v, n, msg, len);
  }
  if (!strcmp(name, "q_sit")) {
    j->has_sit = 1;
    return fill(j->q_sit, nact, name, v, n, msg, len);
  }
  return sp_errorf(msg, len, SP_ENOTFOUND,
                   "low-level controller joint_pd: no setting named '%s' (known: kp, kd, ff, "
                   "kp_sit, kd_sit, q_sit)",
                   name);
}

static int jpd_data_new(void** ws, const void* self) {
  (void)self;
  *ws = NULL;
  return 0;
}

static void jpd_data_free(void* ws) {
  (void)ws;
}

static int jpd_tick(const void* self, void* ws, int mode, double t, const double* qpos,
                    const double* qvel, const double* cmd, double gain_scale, double* act) {
  (void)ws;
  (void)t;
  const joint_pd* j = self;
  for (int k = 0; k < j->nact; k++) {
    double q = qpos[j->qadr[k]], qd = qvel[j->vadr[k]];
    if (mode == SP_LOWLEVEL_SIT) {
      // damped sit-down: joint damping, plus a soft PD to the sitting posture when one is given
      double kd = j->kd_sit_set ? j->kd_sit[k] : 2 * j->kd[k];
      act[k] = gain_scale * ((j->has_sit ? j->kp_sit[k] * (j->q_sit[k] - q) : 0) - kd * qd);
    } else {
      act[k] = gain_scale * (j->kp[k] * (cmd[k] - q) - j->kd[k] * qd) + j->ff[k];
    }
  }
  return 0;
}

static void jpd_free(void* self) {
  sp_free(self);
}

const sp_lowlevel_class sp__lowlevel_joint_pd = {
    .name = "joint_pd",
    .create = jpd_create,
    .set = jpd_set,
    .data_new = jpd_data_new,
    .tick = jpd_tick,
    .data_free = jpd_data_free,
    .free = jpd_free,
    .check = jpd_check,
};
