// quat.c: quaternion products, rotations, exponential map and their Jacobians (see quat.h).
#include "quat.h"

#include <math.h>
#include <string.h>

void sp_quat_mul(double* out, const double* a, const double* b) {
  double w = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
  double x = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
  double y = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
  double z = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
  out[0] = w;
  out[1] = x;
  out[2] = y;
  out[3] = z;
}

void sp_quat_mul_jac(double* Da, double* Db, const double* a, const double* b) {
  // a (x) b = R_b a = L_a b (the right and left multiplication matrices)
  if (Da) {
    const double R[16] = {b[0], -b[1], -b[2], -b[3], b[1], b[0], b[3],  -b[2],
                          b[2], -b[3], b[0],  b[1],  b[3], b[2], -b[1], b[0]};
    memcpy(Da, R, sizeof R);
  }
  if (Db) {
    const double Lm[16] = {a[0], -a[1], -a[2], -a[3], a[1], a[0],  -a[3], a[2],
                           a[2], a[3],  a[0],  -a[1], a[3], -a[2], a[1],  a[0]};
    memcpy(Db, Lm, sizeof Lm);
  }
}

void sp_quat_conj(double* out, const double* q) {
  out[0] = q[0];
  out[1] = -q[1];
  out[2] = -q[2];
  out[3] = -q[3];
}

double sp_quat_normalize(double* q) {
  double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  if (n > 0 && isfinite(n))
    for (int i = 0; i < 4; i++) q[i] /= n;
  return n;
}

// R(q) v with s = +1, R(q)^T v with s = -1 (u -> -u)
static void rotate(double* out, const double* q, const double* v, double s) {
  double w = q[0], u[3] = {s * q[1], s * q[2], s * q[3]};
  double uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  double uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2];
  double c[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
  double r[3];
  for (int i = 0; i < 3; i++) r[i] = (w * w - uu) * v[i] + 2 * uv * u[i] + 2 * w * c[i];
  memcpy(out, r, sizeof r);
}

static void rotate_jac(double* D, const double* q, const double* v, double s) {
  double w = q[0], u[3] = {s * q[1], s * q[2], s * q[3]};
  double uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  double c[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
  // d/dw = 2 w v + 2 (u x v)
  for (int i = 0; i < 3; i++) D[i * 4] = 2 * w * v[i] + 2 * c[i];
  // d/du = -2 v u^T + 2 (u.v) I + 2 u v^T + 2 w d(u x v)/du, d(u x v)/du = -[v]x; then times s
  const double vx[9] = {0, -v[2], v[1], v[2], 0, -v[0], -v[1], v[0], 0};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      D[i * 4 + 1 + j] =
          s * (-2 * v[i] * u[j] + 2 * (i == j ? uv : 0) + 2 * u[i] * v[j] - 2 * w * vx[i * 3 + j]);
}

void sp_quat_rotate(double* out, const double* q, const double* v) {
  rotate(out, q, v, 1);
}
void sp_quat_rotate_inv(double* out, const double* q, const double* v) {
  rotate(out, q, v, -1);
}
void sp_quat_rotate_jac(double* Dq, const double* q, const double* v) {
  rotate_jac(Dq, q, v, 1);
}
void sp_quat_rotate_inv_jac(double* Dq, const double* q, const double* v) {
  rotate_jac(Dq, q, v, -1);
}

void sp_quat_to_mat(double* R, const double* q) {
  for (int j = 0; j < 3; j++) {
    double e[3] = {0, 0, 0}, c[3];
    e[j] = 1;
    rotate(c, q, e, 1);
    for (int i = 0; i < 3; i++) R[i * 3 + j] = c[i];
  }
}

// s(t) = sin(t/2)/t and s'(t)/t, by series below 1e-4 where they cancel
static void exp_coeffs(double t, double* s, double* ds_t) {
  if (t < 1e-4) {
    *s = 0.5 - t * t / 48;
    *ds_t = -1.0 / 24 + t * t / 960;
  } else {
    *s = sin(t / 2) / t;
    *ds_t = (0.5 * cos(t / 2) * t - sin(t / 2)) / (t * t * t);
  }
}

void sp_quat_exp(double* q, const double* r) {
  double t = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]), s, ds;
  exp_coeffs(t, &s, &ds);
  q[0] = cos(t / 2);
  for (int i = 0; i < 3; i++) q[i + 1] = s * r[i];
}

void sp_quat_exp_jac(double* D, const double* r) {
  double t = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]), s, ds;
  exp_coeffs(t, &s, &ds);
  // dw/dr = -sin(t/2)/2 r/t = -s r / 2; d(s r)/dr = s I + (s'(t)/t) r r^T
  for (int j = 0; j < 3; j++) D[j] = -0.5 * s * r[j];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) D[(i + 1) * 3 + j] = (i == j ? s : 0) + ds * r[i] * r[j];
}

// f(n, w) = 2 atan2(n, w) / n for w >= 0, with df/dn / n and df/dw; series where n << w
static void log_coeffs(double n, double w, double* f, double* fn_n, double* fw) {
  double d = n * n + w * w;
  if (n < 1e-6 * w) {
    *f = 2 / w - 2 * n * n / (3 * w * w * w);
    *fn_n = -4 / (3 * w * w * w);
  } else {
    double a = atan2(n, w);
    *f = 2 * a / n;
    *fn_n = (2 * w / d / n - 2 * a / (n * n)) / n;
  }
  *fw = -2 / d;
}

void sp_quat_log(double* r, const double* q) {
  double sg = q[0] < 0 ? -1 : 1;  // Log(q) = Log(-q): work with w >= 0
  double w = sg * q[0], u[3] = {sg * q[1], sg * q[2], sg * q[3]};
  double n = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), f, fn, fw;
  log_coeffs(n, w, &f, &fn, &fw);
  for (int i = 0; i < 3; i++) r[i] = f * u[i];
}

void sp_quat_log_jac(double* D, const double* q) {
  double sg = q[0] < 0 ? -1 : 1;
  double w = sg * q[0], u[3] = {sg * q[1], sg * q[2], sg * q[3]};
  double n = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), f, fn, fw;
  log_coeffs(n, w, &f, &fn, &fw);
  // r = f u: dr/dw = u fw, dr/du = f I + (fn/n) u u^T; the sign flip multiplies by sg
  for (int i = 0; i < 3; i++) {
    D[i * 4] = sg * u[i] * fw;
    for (int j = 0; j < 3; j++) D[i * 4 + 1 + j] = sg * ((i == j ? f : 0) + fn * u[i] * u[j]);
  }
}

void sp_quat_slerp(double* out, const double* a, const double* b, double t) {
  double ac[4], d[4], r[3], e[4];
  sp_quat_conj(ac, a);
  sp_quat_mul(d, ac, b);
  sp_quat_log(r, d);
  for (int i = 0; i < 3; i++) r[i] *= t;
  sp_quat_exp(e, r);
  sp_quat_mul(out, a, e);
}

double sp_quat_yaw(const double* q) {
  const double ex[3] = {1, 0, 0};
  double h[3];
  sp_quat_rotate(h, q, ex);
  return atan2(h[1], h[0]);
}
