// gait_sim.h: the walking controller (engine/ctrl/gait.h) in the loop of MuJoCo on
// robots/quadruped.xml, for tests/hal/test_gait_mujoco.c and bench/bench_gait.c: one tick per
// physics step (1 kHz), and what a run achieved (velocity, falls, contacts, impacts).
#ifndef SP_TESTS_GAIT_SIM_H
#define SP_TESTS_GAIT_SIM_H

#include <math.h>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ctrl/gait.h"
#include "hal/mjcf_rbd.h"

typedef struct gait_sim {
  mjModel* m;
  mjData* d;
  sp_rbd* tree;
  sp_gait* g;
  sp_gait_data* gd;
  int trunk_geom, floor_geom;
  int rc;  // last tick's return
} gait_sim;

// what happened over a stretch of simulation
typedef struct gait_stats {
  double vx, vy, wz;   // mean body-frame velocity and yaw rate over the stretch
  double zmin, zmax;   // trunk height extremes
  double tilt_max;     // largest roll/pitch tilt, rad (angle of the trunk's z from vertical)
  int fell;            // trunk touched the floor or tilted beyond 0.8 rad
  int other_contacts;  // steps with a contact that is not foot-floor
  double fz_max;       // largest total normal contact force, N
  double tau_max;      // largest |tau| over joints and steps
  int errors;          // ticks that did not return 0
} gait_stats;

static inline const char* gait_sim_robot(char* buf, size_t n) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  const char* dirs[] = {src ? src : ".", ".", ".."};
  for (int i = 0; i < 3; i++) {
    snprintf(buf, n, "%s/robots/quadruped.xml", dirs[i]);
    if (access(buf, R_OK) == 0) return buf;
  }
  return NULL;
}

// load, stand at the "stand" key, reset the controller; 0 or -1 (message printed)
static inline int gait_sim_open(gait_sim* s) {
  memset(s, 0, sizeof *s);
  char path[1024], err[512] = "";
  if (!gait_sim_robot(path, sizeof path)) return fprintf(stderr, "no robots/quadruped.xml\n"), -1;
  s->m = mj_loadXML(path, NULL, err, sizeof err);
  if (!s->m) return fprintf(stderr, "%s: %s\n", path, err), -1;
  s->d = mj_makeData(s->m);
  if (sp_mjcf_rbd_from_model(&s->tree, s->m, err, sizeof err) ||
      sp_gait_create(&s->g, s->tree, err, sizeof err) || sp_gait_data_create(&s->gd, s->g))
    return fprintf(stderr, "%s\n", err), -1;
  int k = mj_name2id(s->m, mjOBJ_KEY, "stand");
  mju_copy(s->d->qpos, s->m->key_qpos + k * s->m->nq, s->m->nq);
  mj_forward(s->m, s->d);
  sp_gait_reset(s->g, s->gd, s->d->qpos);
  s->trunk_geom = mj_name2id(s->m, mjOBJ_GEOM, "trunk");
  s->floor_geom = mj_name2id(s->m, mjOBJ_GEOM, "floor");
  return 0;
}

static inline void gait_sim_close(gait_sim* s) {
  sp_gait_data_free(s->gd);
  sp_gait_free(s->g);
  sp_rbd_free(s->tree);
  if (s->d) mj_deleteData(s->d);
  if (s->m) mj_deleteModel(s->m);
}

static inline double gait_sim_yaw(const double* q) {
  return atan2(2 * (q[3] * q[6] + q[4] * q[5]), 1 - 2 * (q[5] * q[5] + q[6] * q[6]));
}

// run for `seconds` in mode with cmd (may be NULL); measure velocities over the last `window`
// seconds (0: none). stats may be NULL.
static inline void gait_sim_run(gait_sim* s, int mode, const double* cmd, double seconds,
                                double window, gait_stats* st) {
  gait_stats z = {0};
  z.zmin = 1e9;
  int n = (int)lround(seconds / s->m->opt.timestep), nw = 0;
  int w0 = n - (int)lround(window / s->m->opt.timestep);
  double x0 = 0, y0 = 0, yaw0 = 0, yaw_acc = 0, yaw_prev = 0, px = 0, py = 0;
  mjData* d = s->d;
  for (int i = 0; i < n; i++) {
    double tau[12];
    int rc = sp_gait_tick(s->g, s->gd, mode, d->time, d->qpos, d->qvel, cmd, tau);
    if (rc) z.errors++;
    s->rc = rc;
    for (int a = 0; a < 12; a++) {
      d->ctrl[a] = tau[a];
      if (fabs(tau[a]) > z.tau_max) z.tau_max = fabs(tau[a]);
    }
    mj_step(s->m, d);
    const double* q = d->qpos;
    double tilt = acos(fmin(1, 1 - 2 * (q[4] * q[4] + q[5] * q[5])));
    if (q[2] < z.zmin) z.zmin = q[2];
    if (q[2] > z.zmax) z.zmax = q[2];
    if (tilt > z.tilt_max) z.tilt_max = tilt;
    if (tilt > 0.8) z.fell = 1;
    double fz = 0;
    int other = 0;
    for (int c = 0; c < d->ncon; c++) {
      int g1 = d->contact[c].geom1, g2 = d->contact[c].geom2;
      int o = g1 == s->floor_geom ? g2 : g1;
      if (o == s->trunk_geom) z.fell = 1;
      const char* nm = mj_id2name(s->m, mjOBJ_GEOM, o);
      if ((g1 != s->floor_geom && g2 != s->floor_geom) || !nm || !strstr(nm, "_foot")) other = 1;
      double f6[6];
      mj_contactForce(s->m, d, c, f6);
      fz += f6[0];
    }
    z.other_contacts += other;
    if (fz > z.fz_max) z.fz_max = fz;
    double yaw = gait_sim_yaw(q);
    if (i == w0) x0 = q[0], y0 = q[1], yaw0 = yaw, yaw_acc = 0, yaw_prev = yaw, px = py = 0;
    if (i > w0) {
      double dy = atan2(sin(yaw - yaw_prev), cos(yaw - yaw_prev));
      yaw_acc += dy;
      // displacement in the heading frame, accumulated step by step (turning runs)
      double dx = q[0] - x0, dyy = q[1] - y0, c = cos(yaw), sn = sin(yaw);
      px += c * dx + sn * dyy, py += -sn * dx + c * dyy;
      x0 = q[0], y0 = q[1];
      yaw_prev = yaw;
      nw++;
    }
  }
  (void)yaw0;
  if (nw > 0) {
    double T = nw * s->m->opt.timestep;
    z.vx = px / T, z.vy = py / T, z.wz = yaw_acc / T;
  }
  if (st) *st = z;
}

static inline void gait_stats_print(const char* what, const gait_stats* s) {
  printf(
      "  %-28s v (%.3f, %.3f) m/s, wz %.3f rad/s, z [%.3f, %.3f], tilt %.3f, fell %d, "
      "other contacts %d, fz max %.0f N, tau max %.1f, errors %d\n",
      what, s->vx, s->vy, s->wz, s->zmin, s->zmax, s->tilt_max, s->fell, s->other_contacts,
      s->fz_max, s->tau_max, s->errors);
}

#endif  // SP_TESTS_GAIT_SIM_H
