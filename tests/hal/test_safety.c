// test_safety.c: hal/safety.c limits, rate limits, NaN guard, watchdog, e-stop latch, safe command.
#include <pthread.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/hal.h"
#include "hal/safety.h"
#include "test.h"

static const double umin[2] = {-1.0, -0.5}, umax[2] = {1.0, 0.5}, usafe[2] = {0.0, 0.1};
static const double rate[2] = {10.0, 1000.0};  // per second; period 0.01 -> 0.1 and 10 per tick

static sp_safety* make(double watchdog_s, const double* rate_max, int latch) {
  sp_safety_config c = {.nx = 2,
                        .nu = 2,
                        .u_min = umin,
                        .u_max = umax,
                        .rate_max = rate_max,
                        .u_safe = usafe,
                        .period_s = 0.01,
                        .watchdog_s = watchdog_s,
                        .latch_faults = latch};
  sp_safety* s = NULL;
  char msg[128];
  return sp_safety_new(&s, &c, msg, sizeof msg) ? NULL : s;
}

// one tick with a fresh state at loop time t
static sp_safety_result tick(sp_safety* s, double* out, double t, const double* u) {
  double x[2] = {0.0, 1.0};
  sp_safety_input in = {.t = t, .x = x, .t_state_ns = (int64_t)(t * 1e9) + 1, .u = u};
  return sp_safety_tick(s, out, &in);
}

TEST(commands_within_limits_pass_unchanged) {
  sp_safety* s = make(0, NULL, 0);
  CHECK(s);
  double u[2] = {0.3, -0.2}, out[2];
  sp_safety_result r = tick(s, out, 0.0, u);
  CHECK_INT(r.flags, 0);
  CHECK_INT(r.cause, SP_CAUSE_NONE);
  CHECK(out[0] == 0.3 && out[1] == -0.2);
  sp_safety_free(s);
}

TEST(out_of_range_commands_are_clamped_per_channel_and_flagged) {
  sp_safety* s = make(0, NULL, 0);
  sp_rng g;
  sp_rng_seed(&g, 11, 0);
  for (int k = 0; k < 200; k++) {
    double u[2] = {4 * sp_rng_normal(&g), 4 * sp_rng_normal(&g)}, out[2];
    sp_safety_result r = tick(s, out, 0.01 * k, u);
    int outside = u[0] < -1 || u[0] > 1 || u[1] < -0.5 || u[1] > 0.5;
    CHECK_INT(!!(r.flags & SP_FLAG_CLAMPED), outside);
    CHECK(out[0] >= -1 && out[0] <= 1 && out[1] >= -0.5 && out[1] <= 0.5);
    CHECK(out[0] == fmin(fmax(u[0], -1), 1) && out[1] == fmin(fmax(u[1], -0.5), 0.5));
  }
  sp_safety_stats st;
  sp_safety_stats_get(s, &st);
  CHECK(st.clamped > 0 && st.ticks == 200 && st.faults == 0);
  sp_safety_free(s);
}

TEST(rate_limit_bounds_the_change_per_tick_from_the_safe_command) {
  sp_safety* s = make(0, rate, 0);
  double u[2] = {1.0, 0.5}, out[2];
  // channel 0 ramps by 10/s * 0.01 s = 0.1 per tick from the safe command 0
  for (int k = 0; k < 10; k++) {
    sp_safety_result r = tick(s, out, 0.01 * k, u);
    CHECK(r.flags & SP_FLAG_RATE_LIMITED);
    CHECK_CLOSE(out[0], 0.1 * (k + 1), 1e-12, 1e-12);
    CHECK(out[1] == 0.5);
  }
  sp_safety_result r = tick(s, out, 0.1, u);
  CHECK_INT(r.flags, 0);
  // and downwards
  double v[2] = {-1.0, 0.5};
  r = tick(s, out, 0.11, v);
  CHECK(r.flags & SP_FLAG_RATE_LIMITED);
  CHECK_CLOSE(out[0], 0.9, 1e-12, 1e-12);
  sp_safety_free(s);
}

