// vae.c: the VAE motion policy, its action and its training loss through the world model with the
// backward pass (see vae.h for the equations).
#include "vae.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/quat.h"
#include "engine/nn/init.h"
#include "engine/wm/internal.h"

static const double ez[3] = {0, 0, 1};

sp_vae_config sp_vae_default_config(int nj, int nu, int nc) {
  sp_vae_config c = {.nj = nj,
                     .nu = nu,
                     .nc = nc,
                     .lat = 32,
                     .hidden = 256,
                     .layers = 2,
                     .act = SP_ACT_ELU,
                     .dtype = SP_F32,
                     .sigma = 0.3,
                     .track = {0.2, 0.1, 0.5, 0.5, 1, 0.1},
                     .height = 1.2,
                     .up = 3,
                     .act_l1 = 0.01,
                     .act_l2 = 0.001,
                     .beta = 0.01,
                     .gamma = 0.95};
  return c;
}

int sp_vae_check(const sp_vae_config* c, char* msg, size_t ms) {
  if (c->nj < 0 || c->nj > 1000)
    return sp_errorf(msg, ms, SP_EINVAL, "nj must be in [0, 1000], got %d", c->nj);
  if (c->nu < 1 || c->nu > SP_VAE_MAXACT)
    return sp_errorf(msg, ms, SP_EINVAL, "nu must be in [1, %d], got %d", SP_VAE_MAXACT, c->nu);
  if (c->nc < 1 || c->nc > (1 << 16))
    return sp_errorf(msg, ms, SP_EINVAL, "nc must be in [1, 65536], got %d", c->nc);
  if (c->lat < 1 || c->lat > 4096)
    return sp_errorf(msg, ms, SP_EINVAL, "lat must be in [1, 4096], got %d", c->lat);
  if (c->hidden < 1 || c->hidden > (1 << 16) || c->layers < 1 || c->layers >= SP_MLP_MAXLAYERS)
    return sp_errorf(msg, ms, SP_EINVAL, "hidden must be >= 1 and layers in [1, %d]",
                     SP_MLP_MAXLAYERS - 1);
  if ((unsigned)c->act >= SP_ACT_COUNT || (c->dtype != SP_F32 && c->dtype != SP_F64))
    return sp_errorf(msg, ms, SP_EINVAL, "unknown activation or dtype");
  if (!(c->sigma > 0) || !isfinite(c->sigma))
    return sp_errorf(msg, ms, SP_EINVAL, "sigma must be > 0, got %g", c->sigma);
  if (!(c->gamma > 0 && c->gamma <= 1))
    return sp_errorf(msg, ms, SP_EINVAL, "gamma must be in (0, 1], got %g", c->gamma);
  const double w[] = {c->height, c->up, c->act_l1, c->act_l2, c->beta};
  for (int i = 0; i < 5; i++)
    if (!(w[i] >= 0) || !isfinite(w[i]))
      return sp_errorf(msg, ms, SP_EINVAL, "loss weights must be >= 0");
  for (int i = 0; i < SP_WM_NCOMP; i++)
    if (!(c->track[i] >= 0) || !isfinite(c->track[i]))
      return sp_errorf(msg, ms, SP_EINVAL, "tracking weight of %s must be >= 0",
                       sp_wm_component_name(i));
  return 0;
}

static int make_net(sp_mlp** out, const sp_vae_config* c, int nin, int nout) {
  int sizes[SP_MLP_MAXLAYERS + 1];
  sp_act acts[SP_MLP_MAXLAYERS];
  sizes[0] = nin;
  for (int l = 0; l < c->layers; l++) sizes[l + 1] = c->hidden, acts[l] = c->act;
  sizes[c->layers + 1] = nout;
  acts[c->layers] = SP_ACT_IDENTITY;
  return sp_mlp_new(out, c->layers + 1, sizes, acts, c->dtype, 1);
}

