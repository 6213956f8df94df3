// hal_safety.c: the safety filter's configuration (hal/safety.h) read from a Lua table, for every
// binding that runs a plant under the filter: plant:rollout (the settings sit in its options),
// spinal.loop's live.new (in its `safety` table, a robot file's safety section) and hal.bridge.
// Each setting is checked here and nowhere else in the bindings.
#include <math.h>

#include "hal_bind.h"

void spH_safety_opts(const spA_table* t, const sp_plant_caps* caps, double period_s,
                     int safe_required, spH_safety* out) {
  int nx = caps->nx, nu = caps->nu;
  double* d = spA_scratch(t->L, 4 * (size_t)nu);
  double *safe = d, *umin = safe + nu, *umax = umin + nu, *rmax = umax + nu;

  // the safe command: finite, the one thing a fault falls back to
  if (!spA_field_vector(t, "safe", safe, nu, 1) && safe_required)
    spA_fielderror(t, "safe", "expected the safe command (a vector of length %d), got nil", nu);
  int has_min = spA_field_vector(t, "u_min", umin, nu, 0);
  int has_max = spA_field_vector(t, "u_max", umax, nu, 0);
  int has_rate = spA_field_vector(t, "rate_max", rmax, nu, 0);
  double watchdog = spA_range(t, "watchdog", 0, 0, 3600, 0);
  int latch = spA_boolean(t, "latch_faults", 0);
  out->stop_on_fault = spA_boolean(t, "stop_on_fault", 0);
  out->c = (sp_safety_config){.nx = nx,
                              .nu = nu,
                              .u_min = has_min ? umin : caps->u_min,
                              .u_max = has_max ? umax : caps->u_max,
                              .rate_max = has_rate ? rmax : NULL,
                              .u_safe = safe,
                              .period_s = period_s,
                              .watchdog_s = watchdog,
                              .latch_faults = latch};
}
