// test_command.c: the high-level network h(z | s, command) (engine/wm/command.c): its training loss
// through the world model and the frozen VAE decoder against central finite differences in h's
// parameters and, when asked, the decoder's (float64), with the world model's and the VAE's other
// gradients untouched; a new h plays the prior's mean; the command's target in the body's heading
// frame; no allocation in act or the loss's passes; files; a network with a gait clock (rows of 8,
// the phase last); a world model with history (the previous action: h's own through the rollout,
// the start's given or a_0's); a network that sees the previous action (widened: the same actions;
// its gradient through its own previous actions).
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/crc32.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "engine/nn/init.h"
#include "engine/wm/command.h"
#include "test.h"

enum { NJ = 2, NU = 2, NX = 13 + 2 * NJ, NC = 5, LAT = 3, B = 3, H = 4, NK = SP_COMMAND_NK };

static sp_wm* world_with(uint64_t seed, int history) {
  sp_wm_config c = sp_wm_default_config(NJ, NU, 0.05);
  c.history = history;
  c.hidden = 12;
  c.layers = 1;
  c.act = SP_ACT_TANH;
  c.dtype = SP_F64;
  sp_wm* wm;
  if (sp_wm_new(&wm, &c, seed)) return NULL;
  sp_rng r;
  sp_rng_seed(&r, seed, 3);
  sp_mlp_init_layer(wm->net, -1, SP_INIT_XAVIER, 0.5, &r);  // actions matter
  return wm;
}

static sp_wm* world(uint64_t seed) {
  return world_with(seed, 0);
}

// a VAE as after some training (nonzero last layers)
static sp_vae* vae(uint64_t seed) {
  sp_vae_config c = sp_vae_default_config(NJ, NU, NC);
  c.lat = LAT;
  c.hidden = 10;
  c.layers = 1;
  c.act = SP_ACT_TANH;
  c.dtype = SP_F64;
  c.a_nom[0] = 0.3;
  c.a_nom[1] = -0.2;
  sp_vae* v;
  if (sp_vae_new(&v, &c, seed)) return NULL;
  sp_rng r;
  sp_rng_seed(&r, seed, 4);
  sp_mlp_init_layer(v->enc, -1, SP_INIT_XAVIER, 1.0, &r);
  sp_mlp_init_layer(v->dec, -1, SP_INIT_XAVIER, 1.0, &r);
  sp_rng_fill_normal(&r, sp_mlp_bias(v->dec, v->dec->nlayers - 1), NU, 0, 0.3);
  sp_rng_fill_normal(&r, sp_mlp_bias(v->prior, v->prior->nlayers - 1), LAT, 0, 0.3);
  return v;
}

static sp_command* network(uint64_t seed, int trained) {
  sp_command_config c = sp_command_default_config(NJ, LAT);
  c.hidden = 9;
  c.layers = 1;
  c.act = SP_ACT_TANH;
  c.dtype = SP_F64;
  c.beta = 0.5;
  c.up = 2;
  sp_command* h;
  if (sp_command_new(&h, &c, seed)) return NULL;
  if (trained) {
    sp_rng r;
    sp_rng_seed(&r, seed, 5);
    sp_mlp_init_layer(h->net, -1, SP_INIT_XAVIER, 1.0, &r);
    sp_rng_fill_normal(&r, sp_mlp_bias(h->net, h->net->nlayers - 1), LAT, 0, 0.3);
  }
  return h;
}

typedef struct {
  double S0[B * NX], K[B * H * NK], eps[B * H * LAT];
  double R[B * H * NX];  // the model's correction (sp_command_loss_corrected)
  int corrected;         // 0: sp_command_loss (R unused)
  double P0[B * NU];     // the actions before the starts (a model with history)
  int prev;              // 0: P0 not given (a_-1 = a_0)
  double N[B * H * NX];  // sensor noise on the policy's view of each step's state
  int noisy;             // 0: N not given
} problem;

// random start states and commands; rows 0 and 2 follow a target pose, row 1 only a velocity
static void make_problem(problem* p, uint64_t seed) {
  sp_rng r;
  sp_rng_seed(&r, seed, 0);
  sp_rng_fill_normal(&r, p->S0, B * NX, 0, 0.5);
  for (int i = 0; i < B; i++) sp_quat_normalize(p->S0 + i * NX + 3);
  sp_rng_fill_normal(&r, p->K, B * H * NK, 0, 0.5);
  for (int i = 0; i < B; i++)
    for (int k = 0; k < H; k++) p->K[(i * H + k) * NK + 6] = i == 1 ? 0 : 0.5 + 0.25 * k;
  sp_rng_fill_normal(&r, p->eps, B * H * LAT, 0, 1);
  memset(p->R, 0, sizeof p->R);
  p->corrected = 0;
  sp_rng_fill_normal(&r, p->P0, B * NU, 0, 0.5);
  p->prev = 0;
  memset(p->N, 0, sizeof p->N);
  p->noisy = 0;
}

