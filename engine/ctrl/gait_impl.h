// gait_impl.h: the walking controller's description and workspace (private to engine/ctrl).
#ifndef SP_CTRL_GAIT_IMPL_H
#define SP_CTRL_GAIT_IMPL_H

#include "engine/ctrl/gait.h"
#include "engine/ctrl/gait_parts.h"
#include "engine/rbd/rbd.h"

struct sp_gait {
  const sp_rbd* tree;
  sp_gait_params p;
  int calf[SP_GAIT_NLEG];       // link of each lower leg
  int dof[SP_GAIT_NJ];          // tree dof of each actuator
  double mass;                  // kg, the whole robot
  double g;                     // gravity magnitude, m/s^2
  double hip[SP_GAIT_NLEG][3];  // thigh origin in the trunk frame (neutral pose): foot placement
  double damping[SP_GAIT_NJ];   // joint damping, compensated
};

struct sp_gait_data {
  sp_rbd_data* rd;
  double* J;     // (4 x 6 x nv) foot Jacobians
  double* bias;  // (nv)
  int started, mode;
  double t_prev, t0;               // last tick, start of the gait clock
  double cmd[3];                   // rate-limited command
  double hold[3];                  // x, y, yaw held when standing
  double yaw_d, h_ref;             // heading and height targets
  double vi[2];                    // integrated velocity error, heading frame, m
  int stance[SP_GAIT_NLEG];        // scheduled contact of the last tick
  int planted[SP_GAIT_NLEG];       // stand mode: leg done with its last swing
  int settling;                    // stand mode: still walking at zero command, not yet slow
  double p0[SP_GAIT_NLEG][3];      // lift-off positions
  double target[SP_GAIT_NLEG][3];  // landing targets
  double sit_q0[SP_GAIT_NJ], sit_t0;
  sp_gait_clock clk;  // the schedule's clock from t0 (gait, period and duty change smoothly)
};

#endif  // SP_CTRL_GAIT_IMPL_H
