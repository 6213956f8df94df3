// test_ppo.c: engine/rl: GAE against a direct sum, the PPO loss's gradients against central
// finite differences (alone and through the networks and the observation normaliser), no
// allocation in collect/record/update, argument errors, learning on a small task, and the
// data-parallel reduction hook (two identical halves reduce to the single update, no allocation).
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/rl/ppo.h"
#include "tests/test.h"

// advantages as the direct sum A_t = sum_l (gamma lambda)^l delta_t+l, cut at the first end
static void gae_direct(double* adv, const double* r, const double* d, const double* v, int T, int n,
                       double g, double lam) {
  for (int e = 0; e < n; e++)
    for (int t = 0; t < T; t++) {
      double a = 0, w = 1;
      for (int s = t; s < T; s++) {
        size_t i = (size_t)s * n + e;
        double delta = r[i] + g * v[i + n] * (1 - d[i]) - v[i];
        a += w * delta;
        if (d[i]) break;
        w *= g * lam;
      }
      adv[(size_t)t * n + e] = a;
    }
}

TEST(gae_matches_the_direct_discounted_sum_of_td_errors_with_episode_ends) {
  enum { T = 9, N = 3 };
  double r[T * N], d[T * N], v[(T + 1) * N], adv[T * N], ret[T * N], ref[T * N];
  sp_rng rng;
  sp_rng_seed(&rng, 7, 0);
  for (int i = 0; i < T * N; i++) {
    r[i] = sp_rng_normal(&rng);
    d[i] = sp_rng_uniform(&rng) < 0.2;
  }
  for (int i = 0; i < (T + 1) * N; i++) v[i] = sp_rng_normal(&rng);
  sp_gae(adv, ret, r, d, v, T, N, 0.97, 0.9);
  gae_direct(ref, r, d, v, T, N, 0.97, 0.9);
  for (int i = 0; i < T * N; i++) {
    CHECK_CLOSE(adv[i], ref[i], 1e-12, 1e-12);
    CHECK_CLOSE(ret[i], adv[i] + v[i], 1e-12, 1e-12);
  }
  // lambda = 1 and no ends: the discounted return to the bootstrap minus the value
  double z[T * N] = {0};
  sp_gae(adv, ret, r, z, v, T, N, 0.9, 1.0);
  for (int e = 0; e < N; e++) {
    double R = v[T * N + e];
    for (int t = T - 1; t >= 0; t--) {
      R = r[t * N + e] + 0.9 * R;
      CHECK_CLOSE(ret[t * N + e], R, 1e-12, 1e-12);
    }
  }
}

TEST(gaussian_log_density_and_entropy_match_their_formulas) {
  double a[2] = {0.3, -1.0}, mu[2] = {0.1, 0.5}, ls[2] = {-0.5, 0.2}, lp;
  sp_gaussian_logp(&lp, a, mu, ls, 1, 2);
  double ref = 0;
  for (int j = 0; j < 2; j++) {
    double s = exp(ls[j]);
    ref += -0.5 * pow((a[j] - mu[j]) / s, 2) - log(s * sqrt(2 * M_PI));
  }
  CHECK_CLOSE(lp, ref, 1e-14, 1e-14);
  CHECK_CLOSE(sp_gaussian_entropy(ls, 2), ls[0] + ls[1] + log(2 * M_PI * M_E), 1e-14, 1e-14);
}

enum { B = 12, K = 3 };
typedef struct {
  double mu[B * K], v[B], ls[K], a[B * K], mo[B * K], lso[K], lpo[B], adv[B], ret[B], vo[B];
} loss_in;

