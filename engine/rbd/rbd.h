// rbd.h: articulated rigid-body trees (sp_rbd) and their per-evaluation workspace (sp_rbd_data).
//
// A tree is a list of links, each attached to a parent link (or the world, -1) by one joint:
//   child frame = parent frame * placement(pos, rot) * joint(q)
// with joint(q) a rotation about `axis` through `anchor` (revolute), a translation along `axis`
// (prismatic), a rotation by a quaternion about `anchor` (ball), nothing (fixed), or an absolute
// pose (free). Axis and anchor are in the link frame, as in MuJoCo's MJCF, so a body with several
// joints becomes a chain of links, the last carrying the inertia. A free joint is stored as three
// prismatic links along the parent's axes (hidden, massless) and a ball link, so that q and v match
// MuJoCo's free joint: q = (x, y, z, qw, qx, qy, qz), v = (world linear velocity of the link
// origin, angular velocity in the link frame): nq = 7, nv = 6. Ball joints: nq = 4, nv = 3, v is
// the local angular velocity. Revolute and prismatic joints measure q - ref.
//
// Configurations live on a manifold: sp_rbd_integrate is q (+) v dt, with quaternions updated as
// quat * exp(w dt / 2). All derivatives with respect to q are in the tangent space: column j is the
// derivative along q (+) eps e_j (for a ball joint, a rotation about local axis j).
//
// Dynamics (world coordinates, Featherstone 2008; derivatives: Carpentier & Mansard, RSS 2018):
//   tau = M(q) a + b(q, v) + damping .* v + stiffness .* (q - springref)
// with M including the armature on its diagonal (MuJoCo's conventions for all four).
// Every algorithm takes an sp_rbd_data built once per tree and never allocates.
#ifndef SP_RBD_RBD_H
#define SP_RBD_RBD_H

#include <stddef.h>

#include "engine/core/error.h"
#include "engine/core/export.h"

SP_API_BEGIN

#define SP_RBD_NAME 64

typedef enum sp_rbd_joint {
  SP_RBD_FIXED = 0,
  SP_RBD_REVOLUTE = 1,
  SP_RBD_PRISMATIC = 2,
  SP_RBD_BALL = 3,
  SP_RBD_FREE = 4,  // expanded on add into 3 hidden prismatic links and a ball link
} sp_rbd_joint;

// what a named parameter is (its offset within a group, e.g. SP_RBD_P_COM + 2 is com_z)
typedef enum sp_rbd_param_kind {
  SP_RBD_P_MASS = 0,
  SP_RBD_P_COM = 1,      // 3: com_x, com_y, com_z
  SP_RBD_P_INERTIA = 4,  // 6: ixx iyy izz ixy ixz iyz
  SP_RBD_P_POS = 10,     // 3: pos_x, pos_y, pos_z
  SP_RBD_P_DAMPING = 13,
  SP_RBD_P_ARMATURE = 14,
  SP_RBD_P_STIFFNESS = 15,
} sp_rbd_param_kind;

typedef struct sp_rbd_link {
  char name[SP_RBD_NAME];
  int parent;          // link index (< this link's), -1 for the world
  sp_rbd_joint joint;  // type of the joint to the parent
  double pos[3];       // placement of the link frame in the parent frame at q = 0
  double rot[9];       // (3x3 row-major) its rotation
  double axis[3];      // joint axis in the link frame (revolute, prismatic), unit length
  double anchor[3];    // joint anchor in the link frame (revolute, ball)
  double ref;          // revolute/prismatic: q at which the joint is at its zero
  double mass;         // kg
  double com[3];       // centre of mass in the link frame
  double inertia[6];   // about the centre of mass, link axes: ixx iyy izz ixy ixz iyz
  double damping;      // N m s/rad (or N s/m) per dof: tau_passive = -damping v
  double armature;     // kg m^2 (or kg) added to the diagonal of M per dof
  double stiffness;    // revolute/prismatic: tau_passive = -stiffness (q - springref)
  double springref;    // q at which the spring is at rest
  int actuated;        // 1: each dof of this joint receives one action u (times gear)
  double gear;         // u -> generalised force scale
  // filled by sp_rbd_add / sp_rbd_finalize
  int hidden;  // 1: a link created by expanding a free joint (no parameters of its own)
  int iq, nq;  // offset and size in q
  int iv, nv;  // offset and size in v
} sp_rbd_link;

