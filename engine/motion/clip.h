// clip.h: reference motions: a clip of root poses and joint angles at a fixed frame rate.
//
// A clip holds nframes frames, frame_dt seconds apart, of the root position p (3, world, m), the
// root orientation q (4, unit quaternion w, x, y, z; body to world, engine/la/quat.h) and nj joint
// angles (rad). sp_clip_finish derives, consistently with each other and with interpolation:
//   v_i  = R(q_i)^T (p_{i+1} - p_{i-1}) / (2 dt)       root linear velocity in the body frame
//   w_i  = Log(q_{i-1}* (x) q_{i+1}) / (2 dt)          root angular velocity in the body frame
//   qd_i = (qj_{i+1} - qj_{i-1}) / (2 dt)               joint velocities
// (central differences, second order; one-sided first differences at the two ends). They are
// exact for a body moving at constant body-frame rates. Between frames, positions, joint angles
// and velocities are interpolated linearly and orientations by slerp.
//
// A sample of the clip at time t is one state vector in the layout the world model uses
// (engine/wm/wm.h), nx = 13 + 2 nj:
//   [ p (3) | q (4) | v_body (3) | w_body (3) | qj (nj) | qd (nj) ]
// Time runs over [0, duration], duration = (nframes - 1) frame_dt. Outside it, a clip that does not
// loop holds its first or last frame (velocities as at that frame); a looping clip wraps, each
// cycle shifted by the clip's horizontal displacement (p_last - p_first with z = 0), so a walking
// loop keeps walking (as the public mocap files' cycle offsets do). Orientation is not offset
// between cycles.
//
// Nothing here allocates after sp_clip_new.
#ifndef SP_MOTION_CLIP_H
#define SP_MOTION_CLIP_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

#define SP_CLIP_MAXJOINTS 64

typedef struct sp_clip {
  int nframes;      // >= 2
  int nj;           // joints, 0 .. SP_CLIP_MAXJOINTS
  double frame_dt;  // seconds between frames, > 0
  int loop;         // 1: wraps in time (see above)
  double* pos;      // (nframes x 3)
  double* quat;     // (nframes x 4) w, x, y, z
  double* joints;   // (nframes x nj)
  double* vel;      // (nframes x 3) body frame, from sp_clip_finish
  double* angvel;   // (nframes x 3) body frame, from sp_clip_finish
  double* jvel;     // (nframes x nj) from sp_clip_finish
} sp_clip;

// A clip of nframes (>= 2) zero frames (identity orientations) for nj joints, frame_dt > 0 apart.
// SP_EINVAL for bad sizes, SP_ENOMEM.
int sp_clip_new(sp_clip** out, int nframes, int nj, double frame_dt, int loop);
void sp_clip_free(sp_clip* c);

// After filling pos, quat and joints: normalise the quaternions, flip their signs so consecutive
// ones lie in the same hemisphere (q and -q are one orientation), and compute the velocities.
// SP_ENUMERIC when a value is not finite or a quaternion is zero, with the frame and field named in
// msg (may be NULL): "frame 3: quaternion is zero".
int sp_clip_finish(sp_clip* c, char* msg, size_t msg_size);

// The state size of a sample, 13 + 2 nj, and the clip's duration (nframes - 1) frame_dt.
int sp_clip_nx(const sp_clip* c);
double sp_clip_duration(const sp_clip* c);

// out (13 + 2 nj) = the clip at time t (seconds; see above for times outside the clip).
void sp_clip_sample(const sp_clip* c, double* out, double t);

// out (k x (13 + 2 nj)) = samples at t + offsets[j], j = 0..k-1: windows of future frames for a
// motion-tracking encoder (e.g. offsets 1/30, 1/15, 1/3 and 1 s).
void sp_clip_window(const sp_clip* c, double* out, double t, const double* offsets, int k);

SP_API_END

#endif  // SP_MOTION_CLIP_H
