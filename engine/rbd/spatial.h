// spatial.h: Featherstone's 6D spatial algebra (Rigid Body Dynamics Algorithms, 2008, ch. 2).
//
// Motion vectors m = (w, v): angular part first, then the linear velocity of the point at the
// origin of the coordinate frame. Force vectors f = (n, f): moment about the origin, then force.
// Spatial inertias are dense symmetric 6x6 matrices (row-major) acting motion -> momentum.
// Rotations are 3x3 row-major; a placement (R, p) maps child coordinates to parent ones:
// x_parent = R x_child + p. Every spinal rbd algorithm works in world coordinates (the choice
// of Carpentier & Mansard, RSS 2018), so only world placements and these products are needed.
#ifndef SP_RBD_SPATIAL_H
#define SP_RBD_SPATIAL_H

#include "engine/core/export.h"

SP_API_BEGIN

// 3-vectors and 3x3 matrices (row-major)
// out may not alias a or b
static inline void sp_v3_cross(double* out, const double* a, const double* b) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}
void sp_m3_mul(double* out, const double* A, const double* B);    // out = A B (9), no aliasing
void sp_m3_mulv(double* out, const double* A, const double* x);   // out = A x (3)
void sp_m3_tmulv(double* out, const double* A, const double* x);  // out = A^T x (3)
// rotation by angle about a unit axis (Rodrigues)
void sp_m3_axis_angle(double* R, const double* axis, double angle);
// rotation of a quaternion (w, x, y, z), normalised first; a zero quaternion gives identity
void sp_m3_from_quat(double* R, const double* quat);

// motion cross product out = a x b (Featherstone's crm(a) b); out may not alias a or b
static inline void sp_sv_cross_m(double* out, const double* a, const double* b) {
  // (wa, va) x (wb, vb) = (wa x wb, wa x vb + va x wb)
  double t[3];
  sp_v3_cross(out, a, b);
  sp_v3_cross(out + 3, a, b + 3);
  sp_v3_cross(t, a + 3, b);
  for (int i = 0; i < 3; i++) out[3 + i] += t[i];
}
// force cross product out = a x* f (crf(a) f); out may not alias a or f
static inline void sp_sv_cross_f(double* out, const double* a, const double* f) {
  // (w, v) x* (n, f) = (w x n + v x f, w x f)
  double t[3];
  sp_v3_cross(out, a, f);
  sp_v3_cross(t, a + 3, f + 3);
  for (int i = 0; i < 3; i++) out[i] += t[i];
  sp_v3_cross(out + 3, a, f + 3);
}
// dot product of a motion and a force (power)
static inline double sp_sv_dot(const double* m, const double* f) {
  double s = 0;
  for (int i = 0; i < 6; i++) s += m[i] * f[i];
  return s;
}

// world spatial inertia (6x6) of a body of mass m, centre of mass c (world) and rotational
// inertia Ic (3x3, about c, world axes): [[Ic - m cx cx, m cx], [-m cx, m 1]] with cx = skew(c)
void sp_si_build(double* I, double m, const double* c, const double* Ic);
// out = I x (6)
static inline void sp_si_mulv(double* out, const double* I, const double* x) {
  for (int i = 0; i < 6; i++) {
    const double* r = I + 6 * i;
    out[i] = r[0] * x[0] + r[1] * x[1] + r[2] * x[2] + r[3] * x[3] + r[4] * x[4] + r[5] * x[5];
  }
}
// out += I x (6)
static inline void sp_si_mulv_add(double* out, const double* I, const double* x) {
  for (int i = 0; i < 6; i++) {
    const double* r = I + 6 * i;
    out[i] += r[0] * x[0] + r[1] * x[1] + r[2] * x[2] + r[3] * x[3] + r[4] * x[4] + r[5] * x[5];
  }
}
// B (6x6) such that for every motion y: B y = v x* (I y) - I (v x y) + y x* h, with h = I v:
// the derivative of the force v x* I v + I a along velocity changes (RSS 2018 eq. for dF/dv)
void sp_si_bias_matrix(double* B, const double* I, const double* v);

SP_API_END

#endif  // SP_RBD_SPATIAL_H
