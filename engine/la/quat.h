// quat.h: unit quaternions for orientations, their exponential map and exact derivatives.
//
// A quaternion is q = (w, x, y, z) (scalar first, as MuJoCo); q rotates body-frame vectors into the
// world frame, v_world = R(q) v_body. Products are Hamilton's, so a body-frame angular velocity w_b
// integrates as q(t + h) = q(t) (x) Exp(h w_b) (Sola, "Quaternion kinematics for the error-state
// Kalman filter", 2017, eqs. 101 and 214). Exp maps a rotation vector r (axis times angle) to
// (cos(|r|/2), sin(|r|/2) r/|r|); Log is its inverse onto angles in [0, pi] (the shortest rotation,
// so Log(q) = Log(-q)).
//
// Functions of q are the formulas below for ANY 4-vector (R(q) is the quadratic form
// (w^2 - |u|^2) v + 2 (u.v) u + 2 w (u x v), u = (x, y, z); Log depends on q's direction only), and
// the Jacobians differentiate exactly those formulas, so they match finite differences taken off
// the unit sphere too. Jacobians are row-major. Nothing allocates; outputs may not alias inputs
// unless stated.
#ifndef SP_LA_QUAT_H
#define SP_LA_QUAT_H

#include "engine/core/export.h"

SP_API_BEGIN

// out = a (x) b. out may alias a or b.
void sp_quat_mul(double* out, const double* a, const double* b);
// Da (4 x 4) = d(a (x) b)/da, Db (4 x 4) = d(a (x) b)/db; either may be NULL.
void sp_quat_mul_jac(double* Da, double* Db, const double* a, const double* b);

// out = conjugate of q (w, -x, -y, -z). out may alias q.
void sp_quat_conj(double* out, const double* q);
// q / |q| in place; returns |q| (q is left alone when it is 0 or not finite).
double sp_quat_normalize(double* q);

// out (3) = R(q) v and out = R(q)^T v. out may alias v.
void sp_quat_rotate(double* out, const double* q, const double* v);
void sp_quat_rotate_inv(double* out, const double* q, const double* v);
// Dq (3 x 4) = d(R(q) v)/dq and d(R(q)^T v)/dq (the v Jacobians are R and R^T).
void sp_quat_rotate_jac(double* Dq, const double* q, const double* v);
void sp_quat_rotate_inv_jac(double* Dq, const double* q, const double* v);
// R (3 x 3) of q.
void sp_quat_to_mat(double* R, const double* q);

// q (4) = Exp(r (3)); Dr (4 x 3) = dExp/dr (may be NULL).
void sp_quat_exp(double* q, const double* r);
void sp_quat_exp_jac(double* Dr, const double* r);
// r (3) = Log(q), the rotation vector of the shortest rotation; Dq (3 x 4) = dLog/dq (may be
// NULL). q must not be 0.
void sp_quat_log(double* r, const double* q);
void sp_quat_log_jac(double* Dq, const double* q);

// out = a (x) Exp(t Log(a* (x) b)), the constant-rate rotation from a (t = 0) to b (t = 1) along
// the shorter way (Shoemake 1985). a and b unit.
void sp_quat_slerp(double* out, const double* a, const double* b, double t);

// The yaw (rotation about world z, radians in (-pi, pi]) of q's heading: atan2 of R(q) e_x.
double sp_quat_yaw(const double* q);

SP_API_END

#endif  // SP_LA_QUAT_H
