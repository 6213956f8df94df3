// fake_plant.h: a tiny plant backend for HAL tests ("fake" scheme): x[i] += dt * u[i] per write,
// time advances by one period per write. Faults are injected through its config.
#ifndef SP_TESTS_FAKE_PLANT_H
#define SP_TESTS_FAKE_PLANT_H

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "hal/hal.h"

typedef struct fake_config {
  int n;  // nx = nu = n (<= 8)
  double rate_hz;
  long fail_reads_from;   // read returns SP_EIO from this write count on (0: never)
  long freeze_time_from;  // timestamps stop advancing from this write count on (0: never)
  long estop_from;        // read reports SP_FLAG_PLANT_ESTOP from this write count on (0: never)
} fake_config;

typedef struct fake_impl {
  fake_config cfg;
  double x[8], u_last[8];
  long writes;
  int64_t t_ns;
  const char* names[8];
} fake_impl;

static int fake_open(sp_plant* p, const char* uri, const void* config, char* msg, size_t len) {
  const fake_config* c = config;
  if (!c || c->n < 1 || c->n > 8)
    return sp_errorf(msg, len, SP_EINVAL, "fake: config with 1 <= n <= 8 required");
  fake_impl* f = sp_calloc(1, sizeof *f);
  if (!f) return SP_ENOMEM;
  f->cfg = *c;
  p->impl = f;
  return 0;
}

static int fake_configure(sp_plant* p, char* msg, size_t len) {
  fake_impl* f = p->impl;
  static const char* const nm[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  p->caps.robot = "fake";
  p->caps.nx = p->caps.nu = f->cfg.n;
  p->caps.rate_hz = f->cfg.rate_hz;
  p->caps.x_names = p->caps.u_names = nm;
  p->caps.can_reset = 1;
  return 0;
}

static void fake_close(sp_plant* p) {
  sp_free(p->impl);
}

static int fake_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  fake_impl* f = p->impl;
  if (f->cfg.fail_reads_from && f->writes >= f->cfg.fail_reads_from) return SP_EIO;
  for (int i = 0; i < f->cfg.n; i++) x[i] = f->x[i];
  *t_ns = f->t_ns;
  *status = f->cfg.estop_from && f->writes >= f->cfg.estop_from ? SP_FLAG_PLANT_ESTOP : 0;
  return 0;
}

static int fake_write(sp_plant* p, const double* u) {
  fake_impl* f = p->impl;
  double dt = 1.0 / f->cfg.rate_hz;
  for (int i = 0; i < f->cfg.n; i++) {
    f->x[i] += dt * u[i];
    f->u_last[i] = u[i];
  }
  f->writes++;
  if (!(f->cfg.freeze_time_from && f->writes >= f->cfg.freeze_time_from))
    f->t_ns += (int64_t)(1e9 / f->cfg.rate_hz + 0.5);
  return 0;
}

static int fake_reset(sp_plant* p, const double* x0) {
  fake_impl* f = p->impl;
  for (int i = 0; i < f->cfg.n; i++) f->x[i] = x0 ? x0[i] : 0.0;
  f->t_ns = 0;
  f->writes = 0;
  return 0;
}

static const sp_plant_backend fake_backend = {
    .scheme = "fake",
    .open = fake_open,
    .configure = fake_configure,
    .close = fake_close,
    .read = fake_read,
    .write = fake_write,
    .reset = fake_reset,
};

// register once per process (a second registration reports SP_EINVAL, which is fine here)
static inline void fake_register(void) {
  sp_plant_register(&fake_backend);
}

#endif  // SP_TESTS_FAKE_PLANT_H
