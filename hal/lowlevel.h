// lowlevel.h: a low-level controller that runs inside a plant at the physics rate.
//
// Many robots are not commanded at the actuators: a legged robot takes joint position targets
// that a joint PD tracks at 1 kHz, or velocity commands that its own walking controller turns into
// torques. The plant then has two rates: the outer command (the plant's action, written once per
// control tick) and the inner loop, which reads the robot's full state (MuJoCo's qpos and qvel,
// or an engine model's (q, qdot)) every physics step and writes every actuator:
//
//     act = lowlevel(mode, t, qpos, qvel, cmd)        every `every` physics steps, held between
//
// The same mechanism serves every robot file and the model and mujoco backends (and so the robot
// side of `spinal bridge`, which serves such a plant): a class is a small vtable, and a plant owns
// one controller description and one workspace. Classes:
//   joint_pd  act[k] = gain_scale * (kp[k] (cmd[k] - q[k]) - kd[k] qdot[k]) + ff[k], one command
//             per actuator: the joint position target of the joint the actuator drives. Settings
//             kp, kd (N m / rad, N m s / rad; a number or one per actuator), ff (N m), and the
//             safe mode's kd_sit (damping only, default 2 kd) with optional q_sit and kp_sit (a PD
//             to a sitting posture).
//   gait      the walking controller of engine/ctrl/gait.h (when it is built): cmd = (vx, vy, wz)
//             of the body, its settings by name; its tree comes from the plant's MJCF. Its PD
//             gains (kp_swing, kd_swing, sit_kp, sit_kd) follow the gain scale.
//
// Modes: SP_LOWLEVEL_RUN follows the command; SP_LOWLEVEL_STAND holds a standing posture (a gait
// controller stands; joint_pd treats it as RUN); SP_LOWLEVEL_SIT is the safe behaviour of a legged
// robot: a damped sit-down, not zero torque (the plant enters it on a fault: sp_plant_safe).
//
// Memory: sp_lowlevel_new builds the description (read-only while it ticks), sp_lowlevel_data_new
// a workspace; reset and tick never allocate. act is in actuator order (nact); with a MuJoCo motor
// of gear g, ctrl = act (the gear turns it into g * act N m).
#ifndef SP_HAL_LOWLEVEL_H
#define SP_HAL_LOWLEVEL_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef enum sp_lowlevel_mode {
  SP_LOWLEVEL_RUN = 0,
  SP_LOWLEVEL_STAND = 1,
  SP_LOWLEVEL_SIT = 2,
} sp_lowlevel_mode;

// What the plant tells a controller about the state it reads and the actuators it writes.
typedef struct sp_lowlevel_plant {
  int nq, nv, nact;  // position and velocity coordinates, actuators
  const int* qadr;   // (nact) position coordinate of the joint actuator k drives, -1: none
  const int* vadr;   // (nact) its velocity coordinate, -1: none
  double dt;         // physics step (s)
  const char* mjcf;  // the MJCF the plant simulates (classes that need the tree), may be NULL
  const void* mj;    // the plant's mjModel (const), may be NULL
} sp_lowlevel_plant;

// One named setting: a number (n = 1) or a vector (n = nact for per-actuator settings).
typedef struct sp_lowlevel_param {
  const char* name;
  const double* v;  // (n)
  int n;
} sp_lowlevel_param;

typedef struct sp_lowlevel_config {
  const char* kind;                 // "joint_pd", "gait"
  int every;                        // physics steps per tick (0 means 1: every step)
  double rate_hz;                   // > 0: the tick rate instead of every; the physics rate over
                                    // it must be a whole number of steps
  const sp_lowlevel_param* params;  // (nparams) settings by name
  int nparams;
} sp_lowlevel_config;

// A class: create from the plant's description, set settings, make workspaces, tick.
typedef struct sp_lowlevel_class {
  const char* name;
  // allocate the class's description; *ncmd: the outer command size it takes
  int (*create)(void** self, int* ncmd, const sp_lowlevel_plant* pl, char* msg, size_t len);
  int (*set)(void* self, const char* name, const double* v, int n, char* msg, size_t len);
  int (*data_new)(void** ws, const void* self);
  void (*reset)(const void* self, void* ws, const double* qpos, const double* qvel);
  // act (nact) from the state and cmd (ncmd); gain_scale multiplies the feedback gains
  int (*tick)(const void* self, void* ws, int mode, double t, const double* qpos,
              const double* qvel, const double* cmd, double gain_scale, double* act);
  void (*data_free)(void* ws);
  void (*free)(void* self);
  const char* const* cmd_names;  // (ncmd) default names of the command entries, may be NULL
  // optional: scale the class's own PD gains by s (relative to their set values); NULL: tick's
  // gain_scale argument is all the class needs
  int (*scale_gains)(void* self, double s);
  // optional: what set would return for this setting, without changing anything (the same
  // messages); NULL: the class's settings cannot change while it runs
  int (*check)(const void* self, const char* name, const double* v, int n, char* msg, size_t len);
  // optional: the number a setting's named value stands for ("gait" = "pace" is 1); SP_ENOTFOUND
  // when the setting takes no names or the name is not one of them (msg lists the names)
  int (*value)(const void* self, const char* name, const char* text, double* v, char* msg,
               size_t len);
} sp_lowlevel_class;

