// vecenv.h: many simulated quadrupeds stepped together, for reinforcement learning (PPO).
//
// One mjModel (loaded once from an MJCF), one mjData per environment, stepped on a pool of worker
// threads (the calling thread is one of them). The interface is method 2's joint level
// (robots/quadruped_joint.lua): the action is one joint position target per actuator at the
// control rate, which the joint PD of hal/lowlevel.h (kind "joint_pd", the same code the mujoco
// plant runs) tracks every physics step; with the quadruped's 1 ms timestep and 20 substeps the
// policy runs at 50 Hz over a 1 kHz PD.
//
//   target = stand + action_scale * clip(a, -action_clip, action_clip), clipped to the joint range
//
// The observation (nobs = 13 + 3 nact with commands: 49 for the quadruped; 65 with clips) is method
// 2's world-model state features (engine/wm/wm.h: trunk height, the up direction in the trunk
// frame, the trunk's linear and angular velocity in its own frame, joint angles and velocities),
// then the task's input and the last action:
//   [ p_z | R^T e_z (3) | v (3) | w (3) | qj (nact) | qd (nact) | task (3 or 7 + nact) | a_prev ]
// Task "velocity": follow a command c = (vx, vy, wz) of forward and lateral
// speed (m/s, trunk frame) and yaw rate (rad/s), drawn uniformly from the configured ranges at
// every reset and every resample_steps steps. Its reward per step (legged-robot practice, Rudin et
// al. 2022, scaled by the control period dt):
//   r/dt = w_lin exp(-|v_xy - c_xy|^2 / sigma2) + w_ang exp(-(w_z - c_wz)^2 / sigma2)
//          - w_vz v_z^2 - w_wxy (w_x^2 + w_y^2) - w_torque |tau|^2 - w_rate |a - a_prev|^2
// With only_positive set, a negative step total is clipped at 0 (legged-robot practice: otherwise
// the penalties of an unskilled policy make ending the episode early by falling pay off).
// Task "imitate": track reference clips (frames of qpos at the control rate, e.g. the gait
// library's). An episode starts at a random frame of a random clip, at the clip's pose and its
// finite-difference velocity (reference state initialisation), then the reference advances one
// frame per step. The task's observation entries (7 + nact instead of the command's 3) are the
// next frame's trunk height, up axis and joint angles, and its trunk position relative to the
// robot's, in the robot's trunk frame. The reward (DeepMimic's form, Peng et al. 2018):
//   r/dt = 0.5 exp(-5 |qj - qj_ref|^2) + 0.15 exp(-0.1 |qd - qd_ref|^2)
//          + 0.2 exp(-10 |p - p_ref|^2) + 0.15 exp(-2 angle(q, q_ref)^2)
//          - w_torque |tau|^2 - w_rate |a - a_prev|^2
// and the episode also ends (terminal) when the trunk is track_fail from the clip's, and (a
// time-out) at the clip's last frame.
// An episode ends when the trunk falls (height below fall_height or its up axis tilted past
// fall_tilt: a terminal state) or after episode_steps (a time-out); the environment then resets
// itself and the observation returned is the new episode's first. Resets start from the MJCF's
// keyframe with joint angles perturbed uniformly by +-reset_noise rad (imitation with from_start:
// environment i starts clip i mod nclips at its first frame, unperturbed, method 2's evaluation).
//
// Determinism: every environment draws from its own random stream (seed, environment index), and
// environments never interact, so the same seed gives the same transitions whatever the thread
// count. Memory: sp_vecenv_new allocates (MuJoCo allocates its model and data itself); reset and
// step never allocate.
#ifndef SP_HAL_VECENV_H
#define SP_HAL_VECENV_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef enum sp_vecenv_task {
  SP_VECENV_VELOCITY = 0,  // follow velocity commands
  SP_VECENV_IMITATE = 1,   // track reference clips
} sp_vecenv_task;

