// ppo.c: the PPO object: networks, rollout buffer, collection and the update (engine/rl/ppo.h).
#include "engine/rl/ppo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/init.h"

sp_ppo_config sp_ppo_default_config(int nobs, int nact, int nenvs, int nsteps) {
  sp_ppo_config c = {.nobs = nobs,
                     .nact = nact,
                     .nenvs = nenvs,
                     .nsteps = nsteps,
                     .nhidden = 3,
                     .hidden = {512, 256, 128},
                     .act = SP_ACT_ELU,
                     .dtype = SP_F32,
                     .init_std = 1.0,
                     .lr = 1e-3,
                     .lr_min = 1e-5,
                     .lr_max = 1e-2,
                     .desired_kl = 0.01,
                     .lr_iterations = 0,
                     .gamma = 0.99,
                     .lambda = 0.95,
                     .clip = 0.2,
                     .clip_value = 1,
                     .value_coef = 1.0,
                     .entropy_coef = 0.01,
                     .max_grad_norm = 1.0,
                     .epochs = 5,
                     .minibatches = 4,
                     .normalize_adv = 1,
                     .normalize_obs = 1,
                     .obs_clip = 5.0};
  return c;
}

#define BAD(...) return sp_errorf(msg, msg_size, SP_EINVAL, __VA_ARGS__)

int sp_ppo_check(const sp_ppo_config* c, char* msg, size_t msg_size) {
  if (c->nobs < 1) BAD("ppo: nobs must be >= 1, got %d", c->nobs);
  if (c->nact < 1) BAD("ppo: nact must be >= 1, got %d", c->nact);
  if (c->nenvs < 1) BAD("ppo: nenvs must be >= 1, got %d", c->nenvs);
  if (c->nsteps < 1) BAD("ppo: nsteps must be >= 1, got %d", c->nsteps);
  if (c->nhidden < 1 || c->nhidden > SP_PPO_MAXHIDDEN)
    BAD("ppo: nhidden must be in [1, %d], got %d", SP_PPO_MAXHIDDEN, c->nhidden);
  for (int i = 0; i < c->nhidden; i++)
    if (c->hidden[i] < 1) BAD("ppo: hidden[%d] must be >= 1, got %d", i + 1, c->hidden[i]);
  if (c->act < 0 || c->act >= SP_ACT_COUNT) BAD("ppo: unknown activation %d", (int)c->act);
  if (c->dtype != SP_F32 && c->dtype != SP_F64) BAD("ppo: unknown dtype %d", (int)c->dtype);
  if (!(c->init_std > 0)) BAD("ppo: init_std must be > 0, got %g", c->init_std);
  if (!(c->lr > 0)) BAD("ppo: lr must be > 0, got %g", c->lr);
  if (!(c->lr_min > 0 && c->lr_min <= c->lr_max))
    BAD("ppo: lr_min and lr_max must satisfy 0 < lr_min <= lr_max, got %g and %g", c->lr_min,
        c->lr_max);
  if (!(c->desired_kl >= 0)) BAD("ppo: desired_kl must be >= 0, got %g", c->desired_kl);
  if (c->lr_iterations < 0) BAD("ppo: lr_iterations must be >= 0, got %d", c->lr_iterations);
  if (!(c->gamma >= 0 && c->gamma <= 1)) BAD("ppo: gamma must be in [0, 1], got %g", c->gamma);
  if (!(c->lambda >= 0 && c->lambda <= 1)) BAD("ppo: lambda must be in [0, 1], got %g", c->lambda);
  if (!(c->clip > 0)) BAD("ppo: clip must be > 0, got %g", c->clip);
  if (!(c->value_coef >= 0)) BAD("ppo: value_coef must be >= 0, got %g", c->value_coef);
  if (!(c->entropy_coef >= 0)) BAD("ppo: entropy_coef must be >= 0, got %g", c->entropy_coef);
  if (!(c->max_grad_norm >= 0)) BAD("ppo: max_grad_norm must be >= 0, got %g", c->max_grad_norm);
  if (c->epochs < 1) BAD("ppo: epochs must be >= 1, got %d", c->epochs);
  if (c->minibatches < 1) BAD("ppo: minibatches must be >= 1, got %d", c->minibatches);
  long n = (long)c->nenvs * c->nsteps;
  if (n % c->minibatches)
    BAD("ppo: minibatches (%d) must divide nenvs * nsteps (%ld)", c->minibatches, n);
  if (!(c->obs_clip >= 0)) BAD("ppo: obs_clip must be >= 0, got %g", c->obs_clip);
  return 0;
}

