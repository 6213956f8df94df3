// test_gait_switch.c: gait-to-gait changes while the quadruped walks, through the mujoco plant's
// runtime settings (hal/lowlevel.h sp_lowlevel_request via sp_plant_set_lowlevel): trot -> pace
// -> bound -> trot keeps the robot up (rocking no more than walking in the new gait from the
// start) and each switch reaches the new gait's footfall pattern within 4 s (measured from
// MuJoCo's foot contacts over the last 1.5 s, not from the controller's schedule); changes
// requested from another thread while the plant steps apply whole at a tick boundary (never half of
// a request); the ticks allocate nothing; bad names and values are refused naming the setting.
#include <math.h>
#include <mujoco/mujoco.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/gait.h"
#include "hal/backend_mujoco.h"
#include "hal/hal.h"
#include "hal/lowlevel.h"
#include "test.h"

static const char* const LEG[4] = {"FR", "FL", "RR", "RL"};

static sp_plant* open_quadruped(char* msg, size_t n) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  static char path[512];
  snprintf(path, sizeof path, "%s/robots/quadruped.xml", src ? src : "..");
  static const sp_plant_mujoco_state st[3] = {{SP_MJ_BODY_POS, "trunk", 0, 1, 0},
                                              {SP_MJ_BODY_POS, "trunk", 1, 1, 0},
                                              {SP_MJ_BODY_POS, "trunk", 2, 1, 0}};
  static const sp_plant_mujoco_actuator act[3] = {
      {0, "vx", 1, 0}, {1, "vy", 1, 0}, {2, "wz", 1, 0}};
  static sp_lowlevel_config ll = {.kind = "gait"};
  sp_plant_mujoco_config c = {.mjcf = path,
                              .rate_hz = 50,
                              .nx = 3,
                              .state = st,
                              .nu = 3,
                              .actuators = act,
                              .nactuators = 3,
                              .keyframe = "stand",
                              .lowlevel = &ll};
  sp_plant* p = NULL;
  if (sp_plant_open(&p, "mujoco", &c, msg, n) || sp_plant_configure(p, msg, n) ||
      sp_plant_activate(p)) {
    sp_plant_close(p);
    return NULL;
  }
  return p;
}

// which feet touch the floor now
static void contacts(const mjModel* m, const mjData* d, const int* foot, int* down) {
  for (int l = 0; l < 4; l++) down[l] = 0;
  for (int i = 0; i < d->ncon; i++)
    for (int l = 0; l < 4; l++)
      if (d->contact[i].geom1 == foot[l] || d->contact[i].geom2 == foot[l]) down[l] = 1;
  (void)m;
}

typedef struct segment {
  double zmin, tilt_max;
  double agree[4][4];  // fraction of samples in which legs a and b were both down or both up
} segment;

// walk `seconds` at vx; the footfall statistics over the last `last` seconds
static int walk(sp_plant* p, double vx, double seconds, double last, segment* s) {
  mjModel* m = sp_plant_mujoco_model(p);
  mjData* d = sp_plant_mujoco_data(p);
  int foot[4], trunk = mj_name2id(m, mjOBJ_BODY, "trunk");
  char name[16];
  for (int l = 0; l < 4; l++) {
    snprintf(name, sizeof name, "%s_foot", LEG[l]);
    foot[l] = mj_name2id(m, mjOBJ_GEOM, name);
  }
  double u[3] = {vx, 0, 0};
  int n = (int)lround(seconds * 50), from = n - (int)lround(last * 50), cnt = 0;
  int same[4][4] = {{0}};
  s->zmin = 1e9;
  s->tilt_max = 0;
  for (int k = 0; k < n; k++) {
    int rc = sp_plant_write(p, u);
    if (rc) return rc;
    double z = d->xpos[3 * trunk + 2], tilt = acos(fmin(1, d->xmat[9 * trunk + 8]));
    if (z < s->zmin) s->zmin = z;
    if (tilt > s->tilt_max) s->tilt_max = tilt;
    if (k < from) continue;
    int down[4];
    contacts(m, d, foot, down);
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++) same[a][b] += down[a] == down[b];
    cnt++;
  }
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++) s->agree[a][b] = same[a][b] / (double)cnt;
  return 0;
}