typedef struct sp_vecenv_config {
  const char* mjcf;      // the robot's MJCF
  const char* keyframe;  // reset pose (and the stand pose targets are relative to); NULL: qpos0
  int nenvs;             // >= 1
  int nthreads;          // >= 1 (the caller's thread counts as one)
  int substeps;          // physics steps per control step, >= 1 (20: 50 Hz over 1 ms)
  double kp, kd;         // the joint PD's gains (N m / rad, N m s / rad)
  double action_scale;   // rad per unit of action, > 0
  double action_clip;    // |a| cap, > 0
  double cmd_lo[3], cmd_hi[3];  // command ranges: vx, vy (m/s), wz (rad/s)
  int episode_steps;            // time-out, >= 1
  int resample_steps;           // new command every this many steps (0: once per episode)
  double reset_noise;           // rad
  double fall_height;           // m
  double fall_tilt;             // minimum up_z of the trunk (cos of the tilt)
  double sigma2;                // tracking kernel width (m/s)^2
  double w_lin, w_ang, w_vz, w_wxy, w_torque, w_rate;  // reward weights, >= 0
  int only_positive;                                   // 1: clip the step's reward at 0
  sp_vecenv_task task;
  // imitation: nclips clips of clip_frames[i] (>= 3) frames of qpos (nq each: the MJCF's
  // generalized positions, e.g. a spinal.motion clip's frames) at the control rate
  const double* const* clips;
  const int* clip_frames;
  int nclips;
  int clip_nq;        // columns of every clip: must equal the model's nq
  double track_fail;  // m: the episode ends (terminal) this far from the clip's trunk
  int from_start;     // 1: environment i plays clip i mod nclips from its first frame, without
                      // reset noise or a spread first time-out (a held-out evaluation)
  uint64_t seed;
} sp_vecenv_config;

// episode statistics since the last sp_vecenv_metrics call that cleared them
typedef struct sp_vecenv_metrics {
  double steps;           // control steps taken (all environments)
  double vel_error;       // mean |v_xy - c_xy| per step, m/s
  double yaw_error;       // mean |w_z - c_wz| per step, rad/s
  double reward;          // mean reward per step
  double episodes;        // episodes ended
  double falls;           // of which by falling
  double episode_return;  // mean return of the ended episodes
  double episode_length;  // mean length of the ended episodes (steps)
  double joint_error;     // imitation: mean |qj - qj_ref| per joint and step, rad
  double root_error;      // imitation: mean |p - p_ref| per step, m
} sp_vecenv_metrics;

typedef struct sp_vecenv sp_vecenv;

// Defaults: the quadruped's joint level (kp 60, kd 1.5, 20 substeps, keyframe "stand"), action
// scale 0.25 rad, clip 4, commands in [-1, 1] m/s, [-0.5, 0.5] m/s, [-1, 1] rad/s, 1000-step
// (20 s) episodes with a new command every 250 steps, reset noise 0.1 rad, fall below 0.15 m or
// up_z 0.5, sigma2 0.25, weights lin 1, ang 0.5, vz 2, wxy 0.05, torque 2e-5 (legged practice
// uses 2e-4 with a PD three times softer: torques scale with kp), rate 0.01; only_positive;
// task velocity; track_fail 0.5 m.
sp_vecenv_config sp_vecenv_default_config(const char* mjcf, int nenvs, int nthreads, uint64_t seed);
// 0 or SP_EINVAL naming the bad field in msg (may be NULL).
int sp_vecenv_check(const sp_vecenv_config* c, char* msg, size_t len);

// Load the MJCF, make the environments and start the worker threads. msg names the problem
// (file, keyframe, field).
int sp_vecenv_new(sp_vecenv** out, const sp_vecenv_config* c, char* msg, size_t len);
void sp_vecenv_free(sp_vecenv* v);

int sp_vecenv_nobs(const sp_vecenv* v);
int sp_vecenv_nact(const sp_vecenv* v);
int sp_vecenv_nenvs(const sp_vecenv* v);
double sp_vecenv_dt(const sp_vecenv* v);  // control period (s)

// Change the command ranges (lo <= hi each; equal: a fixed command), taking effect at the next
// draw; SP_EINVAL otherwise.
int sp_vecenv_set_commands(sp_vecenv* v, const double lo[3], const double hi[3]);

// Reset every environment (new episodes, new random streams from seed) and write obs
// (nenvs x nobs).
int sp_vecenv_reset(sp_vecenv* v, uint64_t seed, double* obs);
// One control step of every environment with actions a (nenvs x nact): obs (nenvs x nobs, after
// any automatic reset), reward, done and timeout (nenvs each; timeout may be NULL). SP_ENUMERIC
// counts are not errors: an environment MuJoCo flags as unstable ends its episode as a fall.
int sp_vecenv_step(sp_vecenv* v, double* obs, double* reward, double* done, double* timeout,
                   const double* a);
// substeps raw mj_step calls of every environment on the same threads, ctrl held (no PD,
// observation or reward): the reference for throughput.
void sp_vecenv_step_raw(sp_vecenv* v);

// The statistics since the last call with clear set (clear: start over).
void sp_vecenv_metrics_get(sp_vecenv* v, sp_vecenv_metrics* m, int clear);
// The generalized positions of environment i (nq values) into qpos; returns nq (SP_ERANGE).
int sp_vecenv_qpos(const sp_vecenv* v, int i, double* qpos, int n);

SP_API_END

#endif  // SP_HAL_VECENV_H
