// test_cost.c: every cost term of engine/cost/cost.c against central finite differences (x, u
// and ref), method 1's car cost at hand-computed points, accumulation, terminal costs, argument
// checks, no mutation and no allocation.
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/cost/cost.h"
#include "engine/task/task.h"
#include "test.h"

#define NX 5
#define NU 2
#define NSEEDS 6

// a random reference: point, velocity, acceleration, a circle around the origin region
static void random_ref(sp_rng* rng, double* ref) {
  for (int i = 0; i < SP_TASK_NR; i++) ref[i] = 2 * sp_rng_normal(rng);
  ref[SP_TASK_CX] = sp_rng_normal(rng);
  ref[SP_TASK_CY] = sp_rng_normal(rng);
  ref[SP_TASK_RADIUS] = 0.5 + 2 * sp_rng_uniform(rng);
  ref[SP_TASK_DIR] = sp_rng_uniform(rng) < 0.5 ? -1 : 1;
}

// one cost of each kind on z = (x, u), with the last argument choosing which
static sp_cost* one_term_cost(int kind, int variant) {
  sp_cost* c;
  if (sp_cost_new(&c, NX, NU)) return 0;
  int rc = -1;
  switch (kind) {
    case SP_COST_QUADRATIC: {
      // indices reach into u (6 = u[1]); targets mix reference entries and constants
      int idx[3] = {0, 3, 6}, ridx[3] = {SP_TASK_X, -1, SP_TASK_YD};
      double target[3] = {0, 0.7, 0};
      double W[9] = {2, 0.3, -0.1, 0.5, 1, 0.2, 0, -0.4, 3};  // not symmetric on purpose
      rc = sp_cost_add_quadratic(c, 1.7, idx, ridx, target, W, 3);
      break;
    }
    case SP_COST_RADIAL:
      rc = sp_cost_add_radial(c, 0.8, 0, 1);
      break;
    case SP_COST_HEADING:
      rc = sp_cost_add_heading(c, 1.3, variant ? 5 : 3, 0, 1,
                               variant ? SP_COST_HEADING_REF : SP_COST_HEADING_CIRCLE);
      break;
    case SP_COST_SPEED:
      rc = sp_cost_add_speed(c, 0.5, variant ? 5 : 2, variant ? 1.2 : NAN);
      break;
    case SP_COST_ACTION: {
      double R[4] = {1.5, 0.2, -0.3, 0.8};
      rc = sp_cost_add_action(c, 2.0, variant ? 0 : R);
      break;
    }
    case SP_COST_LIMIT:
      rc = sp_cost_add_limit(c, 3.0, variant ? 6 : 4, -0.5, 0.4);
      break;
  }
  if (rc < 0) {
    sp_cost_free(c);
    return 0;
  }
  return c;
}

// true when the point sits within d of a term's kink (heading wrap, limit bounds, rho = 0)
static int near_kink(const sp_cost* c, const double* x, const double* u, const double* ref,
                     double d) {
  for (int j = 0; j < c->n; j++) {
    const sp_cost_term* t = &c->terms[j];
    if (t->m == 0) continue;
    double z0 = t->idx[0] < NX ? x[t->idx[0]] : u[t->idx[0] - NX];
    if (t->kind == SP_COST_LIMIT && (fabs(z0 - t->lo) < d || fabs(z0 - t->hi) < d)) return 1;
    if (t->kind == SP_COST_HEADING) {
      double des =
          t->mode == SP_COST_HEADING_CIRCLE
              ? atan2(x[1] - ref[SP_TASK_CY], x[0] - ref[SP_TASK_CX]) + ref[SP_TASK_DIR] * M_PI / 2
              : atan2(ref[SP_TASK_YD], ref[SP_TASK_XD]);
      if (M_PI - fabs(sp_cost_wrap_angle(z0 - des)) < 100 * d) return 1;
    }
    if (t->kind == SP_COST_RADIAL &&
        hypot(x[0] - ref[SP_TASK_CX], x[1] - ref[SP_TASK_CY]) < 100 * d)
      return 1;
  }
  return 0;
}