typedef struct {
  sp_wm* wm;
  sp_vae* v;
  sp_command* h;
  sp_wm_data* wd;
  sp_command_data* d;
} rig;

static int rig_new(rig* g, uint64_t seed, int trained) {
  g->wm = world(seed);
  g->v = vae(seed + 1);
  g->h = network(seed + 2, trained);
  if (!g->wm || !g->v || !g->h) return -1;
  if (sp_wm_data_new(&g->wd, g->wm, B, H)) return -1;
  return sp_command_data_new(&g->d, g->h, g->v, B, H);
}

static void rig_free(rig* g) {
  sp_command_data_free(g->d);
  sp_wm_data_free(g->wd);
  sp_command_free(g->h);
  sp_vae_free(g->v);
  sp_wm_free(g->wm);
}

static double loss_of(rig* g, const problem* p) {
  double L = NAN;
  sp_command_loss_corrected(g->h, g->d, g->v, g->wm, g->wd, &L, NULL, p->S0, p->K,
                            p->corrected ? p->R : NULL, p->prev ? p->P0 : NULL,
                            p->noisy ? p->N : NULL, p->eps, B, H, 0);
  return L;
}

// central differences of the loss in every third entry of P (n) against the gradient G: the number
// of entries compared (*checked) and of those that differ beyond 1e-5 relative, 1e-8 absolute
static int fd_mismatches(rig* g, const problem* p, double* P, const double* G, size_t n,
                         int* checked) {
  const double step = 1e-6;
  int bad = 0;
  *checked = 0;
  for (size_t i = 0; i < n; i += 3) {
    double keep = P[i];
    P[i] = keep + step;
    double lp = loss_of(g, p);
    P[i] = keep - step;
    double lm = loss_of(g, p);
    P[i] = keep;
    double fd = (lp - lm) / (2 * step);
    if (!(fabs(G[i] - fd) <= 1e-8 + 1e-5 * fmax(fabs(G[i]), fabs(fd)))) {
      fprintf(stderr, "  parameter %zu: gradient %.12g, central difference %.12g\n", i, G[i], fd);
      bad++;
    }
    (*checked)++;
  }
  return bad;
}

TEST(loss_gradient_matches_central_finite_differences_in_the_networks_parameters) {
  rig g;
  CHECK_INT(rig_new(&g, 1, 1), 0);
  static problem p;
  make_problem(&p, 5);
  double L, parts[SP_COMMAND_NPARTS];
  sp_mlp_zero_grad(g.h->net);
  sp_vae_zero_grad(g.v);
  sp_mlp_zero_grad(g.wm->net);
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, parts, p.S0, p.K, p.eps, B, H,
                            SP_COMMAND_GRAD_NET),
            0);
  CHECK_CLOSE(L, parts[0] + parts[1] + parts[2] + parts[3], 1e-12, 0);
  for (int i = 0; i < SP_COMMAND_NPARTS; i++) CHECK(parts[i] > 0);
  // neither the world model's nor the VAE's gradients are touched
  for (size_t i = 0; i < g.wm->net->nparams; i++) CHECK(((double*)g.wm->net->grads)[i] == 0);
  for (size_t i = 0; i < g.v->nparams; i++) CHECK(((double*)g.v->grads)[i] == 0);
  int checked;
  CHECK_INT(fd_mismatches(&g, &p, g.h->net->params, g.h->net->grads, g.h->net->nparams, &checked),
            0);
  CHECK(checked > 20);
  rig_free(&g);
}