// read log sigma out of the parameter vector
static void read_logstd(sp_ppo* p) {
  for (int j = 0; j < p->cfg.nact; j++)
    p->logstd[j] = p->cfg.dtype == SP_F32 ? ((float*)p->params)[p->off_logstd + j]
                                          : ((double*)p->params)[p->off_logstd + j];
}

static int make_net(sp_mlp** out, const sp_ppo_config* c, int nout, int rows) {
  int sizes[SP_PPO_MAXHIDDEN + 2];
  sp_act acts[SP_PPO_MAXHIDDEN + 1];
  sizes[0] = c->nobs;
  for (int i = 0; i < c->nhidden; i++) {
    sizes[i + 1] = c->hidden[i];
    acts[i] = c->act;
  }
  sizes[c->nhidden + 1] = nout;
  acts[c->nhidden] = SP_ACT_IDENTITY;
  return sp_mlp_new(out, c->nhidden + 1, sizes, acts, c->dtype, rows);
}

static int init_net(sp_mlp* m, double last_gain, sp_rng* r) {
  int rc = 0;
  for (int l = 0; l < m->nlayers && !rc; l++)
    rc = sp_mlp_init_layer(m, l, SP_INIT_ORTHOGONAL, l + 1 < m->nlayers ? sqrt(2.0) : last_gain, r);
  return rc;
}

int sp_ppo_new(sp_ppo** out, const sp_ppo_config* cfg, uint64_t seed) {
  *out = NULL;
  int rc = sp_ppo_check(cfg, NULL, 0);
  if (rc) return rc;
  sp_ppo* p = sp_calloc(1, sizeof *p);
  if (!p) return SP_ENOMEM;
  p->cfg = *cfg;
  const sp_ppo_config* c = &p->cfg;
  int N = c->nenvs * c->nsteps, k = c->nact, no = c->nobs;
  p->mb = N / c->minibatches;
  int R = p->mb > c->nenvs ? p->mb : c->nenvs;  // scratch rows
  if ((rc = make_net(&p->actor, c, k, R)) || (rc = make_net(&p->critic, c, 1, R))) goto fail;
  // one parameter vector [actor | critic | log sigma], and its gradient
  size_t es = sp_dtype_size(c->dtype);
  p->nparams = p->actor->nparams + p->critic->nparams + (size_t)k;
  p->off_logstd = p->actor->nparams + p->critic->nparams;
  p->params = sp_calloc(p->nparams, es);
  p->grads = sp_calloc(p->nparams, es);
  if (!p->params || !p->grads) goto nomem;
  sp_mlp_use_storage(p->actor, p->params, p->grads);
  sp_mlp_use_storage(p->critic, (char*)p->params + p->actor->nparams * es,
                     (char*)p->grads + p->actor->nparams * es);
  sp_rng_seed(&p->rng, seed, 0);
  if ((rc = init_net(p->actor, 0.01, &p->rng)) || (rc = init_net(p->critic, 1.0, &p->rng)))
    goto fail;
  for (int j = 0; j < k; j++) {
    if (c->dtype == SP_F32)
      ((float*)p->params)[p->off_logstd + j] = (float)log(c->init_std);
    else
      ((double*)p->params)[p->off_logstd + j] = log(c->init_std);
  }
  sp_rng_seed(&p->rng, seed, 1);
  sp_optim_config oc = sp_optim_adam_config(c->lr);
  oc.clip = c->max_grad_norm;
  if ((rc = sp_optim_new(&p->opt, &oc, c->dtype, p->nparams))) goto fail;
  // the float64 buffers, one allocation
  size_t nd = (size_t)N * (no + 2 * k + 6) + (size_t)c->nenvs + (size_t)R * (no + 4 * k + 6) +
              3 * (size_t)k + (size_t)c->nenvs * no + 3 * (size_t)no + 2 * (size_t)no + 8;
  double* d = sp_calloc(nd, sizeof(double));
  p->perm = sp_calloc((size_t)N, sizeof(int));
  if (!d || !p->perm) {
    sp_free(d);
    goto nomem;
  }
  p->obs = d, d += (size_t)N * no;
  p->act = d, d += (size_t)N * k;
  p->mu = d, d += (size_t)N * k;
  p->logp = d, d += N;
  p->value = d, d += N + c->nenvs;
  p->reward = d, d += N;
  p->done = d, d += N;
  p->adv = d, d += N;
  p->ret = d, d += N;
  p->mobs = d, d += (size_t)R * no;
  p->mact = d, d += (size_t)R * k;
  p->mmu = d, d += (size_t)R * k;
  p->ymu = d, d += (size_t)R * k;
  p->gmu = d, d += (size_t)R * k;
  p->mlogp = d, d += R;
  p->mval = d, d += R;
  p->madv = d, d += R;
  p->mret = d, d += R;
  p->yv = d, d += R;
  p->gv = d, d += R;
  p->glogstd = d, d += k;
  p->logstd = d, d += k;
  p->logstd_c = d, d += k;
  p->nobs_buf = d, d += (size_t)c->nenvs * no;
  p->red = d, d += 2 * (size_t)no + 8;
  p->onorm_storage = d;
  sp_normalizer_init(&p->onorm, no, p->onorm_storage, 1e-4);
  read_logstd(p);
  *out = p;
  return 0;
nomem:
  rc = SP_ENOMEM;
fail:
  sp_ppo_free(p);
  return rc;
}

