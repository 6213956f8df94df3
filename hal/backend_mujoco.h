// backend_mujoco.h: the "mujoco" plant backend: an MJCF model simulated by MuJoCo as the robot.
//
// The plant loads an MJCF file (mj_loadXML), owns its own copy of the model and data, and maps
// MuJoCo quantities to spinal's state and command vectors as the robot file declares:
//
//   x[i] = offset + scale * value(source)         one sp_plant_mujoco_state per state entry
//   ctrl[actuator] = offset + scale * u[action]   one sp_plant_mujoco_actuator per (action,
//                                                 actuator) pair: an action may drive several
//
// One write is one control period: the command (after the optional delay line) is put into
// ctrl and MuJoCo takes `substeps` steps of its timestep; the state is then read from the
// simulation at the end of the tick (positions, velocities and sensors of the same instant).
// With no state map the state is (qpos, qvel); with no actuator map the command is ctrl.
//
// Sources (index counts from 0; names are MJCF names):
//   SP_MJ_QPOS         qpos[jnt_qposadr(joint) + index], or qpos[index] when name is NULL
//   SP_MJ_QVEL         qvel[jnt_dofadr(joint) + index], or qvel[index] when name is NULL
//                      (free joint: linear velocity in the world frame, then angular in the body's)
//   SP_MJ_SENSOR       sensordata[sensor_adr(sensor) + index] (a velocimeter's index 0 is the
//                      forward speed in its site's frame)
//   SP_MJ_YAW          heading of a free (or ball, relative to its parent) joint's quaternion
//   SP_MJ_BODY_POS     world position of a body's frame, index 0..2
//   SP_MJ_BODY_YAW     heading of a body's frame
//   SP_MJ_BODY_VEL     linear velocity of a body's origin in the body's own frame (index 0: the
//                      forward speed)
//   SP_MJ_BODY_ANGVEL  angular velocity of a body in its own frame (index 2: the yaw rate)
// Headings are the rotation about the world z axis, atan2(R[1][0], R[0][0]), made continuous
// over time (no jump of 2 pi when the body turns past +-pi), as an integrated model's heading is;
// a reset starts them at the reset value.
//
// Reset(x0): from the keyframe (or qpos0) at rest, every settable entry takes its x0 value:
// qpos, yaw and body_yaw (the joint's orientation becomes that pure heading), body_pos (of a
// body on a free joint), then qvel, body_vel and body_angvel (of a body on a free joint), and
// velocimeter, gyro, jointpos and jointvel sensors; other sensors are left to follow. Wheel
// joints (config `wheels`, or the MJCF's custom text "spinal_wheels": joint names separated by
// spaces) are then spun to roll without slipping at the body's speed, so a reset to a moving car
// starts without a slip transient.
//
// Noise and delay as the model backend: sensor noise per state entry (one draw per tick, two
// independent streams of one seed), process noise as a random kick of the generalized velocities
// after every tick (std per dof), actuation delay in whole ticks with u_init acting first.
//
// Perturbations (sp_plant_mujoco_perturb, and the config's `perturb`): scale the masses and
// inertias of bodies, the friction coefficients of geoms and the gear of actuators, each by one
// global factor times an optional per-name factor; scale every dof's damping, and add dry
// (Coulomb) friction to every dof (frictionloss) -- the joint losses a model usually lacks. They
// are applied to the plant's own model relative to the file's values, so setting a scale to 1 (or
// passing NULL) restores the original. The gear of a motor scales its force; the gear of a position
// servo also scales its target (angle = ctrl / gear), so scale only the motors with a per-actuator
// entry to keep the steering calibrated.
//
// MuJoCo allocates its model and data itself (not through sp_malloc). After configure no call
// allocates: a tick is mj_step and reads of arrays; MuJoCo's own errors (rare: out of memory,
// an overflowing stack) go through its mju_user_error handler, which by default exits.
// Instability (MuJoCo's bad qacc/qpos/qvel warnings, after which it resets the data itself)
// makes write return SP_ENUMERIC and read report SP_FLAG_PLANT_FAULT until the next reset.
//
// Open it with sp_plant_open(&p, "mujoco", &cfg, msg, n), or sp_plant_open(&p, "mujoco://PATH",
// cfg_or_NULL, ...) to name the file in the URI. The config's arrays and strings are copied.
#ifndef SP_HAL_BACKEND_MUJOCO_H
#define SP_HAL_BACKEND_MUJOCO_H

