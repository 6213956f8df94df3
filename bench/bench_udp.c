// bench_udp.c: the control loop over loopback UDP: round-trip latency (p50/p99/max, from the
// protocol's echo timestamps) and real-time loop jitter at 500 Hz and 1 kHz, against an
// in-process `spinal bridge` (hal/bridge.c) serving the car model in lockstep (one step and one
// STATE per COMMAND, so a round trip is: COMMAND out, plant step, STATE back). One JSON line per
// rate; timings are informative only. Usage: bench_udp [seconds per case, default 2]
#include <stdio.h>
#include <stdlib.h>

#include "hal/backend_model.h"
#include "hal/backend_udp.h"
#include "hal/bridge.h"
#include "hal/loop.h"
#include "hal/safety.h"

// the car's speed loop: throttle = 1 - v, steer = -0.5 phi
static int act(void* user, double* u, const double* x, double t, long k) {
  u[0] = 1.0 - x[2];
  u[1] = -0.5 * x[3];
  return 0;
}

static int run(double rate, double seconds) {
  static const double safe[2] = {0, 0};
  sp_plant_model_config mc = {
      .model = "unicycle_accel", .rate_hz = rate, .substeps = 4, .integrator = SP_INTEGRATOR_RK4};
  sp_bridge_config bc = {.listen = "127.0.0.1:0", .watchdog_s = 0.5, .u_safe = safe};
  sp_safety_config sc = {
      .nx = 4, .nu = 2, .u_safe = safe, .period_s = 1.0 / rate, .watchdog_s = 0.1};
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME, .act = act, .rt_priority = 50};
  sp_plant *robot = NULL, *host = NULL;
  sp_bridge* b = NULL;
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  char msg[256], uri[64];
  int rc = sp_plant_open(&robot, "model", &mc, msg, sizeof msg);
  if (!rc) rc = sp_plant_configure(robot, msg, sizeof msg);
  if (!rc) rc = sp_bridge_new(&b, robot, &bc, msg, sizeof msg);
  if (!rc) {
    snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", sp_bridge_port(b));
    sp_plant_udp_config uc = {.nx = 4, .nu = 2, .rate_hz = rate};
    rc = sp_plant_open(&host, uri, &uc, msg, sizeof msg);
  }
  if (!rc) rc = sp_plant_configure(host, msg, sizeof msg);
  if (!rc) rc = sp_safety_new(&s, &sc, msg, sizeof msg);
  if (!rc) rc = sp_loop_new(&l, host, s, &lc, msg, sizeof msg);
  if (!rc) rc = sp_loop_start(l, (long)(seconds * rate));
  if (!rc) rc = sp_loop_wait(l);
  if (rc) {
    fprintf(stderr, "bench_udp: %s\n", msg);
  } else {
    sp_loop_stats st;
    sp_udp_stats us;
    sp_bridge_stats bs;
    sp_loop_stats_get(l, &st);
    sp_plant_udp_stats(host, &us);
    sp_bridge_stats_get(b, &bs);
    printf(
        "{\"name\": \"udp_loop\", \"rate_hz\": %.0f, \"ticks\": %llu, \"sched_fifo\": %d, "
        "\"rtt_p50_us\": %.0f, \"rtt_p99_us\": %.0f, \"rtt_max_us\": %.1f, \"rtt_mean_us\": %.1f, "
        "\"rtt_samples\": %llu, \"jitter_p50_us\": %.0f, \"jitter_p99_us\": %.0f, "
        "\"jitter_max_us\": %.1f, \"period_mean_us\": %.2f, \"overruns\": %llu, "
        "\"read_mean_us\": %.2f, \"write_mean_us\": %.2f, \"faults\": %llu, "
        "\"robot_steps\": %llu, \"dropped\": %llu, \"lost\": %llu}\n",
        rate, (unsigned long long)st.ticks, st.sched_fifo, us.rtt_p50_us, us.rtt_p99_us,
        us.rtt_max_us, us.rtt_mean_us, (unsigned long long)us.rtt_samples, st.jitter_p50_us,
        st.jitter_p99_us, st.jitter_max_us, st.period_mean_us, (unsigned long long)st.overruns,
        st.read_mean_us, st.write_mean_us, (unsigned long long)st.faults,
        (unsigned long long)bs.steps,
        (unsigned long long)(us.dropped_total + bs.link.dropped_total),
        (unsigned long long)(us.lost + bs.link.lost));
  }
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(host);
  sp_bridge_free(b);
  sp_plant_close(robot);
  return rc != 0;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  if (!(seconds > 0)) seconds = 2.0;
  int bad = run(500, seconds);
  bad |= run(1000, seconds);
  return bad;
}
