// test_loop.c: hal/loop.c lockstep and real-time drivers, rollouts, statistics, command queue.
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "fake_plant.h"
#include "hal/loop.h"
#include "test.h"

typedef struct rig {
  sp_plant* p;
  sp_safety* s;
  sp_loop* l;
} rig;

// a 2-channel fake plant, unbounded safety (optionally a watchdog), and a loop
static int rig_open(rig* r, sp_loop_mode mode, double rate, sp_act_fn act, void* user,
                    const fake_config* fcfg, double watchdog_s, int nparams, int stop_on_fault) {
  fake_register();
  memset(r, 0, sizeof *r);
  fake_config fc = fcfg ? *fcfg : (fake_config){.n = 2, .rate_hz = rate};
  static const double safe[2] = {-7.0, -7.0};
  sp_safety_config sc = {
      .nx = 2, .nu = 2, .u_safe = safe, .period_s = 1.0 / rate, .watchdog_s = watchdog_s};
  sp_loop_config lc = {.mode = mode,
                       .act = act,
                       .user = user,
                       .nparams = nparams,
                       .stop_on_fault = stop_on_fault,
                       .robot = "testbot"};
  char msg[256];
  int rc = sp_plant_open(&r->p, "fake", &fc, msg, sizeof msg);
  if (!rc) rc = sp_plant_configure(r->p, msg, sizeof msg);
  if (!rc) rc = sp_safety_new(&r->s, &sc, msg, sizeof msg);
  if (!rc) rc = sp_loop_new(&r->l, r->p, r->s, &lc, msg, sizeof msg);
  if (rc) fprintf(stderr, "  rig: %s\n", msg);
  return rc;
}

static void rig_close(rig* r) {
  sp_loop_free(r->l);
  sp_safety_free(r->s);
  sp_plant_close(r->p);
}

// a feedback policy u = -K x + sin(t), deterministic
static int act_fb(void* user, double* u, const double* x, double t, long k) {
  u[0] = -2.0 * x[0] + sin(t);
  u[1] = -0.5 * x[1] + 0.01 * (double)k;
  return 0;
}

TEST(lockstep_rollouts_from_the_same_start_are_identical) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, NULL, 0, 0, 0), 0);
  double x0[2] = {1.0, -0.5};
  sp_rollout_opts o = {.steps = 300, .x0 = x0, .seed = 4};
  sp_traj a, b;
  CHECK_INT(sp_loop_rollout(r.l, &a, &o), 0);
  CHECK_INT(sp_loop_rollout(r.l, &b, &o), 0);
  CHECK_INT(a.n, 300);
  CHECK_INT(b.n, 300);
  CHECK(memcmp(a.x, b.x, sizeof(double) * 2 * 301) == 0);
  CHECK(memcmp(a.u, b.u, sizeof(double) * 2 * 300) == 0);
  CHECK(memcmp(a.t, b.t, sizeof(double) * 301) == 0);
  CHECK(a.x[0] == 1.0 && a.x[1] == -0.5);
  sp_traj_free(&a);
  sp_traj_free(&b);
  rig_close(&r);
}

TEST(rollout_records_states_commands_times_and_metadata) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 50, act_fb, NULL, NULL, 0, 3, 0), 0);
  double x0[2] = {0.2, 0.1};
  sp_rollout_opts o = {.seconds = 1.0, .x0 = x0, .seed = 77};
  sp_traj tr;
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
  CHECK_INT(tr.n, 50);
  CHECK_INT(tr.nx, 2);
  CHECK_INT(tr.lost, 0);
  CHECK_CLOSE(tr.dt, 0.02, 0, 1e-15);
  CHECK_STR(tr.robot, "testbot");
  CHECK_STR(tr.backend, "fake");
  CHECK_INT(tr.seed, 77);
  CHECK(tr.params_hash != 0);
  for (long i = 0; i < tr.n; i++) {
    CHECK_INT(tr.k[i], i);
    CHECK_CLOSE(tr.t[i], 0.02 * i, 0, 1e-12);
    // the fake plant integrates x += dt u: consecutive rows obey it exactly
    for (int j = 0; j < 2; j++)
      CHECK_CLOSE(tr.x[2 * (i + 1) + j], tr.x[2 * i + j] + 0.02 * tr.u[2 * i + j], 1e-12, 1e-15);
    CHECK_INT(tr.flags[i] & SP_FLAG_SAFE, 0);
  }
  CHECK_CLOSE(tr.t[50], 1.0, 0, 1e-12);
  sp_traj_free(&tr);
  rig_close(&r);
}