TEST(corrected_loss_adds_the_correction_to_every_prediction_and_keeps_the_models_gradient) {
  rig g;
  CHECK_INT(rig_new(&g, 4, 1), 0);
  static problem p;
  make_problem(&p, 8);
  double plain = loss_of(&g, &p);
  // a zero correction, or one on the quaternion alone (not used), is the plain loss
  p.corrected = 1;
  CHECK(loss_of(&g, &p) == plain);
  for (int r = 0; r < B * H; r++)
    for (int i = 3; i < 7; i++) p.R[r * NX + i] = 0.3;
  CHECK(loss_of(&g, &p) == plain);
  // a correction that is not zero moves the loss, and the gradient is still the loss's
  sp_rng rng;
  sp_rng_seed(&rng, 8, 1);
  sp_rng_fill_normal(&rng, p.R, B * H * NX, 0, 0.2);
  double L;
  sp_mlp_zero_grad(g.h->net);
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, p.R, NULL,
                                      NULL, p.eps, B, H, SP_COMMAND_GRAD_NET),
            0);
  CHECK(fabs(L - plain) > 1e-3);
  int checked;
  CHECK_INT(fd_mismatches(&g, &p, g.h->net->params, g.h->net->grads, g.h->net->nparams, &checked),
            0);
  CHECK(checked > 20);
  // the correction lands on the predicted state itself: over one step, moving row 0's vx by e
  // moves the loss by w_v e / B (its velocity term; nothing else reads vx after the step)
  memset(p.R, 0, sizeof p.R);
  double base;
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &base, NULL, p.S0, p.K, p.R, NULL,
                                      NULL, p.eps, B, 1, 0),
            0);
  p.R[7] = 1e-4;  // row 0, step 0, vx
  double up;
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &up, NULL, p.S0, p.K, p.R, NULL,
                                      NULL, p.eps, B, 1, 0),
            0);
  CHECK_CLOSE(fabs(up - base), g.h->cfg.velocity * 1e-4 / B, 1e-6, 1e-12);
  rig_free(&g);
}

TEST(decoder_gradient_matches_central_finite_differences_when_asked) {
  rig g;
  CHECK_INT(rig_new(&g, 2, 1), 0);
  static problem p;
  make_problem(&p, 6);
  double L;
  sp_mlp_zero_grad(g.h->net);
  sp_vae_zero_grad(g.v);
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, p.eps, B, H,
                            SP_COMMAND_GRAD_DECODER),
            0);
  // h's own gradients and the prior's and encoder's stay zero
  for (size_t i = 0; i < g.h->net->nparams; i++) CHECK(((double*)g.h->net->grads)[i] == 0);
  size_t dec0 = g.v->prior->nparams + g.v->enc->nparams;
  for (size_t i = 0; i < dec0; i++) CHECK(((double*)g.v->grads)[i] == 0);
  int checked;
  CHECK_INT(fd_mismatches(&g, &p, g.v->dec->params, g.v->dec->grads, g.v->dec->nparams, &checked),
            0);
  CHECK(checked > 10);
  // both flags: the same gradients as each alone
  double* one = g.v->dec->grads;
  double keep = one[4];
  sp_vae_zero_grad(g.v);
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, p.eps, B, H,
                            SP_COMMAND_GRAD_NET | SP_COMMAND_GRAD_DECODER),
            0);
  CHECK(one[4] == keep);
  CHECK(((double*)g.h->net->grads)[1] != 0);
  rig_free(&g);
}

// the loss's gradient into h's parameters and the decoder's (both flags) at p, checked against
// central differences: the mismatches
static int net_and_decoder_mismatches(rig* g, const problem* p) {
  double L;
  sp_mlp_zero_grad(g->h->net);
  sp_vae_zero_grad(g->v);
  int rc = sp_command_loss_corrected(g->h, g->d, g->v, g->wm, g->wd, &L, NULL, p->S0, p->K, NULL,
                                     p->prev ? p->P0 : NULL, p->noisy ? p->N : NULL, p->eps, B, H,
                                     SP_COMMAND_GRAD_NET | SP_COMMAND_GRAD_DECODER);
  if (rc) return -1;
  int checked, checked2;
  int bad = fd_mismatches(g, p, g->h->net->params, g->h->net->grads, g->h->net->nparams, &checked);
  bad += fd_mismatches(g, p, g->v->dec->params, g->v->dec->grads, g->v->dec->nparams, &checked2);
  return checked > 20 && checked2 > 10 ? bad : -1;
}