TEST(nan_or_inf_in_command_or_state_sends_the_safe_command_that_tick) {
  sp_safety* s = make(0, NULL, 0);
  double out[2];
  double bad[3][2] = {{NAN, 0.1}, {0.2, INFINITY}, {-INFINITY, NAN}};
  for (int i = 0; i < 3; i++) {
    sp_safety_result r = tick(s, out, 0.01 * i, bad[i]);
    CHECK(r.flags & SP_FLAG_NAN);
    CHECK(r.flags & SP_FLAG_SAFE);
    CHECK_INT(r.cause, SP_CAUSE_NAN_COMMAND);
    CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  }
  double xbad[2] = {NAN, 0}, u[2] = {0.2, 0.2};
  sp_safety_input in = {.t = 1.0, .x = xbad, .t_state_ns = 2000000000, .u = u};
  sp_safety_result r = sp_safety_tick(s, out, &in);
  CHECK_INT(r.cause, SP_CAUSE_NAN_STATE);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  // a good tick afterwards passes again (faults do not latch by default)
  r = tick(s, out, 1.01, u);
  CHECK_INT(r.cause, SP_CAUSE_NONE);
  CHECK(out[0] == 0.2);
  sp_safety_free(s);
}

// a safe behaviour: a PD pulling channel 0 to x0 = 0.5 (nonzero: zero is not safe here)
static int calls;
static int safe_pd(void* user, double* u, const double* x, double t) {
  (void)t;
  calls++;
  if (user) return -1;  // a failing safe behaviour
  u[0] = 4.0 * (0.5 - x[0]) - 1.0 * x[1];
  u[1] = 0.1;
  return 0;
}

static sp_safety* make_behaviour(void* user) {
  sp_safety_config c = {.nx = 2,
                        .nu = 2,
                        .u_min = umin,
                        .u_max = umax,
                        .u_safe = usafe,
                        .period_s = 0.01,
                        .safe_act = safe_pd,
                        .safe_user = user};
  sp_safety* s = NULL;
  char msg[128];
  return sp_safety_new(&s, &c, msg, sizeof msg) ? NULL : s;
}

TEST(a_safe_behaviour_acts_on_the_last_finite_state_on_faults_and_holds) {
  sp_safety* s = make_behaviour(NULL);
  CHECK(s);
  double out[2], u[2] = {0.2, 0.2}, nan_u[2] = {NAN, 0};
  // no state yet: the constant safe command
  sp_safety_input in0 = {.t = 0, .x = NULL, .u = NULL, .hold = 1};
  sp_safety_tick(s, out, &in0);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  // x = (0, 1): 4 (0.5 - 0) - 1 = 1, within the limit 1
  CHECK_INT(tick(s, out, 0.01, u).cause, SP_CAUSE_NONE);
  sp_safety_result r = tick(s, out, 0.02, nan_u);
  CHECK_INT(r.cause, SP_CAUSE_NAN_COMMAND);
  CHECK(r.flags & SP_FLAG_SAFE);
  CHECK_CLOSE(out[0], 1.0, 0, 0);
  CHECK_CLOSE(out[1], 0.1, 0, 0);
  // a NaN state: the behaviour uses the last finite one, clamped to the limits
  double x2[2] = {-1.0, 0.0}, xn[2] = {NAN, NAN};
  sp_safety_input in1 = {.t = 0.03, .x = x2, .t_state_ns = 40000000, .u = u};
  sp_safety_tick(s, out, &in1);
  sp_safety_input in2 = {.t = 0.04, .x = xn, .t_state_ns = 50000000, .u = u};
  r = sp_safety_tick(s, out, &in2);
  CHECK_INT(r.cause, SP_CAUSE_NAN_STATE);
  CHECK_CLOSE(out[0], 1.0, 0, 0);  // 4 * 1.5 = 6, clamped to 1
  // an e-stop and a hold use it too
  sp_safety_estop(s);
  CHECK_INT(tick(s, out, 0.05, u).cause, SP_CAUSE_ESTOP);
  CHECK_CLOSE(out[1], 0.1, 0, 0);
  sp_safety_clear(s);
  sp_safety_input in3 = {.t = 0.06, .x = x2, .t_state_ns = 70000000, .hold = 1};
  r = sp_safety_tick(s, out, &in3);
  CHECK(r.flags & SP_FLAG_HELD);
  CHECK_CLOSE(out[0], 1.0, 0, 0);
  sp_safety_stats st;
  sp_safety_stats_get(s, &st);
  CHECK_INT(st.safe_behaviour, 4);
  CHECK_INT(st.safe_fallback, 0);
  sp_safety_free(s);
}

