// test_wm.c: the world model (engine/wm/wm.c, rollout_loss.c, wm_file.c): one application and the
// n-step rollout loss against central finite differences (inputs, actions, parameters; the
// quaternion integration included), the integrator exact at constant velocities, normaliser
// statistics, no allocation in the passes, float32 against float64, and files; a model with
// history (the previous action an input too) the same way, and one widened to it predicting as
// before.
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "engine/nn/checkpoint.h"
#include "engine/nn/init.h"
#include "engine/wm/wm.h"
#include "test.h"

enum { NJ = 2, NU = 3, NX = 13 + 2 * NJ };

// a model whose every part is exercised: random last layer, normalisers fed random data
static sp_wm* make_with(sp_dtype dt, uint64_t seed, int history) {
  sp_wm_config c = sp_wm_default_config(NJ, NU, 0.05);
  c.history = history;
  c.hidden = 16;
  c.layers = 2;
  c.act = SP_ACT_TANH;
  c.dtype = dt;
  sp_wm* wm;
  if (sp_wm_new(&wm, &c, seed)) return NULL;
  sp_rng r;
  sp_rng_seed(&r, seed, 5);
  if (sp_mlp_init_layer(wm->net, -1, SP_INIT_XAVIER, 1.0, &r)) return NULL;
  double s[20 * NX], a[20 * 2 * NU], s1[20 * NX];
  for (int i = 0; i < 20; i++) {
    sp_rng_fill_normal(&r, s + i * NX, NX, 0, 1);
    sp_rng_fill_normal(&r, s1 + i * NX, NX, 0, 1);
  }
  sp_rng_fill_normal(&r, a, 20 * wm->na, 0.3, 2);
  sp_wm_observe(wm, s, a, s1, 20);
  return wm;
}

static sp_wm* make(sp_dtype dt, uint64_t seed) {
  return make_with(dt, seed, 0);
}

// random states with unit quaternions
static void random_states(sp_rng* r, double* s, int n) {
  for (int i = 0; i < n; i++) {
    sp_rng_fill_normal(r, s + i * NX, NX, 0, 1);
    sp_quat_normalize(s + i * NX + 3);
  }
}

static double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// the step's VJP against central differences, with or without history (CHECKs into sp_failed_)
static void check_step_vjp(int* sp_failed_, int history) {
  enum { B = 3, NA = 2 * NU };
  sp_wm* wm = make_with(SP_F64, 11, history);
  CHECK(wm);
  CHECK_INT(wm->na, NU * (1 + history));
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, B, 2), 0);
  sp_rng r;
  sp_rng_seed(&r, 2, 0);
  double s[B * NX], a[B * NA], s1[B * NX], w[B * NX], gs[B * NX], ga[B * NA];
  int na = wm->na;
  random_states(&r, s, B);
  sp_rng_fill_normal(&r, a, B * na, 0, 1);
  sp_rng_fill_normal(&r, w, B * NX, 0, 1);
  CHECK_INT(sp_wm_step(wm, d, 1, s1, s, a, B), 0);
  sp_mlp_zero_grad(wm->net);
  CHECK_INT(sp_wm_step_vjp(wm, d, 1, gs, ga, w, s, s1, 1), 0);
  double* gp = sp_malloc(wm->net->nparams * sizeof(double));
  memcpy(gp, wm->net->grads, wm->net->nparams * sizeof(double));
  const double h = 1e-6;
  double sp_[B * NX], sm[B * NX], y[B * NX];
  // every state entry (off the unit sphere too: the formulas hold for any 4-vector)
  for (int i = 0; i < B * NX; i++) {
    memcpy(sp_, s, sizeof s);
    sp_[i] += h;
    sp_wm_step(wm, d, 0, y, sp_, a, B);
    double lp = dot(w, y, B * NX);
    memcpy(sm, s, sizeof s);
    sm[i] -= h;
    sp_wm_step(wm, d, 0, y, sm, a, B);
    double lm = dot(w, y, B * NX);
    CHECK_CLOSE(gs[i], (lp - lm) / (2 * h), 1e-6, 1e-7);
  }
  for (int i = 0; i < B * na; i++) {
    double ap[B * NA];
    memcpy(ap, a, sizeof a);
    ap[i] += h;
    sp_wm_step(wm, d, 0, y, s, ap, B);
    double lp = dot(w, y, B * NX);
    ap[i] -= 2 * h;
    sp_wm_step(wm, d, 0, y, s, ap, B);
    double lm = dot(w, y, B * NX);
    CHECK_CLOSE(ga[i], (lp - lm) / (2 * h), 1e-6, 1e-7);
  }
  double* P = wm->net->params;
  for (size_t i = 0; i < wm->net->nparams; i += 7) {
    double keep = P[i];
    P[i] = keep + h;
    sp_wm_step(wm, d, 0, y, s, a, B);
    double lp = dot(w, y, B * NX);
    P[i] = keep - h;
    sp_wm_step(wm, d, 0, y, s, a, B);
    double lm = dot(w, y, B * NX);
    P[i] = keep;
    CHECK_CLOSE(gp[i], (lp - lm) / (2 * h), 1e-6, 1e-7);
  }
  // without params the parameter gradients are left alone
  CHECK_INT(sp_wm_step_vjp(wm, d, 1, gs, NULL, w, s, s1, 0), 0);
  const double* G = wm->net->grads;
  for (size_t i = 0; i < wm->net->nparams; i++) CHECK(G[i] == gp[i]);
  sp_free(gp);
  sp_wm_data_free(d);
  sp_wm_free(wm);
}