TEST(with_sensor_noise_the_policy_sees_the_noisy_state_the_model_steps_the_true_one) {
  rig g;
  CHECK_INT(rig_new(&g, 31, 1), 0);
  static problem p;
  make_problem(&p, 32);
  double plain = loss_of(&g, &p);
  // zero noise is no noise
  p.noisy = 1;
  CHECK(loss_of(&g, &p) == plain);
  sp_rng rng;
  sp_rng_seed(&rng, 32, 2);
  sp_rng_fill_normal(&rng, p.N, B * H * NX, 0, 0.05);
  double L;
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, NULL, NULL,
                                      p.N, p.eps, B, 1, 0),
            0);
  // step 0 of a one-step rollout (K, eps and N read as (B x 1 x .)): the actions are the
  // policy's at S0 + N[0], the next states the model's from S0 itself
  double sv[B * NX], a[B * NU], s1[B * NX];
  for (int i = 0; i < B * NX; i++) sv[i] = p.S0[i] + p.N[i];
  memcpy(a, g.d->A, sizeof a);
  memcpy(s1, g.d->S + B * NX, sizeof s1);
  double want[B * NU], next[B * NX];
  CHECK_INT(sp_command_act(g.h, g.d, g.v, want, NULL, sv, p.K, NULL, p.eps, B), 0);
  for (int i = 0; i < B * NU; i++) CHECK_CLOSE(a[i], want[i], 1e-12, 1e-12);
  sp_wm_data* wd;
  CHECK_INT(sp_wm_data_new(&wd, g.wm, B, 1), 0);
  CHECK_INT(sp_wm_step(g.wm, wd, 0, next, p.S0, a, B), 0);
  for (int i = 0; i < B * NX; i++) CHECK_CLOSE(s1[i], next[i], 1e-12, 1e-12);
  sp_wm_data_free(wd);
  // over the horizon the noise moves the loss, and the gradient into h and the decoder (through
  // the policy's view of every state) is still the loss's; no allocation
  CHECK(fabs(loss_of(&g, &p) - plain) > 1e-4);
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  uint64_t before = sp_alloc_count();
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, NULL, NULL,
                                      p.N, p.eps, B, H, SP_COMMAND_GRAD_NET),
            0);
  CHECK_INT(sp_alloc_count() - before, 0);
  rig_free(&g);
}

TEST(with_a_world_model_that_sees_the_previous_action_the_gradient_runs_through_it_too) {
  rig g;
  g.wm = world_with(11, 1);
  g.v = vae(12);
  g.h = network(13, 1);
  CHECK(g.wm && g.v && g.h);
  CHECK_INT(g.wm->na, 2 * NU);
  CHECK_INT(sp_wm_data_new(&g.wd, g.wm, B, H), 0);
  CHECK_INT(sp_command_data_new(&g.d, g.h, g.v, B, H), 0);
  static problem p;
  make_problem(&p, 14);
  // the start's previous actions are an input: given, they move the loss
  double own = loss_of(&g, &p);
  p.prev = 1;
  double given = loss_of(&g, &p);
  CHECK(fabs(given - own) > 1e-4);
  // h's gradient (through a_k's use as step k + 1's previous action) and the decoder's, with
  // P0 given and without (a_-1 = a_0: the first action counts twice)
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  p.prev = 0;
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  // no allocation in the loss's passes with history either
  uint64_t before = sp_alloc_count();
  double L;
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, NULL, p.P0,
                                      NULL, p.eps, B, H, SP_COMMAND_GRAD_NET),
            0);
  CHECK_INT(sp_alloc_count() - before, 0);
  // a model widened by sp_wm_with_history predicts as before, whatever the previous actions
  sp_wm* plain = world(15);
  sp_wm* wide = NULL;
  CHECK_INT(sp_wm_with_history(&wide, plain), 0);
  sp_wm* twice = plain;
  CHECK_INT(sp_wm_with_history(&twice, wide), SP_EINVAL);
  CHECK(twice == NULL);
  sp_wm_free(g.wm);
  sp_wm_data_free(g.wd);
  g.wm = plain;
  CHECK_INT(sp_wm_data_new(&g.wd, g.wm, B, H), 0);
  p.prev = 1;
  double before_w = loss_of(&g, &p);
  sp_wm_data_free(g.wd);
  g.wm = wide;
  CHECK_INT(sp_wm_data_new(&g.wd, g.wm, B, H), 0);
  CHECK_CLOSE(loss_of(&g, &p), before_w, 1e-12, 1e-12);
  sp_wm_free(plain);
  rig_free(&g);
}