static void loss_fill(loss_in* x, uint64_t seed) {
  sp_rng r;
  sp_rng_seed(&r, seed, 0);
  for (int j = 0; j < K; j++) x->ls[j] = 0.3 * sp_rng_normal(&r), x->lso[j] = x->ls[j] + 0.1;
  for (int i = 0; i < B * K; i++) {
    x->mo[i] = sp_rng_normal(&r);
    x->a[i] = x->mo[i] + sp_rng_normal(&r);
    x->mu[i] = x->mo[i] + 0.3 * sp_rng_normal(&r);  // ratios well inside and outside the clip
  }
  sp_gaussian_logp(x->lpo, x->a, x->mo, x->lso, B, K);
  for (int i = 0; i < B; i++) {
    x->adv[i] = sp_rng_normal(&r);
    x->vo[i] = sp_rng_normal(&r);
    x->v[i] = x->vo[i] + 0.4 * sp_rng_normal(&r);  // some beyond the value clip
    x->ret[i] = sp_rng_normal(&r);
  }
}

static double loss_of(loss_in* x, int cv, double* gmu, double* gv, double* gl, sp_ppo_stats* st) {
  return sp_ppo_loss(st, gmu, gv, gl, x->mu, x->v, x->ls, x->a, x->mo, x->lso, x->lpo, x->adv,
                     x->ret, x->vo, B, K, 0.2, cv, 0.7, 0.01);
}

static void check_loss_grad(int* sp_failed_, int cv) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    loss_in x;
    loss_fill(&x, seed);
    double gmu[B * K], gv[B], gl[K], t1[B * K], t2[B], t3[K];
    sp_ppo_stats st;
    loss_of(&x, cv, gmu, gv, gl, &st);
    CHECK(st.clip_fraction > 0 && st.clip_fraction < 1);  // both branches are exercised
    double h = 1e-6;
    double* vars[3] = {x.mu, x.v, x.ls};
    double* grads[3] = {gmu, gv, gl};
    int ns[3] = {B * K, B, K};
    for (int w = 0; w < 3; w++)
      for (int i = 0; i < ns[w]; i++) {
        double keep = vars[w][i];
        vars[w][i] = keep + h;
        double lp = loss_of(&x, cv, t1, t2, t3, NULL);
        vars[w][i] = keep - h;
        double lm = loss_of(&x, cv, t1, t2, t3, NULL);
        vars[w][i] = keep;
        CHECK_CLOSE(grads[w][i], (lp - lm) / (2 * h), 1e-5, 1e-8);
      }
  }
}

TEST(loss_gradient_in_mean_value_and_log_std_matches_finite_differences_with_value_clipping) {
  check_loss_grad(sp_failed_, 1);
}

TEST(loss_gradient_in_mean_value_and_log_std_matches_finite_differences_without_value_clipping) {
  check_loss_grad(sp_failed_, 0);
}

TEST(loss_is_the_sum_of_its_parts_and_zero_surrogate_gradient_when_ratio_is_one) {
  loss_in x;
  loss_fill(&x, 4);
  memcpy(x.mu, x.mo, sizeof x.mu);
  memcpy(x.ls, x.lso, sizeof x.ls);
  sp_gaussian_logp(x.lpo, x.a, x.mo, x.lso, B, K);
  double gmu[B * K], gv[B], gl[K];
  sp_ppo_stats st;
  double L = loss_of(&x, 1, gmu, gv, gl, &st);
  CHECK_CLOSE(L, st.surrogate + 0.7 * st.value_loss - 0.01 * st.entropy, 1e-12, 1e-12);
  CHECK_CLOSE(st.kl, 0, 0, 1e-14);
  CHECK_INT((int)(st.clip_fraction * 1000), 0);
  double m = 0;
  for (int i = 0; i < B; i++) m += x.adv[i];
  CHECK_CLOSE(st.surrogate, -m / B, 1e-12, 1e-12);
}

TEST(loss_does_not_mutate_its_inputs_nor_allocate) {
  loss_in x, copy;
  loss_fill(&x, 5);
  copy = x;
  double gmu[B * K], gv[B], gl[K];
  uint64_t before = sp_alloc_count();
  loss_of(&x, 1, gmu, gv, gl, NULL);
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK(memcmp(&x, &copy, sizeof x) == 0);
}

