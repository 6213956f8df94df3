// test_task.c: the common task interface of engine/task/task.c over every generator: exact time
// derivatives against central finite differences, progress derivatives, the osculating circle,
// wrapping, argument checks and no allocation.
#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/task/task.h"
#include "test.h"

#define NSEEDS 5

// every generator, built the same way in each test; returns how many were made
static int make_tasks(sp_task** tasks) {
  int n = 0;
  if (sp_task_figure_eight_new(&tasks[n], 1.5, 5.5) == 0) n++;
  if (sp_task_circle_new(&tasks[n], 0.3, -0.2, 2.0, 7.0, -1, 0.4) == 0) n++;
  if (sp_task_lemniscate_new(&tasks[n], 2.0, 9.0) == 0) n++;
  // a closed cubic path and an open linear one
  double t[9], xy[18];
  for (int i = 0; i < 9; i++) {
    t[i] = 0.5 + i * 0.75 + 0.1 * sin(i);
    double a = 2 * M_PI * i / 8;
    xy[2 * i] = 2 * cos(a) + 0.3 * cos(2 * a);
    xy[2 * i + 1] = sin(a);
  }
  xy[16] = xy[0];
  xy[17] = xy[1];
  if (sp_task_sampled_new(&tasks[n], t, xy, 9, SP_TASK_CUBIC, 1) == 0) n++;
  if (sp_task_sampled_new(&tasks[n], t, xy, 9, SP_TASK_CUBIC, 0) == 0) n++;
  if (sp_task_sampled_new(&tasks[n], t, xy, 9, SP_TASK_LINEAR, 0) == 0) n++;
  return n;
}

static void free_tasks(sp_task** tasks, int n) {
  for (int i = 0; i < n; i++) sp_task_free(tasks[i]);
}

// true when t is within d of a point where r has a kink (figure-eight switch, sampled knots)
static int near_kink(const sp_task* task, double t, double d) {
  if (task->kt) {
    for (int i = 0; i < task->n; i++)
      if (fabs(t - task->kt[i]) < d) return 1;
    return 0;
  }
  double half = 0.5 * task->period, u = fmod(t - task->t0, half);
  if (u < 0) u += half;
  return u < d || half - u < d;
}

TEST(every_generator_is_built) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  CHECK_INT(n, 6);
  CHECK_STR(sp_task_name(tasks[0]), "figure_eight");
  CHECK_STR(sp_task_name(tasks[1]), "circle");
  CHECK_STR(sp_task_name(tasks[2]), "lemniscate");
  CHECK_STR(sp_task_name(tasks[3]), "sampled");
  free_tasks(tasks, n);
}

TEST(time_derivatives_match_central_differences) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  for (int k = 0; k < n; k++) {
    const sp_task* task = tasks[k];
    int linear = task->kt && task->interp == SP_TASK_LINEAR;
    for (int seed = 0; seed < NSEEDS; seed++) {
      sp_rng rng;
      sp_rng_seed(&rng, 100 + seed, k);
      for (int trial = 0; trial < 20; trial++) {
        double t = task->t0 + sp_rng_uniform(&rng) * task->period;
        double h = 1e-5;
        // the figure-eight's acceleration jumps at each half lap; spline knots are kinks of
        // the third derivative; avoid both
        int fig8 = task->cls == tasks[0]->cls;
        if ((fig8 || task->kt) && near_kink(task, t, 10 * h)) continue;
        double r[SP_TASK_NR], dr[SP_TASK_NR], rp[SP_TASK_NR], rm[SP_TASK_NR];
        sp_task_eval(task, r, dr, t);
        sp_task_eval(task, rp, 0, t + h);
        sp_task_eval(task, rm, 0, t - h);
        for (int i = 0; i < SP_TASK_NR; i++) {
          double fd = (rp[i] - rm[i]) / (2 * h);
          CHECK_CLOSE(dr[i], fd, 1e-6, 1e-6);
        }
        // velocity entries of r are the derivative of its position entries (not for linear)
        if (!linear) {
          CHECK_CLOSE(r[SP_TASK_XD], dr[0], 1e-12, 1e-12);
          CHECK_CLOSE(r[SP_TASK_XDD], dr[2], 1e-12, 1e-12);
        }
      }
    }
  }
  free_tasks(tasks, n);
}

