// mjcf_rbd.h: kinematic trees (engine/rbd) from MJCF files, compiled by MuJoCo's own compiler
// (mj_loadXML) and read from the resulting mjModel: body tree, body_pos/quat, body_mass/ipos/
// iquat/inertia, jnt_type/pos/axis, qpos0 (hinge/slide ref), qpos_spring, jnt_stiffness,
// dof_damping/armature, opt.gravity and motor actuators with joint transmissions.
//
// Mapping: a body with k joints becomes k links, the first placed at body_pos/quat, the last named
// after the body and carrying its inertia, the others named "<body>/<joint>"; a body without
// joints becomes a fixed link. q and v then have MuJoCo's qpos and qvel layout (checked), and u
// MuJoCo's ctrl order, tau = gear * gain * u (ctrl and forces are not clamped by the tree); an
// affine bias (position and velocity servos) becomes joint stiffness, springref and damping.
// Refused (SP_EUNSUPPORTED, naming the element): other actuators (activation dynamics, non-joint
// transmissions, non-fixed gains), springs on ball/free joints, tendon stiffness or damping, fluid
// forces (density, viscosity). Ignored: contacts, joint limits, friction loss, equality
// constraints and tendon geometry (the tree is the smooth, unconstrained dynamics).
#ifndef SP_HAL_MJCF_RBD_H
#define SP_HAL_MJCF_RBD_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/rbd/rbd.h"

SP_API_BEGIN

struct mjModel_;

// Load path and build a finalized tree. On failure *out is NULL and msg (may be NULL) names the
// file and the body or element: SP_EIO/SP_EFORMAT (MuJoCo's compiler message), SP_EUNSUPPORTED,
// SP_ENOMEM.
int sp_mjcf_rbd_load(sp_rbd** out, const char* path, char* msg, size_t n);
// The same from an already compiled model.
int sp_mjcf_rbd_from_model(sp_rbd** out, const struct mjModel_* m, char* msg, size_t n);

// Refuse a compiled model no simulation or tree can use: SP_EFORMAT, with msg (may be NULL)
// naming path and the element, when the option timestep is not a positive finite number or a
// body, joint or geom has a non-finite position, orientation, mass, inertia, size or default
// joint value (MuJoCo parses "nan" and only warns). Both the rigid-body import and the mujoco
// plant check every model they load with it.
int sp_mjcf_check(const struct mjModel_* m, const char* path, char* msg, size_t n);

// mj_loadXML that also refuses what sp_mjcf_check refuses and an XML MuJoCo warns contains a NaN
// (its compiler replaces it silently): the model, or NULL with msg naming path and the problem.
struct mjModel_* sp_mjcf_load(const char* path, char* msg, size_t n);
// sp_mjcf_load and free: 0, or SP_EFORMAT with msg naming path (what `spinal check` runs on a
// robot file's MJCF, so a file that passes check loads in the mujoco plant).
int sp_mjcf_check_file(const char* path, char* msg, size_t n);

// Benchmark helper (bench/bench_rbd.c links libspinal only): load path with contacts, limits and
// equality constraints disabled, set a random state (seeded), and return the mean seconds per
// call of mjd_transitionFD (centred differences, eps 1e-6, A and B) over reps calls after a
// warm-up, or a negative SP_E* code. *nx and *nu (may be NULL) receive MuJoCo's sizes
// (2 nv + na and nu).
double sp_mjcf_time_transition_fd(const char* path, int reps, unsigned long seed, int* nx, int* nu);

SP_API_END

#endif  // SP_HAL_MJCF_RBD_H
