// vecenv.c: batched MuJoCo quadrupeds on a thread pool (hal/vecenv.h). MuJoCo's C API (2.2):
// mj_loadXML, mj_makeData, mj_resetDataKeyframe, mj_forward, mj_step, mju_quat2Mat.
#include "hal/vecenv.h"

#include <math.h>
#include <mujoco/mujoco.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/lowlevel.h"

enum { JOB_STEP, JOB_RAW, JOB_RESET, JOB_QUIT };

typedef struct env {
  mjData* d;
  sp_lowlevel_data* lld;
  sp_rng rng;
  double cmd[3];
  int clip, frame;  // imitation: the clip and the frame the robot should be at now
  double* aprev;    // (nact) last action (clipped)
  double* target;   // (nact) PD targets
  int age;          // steps into the episode
  double ret;       // return of the episode so far
  // statistics since the last clear
  double steps, vel_err, yaw_err, reward, episodes, falls, ret_sum, len_sum, joint_err, root_err;
} env;

typedef struct worker {
  sp_vecenv* v;
  int tid;
  pthread_t th;
} worker;

struct sp_vecenv {
  sp_vecenv_config cfg;
  mjModel* m;
  int key;  // keyframe id, -1: qpos0
  int nenvs, nthreads, nobs, nact;
  sp_lowlevel* ll;
  int* qadr;      // (nact) qpos address of actuator k's joint
  int* vadr;      // (nact) qvel address
  double* stand;  // (nact) keyframe joint angles
  double* lo;     // (nact) joint range
  double* hi;
  env* envs;
  double* store;    // per-environment arrays
  int ntask;        // observation entries of the task: 3 (command) or 7 + nact (reference)
  double* frames;   // imitation: every clip's frames (nq each), one after the other
  int* clip_off;    // (nclips + 1) first frame of each clip, then the total
  worker* workers;  // (nthreads - 1)
  int started;      // worker threads running
  pthread_mutex_t lock;
  pthread_cond_t go, done;
  long gen;     // job generation: workers run each new one once
  int pending;  // workers still on the current job
  int sync;     // lock and conditions initialised
  // the current job
  int job;
  uint64_t seed;
  const double* a;
  double *obs, *rew, *dn, *to;
};

sp_vecenv_config sp_vecenv_default_config(const char* mjcf, int nenvs, int nthreads,
                                          uint64_t seed) {
  sp_vecenv_config c = {.mjcf = mjcf,
                        .keyframe = "stand",
                        .nenvs = nenvs,
                        .nthreads = nthreads,
                        .substeps = 20,
                        .kp = 60,
                        .kd = 1.5,
                        .action_scale = 0.25,
                        .action_clip = 4,
                        .cmd_lo = {-1, -0.5, -1},
                        .cmd_hi = {1, 0.5, 1},
                        .episode_steps = 1000,
                        .resample_steps = 250,
                        .reset_noise = 0.1,
                        .fall_height = 0.15,
                        .fall_tilt = 0.5,
                        .sigma2 = 0.25,
                        .w_lin = 1,
                        .w_ang = 0.5,
                        .w_vz = 2,
                        .w_wxy = 0.05,
                        .w_torque = 2e-5,
                        .w_rate = 0.01,
                        .only_positive = 1,
                        .track_fail = 0.5,
                        .seed = seed};
  return c;
}

#define BAD(...) return sp_errorf(msg, len, SP_EINVAL, __VA_ARGS__)