TEST(progress_derivatives_are_period_times_time_derivatives) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  for (int k = 0; k < n; k++) {
    sp_rng rng;
    sp_rng_seed(&rng, 7, k);
    for (int trial = 0; trial < 20; trial++) {
      double s = 0.02 + 0.96 * sp_rng_uniform(&rng);
      double t = tasks[k]->t0 + s * tasks[k]->period;
      if (near_kink(tasks[k], t, 1e-4) && tasks[k]->cls != tasks[1]->cls) continue;
      double r1[SP_TASK_NR], d1[SP_TASK_NR], r2[SP_TASK_NR], d2[SP_TASK_NR];
      double rp[SP_TASK_NR], rm[SP_TASK_NR], h = 1e-6;
      sp_task_eval_s(tasks[k], r1, d1, s);
      sp_task_eval(tasks[k], r2, d2, t);
      sp_task_eval_s(tasks[k], rp, 0, s + h);
      sp_task_eval_s(tasks[k], rm, 0, s - h);
      for (int i = 0; i < SP_TASK_NR; i++) {
        CHECK_CLOSE(r1[i], r2[i], 1e-9, 1e-9);
        CHECK_CLOSE(d1[i], tasks[k]->period * d2[i], 1e-9, 1e-9);
        CHECK_CLOSE(d1[i], (rp[i] - rm[i]) / (2 * h), 1e-5, 1e-5);
      }
    }
  }
  free_tasks(tasks, n);
}

TEST(periodic_tasks_repeat_every_period_including_negative_times) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  for (int k = 0; k < n; k++) {
    if (!tasks[k]->periodic) continue;
    double T = tasks[k]->period;
    double r0[SP_TASK_NR], r1[SP_TASK_NR], r2[SP_TASK_NR];
    double t = tasks[k]->t0 + 0.37 * T;
    sp_task_eval(tasks[k], r0, 0, t);
    sp_task_eval(tasks[k], r1, 0, t + 3 * T);
    sp_task_eval(tasks[k], r2, 0, t - 2 * T);
    for (int i = 0; i < SP_TASK_NR; i++) {
      CHECK_CLOSE(r0[i], r1[i], 1e-9, 1e-9);
      CHECK_CLOSE(r0[i], r2[i], 1e-9, 1e-9);
    }
  }
  free_tasks(tasks, n);
}

TEST(osculating_circle_of_a_finely_sampled_circle_is_that_circle) {
  double t[201], xy[402];
  for (int i = 0; i <= 200; i++) {
    t[i] = 4.0 * i / 200;
    xy[2 * i] = 1 + 2 * cos(2 * M_PI * i / 200);
    xy[2 * i + 1] = -1 + 2 * sin(2 * M_PI * i / 200);
  }
  xy[400] = xy[0];
  xy[401] = xy[1];
  sp_task* task;
  CHECK_INT(sp_task_sampled_new(&task, t, xy, 201, SP_TASK_CUBIC, 1), 0);
  double c[2], R, dir;
  CHECK_INT(sp_task_circle(task, c, &R, &dir, 1.234), 0);
  CHECK_CLOSE(c[0], 1, 0, 1e-4);
  CHECK_CLOSE(c[1], -1, 0, 1e-4);
  CHECK_CLOSE(R, 2, 0, 1e-4);
  CHECK_CLOSE(dir, 1, 0, 0);
  sp_task_free(task);
}

TEST(lemniscate_has_no_osculating_circle_at_its_inflection) {
  sp_task* task;
  CHECK_INT(sp_task_lemniscate_new(&task, 2.0, 8.0), 0);
  double ref[SP_TASK_NREF];
  CHECK_INT(sp_task_ref(task, ref, 0.0), SP_ERANGE);
  CHECK_CLOSE(ref[SP_TASK_X], 0, 0, 1e-12);
  CHECK_CLOSE(ref[SP_TASK_RADIUS], 0, 0, 0);
  // at the right tip (th = pi/2) the centre of curvature lies on the x axis, to the left
  CHECK_INT(sp_task_ref(task, ref, 2.0), 0);
  CHECK_CLOSE(ref[SP_TASK_X], 2.0, 0, 1e-12);
  CHECK(ref[SP_TASK_CX] < 2.0);
  CHECK_CLOSE(ref[SP_TASK_CY], 0, 0, 1e-12);
  // radius of curvature at the tip: |v|^2 / |a| = (a w)^2 / (a w^2) = a
  CHECK_CLOSE(ref[SP_TASK_RADIUS], 2.0, 1e-9, 0);
  CHECK_CLOSE(ref[SP_TASK_CX], 0.0, 0, 1e-9);
  sp_task_free(task);
}

