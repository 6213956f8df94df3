// backend_model.h: the "model" plant backend: an engine model standing in for the real system.
//
// The plant integrates a registered engine model (engine/model/model.h) with its OWN parameters
// (the mismatch between the robot and the approximate model a controller is designed on), its own
// integrator and sub-steps, optional process noise (added to the state after every tick), sensor
// noise (added to what read returns) and an actuation delay of whole ticks. Each write advances
// simulated time by one control period; read returns the state at the current simulated time.
//
// Two rates: with a low-level controller (config `lowlevel`) the plant integrates `substeps` steps
// of 1 / (rate * substeps) s per tick and the controller computes the model's input before each.
//
// Noise: process noise is x += process_std .* w, sensor noise y = x + sensor_std .* v, with w, v
// standard normal from two independent sp_rng streams of one seed, so turning sensor noise on
// does not change the process noise realisation. The sensor draw is made once per step, so
// reading twice returns the same value.
//
// Open it with sp_plant_open(&p, "model", &cfg, msg, msglen). The config's arrays are copied.
#ifndef SP_HAL_BACKEND_MODEL_H
#define SP_HAL_BACKEND_MODEL_H

#include <stdint.h>

#include "engine/core/export.h"
#include "engine/model/model.h"
#include "hal/hal.h"

SP_API_BEGIN

typedef struct sp_plant_model_config {
  const char* model;          // registered model class name, required ("unicycle_accel")
  const double* p;            // (np) the plant's true parameters, NULL: the class defaults
  const char* robot;          // robot name for capabilities, NULL: the model name
  double rate_hz;             // control rate, required (> 0); one write = one period
  int substeps;               // integrator sub-steps per tick (0 means 1)
  sp_integrator integrator;   // SP_INTEGRATOR_EULER (0) or SP_INTEGRATOR_RK4
  const double* x0;           // (nx) default initial state for reset(NULL), NULL: zeros
  const double* process_std;  // (nx) process noise std per tick, NULL: none
  const double* sensor_std;   // (nx) sensor noise std, NULL: none
  int delay_ticks;            // a command written at tick k acts during tick k + delay_ticks
  const double* u_init;       // (nu) command acting before the first delayed one, NULL: zeros
  const double* u_min;        // (nu) limits reported in the capabilities, NULL: unbounded
  const double* u_max;        // (nu)
  uint64_t seed;              // noise seed (sp_plant_seed changes it)
  // a low-level controller at the integration rate (hal/lowlevel.h), NULL: none. With one, the
  // model's state is read as (q, qdot) (nx / 2 each; actuator k drives coordinate k), each of the
  // `substeps` integration steps takes the controller's output as the model's input, and the
  // plant's command is the controller's command (joint_pd: a position target per actuator).
  const struct sp_lowlevel_config* lowlevel;
} sp_plant_model_config;

// The plant's true state without sensor noise (for tests and ground truth). x (nx).
// SP_EINVAL if p is not a configured model plant.
int sp_plant_model_true_state(const sp_plant* p, double* x);

SP_API_END

#endif  // SP_HAL_BACKEND_MODEL_H