int sp_vae_new(sp_vae** out, const sp_vae_config* cfg, uint64_t seed) {
  *out = NULL;
  if (sp_vae_check(cfg, NULL, 0)) return SP_EINVAL;
  sp_vae* v = sp_calloc(1, sizeof *v);
  if (!v) return SP_ENOMEM;
  v->cfg = *cfg;
  v->nf = 10 + 2 * cfg->nj;
  int rc = make_net(&v->prior, cfg, v->nf, cfg->lat);
  if (!rc) rc = make_net(&v->enc, cfg, v->nf + cfg->nc, cfg->lat);
  if (!rc) rc = make_net(&v->dec, cfg, v->nf + cfg->lat, cfg->nu);
  if (!rc) rc = sp_mlp_init(v->prior, SP_INIT_XAVIER, seed);
  if (!rc) rc = sp_mlp_init(v->enc, SP_INIT_XAVIER, seed + 1);
  if (!rc) rc = sp_mlp_init(v->dec, SP_INIT_XAVIER, seed + 2);
  if (!rc) rc = sp_mlp_zero_layer(v->enc, -1);
  if (!rc) rc = sp_mlp_zero_layer(v->dec, -1);
  if (!rc) {
    // one flat vector for the three networks
    size_t es = sp_dtype_size(cfg->dtype);
    v->nparams = v->prior->nparams + v->enc->nparams + v->dec->nparams;
    v->params = sp_calloc(v->nparams, es);
    v->grads = sp_calloc(v->nparams, es);
    if (!v->params || !v->grads) {
      rc = SP_ENOMEM;
    } else {
      size_t o1 = v->prior->nparams, o2 = o1 + v->enc->nparams;
      sp_mlp_use_storage(v->prior, v->params, v->grads);
      sp_mlp_use_storage(v->enc, (char*)v->params + o1 * es, (char*)v->grads + o1 * es);
      sp_mlp_use_storage(v->dec, (char*)v->params + o2 * es, (char*)v->grads + o2 * es);
    }
  }
  if (rc) {
    sp_vae_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

void sp_vae_free(sp_vae* v) {
  if (!v) return;
  sp_mlp_free(v->prior);
  sp_mlp_free(v->enc);
  sp_mlp_free(v->dec);
  sp_free(v->params);
  sp_free(v->grads);
  sp_free(v);
}

void sp_vae_zero_grad(sp_vae* v) {
  memset(v->grads, 0, v->nparams * sp_dtype_size(v->cfg.dtype));
}

void sp_vae_data_free(sp_vae_data* d) {
  if (!d) return;
  sp__mlp_works_free(d->wp, d->horizon);
  sp__mlp_works_free(d->we, d->horizon);
  sp__mlp_works_free(d->wd, d->horizon);
  sp_free(d->S);
  sp_free(d->A);
  sp_free(d->Eo);
  sp_free(d->x);
  sp_free(d->y);
  sp_free(d->mp);
  sp_free(d->gz);
  sp_free(d->gf);
  sp_free(d->ga);
  sp_free(d->G);
  sp_free(d->c);
  sp_free(d);
}

int sp_vae_data_new(sp_vae_data** out, const sp_vae* v, int max_batch, int horizon) {
  *out = NULL;
  if (max_batch < 1 || horizon < 1 || horizon > (1 << 16)) return SP_EINVAL;
  sp_vae_data* d = sp_calloc(1, sizeof *d);
  if (!d) return SP_ENOMEM;
  const sp_vae_config* c = &v->cfg;
  size_t B = (size_t)max_batch, H = (size_t)horizon, nx = 13 + 2 * (size_t)c->nj;
  size_t wide = (size_t)(c->nc > c->lat ? c->nc : c->lat);
  size_t outw = (size_t)(c->lat > c->nu ? c->lat : c->nu);
  d->vae = v;
  d->max_batch = max_batch;
  d->horizon = horizon;
  d->wp = sp_calloc(H, sizeof *d->wp);
  d->we = sp_calloc(H, sizeof *d->we);
  d->wd = sp_calloc(H, sizeof *d->wd);
  d->S = sp_calloc((H + 1) * B * nx, sizeof(double));
  d->A = sp_calloc(H * B * c->nu, sizeof(double));
  d->Eo = sp_calloc(H * B * c->lat, sizeof(double));
  d->x = sp_calloc(B * (v->nf + wide), sizeof(double));
  d->y = sp_calloc(B * outw, sizeof(double));
  d->mp = sp_calloc(B * c->lat, sizeof(double));
  d->gz = sp_calloc(B * c->lat, sizeof(double));
  d->gf = sp_calloc(B * v->nf, sizeof(double));
  d->ga = sp_calloc(B * c->nu, sizeof(double));
  d->G = sp_calloc(2 * B * nx, sizeof(double));
  d->c = sp_calloc(B * c->nc, sizeof(double));
  int rc = d->wp && d->we && d->wd && d->S && d->A && d->Eo && d->x && d->y && d->mp && d->gz &&
                   d->gf && d->ga && d->G && d->c
               ? 0
               : SP_ENOMEM;
  for (int k = 0; !rc && k < horizon; k++) {
    rc = sp_mlp_work_new(&d->wp[k], v->prior, max_batch);
    if (!rc) rc = sp_mlp_work_new(&d->we[k], v->enc, max_batch);
    if (!rc) rc = sp_mlp_work_new(&d->wd[k], v->dec, max_batch);
  }
  if (rc) {
    sp_vae_data_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

// ---- rows
// -----------------------------------------------------------------------------------------

static void features(int nj, double* f, const double* s) {
  f[0] = s[2];
  sp_quat_rotate_inv(f + 1, s + 3, ez);
  memcpy(f + 4, s + 7, (6 + 2 * (size_t)nj) * sizeof(double));
}

// ADD the features' VJP: g (nx) += (df/ds)^T gf
static void features_vjp(int nj, double* g, const double* gf, const double* s) {
  double J[12];
  g[2] += gf[0];
  sp_quat_rotate_inv_jac(J, s + 3, ez);
  for (int j = 0; j < 4; j++) g[3 + j] += J[j] * gf[1] + J[4 + j] * gf[2] + J[8 + j] * gf[3];
  for (int i = 4; i < 10 + 2 * nj; i++) g[3 + i] += gf[i];
}

static double sgn(double x) {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}

// the policy at step slot k for batch rows of s: fills d->mp (prior mean), Eo_k (encoder output;
// skipped when c is NULL) and a (batch x nu), with z = mp + Eo + sigma eps (eps NULL: 0)
static int forward(sp_vae* v, sp_vae_data* d, int k, double* a, double* Eo, const double* s,
                   const double* c, const double* eps, int batch) {
  const sp_vae_config* cf = &v->cfg;
  int nf = v->nf, lat = cf->lat, nu = cf->nu, nc = cf->nc, nx = 13 + 2 * cf->nj, rc;
  // prior
  for (int r = 0; r < batch; r++) features(cf->nj, d->x + (size_t)r * nf, s + (size_t)r * nx);
  if ((rc = sp_mlp_forward(v->prior, d->wp[k], d->mp, d->x, batch))) return rc;
  // encoder
  if (c) {
    for (int r = 0; r < batch; r++) {
      double* x = d->x + (size_t)r * (nf + nc);
      features(cf->nj, x, s + (size_t)r * nx);
      memcpy(x + nf, c + (size_t)r * nc, (size_t)nc * sizeof(double));
    }
    if ((rc = sp_mlp_forward(v->enc, d->we[k], Eo, d->x, batch))) return rc;
  }
  // latent and decoder
  for (int r = 0; r < batch; r++) {
    double* x = d->x + (size_t)r * (nf + lat);
    features(cf->nj, x, s + (size_t)r * nx);
    for (int j = 0; j < lat; j++) {
      size_t i = (size_t)r * lat + j;
      x[nf + j] = d->mp[i] + (c ? Eo[i] : 0) + (eps ? cf->sigma * eps[i] : 0);
    }
  }
  if ((rc = sp_mlp_forward(v->dec, d->wd[k], a, d->x, batch))) return rc;
  for (int r = 0; r < batch; r++)
    for (int i = 0; i < nu; i++) a[(size_t)r * nu + i] += cf->a_nom[i];
  return 0;
}

int sp_vae_act(sp_vae* v, sp_vae_data* d, double* a, const double* s, const double* c,
               const double* eps, int batch) {
  if (d->vae != v) return SP_EINVAL;
  if (batch < 1 || batch > d->max_batch) return SP_ERANGE;
  return forward(v, d, 0, a, d->Eo, s, c, eps, batch);
}

int sp_vae_latent(sp_vae* v, sp_vae_data* d, double* mu_q, double* mu_p, const double* s,
                  const double* c, int batch) {
  if (d->vae != v) return SP_EINVAL;
  if (batch < 1 || batch > d->max_batch) return SP_ERANGE;
  const sp_vae_config* cf = &v->cfg;
  int nf = v->nf, nc = cf->nc, nx = 13 + 2 * cf->nj, rc;
  for (int r = 0; r < batch; r++) features(cf->nj, d->x + (size_t)r * nf, s + (size_t)r * nx);
  if ((rc = sp_mlp_forward(v->prior, d->wp[0], mu_p, d->x, batch))) return rc;
  if (!mu_q) return 0;
  size_t n = (size_t)batch * cf->lat;
  if (!c) {
    memcpy(mu_q, mu_p, n * sizeof(double));
    return 0;
  }
  for (int r = 0; r < batch; r++) {
    double* x = d->x + (size_t)r * (nf + nc);
    features(cf->nj, x, s + (size_t)r * nx);
    memcpy(x + nf, c + (size_t)r * nc, (size_t)nc * sizeof(double));
  }
  if ((rc = sp_mlp_forward(v->enc, d->we[0], mu_q, d->x, batch))) return rc;
  for (size_t i = 0; i < n; i++) mu_q[i] += mu_p[i];
  return 0;
}

int sp_vae_loss(sp_vae* v, sp_vae_data* d, sp_wm* wm, sp_wm_data* wd, double* loss, double* parts,
                const double* S0, const double* C, const double* R, const double* eps, int batch,
                int H, int backward) {
  const sp_vae_config* cf = &v->cfg;
  if (d->vae != v || wd->wm != wm || wm->cfg.nj != cf->nj || wm->cfg.nu != cf->nu ||
      wm->cfg.history)
    return SP_EINVAL;
  if (H < 1 || H > d->horizon || H > wd->horizon || batch < 1 || batch > d->max_batch ||
      batch > wd->max_batch)
    return SP_ERANGE;
  int nx = wm->nx, nu = cf->nu, lat = cf->lat, nc = cf->nc, nf = v->nf, nj = cf->nj;
  size_t B = (size_t)batch;
  const double dims[SP_WM_NCOMP] = {3, 1, 3, 3, nj, nj};
  double sum[SP_VAE_NPARTS] = {0};
  double* eps_k = d->gz;  // this step's noise, gathered (gz is free during the forward pass)

  // forward: the policy and the world model, H steps
  memcpy(d->S, S0, B * nx * sizeof(double));
  for (int k = 0; k < H; k++) {
    double gk = pow(cf->gamma, k);
    double* s = d->S + (size_t)k * B * nx;
    double* s1 = s + B * nx;
    double* a = d->A + (size_t)k * B * nu;
    double* Eo = d->Eo + (size_t)k * B * lat;
    // this step's noise and conditioning as contiguous rows
    for (size_t r = 0; r < B; r++) {
      if (eps) memcpy(eps_k + r * lat, eps + (r * H + k) * lat, (size_t)lat * sizeof(double));
      memcpy(d->c + r * nc, C + (r * H + k) * nc, (size_t)nc * sizeof(double));
    }
    int rc;
    if ((rc = forward(v, d, k, a, Eo, s, d->c, eps ? eps_k : NULL, batch))) return rc;
    if ((rc = sp_wm_step(wm, wd, k, s1, s, a, batch))) return rc;
    // the step's loss terms
    double c[SP_WM_NCOMP], e[SP_WM_NCOMP] = {0};
    for (int i = 0; i < SP_WM_NCOMP; i++) c[i] = 0;
    for (size_t r = 0; r < B; r++) {
      const double* sr = s1 + r * nx;
      const double* rr = R + (r * H + k) * nx;
      sp__wm_row_errors(wm, e, NULL, c, sr, rr);
      double up[3], upr[3];
      sp_quat_rotate_inv(up, sr + 3, ez);
      sp_quat_rotate_inv(upr, rr + 3, ez);
      sum[SP_VAE_TRACKING] += gk * cf->height * fabs(sr[2] - rr[2]) / batch;
      for (int i = 0; i < 3; i++)
        sum[SP_VAE_TRACKING] += gk * cf->up * fabs(up[i] - upr[i]) / (3.0 * batch);
      for (int i = 0; i < nu; i++) {
        double da = a[r * nu + i] - cf->a_nom[i];
        sum[SP_VAE_ACTION] +=
            gk * (cf->act_l1 * fabs(da) + cf->act_l2 * da * da) / ((double)nu * batch);
      }
      for (int j = 0; j < lat; j++) {
        double q = Eo[r * lat + j];
        sum[SP_VAE_KL] += gk * cf->beta * q * q / (2 * cf->sigma * cf->sigma * batch);
      }
    }
    for (int i = 0; i < SP_WM_NCOMP; i++)
      if (dims[i] > 0) sum[SP_VAE_TRACKING] += gk * cf->track[i] * e[i] / (dims[i] * batch);
  }
  if (loss) *loss = sum[0] + sum[1] + sum[2];
  if (parts) memcpy(parts, sum, sizeof sum);
  if (!backward) return 0;

  // backward through time: g = dloss/ds_k+1, into the policy's networks
  double* g = d->G;
  double* gprev = d->G + B * nx;
  memset(g, 0, B * nx * sizeof(double));
  for (int k = H - 1; k >= 0; k--) {
    double gk = pow(cf->gamma, k);
    double* s = d->S + (size_t)k * B * nx;
    double* s1 = s + B * nx;
    const double* a = d->A + (size_t)k * B * nu;
    const double* Eo = d->Eo + (size_t)k * B * lat;
    // the tracking terms at s_k+1
    double c[SP_WM_NCOMP], e[SP_WM_NCOMP] = {0};
    for (int i = 0; i < SP_WM_NCOMP; i++)
      c[i] = dims[i] > 0 ? gk * cf->track[i] / (dims[i] * batch) : 0;
    for (size_t r = 0; r < B; r++) {
      double* gr = g + r * nx;
      const double* sr = s1 + r * nx;
      const double* rr = R + (r * H + k) * nx;
      sp__wm_row_errors(wm, e, gr, c, sr, rr);
      gr[2] += gk * cf->height * sgn(sr[2] - rr[2]) / batch;
      double up[3], upr[3], gu[3], J[12];
      sp_quat_rotate_inv(up, sr + 3, ez);
      sp_quat_rotate_inv(upr, rr + 3, ez);
      for (int i = 0; i < 3; i++) gu[i] = gk * cf->up * sgn(up[i] - upr[i]) / (3.0 * batch);
      sp_quat_rotate_inv_jac(J, sr + 3, ez);
      for (int j = 0; j < 4; j++) gr[3 + j] += J[j] * gu[0] + J[4 + j] * gu[1] + J[8 + j] * gu[2];
    }
    // through the world model into s_k and a_k
    int rc = sp_wm_step_vjp(wm, wd, k, gprev, d->ga, g, s, s1, 0);
    if (rc) return rc;
    for (size_t r = 0; r < B; r++)
      for (int i = 0; i < nu; i++) {
        double da = a[r * nu + i] - cf->a_nom[i];
        d->ga[r * nu + i] +=
            gk * (cf->act_l1 * sgn(da) + 2 * cf->act_l2 * da) / ((double)nu * batch);
      }
    // decoder: input [f, z]
    if ((rc = sp_mlp_backward(v->dec, d->wd[k], d->x, d->ga))) return rc;
    for (size_t r = 0; r < B; r++) {
      const double* gx = d->x + r * (nf + lat);
      memcpy(d->gf + r * nf, gx, (size_t)nf * sizeof(double));
      memcpy(d->gz + r * lat, gx + nf, (size_t)lat * sizeof(double));
    }
    // encoder: z's gradient plus the KL term's
    for (size_t r = 0; r < B; r++)
      for (int j = 0; j < lat; j++)
        d->y[r * lat + j] =
            d->gz[r * lat + j] + gk * cf->beta * Eo[r * lat + j] / (cf->sigma * cf->sigma * batch);
    if ((rc = sp_mlp_backward(v->enc, d->we[k], d->x, d->y))) return rc;
    for (size_t r = 0; r < B; r++)
      for (int i = 0; i < nf; i++) d->gf[r * nf + i] += d->x[r * (nf + nc) + i];
    // prior: z's gradient
    if ((rc = sp_mlp_backward(v->prior, d->wp[k], d->x, d->gz))) return rc;
    for (size_t r = 0; r < B; r++)
      for (int i = 0; i < nf; i++) d->gf[r * nf + i] += d->x[r * nf + i];
    // the features of s_k
    for (size_t r = 0; r < B; r++) features_vjp(nj, gprev + r * nx, d->gf + r * nf, s + r * nx);
    double* t = g;
    g = gprev;
    gprev = t;
  }
  return 0;
}