TEST(
    a_network_that_sees_the_previous_action_acts_as_before_when_widened_and_its_gradient_runs_back) {
  rig g;
  g.wm = world(21);
  g.v = vae(22);
  g.h = network(23, 1);
  CHECK(g.wm && g.v && g.h);
  CHECK_INT(sp_wm_data_new(&g.wd, g.wm, B, H), 0);
  CHECK_INT(sp_command_data_new(&g.d, g.h, g.v, B, H), 0);
  static problem p;
  make_problem(&p, 24);
  p.prev = 1;
  double a0[B * NU], a1[B * NU], a2[B * NU], k[B * NK];
  for (int r = 0; r < B; r++) memcpy(k + r * NK, p.K + r * H * NK, NK * sizeof(double));
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a0, NULL, p.S0, k, NULL, NULL, B), 0);
  double plain = loss_of(&g, &p);
  // widened: the same actions whatever the previous ones, the same loss; nj more inputs, last
  sp_command* wide = NULL;
  CHECK_INT(sp_command_with_prev_action(&wide, g.h, NU), 0);
  CHECK_INT(wide->nin, g.h->nin + NU);
  CHECK_INT(wide->cfg.prev_action, NU);
  sp_command* twice = g.h;
  CHECK_INT(sp_command_with_prev_action(&twice, wide, NU), SP_EINVAL);
  CHECK(twice == NULL);
  sp_command_free(g.h);
  sp_command_data_free(g.d);
  g.h = wide;
  CHECK_INT(sp_command_data_new(&g.d, g.h, g.v, B, H), 0);
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a1, NULL, p.S0, k, p.P0, NULL, B), 0);
  for (int i = 0; i < B * NU; i++) CHECK_CLOSE(a1[i], a0[i], 0, 1e-15);
  CHECK_CLOSE(loss_of(&g, &p), plain, 1e-12, 1e-12);
  // trained (every first-layer weight nonzero): the previous action moves the action; NULL is
  // the VAE's nominal action; the input row holds it last
  sp_rng r;
  sp_rng_seed(&r, 25, 0);
  sp_mlp_init_layer(g.h->net, 0, SP_INIT_XAVIER, 1.0, &r);
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a1, NULL, p.S0, k, p.P0, NULL, B), 0);
  CHECK(fabs(a1[0] - a0[0]) > 1e-6);
  double nom[B * NU];
  for (int i = 0; i < B * NU; i++) nom[i] = g.v->cfg.a_nom[i % NU];
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a1, NULL, p.S0, k, NULL, NULL, B), 0);
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a2, NULL, p.S0, k, nom, NULL, B), 0);
  for (int i = 0; i < B * NU; i++) CHECK(a1[i] == a2[i]);
  double x[64];
  sp_command_input(g.h, x, p.S0, k, p.P0);
  for (int j = 0; j < NU; j++) CHECK(x[g.h->nin - NU + j] == p.P0[j]);
  // the gradient into h (its own previous actions through the rollout, and the start's given or
  // a_nom) and the decoder, with a plain world model and with one that sees the action too
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  p.prev = 0;
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  sp_wm_free(g.wm);
  sp_wm_data_free(g.wd);
  g.wm = world_with(26, 1);
  CHECK(g.wm);
  CHECK_INT(sp_wm_data_new(&g.wd, g.wm, B, H), 0);
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  p.prev = 1;
  CHECK_INT(net_and_decoder_mismatches(&g, &p), 0);
  // no allocation in act or the loss's passes
  uint64_t before = sp_alloc_count();
  double L;
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a1, NULL, p.S0, k, p.P0, NULL, B), 0);
  CHECK_INT(sp_command_loss_corrected(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, NULL, p.P0,
                                      NULL, p.eps, B, H, SP_COMMAND_GRAD_NET),
            0);
  CHECK_INT(sp_alloc_count() - before, 0);
  // a file keeps it
  char path[] = "/tmp/spinal_cmd_prevXXXXXX", msg[256];
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  CHECK_INT(sp_command_save(g.h, NULL, path, msg, sizeof msg), 0);
  sp_command* back = NULL;
  CHECK_INT(sp_command_load(&back, NULL, path, msg, sizeof msg), 0);
  CHECK_INT(back->cfg.prev_action, NU);
  CHECK_INT(back->nin, g.h->nin);
  for (size_t i = 0; i < g.h->net->nparams; i++)
    CHECK(((double*)back->net->params)[i] == ((double*)g.h->net->params)[i]);
  sp_command_free(back);
  unlink(path);
  rig_free(&g);
}

