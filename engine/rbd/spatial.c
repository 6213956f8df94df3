// spatial.c: Featherstone's spatial algebra (Rigid Body Dynamics Algorithms, 2008, ch. 2): cross
// products of motion and force vectors, spatial inertia in world coordinates, rotations.
#include "engine/rbd/spatial.h"

#include <math.h>
#include <string.h>

void sp_m3_mul(double* out, const double* A, const double* B) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      out[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
}

void sp_m3_mulv(double* out, const double* A, const double* x) {
  for (int i = 0; i < 3; i++) out[i] = A[3 * i] * x[0] + A[3 * i + 1] * x[1] + A[3 * i + 2] * x[2];
}

void sp_m3_tmulv(double* out, const double* A, const double* x) {
  for (int i = 0; i < 3; i++) out[i] = A[i] * x[0] + A[3 + i] * x[1] + A[6 + i] * x[2];
}

void sp_m3_axis_angle(double* R, const double* a, double angle) {
  double c = cos(angle), s = sin(angle), t = 1.0 - c;
  R[0] = c + t * a[0] * a[0];
  R[1] = t * a[0] * a[1] - s * a[2];
  R[2] = t * a[0] * a[2] + s * a[1];
  R[3] = t * a[0] * a[1] + s * a[2];
  R[4] = c + t * a[1] * a[1];
  R[5] = t * a[1] * a[2] - s * a[0];
  R[6] = t * a[0] * a[2] - s * a[1];
  R[7] = t * a[1] * a[2] + s * a[0];
  R[8] = c + t * a[2] * a[2];
}

void sp_m3_from_quat(double* R, const double* q) {
  double n = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
  if (!(n > 0)) {
    static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(R, eye, sizeof eye);
    return;
  }
  double s = 2.0 / n, w = q[0], x = q[1], y = q[2], z = q[3];
  R[0] = 1 - s * (y * y + z * z);
  R[1] = s * (x * y - w * z);
  R[2] = s * (x * z + w * y);
  R[3] = s * (x * y + w * z);
  R[4] = 1 - s * (x * x + z * z);
  R[5] = s * (y * z - w * x);
  R[6] = s * (x * z - w * y);
  R[7] = s * (y * z + w * x);
  R[8] = 1 - s * (x * x + y * y);
}

void sp_si_build(double* I, double m, const double* c, const double* Ic) {
  // rotational block about the origin: Ic + m (|c|^2 1 - c c^T) (parallel axis)
  double cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
  double cx[9] = {0, -c[2], c[1], c[2], 0, -c[0], -c[1], c[0], 0};
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      I[6 * i + j] = Ic[3 * i + j] + m * ((i == j ? cc : 0.0) - c[i] * c[j]);
      I[6 * i + 3 + j] = m * cx[3 * i + j];
      I[6 * (3 + i) + j] = -m * cx[3 * i + j];
      I[6 * (3 + i) + 3 + j] = i == j ? m : 0.0;
    }
  }
}

// B += -[x] in the 3x3 block of B at (r0, c0)
static void add_neg_skew(double* B, int r0, int c0, const double* x) {
  B[6 * r0 + c0 + 1] += x[2];
  B[6 * r0 + c0 + 2] -= x[1];
  B[6 * (r0 + 1) + c0] -= x[2];
  B[6 * (r0 + 1) + c0 + 2] += x[0];
  B[6 * (r0 + 2) + c0] += x[1];
  B[6 * (r0 + 2) + c0 + 1] -= x[0];
}

void sp_si_bias_matrix_add(double* B, const double* I, const double* v, const double* h) {
  // v x* (I y) is C y with C = crf(v) I; -I (v x y) is C^T y since crm(v) = -crf(v)^T and I is
  // symmetric; y x* h is [[-[h_n], -[h_f]], [-[h_f], 0]] y
  double C[36];  // row k holds column k of crf(v) I, the cross product with row (= column) k of I
  for (int k = 0; k < 6; k++) sp_sv_cross_f(C + 6 * k, v, I + 6 * k);
  for (int r = 0; r < 6; r++)
    for (int k = 0; k < 6; k++) B[6 * r + k] += C[6 * k + r] + C[6 * r + k];
  add_neg_skew(B, 0, 0, h);
  add_neg_skew(B, 0, 3, h + 3);
  add_neg_skew(B, 3, 0, h + 3);
}

void sp_si_bias_matrix(double* B, const double* I, const double* v) {
  double h[6];
  sp_si_mulv(h, I, v);
  memset(B, 0, 36 * sizeof *B);
  sp_si_bias_matrix_add(B, I, v, h);
}