int sp_vecenv_check(const sp_vecenv_config* c, char* msg, size_t len) {
  if (!c->mjcf) BAD("vecenv: mjcf must name a file");
  if (c->nenvs < 1) BAD("vecenv: nenvs must be >= 1, got %d", c->nenvs);
  if (c->nthreads < 1) BAD("vecenv: nthreads must be >= 1, got %d", c->nthreads);
  if (c->substeps < 1) BAD("vecenv: substeps must be >= 1, got %d", c->substeps);
  if (!(c->kp >= 0 && c->kd >= 0))
    BAD("vecenv: kp and kd must be >= 0, got %g and %g", c->kp, c->kd);
  if (!(c->action_scale > 0)) BAD("vecenv: action_scale must be > 0, got %g", c->action_scale);
  if (!(c->action_clip > 0)) BAD("vecenv: action_clip must be > 0, got %g", c->action_clip);
  static const char* cn[3] = {"vx", "vy", "wz"};
  for (int i = 0; i < 3; i++)
    if (!(c->cmd_lo[i] <= c->cmd_hi[i]))
      BAD("vecenv: command range %s must have lo <= hi, got %g and %g", cn[i], c->cmd_lo[i],
          c->cmd_hi[i]);
  if (c->task != SP_VECENV_VELOCITY && c->task != SP_VECENV_IMITATE)
    BAD("vecenv: unknown task %d", c->task);
  if (c->task == SP_VECENV_IMITATE) {
    if (c->nclips < 1 || !c->clips || !c->clip_frames)
      BAD("vecenv: the imitation task needs at least one clip");
    for (int i = 0; i < c->nclips; i++)
      if (c->clip_frames[i] < 3)
        BAD("vecenv: clip %d has %d frames (at least 3)", i + 1, c->clip_frames[i]);
    if (!(c->track_fail > 0)) BAD("vecenv: track_fail must be > 0, got %g", c->track_fail);
  }
  if (c->episode_steps < 1) BAD("vecenv: episode_steps must be >= 1, got %d", c->episode_steps);
  if (c->resample_steps < 0) BAD("vecenv: resample_steps must be >= 0, got %d", c->resample_steps);
  if (!(c->reset_noise >= 0)) BAD("vecenv: reset_noise must be >= 0, got %g", c->reset_noise);
  if (!(c->sigma2 > 0)) BAD("vecenv: sigma2 must be > 0, got %g", c->sigma2);
  const double w[6] = {c->w_lin, c->w_ang, c->w_vz, c->w_wxy, c->w_torque, c->w_rate};
  static const char* wn[6] = {"w_lin", "w_ang", "w_vz", "w_wxy", "w_torque", "w_rate"};
  for (int i = 0; i < 6; i++)
    if (!(w[i] >= 0)) BAD("vecenv: %s must be >= 0, got %g", wn[i], w[i]);
  return 0;
}

int sp_vecenv_nobs(const sp_vecenv* v) {
  return v->nobs;
}
int sp_vecenv_nact(const sp_vecenv* v) {
  return v->nact;
}
int sp_vecenv_nenvs(const sp_vecenv* v) {
  return v->nenvs;
}
double sp_vecenv_dt(const sp_vecenv* v) {
  return v->m->opt.timestep * v->cfg.substeps;
}

int sp_vecenv_set_commands(sp_vecenv* v, const double lo[3], const double hi[3]) {
  for (int i = 0; i < 3; i++)
    if (!(lo[i] <= hi[i])) return SP_EINVAL;
  memcpy(v->cfg.cmd_lo, lo, sizeof v->cfg.cmd_lo);
  memcpy(v->cfg.cmd_hi, hi, sizeof v->cfg.cmd_hi);
  return 0;
}

// ---- one environment ----------------------------------------------------------------------------

static void draw_command(const sp_vecenv* v, env* e) {
  for (int i = 0; i < 3; i++)
    e->cmd[i] = v->cfg.cmd_lo[i] + (v->cfg.cmd_hi[i] - v->cfg.cmd_lo[i]) * sp_rng_uniform(&e->rng);
}

static const double* frame_of(const sp_vecenv* v, int clip, int f) {
  int n = v->clip_off[clip + 1] - v->clip_off[clip];
  f = f < 0 ? 0 : f >= n ? n - 1 : f;
  return v->frames + (size_t)(v->clip_off[clip] + f) * v->m->nq;
}

// the generalized velocity between two frames dt apart (free joint: world linear, body angular)
static void frame_velocity(const sp_vecenv* v, double* qvel, const double* a, const double* b) {
  double dt = sp_vecenv_dt(v), qa[4], dq[4];
  for (int i = 0; i < 3; i++) qvel[i] = (b[i] - a[i]) / dt;
  mju_negQuat(qa, a + 3);
  mju_mulQuat(dq, qa, b + 3);
  mju_quat2Vel(qvel + 3, dq, dt);
  for (int k = 0; k < v->nact; k++) qvel[v->vadr[k]] = (b[v->qadr[k]] - a[v->qadr[k]]) / dt;
}

