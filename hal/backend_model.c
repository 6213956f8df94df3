// backend_model.c: the "model" plant backend (see backend_model.h).
#include "hal/backend_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/delay.h"
#include "hal/lowlevel.h"

typedef struct model_plant {
  const sp_model_class* cls;
  sp_model* m;
  sp_model_data* md;  // the plant's workspace for m
  int nx, nu, np;
  double rate_hz;
  int substeps;
  sp_integrator integrator;
  uint64_t seed;
  char robot[64];
  sp_rng rng_w, rng_v;  // process and sensor noise streams

  // one allocation, carved: see model_open
  double* p;        // (np) true parameters
  double* x0;       // (nx) default initial state
  double* wstd;     // (nx) process noise std (zeros: none)
  double* vstd;     // (nx) sensor noise std
  double* u_init;   // (nu)
  double* u_min;    // (nu)
  double* u_max;    // (nu)
  double* x;        // (nx) true state
  double* x_next;   // (nx)
  double* y;        // (nx) what read returns
  double* u_act;    // (nu) the command acting this step
  double* act;      // (model nu) the low-level controller's output
  int* adr;         // (model nu) coordinate k for actuator k
  sp_lowlevel* ll;  // NULL: the command is the model's input
  sp_lowlevel_data* lld;
  int safe;
  long phys;
  sp__delay delay_line;
  int has_w, has_v, has_limits;
  int64_t t_ns;
  long steps;
} model_plant;

static void draw_sensor(model_plant* mp) {
  for (int i = 0; i < mp->nx; i++)
    mp->y[i] = mp->x[i] + (mp->has_v ? mp->vstd[i] * sp_rng_normal(&mp->rng_v) : 0.0);
}

static void copy_or(double* dst, const double* src, int n, double fill) {
  for (int i = 0; i < n; i++) dst[i] = src ? src[i] : fill;
}