TEST(step_vjp_matches_central_finite_differences_in_state_action_and_parameters) {
  check_step_vjp(sp_failed_, 0);
}

TEST(with_history_the_previous_actions_gradient_matches_central_finite_differences_too) {
  check_step_vjp(sp_failed_, 1);
}

TEST(a_model_widened_to_history_predicts_as_before_and_files_keep_the_history) {
  sp_wm* wm = make(SP_F32, 8);
  sp_wm* wide;
  CHECK_INT(sp_wm_with_history(&wide, wm), 0);
  CHECK_INT(wide->cfg.history, 1);
  CHECK_INT(wide->na, 2 * NU);
  CHECK_CLOSE(wide->anorm.count, wm->anorm.count, 0, 0);
  for (int i = 0; i < NU; i++) {
    CHECK_CLOSE(wide->anorm.mean[NU + i], wm->anorm.mean[i], 0, 0);
    CHECK_CLOSE(wide->anorm.scale[NU + i], wm->anorm.scale[i], 0, 0);
  }
  sp_wm_data *d1, *d2;
  CHECK_INT(sp_wm_data_new(&d1, wm, 2, 1), 0);
  CHECK_INT(sp_wm_data_new(&d2, wide, 2, 1), 0);
  sp_rng r;
  sp_rng_seed(&r, 4, 0);
  double s[2 * NX], a[2 * NU], aw[2 * 2 * NU], y1[2 * NX], y2[2 * NX];
  random_states(&r, s, 2);
  sp_rng_fill_normal(&r, a, 2 * NU, 0, 1);
  sp_rng_fill_normal(&r, aw, 2 * 2 * NU, 0, 3);
  for (int b = 0; b < 2; b++) memcpy(aw + b * 2 * NU, a + b * NU, NU * sizeof(double));
  sp_wm_step(wm, d1, 0, y1, s, a, 2);
  sp_wm_step(wide, d2, 0, y2, s, aw, 2);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  // saved and loaded: still with history, the same predictions
  char path[64], msg[256];
  snprintf(path, sizeof path, "/tmp/spinal_wmh_%d.ckpt", (int)getpid());
  CHECK_INT(sp_wm_save(wide, NULL, path, msg, sizeof msg), 0);
  sp_wm* back;
  CHECK_INT(sp_wm_load(&back, NULL, path, msg, sizeof msg), 0);
  unlink(path);
  CHECK_INT(back->cfg.history, 1);
  sp_wm_data* d3;
  CHECK_INT(sp_wm_data_new(&d3, back, 2, 1), 0);
  sp_wm_step(back, d3, 0, y1, s, aw, 2);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  sp_wm_data_free(d1);
  sp_wm_data_free(d2);
  sp_wm_data_free(d3);
  sp_wm_free(back);
  sp_wm_free(wide);
  sp_wm_free(wm);
}

