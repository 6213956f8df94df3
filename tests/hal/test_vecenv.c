// test_vecenv.c: hal/vecenv: batched quadrupeds on worker threads: the observation layout, the
// same transitions whatever the thread count, no allocation in step, episode ends, errors.
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/vecenv.h"
#include "tests/test.h"

static const char* quadruped(void) {
  static char path[1024];
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/robots/quadruped.xml", src ? src : "..");
  return path;
}

enum { NE = 5, NO = 49, NA = 12 };

TEST(the_observation_starts_at_the_standing_keyframe_with_a_command_in_range) {
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), NE, 2, 3);
  sp_vecenv* v = NULL;
  char msg[256] = "";
  int rc = sp_vecenv_new(&v, &c, msg, sizeof msg);
  if (rc) SP_FAIL_("%s", msg);
  CHECK_INT(sp_vecenv_nobs(v), NO);
  CHECK_INT(sp_vecenv_nact(v), NA);
  CHECK_CLOSE(sp_vecenv_dt(v), 0.02, 1e-12, 0);
  double obs[NE * NO];
  CHECK_INT(sp_vecenv_reset(v, 4, obs), 0);
  static const double stand[3] = {0, 0.9, -1.8};
  for (int e = 0; e < NE; e++) {
    const double* o = obs + e * NO;
    CHECK_CLOSE(o[0], 0.285, 0, 0.03);  // trunk height
    CHECK_CLOSE(o[3], 1, 0, 1e-6);      // up axis
    for (int k = 0; k < NA; k++) {
      CHECK(fabs(o[10 + k] - stand[k % 3]) <= 0.1 + 1e-12);  // joints: stand +- reset noise
      CHECK_CLOSE(o[37 + k], 0, 0, 0);                       // last action
    }
    CHECK(o[34] >= -1 && o[34] <= 1 && o[35] >= -0.5 && o[35] <= 0.5 && o[36] >= -1 && o[36] <= 1);
  }
  sp_vecenv_free(v);
}

TEST(zero_actions_hold_the_stand_without_falling) {
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), 3, 1, 1);
  c.episode_steps = 100000;
  sp_vecenv* v = NULL;
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  double obs[3 * NO], a[3 * NA] = {0}, r[3], d[3];
  sp_vecenv_reset(v, 1, obs);
  for (int t = 0; t < 100; t++) {
    sp_vecenv_step(v, obs, r, d, NULL, a);
    for (int e = 0; e < 3; e++) CHECK_INT(d[e], 0);
  }
  for (int e = 0; e < 3; e++) {
    CHECK_CLOSE(obs[e * NO], 0.28, 0, 0.04);
    CHECK(fabs(obs[e * NO + 4]) + fabs(obs[e * NO + 5]) < 0.05);  // velocity ~ 0
  }
  sp_vecenv_free(v);
}

// 40 steps with random actions; returns observations, rewards and ends concatenated
static void trace(double* out, int nthreads) {
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), NE, nthreads, 9);
  c.episode_steps = 15;  // time-outs and resets inside the trace
  c.resample_steps = 7;
  sp_vecenv* v = NULL;
  if (sp_vecenv_new(&v, &c, NULL, 0)) abort();
  double a[NE * NA], r[NE], d[NE], to[NE];
  sp_rng rng;
  sp_rng_seed(&rng, 5, 0);
  sp_vecenv_reset(v, 9, out);
  out += NE * NO;
  for (int t = 0; t < 40; t++) {
    sp_rng_fill_normal(&rng, a, NE * NA, 0, 1.5);
    sp_vecenv_step(v, out, r, d, to, a);
    out += NE * NO;
    for (int e = 0; e < NE; e++) *out++ = r[e], *out++ = d[e], *out++ = to[e];
  }
  sp_vecenv_free(v);
}

TEST(the_same_seed_gives_the_same_transitions_on_one_two_and_three_threads) {
  size_t n = (size_t)41 * NE * NO + 40 * NE * 3;
  double* t1 = calloc(n, sizeof(double));
  double* t2 = calloc(n, sizeof(double));
  double* t3 = calloc(n, sizeof(double));
  trace(t1, 1);
  trace(t2, 2);
  trace(t3, 3);
  CHECK(memcmp(t1, t2, n * sizeof(double)) == 0);
  CHECK(memcmp(t1, t3, n * sizeof(double)) == 0);
  // and the trace is not trivial: episodes ended and rewards differ between environments
  double ends = 0;
  for (int t = 0; t < 40; t++)
    for (int e = 0; e < NE; e++)
      ends += t1[(size_t)(t + 2) * NE * NO + (size_t)t * NE * 3 + 3 * e + 1];
  CHECK(ends >= NE);
  free(t1), free(t2), free(t3);
}

