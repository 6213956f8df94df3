// test_gait_parts.c: the walking controller's building blocks (engine/ctrl/gait_parts.h): the
// gait schedule, the swing trajectory (its velocity against central differences of its
// position), the Raibert foot placement and the stance force distribution with friction cones.
#include "engine/core/error.h"
#include "engine/ctrl/gait.h"
#include "engine/ctrl/gait_parts.h"
#include "test.h"

TEST(trot_moves_diagonal_legs_together_and_the_pairs_in_antiphase) {
  int both_stance = 0, n = 1000;
  for (int i = 0; i < n; i++) {
    double t = 0.9 * i / n, s0, s3;  // three periods
    int fr = sp_gait_phase(SP_GAIT_TROT, 0, 0.3, 0.6, t, &s0);
    int rl = sp_gait_phase(SP_GAIT_TROT, 3, 0.3, 0.6, t, &s3);
    int fl = sp_gait_phase(SP_GAIT_TROT, 1, 0.3, 0.6, t, NULL);
    CHECK_INT(fr, rl);  // diagonals
    CHECK_INT(fl, sp_gait_phase(SP_GAIT_TROT, 2, 0.3, 0.6, t, NULL));
    CHECK(s0 == s3 && s0 >= 0 && s0 < 1);
    if (!fr) CHECK(fl);  // a duty above 1/2: one pair always on the ground
    both_stance += fr && fl;
  }
  // four feet down for 2 (duty - 1/2) of the time
  CHECK(fabs(both_stance / (double)n - 0.2) < 0.01);
}

TEST(each_foot_is_down_for_the_duty_fraction_and_starts_in_stance) {
  for (int gait = 0; gait < 3; gait++)
    for (int leg = 0; leg < 4; leg++) {
      int down = 0, n = 4000;
      for (int i = 0; i < n; i++) down += sp_gait_phase(gait, leg, 0.4, 0.65, 0.4 * i / n, NULL);
      CHECK(fabs(down / (double)n - 0.65) < 1e-3);
      double s;
      if (sp_gait_offset(gait, leg) == 0) {
        CHECK(sp_gait_phase(gait, leg, 0.4, 0.65, 0, &s) && s == 0);
      }
    }
}

TEST(pace_pairs_the_sides_and_bound_the_front_and_rear) {
  CHECK(sp_gait_offset(SP_GAIT_PACE, 0) == sp_gait_offset(SP_GAIT_PACE, 2));  // FR, RR
  CHECK(sp_gait_offset(SP_GAIT_PACE, 1) == sp_gait_offset(SP_GAIT_PACE, 3));  // FL, RL
  CHECK(sp_gait_offset(SP_GAIT_PACE, 0) != sp_gait_offset(SP_GAIT_PACE, 1));
  CHECK(sp_gait_offset(SP_GAIT_BOUND, 0) == sp_gait_offset(SP_GAIT_BOUND, 1));  // FR, FL
  CHECK(sp_gait_offset(SP_GAIT_BOUND, 2) == sp_gait_offset(SP_GAIT_BOUND, 3));  // RR, RL
  CHECK(sp_gait_offset(SP_GAIT_BOUND, 0) != sp_gait_offset(SP_GAIT_BOUND, 2));
}

TEST(swing_starts_and_lands_at_rest_and_peaks_at_its_apex) {
  double p0[3] = {0.1, -0.2, 0.02}, p1[3] = {0.25, -0.1, 0.03}, p[3], v[3];
  sp_gait_swing(p, v, p0, p1, 0.08, 0, 0.12);
  for (int k = 0; k < 3; k++) CHECK(p[k] == p0[k] && v[k] == 0);
  sp_gait_swing(p, v, p0, p1, 0.08, 1, 0.12);
  for (int k = 0; k < 3; k++) CHECK(fabs(p[k] - p1[k]) < 1e-15 && v[k] == 0);
  sp_gait_swing(p, v, p0, p1, 0.08, 0.5, 0.12);
  CHECK_CLOSE(p[2], 0.025 + 0.08, 1e-12, 1e-15);       // halfway up the slope plus the apex
  CHECK_CLOSE(v[2], 0.01 * 1.5 / 0.12, 1e-12, 1e-15);  // the lift's rate is zero at its apex
  CHECK_CLOSE(p[0], 0.175, 1e-12, 1e-15);
  // beyond the ends it holds the end points
  sp_gait_swing(p, v, p0, p1, 0.08, 1.3, 0.12);
  CHECK(fabs(p[0] - p1[0]) < 1e-15 && v[0] == 0);
}

TEST(swing_velocity_matches_central_differences_of_its_position) {
  double p0[3] = {-0.05, 0.1, 0.0}, p1[3] = {0.2, 0.15, -0.01}, ts = 0.12, worst = 0;
  for (int i = 1; i < 50; i++) {
    double s = i / 50.0, h = 1e-6, v[3], pa[3], pb[3];
    sp_gait_swing(NULL, v, p0, p1, 0.09, s, ts);
    sp_gait_swing(pa, NULL, p0, p1, 0.09, s + h, ts);
    sp_gait_swing(pb, NULL, p0, p1, 0.09, s - h, ts);
    for (int k = 0; k < 3; k++) {
      double fd = (pa[k] - pb[k]) / (2 * h) / ts;
      worst = fmax(worst, fabs(fd - v[k]) / (1 + fabs(v[k])));
    }
  }
  printf("  swing velocity vs central differences: %.1e\n", worst);
  CHECK(worst < 1e-7);
}