void sp_ppo_free(sp_ppo* p) {
  if (!p) return;
  sp_mlp_free(p->actor);
  sp_mlp_free(p->critic);
  sp_optim_free(p->opt);
  sp_free(p->params);
  sp_free(p->grads);
  sp_free(p->obs);
  sp_free(p->perm);
  sp_free(p);
}

void sp_ppo_set_reduce(sp_ppo* p, sp_ppo_reduce_fn fn, void* ctx) {
  p->reduce = fn;
  p->reduce_ctx = fn ? ctx : NULL;
}

int sp_ppo_share_params(sp_ppo* p, int root) {
  if (!p->reduce) return SP_ESTATE;
  if (!root) memset(p->params, 0, p->nparams * sp_dtype_size(p->cfg.dtype));
  int rc = p->reduce(p->reduce_ctx, p->cfg.dtype, p->params, p->nparams);
  read_logstd(p);
  return rc;
}

void sp_ppo_set_noise(sp_ppo* p, uint64_t seed, uint64_t stream) {
  sp_rng_seed(&p->rng, seed, 1 + stream);
}

// sum x (n float64) over the participants; nothing without a hook
static int reduce_d(sp_ppo* p, double* x, size_t n) {
  return p->reduce ? p->reduce(p->reduce_ctx, SP_F64, x, n) : 0;
}

// merge the observations of every participant's step into the normaliser: the union's count and
// mean, then its squared deviations from that mean, merged pairwise as sp_normalizer_update does
static int merge_obs(sp_ppo* p, const double* obs, int n) {
  int no = p->cfg.nobs;
  if (!p->reduce) {
    sp_normalizer_update(&p->onorm, obs, n, no);
    return 0;
  }
  double* r = p->red;
  r[0] = n;
  for (int j = 0; j < no; j++) {
    double s = 0;
    for (int i = 0; i < n; i++) s += obs[(size_t)i * no + j];
    r[1 + j] = s;
  }
  int rc = reduce_d(p, r, (size_t)no + 1);
  if (rc) return rc;
  double nb = r[0];
  for (int j = 0; j < no; j++) {
    double mb = r[1 + j] / nb, s = 0;
    for (int i = 0; i < n; i++) {
      double d = obs[(size_t)i * no + j] - mb;
      s += d * d;
    }
    r[1 + no + j] = s;
  }
  if ((rc = reduce_d(p, r + 1 + no, (size_t)no))) return rc;
  sp_normalizer* z = &p->onorm;
  double na = z->count, tot = na + nb;
  for (int j = 0; j < no; j++) {
    double mb = r[1 + j] / nb, delta = mb - z->mean[j];
    z->mean[j] += delta * nb / tot;
    z->m2[j] += r[1 + no + j] + delta * delta * na * nb / tot;
  }
  z->count = tot;
  sp_normalizer_refresh(z);
  return 0;
}

