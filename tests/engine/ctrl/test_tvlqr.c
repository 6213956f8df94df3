// test_tvlqr.c: finite-horizon TV-LQR (engine/ctrl/tvlqr.c): convergence to the DARE gain on a
// time-invariant system, optimality of the cost-to-go, tracking along a model's reference, and the
// argument checks.
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/ctrl/ctrl.h"
#include "engine/ctrl/lqr.h"
#include "engine/ctrl/tvlqr.h"
#include "engine/model/model.h"
#include "test.h"
#include "workspace.h"

TEST(gains_converge_to_the_dare_gain_far_from_the_horizon_end) {
  for (uint64_t seed = 1; seed <= 5; seed++) {
    sp_rng g;
    sp_rng_seed(&g, seed, 0);
    int nx = 3, nu = 2, T = 400;
    double A1[9], B1[6], Q[9] = {2, 0, 0, 0, 1, 0, 0, 0, 1}, R[4] = {1, 0, 0, 0.5}, Qf[9] = {0};
    sp_rng_fill_normal(&g, A1, 9, 0, 0.8);
    sp_rng_fill_normal(&g, B1, 6, 0, 1);
    double* A = sp_malloc(sizeof(double) * 9 * T);
    double* B = sp_malloc(sizeof(double) * 6 * T);
    double* K = sp_malloc(sizeof(double) * 6 * T);
    for (int k = 0; k < T; k++) {
      memcpy(A + 9 * k, A1, sizeof A1);
      memcpy(B + 6 * k, B1, sizeof B1);
    }
    double Kinf[6];
    CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Q, R, Qf, T, nx, nu), 0);
    CHECK_INT(sp_lqr_gain_discrete(Kinf, A1, B1, Q, R, nx, nu), 0);
    for (int i = 0; i < 6; i++) CHECK_CLOSE(K[i], Kinf[i], 1e-8, 1e-10);
    // with Qf = 0 the last gain is zero: nothing is gained by acting at the final step
    for (int i = 0; i < 6; i++) CHECK(K[6 * (T - 1) + i] == 0);
    sp_free(A);
    sp_free(B);
    sp_free(K);
  }
}

TEST(cost_to_go_matches_a_rollout_of_the_gains) {
  // x0' P0 x0 equals the cost of the closed-loop rollout under the TV-LQR gains
  sp_rng g;
  sp_rng_seed(&g, 9, 0);
  enum { NX = 2, NU = 1, T = 30 };
  double A[T * 4], B[T * 2], K[T * 2], P0[4];
  sp_rng_fill_normal(&g, A, T * 4, 0, 0.9);
  sp_rng_fill_normal(&g, B, T * 2, 0, 1);
  double Q[4] = {1, 0.2, 0.2, 2}, R[1] = {0.3}, Qf[4] = {5, 0, 0, 5};
  CHECK_INT(sp_tvlqr_solve(K, P0, A, B, Q, R, Qf, T, NX, NU), 0);
  double x[2] = {0.7, -0.4}, J = 0;
  double want = x[0] * (P0[0] * x[0] + P0[1] * x[1]) + x[1] * (P0[2] * x[0] + P0[3] * x[1]);
  for (int k = 0; k < T; k++) {
    double u = -(K[2 * k] * x[0] + K[2 * k + 1] * x[1]);
    J += x[0] * (Q[0] * x[0] + Q[1] * x[1]) + x[1] * (Q[2] * x[0] + Q[3] * x[1]) + R[0] * u * u;
    const double* a = A + 4 * k;
    const double* b = B + 2 * k;
    double xn[2] = {a[0] * x[0] + a[1] * x[1] + b[0] * u, a[2] * x[0] + a[3] * x[1] + b[1] * u};
    memcpy(x, xn, sizeof x);
  }
  J += Qf[0] * x[0] * x[0] + Qf[3] * x[1] * x[1];
  CHECK_CLOSE(J, want, 1e-10, 1e-12);
}

TEST(tvlqr_tracks_a_curved_reference_of_the_car_model) {
  // reference: the unicycle_accel model driven open loop along a turn; start 0.2 m off and track
  // with u = u_ref - K_k (x - x_ref)
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "unicycle_accel", NULL, 0.05), 0);
  enum { T = 120 };
  double xs[(T + 1) * 4], us[T * 2], K[T * 8];
  double x0[4] = {0, 0, 1.0, 0};
  memcpy(xs, x0, sizeof x0);
  for (int k = 0; k < T; k++) {
    us[2 * k] = 0.2 * sin(0.05 * k);
    us[2 * k + 1] = 0.5;
    sp_model_step(m, model_ws(m), xs + 4 * (k + 1), xs + 4 * k, us + 2 * k);
  }
  double Q[16] = {10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, R[4] = {1, 0, 0, 1};
  CHECK_INT(sp_tvlqr_design(K, NULL, m, xs, us, Q, R, Q, T), 0);
  sp_ctrl* c;
  CHECK_INT(sp_lqr_new(&c, NULL, 4, 2), 0);
  double err[2], K0[8] = {0};
  sp_ctrl_data* cd;
  sp_model_data* md;
  CHECK_INT(sp_ctrl_data_new(&cd, c), 0);
  CHECK_INT(sp_model_data_new(&md, m), 0);
  uint64_t before = sp_alloc_count();
  for (int fb = 0; fb < 2; fb++) {
    double x[4] = {0.0, 0.2, 1.0, 0.1}, xn[4], u[2], r[6];
    for (int k = 0; k < T; k++) {
      memcpy(r, xs + 4 * k, sizeof(double) * 4);
      memcpy(r + 4, us + 2 * k, sizeof(double) * 2);
      CHECK_INT(sp_ctrl_act(c, cd, u, x, r, fb ? K + 8 * k : K0), 0);
      sp_model_step(m, md, xn, x, u);
      memcpy(x, xn, sizeof x);
    }
    err[fb] = hypot(x[0] - xs[4 * T], x[1] - xs[4 * T + 1]);
  }
  CHECK(sp_alloc_count() == before);
  sp_model_data_free(md);
  sp_ctrl_data_free(cd);
  CHECK(err[1] < 0.02);  // with the gains: on the reference
  CHECK(err[0] > 0.2);   // open loop: the initial offset and heading error persist
  sp_ctrl_free(c);
  sp_model_free(m);
}

TEST(bad_arguments_return_the_right_codes) {
  double A[4] = {1, 0.1, 0, 1}, B[2] = {0, 0.1}, Q[4] = {1, 0, 0, 1}, R[1] = {1}, K[2];
  CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Q, R, Q, 0, 2, 1), SP_EINVAL);
  CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Q, R, Q, 1, -2, 1), SP_EINVAL);
  double Qn[4] = {1, 3, 0, 1}, Rn[1] = {0};
  CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Qn, R, Q, 1, 2, 1), SP_EINVAL);
  CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Q, R, Qn, 1, 2, 1), SP_EINVAL);
  CHECK_INT(sp_tvlqr_solve(K, NULL, A, B, Q, Rn, Q, 1, 2, 1), SP_ESINGULAR);
  CHECK_INT(sp_tvlqr_design(K, NULL, NULL, A, B, Q, R, Q, 1), SP_EINVAL);
}

TEST_MAIN()