TEST(a_new_network_plays_the_prior_mean_and_costs_nothing_under_the_prior) {
  rig g;
  CHECK_INT(rig_new(&g, 3, 0), 0);
  static problem p;
  make_problem(&p, 7);
  double a[B * NU], z[B * LAT], ap[B * NU], k[B * NK];
  for (int r = 0; r < B; r++) memcpy(k + r * NK, p.K + r * H * NK, NK * sizeof(double));
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a, z, p.S0, k, NULL, NULL, B), 0);
  sp_vae_data* vd;
  CHECK_INT(sp_vae_data_new(&vd, g.v, B, 1), 0);
  CHECK_INT(sp_vae_act(g.v, vd, ap, p.S0, NULL, NULL, B), 0);
  for (int i = 0; i < B * NU; i++) CHECK_CLOSE(a[i], ap[i], 0, 1e-15);
  // z is the prior's mean
  double f[10 + 2 * NJ], mp[LAT];
  f[0] = p.S0[2];
  const double ez[3] = {0, 0, 1};
  sp_quat_rotate_inv(f + 1, p.S0 + 3, ez);
  memcpy(f + 4, p.S0 + 7, (6 + 2 * NJ) * sizeof(double));
  CHECK_INT(sp_mlp_forward(g.v->prior, NULL, mp, f, 1), 0);
  for (int j = 0; j < LAT; j++) CHECK_CLOSE(z[j], mp[j], 0, 1e-15);
  double L, parts[SP_COMMAND_NPARTS];
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, parts, p.S0, p.K, NULL, B, H, 0), 0);
  CHECK_CLOSE(parts[SP_COMMAND_PRIOR], 0, 0, 0);
  sp_vae_data_free(vd);
  rig_free(&g);
}

TEST(the_target_is_seen_in_the_bodys_heading_frame) {
  // the robot at (1, 2) facing +y (yaw pi/2); the target 1 m ahead of it, facing -x
  double s[NX] = {1, 2, 0.3, cos(M_PI / 4), 0, 0, sin(M_PI / 4)};
  double k[NK] = {0.5, -0.1, 0.2, 1, 3, M_PI, 2};
  double u[SP_COMMAND_NU];
  sp_command_features(u, s, k);
  CHECK_CLOSE(u[0], 0.5, 0, 0);
  CHECK_CLOSE(u[1], -0.1, 0, 0);
  CHECK_CLOSE(u[2], 0.2, 0, 0);
  CHECK_CLOSE(u[3], 2, 0, 0);
  CHECK_CLOSE(u[4], 2 * 1, 0, 1e-12);  // ahead
  CHECK_CLOSE(u[5], 0, 0, 1e-12);      // not to the side
  CHECK_CLOSE(u[6], 2 * 1, 0, 1e-12);  // a quarter turn left: sin = 1
  CHECK_CLOSE(u[7], 2 * -1, 0, 1e-12);
  // a pure velocity command: the target's features are zero
  k[6] = 0;
  sp_command_features(u, s, k);
  for (int i = 3; i < SP_COMMAND_NU; i++) CHECK(u[i] == 0);
}

TEST(act_and_the_loss_passes_do_not_allocate_and_refuse_bad_sizes) {
  rig g;
  CHECK_INT(rig_new(&g, 4, 1), 0);
  static problem p;
  make_problem(&p, 8);
  double a[B * NU], L;
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 10; i++) {
    CHECK_INT(sp_command_act(g.h, g.d, g.v, a, NULL, p.S0, p.K, NULL, p.eps, B), 0);
    CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, p.eps, B, H,
                              SP_COMMAND_GRAD_NET | SP_COMMAND_GRAD_DECODER),
              0);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p.S0, p.K, p.eps, B, H + 1, 0),
            SP_ERANGE);
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a, NULL, p.S0, p.K, NULL, NULL, B + 1), SP_ERANGE);
  // a workspace for another VAE, a VAE of another latent size
  sp_vae* other = vae(9);
  CHECK_INT(sp_command_act(g.h, g.d, other, a, NULL, p.S0, p.K, NULL, NULL, B), SP_EINVAL);
  sp_vae_free(other);
  sp_vae_config vc = sp_vae_default_config(NJ, NU, NC);
  vc.lat = LAT + 1;
  CHECK_INT(sp_vae_new(&other, &vc, 1), 0);
  sp_command_data* d2;
  CHECK_INT(sp_command_data_new(&d2, g.h, other, B, H), SP_EINVAL);
  sp_vae_free(other);
  rig_free(&g);
}