// the pairs a gait moves together (legs FR 0, FL 1, RR 2, RL 3): the other two pairs of the
// same front/rear or side relation move in antiphase
static void pattern_of(int gait, int pair[2][2]) {
  static const int together[3][2][2] = {{{0, 3}, {1, 2}}, {{0, 2}, {1, 3}}, {{0, 1}, {2, 3}}};
  for (int i = 0; i < 2; i++) pair[i][0] = together[gait][i][0], pair[i][1] = together[gait][i][1];
}

// in phase: the gait's pairs agree most of the time; out of phase: every other pair mostly differs
static int shows_gait(const segment* s, int gait, double* in_min, double* out_max) {
  int pair[2][2];
  pattern_of(gait, pair);
  *in_min = 1, *out_max = 0;
  for (int a = 0; a < 4; a++)
    for (int b = a + 1; b < 4; b++) {
      int in = (a == pair[0][0] && b == pair[0][1]) || (a == pair[1][0] && b == pair[1][1]);
      if (in)
        *in_min = fmin(*in_min, s->agree[a][b]);
      else
        *out_max = fmax(*out_max, s->agree[a][b]);
    }
  return *in_min > 0.75 && *out_max < 0.55;
}

static int count_hook(size_t n, void* user) {
  (void)n;
  ++*(int*)user;
  return 0;
}

static const char* const GAIT_NAME[3] = {"trot", "pace", "bound"};

// the largest tilt walking at 0.3 m/s in gait from a standing start, over 4 s
static double steady_tilt(int gait) {
  char msg[256];
  sp_plant* q = open_quadruped(msg, sizeof msg);
  if (!q) return 0;
  double v = gait;
  sp_lowlevel_param prm = {"gait", &v, 1};
  segment s = {0};
  if (sp_plant_set_lowlevel(q, &prm, 1, msg, sizeof msg) || walk(q, 0.3, 4, 1.5, &s))
    s.tilt_max = 0;
  sp_plant_close(q);
  return s.tilt_max;
}

TEST(trot_pace_bound_trot_while_walking_keeps_it_up_and_reaches_each_footfall_pattern) {
  if (!sp_lowlevel_find("gait")) {
    printf("  (the walking controller is not built here: nothing to check)\n");
    return;
  }
  char msg[512] = "";
  sp_plant* p = open_quadruped(msg, sizeof msg);
  if (!p) fprintf(stderr, "  %s\n", msg);
  CHECK(p != NULL);
  if (!p) return;
  const sp_lowlevel* ll = sp_plant_lowlevel(p);
  CHECK(ll != NULL);
  segment s;
  double in_min, out_max;
  CHECK_INT(walk(p, 0.3, 3, 1.5, &s), 0);
  CHECK(shows_gait(&s, SP_GAIT_TROT, &in_min, &out_max));
  printf("  trot:  in phase >= %.2f, others <= %.2f\n", in_min, out_max);
  static const int seq[3] = {SP_GAIT_PACE, SP_GAIT_BOUND, SP_GAIT_TROT};
  for (int i = 0; i < 3; i++) {
    double v;
    CHECK_INT(sp_lowlevel_value(ll, "gait", GAIT_NAME[seq[i]], &v, msg, sizeof msg), 0);
    CHECK(v == seq[i]);
    sp_lowlevel_param prm = {"gait", &v, 1};
    CHECK_INT(sp_plant_set_lowlevel(p, &prm, 1, msg, sizeof msg), 0);
    CHECK_INT(sp_lowlevel_queued(ll), 1);
    int calls = 0;
    uint64_t before = sp_alloc_count();
    sp_alloc_set_hook(count_hook, &calls);
    int rc = walk(p, 0.3, 4, 1.5, &s);  // the change applies in the first tick, no allocation
    sp_alloc_set_hook(NULL, NULL);
    CHECK_INT(rc, 0);
    CHECK_INT(calls, 0);
    CHECK(sp_alloc_count() == before);
    CHECK_INT(sp_lowlevel_queued(ll), 0);
    int ok = shows_gait(&s, seq[i], &in_min, &out_max);
    printf("  -> %-5s height >= %.3f m, tilt <= %.2f rad; in phase >= %.2f, others <= %.2f\n",
           GAIT_NAME[seq[i]], s.zmin, s.tilt_max, in_min, out_max);
    CHECK(ok);
    // up, and rocked no more than walking in the old or the new gait from the start does (the
    // pace rolls the trunk by about 0.55 rad at every step)
    int prev = i ? seq[i - 1] : SP_GAIT_TROT;
    double worst = fmax(steady_tilt(seq[i]), steady_tilt(prev));
    printf("           walking in %s or %s from the start: tilt <= %.2f rad\n", GAIT_NAME[prev],
           GAIT_NAME[seq[i]], worst);
    CHECK(s.zmin > 0.25 && s.tilt_max < worst + 0.05);
  }
  sp_plant_close(p);
}