void sp_ppo_normalize(const sp_ppo* p, double* out, const double* obs, int n) {
  int no = p->cfg.nobs;
  double lim = p->cfg.obs_clip;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < no; j++) {
      size_t q = (size_t)i * no + j;
      if (!p->cfg.normalize_obs) {
        out[q] = obs[q];
        continue;
      }
      double z = (obs[q] - p->onorm.mean[j]) / p->onorm.scale[j];
      if (lim > 0) z = z < -lim ? -lim : z > lim ? lim : z;
      out[q] = z;
    }
}

// mean and value of n normalised rows x into mu (n x k) and v (n, may be NULL)
static int forward(sp_ppo* p, double* mu, double* v, const double* x, int n) {
  int rc = sp_mlp_forward(p->actor, NULL, mu, x, n);
  if (!rc && v) rc = sp_mlp_forward(p->critic, NULL, v, x, n);
  return rc;
}

int sp_ppo_act(sp_ppo* p, double* a, double* value, const double* obs, int n, int stochastic) {
  if (n < 1 || n > p->cfg.nenvs) return SP_ERANGE;
  sp_ppo_normalize(p, p->nobs_buf, obs, n);
  int rc = forward(p, a, value, p->nobs_buf, n);
  if (rc || !stochastic) return rc;
  read_logstd(p);
  int k = p->cfg.nact;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < k; j++) a[(size_t)i * k + j] += exp(p->logstd[j]) * sp_rng_normal(&p->rng);
  return 0;
}

static int collect(sp_ppo* p, double* a, const double* given, const double* obs) {
  const sp_ppo_config* c = &p->cfg;
  if (p->t >= c->nsteps || p->pending) return SP_ESTATE;
  int n = c->nenvs, k = c->nact;
  int rc;
  if (c->normalize_obs && (rc = merge_obs(p, obs, n))) return rc;
  size_t row = (size_t)p->t * n;
  double* x = p->obs + row * c->nobs;
  sp_ppo_normalize(p, x, obs, n);
  double* mu = p->mu + row * k;
  rc = forward(p, mu, p->value + row, x, n);
  if (rc) return rc;
  read_logstd(p);
  if (p->t == 0) memcpy(p->logstd_c, p->logstd, sizeof(double) * k);
  double* act = p->act + row * k;
  if (given)
    memcpy(act, given, sizeof(double) * n * k);
  else
    for (int i = 0; i < n; i++)
      for (int j = 0; j < k; j++) {
        size_t q = (size_t)i * k + j;
        act[q] = mu[q] + exp(p->logstd[j]) * sp_rng_normal(&p->rng);
      }
  sp_gaussian_logp(p->logp + row, act, mu, p->logstd, n, k);
  if (a) memcpy(a, act, sizeof(double) * n * k);
  p->pending = 1;
  return 0;
}

int sp_ppo_collect(sp_ppo* p, double* a, const double* obs) {
  return collect(p, a, NULL, obs);
}

int sp_ppo_collect_given(sp_ppo* p, const double* a, const double* obs) {
  return collect(p, NULL, a, obs);
}

int sp_ppo_record(sp_ppo* p, const double* reward, const double* done, const double* timeout) {
  if (!p->pending) return SP_ESTATE;
  int n = p->cfg.nenvs;
  size_t row = (size_t)p->t * n;
  for (int i = 0; i < n; i++) {
    double r = reward[i];
    if (timeout && timeout[i] != 0) r += p->cfg.gamma * p->value[row + i];
    p->reward[row + i] = r;
    p->done[row + i] = done[i] != 0 ? 1.0 : 0.0;
  }
  p->pending = 0;
  p->t++;
  return 0;
}

int sp_ppo_prepare(sp_ppo* p, const double* last_obs) {
  const sp_ppo_config* c = &p->cfg;
  if (p->t != c->nsteps || p->pending) return SP_ESTATE;
  int n = c->nenvs, N = c->nenvs * c->nsteps;
  sp_ppo_normalize(p, p->nobs_buf, last_obs, n);
  int rc = sp_mlp_forward(p->critic, NULL, p->value + N, p->nobs_buf, n);
  if (rc) return rc;
  sp_gae(p->adv, p->ret, p->reward, p->done, p->value, c->nsteps, n, c->gamma, c->lambda);
  // the union's count and sums (one process: its own), then the advantages' spread about the mean
  double* r = p->red;
  r[0] = N, r[1] = r[2] = r[3] = r[4] = 0;
  for (int i = 0; i < N; i++) r[1] += p->adv[i], r[2] += p->reward[i], r[3] += p->value[i];
  for (int i = 0; i < N; i++) r[4] += p->ret[i];
  if ((rc = reduce_d(p, r, 5))) return rc;
  double tot = r[0];
  p->stats.mean_reward = r[2] / tot;
  p->stats.mean_value = r[3] / tot;
  p->stats.mean_return = r[4] / tot;
  if (c->normalize_adv && tot > 1) {
    double m = r[1] / tot, s = 0;
    for (int i = 0; i < N; i++) s += (p->adv[i] - m) * (p->adv[i] - m);
    r[5] = s;
    if ((rc = reduce_d(p, r + 5, 1))) return rc;
    s = sqrt(r[5] / (tot - 1));
    for (int i = 0; i < N; i++) p->adv[i] = (p->adv[i] - m) / (s + 1e-8);
  }
  return 0;
}