TEST(a_rollout_longer_than_memory_allows_is_refused_before_it_starts) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 50, act_fb, NULL, NULL, 0, 0, 0), 0);
  long max = sp_loop_max_steps(2, 2);
  CHECK(max > 1000000);  // hours of data at 50 Hz still fit
  CHECK(sp_loop_max_steps(200, 100) < max);
  sp_traj tr;
  sp_rollout_opts o = {.steps = max + 1};
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), SP_ERANGE);
  CHECK(tr.n == 0 && tr.x == NULL);
  sp_rollout_opts big = {.seconds = 1e300};  // would overflow a step count
  CHECK_INT(sp_loop_rollout(r.l, &tr, &big), SP_ERANGE);
  CHECK_INT(((fake_impl*)r.p->impl)->writes, 0);  // nothing ran
  rig_close(&r);
}

TEST(lockstep_ticks_do_not_allocate) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, NULL, 0.5, 0, 0), 0);
  CHECK_INT(sp_loop_run(r.l, 2000), 0);  // the first run grows the log arrays
  sp_log_clear(sp_loop_log(r.l));
  uint64_t before = sp_alloc_count();
  CHECK_INT(sp_loop_run(r.l, 2000), 0);  // fits the 4096-slot ring and the grown arrays
  CHECK(sp_alloc_count() == before);
  rig_close(&r);
}

static int act_fail_at_5(void* user, double* u, const double* x, double t, long k) {
  u[0] = u[1] = 1.0;
  return k == 5 ? -1 : 0;
}

TEST(policy_failure_sends_the_safe_command_and_stops_when_asked) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fail_at_5, NULL, NULL, 0, 0, 1), 0);
  sp_rollout_opts o = {.steps = 20};
  sp_traj tr;
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
  CHECK_INT(tr.n, 6);  // ticks 0..5, stopped after the fault
  CHECK(tr.u[2 * 4] == 1.0);
  CHECK(tr.flags[5] & SP_FLAG_POLICY_ERROR);
  CHECK(tr.flags[5] & SP_FLAG_SAFE);
  CHECK(tr.u[2 * 5] == -7.0 && tr.u[2 * 5 + 1] == -7.0);
  sp_traj_free(&tr);
  rig_close(&r);
}

TEST(watchdog_in_the_loop_fires_within_its_timeout_when_state_stops_arriving) {
  rig r;
  fake_config fc = {.n = 2, .rate_hz = 100, .freeze_time_from = 30};
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, &fc, 0.055, 0, 0), 0);
  sp_rollout_opts o = {.steps = 60};
  sp_traj tr;
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
  long first = -1;
  for (long i = 0; i < tr.n; i++) {
    if (i >= 30) CHECK(tr.flags[i] & SP_FLAG_DROPPED);  // same timestamp: not a new state
    if (first < 0 && (tr.flags[i] & SP_FLAG_WATCHDOG)) first = i;
    if (first >= 0) CHECK(tr.u[2 * i] == -7.0);
  }
  // last new state at tick 29 (t = 0.29): the watchdog trips at the first tick after 0.345
  CHECK_INT(first, 35);
  sp_traj_free(&tr);
  rig_close(&r);
}

TEST(robot_reporting_its_estop_latches_the_loops_estop_in_the_same_tick) {
  rig r;
  fake_config fc = {.n = 2, .rate_hz = 100, .estop_from = 10};
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, &fc, 0, 0, 0), 0);
  sp_rollout_opts o = {.steps = 20};
  sp_traj tr;
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
  CHECK_INT(tr.flags[9] & SP_FLAG_SAFE, 0);
  for (long i = 10; i < tr.n; i++) {
    CHECK(tr.flags[i] & SP_FLAG_PLANT_ESTOP);
    CHECK(tr.flags[i] & SP_FLAG_SAFE);
    CHECK(tr.u[2 * i] == -7.0 && tr.u[2 * i + 1] == -7.0);
  }
  CHECK(sp_safety_estopped(r.s));
  sp_traj_free(&tr);
  rig_close(&r);
}