TEST(rollout_loss_gradient_matches_central_finite_differences) {
  const int B = 4, n = 3;
  sp_wm* wm = make(SP_F64, 4);
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, B, n), 0);
  sp_rng r;
  sp_rng_seed(&r, 8, 0);
  double S[B * (n + 1) * NX], A[B * n * NU], comps[SP_WM_NCOMP], per[n * SP_WM_NCOMP], L;
  random_states(&r, S, B * (n + 1));
  sp_rng_fill_normal(&r, A, B * n * NU, 0, 1);
  sp_mlp_zero_grad(wm->net);
  CHECK_INT(sp_wm_rollout_loss(wm, d, &L, comps, per, S, A, B, n, 1), 0);
  double total = 0, mean_steps[SP_WM_NCOMP] = {0};
  for (int c = 0; c < SP_WM_NCOMP; c++) {
    total += wm->cfg.weight[c] * comps[c];
    for (int k = 0; k < n; k++) mean_steps[c] += per[k * SP_WM_NCOMP + c] / n;
    CHECK_CLOSE(mean_steps[c], comps[c], 1e-12, 0);
    CHECK(comps[c] > 0);
  }
  CHECK_CLOSE(L, total, 1e-12, 0);
  double* P = wm->net->params;
  const double h = 1e-6;
  int checked = 0;
  for (size_t i = 0; i < wm->net->nparams; i += 3) {
    double keep = P[i], lp, lm;
    P[i] = keep + h;
    sp_wm_rollout_loss(wm, d, &lp, NULL, NULL, S, A, B, n, 0);
    P[i] = keep - h;
    sp_wm_rollout_loss(wm, d, &lm, NULL, NULL, S, A, B, n, 0);
    P[i] = keep;
    CHECK_CLOSE(((double*)wm->net->grads)[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
    checked++;
  }
  CHECK(checked > 50);
  sp_wm_data_free(d);
  sp_wm_free(wm);
}

TEST(integration_is_exact_at_constant_velocities) {
  sp_wm_config c = sp_wm_default_config(1, 1, 0.1);
  c.dtype = SP_F64;
  c.hidden = 8;
  sp_wm* wm;
  CHECK_INT(sp_wm_new(&wm, &c, 1), 0);  // last layer zero: velocities stay as they are
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, 1, 1), 0);
  double s[15] = {1, 2, 3, 0, 0, 0, 0, 0.5, -0.2, 0.1, 0.3, -0.4, 0.8, 0.25, -1.5}, s1[15], a = 0;
  const double r0[3] = {0.1, 0.2, -0.3};
  sp_quat_exp(s + 3, r0);
  CHECK_INT(sp_wm_step(wm, d, 0, s1, s, &a, 1), 0);
  // q' = q Exp(dt w) exactly; velocities unchanged; joint advanced by dt qd
  double e[4], q1[4], rv[3] = {0.01 * 3, -0.01 * 4, 0.01 * 8};
  sp_quat_exp(e, rv);
  sp_quat_mul(q1, s + 3, e);
  for (int k = 0; k < 4; k++) CHECK_CLOSE(s1[3 + k], q1[k], 1e-15, 1e-16);
  for (int k = 7; k < 13; k++) CHECK_CLOSE(s1[k], s[k], 0, 0);
  CHECK_CLOSE(s1[13], 0.25 + 0.1 * -1.5, 1e-15, 0);
  // the position moves by dt/2 (R(q) v + R(q') v)
  double A[3], Bv[3];
  sp_quat_rotate(A, s + 3, s + 7);
  sp_quat_rotate(Bv, q1, s + 7);
  for (int k = 0; k < 3; k++) CHECK_CLOSE(s1[k], s[k] + 0.05 * (A[k] + Bv[k]), 1e-15, 1e-15);
  sp_wm_data_free(d);
  sp_wm_free(wm);
}