TEST(bad_runtime_settings_are_refused_naming_the_setting_and_nothing_is_queued) {
  if (!sp_lowlevel_find("gait")) return;
  char msg[512] = "";
  sp_plant* p = open_quadruped(msg, sizeof msg);
  CHECK(p != NULL);
  if (!p) return;
  const sp_lowlevel* ll = sp_plant_lowlevel(p);
  double v;
  CHECK_INT(sp_lowlevel_value(ll, "gait", "gallop", &v, msg, sizeof msg), SP_ENOTFOUND);
  CHECK_STR(msg,
            "low-level controller gait: setting 'gait': expected trot, pace or bound (or 0, 1, 2), "
            "got 'gallop'");
  CHECK_INT(sp_lowlevel_value(ll, "period", "fast", &v, msg, sizeof msg), SP_ENOTFOUND);
  CHECK_STR(msg, "low-level controller gait: setting 'period': expected a number, got 'fast'");
  double ok = 0.35, bad = 5, two[2] = {0.3, 0.4}, nan = NAN, half = 1.5;
  sp_lowlevel_param prm[2] = {{"period", &ok, 1}, {"duty", &bad, 1}};
  CHECK_INT(sp_plant_set_lowlevel(p, prm, 2, msg, sizeof msg), SP_ERANGE);
  CHECK_STR(msg,
            "gait: duty = 5 is outside [0.35, 0.85] (fraction of the period each foot is on "
            "the ground)");
  CHECK_INT(sp_lowlevel_queued(ll), 0);  // all or none: the good period is not queued either
  prm[1] = (sp_lowlevel_param){"stride", &ok, 1};
  CHECK_INT(sp_plant_set_lowlevel(p, prm, 2, msg, sizeof msg), SP_ENOTFOUND);
  CHECK_STR(msg, "gait: unknown parameter 'stride'");
  prm[1] = (sp_lowlevel_param){"period", two, 2};
  CHECK_INT(sp_plant_set_lowlevel(p, prm + 1, 1, msg, sizeof msg), SP_ESHAPE);
  CHECK_STR(msg, "low-level controller gait: setting 'period': expected one number, got 2");
  prm[1] = (sp_lowlevel_param){"duty", &nan, 1};
  CHECK_INT(sp_plant_set_lowlevel(p, prm + 1, 1, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "low-level controller gait: setting 'duty': expected finite numbers");
  prm[1] = (sp_lowlevel_param){"gait", &half, 1};
  CHECK_INT(sp_plant_set_lowlevel(p, prm + 1, 1, msg, sizeof msg), SP_ERANGE);
  CHECK_STR(msg, "gait: gait = 1.5 is not 0 (trot), 1 (pace) or 2 (bound)");
  CHECK_INT(sp_lowlevel_queued(ll), 0);
  // a good request queues; the same name again replaces its value in place
  CHECK_INT(sp_plant_set_lowlevel(p, prm, 1, msg, sizeof msg), 0);
  double later = 0.4;
  sp_lowlevel_param again = {"period", &later, 1};
  CHECK_INT(sp_plant_set_lowlevel(p, &again, 1, msg, sizeof msg), 0);
  CHECK_INT(sp_lowlevel_queued(ll), 1);
  sp_plant_close(p);
}

// ---- thread safety: joint PD on a one-joint arm, kp and kd requested together ------------------

static const char* XML =
    "<mujoco model=\"switch_arm\">\n"
    "  <option timestep=\"0.001\" gravity=\"0 0 0\"/>\n"
    "  <worldbody>\n"
    "    <body name=\"link\" pos=\"0 0 1\">\n"
    "      <joint name=\"j\" type=\"hinge\" axis=\"0 1 0\"/>\n"
    "      <geom type=\"capsule\" fromto=\"0 0 0 0.3 0 0\" size=\"0.03\" mass=\"1\"/>\n"
    "    </body>\n"
    "  </worldbody>\n"
    "  <actuator><motor name=\"m\" joint=\"j\" gear=\"1\"/></actuator>\n"
    "</mujoco>\n";

typedef struct writer {
  sp_plant* p;
  atomic_int stop;
  atomic_int requests;  // read by the ticking thread to know when enough changes were asked for
  int refused;
} writer;

// requests (kp, kd) = (a, 100 - a) as one change, as fast as it can
static void* write_main(void* arg) {
  writer* w = arg;
  char msg[256];
  for (int i = 0; !atomic_load(&w->stop); i++) {
    double kp = i % 100, kd = 100 - kp;
    sp_lowlevel_param prm[2] = {{"kp", &kp, 1}, {"kd", &kd, 1}};
    int rc = sp_plant_set_lowlevel(w->p, prm, 2, msg, sizeof msg);
    if (rc == 0)
      atomic_fetch_add(&w->requests, 1);
    else if (rc == SP_ESTATE)
      w->refused++;  // the queue is full until the next tick
    else
      return NULL;
    usleep(20);
  }
  return NULL;
}

TEST(changes_requested_from_another_thread_apply_whole_at_tick_boundaries) {
  char path[128], msg[512] = "";
  snprintf(path, sizeof path, "/tmp/spinal_switch_%d.xml", (int)getpid());
  FILE* f = fopen(path, "w");
  fputs(XML, f);
  fclose(f);
  static const sp_plant_mujoco_state st[2] = {{SP_MJ_QPOS, "j", 0, 1, 0},
                                              {SP_MJ_QVEL, "j", 0, 1, 0}};
  static const sp_plant_mujoco_actuator act[1] = {{0, "m", 1, 0}};
  double kp = 50, kd = 50;
  sp_lowlevel_param prm[2] = {{"kp", &kp, 1}, {"kd", &kd, 1}};
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = prm, .nparams = 2};
  sp_plant_mujoco_config c = {.mjcf = path,
                              .rate_hz = 1000,
                              .nx = 2,
                              .state = st,
                              .nu = 1,
                              .actuators = act,
                              .nactuators = 1,
                              .lowlevel = &ll};
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_activate(p), 0);
  mjData* d = sp_plant_mujoco_data(p);
  writer w = {.p = p};
  atomic_init(&w.stop, 0);
  atomic_init(&w.requests, 0);
  pthread_t th;
  CHECK_INT(pthread_create(&th, NULL, write_main, &w), 0);
  // one physics step per tick (1 kHz): ctrl is the PD on the state set before the step. With
  // u - q = 1 and qd = -1 the torque kp (u - q) - kd qd is kp + kd: 100 after every whole change;
  // with qd = 0 it is kp alone, which shows the changes arriving
  int torn = 0, seen[100] = {0}, distinct = 0;
  double u = 1;
  // at least 4000 ticks, and on until the writer (which a loaded machine may not schedule for a
  // while) has asked for enough changes to see them arrive, at most 2 million
  for (int k = 0; k < 4000 || ((atomic_load(&w.requests) <= 10 || distinct <= 5) && k < 2000000);
       k++) {
    if (k % 1000 == 999) sched_yield();
    d->qpos[0] = 0, d->qvel[0] = k % 2 ? 0 : -1;
    mj_forward(sp_plant_mujoco_model(p), d);
    CHECK_INT(sp_plant_write(p, &u), 0);
    double tau = d->ctrl[0];
    if (k % 2 == 0) {
      if (fabs(tau - 100) > 1e-9) torn++;
    } else if (tau >= 0 && tau < 100 && tau == floor(tau) && !seen[(int)tau]++) {
      distinct++;
    }
  }
  atomic_store(&w.stop, 1);
  pthread_join(th, NULL);
  int requests = atomic_load(&w.requests);
  printf("  %d requests (%d refused: queue full), %d kp values seen, %d torn ticks\n", requests,
         w.refused, distinct, torn);
  CHECK(requests > 10 && distinct > 5);
  CHECK_INT(torn, 0);
  sp_plant_close(p);
  unlink(path);
}

TEST_MAIN()