TEST(sampled_open_task_holds_its_end_points) {
  double t[3] = {1, 2, 4}, xy[6] = {0, 0, 1, 1, 3, 0};
  sp_task* task;
  CHECK_INT(sp_task_sampled_new(&task, t, xy, 3, SP_TASK_LINEAR, 0), 0);
  double r[SP_TASK_NR], dr[SP_TASK_NR];
  sp_task_eval(task, r, dr, 10.0);
  CHECK_CLOSE(r[0], 3, 0, 0);
  CHECK_CLOSE(r[1], 0, 0, 0);
  for (int i = 2; i < SP_TASK_NR; i++) CHECK_CLOSE(r[i], 0, 0, 0);
  for (int i = 0; i < SP_TASK_NR; i++) CHECK_CLOSE(dr[i], 0, 0, 0);
  sp_task_eval(task, r, dr, -3.0);
  CHECK_CLOSE(r[0], 0, 0, 0);
  // linear interpolation inside
  sp_task_eval(task, r, dr, 3.0);
  CHECK_CLOSE(r[0], 2, 1e-12, 0);
  CHECK_CLOSE(r[1], 0.5, 1e-12, 0);
  CHECK_CLOSE(r[SP_TASK_XD], 1, 1e-12, 0);
  CHECK_CLOSE(r[SP_TASK_YD], -0.5, 1e-12, 0);
  CHECK_CLOSE(sp_task_period(task), 3, 0, 0);
  sp_task_free(task);
}

TEST(cubic_sampled_task_interpolates_its_knots_and_is_c2) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  for (int k = 3; k < 5; k++) {
    const sp_task* task = tasks[k];
    for (int i = 0; i < task->n; i++) {
      double r[SP_TASK_NR];
      sp_task_eval(task, r, 0, task->kt[i]);
      CHECK_CLOSE(r[0], task->kxy[2 * i], 1e-12, 1e-12);
      CHECK_CLOSE(r[1], task->kxy[2 * i + 1], 1e-12, 1e-12);
      if (i == 0 || i == task->n - 1) continue;
      // velocity and acceleration agree across the knot
      double a[SP_TASK_NR], b[SP_TASK_NR];
      sp_task_eval(task, a, 0, task->kt[i] - 1e-9);
      sp_task_eval(task, b, 0, task->kt[i] + 1e-9);
      for (int j = 2; j < SP_TASK_NR; j++) CHECK_CLOSE(a[j], b[j], 1e-6, 1e-6);
    }
  }
  // the closed path's spline is also C2 where it wraps around
  const sp_task* task = tasks[3];
  double a[SP_TASK_NR], b[SP_TASK_NR];
  sp_task_eval(task, a, 0, task->t0 + task->period - 1e-9);
  sp_task_eval(task, b, 0, task->t0 + 1e-9);
  for (int j = 0; j < SP_TASK_NR; j++) CHECK_CLOSE(a[j], b[j], 1e-6, 1e-6);
  free_tasks(tasks, n);
}

TEST(sampled_task_copies_its_knots) {
  double t[4] = {0, 1, 2, 3}, xy[8] = {0, 0, 1, 2, 3, 1, 4, 4};
  sp_task* task;
  CHECK_INT(sp_task_sampled_new(&task, t, xy, 4, SP_TASK_CUBIC, 0), 0);
  double before[SP_TASK_NR], after[SP_TASK_NR];
  sp_task_eval(task, before, 0, 1.5);
  for (int i = 0; i < 8; i++) xy[i] = -100;
  t[1] = 0.1;
  sp_task_eval(task, after, 0, 1.5);
  for (int i = 0; i < SP_TASK_NR; i++) CHECK(before[i] == after[i]);
  sp_task_free(task);
}