TEST(a_failing_safe_behaviour_falls_back_to_the_safe_command) {
  int fail = 1;
  sp_safety* s = make_behaviour(&fail);
  double out[2], u[2] = {0.2, 0.2}, nan_u[2] = {NAN, 0};
  tick(s, out, 0.0, u);
  tick(s, out, 0.01, nan_u);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  sp_safety_stats st;
  sp_safety_stats_get(s, &st);
  CHECK_INT(st.safe_fallback, 1);
  sp_safety_free(s);
}

TEST(policy_error_sends_the_safe_command) {
  sp_safety* s = make(0, NULL, 0);
  double out[2] = {9, 9}, x[2] = {0, 0};
  sp_safety_input in = {.t = 0, .x = x, .t_state_ns = 1, .u = NULL, .policy_error = 1};
  sp_safety_result r = sp_safety_tick(s, out, &in);
  CHECK_INT(r.cause, SP_CAUSE_POLICY_ERROR);
  CHECK(r.flags & SP_FLAG_POLICY_ERROR);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  sp_safety_free(s);
}

TEST(watchdog_fires_within_the_timeout_on_missing_or_repeated_state) {
  for (int variant = 0; variant < 2; variant++) {
    sp_safety* s = make(0.055, NULL, 0);
    double u[2] = {0.5, 0.2}, out[2], x[2] = {0, 0};
    double t_fired = -1;
    for (int k = 0; k < 100 && t_fired < 0; k++) {
      double t = 0.01 * k;
      // fresh states until t = 0.2, then nothing new: reads fail (variant 0) or repeat (1)
      int fresh = t < 0.2 - 1e-9;
      sp_safety_input in = {
          .t = t, .x = (fresh || variant) ? x : NULL, .t_state_ns = fresh ? k + 1 : 20, .u = u};
      sp_safety_result r = sp_safety_tick(s, out, &in);
      CHECK_INT(r.state_new, fresh);
      if (r.flags & SP_FLAG_WATCHDOG) {
        CHECK_INT(r.cause, SP_CAUSE_WATCHDOG);
        CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
        t_fired = t;
      } else {
        CHECK(out[0] == 0.5);
      }
    }
    // last new state at t = 0.19: fires at the first tick more than 0.055 s later
    CHECK_CLOSE(t_fired, 0.25, 0, 1e-9);
    sp_safety_stats st;
    sp_safety_stats_get(s, &st);
    CHECK_INT(st.first_cause, SP_CAUSE_WATCHDOG);
    CHECK_CLOSE(st.first_fault_t, 0.25, 0, 1e-9);
    sp_safety_free(s);
  }
}

TEST(watchdog_counts_from_reset_when_no_state_ever_arrives) {
  sp_safety* s = make(0.03, NULL, 0);
  sp_safety_reset(s, 5.0);
  double u[2] = {0, 0}, out[2];
  sp_safety_input in = {.t = 5.02, .u = u};
  CHECK_INT(sp_safety_tick(s, out, &in).cause, SP_CAUSE_NONE);
  in.t = 5.04;
  CHECK_INT(sp_safety_tick(s, out, &in).cause, SP_CAUSE_WATCHDOG);
  sp_safety_free(s);
}

static void* estop_from_thread(void* arg) {
  sp_safety_estop(arg);
  return NULL;
}

TEST(estop_from_another_thread_latches_until_cleared) {
  sp_safety* s = make(0, NULL, 0);
  double u[2] = {0.7, 0.3}, out[2];
  CHECK_INT(tick(s, out, 0, u).cause, SP_CAUSE_NONE);
  pthread_t th;
  CHECK_INT(pthread_create(&th, NULL, estop_from_thread, s), 0);
  pthread_join(th, NULL);
  CHECK(sp_safety_estopped(s));
  for (int k = 1; k < 20; k++) {
    sp_safety_result r = tick(s, out, 0.01 * k, u);
    CHECK_INT(r.cause, SP_CAUSE_ESTOP);
    CHECK(r.flags & SP_FLAG_ESTOP);
    CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  }
  sp_safety_clear(s);
  CHECK(!sp_safety_estopped(s));
  CHECK_INT(tick(s, out, 0.2, u).cause, SP_CAUSE_NONE);
  CHECK(out[0] == 0.7);
  sp_safety_free(s);
}

