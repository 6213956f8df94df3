// lowlevel_gait.c: the walking controller (engine/ctrl/gait.h) as a low-level controller class
// "gait" (hal/lowlevel.h). The command is the body's (vx, vy, wz); an exactly zero command stands
// (SP_GAIT_STAND), the safe mode sits down (SP_GAIT_SIT). The controller's tree is imported from
// the plant's own MJCF (hal/mjcf_rbd.c), so it matches the simulated robot. Built only when the
// gait controller is (CMakeLists.txt defines SP_HAVE_GAIT; the class pointer is NULL otherwise).
#include "hal/lowlevel.h"

#ifdef SP_HAVE_GAIT
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/gait.h"
#include "engine/rbd/rbd.h"
#include "hal/mjcf_rbd.h"

// the gait's PD gains the "pd" perturbation scales, with their values as set
static const char* const pd_names[] = {"kp_swing", "kd_swing", "sit_kp", "sit_kd"};
enum { NPD = 4 };

typedef struct gait_ll {
  sp_rbd* tree;
  sp_gait* g;
  int nact;
  double pd_base[NPD];
  double pd_scale;
} gait_ll;

static const char* const gait_cmd_names[] = {"vx", "vy", "wz"};

static void gll_free(void* self) {
  gait_ll* s = self;
  if (!s) return;
  sp_gait_free(s->g);
  sp_rbd_free(s->tree);
  sp_free(s);
}

static int gll_create(void** self, int* ncmd, const sp_lowlevel_plant* pl, char* msg, size_t len) {
  if (!pl->mjcf)
    return sp_errorf(msg, len, SP_EINVAL,
                     "low-level controller gait: needs the plant's MJCF (the mujoco plant)");
  gait_ll* s = sp_calloc(1, sizeof *s);
  if (!s) return SP_ENOMEM;
  s->nact = pl->nact;
  int rc = sp_mjcf_rbd_load(&s->tree, pl->mjcf, msg, len);
  if (!rc) rc = sp_gait_create(&s->g, s->tree, msg, len);
  for (int i = 0; !rc && i < NPD; i++) rc = sp_gait_get(s->g, pd_names[i], &s->pd_base[i]);
  if (rc) {
    gll_free(s);
    return rc;
  }
  s->pd_scale = 1;
  *self = s;
  *ncmd = 3;
  return 0;
}

static int gll_set(void* self, const char* name, const double* v, int n, char* msg, size_t len) {
  gait_ll* s = self;
  if (n != 1)
    return sp_errorf(msg, len, SP_ESHAPE,
                     "low-level controller gait: setting '%s': expected one number, got %d", name,
                     n);
  for (int i = 0; i < NPD; i++) {
    if (!strcmp(name, pd_names[i])) {
      int rc = sp_gait_set(s->g, name, v[0] * s->pd_scale, msg, len);
      if (!rc) s->pd_base[i] = v[0];
      return rc;
    }
  }
  return sp_gait_set(s->g, name, v[0], msg, len);
}

static int gll_check(const void* self, const char* name, const double* v, int n, char* msg,
                     size_t len) {
  const gait_ll* s = self;
  if (n != 1)
    return sp_errorf(msg, len, SP_ESHAPE,
                     "low-level controller gait: setting '%s': expected one number, got %d", name,
                     n);
  double x = v[0];
  for (int i = 0; i < NPD; i++)
    if (!strcmp(name, pd_names[i])) x *= s->pd_scale;
  return sp_gait_check(name, x, msg, len);
}

// gait = "trot" | "pace" | "bound"
static int gll_value(const void* self, const char* name, const char* text, double* v, char* msg,
                     size_t len) {
  (void)self;
  static const char* const gaits[] = {"trot", "pace", "bound"};
  if (!strcmp(name, "gait")) {
    for (int i = 0; i < 3; i++)
      if (!strcmp(text, gaits[i])) return *v = i, 0;
    return sp_errorf(msg, len, SP_ENOTFOUND,
                     "low-level controller gait: setting 'gait': expected trot, pace or bound (or "
                     "0, 1, 2), got '%s'",
                     text);
  }
  return sp_errorf(msg, len, SP_ENOTFOUND,
                   "low-level controller gait: setting '%s': expected a number, got '%s'", name,
                   text);
}

static int gll_scale_gains(void* self, double scale) {
  gait_ll* s = self;
  char msg[160];
  for (int i = 0; i < NPD; i++) {
    int rc = sp_gait_set(s->g, pd_names[i], s->pd_base[i] * scale, msg, sizeof msg);
    if (rc) {
      // out of a gain's range: back to the previous scale, nothing changed
      for (int k = 0; k < i; k++)
        sp_gait_set(s->g, pd_names[k], s->pd_base[k] * s->pd_scale, msg, sizeof msg);
      return rc;
    }
  }
  s->pd_scale = scale;
  return 0;
}

static int gll_data_new(void** ws, const void* self) {
  const gait_ll* s = self;
  sp_gait_data* d = NULL;
  int rc = sp_gait_data_create(&d, s->g);
  *ws = d;
  return rc;
}

static void gll_data_free(void* ws) {
  sp_gait_data_free(ws);
}

static void gll_reset(const void* self, void* ws, const double* qpos, const double* qvel) {
  (void)qvel;
  const gait_ll* s = self;
  sp_gait_reset(s->g, ws, qpos);
}

static int gll_tick(const void* self, void* ws, int mode, double t, const double* qpos,
                    const double* qvel, const double* cmd, double gain_scale, double* act) {
  (void)gain_scale;
  const gait_ll* s = self;
  int m = SP_GAIT_WALK;
  if (mode == SP_LOWLEVEL_SIT) {
    m = SP_GAIT_SIT;
  } else if (mode == SP_LOWLEVEL_STAND || (cmd[0] == 0 && cmd[1] == 0 && cmd[2] == 0)) {
    m = SP_GAIT_STAND;
  }
  return sp_gait_tick(s->g, ws, m, t, qpos, qvel, cmd, act);
}

static const sp_lowlevel_class gait_class = {
    .name = "gait",
    .create = gll_create,
    .set = gll_set,
    .data_new = gll_data_new,
    .reset = gll_reset,
    .tick = gll_tick,
    .data_free = gll_data_free,
    .free = gll_free,
    .cmd_names = gait_cmd_names,
    .scale_gains = gll_scale_gains,
    .check = gll_check,
    .value = gll_value,
};

const sp_lowlevel_class* const sp__lowlevel_gait = &gait_class;
#else
const sp_lowlevel_class* const sp__lowlevel_gait = 0;
#endif
