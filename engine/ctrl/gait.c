// gait.c: the walking controller's tick (gait.h): modes, kinematics from the engine/rbd tree,
// stance torques from foot forces, swing feet under Cartesian PD, the sit-down.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/ctrl/gait_impl.h"

static const char* const leg_names[SP_GAIT_NLEG] = {"FR", "FL", "RR", "RL"};

int sp_gait_create(sp_gait** out, const sp_rbd* t, char* msg, size_t n) {
  if (out) *out = NULL;
  if (!out || !t || !t->finalized) {
    if (msg && n) snprintf(msg, n, "gait: needs a finalized tree");
    return SP_EINVAL;
  }
  if (t->nq != 19 || t->nv != 18 || t->nu != SP_GAIT_NJ) {
    if (msg && n)
      snprintf(msg, n,
               "gait: the tree has nq %d, nv %d, nu %d; a quadruped has 19, 18, 12 (a free "
               "trunk and 12 motors)",
               t->nq, t->nv, t->nu);
    return SP_EINVAL;
  }
  sp_gait* g = sp_calloc(1, sizeof *g);
  if (!g) return SP_ENOMEM;
  g->tree = t;
  sp_gait_params_default(&g->p);
  int thigh[SP_GAIT_NLEG];
  for (int l = 0; l < SP_GAIT_NLEG; l++) {
    char name[32];
    for (int k = 0; k < 2; k++) {
      snprintf(name, sizeof name, "%s_%s", leg_names[l], k ? "calf" : "thigh");
      int i = sp_rbd_find(t, name);
      if (i < 0) {
        if (msg && n)
          snprintf(msg, n,
                   "gait: the tree has no link '%s' (legs FR FL RR RL with links "
                   "<leg>_thigh and <leg>_calf, as robots/quadruped.xml)",
                   name);
        sp_free(g);
        return SP_EINVAL;
      }
      *(k ? &g->calf[l] : &thigh[l]) = i;
    }
  }
  for (int a = 0; a < SP_GAIT_NJ; a++) {
    g->dof[a] = t->act_dof[a];
    g->damping[a] = t->links[t->dof_link[g->dof[a]]].damping;
    if (g->dof[a] != 6 + a) {
      if (msg && n)
        snprintf(msg, n,
                 "gait: actuator %d drives dof %d; the motors must follow the joints in "
                 "leg order (FR FL RR RL)",
                 a, g->dof[a]);
      sp_free(g);
      return SP_EINVAL;
    }
  }
  for (int i = 0; i < t->nlinks; i++) g->mass += t->links[i].mass;
  g->g = sqrt(t->gravity[0] * t->gravity[0] + t->gravity[1] * t->gravity[1] +
              t->gravity[2] * t->gravity[2]);
  // thigh origins in the trunk frame at the neutral pose (trunk at the origin, level)
  sp_rbd_data* rd;
  int rc = sp_rbd_data_new(&rd, t);
  if (rc) {
    sp_free(g);
    return rc;
  }
  double q[19];
  sp_rbd_neutral(t, q);
  q[0] = q[1] = q[2] = 0;
  sp_rbd_fk(rd, q);
  for (int l = 0; l < SP_GAIT_NLEG; l++) memcpy(g->hip[l], rd->p + 3 * thigh[l], sizeof g->hip[l]);
  sp_rbd_data_free(rd);
  *out = g;
  return SP_OK;
}

void sp_gait_free(sp_gait* g) {
  sp_free(g);
}

int sp_gait_data_create(sp_gait_data** out, const sp_gait* g) {
  if (out) *out = NULL;
  if (!out || !g) return SP_EINVAL;
  sp_gait_data* d = sp_calloc(1, sizeof *d);
  if (!d) return SP_ENOMEM;
  int nv = g->tree->nv;
  int rc = sp_rbd_data_new(&d->rd, g->tree);
  d->J = sp_calloc((size_t)(SP_GAIT_NLEG * 6 * nv + nv), sizeof(double));
  if (rc || !d->J) {
    sp_gait_data_free(d);
    return rc ? rc : SP_ENOMEM;
  }
  d->bias = d->J + SP_GAIT_NLEG * 6 * nv;
  *out = d;
  return SP_OK;
}