// a small PPO on random data, float64
static sp_ppo* small_ppo(int* sp_failed_, sp_dtype dt, int clip_value) {
  sp_ppo_config c = sp_ppo_default_config(5, 3, 4, 6);
  c.nhidden = 2;
  c.hidden[0] = 8, c.hidden[1] = 7;
  c.dtype = dt;
  c.minibatches = 2;
  c.epochs = 2;
  c.clip_value = clip_value;
  c.init_std = 0.7;
  c.obs_clip = 0;  // the clamp has no gradient to check
  sp_ppo* p = NULL;
  int rc = sp_ppo_new(&p, &c, 3);
  if (rc) {
    fprintf(stderr, "sp_ppo_new: %s\n", sp_strerror(rc));
    *sp_failed_ = 1;
    return NULL;
  }
  return p;
}

static void run_iteration(sp_ppo* p, sp_rng* r, int update) {
  const sp_ppo_config* c = &p->cfg;
  double obs[64], a[64], rew[16], done[16], to[16];
  for (int t = 0; t < c->nsteps; t++) {
    for (int i = 0; i < c->nenvs * c->nobs; i++) obs[i] = 2 + 3 * sp_rng_normal(r);
    sp_ppo_collect(p, a, obs);
    for (int i = 0; i < c->nenvs; i++) {
      rew[i] = a[i * c->nact] - 0.5 * obs[i * c->nobs];
      done[i] = sp_rng_uniform(r) < 0.1;
      to[i] = done[i] && sp_rng_uniform(r) < 0.5;
    }
    sp_ppo_record(p, rew, done, to);
  }
  for (int i = 0; i < c->nenvs * c->nobs; i++) obs[i] = sp_rng_normal(r);
  if (update)
    sp_ppo_update(p, obs);
  else
    sp_ppo_prepare(p, obs);
}

static void check_net_grad(int* sp_failed_, int clip_value) {
  sp_ppo* p = small_ppo(sp_failed_, SP_F64, clip_value);
  if (!p) return;
  sp_rng r;
  sp_rng_seed(&r, 11, 0);
  run_iteration(p, &r, 1);  // the policy moves away from the collecting one
  run_iteration(p, &r, 1);
  run_iteration(p, &r, 0);  // a rollout with GAE, not yet updated
  // perturb the parameters so ratios leave the clip range on some rows
  double* th = p->params;
  for (size_t i = 0; i < p->nparams; i++) th[i] += 0.15 * sp_rng_normal(&r);
  int idx[12];
  for (int i = 0; i < 12; i++) idx[i] = (i * 7) % 24;
  memset(p->grads, 0, p->nparams * sizeof(double));
  double L;
  CHECK_INT(sp_ppo_minibatch_loss(p, &L, idx, 12, 1), 0);
  CHECK(p->mbstats.clip_fraction > 0);
  CHECK(p->cfg.normalize_obs && p->onorm.count > 0);
  double h = 1e-6;
  const double* g = p->grads;
  for (size_t i = 0; i < p->nparams; i++) {
    double keep = th[i], lp, lm;
    th[i] = keep + h;
    sp_ppo_minibatch_loss(p, &lp, idx, 12, 0);
    th[i] = keep - h;
    sp_ppo_minibatch_loss(p, &lm, idx, 12, 0);
    th[i] = keep;
    CHECK_CLOSE(g[i], (lp - lm) / (2 * h), 1e-5, 1e-8);
  }
  sp_ppo_free(p);
}

TEST(minibatch_loss_gradient_through_normaliser_and_networks_matches_finite_differences) {
  check_net_grad(sp_failed_, 1);
}

TEST(minibatch_loss_gradient_without_value_clipping_matches_finite_differences) {
  check_net_grad(sp_failed_, 0);
}

