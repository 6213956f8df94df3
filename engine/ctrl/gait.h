// gait.h: a model-based walking controller for a four-legged robot (docs/quadruped.md).
//
// Input: a mode, the time, the measured state (MuJoCo's layout: qpos = trunk position, trunk
// quaternion w x y z, 12 joint angles; qvel = world linear velocity of the trunk origin, trunk
// angular velocity in the trunk frame, 12 joint velocities) and a command (vx, vy forward and
// lateral speed in the trunk's heading frame, m/s; wz yaw rate, rad/s). Output: 12 joint torques in
// actuator order (legs FR FL RR RL; abduction, hip flexion, knee each), clamped to the limits.
//
// Structure (one file per concept):
//   gait_schedule.c  each leg's phase in a periodic gait (trot, pace, bound): stance or swing and
//                    the progress through it
//   swing.c          swing-foot trajectory (smooth lift, apex, touch-down with zero velocity) and
//                    the Raibert foot placement with a velocity feedback term
//   stance.c         the desired body wrench (PD on height, orientation, velocity) distributed
//                    to the stance feet by regularised least squares, clamped to friction cones
//   gait.c           the tick: the state extrapolated over the actuation latency (lookahead),
//                    kinematics and leg Jacobians from the engine/rbd tree (imported
//                    from the same MJCF as the robot), stance torques -J^T f, Cartesian PD for
//                    swing feet, gravity/Coriolis compensation (and the share damp_comp of the
//                    joint damping: none by default, see docs/quadruped.md), modes
//   gait_params.c    the named parameters with ranges and documentation
//
// Modes: SP_GAIT_WALK follows cmd; SP_GAIT_STAND (from a walk) walks on at zero command until the
// trunk is slow, lets swinging legs finish their step, then holds the trunk's position and heading
// on four feet, stepping again when a push moves the trunk faster than step_v;
// SP_GAIT_SIT lowers the robot under joint PD with damping along a smooth path to the lying pose
// (the safe behaviour on fault or e-stop: no zero-torque collapse), from any state.
//
// Description and workspace (as sp_rbd / sp_rbd_data): an sp_gait is read-only during ticks; each
// thread ticks with its own sp_gait_data. Changing parameters must not overlap ticks (a plant
// changes them between its ticks: hal/lowlevel.h, sp_lowlevel_request). sp_gait_tick never
// allocates. Parameters may change while it walks: a new period changes the rate of the gait
// clock, not its phase; a new gait or duty is blended in over switch_cycles gait cycles
// (gait_parts.h, sp_gait_clock), so the robot keeps walking through trot -> pace -> bound.
#ifndef SP_CTRL_GAIT_H
#define SP_CTRL_GAIT_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/rbd/rbd.h"

SP_API_BEGIN

typedef struct sp_gait sp_gait;
typedef struct sp_gait_data sp_gait_data;

enum { SP_GAIT_WALK = 0, SP_GAIT_STAND = 1, SP_GAIT_SIT = 2 };
enum { SP_GAIT_TROT = 0, SP_GAIT_PACE = 1, SP_GAIT_BOUND = 2 };

#define SP_GAIT_NLEG 4
#define SP_GAIT_NJ 12

// A controller for tree (finalized, free base and 12 actuated hinges, links named FR_calf FL_calf
// RR_calf RL_calf for the lower legs, as robots/quadruped.xml imported by sp_mjcf_rbd_load), with
// default parameters. The tree must outlive it. SP_EINVAL (msg names what is missing), SP_ENOMEM.
int sp_gait_create(sp_gait** out, const sp_rbd* tree, char* msg, size_t n);
void sp_gait_free(sp_gait* g);  // NULL is a no-op

// Named parameters (sp_gait_param_name). set: SP_ENOTFOUND for an unknown name, SP_ERANGE for a
// value outside [min, max] or not finite; msg (may be NULL) names the parameter and its range.
int sp_gait_set(sp_gait* g, const char* name, double value, char* msg, size_t n);
// What sp_gait_set would return for name = value, without setting anything (same messages).
int sp_gait_check(const char* name, double value, char* msg, size_t n);
int sp_gait_get(const sp_gait* g, const char* name, double* value);  // SP_ENOTFOUND
int sp_gait_param_count(void);
const char* sp_gait_param_name(int i);  // NULL out of range
const char* sp_gait_param_doc(int i);   // units and meaning; NULL out of range
double sp_gait_param_min(int i);
double sp_gait_param_max(int i);

// A workspace. SP_EINVAL (NULL g), SP_ENOMEM.
int sp_gait_data_create(sp_gait_data** out, const sp_gait* g);
void sp_gait_data_free(sp_gait_data* d);  // NULL is a no-op
// Start over from qpos (19): the gait clock restarts at the next tick, the held position and
// heading are qpos's, all four feet are taken as planted.
void sp_gait_reset(const sp_gait* g, sp_gait_data* d, const double* qpos);
// One control tick at time t (s, non-decreasing since reset). cmd may be NULL (zero). Writes tau
// (12). Returns 0, SP_EINVAL (unknown mode, NULL pointers) with tau zeroed, or SP_ENUMERIC when
// the state, a walk command or the result is not finite (tau zeroed). Commands beyond the
// vx_max, vy_max, wz_max parameters are clamped to them.
int sp_gait_tick(const sp_gait* g, sp_gait_data* d, int mode, double t, const double* qpos,
                 const double* qvel, const double cmd[3], double* tau);

// Inspection (tests, telemetry): leg i's scheduled contact (1 stance, 0 swing) and the world
// foot target of the last tick.
int sp_gait_leg_stance(const sp_gait_data* d, int leg);
void sp_gait_foot_target(const sp_gait_data* d, int leg, double p[3]);

SP_API_END

#endif  // SP_CTRL_GAIT_H