void sp_gait_data_free(sp_gait_data* d) {
  if (!d) return;
  sp_rbd_data_free(d->rd);
  sp_free(d->J);
  sp_free(d);
}

static double yaw_of(const double* quat) {
  double w = quat[0], x = quat[1], y = quat[2], z = quat[3];
  return atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}

static double wrap(double a) {
  return atan2(sin(a), cos(a));
}

void sp_gait_reset(const sp_gait* g, sp_gait_data* d, const double* qpos) {
  (void)g;
  d->started = 0;
  d->clk.started = 0;
  d->mode = SP_GAIT_STAND;
  memset(d->cmd, 0, sizeof d->cmd);
  d->hold[0] = qpos[0], d->hold[1] = qpos[1], d->hold[2] = yaw_of(qpos + 3);
  d->yaw_d = d->hold[2];
  d->h_ref = qpos[2];
  d->vi[0] = d->vi[1] = 0;
  d->settling = 0;
  for (int l = 0; l < SP_GAIT_NLEG; l++) d->stance[l] = d->planted[l] = 1;
}

int sp_gait_leg_stance(const sp_gait_data* d, int leg) {
  return leg >= 0 && leg < SP_GAIT_NLEG ? d->stance[leg] : 0;
}

void sp_gait_foot_target(const sp_gait_data* d, int leg, double p[3]) {
  if (leg >= 0 && leg < SP_GAIT_NLEG) memcpy(p, d->target[leg], 3 * sizeof(double));
}