TEST(step_and_raw_step_do_not_allocate) {
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), NE, 2, 2);
  c.episode_steps = 10;
  sp_vecenv* v = NULL;
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  double obs[NE * NO], a[NE * NA] = {0}, r[NE], d[NE];
  sp_vecenv_step(v, obs, r, d, NULL, a);
  uint64_t before = sp_alloc_count();
  for (int t = 0; t < 30; t++) sp_vecenv_step(v, obs, r, d, NULL, a);
  sp_vecenv_step_raw(v);
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(v, &m, 1);
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK_CLOSE(m.steps, 31 * NE, 0, 0);
  CHECK(m.episodes >= NE * 3);
  sp_vecenv_free(v);
}

TEST(a_fall_ends_the_episode_as_terminal_and_a_time_out_as_timeout) {
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), 2, 1, 2);
  c.fall_height = 0.5;  // standing is "fallen"
  sp_vecenv* v = NULL;
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  double obs[2 * NO], a[2 * NA] = {0}, r[2], d[2], to[2];
  sp_vecenv_step(v, obs, r, d, to, a);
  CHECK_INT(d[0], 1);
  CHECK_INT(to[0], 0);
  sp_vecenv_free(v);
  c = sp_vecenv_default_config(quadruped(), 2, 1, 2);
  c.episode_steps = 1;
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  sp_vecenv_step(v, obs, r, d, to, a);
  CHECK_INT(d[1], 1);
  CHECK_INT(to[1], 1);
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(v, &m, 0);
  CHECK_CLOSE(m.falls, 0, 0, 0);
  CHECK_CLOSE(m.episodes, 2, 0, 0);
  sp_vecenv_free(v);
}

TEST(bad_settings_and_files_are_named) {
  char msg[256];
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), 0, 1, 1);
  sp_vecenv* v = (sp_vecenv*)1;
  CHECK_INT(sp_vecenv_new(&v, &c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "vecenv: nenvs must be >= 1, got 0");
  CHECK(v == NULL);
  c = sp_vecenv_default_config(quadruped(), 1, 1, 1);
  c.cmd_lo[2] = 2;
  CHECK_INT(sp_vecenv_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "vecenv: command range wz must have lo <= hi, got 2 and 1");
  c = sp_vecenv_default_config(quadruped(), 1, 1, 1);
  c.keyframe = "sitting";
  CHECK_INT(sp_vecenv_new(&v, &c, msg, sizeof msg), SP_ENOTFOUND);
  char want[1200];
  snprintf(want, sizeof want, "vecenv: no keyframe named 'sitting' in %s", quadruped());
  CHECK_STR(msg, want);
  c = sp_vecenv_default_config("/nonexistent.xml", 1, 1, 1);
  CHECK_INT(sp_vecenv_new(&v, &c, msg, sizeof msg), SP_EIO);
  CHECK(strncmp(msg, "vecenv: cannot load /nonexistent.xml: ", 38) == 0);
}

// a clip of nf frames of the standing keyframe, its trunk moving along x at speed m/s
static double* standing_clip(int nf, double speed) {
  static const double key[19] = {0, 0,   0.285, 1, 0,   0,    0, 0,   0.9, -1.8,
                                 0, 0.9, -1.8,  0, 0.9, -1.8, 0, 0.9, -1.8};
  double* f = malloc(sizeof(double) * 19 * (size_t)nf);
  for (int i = 0; i < nf; i++) {
    memcpy(f + 19 * i, key, sizeof key);
    f[19 * i] = speed * 0.02 * i;
  }
  return f;
}