static int model_open(sp_plant* p, const char* uri, const void* config, char* msg, size_t len) {
  const sp_plant_model_config* c = config;
  if (!c) return sp_errorf(msg, len, SP_EINVAL, "model plant: a sp_plant_model_config is required");
  if (!c->model)
    return sp_errorf(msg, len, SP_EINVAL, "model plant: field 'model' (a model name) is required");
  const sp_model_class* cls = sp_model_find(c->model);
  if (!cls) return sp_errorf(msg, len, SP_ENOTFOUND, "model plant: no model named '%s'", c->model);
  if (!(c->rate_hz > 0) || !isfinite(c->rate_hz))
    return sp_errorf(msg, len, SP_EINVAL, "model plant: field 'rate_hz' must be > 0, got %g",
                     c->rate_hz);
  if (c->substeps < 0 || c->delay_ticks < 0 || c->delay_ticks > SP_PLANT_MAX_DELAY ||
      c->substeps > SP_PLANT_MAX_SUBSTEPS)
    return sp_errorf(msg, len, SP_EINVAL,
                     "model plant: 'substeps' must be in [0, %d] and 'delay_ticks' in "
                     "[0, %d], got %d and %d",
                     SP_PLANT_MAX_SUBSTEPS, SP_PLANT_MAX_DELAY, c->substeps, c->delay_ticks);
  if (c->integrator != SP_INTEGRATOR_EULER && c->integrator != SP_INTEGRATOR_RK4)
    return sp_errorf(msg, len, SP_EINVAL, "model plant: unknown integrator %d", (int)c->integrator);
  int nx = cls->nx, nu = cls->nu, np = cls->np, mnu = cls->nu;
  sp_lowlevel* ll = NULL;
  int* adr = NULL;
  if (c->lowlevel) {
    // the model's state as (q, qdot); actuator k drives coordinate k
    int nq = nx / 2, sub = c->substeps ? c->substeps : 1;
    adr = sp_malloc(sizeof(int) * (size_t)mnu);
    if (!adr) return SP_ENOMEM;
    for (int k = 0; k < mnu; k++) adr[k] = k < nq ? k : -1;
    sp_lowlevel_plant pl = {nq, nq, mnu, adr, adr, 1.0 / (c->rate_hz * sub), NULL, NULL};
    char err[256] = "";
    int rc = sp_lowlevel_new(&ll, c->lowlevel, &pl, err, sizeof err);
    if (rc) {
      sp_free(adr);
      return sp_errorf(msg, len, rc, "model plant: %s", err);
    }
    nu = ll->ncmd;
  }
  for (int i = 0; i < nx; i++) {
    if ((c->process_std && !(c->process_std[i] >= 0)) ||
        (c->sensor_std && !(c->sensor_std[i] >= 0)))
      return sp_errorf(msg, len, SP_EINVAL, "model plant: noise std of state %d must be >= 0", i);
  }

  // struct and every array in one allocation
  size_t nd = (size_t)np + 6 * (size_t)nx + 4 * (size_t)nu + (size_t)c->delay_ticks * nu + mnu;
  model_plant* mp = sp_calloc(1, sizeof *mp + nd * sizeof(double));
  if (!mp) {
    sp_lowlevel_free(ll);
    sp_free(adr);
    return SP_ENOMEM;
  }
  mp->ll = ll;
  mp->adr = adr;
  double* d = (double*)(mp + 1);
  mp->p = d, d += np;
  mp->x0 = d, d += nx;
  mp->wstd = d, d += nx;
  mp->vstd = d, d += nx;
  mp->x = d, d += nx;
  mp->x_next = d, d += nx;
  mp->y = d, d += nx;
  mp->u_init = d, d += nu;
  mp->u_min = d, d += nu;
  mp->u_max = d, d += nu;
  mp->u_act = d, d += nu;
  mp->act = d, d += mnu;
  sp__delay_init(&mp->delay_line, d, c->delay_ticks, nu);
  mp->cls = cls;
  mp->nx = nx;
  mp->nu = nu;
  mp->np = np;
  mp->rate_hz = c->rate_hz;
  mp->substeps = c->substeps ? c->substeps : 1;
  mp->integrator = c->integrator;
  mp->seed = c->seed;
  snprintf(mp->robot, sizeof mp->robot, "%s", c->robot ? c->robot : cls->name);
  copy_or(mp->p, c->p ? c->p : cls->p_default, np, 0.0);
  copy_or(mp->x0, c->x0, nx, 0.0);
  copy_or(mp->wstd, c->process_std, nx, 0.0);
  copy_or(mp->vstd, c->sensor_std, nx, 0.0);
  copy_or(mp->u_init, c->u_init, nu, 0.0);
  copy_or(mp->u_min, c->u_min, nu, -INFINITY);
  copy_or(mp->u_max, c->u_max, nu, INFINITY);
  mp->has_w = c->process_std != NULL;
  mp->has_v = c->sensor_std != NULL;
  mp->has_limits = c->u_min || c->u_max;
  p->impl = mp;
  if (ll && sp_lowlevel_data_new(&mp->lld, ll)) return SP_ENOMEM;
  return 0;
}

static int model_reset(sp_plant* p, const double* x0) {
  model_plant* mp = p->impl;
  memcpy(mp->x, x0 ? x0 : mp->x0, (size_t)mp->nx * sizeof(double));
  sp__delay_reset(&mp->delay_line, mp->u_init);
  if (mp->ll) sp_lowlevel_reset(mp->ll, mp->lld, mp->x, mp->x + mp->nx / 2);
  mp->phys = 0;
  mp->t_ns = 0;
  mp->steps = 0;
  draw_sensor(mp);
  return 0;
}

static int model_seed(sp_plant* p, uint64_t seed) {
  model_plant* mp = p->impl;
  mp->seed = seed;
  sp_rng_seed(&mp->rng_w, seed, 1);
  sp_rng_seed(&mp->rng_v, seed, 2);
  return 0;
}