static void env_reset(const sp_vecenv* v, env* e) {
  const mjModel* m = v->m;
  mjData* d = e->d;
  if (v->key >= 0)
    mj_resetDataKeyframe(m, d, v->key);
  else
    mj_resetData(m, d);
  if (v->cfg.task == SP_VECENV_IMITATE) {
    // reference state initialisation: a random frame of a random clip, at its pose and velocity;
    // from_start: environment i plays clip i mod nclips from its first frame (an evaluation)
    if (v->cfg.from_start) {
      e->clip = (int)((e - v->envs) % v->cfg.nclips);
      e->frame = 0;
    } else {
      e->clip = (int)sp_rng_below(&e->rng, (uint64_t)v->cfg.nclips);
      int n = v->clip_off[e->clip + 1] - v->clip_off[e->clip];
      e->frame = (int)sp_rng_below(&e->rng, (uint64_t)(n - 2));
    }
    const double* f = frame_of(v, e->clip, e->frame);
    memcpy(d->qpos, f, sizeof(double) * m->nq);
    mju_zero(d->qvel, m->nv);
    frame_velocity(v, d->qvel, f, frame_of(v, e->clip, e->frame + 1));
  }
  int noise = !(v->cfg.task == SP_VECENV_IMITATE && v->cfg.from_start);
  for (int k = 0; k < v->nact; k++) {
    if (noise) d->qpos[v->qadr[k]] += v->cfg.reset_noise * (2 * sp_rng_uniform(&e->rng) - 1);
    e->aprev[k] = 0;
    e->target[k] = v->stand[k];
  }
  mj_forward(m, d);
  sp_lowlevel_reset(v->ll, e->lld, d->qpos, d->qvel);
  e->age = 0;
  e->ret = 0;
  draw_command(v, e);
}

// the observation of hal/vecenv.h; also the trunk's body-frame velocities and up axis
static void env_observe(const sp_vecenv* v, const env* e, double* o, double vb[3], double wb[3],
                        double up[3]) {
  const mjData* d = e->d;
  double R[9];
  mju_quat2Mat(R, d->qpos + 3);  // row-major, body to world
  for (int i = 0; i < 3; i++) {
    up[i] = R[6 + i];  // R^T e_z
    vb[i] = R[i] * d->qvel[0] + R[3 + i] * d->qvel[1] + R[6 + i] * d->qvel[2];
    wb[i] = d->qvel[3 + i];  // a free joint's angular velocity is in the body frame
  }
  int n = v->nact, j = 0;
  o[j++] = d->qpos[2];
  for (int i = 0; i < 3; i++) o[j++] = up[i];
  for (int i = 0; i < 3; i++) o[j++] = vb[i];
  for (int i = 0; i < 3; i++) o[j++] = wb[i];
  for (int k = 0; k < n; k++) o[j++] = d->qpos[v->qadr[k]];
  for (int k = 0; k < n; k++) o[j++] = d->qvel[v->vadr[k]];
  if (v->cfg.task == SP_VECENV_IMITATE) {
    // the next frame: its height, up axis, joints, and where its root is in the trunk's frame
    const double* f = frame_of(v, e->clip, e->frame + 1);
    double Rf[9], dp[3];
    mju_quat2Mat(Rf, f + 3);
    o[j++] = f[2];
    for (int i = 0; i < 3; i++) o[j++] = Rf[6 + i];
    for (int k = 0; k < n; k++) o[j++] = f[v->qadr[k]];
    for (int i = 0; i < 3; i++) dp[i] = f[i] - d->qpos[i];
    for (int i = 0; i < 3; i++) o[j++] = R[i] * dp[0] + R[3 + i] * dp[1] + R[6 + i] * dp[2];
  } else {
    for (int i = 0; i < 3; i++) o[j++] = e->cmd[i];
  }
  for (int k = 0; k < n; k++) o[j++] = e->aprev[k];
}