static double clampd(double x, double lo, double hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

static double ramp(double x, double to, double rate, double dt) {
  return x + clampd(to - x, -rate * dt, rate * dt);
}

static void quat_to_R(double* R, const double* q) {
  double w = q[0], x = q[1], y = q[2], z = q[3], s = 1 / (w * w + x * x + y * y + z * z);
  R[0] = 1 - 2 * s * (y * y + z * z), R[1] = 2 * s * (x * y - w * z),
  R[2] = 2 * s * (x * z + w * y);
  R[3] = 2 * s * (x * y + w * z), R[4] = 1 - 2 * s * (x * x + z * z),
  R[5] = 2 * s * (y * z - w * x);
  R[6] = 2 * s * (x * z - w * y), R[7] = 2 * s * (y * z + w * x),
  R[8] = 1 - 2 * s * (x * x + y * y);
}

static void matvec(double* y, const double* R, const double* x) {
  for (int i = 0; i < 3; i++) y[i] = R[3 * i] * x[0] + R[3 * i + 1] * x[1] + R[3 * i + 2] * x[2];
}

static void cross(double* c, const double* a, const double* b) {
  double x = a[1] * b[2] - a[2] * b[1], y = a[2] * b[0] - a[0] * b[2],
         z = a[0] * b[1] - a[1] * b[0];
  c[0] = x, c[1] = y, c[2] = z;
}

// damped joint PD along a smooth path from the pose at entry to the lying pose
static void sit(const sp_gait* g, sp_gait_data* d, double t, const double* qpos, const double* qvel,
                double* tau) {
  const sp_gait_params* p = &g->p;
  double s = clampd((t - d->sit_t0) / p->sit_time, 0, 1);
  double b = s * s * (3 - 2 * s), db = 6 * s * (1 - s) / p->sit_time;
  const double lie[3] = {p->lie_abd, p->lie_hip, p->lie_knee};
  for (int a = 0; a < SP_GAIT_NJ; a++) {
    double q1 = lie[a % 3], q0 = d->sit_q0[a];
    double qr = q0 + (q1 - q0) * b, vr = (q1 - q0) * db;
    tau[a] = p->sit_kp * (qr - qpos[7 + a]) + p->sit_kd * (vr - qvel[6 + a]) +
             g->damping[a] * qvel[6 + a];
  }
}

int sp_gait_tick(const sp_gait* g, sp_gait_data* d, int mode, double t, const double* qpos,
                 const double* qvel, const double cmd[3], double* tau) {
  if (!tau) return SP_EINVAL;
  memset(tau, 0, SP_GAIT_NJ * sizeof(double));
  if (!g || !d || !qpos || !qvel || mode < SP_GAIT_WALK || mode > SP_GAIT_SIT) return SP_EINVAL;
  for (int i = 0; i < 19; i++)
    if (!isfinite(qpos[i])) return SP_ENUMERIC;
  for (int i = 0; i < 18; i++)
    if (!isfinite(qvel[i])) return SP_ENUMERIC;
  const sp_gait_params* p = &g->p;
  const sp_rbd* tree = g->tree;
  int nv = tree->nv;
  double qla[19];
  if (p->lookahead > 0) {  // act on the state the torques will meet: q (+) lookahead v
    sp_rbd_integrate(tree, qla, qpos, qvel, p->lookahead);
    qpos = qla;
    t += p->lookahead;
  }
  double dt = d->started ? clampd(t - d->t_prev, 0, 0.1) : 0;
  if (!d->started) d->t0 = t, d->started = 1;
  d->t_prev = t;
  double R[9], yaw = yaw_of(qpos + 3);
  quat_to_R(R, qpos + 3);

  // mode changes
  if (mode != d->mode) {
    if (mode == SP_GAIT_SIT) {
      memcpy(d->sit_q0, qpos + 7, sizeof d->sit_q0);
      d->sit_t0 = t;
      d->vi[0] = d->vi[1] = 0;
    } else if (mode == SP_GAIT_STAND) {
      d->settling = d->mode == SP_GAIT_WALK;  // walk on at zero command until slow, then plant
      d->hold[0] = qpos[0], d->hold[1] = qpos[1], d->hold[2] = yaw;
      for (int l = 0; l < SP_GAIT_NLEG; l++) d->planted[l] = 1;
    } else {  // walk: restart the clock so every leg starts from its stance
      d->t0 = t;
      d->yaw_d = yaw;
    }
    if (d->mode == SP_GAIT_SIT) d->h_ref = qpos[2], d->yaw_d = yaw;
    d->mode = mode;
  }
  if (mode == SP_GAIT_SIT) {
    sit(g, d, t, qpos, qvel, tau);
    for (int l = 0; l < SP_GAIT_NLEG; l++) d->stance[l] = 1;
    goto clamp;
  }

  if (mode == SP_GAIT_STAND && d->settling &&
      fabs(d->cmd[0]) + fabs(d->cmd[1]) + fabs(d->cmd[2]) < 1e-9 && hypot(qvel[0], qvel[1]) < 0.1 &&
      fabs(qvel[5]) < 0.2) {
    d->settling = 0;
    d->hold[0] = qpos[0], d->hold[1] = qpos[1], d->hold[2] = yaw;
    for (int l = 0; l < SP_GAIT_NLEG; l++) d->planted[l] = d->stance[l];
  }
  if (mode == SP_GAIT_STAND && !d->settling && hypot(qvel[0], qvel[1]) > p->step_v) {
    d->settling = 1;  // pushed: step to catch the trunk, then plant again
    d->t0 = t;
    d->yaw_d = yaw;
  }
  int walking = mode == SP_GAIT_WALK || d->settling;

  // commands, rate-limited, in the heading frame (dcmd: their rate of change)
  double dcmd[2] = {0, 0};
  {
    double c[3] = {0, 0, 0};
    if (mode == SP_GAIT_WALK && cmd) {
      if (!isfinite(cmd[0]) || !isfinite(cmd[1]) || !isfinite(cmd[2])) return SP_ENUMERIC;
      c[0] = clampd(cmd[0], -p->vx_max, p->vx_max);
      c[1] = clampd(cmd[1], -p->vy_max, p->vy_max);
      c[2] = clampd(cmd[2], -p->wz_max, p->wz_max);
    }
    for (int i = 0; i < 2; i++) {
      double prev = d->cmd[i];
      d->cmd[i] = ramp(d->cmd[i], c[i], p->acc_max, dt);
      dcmd[i] = dt > 0 ? (d->cmd[i] - prev) / dt : 0;
    }
    d->cmd[2] = ramp(d->cmd[2], c[2], p->yaw_acc_max, dt);
  }
  double cy = cos(yaw), sy = sin(yaw);
  double vd[3] = {cy * d->cmd[0] - sy * d->cmd[1], sy * d->cmd[0] + cy * d->cmd[1], 0};
  double wd[3] = {0, 0, d->cmd[2]};
  if (!walking) {
    d->yaw_d = d->hold[2];
  } else {
    d->yaw_d = wrap(d->yaw_d + d->cmd[2] * dt);
    double e = wrap(d->yaw_d - yaw);  // do not wind up behind a robot that cannot turn
    if (fabs(e) > 0.3) d->yaw_d = wrap(yaw + (e > 0 ? 0.3 : -0.3));
  }
  d->h_ref = ramp(d->h_ref, p->height, 0.25, dt);

  // kinematics
  sp_rbd_fk(d->rd, qpos);
  sp_rbd_bias(d->bias, d->rd, qpos, qvel);
  // centre of mass (the force distribution's moment point)
  double pos[3] = {0, 0, 0};
  for (int i = 0; i < tree->nlinks; i++) {
    const sp_rbd_link* L = tree->links + i;
    if (L->mass <= 0) continue;
    double c[3];
    matvec(c, d->rd->R + 9 * i, L->com);
    for (int k = 0; k < 3; k++) pos[k] += L->mass * (d->rd->p[3 * i + k] + c[k]);
  }
  for (int k = 0; k < 3; k++) pos[k] /= g->mass;
  double w[3], foot[SP_GAIT_NLEG][3], vfoot[SP_GAIT_NLEG][3];
  matvec(w, R, qvel + 3);
  for (int l = 0; l < SP_GAIT_NLEG; l++) {
    int k = g->calf[l];
    const double pt[3] = {0, 0, -p->calf_length};
    double* J = d->J + l * 6 * nv;
    sp_rbd_jacobian(J, d->rd, k, pt);
    matvec(foot[l], d->rd->R + 9 * k, pt);
    for (int i = 0; i < 3; i++) {
      foot[l][i] += d->rd->p[3 * k + i];
      double s = 0;
      for (int j = 0; j < nv; j++) s += J[(3 + i) * nv + j] * qvel[j];
      vfoot[l][i] = s;
    }
  }

  // schedule and swing feet (the clock blends a new gait or duty in: gait_schedule.c)
  sp_gait_clock_update(&d->clk, (int)p->gait, p->period, p->duty, p->switch_cycles, t, d->t0);
  double ts = (1 - d->clk.duty) * p->period, tst = d->clk.duty * p->period;
  int nst = 0, legs[SP_GAIT_NLEG];
  double r[3 * SP_GAIT_NLEG];
  for (int l = 0; l < SP_GAIT_NLEG; l++) {
    double s;
    int st = sp_gait_clock_leg(&d->clk, l, &s);
    if (!walking) {
      if (d->planted[l] || (st && !d->stance[l])) d->planted[l] = 1;
      if (d->planted[l]) st = 1;
    }
    if (!st && d->stance[l]) memcpy(d->p0[l], foot[l], sizeof d->p0[l]);  // lift-off
    d->stance[l] = st;
    double* J = d->J + l * 6 * nv;
    if (st) {
      for (int i = 0; i < 3; i++) r[3 * nst + i] = foot[l][i] - pos[i];
      legs[nst++] = l;
      continue;
    }
    double hb[3], hw[3], vh[3], vc[3];
    matvec(hb, R, g->hip[l]);
    cross(vh, w, hb);
    double hy[3] = {cy * g->hip[l][0] - sy * g->hip[l][1], sy * g->hip[l][0] + cy * g->hip[l][1],
                    0};
    cross(vc, wd, hy);
    for (int i = 0; i < 3; i++) hw[i] = qpos[i] + hb[i], vh[i] += qvel[i], vc[i] += vd[i];
    double* tg = d->target[l];
    sp_gait_raibert(tg, hw, vh, vc, (1 - s) * ts, tst, p->raibert_k);
    for (int i = 0; i < 2; i++) tg[i] = hw[i] + clampd(tg[i] - hw[i], -0.2, 0.2);
    tg[2] = d->p0[l][2];
    double pd[3], vdf[3], f[3];
    sp_gait_swing(pd, vdf, d->p0[l], tg, p->swing_height, s, ts);
    for (int i = 0; i < 3; i++)
      f[i] = p->kp_swing * (pd[i] - foot[l][i]) + p->kd_swing * (vdf[i] - vfoot[l][i]);
    for (int j = 0; j < 3; j++) {
      int a = 3 * l + j, c = g->dof[a];
      tau[a] = J[3 * nv + c] * f[0] + J[4 * nv + c] * f[1] + J[5 * nv + c] * f[2] + d->bias[c];
    }
  }

  // stance feet: the body wrench as foot forces
  if (nst > 0) {
    double m = g->mass, wr[6], e[3];
    double kxy = walking ? 0 : p->kp_xy;
    // velocity error integrated in the heading frame (a steady push, slope or model error),
    // bounded so that it cannot ask for more than vi_max of velocity correction
    double ex = vd[0] - qvel[0], ey = vd[1] - qvel[1];
    if (walking) {
      d->vi[0] = clampd(d->vi[0] + (cy * ex + sy * ey) * dt, -p->vi_max, p->vi_max);
      d->vi[1] = clampd(d->vi[1] + (-sy * ex + cy * ey) * dt, -p->vi_max, p->vi_max);
    }
    double vi[2] = {cy * d->vi[0] - sy * d->vi[1], sy * d->vi[0] + cy * d->vi[1]};
    // the commanded velocity's rate of change in the world: its speed ramps, and its direction
    // turning with the commanded yaw rate (the centripetal acceleration of a turn)
    double ad[2] = {cy * dcmd[0] - sy * dcmd[1] - d->cmd[2] * vd[1],
                    sy * dcmd[0] + cy * dcmd[1] + d->cmd[2] * vd[0]};
    double ff = walking ? p->ff_acc : 0;
    for (int i = 0; i < 2; i++)
      wr[i] = m * (kxy * (d->hold[i] - qpos[i]) + p->kd_v * (vd[i] - qvel[i]) + p->ki_v * vi[i] +
                   ff * ad[i]);
    wr[2] = m * (g->g + p->kp_z * (d->h_ref - qpos[2]) - p->kd_z * qvel[2]);
    // orientation error: rotation vector of q_d * conj(q), q_d the heading yaw_d, level
    double hc = cos(0.5 * d->yaw_d), hs = sin(0.5 * d->yaw_d);
    const double* q = qpos + 3;
    double ew = hc * q[0] + hs * q[3];
    e[0] = -hc * q[1] + hs * q[2];
    e[1] = -hc * q[2] - hs * q[1];
    e[2] = -hc * q[3] + hs * q[0];
    double sgn = ew < 0 ? -2 : 2;
    // roll and pitch damping: kd_rot while the trunk follows its command (low: actuation latency
    // makes high rate damping rock the trunk), rising to kd_rot_push as the velocity error grows
    // from push_dv to twice that (a push: the high damping keeps the trunk from rolling over)
    double pushed = clampd(hypot(ex, ey) / p->push_dv - 1, 0, 1);
    double kd_rp = p->kd_rot + (p->kd_rot_push - p->kd_rot) * pushed;
    for (int i = 0; i < 3; i++)
      wr[3 + i] = p->kp_rot * sgn * e[i] + (i == 2 ? p->kd_yaw : kd_rp) * (wd[i] - w[i]);
    double f[3 * SP_GAIT_NLEG];
    sp_gait_distribute(f, r, nst, wr, p->rot_weight, p->reg, p->mu, p->fz_max);
    for (int k = 0; k < nst; k++) {
      int l = legs[k];
      const double* J = d->J + l * 6 * nv;
      for (int j = 0; j < 3; j++) {
        int a = 3 * l + j, c = g->dof[a];
        // the leg holds its own weight (bias) and passes the foot force to the trunk
        tau[a] = d->bias[c] - (J[3 * nv + c] * f[3 * k] + J[4 * nv + c] * f[3 * k + 1] +
                               J[5 * nv + c] * f[3 * k + 2]);
      }
      memcpy(d->target[l], foot[l], sizeof d->target[l]);
    }
  }
  for (int a = 0; a < SP_GAIT_NJ; a++) tau[a] += p->damp_comp * g->damping[a] * qvel[6 + a];

clamp:
  for (int a = 0; a < SP_GAIT_NJ; a++) {
    double lim = a % 3 == 2 ? p->tau_max_knee : p->tau_max;
    if (!isfinite(tau[a])) {
      memset(tau, 0, SP_GAIT_NJ * sizeof(double));
      return SP_ENUMERIC;
    }
    tau[a] = clampd(tau[a], -lim, lim);
  }
  return SP_OK;
}