// analytic gradients of c at (x, u, ref) against central differences in each argument
static int check_fd(const sp_cost* c, double* x, double* u, double* ref) {
  double gx[NX] = {0}, gu[NU] = {0}, gref[SP_TASK_NREF] = {0};
  double v = sp_cost_grad(c, gx, gu, gref, x, u, ref);
  if (fabs(v - sp_cost_value(c, x, u, ref)) > 1e-12 * (1 + fabs(v))) return 0;
  double h = 1e-6;
  double* args[3] = {x, u, ref};
  double* grads[3] = {gx, gu, gref};
  int sizes[3] = {NX, NU, SP_TASK_DIR};  // the circle's direction is not differentiable
  for (int a = 0; a < 3; a++)
    for (int i = 0; i < sizes[a]; i++) {
      double keep = args[a][i];
      args[a][i] = keep + h;
      double fp = sp_cost_value(c, x, u, ref);
      args[a][i] = keep - h;
      double fm = sp_cost_value(c, x, u, ref);
      args[a][i] = keep;
      double fd = (fp - fm) / (2 * h);
      if (fabs(fd - grads[a][i]) > 1e-6 * (1 + fabs(fd))) {
        fprintf(stderr, "  arg %d entry %d: analytic %.12g fd %.12g\n", a, i, grads[a][i], fd);
        return 0;
      }
    }
  return 1;
}

TEST(every_term_gradient_matches_central_differences_in_x_u_and_ref) {
  for (int kind = SP_COST_QUADRATIC; kind <= SP_COST_LIMIT; kind++)
    for (int variant = 0; variant < 2; variant++) {
      sp_cost* c = one_term_cost(kind, variant);
      CHECK(c != 0);
      int checked = 0;
      for (int seed = 0; seed < NSEEDS; seed++) {
        sp_rng rng;
        sp_rng_seed(&rng, 1000 + seed, kind * 2 + variant);
        for (int trial = 0; trial < 20; trial++) {
          double x[NX], u[NU], ref[SP_TASK_NREF];
          sp_rng_fill_normal(&rng, x, NX, 0, 1.5);
          sp_rng_fill_normal(&rng, u, NU, 0, 1);
          random_ref(&rng, ref);
          if (near_kink(c, x, u, ref, 1e-3)) continue;
          if (!check_fd(c, x, u, ref)) {
            sp_cost_free(c);
            SP_FAIL_("kind %d variant %d seed %d trial %d", kind, variant, seed, trial);
          }
          checked++;
        }
      }
      CHECK(checked > 60);
      sp_cost_free(c);
    }
}

TEST(a_weighted_sum_of_all_terms_has_the_sum_of_their_gradients) {
  sp_cost* c;
  CHECK_INT(sp_cost_new(&c, NX, NU), 0);
  int idx[2] = {0, 1}, ridx[2] = {SP_TASK_X, SP_TASK_Y};
  double W[4] = {1, 0, 0, 2};
  CHECK_INT(sp_cost_add_quadratic(c, 0.5, idx, ridx, 0, W, 2), 0);
  CHECK_INT(sp_cost_add_radial(c, 1.0, 0, 1), 1);
  CHECK_INT(sp_cost_add_heading(c, 10.0 / 30, 3, 0, 1, SP_COST_HEADING_CIRCLE), 2);
  CHECK_INT(sp_cost_add_speed(c, 1.0 / 30, 2, NAN), 3);
  CHECK_INT(sp_cost_add_action(c, 0.1, 0), 4);
  CHECK_INT(sp_cost_add_limit(c, 5.0, 5, -0.75, 0.75), 5);
  CHECK_INT(c->n, 6);
  int checked = 0;
  for (int seed = 0; seed < NSEEDS; seed++) {
    sp_rng rng;
    sp_rng_seed(&rng, 77, seed);
    for (int trial = 0; trial < 20; trial++) {
      double x[NX], u[NU], ref[SP_TASK_NREF], vals[6];
      sp_rng_fill_normal(&rng, x, NX, 0, 1.5);
      sp_rng_fill_normal(&rng, u, NU, 0, 1);
      random_ref(&rng, ref);
      if (near_kink(c, x, u, ref, 1e-3)) continue;
      CHECK(check_fd(c, x, u, ref));
      double sum = sp_cost_terms(c, vals, x, u, ref), add = 0;
      for (int j = 0; j < 6; j++) add += vals[j];
      CHECK_CLOSE(sum, add, 1e-14, 0);
      CHECK_CLOSE(sum, sp_cost_value(c, x, u, ref), 1e-14, 0);
      checked++;
    }
  }
  CHECK(checked > 60);
  sp_cost_free(c);
}