#include <stdint.h>

#include "engine/core/export.h"
#include "hal/hal.h"

SP_API_BEGIN

struct mjModel_;
struct mjData_;

typedef enum sp_plant_mujoco_source {
  SP_MJ_QPOS = 0,
  SP_MJ_QVEL,
  SP_MJ_SENSOR,
  SP_MJ_YAW,
  SP_MJ_BODY_POS,
  SP_MJ_BODY_YAW,
  SP_MJ_BODY_VEL,
  SP_MJ_BODY_ANGVEL,
} sp_plant_mujoco_source;

// where one state entry comes from: x = offset + scale * value
typedef struct sp_plant_mujoco_state {
  sp_plant_mujoco_source source;
  const char* name;  // joint, sensor or body name; NULL only for whole-vector qpos/qvel
  int index;         // component from 0 (ignored by yaw and body_yaw)
  double scale;      // 0 means 1
  double offset;
} sp_plant_mujoco_state;

// one actuator an action drives: ctrl = offset + scale * u[action]
typedef struct sp_plant_mujoco_actuator {
  int action;        // command channel, 0 .. nu-1
  const char* name;  // actuator name in the MJCF
  double scale;      // 0 means 1
  double offset;
} sp_plant_mujoco_actuator;

typedef struct sp_plant_mujoco_scale {
  const char* name;  // body, geom or actuator name
  double scale;      // > 0
} sp_plant_mujoco_scale;

// Model perturbations, relative to the MJCF's values. A global factor of 0 means 1.
typedef struct sp_plant_mujoco_perturbation {
  double mass;          // every body's mass and inertia
  double friction;      // every geom's friction coefficients (sliding, torsional, rolling)
  double gear;          // every actuator's gear
  double damping;       // every degree of freedom's damping
  double frictionloss;  // dry (Coulomb) friction ADDED to every dof's frictionloss (N m or N);
                        // 0: none, not a scale (the file's value is often 0)
  // the "real" robot's variants (docs/quadruped.md): 0 means none (or 1 for the scales)
  double payload;  // kg, a point mass added to the payload body (the root body: the body of
                   // the first free joint) at (payload_x, payload_y) m from its centre of
                   // mass, at the height of that centre; mass, centre and inertia follow
  double payload_x, payload_y;
  double motor;    // torque scale: multiplies every actuator's gear (with `gear`)
  double pd;       // scale of the low-level controller's feedback gains
  double latency;  // s: the actuators get what was computed this long ago (whole physics
                   // steps, rounded to the nearest; at most SP_PLANT_MAX_DELAY steps)
  double noise;    // std of noise on every joint angle (rad) and velocity (rad/s) the
                   // low-level controller reads, and on every state entry the plant reports
  double push;     // N s: an impulse on the root body along its lateral (y) axis, applied
                   // once at push_time s after each reset (negative: to the right)
  double push_time;
  const sp_plant_mujoco_scale* body_mass;  // (nbody_mass) per body, times the global factor
  int nbody_mass;
  const sp_plant_mujoco_scale* geom_friction;  // (ngeom_friction) per geom
  int ngeom_friction;
  const sp_plant_mujoco_scale* actuator_gear;  // (nactuator_gear) per actuator
  int nactuator_gear;
} sp_plant_mujoco_perturbation;

