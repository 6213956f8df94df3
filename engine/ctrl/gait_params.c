// gait_params.c: the walking controller's named parameters, their ranges and meaning (gait.h).
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/error.h"
#include "engine/ctrl/gait.h"
#include "engine/ctrl/gait_impl.h"

typedef struct {
  const char* name;
  size_t off;
  double def, lo, hi;
  const char* doc;
} param;

#define P(f, def, lo, hi, doc) \
  { #f, offsetof(sp_gait_params, f), def, lo, hi, doc }
static const param table[] = {
    P(gait, 0, 0, 2, "gait pattern: 0 trot (diagonals), 1 pace (sides), 2 bound (front/rear)"),
    P(period, 0.3, 0.2, 1.0, "gait period, s"),
    P(duty, 0.6, 0.35, 0.85, "fraction of the period each foot is on the ground"),
    P(height, 0.28, 0.18, 0.32, "trunk height kept while standing and walking, m"),
    P(swing_height, 0.08, 0.02, 0.15, "swing foot apex above lift-off, m"),
    P(raibert_k, 0.03, 0, 0.2, "foot placement velocity feedback k in k (v - v_cmd), s"),
    P(kp_z, 100, 0, 1000, "height stiffness per unit mass, 1/s^2"),
    P(kd_z, 20, 0, 200, "height damping per unit mass, 1/s"),
    P(kp_xy, 30, 0, 500, "horizontal position stiffness per unit mass when standing, 1/s^2"),
    P(kd_v, 8, 0, 100, "horizontal velocity gain per unit mass, 1/s"),
    P(ki_v, 20, 0, 200, "horizontal velocity error integral gain per unit mass, 1/s^2"),
    P(vi_max, 0.1, 0, 1, "bound on the integrated velocity error, m"),
    P(kp_rot, 300, 0, 1000, "trunk orientation stiffness, N m/rad"),
    P(kd_rot, 20, 0, 100, "trunk roll and pitch rate damping, N m s/rad"),
    P(kd_yaw, 50, 0, 100, "trunk yaw rate damping, N m s/rad"),
    P(kd_rot_push, 50, 0, 100,
      "roll and pitch rate damping when pushed (horizontal velocity error from push_dv to twice "
      "that: kd_rot rising to this), N m s/rad"),
    P(push_dv, 0.25, 0.01, 10,
      "horizontal velocity error above which roll and pitch damping rises towards kd_rot_push, "
      "m/s"),
    P(ff_acc, 1, 0, 1,
      "share of the commanded velocity's rate of change (turning: the velocity vector rotates "
      "with the yaw rate) fed forward as body force"),
    P(kp_swing, 500, 0, 5000, "swing foot position stiffness, N/m"),
    P(kd_swing, 15, 0, 200, "swing foot velocity damping, N s/m"),
    P(mu, 0.6, 0.1, 1.5, "friction coefficient of the foot force cones"),
    P(fz_max, 180, 10, 500, "largest normal force per foot, N"),
    P(reg, 1e-3, 1e-8, 1, "regularisation of the foot force least squares"),
    P(rot_weight, 1, 0.01, 100, "weight of torque errors against force errors (N m vs N) in it"),
    P(lookahead, 0.005, 0, 0.05,
      "actuation latency to compensate: the state is extrapolated this far ahead at constant "
      "velocity, s"),
    P(damp_comp, 0, 0, 1,
      "share of the model's joint damping the torques cancel (more than the real joint has is "
      "negative damping)"),
    P(step_v, 0.25, 0.05, 10, "standing: trunk speed that makes it step to recover (a push), m/s"),
    P(sit_time, 1.5, 0.3, 10, "duration of the damped sit-down, s"),
    P(sit_kp, 40, 5, 300, "sit-down joint stiffness, N m/rad"),
    P(sit_kd, 2, 0.1, 20, "sit-down joint damping, N m s/rad"),
    P(tau_max, 23.7, 0, 100, "abduction and hip torque limit, N m"),
    P(tau_max_knee, 35.5, 0, 100, "knee torque limit, N m"),
    P(vx_max, 1.0, 0, 3, "forward speed command limit, m/s"),
    P(vy_max, 0.5, 0, 1.5, "lateral speed command limit, m/s"),
    P(wz_max, 1.5, 0, 4, "yaw rate command limit, rad/s"),
    P(acc_max, 2, 0.1, 20, "rate limit of the speed commands, m/s^2"),
    P(yaw_acc_max, 20, 0.1, 40, "rate limit of the yaw rate command, rad/s^2"),
    P(calf_length, 0.213, 0.05, 0.5, "knee to foot centre along the calf, m"),
    P(lie_abd, 0, -1, 1, "lying abduction angle (end of sit-down), rad"),
    P(lie_hip, 1.35, -1, 2.5, "lying hip flexion angle, rad"),
    P(lie_knee, -2.7, -2.9, 0, "lying knee angle, rad"),
    P(switch_cycles, 1, 0, 10,
      "length of a change of gait or duty while walking, in gait cycles: the legs' phase offsets "
      "move smoothly from the old pattern to the new (0: at once)"),
};
#undef P
enum { NPARAM = (int)(sizeof table / sizeof table[0]) };

void sp_gait_params_default(sp_gait_params* p) {
  memset(p, 0, sizeof *p);
  for (int i = 0; i < NPARAM; i++) *(double*)((char*)p + table[i].off) = table[i].def;
}

static int find(const char* name) {
  if (!name) return -1;
  for (int i = 0; i < NPARAM; i++)
    if (strcmp(table[i].name, name) == 0) return i;
  return -1;
}

int sp_gait_param_count(void) {
  return NPARAM;
}
const char* sp_gait_param_name(int i) {
  return i >= 0 && i < NPARAM ? table[i].name : NULL;
}
const char* sp_gait_param_doc(int i) {
  return i >= 0 && i < NPARAM ? table[i].doc : NULL;
}
double sp_gait_param_min(int i) {
  return i >= 0 && i < NPARAM ? table[i].lo : NAN;
}
double sp_gait_param_max(int i) {
  return i >= 0 && i < NPARAM ? table[i].hi : NAN;
}

int sp_gait_check(const char* name, double value, char* msg, size_t n) {
  int i = find(name);
  if (i < 0) {
    if (msg && n) snprintf(msg, n, "gait: unknown parameter '%s'", name ? name : "(null)");
    return SP_ENOTFOUND;
  }
  if (!isfinite(value) || value < table[i].lo || value > table[i].hi) {
    if (msg && n)
      snprintf(msg, n, "gait: %s = %g is outside [%g, %g] (%s)", name, value, table[i].lo,
               table[i].hi, table[i].doc);
    return SP_ERANGE;
  }
  if (i == 0 && value != floor(value)) {
    if (msg && n) snprintf(msg, n, "gait: gait = %g is not 0 (trot), 1 (pace) or 2 (bound)", value);
    return SP_ERANGE;
  }
  return SP_OK;
}

int sp_gait_set(sp_gait* g, const char* name, double value, char* msg, size_t n) {
  int i = find(name);
  if (!g || i < 0) {
    if (msg && n) snprintf(msg, n, "gait: unknown parameter '%s'", name ? name : "(null)");
    return SP_ENOTFOUND;
  }
  int rc = sp_gait_check(name, value, msg, n);
  if (rc) return rc;
  *(double*)((char*)&g->p + table[i].off) = value;
  return SP_OK;
}

int sp_gait_get(const sp_gait* g, const char* name, double* value) {
  int i = find(name);
  if (!g || i < 0) return SP_ENOTFOUND;
  if (value) *value = *(const double*)((const char*)&g->p + table[i].off);
  return SP_OK;
}