TEST(a_network_with_a_clock_sees_its_phase_and_its_gradient_matches_finite_differences) {
  enum { NKC = SP_COMMAND_NK + 1 };
  rig g;
  CHECK_INT(rig_new(&g, 6, 1), 0);
  sp_command_config c = g.h->cfg;
  c.clock = 0.4;
  sp_command_free(g.h);
  CHECK_INT(sp_command_new(&g.h, &c, 8), 0);
  CHECK_INT(g.h->nk, NKC);
  CHECK_INT(g.h->nin, 10 + 2 * NJ + SP_COMMAND_NU + 2);
  sp_rng r;
  sp_rng_seed(&r, 8, 5);
  sp_mlp_init_layer(g.h->net, -1, SP_INIT_XAVIER, 1.0, &r);
  sp_command_data_free(g.d);
  CHECK_INT(sp_command_data_new(&g.d, g.h, g.v, B, H), 0);
  // rows of 8: the problem's 7 and the clock's phase, advancing by `clock` per step
  static problem p7;
  make_problem(&p7, 10);
  static double K[B * H * NKC];
  for (int i = 0; i < B; i++)
    for (int k = 0; k < H; k++) {
      memcpy(K + (i * H + k) * NKC, p7.K + (i * H + k) * NK, NK * sizeof(double));
      K[(i * H + k) * NKC + NK] = 1.1 * i + 0.4 * k;
    }
  // the input ends with the phase's sine and cosine
  double x[10 + 2 * NJ + SP_COMMAND_NU + 2];
  sp_command_input(g.h, x, p7.S0, K + NKC, NULL);
  CHECK_CLOSE(x[10 + 2 * NJ + SP_COMMAND_NU], sin(0.4), 0, 1e-15);
  CHECK_CLOSE(x[10 + 2 * NJ + SP_COMMAND_NU + 1], cos(0.4), 0, 1e-15);
  // another phase, other actions
  double a0[NU], a1[NU];
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a0, NULL, p7.S0, K, NULL, NULL, 1), 0);
  CHECK_INT(sp_command_act(g.h, g.d, g.v, a1, NULL, p7.S0, K + NKC, NULL, NULL, 1), 0);
  CHECK(a0[0] != a1[0]);
  // the gradient in h's parameters, through H steps of rows of 8
  double L, L2;
  sp_mlp_zero_grad(g.h->net);
  CHECK_INT(sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &L, NULL, p7.S0, K, p7.eps, B, H,
                            SP_COMMAND_GRAD_NET),
            0);
  const double step = 1e-6;
  double* P = g.h->net->params;
  const double* G = g.h->net->grads;
  int bad = 0, checked = 0;
  for (size_t i = 0; i < g.h->net->nparams; i += 3, checked++) {
    double keep = P[i], lp, lm;
    P[i] = keep + step;
    sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &lp, NULL, p7.S0, K, p7.eps, B, H, 0);
    P[i] = keep - step;
    sp_command_loss(g.h, g.d, g.v, g.wm, g.wd, &lm, NULL, p7.S0, K, p7.eps, B, H, 0);
    P[i] = keep;
    double fd = (lp - lm) / (2 * step);
    if (!(fabs(G[i] - fd) <= 1e-8 + 1e-5 * fmax(fabs(G[i]), fabs(fd)))) bad++;
  }
  CHECK_INT(bad, 0);
  CHECK(checked > 20);
  // saved and loaded: the clock is kept and the loss is the same
  char path[64], msg[200];
  snprintf(path, sizeof path, "/tmp/spinal_command_clock_%d.bin", (int)getpid());
  CHECK_INT(sp_command_save(g.h, NULL, path, msg, sizeof msg), 0);
  sp_command* back;
  CHECK_INT(sp_command_load(&back, NULL, path, msg, sizeof msg), 0);
  unlink(path);
  CHECK_CLOSE(back->cfg.clock, 0.4, 0, 0);
  CHECK_INT(back->nk, NKC);
  sp_command_data* d2;
  CHECK_INT(sp_command_data_new(&d2, back, g.v, B, H), 0);
  CHECK_INT(sp_command_loss(back, d2, g.v, g.wm, g.wd, &L2, NULL, p7.S0, K, p7.eps, B, H, 0), 0);
  CHECK(L == L2);
  sp_command_data_free(d2);
  sp_command_free(back);
  rig_free(&g);
}