typedef struct sp_plant_mujoco_config {
  const char* mjcf;   // MJCF file; NULL: the PATH of a "mujoco://PATH" URI
  const char* robot;  // robot name for capabilities; NULL: the MJCF's model name
  double rate_hz;     // control rate; 0: one MuJoCo step per tick (1 / timestep)
  int substeps;       // MuJoCo steps per tick; 0: 1 / (rate * timestep), which must be an
                      // integer; > 0 sets the timestep to 1 / (rate * substeps)
  int nx;             // state size; 0: the state is (qpos, qvel)
  const sp_plant_mujoco_state* state;  // (nx)
  const char* const* x_names;          // (nx) NULL: names made from the sources
  int nu;                              // command size; 0: the command is ctrl (every actuator)
  const sp_plant_mujoco_actuator* actuators;  // (nactuators) every action appears at least once
  int nactuators;
  const char* const* u_names;  // (nu) NULL: the first actuator's name per action
  const char* keyframe;        // the keyframe a reset starts from; NULL: qpos0 at rest
  const double* x0;            // (nx) state for reset(NULL); NULL: the keyframe as it is
  const char* const* wheels;   // (nwheels) hinge joints rolled at reset; NULL: the MJCF's
  int nwheels;                 //   custom text "spinal_wheels" (if any)
  const double* sensor_std;    // (nx) sensor noise std, NULL: none
  const double* process_std;   // (nv) std of the velocity kick per tick, NULL: process_std_all
  double process_std_all;      // the same std for every dof (0: no process noise)
  int delay_ticks;             // a command written at tick k acts during tick k + delay_ticks
  const double* u_init;        // (nu) command acting before the first delayed one, NULL: zeros
  const double* u_min;         // (nu) limits reported in the capabilities, NULL: unbounded
  const double* u_max;         // (nu)
  const sp_plant_mujoco_perturbation* perturb;  // applied at open, NULL: none
  uint64_t seed;                                // noise seed (sp_plant_seed changes it)
  // a low-level controller at the physics rate (hal/lowlevel.h), NULL: none. With one, the
  // actuator map's names are the controller's command entries (joint_pd: the MJCF's actuator
  // names, each its joint's position target; gait: vx, vy, wz), entries no action drives stay 0,
  // and the controller writes every actuator's ctrl each physics step; nu = 0 makes the command
  // the controller's whole command vector.
  const struct sp_lowlevel_config* lowlevel;
} sp_plant_mujoco_config;

// Apply perturbations (NULL: restore the MJCF's values) to a configured mujoco plant. Every name
// is checked before anything changes; msg (may be NULL) names a bad one. The simulation state is
// kept. Not while a real-time loop is ticking the plant (call it between rollouts).
int sp_plant_mujoco_perturb(sp_plant* p, const sp_plant_mujoco_perturbation* q, char* msg,
                            size_t msglen);

// MuJoCo's model and data of a configured mujoco plant, for inspection and for changes the
// config does not cover (NULL for other plants or before configure). After changing model
// parameters by hand, call mj_setConst and mj_forward.
struct mjModel_* sp_plant_mujoco_model(sp_plant* p);
struct mjData_* sp_plant_mujoco_data(sp_plant* p);
// The plant's configuration, for recording a run to render later (render/render.h): copies the
// current qpos (nq values) into qpos when qpos is not NULL and n >= nq, and returns nq; SP_EINVAL
// for other plants or before configure. No allocation: callable inside a tick.
int sp_plant_mujoco_qpos(sp_plant* p, double* qpos, int n);
// The plant's state as read() reports it, without the sensor noise (the robot file's sensor_std
// and the `noise` perturbation): what a motion-capture system would measure, for scoring a
// policy on what the robot did rather than on what its noisy sensors said. Copies nx values
// into y when y is not NULL and n >= nx, and returns nx; SP_EINVAL for other plants or before
// configure. No allocation.
int sp_plant_mujoco_truth(sp_plant* p, double* y, int n);
// The MJCF file the plant loaded, as it was named (NULL for other plants or before configure).
const char* sp_plant_mujoco_file(sp_plant* p);
// MuJoCo steps per control tick (0 for other plants).
int sp_plant_mujoco_substeps(const sp_plant* p);
// The low-level controller of a configured mujoco plant (NULL: none or another plant).
const struct sp_lowlevel* sp_plant_mujoco_lowlevel(sp_plant* p);

SP_API_END

#endif  // SP_HAL_BACKEND_MUJOCO_H