typedef struct sp_lowlevel {
  const sp_lowlevel_class* cls;
  void* self;
  int ncmd, nact, nq, nv;
  int every;          // physics steps per tick
  double gain_scale;  // feedback gain scale (the "pd" perturbation), 1 by default
  struct sp__lowlevel_queue* queue;  // changes requested while it runs (lowlevel.c)
} sp_lowlevel;

typedef struct sp_lowlevel_data {
  const sp_lowlevel* ll;
  void* ws;
  long step;    // physics steps since reset
  double* act;  // (nact) the last output, held between ticks
} sp_lowlevel_data;

// Register a class (it must outlive its controllers). Built-in classes are registered on first
// use. SP_EINVAL on a duplicate name, SP_ERANGE when full.
int sp_lowlevel_register(const sp_lowlevel_class* cls);
const sp_lowlevel_class* sp_lowlevel_find(const char* kind);
// Fill names (up to n) with the registered kinds; returns how many there are.
int sp_lowlevel_list(const char** names, int n);

// Build a controller of c->kind for the plant pl and apply c's settings in order. msg names the
// kind or setting on failure (*out is NULL then).
int sp_lowlevel_new(sp_lowlevel** out, const sp_lowlevel_config* c, const sp_lowlevel_plant* pl,
                    char* msg, size_t msglen);
void sp_lowlevel_free(sp_lowlevel* ll);  // NULL is a no-op
// Scale the feedback gains (the "pd" perturbation; 1: as set), not while it ticks. SP_EINVAL for a
// scale that is not > 0.
int sp_lowlevel_set_gain_scale(sp_lowlevel* ll, double s);
// Change one setting (not while a workspace of it ticks).
int sp_lowlevel_set(sp_lowlevel* ll, const char* name, const double* v, int n, char* msg,
                    size_t msglen);

// Change n settings while the controller runs, from any thread (a plant's physics may tick it
// on another one: the bridge's pacing thread, a live loop): they are all checked now (the same
// errors as sp_lowlevel_set, naming the setting; none is queued when one fails) and queued
// together; the thread that ticks applies
// every queued change at its next tick boundary (a physics step on which the class ticks),
// before that tick, all of them at once and in the order requested (a later request for the
// same setting replaces an earlier one still queued). The ticking thread never blocks or
// allocates for it: it takes the queue's lock only when it is free (else it applies the changes
// a tick later), so no tick sees half a change. SP_EUNSUPPORTED when the class has no check
// (its settings are fixed while it runs); SP_ESTATE when SP_LOWLEVEL_QUEUE changes are queued
// already (no tick has run since). A controller that takes such changes must be ticked by one
// thread at a time (one workspace: a plant's).
#define SP_LOWLEVEL_QUEUE 16
int sp_lowlevel_request(sp_lowlevel* ll, const sp_lowlevel_param* params, int n, char* msg,
                        size_t msglen);
// The number a named value stands for: "gait" = "pace" -> 1 (the class's value hook).
// SP_ENOTFOUND with msg naming the setting and the names it takes.
int sp_lowlevel_value(const sp_lowlevel* ll, const char* name, const char* text, double* v,
                      char* msg, size_t msglen);
// Changes requested and not applied yet.
int sp_lowlevel_queued(const sp_lowlevel* ll);

int sp_lowlevel_data_new(sp_lowlevel_data** out, const sp_lowlevel* ll);
void sp_lowlevel_data_free(sp_lowlevel_data* d);  // NULL is a no-op
// Start over at the state (qpos, qvel): step 0, the class's memory (gait phase) cleared.
void sp_lowlevel_reset(const sp_lowlevel* ll, sp_lowlevel_data* d, const double* qpos,
                       const double* qvel);
// One physics step at time t: a new act (nact) on steps that are multiples of every, else the
// held one. Never allocates. SP_ENUMERIC when the class produced a non-finite output (act then
// holds zeros).
int sp_lowlevel_tick(const sp_lowlevel* ll, sp_lowlevel_data* d, sp_lowlevel_mode mode, double t,
                     const double* qpos, const double* qvel, const double* cmd, double* act);

SP_API_END

#endif  // SP_HAL_LOWLEVEL_H