TEST(observe_gives_the_statistics_of_all_the_data_however_split) {
  sp_wm* a = make(SP_F64, 3);
  sp_wm* b = make(SP_F64, 3);
  sp_normalizer_reset(&a->fnorm);
  sp_normalizer_reset(&a->anorm);
  sp_normalizer_reset(&a->dnorm);
  sp_normalizer_reset(&b->fnorm);
  sp_normalizer_reset(&b->anorm);
  sp_normalizer_reset(&b->dnorm);
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  enum { N = 50 };
  static double s[N * NX], u[N * NU], s1[N * NX];
  random_states(&r, s, N);
  random_states(&r, s1, N);
  sp_rng_fill_normal(&r, u, N * NU, 2, 3);
  sp_wm_observe(a, s, u, s1, N);
  sp_wm_observe(b, s, u, s1, 17);
  sp_wm_observe(b, s + 17 * NX, u + 17 * NU, s1 + 17 * NX, N - 17);
  double mean = 0, var = 0;
  for (int i = 0; i < N; i++) mean += u[i * NU + 1] / N;
  for (int i = 0; i < N; i++) var += (u[i * NU + 1] - mean) * (u[i * NU + 1] - mean) / N;
  CHECK_CLOSE(a->anorm.mean[1], mean, 1e-13, 0);
  CHECK_CLOSE(a->anorm.scale[1], sqrt(var), 1e-12, 0);
  CHECK_CLOSE(b->anorm.scale[1], sqrt(var), 1e-12, 0);
  for (int i = 0; i < a->nf; i++) CHECK_CLOSE(a->fnorm.scale[i], b->fnorm.scale[i], 1e-12, 0);
  for (int i = 0; i < a->nd; i++) CHECK_CLOSE(a->dnorm.mean[i], b->dnorm.mean[i], 1e-12, 1e-15);
  // the delta normaliser sees joint velocity changes: the last delta is qd'[1] - qd[1]
  double dm = 0;
  for (int i = 0; i < N; i++) dm += (s1[i * NX + NX - 1] - s[i * NX + NX - 1]) / N;
  CHECK_CLOSE(a->dnorm.mean[a->nd - 1], dm, 1e-12, 1e-15);
  sp_wm_free(a);
  sp_wm_free(b);
}

TEST(passes_do_not_allocate_and_do_not_mutate_their_inputs) {
  enum { B = 8, n = 8 };
  sp_wm* wm = make(SP_F32, 5);
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, B, n), 0);
  sp_rng r;
  sp_rng_seed(&r, 3, 0);
  static double S[B * (n + 1) * NX], A[B * n * NU], S0[B * (n + 1) * NX], A0[B * n * NU];
  random_states(&r, S, B * (n + 1));
  sp_rng_fill_normal(&r, A, B * n * NU, 0, 1);
  memcpy(S0, S, sizeof S);
  memcpy(A0, A, sizeof A);
  double L, per[n * SP_WM_NCOMP], s1[B * NX], gs[B * NX], ga[B * NU], g1[B * NX];
  sp_rng_fill_normal(&r, g1, B * NX, 0, 1);
  uint64_t before = sp_alloc_count();
  for (int it = 0; it < 20; it++) {
    CHECK_INT(sp_wm_rollout_loss(wm, d, &L, NULL, per, S, A, B, n, 1), 0);
    CHECK_INT(sp_wm_step(wm, d, 3, s1, S, A, B), 0);
    CHECK_INT(sp_wm_step_vjp(wm, d, 3, gs, ga, g1, S, s1, 0), 0);
    sp_wm_observe(wm, S, A, S + NX, B);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK(memcmp(S, S0, sizeof S) == 0);
  CHECK(memcmp(A, A0, sizeof A) == 0);
  CHECK(isfinite(L));
  sp_wm_data_free(d);
  sp_wm_free(wm);
}

TEST(float32_model_agrees_with_float64_from_the_same_seed) {
  sp_wm* a = make(SP_F64, 9);
  sp_wm* b = make(SP_F32, 9);
  sp_wm_data *da, *db;
  CHECK_INT(sp_wm_data_new(&da, a, 4, 1), 0);
  CHECK_INT(sp_wm_data_new(&db, b, 4, 1), 0);
  sp_rng r;
  sp_rng_seed(&r, 4, 0);
  double s[4 * NX], u[4 * NU], ya[4 * NX], yb[4 * NX];
  random_states(&r, s, 4);
  sp_rng_fill_normal(&r, u, 4 * NU, 0, 1);
  CHECK_INT(sp_wm_step(a, da, 0, ya, s, u, 4), 0);
  CHECK_INT(sp_wm_step(b, db, 0, yb, s, u, 4), 0);
  for (int i = 0; i < 4 * NX; i++) CHECK_CLOSE(yb[i], ya[i], 1e-5, 1e-5);
  sp_wm_data_free(da);
  sp_wm_data_free(db);
  sp_wm_free(a);
  sp_wm_free(b);
}

