// gait_parts.h: the building blocks of the walking controller (gait.h), each a pure function of
// its inputs so tests check them alone: the gait schedule, the swing trajectory, the Raibert foot
// placement and the stance force distribution, and the parameter record they read.
#ifndef SP_CTRL_GAIT_PARTS_H
#define SP_CTRL_GAIT_PARTS_H

#include "engine/core/export.h"

SP_API_BEGIN

// Every named parameter (gait_params.c documents ranges and units).
typedef struct sp_gait_params {
  double gait;                    // SP_GAIT_TROT, SP_GAIT_PACE, SP_GAIT_BOUND
  double period, duty;            // s; fraction of the period a foot is on the ground
  double height;                  // trunk height to keep, m
  double swing_height;            // foot apex above its lift-off height, m
  double raibert_k;               // foot placement velocity feedback, s
  double kp_z, kd_z;              // height PD, 1/s^2 and 1/s
  double kp_xy, kd_v;             // horizontal position (stand) and velocity PD, 1/s^2 and 1/s
  double ki_v, vi_max;            // velocity error integral gain, 1/s^2, and its bound, m
  double kp_rot, kd_rot;          // orientation PD, N m/rad and N m s/rad
  double kd_yaw;                  // yaw rate damping (kd_rot is roll and pitch's), N m s/rad
  double kd_rot_push, push_dv;    // roll/pitch damping when pushed, and the velocity error, m/s,
                                  // above which it rises from kd_rot (full at twice that)
  double ff_acc;                  // share of the commanded velocity's rate of change fed forward
  double kp_swing, kd_swing;      // swing foot Cartesian PD, N/m and N s/m
  double mu;                      // friction coefficient assumed for the cones
  double fz_max;                  // largest normal force per foot, N
  double reg;                     // least-squares regularisation on foot forces
  double rot_weight;              // torque against force errors in the least squares
  double lookahead;               // the state is extrapolated this far ahead (actuation latency), s
  double damp_comp;               // share of the model's joint damping compensated, 0..1
  double step_v;                  // standing: speed above which the robot steps (a push), m/s
  double sit_time;                // duration of the sit-down path, s
  double sit_kp, sit_kd;          // its joint PD, N m/rad and N m s/rad
  double tau_max, tau_max_knee;   // torque limits, N m
  double vx_max, vy_max, wz_max;  // command limits, m/s and rad/s
  double acc_max, yaw_acc_max;    // command rate limits, m/s^2 and rad/s^2
  double calf_length;             // knee to foot centre along the calf's -z, m
  double lie_abd, lie_hip, lie_knee;  // lying joint angles (end of sit), rad
  double switch_cycles;               // gait-to-gait transition length, gait cycles (0: at once)
} sp_gait_params;

void sp_gait_params_default(sp_gait_params* p);

// gait_schedule.c ---------------------------------------------------------------------------------
// Phase offset of leg (0 FR, 1 FL, 2 RR, 3 RL) in gait (trot: diagonals together; pace: sides
// together; bound: front and rear pairs together), in [0, 1).
double sp_gait_offset(int gait, int leg);
// Leg's state at time t since the gait started: returns 1 in stance, 0 in swing; *s (may be
// NULL) receives the progress through the current stance or swing in [0, 1). A leg starts its
// cycle in stance at phase offset 0.
int sp_gait_phase(int gait, int leg, double period, double duty, double t, double* s);

// The gait clock of a running controller: the schedule above with settings that change while it
// runs. The phase (in cycles) is integrated, so a new period changes its rate, not its value; a
// new gait or duty is blended in over `blend` cycles along a smooth step (each leg's offset moves
// by its change wrapped into [-1/2, 1/2), so legs that keep their partner move together and the
// intermediate pattern is a four-beat walk), so no leg's phase jumps and no swing is cut short.
// With constant settings it is exactly sp_gait_phase of t - t0.
typedef struct sp_gait_clock {
  int started;
  double t0;                 // the start the clock follows (a new one restarts it)
  double ta, pha, period;    // anchor: phase pha (cycles) at time ta, at this period since
  double phase;              // cycles since the start, at the last update
  int gait;                  // the gait it runs or blends to
  double duty_to, duty_from;  // duty it runs or blends to, and from
  double from[4], to[4];     // leg offsets blended from, to
  double blend_at, blend;    // phase where the blend began, its length in cycles (0: none)
  double off[4], duty;       // the offsets and duty in force
} sp_gait_clock;

// Advance the clock to time t (non-decreasing) with the settings now in force; t0: the start of
// the gait clock (a value other than the last one restarts it at phase 0 with gait's offsets).
void sp_gait_clock_update(sp_gait_clock* c, int gait, double period, double duty, double blend,
                          double t, double t0);
// Leg's state on the clock as sp_gait_phase's: 1 in stance, 0 in swing, *s the progress.
int sp_gait_clock_leg(const sp_gait_clock* c, int leg, double* s);

// swing.c -----------------------------------------------------------------------------------------
// Swing trajectory from p0 to p1 (world, 3) at progress s in [0, 1] over a swing of duration ts:
// horizontal motion along the smooth step 3s^2 - 2s^3, height p0z + (p1z - p0z) b(s) +
// h 64 s^3 (1 - s)^3 (apex h at s = 1/2); position p and velocity v (per second; either may be
// NULL), both continuous, the velocity zero at lift-off and touch-down.
void sp_gait_swing(double* p, double* v, const double* p0, const double* p1, double h, double s,
                   double ts);
// Raibert foot placement (world, z set to 0): hip the hip's ground point now, v_hip the hip's
// measured horizontal velocity, v_cmd its commanded velocity, t_left the swing time remaining,
// t_stance the stance duration, k the feedback gain: the hip's point at touch-down plus the
// neutral point (half a stance ahead) plus the velocity feedback,
//   hip + v_hip (t_left + t_stance / 2) + k (v_hip - v_cmd)
void sp_gait_raibert(double* p, const double* hip, const double* v_hip, const double* v_cmd,
                     double t_left, double t_stance, double k);

// stance.c ----------------------------------------------------------------------------------------
// Foot forces (ground on foot, world, 3 per foot, n feet at positions r relative to the centre
// of mass) whose resultant wrench is closest to w = (force, torque about the centre of mass),
// torque errors weighted by wt against force errors: the regularised weighted least squares
// f = A^T (A A^T + reg I)^-1 w with A = [I ...; sqrt(wt) [r_i]x ...] (w's torque scaled alike),
// then each force clamped to fz in [0, fz_max] and its tangential part to mu fz. n <= 4. Returns 0,
// or SP_ESINGULAR (forces zeroed) when the 6 x 6 system is not positive definite.
int sp_gait_distribute(double* f, const double* r, int n, const double* w, double wt, double reg,
                       double mu, double fz_max);

SP_API_END

#endif  // SP_CTRL_GAIT_PARTS_H