TEST(collect_record_and_update_do_not_allocate) {
  sp_ppo* p = small_ppo(sp_failed_, SP_F32, 1);
  if (!p) return;
  sp_rng r;
  sp_rng_seed(&r, 2, 0);
  run_iteration(p, &r, 1);
  uint64_t before = sp_alloc_count();
  for (int it = 0; it < 5; it++) run_iteration(p, &r, 1);
  double obs[20], a[12];
  for (int i = 0; i < 20; i++) obs[i] = i;
  sp_ppo_act(p, a, NULL, obs, 4, 1);
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK_INT(p->iteration, 6);
  CHECK_INT(p->stats.steps, 4);
  CHECK_INT(p->stats.refused, 0);
  sp_ppo_free(p);
}

// a data-parallel hook as two participants holding the same data would see it: every sum is
// twice the vector
typedef struct mirror {
  int calls;
} mirror;

static int mirror_sum(void* ctx, sp_dtype dtype, void* x, size_t n) {
  mirror* m = ctx;
  m->calls++;
  if (dtype == SP_F32)
    for (size_t i = 0; i < n; i++) ((float*)x)[i] *= 2;
  else
    for (size_t i = 0; i < n; i++) ((double*)x)[i] *= 2;
  return 0;
}

TEST(a_reduction_over_two_identical_halves_gives_the_single_update_without_allocating) {
  // without advantage normalisation (its Bessel factor depends on the batch size) two copies of
  // a batch are the batch: the normaliser, the gradients, the KL-driven lr must all come out the
  // same, so the engine must weigh and divide by the reduced counts
  sp_ppo* p = small_ppo(sp_failed_, SP_F64, 1);
  sp_ppo* q = small_ppo(sp_failed_, SP_F64, 1);
  if (!p || !q) return;
  p->cfg.normalize_adv = q->cfg.normalize_adv = 0;
  mirror m = {0};
  sp_ppo_set_reduce(q, mirror_sum, &m);
  sp_rng r1, r2;
  sp_rng_seed(&r1, 5, 0);
  sp_rng_seed(&r2, 5, 0);
  run_iteration(p, &r1, 1);
  run_iteration(q, &r2, 1);
  uint64_t before = sp_alloc_count();
  for (int it = 0; it < 3; it++) {
    run_iteration(p, &r1, 1);
    run_iteration(q, &r2, 1);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  // per iteration: 2 per collected step (6), 1 in prepare, 2 per minibatch step (4)
  CHECK_INT(m.calls, 4 * (2 * 6 + 1 + 2 * 4));
  for (size_t i = 0; i < p->nparams; i++)
    CHECK_CLOSE(((double*)q->params)[i], ((double*)p->params)[i], 1e-10, 1e-12);
  CHECK_CLOSE(q->onorm.count, 2 * p->onorm.count, 0, 0);
  CHECK_CLOSE(q->onorm.scale[2], p->onorm.scale[2], 1e-12, 0);
  CHECK_CLOSE(q->stats.kl, p->stats.kl, 1e-10, 1e-14);
  CHECK_CLOSE(q->stats.lr, p->stats.lr, 1e-12, 0);
  // Adam hides a gradient's scale from the parameters: the norm shows it
  CHECK_CLOSE(q->stats.grad_norm, p->stats.grad_norm, 1e-10, 0);
  CHECK_CLOSE(q->stats.value_loss, p->stats.value_loss, 1e-10, 0);
  // sharing needs a hook; a participant that is not the root zeroes its parameters for the sum
  // (here the mirror's: twice zero)
  CHECK_INT(sp_ppo_share_params(p, 1), SP_ESTATE);
  CHECK_INT(sp_ppo_share_params(q, 0), 0);
  CHECK_CLOSE(((double*)q->params)[0], 0, 0, 0);
  sp_ppo_free(p);
  sp_ppo_free(q);
}

TEST(a_time_out_bootstraps_with_the_value_and_advantages_are_normalised) {
  sp_ppo* p = small_ppo(sp_failed_, SP_F64, 1);
  if (!p) return;
  double obs[20], a[12], r[4] = {1, 2, 3, 4}, d[4] = {0, 1, 1, 0}, to[4] = {0, 0, 1, 0};
  for (int i = 0; i < 20; i++) obs[i] = 0.1 * i;
  sp_ppo_collect(p, a, obs);
  sp_ppo_record(p, r, d, to);
  CHECK_CLOSE(p->reward[0], 1, 0, 0);
  CHECK_CLOSE(p->reward[1], 2, 0, 0);  // terminal: no bootstrap
  CHECK_CLOSE(p->reward[2], 3 + 0.99 * p->value[2], 1e-15, 0);
  sp_rng rng;
  sp_rng_seed(&rng, 3, 0);
  for (int t = 1; t < p->cfg.nsteps; t++) {
    for (int i = 0; i < 20; i++) obs[i] = sp_rng_normal(&rng);
    sp_ppo_collect(p, a, obs);
    sp_ppo_record(p, r, d, NULL);
  }
  CHECK_INT(sp_ppo_prepare(p, obs), 0);
  double m = 0, v = 0;
  for (int i = 0; i < 24; i++) m += p->adv[i];
  m /= 24;
  for (int i = 0; i < 24; i++) v += (p->adv[i] - m) * (p->adv[i] - m);
  CHECK_CLOSE(m, 0, 0, 1e-12);
  CHECK_CLOSE(sqrt(v / 23), 1, 1e-6, 0);
  sp_ppo_free(p);
}

// KL(old || new) of diagonal Gaussians written out per dimension, averaged over rows idx: the
// new mean from the actor on the stored (normalised) observations, the old from the rollout
// (rows at most the networks' workspace rows)
static double direct_kl(sp_ppo* p, const int* idx, int rows) {
  int k = p->cfg.nact, no = p->cfg.nobs;
  double x[64 * 8], mu[64 * 4], kl = 0;
  for (int b = 0; b < rows; b++)
    memcpy(x + b * no, p->obs + (size_t)idx[b] * no, sizeof(double) * no);
  sp_mlp_forward(p->actor, NULL, mu, x, rows);
  const double* ls = (const double*)p->params + p->off_logstd;
  for (int b = 0; b < rows; b++)
    for (int j = 0; j < k; j++) {
      double so = exp(p->logstd_c[j]), sn = exp(ls[j]);
      double dm = p->mu[(size_t)idx[b] * k + j] - mu[b * k + j];
      kl += log(sn / so) + (so * so + dm * dm) / (2 * sn * sn) - 0.5;
    }
  return kl / rows;
}

TEST(before_any_step_the_ratio_is_one_and_the_kl_zero_and_after_steps_the_kl_is_the_direct_one) {
  // the update must see exactly what the collecting policy saw: the same normalised
  // observations, means and log sigma; a mismatch shows as a KL and ratios away from 1 before
  // the first optimiser step (the quadruped's KL of 0.01 after tiny steps was suspected of this)
  for (int dt = 0; dt < 2; dt++) {
    sp_ppo* p = small_ppo(sp_failed_, dt ? SP_F32 : SP_F64, 1);
    if (!p) return;
    sp_rng r;
    sp_rng_seed(&r, 21, 0);
    run_iteration(p, &r, 1);  // the normaliser's statistics and the networks move
    run_iteration(p, &r, 0);
    int idx[12];
    for (int i = 0; i < 12; i++) idx[i] = (i * 5 + 1) % 24;
    double L;
    CHECK_INT(sp_ppo_minibatch_loss(p, &L, idx, 12, 0), 0);
    double tol = dt ? 1e-10 : 1e-24;  // float32 networks: rounding of a different batch size
    CHECK(p->mbstats.kl <= tol);
    CHECK_CLOSE(p->mbstats.clip_fraction, 0, 0, 0);
    // ratio 1 on every row: the surrogate is -mean(A)
    double ma = 0;
    for (int i = 0; i < 12; i++) ma += p->adv[idx[i]];
    CHECK_CLOSE(p->mbstats.surrogate, -ma / 12, dt ? 1e-6 : 1e-12, 1e-12);
    // the stored observations are the raw ones normalised with the statistics of the moment
    // they were collected, and an update leaves the normaliser alone
    double cnt = p->onorm.count, m0 = p->onorm.mean[0], s0 = p->onorm.scale[0];
    if (dt == 0) {
      // move the policy: perturb, then the loss's KL is the direct formula
      double* th = p->params;
      for (size_t i = 0; i < p->nparams; i++) th[i] += 0.05 * sp_rng_normal(&r);
      CHECK_INT(sp_ppo_minibatch_loss(p, &L, idx, 12, 0), 0);
      CHECK(p->mbstats.kl > 1e-4);
      CHECK_CLOSE(p->mbstats.kl, direct_kl(p, idx, 12), 1e-12, 1e-15);
    }
    double obs[20];
    for (int i = 0; i < 20; i++) obs[i] = sp_rng_normal(&r);
    CHECK_INT(sp_ppo_update(p, obs), 0);
    CHECK_CLOSE(p->onorm.count, cnt, 0, 0);
    CHECK_CLOSE(p->onorm.mean[0], m0, 0, 0);
    CHECK_CLOSE(p->onorm.scale[0], s0, 0, 0);
    sp_ppo_free(p);
  }
}

TEST(collected_observations_are_normalised_with_the_statistics_the_policy_acted_on) {
  sp_ppo* p = small_ppo(sp_failed_, SP_F64, 1);
  if (!p) return;
  sp_rng r;
  sp_rng_seed(&r, 8, 0);
  run_iteration(p, &r, 1);
  double obs[20], a[12], z[20], mu[12];
  for (int i = 0; i < 20; i++) obs[i] = 5 + 10 * sp_rng_normal(&r);
  obs[3] = 1e6;  // a huge raw feature is clipped to obs_clip after normalisation
  p->cfg.obs_clip = 5;
  CHECK_INT(sp_ppo_collect(p, a, obs), 0);
  sp_ppo_normalize(p, z, obs, 4);  // the statistics after merging this step
  for (int i = 0; i < 20; i++) CHECK_CLOSE(p->obs[i], z[i], 0, 0);
  CHECK_CLOSE(p->obs[3], 5, 0, 0);
  // the recorded mean is the policy's mean on those inputs, and log pi_old is the log-density
  // of the (unclipped) sampled action under it
  CHECK_INT(sp_ppo_act(p, mu, NULL, obs, 4, 0), 0);
  double lp[4];
  sp_gaussian_logp(lp, a, mu, p->logstd, 4, 3);
  for (int i = 0; i < 12; i++) {
    CHECK_CLOSE(p->mu[i], mu[i], 1e-13, 1e-15);
    CHECK_CLOSE(p->act[i], a[i], 0, 0);
  }
  for (int i = 0; i < 4; i++) CHECK_CLOSE(p->logp[i], lp[i], 1e-12, 1e-12);
  sp_ppo_free(p);
}

TEST(the_kl_rule_per_update_moves_the_rate_once_per_update_on_the_whole_batch_kl) {
  // per minibatch (rsl_rl) the KL only grows within an update, so a rate too large is cut
  // at every step; per update it is cut once, by 1.5, and kl_final is the batch's direct KL
  sp_ppo_config c = sp_ppo_default_config(5, 3, 4, 6);
  c.nhidden = 1, c.hidden[0] = 16, c.minibatches = 2, c.dtype = SP_F64;
  c.lr = 0.5, c.lr_max = 1, c.lr_min = 1e-3, c.kl_per_update = 1;
  sp_ppo* p = NULL;
  CHECK_INT(sp_ppo_new(&p, &c, 1), 0);
  sp_rng r;
  sp_rng_seed(&r, 4, 0);
  run_iteration(p, &r, 1);
  CHECK(p->stats.kl_final > 2 * c.desired_kl);
  CHECK_CLOSE(p->stats.lr, 0.5, 0, 0);  // every step of this update ran at lr
  CHECK_CLOSE(p->opt->cfg.lr, 0.5 / 1.5, 1e-15, 0);
  int all[24];
  for (int i = 0; i < 24; i++) all[i] = i;
  // (the networks' workspaces hold 12 rows: the batch in two halves)
  CHECK_CLOSE(p->stats.kl_final, 0.5 * (direct_kl(p, all, 12) + direct_kl(p, all + 12, 12)), 1e-12,
              1e-15);
  sp_ppo_free(p);
  // a rate far too small rises by 1.5 per update
  c.lr = 1e-6, c.lr_min = 1e-7;
  CHECK_INT(sp_ppo_new(&p, &c, 1), 0);
  run_iteration(p, &r, 1);
  run_iteration(p, &r, 1);
  CHECK(p->stats.kl_final < 0.5 * c.desired_kl && p->stats.kl_final > 0);
  CHECK_CLOSE(p->opt->cfg.lr, 1e-6 * 1.5 * 1.5, 1e-12, 0);
  sp_ppo_free(p);
}

TEST(the_learning_rate_follows_the_kl_rule_or_the_linear_schedule) {
  // adaptive: a step size far too large drives the KL up, and the rule brings lr down to its floor
  sp_ppo_config c = sp_ppo_default_config(5, 3, 4, 6);
  c.nhidden = 1, c.hidden[0] = 16, c.minibatches = 2;
  c.lr = 0.5, c.lr_max = 1, c.lr_min = 1e-3;
  sp_ppo* p = NULL;
  CHECK_INT(sp_ppo_new(&p, &c, 1), 0);
  sp_rng r;
  sp_rng_seed(&r, 4, 0);
  run_iteration(p, &r, 1);
  CHECK(p->stats.kl > 2 * c.desired_kl);
  CHECK(p->stats.lr < 0.5 / 1.5 / 1.5);
  CHECK(p->stats.lr >= c.lr_min);
  sp_ppo_free(p);
  // schedule: lr, then linearly to lr_min over lr_iterations updates
  c = sp_ppo_default_config(5, 3, 4, 6);
  c.nhidden = 1, c.hidden[0] = 16, c.minibatches = 2;
  c.desired_kl = 0, c.lr = 1e-3, c.lr_min = 1e-4, c.lr_iterations = 4;
  CHECK_INT(sp_ppo_new(&p, &c, 1), 0);
  const double want[6] = {1e-3, 7.75e-4, 5.5e-4, 3.25e-4, 1e-4, 1e-4};
  for (int k = 0; k < 6; k++) {
    run_iteration(p, &r, 1);
    CHECK_CLOSE(p->stats.lr, want[k], 1e-12, 0);
  }
  sp_ppo_free(p);
}

TEST(out_of_order_calls_are_refused_with_estate) {
  sp_ppo* p = small_ppo(sp_failed_, SP_F64, 1);
  if (!p) return;
  double obs[20] = {0}, a[12], z[4] = {0};
  CHECK_INT(sp_ppo_record(p, z, z, NULL), SP_ESTATE);
  CHECK_INT(sp_ppo_update(p, obs), SP_ESTATE);
  CHECK_INT(sp_ppo_collect(p, a, obs), 0);
  CHECK_INT(sp_ppo_collect(p, a, obs), SP_ESTATE);
  CHECK_INT(sp_ppo_act(p, a, NULL, obs, 5, 0), SP_ERANGE);
  sp_ppo_free(p);
}

TEST(bad_configurations_name_the_field) {
  char msg[160];
  sp_ppo_config c = sp_ppo_default_config(4, 2, 3, 5);
  CHECK_INT(sp_ppo_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "ppo: minibatches (4) must divide nenvs * nsteps (15)");
  c.minibatches = 3;
  CHECK_INT(sp_ppo_check(&c, msg, sizeof msg), 0);
  c.clip = 0;
  CHECK_INT(sp_ppo_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "ppo: clip must be > 0, got 0");
  c = sp_ppo_default_config(4, 2, 3, 5);
  c.minibatches = 1, c.lr_min = 0.1, c.lr_max = 0.01;
  CHECK_INT(sp_ppo_check(&c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "ppo: lr_min and lr_max must satisfy 0 < lr_min <= lr_max, got 0.1 and 0.01");
  sp_ppo* p = (sp_ppo*)1;
  CHECK_INT(sp_ppo_new(&p, &c, 1), SP_EINVAL);
  CHECK(p == NULL);
}

// point mass in the plane: x' = x + 0.1 clip(a, -1, 1), reward -|x'|^2, 40-step episodes
// starting in [-1, 1]^2; optimal mean reward per step about -0.05, a random policy's about -0.6
static double point_mass(uint64_t seed, int iters) {
  enum { NE = 32, NS = 40 };
  sp_ppo_config c = sp_ppo_default_config(3, 2, NE, NS);
  c.nhidden = 2, c.hidden[0] = 64, c.hidden[1] = 64;
  sp_ppo* p = NULL;
  if (sp_ppo_new(&p, &c, seed)) return NAN;
  sp_rng r;
  sp_rng_seed(&r, seed, 99);
  double x[NE * 2], obs[NE * 3], a[NE * 2], rew[NE], done[NE], to[NE];
  int age[NE];
  for (int e = 0; e < NE; e++) {
    x[2 * e] = 2 * sp_rng_uniform(&r) - 1, x[2 * e + 1] = 2 * sp_rng_uniform(&r) - 1;
    age[e] = (int)sp_rng_below(&r, 40);
  }
  double last = 0;
  for (int it = 0; it < iters; it++) {
    for (int t = 0; t < NS; t++) {
      for (int e = 0; e < NE; e++)
        obs[3 * e] = x[2 * e], obs[3 * e + 1] = x[2 * e + 1], obs[3 * e + 2] = age[e] / 40.0;
      sp_ppo_collect(p, a, obs);
      for (int e = 0; e < NE; e++) {
        for (int j = 0; j < 2; j++) {
          double u = a[2 * e + j] < -1 ? -1 : a[2 * e + j] > 1 ? 1 : a[2 * e + j];
          x[2 * e + j] += 0.1 * u;
        }
        rew[e] = -(x[2 * e] * x[2 * e] + x[2 * e + 1] * x[2 * e + 1]);
        done[e] = to[e] = ++age[e] >= 40;
        if (done[e]) {
          x[2 * e] = 2 * sp_rng_uniform(&r) - 1, x[2 * e + 1] = 2 * sp_rng_uniform(&r) - 1;
          age[e] = 0;
        }
      }
      sp_ppo_record(p, rew, done, NULL);
    }
    for (int e = 0; e < NE; e++)
      obs[3 * e] = x[2 * e], obs[3 * e + 1] = x[2 * e + 1], obs[3 * e + 2] = age[e] / 40.0;
    sp_ppo_update(p, obs);
    last = p->stats.mean_reward;
  }
  sp_ppo_free(p);
  return last;
}

TEST(ppo_learns_to_drive_a_point_mass_to_the_origin_on_every_seed) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    double first = point_mass(seed, 1), last = point_mass(seed, 60);
    fprintf(stderr, "  seed %d: mean reward %.3f -> %.3f\n", (int)seed, first, last);
    CHECK(first < -0.4);
    CHECK(last > -0.15);
  }
}

TEST_MAIN()