// the imitation reward (DeepMimic's form, Peng et al. 2018) at the current frame; the errors
static double imitation_reward(const sp_vecenv* v, env* e, double* joint_err, double* root_err) {
  const mjData* d = e->d;
  const double* f = frame_of(v, e->clip, e->frame);
  double qref[64], ej = 0, ev = 0, ep = 0, aj = 0;
  mju_zero(qref, v->m->nv);
  frame_velocity(v, qref, frame_of(v, e->clip, e->frame - 1), f);
  for (int k = 0; k < v->nact; k++) {
    double dq = d->qpos[v->qadr[k]] - f[v->qadr[k]];
    double dv = d->qvel[v->vadr[k]] - qref[v->vadr[k]];
    ej += dq * dq, ev += dv * dv, aj += fabs(dq);
  }
  for (int i = 0; i < 3; i++) ep += (d->qpos[i] - f[i]) * (d->qpos[i] - f[i]);
  double dot = fabs(mju_dot(d->qpos + 3, f + 3, 4));
  double ang = 2 * acos(dot > 1 ? 1 : dot);
  *joint_err = aj / v->nact;
  *root_err = sqrt(ep);
  return 0.5 * exp(-5 * ej) + 0.15 * exp(-0.1 * ev) + 0.2 * exp(-10 * ep) +
         0.15 * exp(-2 * ang * ang);
}

static void env_step(const sp_vecenv* v, env* e, const double* a, double* o, double* rew,
                     double* dn, double* to) {
  const sp_vecenv_config* c = &v->cfg;
  const mjModel* m = v->m;
  mjData* d = e->d;
  int n = v->nact;
  // PD targets from the action
  double rate = 0;
  for (int k = 0; k < n; k++) {
    double ak = a[k] < -c->action_clip  ? -c->action_clip
                : a[k] > c->action_clip ? c->action_clip
                                        : a[k];
    if (!(ak == ak)) ak = 0;
    double t = v->stand[k] + c->action_scale * ak;
    e->target[k] = t < v->lo[k] ? v->lo[k] : t > v->hi[k] ? v->hi[k] : t;
    rate += (ak - e->aprev[k]) * (ak - e->aprev[k]);
    e->aprev[k] = ak;
  }
  // the joint PD every physics step
  int bad0 = d->warning[mjWARN_BADQACC].number;
  for (int s = 0; s < c->substeps; s++) {
    sp_lowlevel_tick(v->ll, e->lld, SP_LOWLEVEL_RUN, d->time, d->qpos, d->qvel, e->target, d->ctrl);
    mj_step(m, d);
  }
  int unstable = d->warning[mjWARN_BADQACC].number != bad0;
  double vb[3], wb[3], up[3];
  env_observe(v, e, o, vb, wb, up);
  for (int i = 0; i < v->nobs; i++)
    if (!isfinite(o[i])) unstable = 1;
  // reward
  double tau = 0;
  for (int k = 0; k < m->nu; k++) tau += d->ctrl[k] * d->ctrl[k];
  double ex = 0, ey = 0, ez = 0, r, jerr = 0, rerr = 0;
  int lost = 0, clip_end = 0;
  if (c->task == SP_VECENV_IMITATE) {
    e->frame++;
    r = imitation_reward(v, e, &jerr, &rerr) - c->w_torque * tau - c->w_rate * rate;
    lost = rerr > c->track_fail;
    clip_end = e->frame >= v->clip_off[e->clip + 1] - v->clip_off[e->clip] - 1;
    env_observe(v, e, o, vb, wb, up);  // the task part moved on with the frame
  } else {
    ex = vb[0] - e->cmd[0], ey = vb[1] - e->cmd[1], ez = wb[2] - e->cmd[2];
    r = c->w_lin * exp(-(ex * ex + ey * ey) / c->sigma2) + c->w_ang * exp(-ez * ez / c->sigma2) -
        c->w_vz * vb[2] * vb[2] - c->w_wxy * (wb[0] * wb[0] + wb[1] * wb[1]) - c->w_torque * tau -
        c->w_rate * rate;
  }
  if (c->only_positive && r < 0) r = 0;
  r *= sp_vecenv_dt(v);
  if (unstable) r = 0;
  e->steps += 1;
  e->vel_err += sqrt(ex * ex + ey * ey);
  e->yaw_err += fabs(ez);
  e->joint_err += jerr;
  e->root_err += rerr;
  e->reward += r;
  e->ret += r;
  e->age++;
  int fell = unstable || lost || d->qpos[2] < c->fall_height || up[2] < c->fall_tilt;
  int timeout = !fell && (e->age >= c->episode_steps || clip_end);
  *rew = r;
  *dn = fell || timeout;
  if (to) *to = timeout;
  if (fell || timeout) {
    e->episodes += 1;
    e->falls += fell;
    e->ret_sum += e->ret;
    e->len_sum += e->age;
    env_reset(v, e);
    env_observe(v, e, o, vb, wb, up);
  } else if (c->task != SP_VECENV_IMITATE && c->resample_steps > 0 &&
             e->age % c->resample_steps == 0) {
    draw_command(v, e);
    o[v->nobs - v->nact - 3] = e->cmd[0];
    o[v->nobs - v->nact - 2] = e->cmd[1];
    o[v->nobs - v->nact - 1] = e->cmd[2];
  }
}