TEST(standing_still_tracks_a_standing_clip_and_loses_a_moving_one) {
  double* still = standing_clip(200, 0);
  double* moving = standing_clip(200, 1.0);
  const double* clips[1] = {still};
  int nf[1] = {200};
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), 2, 2, 4);
  c.task = SP_VECENV_IMITATE;
  c.clips = clips, c.clip_frames = nf, c.nclips = 1, c.clip_nq = 19;
  c.reset_noise = 0;
  sp_vecenv* v = NULL;
  char msg[256] = "";
  int rc = sp_vecenv_new(&v, &c, msg, sizeof msg);
  if (rc) SP_FAIL_("%s", msg);
  CHECK_INT(sp_vecenv_nobs(v), 65);
  double obs[2 * 65], a[2 * 12] = {0}, r[2], d[2], to[2];
  sp_vecenv_reset(v, 4, obs);
  CHECK_CLOSE(obs[34], 0.285, 0, 1e-12);            // the next frame's height
  CHECK_CLOSE(obs[34 + 1 + 3 + 1], 0.9, 0, 1e-12);  // its first hip
  for (int t = 0; t < 50; t++) sp_vecenv_step(v, obs, r, d, to, a);
  sp_vecenv_metrics m;
  sp_vecenv_metrics_get(v, &m, 1);
  CHECK(m.joint_error < 0.05);
  CHECK(m.root_error < 0.05);
  CHECK_CLOSE(m.falls, 0, 0, 0);
  CHECK(m.reward > 0.9 * 0.02);     // most of the maximum 1 per second
  sp_vecenv_metrics_get(v, &m, 1);  // cleared: nothing since
  CHECK_CLOSE(m.steps + m.joint_error + m.root_error + m.vel_error + m.reward, 0, 0, 0);
  sp_vecenv_free(v);
  // the moving clip runs away at 1 m/s: lost after about half a second, a terminal end
  clips[0] = moving;
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  sp_vecenv_reset(v, 4, obs);
  int ended = 0;
  for (int t = 0; t < 60 && !ended; t++) {
    sp_vecenv_step(v, obs, r, d, to, a);
    if (d[0]) {
      ended = t + 1;
      CHECK_INT(to[0], 0);
    }
  }
  CHECK(ended >= 15 && ended <= 40);
  sp_vecenv_free(v);
  // clips that do not fit the model are refused
  c.clip_nq = 7;
  CHECK_INT(sp_vecenv_new(&v, &c, msg, sizeof msg), SP_EINVAL);
  char want[1200];
  snprintf(want, sizeof want, "vecenv: clips have 7 numbers per frame, the qpos of %s has 19",
           quadruped());
  CHECK_STR(msg, want);
  free(still), free(moving);
}

// from_start (an evaluation): environment i plays clip i mod nclips from its first frame, exactly
// at its pose, whatever the seed; without it the start is a random frame with reset noise
TEST(from_start_plays_clip_i_from_its_first_frame_without_noise) {
  double* a0 = standing_clip(30, 0);
  double* a1 = standing_clip(30, 0.5);
  for (int i = 0; i < 30; i++) a1[19 * i + 8] = 0.7 + 0.001 * i;  // a distinct first hip
  const double* clips[2] = {a0, a1};
  int nf[2] = {30, 30};
  sp_vecenv_config c = sp_vecenv_default_config(quadruped(), 3, 2, 9);
  c.task = SP_VECENV_IMITATE;
  c.clips = clips, c.clip_frames = nf, c.nclips = 2, c.clip_nq = 19;
  c.from_start = 1;
  sp_vecenv* v = NULL;
  char msg[256] = "";
  int rc = sp_vecenv_new(&v, &c, msg, sizeof msg);
  if (rc) SP_FAIL_("%s", msg);
  double obs[3 * 65], q[19];
  for (uint64_t seed = 1; seed <= 2; seed++) {
    sp_vecenv_reset(v, seed, obs);
    for (int i = 0; i < 3; i++) {
      const double* f = clips[i % 2];
      CHECK_INT(sp_vecenv_qpos(v, i, q, 19), 19);
      for (int k = 0; k < 19; k++) CHECK_CLOSE(q[k], f[k], 0, 1e-12);
      for (int k = 0; k < 12; k++) CHECK_CLOSE(obs[65 * i + 10 + k], f[7 + k], 0, 1e-12);
    }
  }
  sp_vecenv_free(v);
  c.from_start = 0;  // the training start: some environment is off the first frame's hip
  CHECK_INT(sp_vecenv_new(&v, &c, NULL, 0), 0);
  sp_vecenv_reset(v, 1, obs);
  int moved = 0;
  for (int i = 0; i < 3; i++) {
    CHECK_INT(sp_vecenv_qpos(v, i, q, 19), 19);
    if (q[8] != a0[8] && q[8] != a1[8]) moved = 1;
  }
  CHECK(moved);
  sp_vecenv_free(v);
  free(a0), free(a1);
}

TEST_MAIN()