TEST(latch_faults_holds_the_safe_command_until_clear) {
  sp_safety* s = make(0, NULL, 1);
  double bad[2] = {NAN, 0}, u[2] = {0.4, 0.4}, out[2];
  CHECK_INT(tick(s, out, 0, bad).cause, SP_CAUSE_NAN_COMMAND);
  CHECK_INT(tick(s, out, 0.01, u).cause, SP_CAUSE_LATCHED);
  CHECK(out[0] == usafe[0]);
  sp_safety_clear(s);
  CHECK_INT(tick(s, out, 0.02, u).cause, SP_CAUSE_NONE);
  CHECK(out[0] == 0.4);
  sp_safety_free(s);
}

TEST(hold_sends_the_safe_command_without_a_fault) {
  sp_safety* s = make(0, NULL, 0);
  double u[2] = {0.4, 0.4}, out[2], x[2] = {0, 0};
  sp_safety_input in = {.t = 0, .x = x, .t_state_ns = 1, .u = u, .hold = 1};
  sp_safety_result r = sp_safety_tick(s, out, &in);
  CHECK_INT(r.cause, SP_CAUSE_NONE);
  CHECK_INT(r.flags, SP_FLAG_SAFE | SP_FLAG_HELD);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  sp_safety_free(s);
}

TEST(hold_without_a_command_or_state_is_not_a_fault) {
  // what the loop hands over before the first state has arrived
  sp_safety* s = make(0, NULL, 0);
  double out[2];
  sp_safety_input in = {.t = 0, .x = NULL, .u = NULL, .hold = 1};
  sp_safety_result r = sp_safety_tick(s, out, &in);
  CHECK_INT(r.cause, SP_CAUSE_NONE);
  CHECK_INT(r.flags, SP_FLAG_SAFE | SP_FLAG_HELD);
  CHECK(out[0] == usafe[0] && out[1] == usafe[1]);
  sp_safety_free(s);
}

// the loop passes no command while held: that is the hold, not a NaN-command fault (a robot with
// on_fault = "stop" would otherwise stop at its first held tick)
TEST(hold_without_a_policy_command_is_not_a_fault) {
  sp_safety* s = make(0, NULL, 1);
  double out[2], x[2] = {0, 0};
  for (int k = 0; k < 3; k++) {
    sp_safety_input in = {.t = 0.01 * k, .x = x, .t_state_ns = k + 1, .u = NULL, .hold = 1};
    sp_safety_result r = sp_safety_tick(s, out, &in);
    CHECK_INT(r.cause, SP_CAUSE_NONE);
    CHECK_INT(r.flags, SP_FLAG_SAFE | SP_FLAG_HELD);
  }
  sp_safety_stats st;
  sp_safety_stats_get(s, &st);
  CHECK(st.faults == 0);
  // and once resumed, a command passes (nothing latched while held)
  double u[2] = {0.2, 0.2};
  CHECK_INT(tick(s, out, 0.05, u).cause, SP_CAUSE_NONE);
  CHECK(out[0] == 0.2);
  sp_safety_free(s);
}

TEST(bad_configs_are_refused_naming_the_problem) {
  sp_safety* s = (sp_safety*)1;
  char msg[160];
  double unsafe[2] = {0.0, 0.9};  // channel 1 above its limit 0.5
  sp_safety_config c = {
      .nx = 2, .nu = 2, .u_min = umin, .u_max = umax, .u_safe = unsafe, .period_s = 0.01};
  CHECK_INT(sp_safety_new(&s, &c, msg, sizeof msg), SP_ERANGE);
  CHECK(s == NULL);
  CHECK(strstr(msg, "channel 1") != NULL);
  c.u_safe = NULL;
  CHECK_INT(sp_safety_new(&s, &c, msg, sizeof msg), SP_EINVAL);
  c.u_safe = usafe;
  c.period_s = 0;
  CHECK_INT(sp_safety_new(&s, &c, msg, sizeof msg), SP_EINVAL);
}

TEST(tick_does_not_allocate) {
  sp_safety* s = make(0.05, rate, 1);
  double out[2];
  sp_rng g;
  sp_rng_seed(&g, 3, 0);
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 10000; k++) {
    double u[2] = {sp_rng_normal(&g), k % 97 == 0 ? NAN : sp_rng_normal(&g)};
    tick(s, out, 0.01 * k, u);
    if (k % 500 == 0) sp_safety_clear(s);
  }
  CHECK(sp_alloc_count() == before);
  sp_safety_free(s);
}

TEST_MAIN()