TEST(errors_for_bad_configurations_slots_and_workspaces) {
  sp_wm_config c = sp_wm_default_config(12, 12, 0.02);
  char msg[128];
  c.dt = 0;
  CHECK_INT(sp_wm_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "dt must be > 0, got 0");
  c.dt = 0.02;
  c.weight[SP_WM_ORIENTATION] = -1;
  CHECK_INT(sp_wm_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "weight of orientation must be >= 0, got -1");
  sp_wm* wm = make(SP_F32, 1);
  sp_wm* other = make(SP_F32, 2);
  sp_wm_data* d;
  CHECK_INT(sp_wm_data_new(&d, wm, 2, 2), 0);
  double s[2 * NX] = {0}, a[2 * NU] = {0}, s1[2 * NX], g[2 * NX] = {0};
  s[3] = s[NX + 3] = 1;
  CHECK_INT(sp_wm_step(wm, d, 2, s1, s, a, 2), SP_ERANGE);
  CHECK_INT(sp_wm_step(wm, d, 0, s1, s, a, 3), SP_ERANGE);
  CHECK_INT(sp_wm_step(other, d, 0, s1, s, a, 2), SP_EINVAL);
  CHECK_INT(sp_wm_step_vjp(wm, d, 1, s1, NULL, g, s, s, 1), SP_ESTATE);
  sp_wm_data_free(d);
  sp_wm_free(wm);
  sp_wm_free(other);
}

TEST(files_keep_the_network_normalisers_and_optimiser) {
  sp_wm* wm = make(SP_F32, 6);
  sp_optim_config oc = sp_optim_adam_config(1e-3);
  sp_optim* o;
  CHECK_INT(sp_optim_new(&o, &oc, SP_F32, wm->net->nparams), 0);
  o->t = 7;
  char path[64], msg[256];
  snprintf(path, sizeof path, "/tmp/spinal_wm_%d.ckpt", (int)getpid());
  CHECK_INT(sp_wm_save(wm, o, path, msg, sizeof msg), 0);
  sp_wm* back;
  sp_optim* ob;
  CHECK_INT(sp_wm_load(&back, &ob, path, msg, sizeof msg), 0);
  CHECK(ob && ob->t == 7);
  CHECK_INT(back->cfg.nj, NJ);
  CHECK_INT(back->cfg.hidden, 16);
  CHECK_CLOSE(back->cfg.dt, 0.05, 0, 0);
  CHECK_CLOSE(back->fnorm.count, 20, 0, 0);
  sp_wm_data *d1, *d2;
  CHECK_INT(sp_wm_data_new(&d1, wm, 2, 1), 0);
  CHECK_INT(sp_wm_data_new(&d2, back, 2, 1), 0);
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  double s[2 * NX], a[2 * NU], y1[2 * NX], y2[2 * NX];
  random_states(&r, s, 2);
  sp_rng_fill_normal(&r, a, 2 * NU, 0, 1);
  sp_wm_step(wm, d1, 0, y1, s, a, 2);
  sp_wm_step(back, d2, 0, y2, s, a, 2);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  // a plain network checkpoint is not a world model
  CHECK_INT(sp_checkpoint_save(path, wm->net, NULL, msg, sizeof msg), 0);
  sp_wm* none;
  CHECK_INT(sp_wm_load(&none, NULL, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, ": a network checkpoint without a world model"));
  unlink(path);
  sp_wm_data_free(d1);
  sp_wm_data_free(d2);
  sp_optim_free(o);
  sp_optim_free(ob);
  sp_wm_free(back);
  sp_wm_free(wm);
}

TEST_MAIN()
