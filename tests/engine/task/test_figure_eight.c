// test_figure_eight.c: method 1's figure-eight (engine/task/figure_eight.c) has the stated shape,
// start, direction and speed, is C1 where it switches circles, and its progress estimate
// recovers s on the path without jumping between circles at the origin.
#include <math.h>

#include "engine/core/rng.h"
#include "engine/task/task.h"
#include "test.h"

static const double Rs[3] = {1.5, 0.7, 3.0};
static const double Ts[3] = {5.5, 2.0, 11.0};

TEST(starts_at_the_origin_heading_plus_y_and_returns_there_each_half_lap) {
  for (int c = 0; c < 3; c++) {
    sp_task* task;
    CHECK_INT(sp_task_figure_eight_new(&task, Rs[c], Ts[c]), 0);
    double r[SP_TASK_NR];
    for (int k = 0; k < 4; k++) {
      sp_task_eval(task, r, 0, k * 0.5 * Ts[c]);
      CHECK_CLOSE(r[SP_TASK_X], 0, 0, 1e-12);
      CHECK_CLOSE(r[SP_TASK_Y], 0, 0, 1e-12);
      CHECK_CLOSE(r[SP_TASK_XD], 0, 0, 1e-12);
      CHECK(r[SP_TASK_YD] > 0);
    }
    sp_task_free(task);
  }
}

TEST(first_half_is_the_right_circle_clockwise_second_half_the_left_counter_clockwise) {
  sp_task* task;
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
  double r[SP_TASK_NR];
  // quarter lap points: (R, R), (2R, 0), (R, -R), then (-R, R), (-2R, 0), (-R, -R)
  double want[6][2] = {{1.5, 1.5}, {3, 0}, {1.5, -1.5}, {-1.5, 1.5}, {-3, 0}, {-1.5, -1.5}};
  double at[6] = {1, 2, 3, 5, 6, 7};
  for (int i = 0; i < 6; i++) {
    sp_task_eval(task, r, 0, at[i] * 5.5 / 8);
    CHECK_CLOSE(r[SP_TASK_X], want[i][0], 0, 1e-12);
    CHECK_CLOSE(r[SP_TASK_Y], want[i][1], 0, 1e-12);
  }
  double c[2], R, dir;
  CHECK_INT(sp_task_circle(task, c, &R, &dir, 1.0), 0);
  CHECK_CLOSE(c[0], 1.5, 0, 0);
  CHECK_CLOSE(dir, -1, 0, 0);
  CHECK_INT(sp_task_circle(task, c, &R, &dir, 4.0), 0);
  CHECK_CLOSE(c[0], -1.5, 0, 0);
  CHECK_CLOSE(c[1], 0, 0, 0);
  CHECK_CLOSE(R, 1.5, 0, 0);
  CHECK_CLOSE(dir, 1, 0, 0);
  sp_task_free(task);
}

TEST(stays_on_the_active_circle_at_constant_speed_four_pi_r_over_t) {
  for (int c = 0; c < 3; c++) {
    sp_task* task;
    CHECK_INT(sp_task_figure_eight_new(&task, Rs[c], Ts[c]), 0);
    sp_rng rng;
    sp_rng_seed(&rng, 11, c);
    for (int i = 0; i < 200; i++) {
      double t = (2 * sp_rng_uniform(&rng) - 0.5) * Ts[c];
      double ref[SP_TASK_NREF];
      CHECK_INT(sp_task_ref(task, ref, t), 0);
      double dx = ref[SP_TASK_X] - ref[SP_TASK_CX], dy = ref[SP_TASK_Y] - ref[SP_TASK_CY];
      CHECK_CLOSE(hypot(dx, dy), Rs[c], 1e-12, 0);
      CHECK_CLOSE(ref[SP_TASK_RADIUS], Rs[c], 0, 0);
      CHECK_CLOSE(fabs(ref[SP_TASK_CX]), Rs[c], 0, 0);
      CHECK_CLOSE(hypot(ref[SP_TASK_XD], ref[SP_TASK_YD]), 4 * M_PI * Rs[c] / Ts[c], 1e-12, 0);
      // velocity is tangent and turns the way the circle's direction says
      double cross = dx * ref[SP_TASK_YD] - dy * ref[SP_TASK_XD];
      CHECK(cross * ref[SP_TASK_DIR] > 0);
      CHECK_CLOSE(dx * ref[SP_TASK_XD] + dy * ref[SP_TASK_YD], 0, 0, 1e-9);
      // centripetal acceleration of magnitude v^2 / R pointing at the centre
      double v2 = pow(4 * M_PI * Rs[c] / Ts[c], 2);
      CHECK_CLOSE(ref[SP_TASK_XDD], -dx * v2 / (Rs[c] * Rs[c]), 1e-9, 1e-9);
      CHECK_CLOSE(ref[SP_TASK_YDD], -dy * v2 / (Rs[c] * Rs[c]), 1e-9, 1e-9);
    }
    sp_task_free(task);
  }
}

