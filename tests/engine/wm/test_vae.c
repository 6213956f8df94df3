// test_vae.c: the VAE motion policy (engine/wm/vae.c): the training loss through the world model
// against central finite differences in every network's parameters (float64), the world model's
// own gradients untouched, the first policy plays the nominal pose with posterior = prior, and no
// allocation in act or the loss's passes.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "engine/nn/init.h"
#include "engine/wm/vae.h"
#include "test.h"

enum { NJ = 2, NU = 2, NX = 13 + 2 * NJ, NC = 5, LAT = 3, B = 3, H = 4 };

static sp_wm* world(uint64_t seed) {
  sp_wm_config c = sp_wm_default_config(NJ, NU, 0.05);
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

static sp_vae* policy(uint64_t seed, int trained) {
  sp_vae_config c = sp_vae_default_config(NJ, NU, NC);
  c.lat = LAT;
  c.hidden = 10;
  c.layers = 1;
  c.act = SP_ACT_TANH;
  c.dtype = SP_F64;
  c.a_nom[0] = 0.3;
  c.a_nom[1] = -0.2;
  c.beta = 0.5;
  sp_vae* v;
  if (sp_vae_new(&v, &c, seed)) return NULL;
  if (trained) {  // nonzero last layers, as after some training
    sp_rng r;
    sp_rng_seed(&r, seed, 4);
    sp_mlp_init_layer(v->enc, -1, SP_INIT_XAVIER, 1.0, &r);
    sp_mlp_init_layer(v->dec, -1, SP_INIT_XAVIER, 1.0, &r);
    sp_rng_fill_normal(&r, sp_mlp_bias(v->dec, v->dec->nlayers - 1), NU, 0, 0.3);
    sp_rng_fill_normal(&r, sp_mlp_bias(v->enc, v->enc->nlayers - 1), LAT, 0, 0.3);
  }
  return v;
}

typedef struct {
  double S0[B * NX], C[B * H * NC], R[B * H * NX], eps[B * H * LAT];
} problem;

static void make_problem(problem* p, uint64_t seed) {
  sp_rng r;
  sp_rng_seed(&r, seed, 0);
  sp_rng_fill_normal(&r, p->S0, B * NX, 0, 0.5);
  sp_rng_fill_normal(&r, p->R, B * H * NX, 0, 0.5);
  for (int i = 0; i < B; i++) sp_quat_normalize(p->S0 + i * NX + 3);
  for (int i = 0; i < B * H; i++) sp_quat_normalize(p->R + i * NX + 3);
  sp_rng_fill_normal(&r, p->C, B * H * NC, 0, 1);
  sp_rng_fill_normal(&r, p->eps, B * H * LAT, 0, 1);
}

TEST(loss_gradient_matches_central_finite_differences_in_all_three_networks) {
  sp_wm* wm = world(1);
  sp_vae* v = policy(2, 1);
  CHECK(wm && v);
  sp_wm_data* wd;
  sp_vae_data* d;
  CHECK_INT(sp_wm_data_new(&wd, wm, B, H), 0);
  CHECK_INT(sp_vae_data_new(&d, v, B, H), 0);
  static problem p;
  make_problem(&p, 5);
  double L, parts[SP_VAE_NPARTS];
  sp_vae_zero_grad(v);
  sp_mlp_zero_grad(wm->net);
  CHECK_INT(sp_vae_loss(v, d, wm, wd, &L, parts, p.S0, p.C, p.R, p.eps, B, H, 1), 0);
  CHECK_CLOSE(L, parts[0] + parts[1] + parts[2], 1e-12, 0);
  CHECK(parts[SP_VAE_KL] > 0 && parts[SP_VAE_ACTION] > 0 && parts[SP_VAE_TRACKING] > 0);
  // the world model's own gradients stay zero
  const double* gw = wm->net->grads;
  for (size_t i = 0; i < wm->net->nparams; i++) CHECK(gw[i] == 0);
  double* P = v->params;
  const double* G = v->grads;
  const double h = 1e-6;
  size_t n1 = v->prior->nparams, n2 = n1 + v->enc->nparams;
  int per_net[3] = {0, 0, 0};
  for (size_t i = 0; i < v->nparams; i += 3) {
    double keep = P[i], lp, lm;
    P[i] = keep + h;
    sp_vae_loss(v, d, wm, wd, &lp, NULL, p.S0, p.C, p.R, p.eps, B, H, 0);
    P[i] = keep - h;
    sp_vae_loss(v, d, wm, wd, &lm, NULL, p.S0, p.C, p.R, p.eps, B, H, 0);
    P[i] = keep;
    CHECK_CLOSE(G[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
    per_net[i < n1 ? 0 : i < n2 ? 1 : 2]++;
  }
  CHECK(per_net[0] > 10 && per_net[1] > 10 && per_net[2] > 10);
  sp_vae_data_free(d);
  sp_wm_data_free(wd);
  sp_vae_free(v);
  sp_wm_free(wm);
}

TEST(a_new_policy_plays_the_nominal_pose_and_its_posterior_is_the_prior) {
  sp_wm* wm = world(1);
  sp_vae* v = policy(3, 0);
  sp_wm_data* wd;
  sp_vae_data* d;
  CHECK_INT(sp_wm_data_new(&wd, wm, B, H), 0);
  CHECK_INT(sp_vae_data_new(&d, v, B, H), 0);
  static problem p;
  make_problem(&p, 6);
  double a[B * NU], L, parts[SP_VAE_NPARTS];
  CHECK_INT(sp_vae_act(v, d, a, p.S0, p.C, p.eps, B), 0);
  for (int r = 0; r < B; r++) {
    CHECK_CLOSE(a[r * NU], 0.3, 0, 1e-15);
    CHECK_CLOSE(a[r * NU + 1], -0.2, 0, 1e-15);
  }
  CHECK_INT(sp_vae_loss(v, d, wm, wd, &L, parts, p.S0, p.C, p.R, p.eps, B, H, 0), 0);
  CHECK_CLOSE(parts[SP_VAE_KL], 0, 0, 0);
  CHECK_CLOSE(parts[SP_VAE_ACTION], 0, 0, 0);
  sp_vae_data_free(d);
  sp_wm_data_free(wd);
  sp_vae_free(v);
  sp_wm_free(wm);
}

TEST(the_latents_means_are_those_act_decodes) {
  sp_vae* v = policy(6, 1);
  sp_vae_data* d;
  CHECK_INT(sp_vae_data_new(&d, v, B, H), 0);
  static problem p;
  make_problem(&p, 9);
  double mq[B * LAT], mp[B * LAT], mp2[B * LAT], a[B * NU], a2[B * NU];
  CHECK_INT(sp_vae_latent(v, d, mq, mp, p.S0, p.C, B), 0);
  // the posterior's mean differs from the prior's (a trained encoder), and the decoder at mu_q
  // gives act's action without noise
  CHECK(fabs(mq[0] - mp[0]) > 1e-6);
  CHECK_INT(sp_vae_act(v, d, a, p.S0, p.C, NULL, B), 0);
  const double ez[3] = {0, 0, 1};
  for (int r = 0; r < B; r++) {
    double x[10 + 2 * NJ + LAT];
    const double* s = p.S0 + r * NX;
    x[0] = s[2];
    sp_quat_rotate_inv(x + 1, s + 3, ez);
    memcpy(x + 4, s + 7, (6 + 2 * NJ) * sizeof(double));
    memcpy(x + 10 + 2 * NJ, mq + r * LAT, LAT * sizeof(double));
    CHECK_INT(sp_mlp_forward(v->dec, NULL, a2 + r * NU, x, 1), 0);
    for (int i = 0; i < NU; i++)
      CHECK_CLOSE(a2[r * NU + i] + v->cfg.a_nom[i], a[r * NU + i], 0, 1e-12);
  }
  // without conditioning both are the prior's
  CHECK_INT(sp_vae_latent(v, d, mq, mp2, p.S0, NULL, B), 0);
  for (int i = 0; i < B * LAT; i++) CHECK(mq[i] == mp2[i] && mp2[i] == mp[i]);
  uint64_t before = sp_alloc_count();
  CHECK_INT(sp_vae_latent(v, d, mq, mp, p.S0, p.C, B), 0);
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK_INT(sp_vae_latent(v, d, mq, mp, p.S0, p.C, B + 1), SP_ERANGE);
  sp_vae_data_free(d);
  sp_vae_free(v);
}

TEST(act_and_the_loss_passes_do_not_allocate) {
  sp_wm* wm = world(1);
  sp_vae* v = policy(4, 1);
  sp_wm_data* wd;
  sp_vae_data* d;
  CHECK_INT(sp_wm_data_new(&wd, wm, B, H), 0);
  CHECK_INT(sp_vae_data_new(&d, v, B, H), 0);
  static problem p;
  make_problem(&p, 7);
  double a[B * NU], L;
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 10; i++) {
    CHECK_INT(sp_vae_act(v, d, a, p.S0, NULL, NULL, B), 0);
    CHECK_INT(sp_vae_loss(v, d, wm, wd, &L, NULL, p.S0, p.C, p.R, p.eps, B, H, 1), 0);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK_INT(sp_vae_loss(v, d, wm, wd, &L, NULL, p.S0, p.C, p.R, p.eps, B, H + 1, 0), SP_ERANGE);
  sp_vae_data_free(d);
  sp_wm_data_free(wd);
  sp_vae_free(v);
  sp_wm_free(wm);
}

TEST(files_restore_the_policy_and_its_optimiser) {
  sp_wm* wm = world(1);
  sp_vae* v = policy(5, 1);
  sp_optim_config oc = sp_optim_adam_config(1e-3);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &oc, SP_F64, v->nparams), 0);
  double* m = o->m;
  m[3] = 0.25;
  o->t = 9;
  char path[64], msg[200];
  snprintf(path, sizeof path, "/tmp/spinal_vae_%d.bin", (int)getpid());
  CHECK_INT(sp_vae_save(v, o, path, msg, sizeof msg), 0);
  sp_vae* back;
  sp_optim* ob;
  CHECK_INT(sp_vae_load(&back, &ob, path, msg, sizeof msg), 0);
  CHECK(ob && ob->t == 9 && ((double*)ob->m)[3] == 0.25);
  CHECK_INT(back->cfg.lat, LAT);
  CHECK_CLOSE(back->cfg.a_nom[0], 0.3, 0, 0);
  CHECK(memcmp(back->params, v->params, v->nparams * sizeof(double)) == 0);
  sp_wm_data* wd;
  sp_vae_data *d1, *d2;
  CHECK_INT(sp_wm_data_new(&wd, wm, B, H), 0);
  CHECK_INT(sp_vae_data_new(&d1, v, B, H), 0);
  CHECK_INT(sp_vae_data_new(&d2, back, B, H), 0);
  static problem p;
  make_problem(&p, 8);
  double L1, L2;
  CHECK_INT(sp_vae_loss(v, d1, wm, wd, &L1, NULL, p.S0, p.C, p.R, p.eps, B, H, 0), 0);
  CHECK_INT(sp_vae_loss(back, d2, wm, wd, &L2, NULL, p.S0, p.C, p.R, p.eps, B, H, 0), 0);
  CHECK(L1 == L2);
  CHECK_INT(sp_wm_save(wm, NULL, path, msg, sizeof msg), 0);
  sp_vae* none;
  CHECK_INT(sp_vae_load(&none, NULL, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, ": not a VAE policy file"));
  unlink(path);
  sp_vae_data_free(d1);
  sp_vae_data_free(d2);
  sp_wm_data_free(wd);
  sp_optim_free(o);
  sp_optim_free(ob);
  sp_vae_free(back);
  sp_vae_free(v);
  sp_wm_free(wm);
}

TEST_MAIN()
