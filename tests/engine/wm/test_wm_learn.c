// test_wm_learn.c: the world model learns a known system. Cart-pole transitions (the engine's
// cartpole model, RK4 at 50 Hz, random forces) are stored as a fixed-base robot with two joints
// (cart position and pole angle) in the replay buffer; a small float32 model trained on 8-step
// rollouts must predict held-out episodes with a tenth of the untrained model's error (it keeps
// velocities constant) in joint angles and velocities, at every horizon from 1 to 8, for two seeds.
// The pole hangs and swings (bounded angles, as a robot's joints are).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/model/model.h"
#include "engine/nn/optim.h"
#include "engine/wm/replay.h"
#include "engine/wm/wm.h"
#include "test.h"

enum { ITERS = 1500, NJ = 2, NX = 13 + 2 * NJ, H = 8, BATCH = 64, EPISODES = 60, STEPS = 100 };

// cart-pole state (p, theta, pdot, thetadot) as a world-model state: root fixed at height 1
static void to_wm(double* s, const double* x) {
  memset(s, 0, NX * sizeof(double));
  s[2] = 1;
  s[3] = 1;
  s[13] = x[0];
  s[14] = x[1];
  s[15] = x[2];
  s[16] = x[3];
}

// episodes of random forces (held for 5 steps) from random states near hanging
static void collect(sp_replay* r, const sp_model* m, sp_model_data* md, sp_rng* g, int episodes) {
  for (int e = 0; e < episodes; e++) {
    double x[4], x1[4], u = 0, s[NX], s1[NX];
    sp_rng_fill_uniform(g, x, 4, -0.5, 0.5);
    x[1] += M_PI;  // hanging: the pole swings in a bounded range of angles
    for (int t = 0; t < STEPS; t++) {
      if (t % 5 == 0) u = 4 * sp_rng_normal(g);
      sp_model_step(m, md, x1, x, &u);
      to_wm(s, x);
      to_wm(s1, x1);
      sp_replay_push(r, s, &u, s1, t == STEPS - 1);
      memcpy(x, x1, sizeof x);
    }
  }
}

// mean joint-angle (err[k]) and joint-velocity (err[H + k]) errors after k + 1 applications over
// 512 held-out windows
static void horizon_errors(sp_wm* wm, sp_wm_data* d, sp_replay* test, double* err) {
  static double S[BATCH * (H + 1) * NX], A[BATCH * H];
  double per[H * SP_WM_NCOMP], L;
  sp_rng g;
  sp_rng_seed(&g, 99, 0);
  memset(err, 0, 2 * H * sizeof(double));
  for (int rep = 0; rep < 8; rep++) {
    sp_replay_sample(test, &g, S, A, NULL, BATCH, H);
    sp_wm_rollout_loss(wm, d, &L, NULL, per, S, A, BATCH, H, 0);
    for (int k = 0; k < H; k++)
      err[k] += per[k * SP_WM_NCOMP + SP_WM_JOINTS] / 8,
          err[H + k] += per[k * SP_WM_NCOMP + SP_WM_JOINT_VELOCITIES] / 8;
  }
}

static void learn(int* sp_failed_, uint64_t seed) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "cartpole", NULL, 0.02), 0);
  sp_model_data* md;
  CHECK_INT(sp_model_data_new(&md, m), 0);
  sp_replay *train, *test;
  CHECK_INT(sp_replay_new(&train, NX, 1, EPISODES * STEPS), 0);
  CHECK_INT(sp_replay_new(&test, NX, 1, 20 * STEPS), 0);
  sp_rng g;
  sp_rng_seed(&g, seed, 1);
  collect(train, m, md, &g, EPISODES);
  collect(test, m, md, &g, 20);

  sp_wm_config c = sp_wm_default_config(NJ, 1, 0.02);
  c.hidden = 64;
  c.layers = 2;
  sp_wm* wm;
  CHECK_INT(sp_wm_new(&wm, &c, seed), 0);
  sp_wm_observe(wm, train->s, train->a, train->s_next, (int)train->size);
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, BATCH, H), 0);
  double before[2 * H], after[2 * H];
  horizon_errors(wm, d, test, before);

  sp_optim_config oc = sp_optim_adam_config(2e-3);
  oc.clip = 1;
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &oc, SP_F32, wm->net->nparams), 0);
  static double S[BATCH * (H + 1) * NX], A[BATCH * H];
  double L;
  for (int it = 0; it < ITERS; it++) {
    CHECK_INT(sp_replay_sample(train, &g, S, A, NULL, BATCH, H), 0);
    sp_mlp_zero_grad(wm->net);
    CHECK_INT(sp_wm_rollout_loss(wm, d, &L, NULL, NULL, S, A, BATCH, H, 1), 0);
    CHECK_INT(sp_optim_step(o, wm->net->params, wm->net->grads), 0);
  }
  horizon_errors(wm, d, test, after);
  fprintf(stderr, "  seed %d joint error (rad) by horizon, untrained -> trained:", (int)seed);
  for (int k = 0; k < H; k++) fprintf(stderr, " h%d %.4f->%.4f", k + 1, before[k], after[k]);
  fprintf(stderr, "\n  joint velocity error (rad/s):");
  for (int k = 0; k < H; k++)
    fprintf(stderr, " h%d %.4f->%.4f", k + 1, before[H + k], after[H + k]);
  fprintf(stderr, "\n");
  for (int k = 0; k < 2 * H; k++) CHECK(after[k] < 0.1 * before[k]);
  CHECK(after[H - 1] > after[0]);  // errors compound with the horizon
  sp_optim_free(o);
  sp_wm_data_free(d);
  sp_wm_free(wm);
  sp_replay_free(train);
  sp_replay_free(test);
  sp_model_data_free(md);
  sp_model_free(m);
}

TEST(learns_cartpole_dynamics_to_a_tenth_of_the_constant_velocity_error_seed_1) {
  learn(sp_failed_, 1);
}

TEST(learns_cartpole_dynamics_to_a_tenth_of_the_constant_velocity_error_seed_2) {
  learn(sp_failed_, 2);
}

TEST_MAIN()