typedef struct sp_rbd {
  int nlinks, cap;
  sp_rbd_link* links;  // (nlinks)
  double gravity[3];   // world linear acceleration of gravity, e.g. (0, 0, -9.81)
  int nq, nv, nu;      // configuration, velocity (tangent) and action sizes
  int finalized;
  int* dof_link;     // (nv) link of each dof
  int* dof_parent;   // (nv) previous dof on the path to the root, -1 at the root
  int* act_dof;      // (nu) dof driven by each action
  double* act_gear;  // (nu)
  // named, perturbable parameters: pointers into links
  int np;
  double** param;                       // (np)
  char (*param_name)[2 * SP_RBD_NAME];  // (np)
  int* param_link;                      // (np) link each parameter belongs to
  int* param_kind;                      // (np) an sp_rbd_param_kind
} sp_rbd;

// Workspace: world placements, motion subspaces and the recursions' intermediates.
typedef struct sp_rbd_data {
  const sp_rbd* tree;
  int nlinks, nv;
  double* R;     // (nlinks x 9) world rotation of each link frame
  double* p;     // (nlinks x 3) world position of each link origin
  double* S;     // (nv x 6) world motion subspace column of each dof
  double* I;     // (nlinks x 36) world spatial inertia
  double* Ic;    // (nlinks x 36) composite inertia of the subtree
  double* Bc;    // (nlinks x 36) composite bias matrix (derivatives)
  double* v;     // (nlinks x 6) world spatial velocity
  double* a;     // (nlinks x 6) world spatial acceleration, gravity included (a_world = -g)
  double* f;     // (nlinks x 6) force of the subtree (after rnea's backward pass)
  double* c;     // (nlinks x 6) ABA velocity-product acceleration
  double* pA;    // (nlinks x 6) ABA bias force
  double* U;     // (nv x 6) ABA I^A S
  double* Dinv;  // (nlinks x 36) ABA inverse joint-space inertia of each joint (nv_i x nv_i)
  double* uu;    // (nv) ABA u
  double* psi;   // (nv x 6) derivative terms (RSS 2018)
  double* phi;   // (nv x 6)
  double* phid;  // (nv x 6)
  double* M;     // (nv x nv) scratch: mass matrix / its Cholesky factor
  double* tmp;   // (4 nv + 5 nv^2) scratch
  double* dp;    // (nv x np) scratch
  double* sA;    // (2nv x 2nv) step_vjp scratch
  double* sB;    // (2nv x nu) step_vjp scratch
  double* sP;    // (2nv x np) step_vjp scratch
} sp_rbd_data;

// building ---------------------------------------------------------------------------------------

// An empty tree with gravity (0, 0, -9.81). SP_ENOMEM.
int sp_rbd_new(sp_rbd** out);
void sp_rbd_free(sp_rbd* t);  // NULL is a no-op
// A link description with identity placement, zero inertia, axis z, not actuated, gear 1.
void sp_rbd_link_init(sp_rbd_link* l, const char* name, int parent, sp_rbd_joint joint);
// Append a link (copied). On success *index (may be NULL) is its index, the link to use as parent.
// SP_EINVAL (message in msg, may be NULL) for a bad parent, empty or duplicate name, zero axis,
// negative mass, inertia not symmetric positive semi-definite, negative damping or armature,
// or a finalized tree.
int sp_rbd_add(sp_rbd* t, const sp_rbd_link* l, int* index, char* msg, size_t n);
// Lay out q, v and u and the parameter table. Call once after the last add. SP_EINVAL for an empty
// tree; SP_ENOMEM.
int sp_rbd_finalize(sp_rbd* t, char* msg, size_t n);
// Link index by name, or -1.
int sp_rbd_find(const sp_rbd* t, const char* name);
// The neutral configuration q0 (nq): joint refs and identity quaternions.
void sp_rbd_neutral(const sp_rbd* t, double* q);
// Renormalise quaternions in q (nq) in place.
void sp_rbd_normalize(const sp_rbd* t, double* q);
// q_out (nq) = q (+) dt v; q_out may alias q.
void sp_rbd_integrate(const sp_rbd* t, double* q_out, const double* q, const double* v, double dt);
// dv (nv) such that q0 (+) dv = q1 (quaternions: the shorter rotation)
void sp_rbd_difference(const sp_rbd* t, double* dv, const double* q0, const double* q1);

