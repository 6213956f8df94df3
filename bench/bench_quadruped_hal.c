// bench_quadruped_hal.c: MuJoCo physics steps per second of robots/quadruped.xml with the
// low-level controller inside the mujoco plant and the HAL's control loop around it (lockstep,
// safety filter, log), against raw mj_step of the same MJCF in the same run (MuJoCo's
// testspeed-style, with a joint PD to the standing pose written inline before each mj_step so
// the raw robot stands on its feet, with the same contacts, instead of collapsing). One JSON line
// per low-level controller (joint_pd at the joint level's 50 Hz; gait at the velocity level's 10 Hz
// when it is built); ratio = raw steps/s over HAL steps/s (what the controller and the HAL cost).
// Timings are informative only. Usage: bench_quadruped_hal [simulated seconds per case, default 10]
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal/backend_mujoco.h"
#include "hal/loop.h"
#include "hal/lowlevel.h"
#include "hal/safety.h"

static const char* find_robot(const char* file, char* buf, size_t n) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  const char* dirs[] = {src ? src : ".", ".", ".."};
  for (int i = 0; i < 3; i++) {
    snprintf(buf, n, "%s/robots/%s", dirs[i], file);
    if (access(buf, R_OK) == 0) return buf;
  }
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const double STAND[12] = {0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8};
static double g_cmd[12];
static int g_ncmd;

static int act(void* user, double* u, const double* x, double t, long k) {
  (void)user, (void)x, (void)t, (void)k;
  memcpy(u, g_cmd, sizeof(double) * (size_t)g_ncmd);
  return 0;
}

// raw stepping: physics steps per second of mj_step, an inline joint PD holding the stance
static double raw_rate(const char* path, long steps) {
  char err[512];
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) return 0;
  mjData* d = mj_makeData(m);
  int key = mj_name2id(m, mjOBJ_KEY, "stand");
  if (key >= 0) mj_resetDataKeyframe(m, d, key);
  mj_forward(m, d);
  double t0 = now();
  for (long s = 0; s < steps; s++) {
    for (int j = 0; j < 12; j++)
      d->ctrl[j] = 60 * (STAND[j] - d->qpos[7 + j]) - 1.5 * d->qvel[6 + j];
    mj_step(m, d);
  }
  double r = (double)steps / (now() - t0);
  mj_deleteData(d);
  mj_deleteModel(m);
  return r;
}

// through the HAL: the mujoco plant with the controller, a lockstep loop, its safety filter
static int run(const char* path, const char* kind, double rate, double seconds) {
  static const sp_plant_mujoco_state st[3] = {{SP_MJ_BODY_POS, "trunk", 0, 1, 0},
                                              {SP_MJ_BODY_POS, "trunk", 1, 1, 0},
                                              {SP_MJ_BODY_YAW, "trunk", 0, 1, 0}};
  double kp = 60, kd = 1.5;
  sp_lowlevel_param prm[2] = {{"kp", &kp, 1}, {"kd", &kd, 1}};
  sp_lowlevel_config ll = {
      .kind = kind, .params = prm, .nparams = strcmp(kind, "joint_pd") ? 0 : 2};
  sp_plant_mujoco_config c = {
      .mjcf = path, .rate_hz = rate, .nx = 3, .state = st, .keyframe = "stand", .lowlevel = &ll};
  sp_plant* p = NULL;
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  char msg[512];
  if (sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) || sp_plant_configure(p, msg, sizeof msg)) {
    fprintf(stderr, "bench_quadruped_hal: %s\n", msg);
    return 1;
  }
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  g_ncmd = caps->nu;
  memset(g_cmd, 0, sizeof g_cmd);
  if (!strcmp(kind, "joint_pd")) memcpy(g_cmd, STAND, sizeof STAND);
  if (!strcmp(kind, "gait")) g_cmd[0] = 0.5;  // walking forward at 0.5 m/s
  sp_safety_config sc = {.nx = 3, .nu = g_ncmd, .u_safe = g_cmd, .period_s = 1.0 / rate};
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act};
  if (sp_safety_new(&s, &sc, msg, sizeof msg) || sp_loop_new(&l, p, s, &lc, msg, sizeof msg)) {
    fprintf(stderr, "bench_quadruped_hal: %s\n", msg);
    return 1;
  }
  // alternating rounds, the best of each (the machine is shared: load comes and goes)
  int sub = sp_plant_mujoco_substeps(p);
  long ticks = (long)(seconds * rate / 3);
  double hal = 0, raw = 0;
  for (int round = 0; round < 3; round++) {
    double r = raw_rate(path, ticks * sub);
    if (r > raw) raw = r;
    sp_plant_reset(p, NULL);
    double t0 = now();
    sp_loop_run(l, ticks);
    double h = (double)(ticks * sub) / (now() - t0);
    if (h > hal) hal = h;
  }
  printf(
      "{\"name\":\"quadruped_hal_steps\",\"controller\":\"%s\",\"rate_hz\":%g,\"physics_hz\":%g,"
      "\"hal_steps_per_s\":%.0f,\"raw_steps_per_s\":%.0f,\"ratio\":%.3f,\"realtime_x\":%.1f}\n",
      kind, rate, rate * sub, hal, raw, raw / hal, hal / (rate * sub));
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  return 0;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 10;
  char buf[512];
  const char* path = find_robot("quadruped.xml", buf, sizeof buf);
  if (!path) {
    fprintf(stderr,
            "bench_quadruped_hal: robots/quadruped.xml not found (set SPINAL_SOURCE_DIR)\n");
    return 1;
  }
  int rc = run(path, "joint_pd", 50, seconds);
  if (sp_lowlevel_find("gait")) rc |= run(path, "gait", 10, seconds);
  return rc;
}