// h's file rewritten as an older version: 1 (before the clock: no clock entry after gamma) or 2
// (before the previous action: no prev_action entry after the clock); the bytes it holds
static size_t older_file(unsigned char* buf, size_t cap, const char* path, int version) {
  FILE* f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  // "SPCMDNET", u32 version, 6 u32, 8 f64 (the clock last), u32 prev_action, ...
  const size_t clock_at = 8 + 4 + 6 * 4 + 7 * 8, drop_at = version == 1 ? clock_at : clock_at + 8;
  const size_t drop = version == 1 ? 12 : 4;
  if (n < 120 || n >= cap) return 0;
  buf[8] = (unsigned char)version;
  memmove(buf + drop_at, buf + drop_at + drop, n - drop_at - drop);
  size_t m = n - drop;
  uint32_t crc = sp_crc32(0, buf, m - 4);
  for (int i = 0; i < 4; i++) buf[m - 4 + i] = (unsigned char)(crc >> (8 * i));
  f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, m, f) != m) m = 0;
  if (f) fclose(f);
  return m;
}

// files of versions 1 and 2 still load: without a clock, without the previous action
TEST(older_files_load_as_networks_without_a_clock_or_the_previous_action) {
  rig g;
  CHECK_INT(rig_new(&g, 7, 1), 0);
  char path[64], msg[200];
  snprintf(path, sizeof path, "/tmp/spinal_command_v1_%d.bin", (int)getpid());
  static unsigned char buf[1 << 16];
  for (int version = 1; version <= 2; version++) {
    CHECK_INT(sp_command_save(g.h, NULL, path, msg, sizeof msg), 0);
    CHECK(older_file(buf, sizeof buf, path, version) > 0);
    sp_command* back;
    CHECK_INT(sp_command_load(&back, NULL, path, msg, sizeof msg), 0);
    CHECK_CLOSE(back->cfg.clock, 0, 0, 0);
    CHECK_INT(back->cfg.prev_action, 0);
    CHECK_INT(back->nk, SP_COMMAND_NK);
    CHECK(memcmp(back->net->params, g.h->net->params, g.h->net->nparams * sizeof(double)) == 0);
    sp_command_free(back);
  }
  unlink(path);
  rig_free(&g);
}

TEST(configuration_errors_name_the_field) {
  sp_command_config c = sp_command_default_config(12, 32);
  char msg[200];
  CHECK_INT(sp_command_check(&c, msg, sizeof msg), 0);
  c.heading = -1;
  CHECK_INT(sp_command_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "weight heading must be a finite number >= 0, got -1");
  c = sp_command_default_config(12, 0);
  CHECK_INT(sp_command_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "lat must be in [1, 4096], got 0");
  c = sp_command_default_config(12, 32);
  c.gamma = 0;
  CHECK_INT(sp_command_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "gamma must be in (0, 1], got 0");
  c = sp_command_default_config(12, 32);
  c.clock = -0.1;
  CHECK_INT(sp_command_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "clock must be a phase step in [0, pi] rad, got -0.1");
}

TEST(files_restore_the_network_and_its_optimiser) {
  rig g;
  CHECK_INT(rig_new(&g, 5, 1), 0);
  sp_optim_config oc = sp_optim_adam_config(1e-3);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &oc, SP_F64, g.h->net->nparams), 0);
  ((double*)o->v)[2] = 0.5;
  o->t = 11;
  char path[64], msg[200];
  snprintf(path, sizeof path, "/tmp/spinal_command_%d.bin", (int)getpid());
  CHECK_INT(sp_command_save(g.h, o, path, msg, sizeof msg), 0);
  sp_command* back;
  sp_optim* ob;
  CHECK_INT(sp_command_load(&back, &ob, path, msg, sizeof msg), 0);
  CHECK(ob && ob->t == 11 && ((double*)ob->v)[2] == 0.5);
  CHECK_CLOSE(back->cfg.beta, 0.5, 0, 0);
  CHECK_INT(back->cfg.lat, LAT);
  CHECK(memcmp(back->net->params, g.h->net->params, g.h->net->nparams * sizeof(double)) == 0);
  // the same loss from the copy
  static problem p;
  make_problem(&p, 9);
  double L1 = loss_of(&g, &p), L2;
  sp_command_data* d2;
  CHECK_INT(sp_command_data_new(&d2, back, g.v, B, H), 0);
  CHECK_INT(sp_command_loss(back, d2, g.v, g.wm, g.wd, &L2, NULL, p.S0, p.K, p.eps, B, H, 0), 0);
  CHECK(L1 == L2);
  // not a command network; a truncated file
  CHECK_INT(sp_vae_save(g.v, NULL, path, msg, sizeof msg), 0);
  sp_command* none;
  CHECK_INT(sp_command_load(&none, NULL, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, ": not a command network file"));
  unlink(path);
  sp_command_data_free(d2);
  sp_optim_free(o);
  sp_optim_free(ob);
  sp_command_free(back);
  rig_free(&g);
}

TEST_MAIN()