static int model_configure(sp_plant* p, char* msg, size_t len) {
  model_plant* mp = p->impl;
  // with a low-level controller the model steps once per inner step
  int inner = mp->ll ? mp->substeps : 1;
  double dt = 1.0 / (mp->rate_hz * inner);
  int rc = sp_model_new_class(&mp->m, mp->cls, mp->p, dt);
  if (!rc) rc = sp_model_configure(mp->m, dt, mp->integrator, mp->ll ? 1 : mp->substeps);
  if (!rc) rc = sp_model_data_new(&mp->md, mp->m);
  if (rc)
    return sp_errorf(msg, len, rc, "model plant: cannot build model '%s': %s", mp->cls->name,
                     sp_strerror(rc));
  p->caps.robot = mp->robot;
  p->caps.nx = mp->nx;
  p->caps.nu = mp->nu;
  p->caps.rate_hz = mp->rate_hz;
  p->caps.x_names = mp->cls->x_names;
  p->caps.u_names = mp->ll && mp->ll->cls->cmd_names ? mp->ll->cls->cmd_names : mp->cls->u_names;
  p->caps.u_min = mp->has_limits ? mp->u_min : NULL;
  p->caps.u_max = mp->has_limits ? mp->u_max : NULL;
  p->caps.can_reset = 1;
  model_seed(p, mp->seed);
  return model_reset(p, NULL);
}

static void model_close(sp_plant* p) {
  model_plant* mp = p->impl;
  if (!mp) return;
  sp_model_data_free(mp->md);
  sp_model_free(mp->m);
  sp_lowlevel_data_free(mp->lld);
  sp_lowlevel_free(mp->ll);
  sp_free(mp->adr);
  sp_free(mp);
  p->impl = NULL;
}

static int model_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  model_plant* mp = p->impl;
  memcpy(x, mp->y, (size_t)mp->nx * sizeof(double));
  *t_ns = mp->t_ns;
  *status = 0;
  return 0;
}

static int model_write(sp_plant* p, const double* u) {
  model_plant* mp = p->impl;
  int nx = mp->nx;

  // the delay line: the command acting now was written delay ticks ago
  sp__delay_push(&mp->delay_line, mp->u_act, u);

  // one control period of the true dynamics (with a low-level controller: its output before each
  // inner step), then process and sensor noise
  int rc = 0;
  if (mp->ll) {
    double h = 1.0 / (mp->rate_hz * mp->substeps);
    sp_lowlevel_mode mode = mp->safe ? SP_LOWLEVEL_SIT : SP_LOWLEVEL_RUN;
    for (int s = 0; s < mp->substeps; s++) {
      if (sp_lowlevel_tick(mp->ll, mp->lld, mode, (double)mp->phys * h, mp->x, mp->x + nx / 2,
                           mp->u_act, mp->act))
        rc = SP_ENUMERIC;
      sp_model_step(mp->m, mp->md, mp->x_next, mp->x, mp->act);
      memcpy(mp->x, mp->x_next, sizeof(double) * (size_t)nx);
      mp->phys++;
    }
    memcpy(mp->x_next, mp->x, sizeof(double) * (size_t)nx);
  } else {
    sp_model_step(mp->m, mp->md, mp->x_next, mp->x, mp->u_act);
  }
  for (int i = 0; i < nx; i++)
    mp->x[i] = mp->x_next[i] + (mp->has_w ? mp->wstd[i] * sp_rng_normal(&mp->rng_w) : 0.0);
  mp->steps++;
  mp->t_ns = (int64_t)llround((double)mp->steps * 1e9 / mp->rate_hz);
  draw_sensor(mp);
  return rc;
}

static int model_safe(sp_plant* p, int on) {
  model_plant* mp = p->impl;
  if (!mp->ll) return SP_EUNSUPPORTED;
  mp->safe = on;
  return 0;
}

static sp_lowlevel* model_lowlevel(sp_plant* p) {
  return ((model_plant*)p->impl)->ll;
}

const sp_plant_backend sp__plant_model_backend = {
    .scheme = "model",
    .open = model_open,
    .configure = model_configure,
    .close = model_close,
    .read = model_read,
    .write = model_write,
    .reset = model_reset,
    .seed = model_seed,
    .safe = model_safe,
    .lowlevel = model_lowlevel,
};

int sp_plant_model_true_state(const sp_plant* p, double* x) {
  if (!p || !x || p->backend != &sp__plant_model_backend || !p->impl ||
      p->state < SP_PLANT_CONFIGURED)
    return SP_EINVAL;
  model_plant* mp = p->impl;
  memcpy(x, mp->x, (size_t)mp->nx * sizeof(double));
  return 0;
}