// ---- the pool -----------------------------------------------------------------------------------

static void run_slice(sp_vecenv* v, int tid) {
  int lo = (int)((long)v->nenvs * tid / v->nthreads);
  int hi = (int)((long)v->nenvs * (tid + 1) / v->nthreads);
  for (int i = lo; i < hi; i++) {
    env* e = &v->envs[i];
    double* o = v->obs ? v->obs + (size_t)i * v->nobs : NULL;
    switch (v->job) {
      case JOB_STEP:
        env_step(v, e, v->a + (size_t)i * v->nact, o, v->rew + i, v->dn + i,
                 v->to ? v->to + i : NULL);
        break;
      case JOB_RAW:
        for (int s = 0; s < v->cfg.substeps; s++) mj_step(v->m, e->d);
        break;
      case JOB_RESET: {
        sp_rng_seed(&e->rng, v->seed, (uint64_t)i);
        env_reset(v, e);
        // spread the time-outs over the first episode, as if the environments started apart
        if (!(v->cfg.task == SP_VECENV_IMITATE && v->cfg.from_start))
          e->age = (int)sp_rng_below(&e->rng, (uint64_t)v->cfg.episode_steps);
        double vb[3], wb[3], up[3];
        if (o) env_observe(v, e, o, vb, wb, up);
        break;
      }
    }
  }
}

static void* worker_main(void* arg) {
  worker* w = arg;
  sp_vecenv* v = w->v;
  long seen = 0;
  for (;;) {
    pthread_mutex_lock(&v->lock);
    while (v->gen == seen) pthread_cond_wait(&v->go, &v->lock);
    seen = v->gen;
    int job = v->job;
    pthread_mutex_unlock(&v->lock);
    if (job == JOB_QUIT) break;
    run_slice(v, w->tid);
    pthread_mutex_lock(&v->lock);
    if (--v->pending == 0) pthread_cond_signal(&v->done);
    pthread_mutex_unlock(&v->lock);
  }
  return NULL;
}

// run a job on every thread (the caller's is thread 0) and wait for all of them
static void run_job(sp_vecenv* v, int job) {
  if (v->started) {
    pthread_mutex_lock(&v->lock);
    v->job = job;
    v->pending = v->started;
    v->gen++;
    pthread_cond_broadcast(&v->go);
    pthread_mutex_unlock(&v->lock);
  } else {
    v->job = job;
  }
  if (job == JOB_QUIT) return;
  run_slice(v, 0);
  if (v->started) {
    pthread_mutex_lock(&v->lock);
    while (v->pending > 0) pthread_cond_wait(&v->done, &v->lock);
    pthread_mutex_unlock(&v->lock);
  }
}

// ---- lifecycle ----------------------------------------------------------------------------------

