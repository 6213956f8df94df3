// rbd_model.h: a kinematic tree as an sp_model, so controllers (sp_lqr_design), policies and
// estimators use it unchanged.
//
// State x = (q, v), nx = nq + nv, with q in its ambient coordinates (a ball or free joint keeps
// its quaternion, 4 numbers); action u (nu) = the actuated dofs' commands, tau = gear * u.
//   SP_RBD_CONTINUOUS   f(x, u) = (qdot, ABA(q, v, tau)), qdot = v for 1-dof joints and
//                       quat * (0, w) / 2 for quaternions. model.c's Euler and RK4 integrate it
//                       and give exact step Jacobians of that integrator. fx is the exact
//                       Jacobian in ambient coordinates: the dynamics depend on a quaternion only
//                       through its normalised rotation, so d/dquat = (tangent derivative) times
//                       2 Im(conj(quat) dquat) / |quat|^2. The integrated quaternion is not
//                       renormalised by the step (normalise the state between rollouts if needed).
//   SP_RBD_SEMI_IMPLICIT a discrete class: v+ = v + dt ABA, q+ = q + dt v+, with the exact
//                       Jacobians of step.c. Only for trees without ball/free joints (where the
//                       tangent and ambient coordinates agree); sp_rbd_step gives the manifold
//                       version with tangent-space Jacobians for any tree.
// The model's parameters are the tree's named parameters (np, p_names, defaults = their values
// when the model is made), with exact Jacobians P = dstep/dp. The model writes its parameters
// into the tree before every evaluation, so change them on the model (sp_model_set_param); a
// later sp_rbd_param_set on the tree is overridden at the model's next evaluation.
#ifndef SP_RBD_RBD_MODEL_H
#define SP_RBD_RBD_MODEL_H

#include "engine/core/export.h"
#include "engine/model/model.h"
#include "engine/rbd/rbd.h"

SP_API_BEGIN

typedef enum sp_rbd_scheme {
  SP_RBD_CONTINUOUS = 0,
  SP_RBD_SEMI_IMPLICIT = 1,
} sp_rbd_scheme;

// A model of the finalized tree t (which must outlive it), step dt. name (may be NULL: "rbd")
// names its class. SP_EINVAL (bad tree or dt), SP_EUNSUPPORTED (semi-implicit with a
// quaternion), SP_ENOMEM. Free with sp_rbd_model_free (not sp_model_free).
int sp_rbd_model_new(sp_model** out, sp_rbd* t, double dt, sp_rbd_scheme scheme, const char* name);
void sp_rbd_model_free(sp_model* m);  // NULL is a no-op
// The tree behind a model made by sp_rbd_model_new or from a registered tree class.
sp_rbd* sp_rbd_model_tree(const sp_model* m);

// Register the tree as a model class named name, so sp_model_new(name, p, dt) (and robot files,
// { model = { name = ... } }) make models of it like any built-in class. The tree then belongs to
// the registry for the life of the process: do not free it. All models of a registered tree share
// one workspace, and a lock makes their evaluations take turns (safe from several threads, but a
// plant thread may wait for a design running in another). SP_EINVAL for an
// empty or taken name (and as sp_rbd_model_new), SP_ERANGE when the registry is full, SP_ENOMEM.
int sp_rbd_model_register(sp_rbd* t, const char* name, sp_rbd_scheme scheme);

SP_API_END

#endif  // SP_RBD_RBD_MODEL_H
