// safety.h: the filter between policy and plant: limits, rate limits, NaN guard, watchdog, e-stop.
//
// Every control tick passes the policy's command through sp_safety_tick, which returns the command
// actually to be sent and flags saying what it did. On any fault (e-stop, watchdog, NaN/Inf in the
// state or command, policy error) the declared safe command goes out in that same tick, unfiltered
// (it is checked against the limits once, at construction). Otherwise the command is rate limited
// against the previous command sent, then clamped to its limits, so what leaves always respects
// the limits.
//
// The watchdog tracks the loop time of the last *new* state: a read that succeeded with a
// timestamp later than the previous one. Missing reads and repeated timestamps (a robot that
// stopped sending) both age it; when the age exceeds watchdog_s the filter faults.
//
// Threads: sp_safety_tick runs on the control thread only. sp_safety_estop, sp_safety_clear and
// sp_safety_stats may be called from any thread at any time (atomics, no locks); the tick never
// allocates, locks or blocks.
#ifndef SP_HAL_SAFETY_H
#define SP_HAL_SAFETY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_safety sp_safety;

// Fault causes, in priority order (the highest-priority active one is reported).
typedef enum sp_safety_cause {
  SP_CAUSE_NONE = 0,
  SP_CAUSE_ESTOP = 1,         // e-stop latched
  SP_CAUSE_LATCHED = 2,       // an earlier fault latched (latch_faults) and was not cleared
  SP_CAUSE_WATCHDOG = 3,      // no new state within watchdog_s
  SP_CAUSE_NAN_STATE = 4,     // NaN/Inf in the state read
  SP_CAUSE_POLICY_ERROR = 5,  // the policy callback failed
  SP_CAUSE_NAN_COMMAND = 6,   // NaN/Inf in the policy's command
  SP_CAUSE_COUNT = 7,
} sp_safety_cause;

typedef struct sp_safety_config {
  int nx, nu;
  const double* u_min;     // (nu) lower limits, NULL: none (entries may be -INFINITY)
  const double* u_max;     // (nu) upper limits, NULL: none (entries may be INFINITY)
  const double* rate_max;  // (nu) max |du/dt| per second, NULL: none (INFINITY: channel free)
  const double* u_safe;    // (nu) the safe command, required, within the limits
  double period_s;         // nominal control period (> 0), for rate limits per tick
  double watchdog_s;       // > 0: fault when no new state for this long; 0: no watchdog
  int latch_faults;        // 1: any fault holds the safe command until sp_safety_clear
} sp_safety_config;

// What the control loop hands over each tick.
typedef struct sp_safety_input {
  double t;            // loop time of this tick, seconds
  const double* x;     // (nx) state read this tick, NULL if the read failed
  int64_t t_state_ns;  // timestamp of x (plant clock); a new state has a later timestamp
  const double* u;     // (nu) policy command, NULL when the policy did not produce one
  int policy_error;    // nonzero: the policy callback returned an error
  int hold;            // nonzero: the operator holds the loop; send the safe command (no fault)
} sp_safety_input;

typedef struct sp_safety_result {
  uint32_t flags;         // SP_FLAG_* (hal.h): CLAMPED, RATE_LIMITED, NAN, WATCHDOG, ESTOP, ...
  sp_safety_cause cause;  // SP_CAUSE_NONE unless the safe command was sent because of a fault
  int state_new;          // 1 when x was a new state (for the loop's DROPPED flag)
} sp_safety_result;

typedef struct sp_safety_stats {
  uint64_t ticks, faults, clamped, rate_limited;
  uint64_t by_cause[SP_CAUSE_COUNT];  // fault ticks per cause
  int first_cause;                    // cause of the first fault since reset, NONE if none
  double first_fault_t;               // its loop time (NaN if none)
} sp_safety_stats;

// Build a filter; copies the config's arrays. msg names the offending field on failure.
int sp_safety_new(sp_safety** out, const sp_safety_config* c, char* msg, size_t msglen);
void sp_safety_free(sp_safety* s);

// Start over at loop time t: the watchdog counts from t, the previous command is the safe one,
// statistics are zeroed. Latched faults and the e-stop are NOT cleared (use sp_safety_clear).
void sp_safety_reset(sp_safety* s, double t);

// Filter one tick: writes u_out (nu), the command to send.
sp_safety_result sp_safety_tick(sp_safety* s, double* u_out, const sp_safety_input* in);

// Latch the e-stop (any thread, async-signal-safe). It stays until sp_safety_clear.
void sp_safety_estop(sp_safety* s);
// Clear the e-stop and latched faults (any thread); takes effect at the next tick.
void sp_safety_clear(sp_safety* s);
int sp_safety_estopped(const sp_safety* s);

void sp_safety_stats_get(const sp_safety* s, sp_safety_stats* out);
const double* sp_safety_safe_command(const sp_safety* s);  // (nu)
const char* sp_safety_cause_name(sp_safety_cause c);

SP_API_END

#endif  // SP_HAL_SAFETY_H