TEST(progress_follows_every_closed_generator_round_a_lap_without_jumps) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  for (int k = 0; k < n; k++) {
    if (!tasks[k]->periodic) continue;
    for (int seed = 0; seed < 3; seed++) {
      sp_rng rng;
      sp_rng_seed(&rng, 40 + seed, k);
      double s = -1, prev = 0;
      int steps = 400;
      for (int i = 0; i <= steps; i++) {
        double st = (double)i / steps;
        double r[SP_TASK_NR];
        sp_task_eval_s(tasks[k], r, 0, st);
        double x = r[0] + 0.01 * sp_rng_normal(&rng), y = r[1] + 0.01 * sp_rng_normal(&rng);
        s = sp_task_progress(tasks[k], x, y, i == 0 ? 0 : s, 0);
        double e = fabs(s - (st - floor(st)));
        CHECK(fmin(e, 1 - e) < 0.03);
        if (i > 0) {
          double ds = s - prev;
          ds -= floor(ds + 0.5);
          CHECK(fabs(ds) < 0.03);
        }
        prev = s;
      }
    }
  }
  free_tasks(tasks, n);
}

TEST(constructors_reject_bad_arguments) {
  sp_task* task = (sp_task*)1;
  CHECK_INT(sp_task_figure_eight_new(&task, 0, 5.5), SP_EINVAL);
  CHECK(task == 0);
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, -1), SP_EINVAL);
  CHECK_INT(sp_task_figure_eight_new(&task, NAN, 5.5), SP_EINVAL);
  CHECK_INT(sp_task_circle_new(&task, 0, 0, 1, 1, 0, 0), SP_EINVAL);
  CHECK_INT(sp_task_lemniscate_new(&task, -1, 1), SP_EINVAL);
  double t[4] = {0, 1, 1, 2}, xy[8] = {0, 0, 1, 0, 1, 1, 0, 0};
  CHECK_INT(sp_task_sampled_new(&task, t, xy, 4, SP_TASK_CUBIC, 0), SP_EINVAL);  // repeated t
  double t2[4] = {0, 1, 2, 3}, open[8] = {0, 0, 1, 0, 1, 1, 0, 1};
  CHECK_INT(sp_task_sampled_new(&task, t2, open, 4, SP_TASK_CUBIC, 1), SP_EINVAL);  // not closed
  CHECK_INT(sp_task_sampled_new(&task, t2, xy, 1, SP_TASK_LINEAR, 0), SP_EINVAL);
  CHECK_INT(sp_task_sampled_new(&task, t2, xy, 3, SP_TASK_CUBIC, 1), SP_EINVAL);  // too few
  CHECK_INT(sp_task_sampled_new(&task, t2, xy, 4, SP_TASK_CUBIC, 1), 0);
  sp_task_free(task);
}

TEST(evaluation_progress_and_ref_do_not_allocate) {
  sp_task* tasks[8];
  int n = make_tasks(tasks);
  uint64_t before = sp_alloc_count();
  double ref[SP_TASK_NREF], dr[SP_TASK_NR], s = -1;
  for (int k = 0; k < n; k++)
    for (int i = 0; i < 200; i++) {
      double t = 0.05 * i;
      sp_task_eval(tasks[k], ref, dr, t);
      sp_task_eval_s(tasks[k], ref, dr, 0.01 * i);
      sp_task_ref(tasks[k], ref, t);
      s = sp_task_progress(tasks[k], ref[0] + 0.1, ref[1], s, 0);
    }
  CHECK(sp_alloc_count() == before);
  free_tasks(tasks, n);
}

TEST(phase_features_are_cos_and_sin_of_two_pi_s) {
  double f[2];
  sp_task_phase_features(f, 0.25);
  CHECK_CLOSE(f[0], 0, 0, 1e-15);
  CHECK_CLOSE(f[1], 1, 0, 1e-15);
  sp_task_phase_features(f, 0.5);
  CHECK_CLOSE(f[0], -1, 0, 1e-15);
}

TEST_MAIN()
