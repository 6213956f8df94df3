// test_backend_replay.c: hal/backend_replay.c serves recordings (arrays or a saved log) as a plant.
#include <unistd.h>

#include "engine/core/error.h"
#include "hal/backend_model.h"
#include "hal/backend_replay.h"
#include "hal/hal.h"
#include "hal/log.h"
#include "hal/loop.h"
#include "hal/safety.h"
#include "test.h"

static const double T[4] = {0.0, 0.1, 0.2, 0.3};
static const double X[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static sp_plant* open_arrays(void) {
  sp_plant_replay_config c = {.n = 4, .nx = 2, .nu = 1, .t = T, .x = X};
  sp_plant* p = NULL;
  if (sp_plant_open(&p, "replay", &c, NULL, 0) || sp_plant_configure(p, NULL, 0) ||
      sp_plant_activate(p)) {
    sp_plant_close(p);
    return NULL;
  }
  return p;
}

TEST(replay_serves_samples_in_order_then_reports_the_end) {
  sp_plant* p = open_arrays();
  CHECK(p);
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  CHECK_INT(caps->nx, 2);
  CHECK_INT(caps->nu, 1);
  CHECK_CLOSE(caps->rate_hz, 10.0, 1e-12, 0);
  CHECK_STR(caps->x_names[1], "x2");
  CHECK_STR(caps->u_names[0], "u1");
  double x[2], u = 0;
  int64_t t;
  for (int i = 0; i < 4; i++) {
    CHECK_INT(sp_plant_read(p, x, &t, NULL), 0);
    CHECK(x[0] == X[2 * i] && x[1] == X[2 * i + 1]);
    CHECK_INT(t, (int64_t)(i * 100000000LL));
    CHECK_INT(sp_plant_read(p, x, &t, NULL), 0);  // reading again: same sample
    CHECK(x[0] == X[2 * i]);
    CHECK_INT(sp_plant_write(p, &u), 0);
  }
  CHECK_INT(sp_plant_read(p, x, &t, NULL), SP_EIO);
  CHECK_INT(sp_plant_reset(p, x), SP_EUNSUPPORTED);
  CHECK_INT(sp_plant_reset(p, NULL), 0);
  CHECK_INT(sp_plant_read(p, x, &t, NULL), 0);
  CHECK(x[0] == 1.0);
  sp_plant_close(p);
}

TEST(replay_refuses_times_that_do_not_increase) {
  double t[3] = {0.0, 0.2, 0.1}, x[3] = {0, 0, 0};
  sp_plant_replay_config c = {.n = 3, .nx = 1, .t = t, .x = x};
  sp_plant* p = NULL;
  char msg[256];
  CHECK_INT(sp_plant_open(&p, "replay", &c, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "strictly increasing (sample 2)") != NULL);
  CHECK_INT(sp_plant_open(&p, "replay://", NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_INT(sp_plant_open(&p, "replay:///nonexistent/dir", NULL, msg, sizeof msg), SP_EIO);
  CHECK(p == NULL);
}

static int act_drive(void* user, double* u, const double* x, double t, long k) {
  u[0] = 0.5 - x[2];
  u[1] = 0.3 * sin(t);
  return 0;
}

static int act_zero(void* user, double* u, const double* x, double t, long k) {
  u[0] = 0;
  return 0;
}

TEST(a_saved_log_replays_the_recorded_states_with_their_names) {
  // record a noisy model plant through the loop and save its log
  static const double vstd[4] = {0.01, 0.01, 0.01, 0.01}, safe[2] = {0, 0};
  sp_plant_model_config mc = {.model = "unicycle_accel",
                              .rate_hz = 100,
                              .sensor_std = vstd,
                              .integrator = SP_INTEGRATOR_RK4};
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "model", &mc, NULL, 0), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.01};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_drive};
  CHECK_INT(sp_safety_new(&s, &sc, NULL, 0), 0);
  CHECK_INT(sp_loop_new(&l, p, s, &lc, NULL, 0), 0);
  sp_traj rec;
  sp_rollout_opts o = {.steps = 120, .seed = 8};
  CHECK_INT(sp_loop_rollout(l, &rec, &o), 0);
  char dir[] = "/tmp/sp_test_replay_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char msg[256];
  CHECK_INT(sp_log_save(sp_loop_log(l), dir, msg, sizeof msg), 0);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);

  // replay it through a loop of its own: the states seen are the recorded ones
  char uri[128];
  snprintf(uri, sizeof uri, "replay://%s", dir);
  CHECK_INT(sp_plant_open(&p, uri, NULL, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  CHECK_INT(sp_plant_capabilities(p)->nu, 2);
  CHECK_STR(sp_plant_capabilities(p)->x_names[3], "phi");
  CHECK_STR(sp_plant_capabilities(p)->u_names[0], "throttle");
  sp_safety_config sc1 = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.01};
  CHECK_INT(sp_safety_new(&s, &sc1, NULL, 0), 0);
  lc.act = act_zero;
  CHECK_INT(sp_loop_new(&l, p, s, &lc, NULL, 0), 0);
  sp_traj rep;
  sp_rollout_opts o2 = {.steps = 120};
  CHECK_INT(sp_loop_rollout(l, &rep, &o2), 0);
  CHECK_INT(rep.n, 120);
  CHECK(memcmp(rep.x, rec.x, sizeof(double) * 4 * 120) == 0);
  for (long i = 0; i < 120; i++) CHECK_INT(rep.flags[i] & SP_FLAG_DROPPED, 0);
  CHECK(isnan(rep.x[4 * 120]));  // after the last sample: end of recording
  sp_traj_free(&rec);
  sp_traj_free(&rep);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  const char* names[] = {"k.npy", "t.npy", "flags.npy", "x.npy", "u.npy", "log.csv"};
  for (int i = 0; i < 6; i++) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

TEST_MAIN()