int sp_ppo_minibatch_loss(sp_ppo* p, double* loss, const int* idx, int B, int backward) {
  const sp_ppo_config* c = &p->cfg;
  int k = c->nact, no = c->nobs;
  int R = p->mb > c->nenvs ? p->mb : c->nenvs;
  if (B < 1 || B > R) return SP_ERANGE;
  // gather the rows
  for (int b = 0; b < B; b++) {
    size_t i = (size_t)idx[b];
    memcpy(p->mobs + (size_t)b * no, p->obs + i * no, sizeof(double) * no);
    memcpy(p->mact + (size_t)b * k, p->act + i * k, sizeof(double) * k);
    memcpy(p->mmu + (size_t)b * k, p->mu + i * k, sizeof(double) * k);
    p->mlogp[b] = p->logp[i];
    p->mval[b] = p->value[i];
    p->madv[b] = p->adv[i];
    p->mret[b] = p->ret[i];
  }
  int rc = forward(p, p->ymu, p->yv, p->mobs, B);
  if (rc) return rc;
  read_logstd(p);
  double L = sp_ppo_loss(&p->mbstats, p->gmu, p->gv, p->glogstd, p->ymu, p->yv, p->logstd, p->mact,
                         p->mmu, p->logstd_c, p->mlogp, p->madv, p->mret, p->mval, B, k, c->clip,
                         c->clip_value, c->value_coef, c->entropy_coef);
  if (loss) *loss = L;
  if (!backward) return 0;
  if ((rc = sp_mlp_backward(p->actor, NULL, NULL, p->gmu)) ||
      (rc = sp_mlp_backward(p->critic, NULL, NULL, p->gv)))
    return rc;
  for (int j = 0; j < k; j++) {
    if (c->dtype == SP_F32)
      ((float*)p->grads)[p->off_logstd + j] += (float)p->glogstd[j];
    else
      ((double*)p->grads)[p->off_logstd + j] += p->glogstd[j];
  }
  return 0;
}