int sp_vecenv_new(sp_vecenv** out, const sp_vecenv_config* c, char* msg, size_t len) {
  *out = NULL;
  int rc = sp_vecenv_check(c, msg, len);
  if (rc) return rc;
  char err[1000] = "";
  mjModel* m = mj_loadXML(c->mjcf, NULL, err, sizeof err);
  if (!m) return sp_errorf(msg, len, SP_EIO, "vecenv: cannot load %s: %s", c->mjcf, err);
  sp_vecenv* v = sp_calloc(1, sizeof *v);
  if (!v) {
    mj_deleteModel(m);
    return SP_ENOMEM;
  }
  v->cfg = *c;
  v->cfg.mjcf = NULL;  // not kept
  v->cfg.keyframe = NULL;
  v->m = m;
  v->nenvs = c->nenvs;
  v->nthreads = c->nthreads;
  v->nact = m->nu;
  int n = v->nact;
  v->ntask = c->task == SP_VECENV_IMITATE ? 7 + n : 3;
  v->nobs = 10 + 2 * n + v->ntask + n;
  v->key = -1;
  if (c->keyframe && (v->key = mj_name2id(m, mjOBJ_KEY, c->keyframe)) < 0) {
    rc = sp_errorf(msg, len, SP_ENOTFOUND, "vecenv: no keyframe named '%s' in %s", c->keyframe,
                   c->mjcf);
    goto fail;
  }
  if (m->nq < 7 || m->jnt_type[0] != mjJNT_FREE) {
    rc = sp_errorf(msg, len, SP_EINVAL,
                   "vecenv: %s: the first joint must be the trunk's free joint", c->mjcf);
    goto fail;
  }
  v->qadr = sp_calloc((size_t)2 * n, sizeof(int));
  v->stand = sp_calloc((size_t)3 * n, sizeof(double));
  if (!v->qadr || !v->stand) goto nomem;
  v->vadr = v->qadr + n;
  v->lo = v->stand + n;
  v->hi = v->lo + n;
  const double* q0 = v->key >= 0 ? m->key_qpos + (size_t)v->key * m->nq : m->qpos0;
  for (int k = 0; k < n; k++) {
    int j = m->actuator_trntype[k] == mjTRN_JOINT ? m->actuator_trnid[2 * k] : -1;
    if (j < 0 || (m->jnt_type[j] != mjJNT_HINGE && m->jnt_type[j] != mjJNT_SLIDE)) {
      rc = sp_errorf(msg, len, SP_EINVAL, "vecenv: %s: actuator %d drives no hinge or slide joint",
                     c->mjcf, k + 1);
      goto fail;
    }
    v->qadr[k] = m->jnt_qposadr[j];
    v->vadr[k] = m->jnt_dofadr[j];
    v->stand[k] = q0[v->qadr[k]];
    v->lo[k] = m->jnt_limited[j] ? m->jnt_range[2 * j] : -INFINITY;
    v->hi[k] = m->jnt_limited[j] ? m->jnt_range[2 * j + 1] : INFINITY;
  }
  // the clips, copied
  if (c->task == SP_VECENV_IMITATE) {
    if (c->clip_nq != m->nq) {
      rc = sp_errorf(msg, len, SP_EINVAL,
                     "vecenv: clips have %d numbers per frame, the qpos of %s has %d", c->clip_nq,
                     c->mjcf, m->nq);
      goto fail;
    }
    if (m->nv > 64) {
      rc = sp_errorf(msg, len, SP_EINVAL, "vecenv: imitation supports models of up to 64 dofs");
      goto fail;
    }
    long total = 0;
    for (int i = 0; i < c->nclips; i++) total += c->clip_frames[i];
    v->frames = sp_malloc(sizeof(double) * (size_t)total * (size_t)m->nq);
    v->clip_off = sp_malloc(sizeof(int) * ((size_t)c->nclips + 1));
    if (!v->frames || !v->clip_off) goto nomem;
    v->clip_off[0] = 0;
    for (int i = 0; i < c->nclips; i++) {
      memcpy(v->frames + (size_t)v->clip_off[i] * m->nq, c->clips[i],
             sizeof(double) * (size_t)c->clip_frames[i] * m->nq);
      v->clip_off[i + 1] = v->clip_off[i] + c->clip_frames[i];
    }
  }
  // the joint PD of the mujoco plant
  sp_lowlevel_param ps[2] = {{"kp", &c->kp, 1}, {"kd", &c->kd, 1}};
  sp_lowlevel_config lc = {.kind = "joint_pd", .every = 1, .params = ps, .nparams = 2};
  sp_lowlevel_plant pl = {.nq = m->nq,
                          .nv = m->nv,
                          .nact = n,
                          .qadr = v->qadr,
                          .vadr = v->vadr,
                          .dt = m->opt.timestep,
                          .mjcf = c->mjcf,
                          .mj = m};
  if ((rc = sp_lowlevel_new(&v->ll, &lc, &pl, err, sizeof err))) {
    rc = sp_errorf(msg, len, rc, "vecenv: %s", err);
    goto fail;
  }
  // the environments
  v->envs = sp_calloc((size_t)v->nenvs, sizeof(env));
  v->store = sp_calloc((size_t)v->nenvs * 2 * n, sizeof(double));
  if (!v->envs || !v->store) goto nomem;
  for (int i = 0; i < v->nenvs; i++) {
    env* e = &v->envs[i];
    e->aprev = v->store + (size_t)i * 2 * n;
    e->target = e->aprev + n;
    if (!(e->d = mj_makeData(m))) goto nomem;
    if ((rc = sp_lowlevel_data_new(&e->lld, v->ll))) goto fail;
  }
  // the workers
  pthread_mutex_init(&v->lock, NULL);
  pthread_cond_init(&v->go, NULL);
  pthread_cond_init(&v->done, NULL);
  v->sync = 1;
  if (v->nthreads > 1) {
    v->workers = sp_calloc((size_t)v->nthreads - 1, sizeof(worker));
    if (!v->workers) goto nomem;
    for (int t = 1; t < v->nthreads; t++) {
      worker* w = &v->workers[t - 1];
      w->v = v;
      w->tid = t;
      if (pthread_create(&w->th, NULL, worker_main, w)) {
        rc = sp_errorf(msg, len, SP_ENOMEM, "vecenv: cannot start worker thread %d", t);
        goto fail;
      }
      v->started = t;
    }
  }
  v->seed = c->seed;
  run_job(v, JOB_RESET);
  *out = v;
  return 0;
nomem:
  rc = SP_ENOMEM;
fail:
  sp_vecenv_free(v);
  return rc;
}