TEST(hold_and_resume_take_effect_at_the_next_tick_boundary) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_run(r.l, 3), 0);
  CHECK_INT(sp_loop_hold(r.l), 0);
  CHECK_INT(sp_loop_run(r.l, 3), 0);
  CHECK_INT(sp_loop_resume(r.l), 0);
  CHECK_INT(sp_loop_run(r.l, 3), 0);
  sp_log* g = sp_loop_log(r.l);
  CHECK_INT(sp_log_count(g), 9);
  for (int i = 0; i < 9; i++) {
    int held = i >= 3 && i < 6;
    CHECK_INT(!!(sp_log_flags(g)[i] & SP_FLAG_HELD), held);
    CHECK_INT(sp_log_u(g)[2 * i] == -7.0, held);
  }
  rig_close(&r);
}

TEST(modes_refuse_the_other_drivers) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_LOCKSTEP, 100, act_fb, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_start(r.l, 10), SP_ESTATE);
  rig_close(&r);
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_fb, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_run(r.l, 10), SP_ESTATE);
  CHECK_INT(sp_loop_start(r.l, 0), 0);
  CHECK_INT(sp_loop_start(r.l, 0), SP_ESTATE);  // already running
  CHECK_INT(sp_loop_stop(r.l), 0);
  CHECK(!sp_loop_running(r.l));
  rig_close(&r);
}

TEST(real_time_statistics_record_jitter_and_period) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_fb, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_start(r.l, 300), 0);
  CHECK_INT(sp_loop_wait(r.l), 0);
  sp_loop_stats st;
  sp_loop_stats_get(r.l, &st);
  CHECK_INT(st.ticks, 300);
  CHECK(st.jitter_max_us > 0);
  CHECK(st.jitter_p50_us <= st.jitter_p99_us);
  CHECK(st.jitter_p99_us <= st.jitter_max_us + 1);
  CHECK(st.period_min_us <= st.period_mean_us && st.period_mean_us <= st.period_max_us);
  // the mean period is the nominal one plus whatever skipped deadlines added
  CHECK_CLOSE(st.period_mean_us, 1000.0 * (299.0 + (double)st.missed) / 299.0, 0, 150);
  CHECK(st.tick_max_us >= st.read_max_us);
  CHECK_INT(sp_log_count(sp_loop_log(r.l)), 300);
  rig_close(&r);
}

static int act_sleepy(void* user, double* u, const double* x, double t, long k) {
  u[0] = u[1] = 0;
  if (k % 10 == 5) {
    struct timespec ts = {0, 3000000};  // 3 ms at 1 kHz: overruns
    nanosleep(&ts, NULL);
  }
  return 0;
}

TEST(overrun_is_counted_when_the_policy_sleeps_past_the_deadline) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_sleepy, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_start(r.l, 100), 0);
  CHECK_INT(sp_loop_wait(r.l), 0);
  sp_loop_stats st;
  sp_loop_stats_get(r.l, &st);
  CHECK(st.overruns >= 10);
  CHECK(st.missed >= 20);  // each 3 ms sleep skips at least two 1 ms deadlines
  sp_log* g = sp_loop_log(r.l);
  CHECK_INT(sp_log_count(g), 100);
  for (int k = 5; k < 95; k += 10) CHECK(sp_log_flags(g)[k + 1] & SP_FLAG_LATE);
  rig_close(&r);
}

// policy reads its two parameters, which the setter always writes as a pair (v, v)
typedef struct {
  sp_loop* l;
} param_user;

static int act_params(void* user, double* u, const double* x, double t, long k) {
  param_user* pu = user;
  const double* p = sp_loop_params(pu->l);
  u[0] = p[0];
  u[1] = p[1];
  return 0;
}