TEST(car_cost_has_hand_computed_values_on_the_figure_eight) {
  sp_task* task;
  CHECK_INT(sp_task_figure_eight_new(&task, 1.5, 5.5), 0);
  sp_cost* c;
  CHECK_INT(sp_cost_new_car(&c, 4, 2, 0, 1, 2, 3), 0);
  double ref[SP_TASK_NREF], u[2] = {0.5, -0.3};
  // t = 1 s: right circle, centre (1.5, 0), clockwise, reference speed 6 pi / 5.5
  CHECK_INT(sp_task_ref(task, ref, 1.0), 0);
  double vref = 6 * M_PI / 5.5;
  // on the circle, at the speed, tangent heading (moving clockwise at the top: heading 0)
  double x0[4] = {1.5, 1.5, vref, 0.0};
  CHECK_CLOSE(sp_cost_value(c, x0, u, ref), 0, 0, 1e-24);
  // 0.5 m outside at the far right, heading 0.3 rad left of the tangent (-pi/2), speed 2:
  //   0.5^2 + (2 - vref)^2 / 30 + (10/30) 0.3^2
  double x1[4] = {3.5, 0.0, 2.0, -M_PI / 2 + 0.3};
  double want = 0.25 + (2 - vref) * (2 - vref) / 30 + 0.03;
  CHECK_CLOSE(sp_cost_value(c, x1, u, ref), want, 1e-12, 0);
  double gx[4] = {0}, gu[2] = {0};
  sp_cost_grad(c, gx, gu, 0, x1, u, ref);
  CHECK_CLOSE(gx[0], 1.0, 1e-12, 0);                                 // 2 (rho - R) along +x
  CHECK_CLOSE(gx[1], 2 * 0.3 * (10.0 / 30) * (-1.0 / 2), 1e-12, 0);  // heading through y
  CHECK_CLOSE(gx[2], 2 * (2 - vref) / 30, 1e-12, 0);
  CHECK_CLOSE(gx[3], 0.2, 1e-12, 0);
  CHECK_CLOSE(gu[0], 0, 0, 0);  // no control cost
  CHECK_CLOSE(gu[1], 0, 0, 0);
  // heading wraps: 1 m outside at the top, heading 2 pi - 0.2 against a desired 0
  double x2[4] = {1.5, 2.5, vref, 2 * M_PI - 0.2};
  CHECK_CLOSE(sp_cost_value(c, x2, u, ref), 1.0 + (10.0 / 30) * 0.04, 1e-12, 0);
  // t = 4 s: left circle, centre (-1.5, 0), counter-clockwise; at (-1.5, -1.5) heading 0
  CHECK_INT(sp_task_ref(task, ref, 4.0), 0);
  double x3[4] = {-1.5, -1.0, vref + 1, 0.0};
  CHECK_CLOSE(sp_cost_value(c, x3, u, ref), 0.25 + 1.0 / 30, 1e-12, 0);
  sp_cost_free(c);
  sp_task_free(task);
}