void sp_vecenv_free(sp_vecenv* v) {
  if (!v) return;
  if (v->started) {
    run_job(v, JOB_QUIT);
    for (int t = 1; t <= v->started; t++) pthread_join(v->workers[t - 1].th, NULL);
  }
  if (v->sync) {
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->go);
    pthread_cond_destroy(&v->done);
  }
  for (int i = 0; v->envs && i < v->nenvs; i++) {
    if (v->envs[i].d) mj_deleteData(v->envs[i].d);
    sp_lowlevel_data_free(v->envs[i].lld);
  }
  sp_free(v->envs);
  sp_free(v->store);
  sp_free(v->workers);
  sp_lowlevel_free(v->ll);
  sp_free(v->qadr);
  sp_free(v->stand);
  sp_free(v->frames);
  sp_free(v->clip_off);
  if (v->m) mj_deleteModel(v->m);
  sp_free(v);
}

int sp_vecenv_reset(sp_vecenv* v, uint64_t seed, double* obs) {
  v->seed = seed;
  v->obs = obs;
  run_job(v, JOB_RESET);
  v->obs = NULL;
  return 0;
}

int sp_vecenv_step(sp_vecenv* v, double* obs, double* reward, double* done, double* timeout,
                   const double* a) {
  v->a = a;
  v->obs = obs;
  v->rew = reward;
  v->dn = done;
  v->to = timeout;
  run_job(v, JOB_STEP);
  v->obs = NULL;
  return 0;
}

void sp_vecenv_step_raw(sp_vecenv* v) {
  run_job(v, JOB_RAW);
}

void sp_vecenv_metrics_get(sp_vecenv* v, sp_vecenv_metrics* out, int clear) {
  sp_vecenv_metrics s = {0};
  double ve = 0, ye = 0, rw = 0, rs = 0, ls = 0, je = 0, re = 0;
  for (int i = 0; i < v->nenvs; i++) {
    env* e = &v->envs[i];
    s.steps += e->steps, ve += e->vel_err, ye += e->yaw_err, rw += e->reward;
    s.episodes += e->episodes, s.falls += e->falls, rs += e->ret_sum, ls += e->len_sum;
    je += e->joint_err, re += e->root_err;
    if (clear)
      e->steps = e->vel_err = e->yaw_err = e->reward = e->episodes = e->falls = e->ret_sum =
          e->len_sum = e->joint_err = e->root_err = 0;
  }
  if (s.steps > 0) {
    s.vel_error = ve / s.steps, s.yaw_error = ye / s.steps, s.reward = rw / s.steps;
    s.joint_error = je / s.steps;
    s.root_error = re / s.steps;
  }
  if (s.episodes > 0) s.episode_return = rs / s.episodes, s.episode_length = ls / s.episodes;
  *out = s;
}

int sp_vecenv_qpos(const sp_vecenv* v, int i, double* qpos, int n) {
  if (i < 0 || i >= v->nenvs || n < v->m->nq) return SP_ERANGE;
  memcpy(qpos, v->envs[i].d->qpos, sizeof(double) * v->m->nq);
  return v->m->nq;
}
