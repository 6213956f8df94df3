// backend_replay.h: the "replay" plant backend: a recorded trajectory served as a read-only plant.
//
// Estimators and analyses run offline on logged data through the same plant interface as a live
// robot. Sample i (state x[i] measured at t[i]) is what read returns until the next write; each
// write moves to the next sample (the command itself is ignored: the loop's log records it).
// After the last sample, read fails with SP_EIO ("end of recording"), which the control loop
// counts as a dropped state and the safety watchdog eventually reports. reset(NULL) rewinds;
// reset(x0) with an explicit state is unsupported (a recording cannot start elsewhere).
//
// Two ways to open it:
//   sp_plant_open(&p, "replay", &cfg, ...)          arrays given in an sp_plant_replay_config
//   sp_plant_open(&p, "replay://DIR", NULL, ...)    DIR/t.npy (n) and DIR/x.npy (n x nx), as
//                                                   written by sp_log_save; DIR/u.npy gives nu
#ifndef SP_HAL_BACKEND_REPLAY_H
#define SP_HAL_BACKEND_REPLAY_H

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_plant_replay_config {
  long n;                      // samples (>= 1)
  int nx, nu;                  // state size; action size the plant reports (commands ignored)
  const double* t;             // (n) sample times in seconds, strictly increasing
  const double* x;             // (n x nx) states
  double rate_hz;              // reported rate; 0: from the mean spacing of t
  const char* robot;           // NULL: "replay"
  const char* const* x_names;  // (nx) NULL: x1, x2, ...
  const char* const* u_names;  // (nu) NULL: u1, u2, ...
} sp_plant_replay_config;

SP_API_END

#endif  // SP_HAL_BACKEND_REPLAY_H