TEST(position_and_velocity_are_continuous_where_the_circles_switch) {
  for (int c = 0; c < 3; c++) {
    sp_task* task;
    CHECK_INT(sp_task_figure_eight_new(&task, Rs[c], Ts[c]), 0);
    double e = 1e-9;
    for (int k = 0; k < 2; k++) {
      double ts = k == 0 ? 0.5 * Ts[c] : Ts[c];
      double a[SP_TASK_NR], b[SP_TASK_NR];
      sp_task_eval(task, a, 0, ts - e);
      sp_task_eval(task, b, 0, ts + e);
      double v = 4 * M_PI * Rs[c] / Ts[c];
      for (int i = 0; i < 4; i++) CHECK_CLOSE(a[i], b[i], 0, 4 * v * e);
      // the curvature flips: accelerations point to opposite centres
      CHECK(a[SP_TASK_XDD] * b[SP_TASK_XDD] < 0);
    }
    sp_task_free(task);
  }
}

TEST(progress_recovers_s_for_points_on_the_path) {
  for (int c = 0; c < 3; c++) {
    sp_task* task;
    CHECK_INT(sp_task_figure_eight_new(&task, Rs[c], Ts[c]), 0);
    sp_rng rng;
    sp_rng_seed(&rng, 5, c);
    for (int i = 0; i < 100; i++) {
      double s = sp_rng_uniform(&rng);
      double r[SP_TASK_NR];
      sp_task_eval_s(task, r, 0, s);
      // with a nearby hint everywhere; without one away from the origin, where both circles meet
      double hint = s + 0.05 * (2 * sp_rng_uniform(&rng) - 1);
      hint -= floor(hint);
      double got = sp_task_progress(task, r[0], r[1], hint, 0);
      double d = fabs(got - s);
      CHECK(fmin(d, 1 - d) < 1e-9);
      if (fabs(s - 0.5) > 0.05 && s > 0.05 && s < 0.95) {
        got = sp_task_progress(task, r[0], r[1], -1, 0);
        d = fabs(got - s);
        CHECK(fmin(d, 1 - d) < 1e-9);
      }
    }
    sp_task_free(task);
  }
}

TEST(progress_of_points_off_the_path_is_the_closest_path_point) {
  sp_task* task;
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
  sp_rng rng;
  sp_rng_seed(&rng, 9, 0);
  for (int i = 0; i < 100; i++) {
    double s = 0.05 + 0.4 * sp_rng_uniform(&rng);  // right circle, away from the origin
    double r[SP_TASK_NR];
    sp_task_eval_s(task, r, 0, s);
    // move radially by up to 0.5 m: the closest point stays at the same s
    double dx = r[0] - 1.5, dy = r[1], k = 1 + (2 * sp_rng_uniform(&rng) - 1) * 0.5 / 1.5;
    double got = sp_task_progress(task, 1.5 + k * dx, k * dy, s + 0.03, 0);
    CHECK_CLOSE(got, s, 0, 1e-9);
  }
  sp_task_free(task);
}

TEST(progress_does_not_jump_between_circles_at_the_crossing) {
  // a car driving the path with lateral noise, tracking s from step to step with the hint
  for (int seed = 0; seed < 5; seed++) {
    sp_task* task;
    CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
    sp_rng rng;
    sp_rng_seed(&rng, 20 + seed, 0);
    double s = -1, prev = 0;
    int steps = 2 * 275;  // two laps at 50 Hz
    for (int k = 0; k <= steps; k++) {
      double st = (double)k / 275;
      double r[SP_TASK_NR];
      sp_task_eval_s(task, r, 0, st);
      double x = r[0] + 0.05 * sp_rng_normal(&rng), y = r[1] + 0.05 * sp_rng_normal(&rng);
      s = sp_task_progress(task, x, y, k == 0 ? 0 : s, 0);
      if (k > 0) {
        // forward by about one step (1/275 of a lap), never a jump of a quarter lap
        double ds = s - prev;
        ds -= floor(ds + 0.5);
        CHECK(fabs(ds) < 0.05);
      }
      double e = fabs(s - (st - floor(st)));
      CHECK(fmin(e, 1 - e) < 0.05);
      prev = s;
    }
    sp_task_free(task);
  }
}

TEST(without_a_hint_the_crossing_is_ambiguous_which_is_why_the_hint_exists) {
  // leaving the right circle just past s = 0.5 on the left-circle side above the axis: the
  // closest point overall is the start of the lap (s near 0), the hint keeps s near 0.5
  sp_task* task;
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
  double x = 0.02, y = 0.05;
  double global = sp_task_progress(task, x, y, -1, 0);
  double hinted = sp_task_progress(task, x, y, 0.49, 0);
  CHECK(global < 0.1);
  CHECK(fabs(hinted - 0.5) < 0.02);
  sp_task_free(task);
}

TEST_MAIN()