TEST(gradients_accumulate_into_what_is_already_there) {
  sp_cost* c = one_term_cost(SP_COST_QUADRATIC, 0);
  CHECK(c != 0);
  double x[NX] = {0.1, 0.2, 0.3, 0.4, 0.5}, u[NU] = {-0.2, 0.6}, ref[SP_TASK_NREF] = {0};
  ref[SP_TASK_YD] = 1;
  double gx[NX] = {0}, gu[NU] = {0}, gr[SP_TASK_NREF] = {0};
  sp_cost_grad(c, gx, gu, gr, x, u, ref);
  double gx2[NX], gu2[NU], gr2[SP_TASK_NREF];
  for (int i = 0; i < NX; i++) gx2[i] = 1 + gx[i];
  for (int i = 0; i < NU; i++) gu2[i] = 1 + gu[i];
  for (int i = 0; i < SP_TASK_NREF; i++) gr2[i] = 1 + gr[i];
  // start from ones: result = ones + 2 g
  double ox[NX], ou[NU], orf[SP_TASK_NREF];
  for (int i = 0; i < NX; i++) ox[i] = 1;
  for (int i = 0; i < NU; i++) ou[i] = 1;
  for (int i = 0; i < SP_TASK_NREF; i++) orf[i] = 1;
  sp_cost_grad(c, ox, ou, orf, x, u, ref);
  sp_cost_grad(c, ox, ou, orf, x, u, ref);
  for (int i = 0; i < NX; i++) CHECK_CLOSE(ox[i], gx2[i] + gx[i], 1e-14, 1e-14);
  for (int i = 0; i < NU; i++) CHECK_CLOSE(ou[i], gu2[i] + gu[i], 1e-14, 1e-14);
  for (int i = 0; i < SP_TASK_NREF; i++) CHECK_CLOSE(orf[i], gr2[i] + gr[i], 1e-14, 1e-14);
  CHECK(gu[1] != 0);  // the quadratic reaches u[1] through index 6
  sp_cost_free(c);
}

TEST(evaluation_does_not_mutate_its_inputs) {
  sp_cost* c;
  CHECK_INT(sp_cost_new_car(&c, 4, 2, 0, 1, 2, 3), 0);
  CHECK(sp_cost_add_action(c, 1.0, 0) >= 0);
  CHECK(sp_cost_add_limit(c, 1.0, 4, -0.1, 0.1) >= 0);
  sp_rng rng;
  sp_rng_seed(&rng, 3, 0);
  double x[4], u[2], ref[SP_TASK_NREF];
  sp_rng_fill_normal(&rng, x, 4, 0, 1);
  sp_rng_fill_normal(&rng, u, 2, 0, 1);
  random_ref(&rng, ref);
  double x0[4], u0[2], r0[SP_TASK_NREF];
  memcpy(x0, x, sizeof x);
  memcpy(u0, u, sizeof u);
  memcpy(r0, ref, sizeof ref);
  double gx[4] = {0}, gu[2] = {0}, gr[SP_TASK_NREF] = {0}, vals[8];
  sp_cost_grad(c, gx, gu, gr, x, u, ref);
  sp_cost_value(c, x, u, ref);
  sp_cost_terms(c, vals, x, u, ref);
  CHECK(memcmp(x, x0, sizeof x) == 0);
  CHECK(memcmp(u, u0, sizeof u) == 0);
  CHECK(memcmp(ref, r0, sizeof ref) == 0);
  sp_cost_free(c);
}

TEST(evaluation_and_gradients_do_not_allocate) {
  sp_cost* c;
  CHECK_INT(sp_cost_new_car(&c, NX, NU, 0, 1, 2, 3), 0);
  int idx[2] = {0, 6};
  double W[4] = {1, 0, 0, 1}, vals[8];
  CHECK(sp_cost_add_quadratic(c, 1, idx, 0, 0, W, 2) >= 0);
  CHECK(sp_cost_add_action(c, 1, 0) >= 0);
  CHECK(sp_cost_add_limit(c, 1, 4, 0, 1) >= 0);
  double x[NX] = {1, 2, 3, 4, 5}, u[NU] = {1, 2}, ref[SP_TASK_NREF] = {0};
  ref[SP_TASK_RADIUS] = 1;
  ref[SP_TASK_DIR] = 1;
  double gx[NX] = {0}, gu[NU] = {0}, gr[SP_TASK_NREF] = {0};
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 1000; i++) {
    x[0] = 0.001 * i;
    sp_cost_value(c, x, u, ref);
    sp_cost_grad(c, gx, gu, gr, x, u, ref);
    sp_cost_terms(c, vals, x, u, ref);
  }
  CHECK(sp_alloc_count() == before);
  sp_cost_free(c);
}