static double clampd(double x, double lo, double hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

// the KL rule: lr / 1.5 above twice the target, * 1.5 below half of it
static void adapt_lr(sp_ppo* p, double kl) {
  const sp_ppo_config* c = &p->cfg;
  double lr = p->opt->cfg.lr;
  if (kl > 2 * c->desired_kl)
    lr /= 1.5;
  else if (kl < 0.5 * c->desired_kl && kl > 0)
    lr *= 1.5;
  p->opt->cfg.lr = clampd(lr, c->lr_min, c->lr_max);
}

// mean KL(pi_old || pi) over the whole rollout, the actor run on the stored observations in
// chunks of the minibatch scratch (summed over the participants with a reduction hook)
static int batch_kl(sp_ppo* p, double* out) {
  const sp_ppo_config* c = &p->cfg;
  int N = c->nenvs * c->nsteps, k = c->nact, no = c->nobs;
  int R = p->mb > c->nenvs ? p->mb : c->nenvs;
  read_logstd(p);
  double sum = 0;
  for (int i0 = 0; i0 < N; i0 += R) {
    int B = N - i0 < R ? N - i0 : R;
    memcpy(p->mobs, p->obs + (size_t)i0 * no, sizeof(double) * (size_t)B * no);
    int rc = sp_mlp_forward(p->actor, NULL, p->ymu, p->mobs, B);
    if (rc) return rc;
    sum += sp_gaussian_kl(p->mu + (size_t)i0 * k, p->ymu, p->logstd_c, p->logstd, B, k);
  }
  double* r = p->red;
  r[0] = N, r[1] = sum;
  int rc = reduce_d(p, r, 2);
  if (rc) return rc;
  *out = r[1] / r[0];
  return 0;
}

// the union's minibatch: its gradient (the mean over all participants' rows) and loss parts
static int reduce_minibatch(sp_ppo* p) {
  double B = p->mb;
  size_t n = p->nparams;
  if (p->cfg.dtype == SP_F32)
    for (size_t i = 0; i < n; i++) ((float*)p->grads)[i] *= (float)B;
  else
    for (size_t i = 0; i < n; i++) ((double*)p->grads)[i] *= B;
  int rc = p->reduce(p->reduce_ctx, p->cfg.dtype, p->grads, n);
  if (rc) return rc;
  sp_ppo_stats* m = &p->mbstats;
  double* r = p->red;
  r[0] = B, r[1] = B * m->kl, r[2] = B * m->surrogate, r[3] = B * m->value_loss;
  r[4] = B * m->entropy, r[5] = B * m->clip_fraction;
  if ((rc = reduce_d(p, r, 6))) return rc;
  double tot = r[0];
  if (p->cfg.dtype == SP_F32)
    for (size_t i = 0; i < n; i++) ((float*)p->grads)[i] /= (float)tot;
  else
    for (size_t i = 0; i < n; i++) ((double*)p->grads)[i] /= tot;
  m->kl = r[1] / tot, m->surrogate = r[2] / tot, m->value_loss = r[3] / tot;
  m->entropy = r[4] / tot, m->clip_fraction = r[5] / tot;
  return 0;
}

int sp_ppo_update(sp_ppo* p, const double* last_obs) {
  const sp_ppo_config* c = &p->cfg;
  int rc = sp_ppo_prepare(p, last_obs);
  if (rc) return rc;
  int N = c->nenvs * c->nsteps;
  if (c->desired_kl == 0 && c->lr_iterations > 0) {
    double f = (double)p->iteration / c->lr_iterations;
    p->opt->cfg.lr = c->lr + (c->lr_min - c->lr) * (f > 1 ? 1 : f);
  }
  sp_ppo_stats acc = {0};
  int steps = 0;
  for (int e = 0; e < c->epochs; e++) {
    // a fresh shuffle of the rows (Fisher-Yates)
    for (int i = 0; i < N; i++) p->perm[i] = i;
    for (int i = N - 1; i > 0; i--) {
      int j = (int)sp_rng_below(&p->rng, (uint64_t)i + 1);
      int t = p->perm[i];
      p->perm[i] = p->perm[j];
      p->perm[j] = t;
    }
    for (int b = 0; b < c->minibatches; b++) {
      size_t es = sp_dtype_size(c->dtype);
      memset(p->grads, 0, p->nparams * es);
      if ((rc = sp_ppo_minibatch_loss(p, NULL, p->perm + (size_t)b * p->mb, p->mb, 1))) return rc;
      if (p->reduce && (rc = reduce_minibatch(p))) return rc;
      // adaptive learning rate on the KL to the collecting policy
      if (c->desired_kl > 0 && !c->kl_per_update) adapt_lr(p, p->mbstats.kl);
      int src = sp_optim_step(p->opt, p->params, p->grads);
      if (src) acc.refused++;
      acc.surrogate += p->mbstats.surrogate;
      acc.value_loss += p->mbstats.value_loss;
      acc.entropy += p->mbstats.entropy;
      acc.kl += p->mbstats.kl;
      acc.clip_fraction += p->mbstats.clip_fraction;
      acc.grad_norm += p->opt->last_norm;
      steps++;
    }
  }
  p->stats.surrogate = acc.surrogate / steps;
  p->stats.value_loss = acc.value_loss / steps;
  p->stats.entropy = acc.entropy / steps;
  p->stats.kl = acc.kl / steps;
  p->stats.clip_fraction = acc.clip_fraction / steps;
  p->stats.grad_norm = acc.grad_norm / steps;
  p->stats.lr = p->opt->cfg.lr;  // the rate of the last step
  p->stats.kl_final = 0;
  if (c->desired_kl > 0 && c->kl_per_update) {
    if ((rc = batch_kl(p, &p->stats.kl_final))) return rc;
    adapt_lr(p, p->stats.kl_final);  // the next update's rate
  }
  p->stats.steps = steps;
  p->stats.refused = acc.refused;
  read_logstd(p);
  p->t = 0;
  p->iteration++;
  return 0;
}
