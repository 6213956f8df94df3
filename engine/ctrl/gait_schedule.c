// gait_schedule.c: when each leg of a periodic gait is on the ground (gait_parts.h), and the
// running clock that blends from one gait to another.
#include <math.h>

#include "engine/ctrl/gait.h"
#include "engine/ctrl/gait_parts.h"

double sp_gait_offset(int gait, int leg) {
  // legs FR FL RR RL
  static const double trot[4] = {0, 0.5, 0.5, 0}, pace[4] = {0, 0.5, 0, 0.5},
                      bound[4] = {0, 0, 0.5, 0.5};
  if (leg < 0 || leg > 3) return 0;
  return gait == SP_GAIT_PACE ? pace[leg] : gait == SP_GAIT_BOUND ? bound[leg] : trot[leg];
}

static int leg_state(double ph, double duty, double* s) {
  ph -= floor(ph);
  if (ph < duty) {
    if (s) *s = ph / duty;
    return 1;
  }
  if (s) *s = (ph - duty) / (1 - duty);
  return 0;
}

int sp_gait_phase(int gait, int leg, double period, double duty, double t, double* s) {
  // leg starts its stance at its offset
  return leg_state(t / period + 1 - sp_gait_offset(gait, leg), duty, s);
}

void sp_gait_clock_update(sp_gait_clock* c, int gait, double period, double duty, double blend,
                          double t, double t0) {
  if (!c->started || t0 != c->t0) {  // (re)start: every leg from its own offset, no blend
    c->started = 1;
    c->t0 = c->ta = t0;
    c->pha = 0;
    c->period = period;
    c->gait = gait;
    c->duty = c->duty_to = c->duty_from = duty;
    c->blend = 0;
    for (int l = 0; l < 4; l++) c->off[l] = c->from[l] = c->to[l] = sp_gait_offset(gait, l);
  }
  if (period != c->period) {  // keep the phase, change its rate
    c->pha += (t - c->ta) / c->period;
    c->ta = t;
    c->period = period;
  }
  c->phase = c->pha + (t - c->ta) / c->period;
  if (gait != c->gait || duty != c->duty_to) {  // blend from where the legs are now
    for (int l = 0; l < 4; l++) {
      double d = sp_gait_offset(gait, l) - c->off[l];
      d -= floor(d + 0.5);  // in [-1/2, 1/2)
      c->from[l] = c->off[l];
      c->to[l] = c->off[l] + d;
    }
    c->duty_from = c->duty;
    c->duty_to = duty;
    c->gait = gait;
    c->blend_at = c->phase;
    c->blend = blend > 0 ? blend : 0;
    if (c->blend == 0) {
      for (int l = 0; l < 4; l++) c->off[l] = c->to[l];
      c->duty = duty;
    }
  }
  if (c->blend > 0) {
    double u = (c->phase - c->blend_at) / c->blend;
    if (u >= 1) {
      for (int l = 0; l < 4; l++) c->off[l] = c->to[l];
      c->duty = c->duty_to;
      c->blend = 0;
    } else {
      double b = u <= 0 ? 0 : u * u * (3 - 2 * u);
      for (int l = 0; l < 4; l++) c->off[l] = c->from[l] + (c->to[l] - c->from[l]) * b;
      c->duty = c->duty_from + (c->duty_to - c->duty_from) * b;
    }
  }
}

int sp_gait_clock_leg(const sp_gait_clock* c, int leg, double* s) {
  if (leg < 0 || leg > 3) return 0;
  return leg_state(c->phase + 1 - c->off[leg], c->duty, s);
}