TEST(raibert_places_the_foot_at_the_neutral_point_plus_velocity_feedback) {
  double hip[3] = {1, 2, 0.3}, v[3] = {0.5, -0.1, 0}, p[3];
  sp_gait_raibert(p, hip, v, v, 0.1, 0.2, 0.05);
  CHECK_CLOSE(p[0], 1 + 0.5 * (0.1 + 0.1), 1e-14, 0);
  CHECK_CLOSE(p[1], 2 - 0.1 * (0.1 + 0.1), 1e-14, 0);
  CHECK(p[2] == 0);
  // moving faster than commanded: the foot lands further ahead (to slow down)
  double slow[3] = {0.3, -0.1, 0}, q[3];
  sp_gait_raibert(q, hip, v, slow, 0.1, 0.2, 0.05);
  CHECK_CLOSE(q[0] - p[0], 0.05 * 0.2, 1e-12, 0);
  CHECK(q[1] == p[1]);
}

// resultant force and torque about the origin of forces f at r
static void wrench(double* w, const double* f, const double* r, int n) {
  for (int k = 0; k < 6; k++) w[k] = 0;
  for (int i = 0; i < n; i++) {
    const double *fi = f + 3 * i, *ri = r + 3 * i;
    for (int k = 0; k < 3; k++) w[k] += fi[k];
    w[3] += ri[1] * fi[2] - ri[2] * fi[1];
    w[4] += ri[2] * fi[0] - ri[0] * fi[2];
    w[5] += ri[0] * fi[1] - ri[1] * fi[0];
  }
}

static const double feet4[12] = {0.19,  -0.13, -0.29, 0.19,  0.13, -0.29,
                                 -0.19, -0.13, -0.29, -0.19, 0.13, -0.29};

TEST(four_feet_share_the_weight_equally_and_realise_a_feasible_wrench) {
  double w[6] = {0, 0, 125, 0, 0, 0}, f[12], got[6];
  CHECK_INT(sp_gait_distribute(f, feet4, 4, w, 1, 1e-6, 0.6, 200), SP_OK);
  for (int i = 0; i < 4; i++) {
    CHECK_CLOSE(f[3 * i + 2], 125 / 4.0, 1e-5, 0);
    CHECK(fabs(f[3 * i]) < 1e-9 && fabs(f[3 * i + 1]) < 1e-9);
  }
  // a wrench inside the cones is realised (up to the regularisation)
  double w2[6] = {10, -5, 130, 3, -4, 2};
  CHECK_INT(sp_gait_distribute(f, feet4, 4, w2, 1, 1e-6, 0.6, 200), SP_OK);
  wrench(got, f, feet4, 4);
  for (int k = 0; k < 6; k++) CHECK_CLOSE(got[k], w2[k], 1e-4, 1e-4);
  // two diagonal feet realise force and pitch torque; the weight moves the balance
  double diag[6] = {0.19, -0.13, -0.29, -0.19, 0.13, -0.29};
  double w3[6] = {0, 0, 125, 0, 2, 0};
  CHECK_INT(sp_gait_distribute(f, diag, 2, w3, 1, 1e-6, 0.6, 200), SP_OK);
  wrench(got, f, diag, 2);
  CHECK_CLOSE(got[2], 125, 1e-3, 0);
  CHECK(f[2] < f[5]);  // a nose-up torque loads the rear foot more
}

TEST(forces_stay_inside_the_friction_cones_and_the_normal_force_limits) {
  double w[6] = {200, 0, 100, 0, 0, 0}, f[12];  // more push than friction allows
  CHECK_INT(sp_gait_distribute(f, feet4, 4, w, 1, 1e-6, 0.5, 200), SP_OK);
  double pull[6] = {0, 0, -50, 0, 0, 0};  // the ground cannot pull
  for (int i = 0; i < 4; i++) {
    double ft = hypot(f[3 * i], f[3 * i + 1]);
    CHECK(f[3 * i + 2] >= 0 && ft <= 0.5 * f[3 * i + 2] + 1e-12);
  }
  CHECK_INT(sp_gait_distribute(f, feet4, 4, pull, 1, 1e-6, 0.5, 200), SP_OK);
  for (int i = 0; i < 12; i++) CHECK(f[i] == 0);
  double heavy[6] = {0, 0, 2000, 0, 0, 0};
  CHECK_INT(sp_gait_distribute(f, feet4, 4, heavy, 1, 1e-6, 0.5, 150), SP_OK);
  for (int i = 0; i < 4; i++) CHECK(f[3 * i + 2] == 150);
}

TEST(no_stance_feet_and_zero_regularisation_is_refused_as_singular) {
  double w[6] = {0, 0, 100, 0, 0, 0}, f[3] = {1, 1, 1};
  CHECK_INT(sp_gait_distribute(f, feet4, 0, w, 1, 0, 0.5, 150), SP_ESINGULAR);
}

TEST_MAIN()
