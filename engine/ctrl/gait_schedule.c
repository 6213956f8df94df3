// gait_schedule.c: when each leg of a periodic gait is on the ground (gait_parts.h).
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

int sp_gait_phase(int gait, int leg, double period, double duty, double t, double* s) {
  double ph = t / period + 1 - sp_gait_offset(gait, leg);  // leg starts its stance at its offset
  ph -= floor(ph);
  if (ph < duty) {
    if (s) *s = ph / duty;
    return 1;
  }
  if (s) *s = (ph - duty) / (1 - duty);
  return 0;
}