TEST(parameter_swaps_apply_whole_at_tick_boundaries_while_running) {
  rig r;
  param_user pu;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_params, &pu, NULL, 0, 2, 0), 0);
  pu.l = r.l;
  CHECK_INT(sp_loop_start(r.l, 0), 0);
  for (int v = 1; v <= 40; v++) {
    double p[2] = {v, v};
    CHECK_INT(sp_loop_set_params(r.l, p, 2), 0);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  CHECK_INT(sp_loop_stop(r.l), 0);
  sp_log* g = sp_loop_log(r.l);
  long n = sp_log_count(g);
  CHECK(n > 60);
  double prev = 0;
  for (long i = 0; i < n; i++) {
    const double* u = sp_log_u(g) + 2 * i;
    if (u[0] != u[1]) SP_FAIL_("tick %ld saw a torn parameter vector (%g, %g)", i, u[0], u[1]);
    if (u[0] < prev) SP_FAIL_("tick %ld went back from %g to %g", i, prev, u[0]);
    prev = u[0];
  }
  CHECK(prev == 40.0);  // the last swap was applied
  double bad[3] = {0};
  CHECK_INT(sp_loop_set_params(r.l, bad, 3), SP_EINVAL);
  rig_close(&r);
}

TEST(estop_from_another_thread_puts_a_running_loop_in_its_safe_command) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_fb, NULL, NULL, 0, 0, 0), 0);
  CHECK_INT(sp_loop_start(r.l, 0), 0);
  struct timespec ts = {0, 30000000};
  nanosleep(&ts, NULL);
  CHECK_INT(sp_loop_estop(r.l), 0);
  nanosleep(&ts, NULL);
  CHECK_INT(sp_loop_stop(r.l), 0);
  sp_log* g = sp_loop_log(r.l);
  long n = sp_log_count(g), first = -1;
  for (long i = 0; i < n; i++) {
    int e = (sp_log_flags(g)[i] & SP_FLAG_ESTOP) != 0;
    if (e && first < 0) first = i;
    if (first >= 0) {
      CHECK(e);  // latched
      CHECK(sp_log_u(g)[2 * i] == -7.0);
    }
  }
  CHECK(first > 0 && first < n);
  // the plant got the safe command as the loop exited
  CHECK(((fake_impl*)r.p->impl)->u_last[0] == -7.0);
  rig_close(&r);
}

static int act_k(void* user, double* u, const double* x, double t, long k) {
  u[0] = u[1] = (double)k;
  return 0;
}

TEST(latest_sample_is_a_consistent_snapshot_while_the_loop_runs) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 1000, act_k, NULL, NULL, 0, 0, 0), 0);
  double x[2], u[2], t;
  long k;
  uint32_t f;
  CHECK_INT(sp_loop_latest(r.l, x, u, &t, &k, &f), SP_ENOTFOUND);
  CHECK_INT(sp_loop_start(r.l, 0), 0);
  long last = -1, reads = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    if (sp_loop_latest(r.l, x, u, &t, &k, &f) == 0) {
      // the policy wrote u = (k, k) at tick k: a torn snapshot would mix ticks
      if (u[0] != (double)k || u[1] != (double)k) SP_FAIL_("torn snapshot at tick %ld", k);
      if (k < last) SP_FAIL_("tick went back from %ld to %ld", last, k);
      last = k;
      reads++;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) < 100000000L);
  CHECK_INT(sp_loop_stop(r.l), 0);
  CHECK(reads > 0 && last > 10);
  rig_close(&r);
}

TEST(real_time_rollout_returns_every_tick) {
  rig r;
  CHECK_INT(rig_open(&r, SP_LOOP_REALTIME, 500, act_fb, NULL, NULL, 0.1, 0, 0), 0);
  double x0[2] = {0.3, 0.3};
  sp_rollout_opts o = {.steps = 100, .x0 = x0};
  sp_traj tr;
  CHECK_INT(sp_loop_rollout(r.l, &tr, &o), 0);
  CHECK_INT(tr.n, 100);
  CHECK_INT(tr.lost, 0);
  CHECK(tr.x[0] == 0.3);
  for (long i = 1; i <= 100; i++) CHECK(tr.t[i] > tr.t[i - 1]);
  sp_traj_free(&tr);
  rig_close(&r);
}

TEST_MAIN()
