// bench_loop.c: control-loop figures: real-time wake-up jitter (p50/p99/max), period, overruns
// and tick cost at 500 Hz and 1 kHz over the model plant, and the lockstep tick rate. One JSON line
// per case; timings are informative only. Usage: bench_loop [seconds per real-time case, def. 2]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hal/backend_model.h"
#include "hal/loop.h"
#include "hal/safety.h"

// the car's speed loop: throttle = 1 - v, steer = -0.5 phi
static int act(void* user, double* u, const double* x, double t, long k) {
  u[0] = 1.0 - x[2];
  u[1] = -0.5 * x[3];
  return 0;
}

static int run(sp_loop_mode mode, double rate, double seconds) {
  static const double wstd[4] = {1e-3, 1e-3, 1e-3, 1e-3}, safe[2] = {0, 0};
  sp_plant_model_config mc = {.model = "unicycle_accel",
                              .rate_hz = rate,
                              .substeps = 4,
                              .integrator = SP_INTEGRATOR_RK4,
                              .process_std = wstd};
  sp_safety_config sc = {
      .nx = 4, .nu = 2, .u_safe = safe, .period_s = 1.0 / rate, .watchdog_s = 0.1};
  sp_loop_config lc = {.mode = mode, .act = act, .rt_priority = 50};
  sp_plant* p = NULL;
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  char msg[256];
  if (sp_plant_open(&p, "model", &mc, msg, sizeof msg) || sp_plant_configure(p, msg, sizeof msg) ||
      sp_safety_new(&s, &sc, msg, sizeof msg) || sp_loop_new(&l, p, s, &lc, msg, sizeof msg)) {
    fprintf(stderr, "bench_loop: %s\n", msg);
    return 1;
  }
  long steps = (long)(seconds * rate);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int rc = mode == SP_LOOP_LOCKSTEP ? sp_loop_run(l, steps) : sp_loop_start(l, steps);
  if (!rc && mode == SP_LOOP_REALTIME) rc = sp_loop_wait(l);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double wall = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
  sp_loop_stats st;
  sp_loop_stats_get(l, &st);
  if (mode == SP_LOOP_LOCKSTEP) {
    printf(
        "{\"name\": \"loop_lockstep\", \"ticks\": %llu, \"ticks_per_s\": %.0f, "
        "\"tick_mean_us\": %.3f, \"tick_max_us\": %.3f}\n",
        (unsigned long long)st.ticks, (double)st.ticks / wall, st.tick_mean_us, st.tick_max_us);
  } else {
    printf(
        "{\"name\": \"loop_realtime\", \"rate_hz\": %.0f, \"ticks\": %llu, "
        "\"sched_fifo\": %d, \"jitter_p50_us\": %.0f, \"jitter_p99_us\": %.0f, "
        "\"jitter_max_us\": %.1f, \"period_min_us\": %.1f, \"period_mean_us\": %.2f, "
        "\"period_max_us\": %.1f, \"overruns\": %llu, \"missed\": %llu, "
        "\"tick_mean_us\": %.2f, \"read_mean_us\": %.2f, \"write_mean_us\": %.2f, "
        "\"log_overflows\": %llu}\n",
        rate, (unsigned long long)st.ticks, st.sched_fifo, st.jitter_p50_us, st.jitter_p99_us,
        st.jitter_max_us, st.period_min_us, st.period_mean_us, st.period_max_us,
        (unsigned long long)st.overruns, (unsigned long long)st.missed, st.tick_mean_us,
        st.read_mean_us, st.write_mean_us, (unsigned long long)st.log_overflows);
  }
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  return rc != 0;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  if (!(seconds > 0)) seconds = 2.0;
  int bad = run(SP_LOOP_LOCKSTEP, 1000, 100);
  bad |= run(SP_LOOP_REALTIME, 500, seconds);
  bad |= run(SP_LOOP_REALTIME, 1000, seconds);
  return bad;
}
