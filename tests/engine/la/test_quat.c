// test_quat.c: engine/la/quat.c: every Jacobian against central finite differences (on and off
// the unit sphere), Exp and Log inverse to each other, rotations against the matrix, slerp ends.
#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "test.h"

typedef void (*qfun)(double* out, const double* x, const void* ctx);

// central differences of f (m outputs) at x (n inputs) into J (m x n)
static void fd(double* J, qfun f, const double* x, int n, int m, const void* ctx) {
  double xp[8], yp[8], ym[8];
  const double h = 1e-6;
  for (int j = 0; j < n; j++) {
    for (int k = 0; k < n; k++) xp[k] = x[k];
    xp[j] = x[j] + h;
    f(yp, xp, ctx);
    xp[j] = x[j] - h;
    f(ym, xp, ctx);
    for (int i = 0; i < m; i++) J[i * n + j] = (yp[i] - ym[i]) / (2 * h);
  }
}

static void f_rot(double* o, const double* q, const void* v) {
  sp_quat_rotate(o, q, v);
}
static void f_rotinv(double* o, const double* q, const void* v) {
  sp_quat_rotate_inv(o, q, v);
}
static void f_exp(double* o, const double* r, const void* c) {
  (void)c;
  sp_quat_exp(o, r);
}
static void f_log(double* o, const double* q, const void* c) {
  (void)c;
  sp_quat_log(o, q);
}
static void f_mul_a(double* o, const double* a, const void* b) {
  sp_quat_mul(o, a, b);
}
static void f_mul_b(double* o, const double* b, const void* a) {
  sp_quat_mul(o, a, b);
}

static void random_quat(sp_rng* r, double* q, double scale) {
  sp_rng_fill_normal(r, q, 4, 0, 1);
  sp_quat_normalize(q);
  for (int i = 0; i < 4; i++) q[i] *= scale;
}

TEST(jacobians_match_central_finite_differences) {
  sp_rng r;
  sp_rng_seed(&r, 7, 0);
  for (int trial = 0; trial < 40; trial++) {
    double q[4], b[4], v[3], J[16], F[16];
    random_quat(&r, q, trial % 2 ? 1.0 : 1.3);  // off the sphere too
    random_quat(&r, b, 1.0);
    sp_rng_fill_normal(&r, v, 3, 0, 1);
    sp_quat_rotate_jac(J, q, v);
    fd(F, f_rot, q, 4, 3, v);
    for (int i = 0; i < 12; i++) CHECK_CLOSE(J[i], F[i], 1e-6, 1e-7);
    sp_quat_rotate_inv_jac(J, q, v);
    fd(F, f_rotinv, q, 4, 3, v);
    for (int i = 0; i < 12; i++) CHECK_CLOSE(J[i], F[i], 1e-6, 1e-7);
    sp_quat_mul_jac(J, NULL, q, b);
    fd(F, f_mul_a, q, 4, 4, b);
    for (int i = 0; i < 16; i++) CHECK_CLOSE(J[i], F[i], 1e-6, 1e-7);
    sp_quat_mul_jac(NULL, J, q, b);
    fd(F, f_mul_b, b, 4, 4, q);
    for (int i = 0; i < 16; i++) CHECK_CLOSE(J[i], F[i], 1e-6, 1e-7);
    sp_quat_log_jac(J, q);  // q and -q (the w < 0 branch) both appear over the trials
    fd(F, f_log, q, 4, 3, NULL);
    for (int i = 0; i < 12; i++) CHECK_CLOSE(J[i], F[i], 1e-5, 1e-6);
    // rotation vectors of every size, tiny ones through the series
    double rv[3];
    sp_rng_fill_normal(&r, rv, 3, 0, trial < 10 ? 1e-5 : 1.0);
    sp_quat_exp_jac(J, rv);
    fd(F, f_exp, rv, 3, 4, NULL);
    for (int i = 0; i < 12; i++) CHECK_CLOSE(J[i], F[i], 1e-6, 1e-7);
  }
}

TEST(log_inverts_exp_and_picks_the_shorter_rotation) {
  sp_rng r;
  sp_rng_seed(&r, 3, 0);
  for (int trial = 0; trial < 50; trial++) {
    double rv[3], q[4], back[3];
    sp_rng_fill_normal(&r, rv, 3, 0, 0.9);  // |r| < pi almost surely
    sp_quat_exp(q, rv);
    sp_quat_log(back, q);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(back[i], rv[i], 1e-12, 1e-14);
    for (int i = 0; i < 4; i++) q[i] = -q[i];
    sp_quat_log(back, q);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(back[i], rv[i], 1e-12, 1e-14);
  }
}

TEST(rotation_matches_the_matrix_and_a_quarter_turn) {
  // 90 degrees about z takes x to y
  const double rv[3] = {0, 0, M_PI / 2}, ex[3] = {1, 0, 0};
  double q[4], y[3], R[9], back[3];
  sp_quat_exp(q, rv);
  sp_quat_rotate(y, q, ex);
  CHECK_CLOSE(y[0], 0, 0, 1e-15);
  CHECK_CLOSE(y[1], 1, 1e-15, 0);
  CHECK_CLOSE(sp_quat_yaw(q), M_PI / 2, 1e-15, 0);
  sp_quat_rotate_inv(back, q, y);
  CHECK_CLOSE(back[0], 1, 1e-15, 0);
  sp_quat_to_mat(R, q);
  CHECK_CLOSE(R[3], 1, 1e-15, 0);  // R e_x = e_y: column 0 is (0, 1, 0)
}

TEST(slerp_runs_from_a_to_b_at_constant_rate) {
  double a[4], b[4], m[4], out[4], d[4], ac[4], rv[3];
  const double r1[3] = {0.3, -0.2, 0.5}, r2[3] = {-0.4, 0.9, 0.1};
  sp_quat_exp(a, r1);
  sp_quat_exp(b, r2);
  sp_quat_slerp(out, a, b, 0);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(out[i], a[i], 1e-14, 1e-15);
  sp_quat_slerp(out, a, b, 1);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(out[i], b[i], 1e-14, 1e-15);
  // halfway: equal angles to both ends
  sp_quat_slerp(m, a, b, 0.5);
  sp_quat_conj(ac, a);
  sp_quat_mul(d, ac, m);
  sp_quat_log(rv, d);
  double t1 = sqrt(rv[0] * rv[0] + rv[1] * rv[1] + rv[2] * rv[2]);
  sp_quat_conj(ac, m);
  sp_quat_mul(d, ac, b);
  sp_quat_log(rv, d);
  double t2 = sqrt(rv[0] * rv[0] + rv[1] * rv[1] + rv[2] * rv[2]);
  CHECK_CLOSE(t1, t2, 1e-12, 0);
}

TEST_MAIN()