TEST(terminal_cost_addresses_the_state_only_and_takes_no_action) {
  sp_cost* c;
  CHECK_INT(sp_cost_new(&c, 4, 0), 0);
  CHECK_INT(sp_cost_add_radial(c, 2.0, 0, 1), 0);
  CHECK_INT(sp_cost_add_action(c, 1.0, 0), SP_EINVAL);
  CHECK_INT(sp_cost_add_speed(c, 1.0, 4, 1.0), SP_EINVAL);  // index 4 would be an action
  CHECK_INT(c->n, 1);
  double x[4] = {3, 4, 0, 0}, ref[SP_TASK_NREF] = {0}, gx[4] = {0};
  ref[SP_TASK_RADIUS] = 2;
  CHECK_CLOSE(sp_cost_value(c, x, 0, ref), 2 * 9, 1e-14, 0);
  sp_cost_grad(c, gx, 0, 0, x, 0, ref);
  CHECK_CLOSE(gx[0], 2 * 2 * 3 * 3.0 / 5, 1e-14, 0);
  CHECK_CLOSE(gx[1], 2 * 2 * 3 * 4.0 / 5, 1e-14, 0);
  sp_cost_free(c);
}

TEST(bad_terms_are_refused_and_leave_the_cost_unchanged) {
  sp_cost* c = (sp_cost*)1;
  CHECK_INT(sp_cost_new(&c, 0, 1), SP_EINVAL);
  CHECK(c == 0);
  CHECK_INT(sp_cost_new(&c, 3, 1), 0);
  int bad[1] = {4}, ok[1] = {0};
  double W[1] = {1};
  CHECK_INT(sp_cost_add_quadratic(c, 1, bad, 0, 0, W, 1), SP_EINVAL);
  CHECK_INT(sp_cost_add_quadratic(c, 1, ok, 0, 0, W, 0), SP_EINVAL);
  CHECK_INT(sp_cost_add_quadratic(c, NAN, ok, 0, 0, W, 1), SP_EINVAL);
  int rbad[1] = {SP_TASK_NREF};
  CHECK_INT(sp_cost_add_quadratic(c, 1, ok, rbad, 0, W, 1), SP_EINVAL);
  CHECK_INT(sp_cost_add_radial(c, 1, 0, -1), SP_EINVAL);
  CHECK_INT(sp_cost_add_heading(c, 1, 2, 0, 1, (sp_cost_heading_mode)7), SP_EINVAL);
  CHECK_INT(sp_cost_add_speed(c, 1, 2, INFINITY), SP_EINVAL);
  CHECK_INT(sp_cost_add_limit(c, 1, 2, 1, -1), SP_EINVAL);
  CHECK_INT(sp_cost_add_limit(c, 1, 2, NAN, 1), SP_EINVAL);
  CHECK_INT(c->n, 0);
  CHECK_INT(sp_cost_add_limit(c, 1, 3, -INFINITY, 1), 0);  // one-sided, on the action
  CHECK_INT(c->n, 1);
  double x[3] = {0}, u[1] = {3}, ref[SP_TASK_NREF] = {0};
  CHECK_CLOSE(sp_cost_value(c, x, u, ref), 4, 1e-14, 0);
  u[0] = -100;
  CHECK_CLOSE(sp_cost_value(c, x, u, ref), 0, 0, 0);
  sp_cost_free(c);
}

TEST(angles_wrap_into_minus_pi_exclusive_to_pi_inclusive) {
  CHECK_CLOSE(sp_cost_wrap_angle(M_PI), M_PI, 1e-15, 0);
  CHECK_CLOSE(sp_cost_wrap_angle(-M_PI), M_PI, 1e-15, 0);
  CHECK_CLOSE(sp_cost_wrap_angle(3 * M_PI / 2), -M_PI / 2, 1e-15, 0);
  CHECK_CLOSE(sp_cost_wrap_angle(-7.0), -7.0 + 2 * M_PI, 1e-15, 0);
  CHECK_CLOSE(sp_cost_wrap_angle(0.25), 0.25, 0, 0);
  for (int k = -5; k <= 5; k++) {
    double w = sp_cost_wrap_angle(0.3 + 2 * M_PI * k);
    CHECK_CLOSE(w, 0.3, 1e-12, 0);
  }
}

TEST_MAIN()