// named parameters, e.g. "shin.mass", "shin.com_x", "shin.ixy", "shin.pos_z", "shin.damping",
// "shin.armature". Values change the tree in place (the next evaluation uses them).
int sp_rbd_param_index(const sp_rbd* t, const char* name);               // -1 if unknown
int sp_rbd_param_get(const sp_rbd* t, const char* name, double* value);  // SP_ENOTFOUND
int sp_rbd_param_set(sp_rbd* t, const char* name, double value);         // SP_ENOTFOUND

// workspace --------------------------------------------------------------------------------------

// A workspace for a finalized tree (SP_EINVAL otherwise, SP_ENOMEM). The tree must outlive it.
int sp_rbd_data_new(sp_rbd_data** out, const sp_rbd* t);
void sp_rbd_data_free(sp_rbd_data* d);

// algorithms (none allocates; inputs are never written) ------------------------------------------

// fk.c: world placements d->R, d->p of every link and motion subspace d->S at q (nq).
void sp_rbd_fk(sp_rbd_data* d, const double* q);
// fk.c: after sp_rbd_fk, the Jacobian J (6 x nv, row-major) of a point fixed in link `link` at
// `point` (link frame; NULL for the origin): rows 0-2 the world angular velocity, rows 3-5 the
// world velocity of the point, J v = (w, pdot).
void sp_rbd_jacobian(double* J, const sp_rbd_data* d, int link, const double* point);
// rnea.c: tau (nv) = M(q) a + b(q, v) + damping .* v + stiffness .* (q - springref).
void sp_rbd_rnea(double* tau, sp_rbd_data* d, const double* q, const double* v, const double* a);
// rnea.c: b (nv) = Coriolis, centrifugal and gravity forces (MuJoCo's qfrc_bias), no damping.
void sp_rbd_bias(double* b, sp_rbd_data* d, const double* q, const double* v);
// crba.c: M (nv x nv, full symmetric) = the joint-space inertia at q, armature included.
void sp_rbd_crba(double* M, sp_rbd_data* d, const double* q);
// aba.c: qdd (nv) = M^-1 (tau - b - damping .* v - stiffness .* (q - springref)).
void sp_rbd_aba(double* qdd, sp_rbd_data* d, const double* q, const double* v, const double* tau);
// rnea_derivatives.c: dtau_dq, dtau_dv (nv x nv) of sp_rbd_rnea; dtau/da is M (sp_rbd_crba).
void sp_rbd_rnea_derivatives(double* dtau_dq, double* dtau_dv, sp_rbd_data* d, const double* q,
                             const double* v, const double* a);
// param_derivatives.c: dtau_dp (nv x np) of sp_rbd_rnea with respect to the named parameters.
void sp_rbd_rnea_dparams(double* dtau_dp, sp_rbd_data* d, const double* q, const double* v,
                         const double* a);
// aba_derivatives.c: qdd (nv, may be NULL) and dqdd_dq, dqdd_dv, dqdd_dtau (= M^-1) (nv x nv)
// and dqdd_dp (nv x np), each may be NULL, of sp_rbd_aba. SP_ESINGULAR when M is not positive
// definite.
int sp_rbd_aba_derivatives(double* qdd, double* dqdd_dq, double* dqdd_dv, double* dqdd_dtau,
                           double* dqdd_dp, sp_rbd_data* d, const double* q, const double* v,
                           const double* tau);

// generalised forces from actions: tau (nv) = B u, B (nv x nu) holding the gears
void sp_rbd_actuate(const sp_rbd* t, double* tau, const double* u);

// step.c: semi-implicit Euler on the manifold, v+ = v + dt qdd(q, v, B u), q+ = q (+) dt v+,
// and its exact Jacobians in the tangent space: A (2nv x 2nv) wrt (dq, v), Bu (2nv x nu) and
// P (2nv x np) wrt the named parameters; each of q_next, v_next, A, Bu, P may be NULL.
// SP_ESINGULAR as aba_derivatives.
int sp_rbd_step(double* q_next, double* v_next, double* A, double* Bu, double* P, sp_rbd_data* d,
                const double* q, const double* v, const double* u, double dt);
// step.c: the backward form: given g = dL/d(dq+, v+) (2nv, tangent), ACCUMULATE
// gx += A^T g (2nv: tangent of q, then v), gu += Bu^T g (nu), gp += P^T g (np); any of gx, gu,
// gp may be NULL. Same errors as sp_rbd_step; on error nothing is accumulated.
int sp_rbd_step_vjp(double* gx, double* gu, double* gp, sp_rbd_data* d, const double* q,
                    const double* v, const double* u, double dt, const double* g);

SP_API_END

#endif  // SP_RBD_RBD_H
