// wm.c: the world model's description, workspaces, normalisers, one application and its
// vector-Jacobian product (see wm.h for the equations).
#include "wm.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/quat.h"
#include "engine/nn/init.h"
#include "engine/wm/internal.h"

static const char* const comp_names[SP_WM_NCOMP] = {
    "position", "orientation", "velocity", "angular_velocity", "joints", "joint_velocities"};

const char* sp_wm_component_name(int c) {
  return c >= 0 && c < SP_WM_NCOMP ? comp_names[c] : "?";
}

sp_wm_config sp_wm_default_config(int nj, int nu, double dt) {
  sp_wm_config c = {.nj = nj,
                    .nu = nu,
                    .dt = dt,
                    .hidden = 256,
                    .layers = 3,
                    .act = SP_ACT_ELU,
                    .dtype = SP_F32,
                    .min_std = 1e-3,
                    .weight = {1, 4, 1, 4, 1, 1}};
  return c;
}

int sp_wm_check(const sp_wm_config* c, char* msg, size_t ms) {
  if (c->nj < 0 || c->nj > 1000)
    return sp_errorf(msg, ms, SP_EINVAL, "nj must be in [0, 1000], got %d", c->nj);
  if (c->nu < 1 || c->nu > 1024)
    return sp_errorf(msg, ms, SP_EINVAL, "nu must be in [1, 1024], got %d", c->nu);
  if (c->history < 0 || c->history > 1)
    return sp_errorf(msg, ms, SP_EINVAL, "history must be 0 or 1, got %d", c->history);
  if (!(c->dt > 0) || !isfinite(c->dt))
    return sp_errorf(msg, ms, SP_EINVAL, "dt must be > 0, got %g", c->dt);
  if (c->hidden < 1 || c->hidden > (1 << 16))
    return sp_errorf(msg, ms, SP_EINVAL, "hidden must be in [1, 65536], got %d", c->hidden);
  if (c->layers < 1 || c->layers >= SP_MLP_MAXLAYERS)
    return sp_errorf(msg, ms, SP_EINVAL, "layers must be in [1, %d], got %d", SP_MLP_MAXLAYERS - 1,
                     c->layers);
  if ((unsigned)c->act >= SP_ACT_COUNT)
    return sp_errorf(msg, ms, SP_EINVAL, "unknown activation %d", (int)c->act);
  if (c->dtype != SP_F32 && c->dtype != SP_F64)
    return sp_errorf(msg, ms, SP_EINVAL, "unknown dtype %d", (int)c->dtype);
  if (!(c->min_std > 0) || !isfinite(c->min_std))
    return sp_errorf(msg, ms, SP_EINVAL, "min_std must be > 0, got %g", c->min_std);
  for (int i = 0; i < SP_WM_NCOMP; i++)
    if (!(c->weight[i] >= 0) || !isfinite(c->weight[i]))
      return sp_errorf(msg, ms, SP_EINVAL, "weight of %s must be >= 0, got %g", comp_names[i],
                       c->weight[i]);
  return 0;
}

int sp__wm_wrap(sp_wm** out, const sp_wm_config* cfg, sp_mlp* net) {
  *out = NULL;
  int nf = 10 + 2 * cfg->nj, nd = 6 + cfg->nj, na = cfg->nu * (1 + cfg->history), nin = nf + na;
  if (net->nin != nin || net->nout != nd || net->nlayers != cfg->layers + 1 ||
      net->dtype != cfg->dtype)
    return SP_EMISMATCH;
  for (int l = 0; l < cfg->layers; l++)
    if (net->layers[l].nout != cfg->hidden || net->layers[l].act != cfg->act) return SP_EMISMATCH;
  if (net->layers[cfg->layers].act != SP_ACT_IDENTITY) return SP_EMISMATCH;
  sp_wm* wm = sp_calloc(1, sizeof *wm);
  double* st = sp_calloc(3 * (size_t)(nf + na + nd), sizeof(double));
  if (!wm || !st) {
    sp_free(wm);
    sp_free(st);
    return SP_ENOMEM;
  }
  wm->cfg = *cfg;
  wm->nx = 13 + 2 * cfg->nj;
  wm->nf = nf;
  wm->nd = nd;
  wm->nin = nin;
  wm->na = na;
  wm->net = net;
  wm->stats = st;
  sp_normalizer_init(&wm->fnorm, nf, st, cfg->min_std);
  sp_normalizer_init(&wm->anorm, na, st + 3 * nf, cfg->min_std);
  sp_normalizer_init(&wm->dnorm, nd, st + 3 * (nf + na), cfg->min_std);
  *out = wm;
  return 0;
}

int sp_wm_new(sp_wm** out, const sp_wm_config* cfg, uint64_t seed) {
  *out = NULL;
  if (sp_wm_check(cfg, NULL, 0)) return SP_EINVAL;
  int sizes[SP_MLP_MAXLAYERS + 1];
  sp_act acts[SP_MLP_MAXLAYERS];
  int L = cfg->layers + 1;
  sizes[0] = 10 + 2 * cfg->nj + cfg->nu * (1 + cfg->history);
  for (int l = 0; l < cfg->layers; l++) sizes[l + 1] = cfg->hidden, acts[l] = cfg->act;
  sizes[L] = 6 + cfg->nj;
  acts[L - 1] = SP_ACT_IDENTITY;
  sp_mlp* net;
  int rc = sp_mlp_new(&net, L, sizes, acts, cfg->dtype, 1);
  if (!rc) rc = sp_mlp_init(net, SP_INIT_XAVIER, seed);
  if (!rc) rc = sp_mlp_zero_layer(net, -1);
  if (!rc) rc = sp__wm_wrap(out, cfg, net);
  if (rc && net) sp_mlp_free(net);
  return rc;
}

// statistics of a into b (same n)
static void copy_stats(sp_normalizer* b, const sp_normalizer* a) {
  b->count = a->count;
  memcpy(b->mean, a->mean, (size_t)a->n * sizeof(double));
  memcpy(b->m2, a->m2, (size_t)a->n * sizeof(double));
  sp_normalizer_refresh(b);
}

int sp_wm_with_history(sp_wm** out, const sp_wm* wm) {
  *out = NULL;
  if (wm->cfg.history) return SP_EINVAL;
  sp_wm_config c = wm->cfg;
  c.history = 1;
  sp_wm* w;
  int rc = sp_wm_new(&w, &c, 0);
  if (rc) return rc;
  // every parameter as wm's; the first layer's matrix gains nu zero columns
  if ((rc = sp_mlp_copy_widened(w->net, wm->net))) {
    sp_wm_free(w);
    return rc;
  }
  // normalisers: features and deltas as wm's, the action's statistics for both action inputs
  copy_stats(&w->fnorm, &wm->fnorm);
  copy_stats(&w->dnorm, &wm->dnorm);
  int nu = wm->cfg.nu;
  w->anorm.count = wm->anorm.count;
  for (int h = 0; h < 2; h++) {
    memcpy(w->anorm.mean + h * nu, wm->anorm.mean, (size_t)nu * sizeof(double));
    memcpy(w->anorm.m2 + h * nu, wm->anorm.m2, (size_t)nu * sizeof(double));
  }
  sp_normalizer_refresh(&w->anorm);
  *out = w;
  return 0;
}

void sp_wm_free(sp_wm* wm) {
  if (!wm) return;
  sp_mlp_free(wm->net);
  sp_free(wm->stats);
  sp_free(wm);
}

int sp_wm_data_new(sp_wm_data** out, const sp_wm* wm, int max_batch, int horizon) {
  *out = NULL;
  if (max_batch < 1 || horizon < 1 || horizon > (1 << 16)) return SP_EINVAL;
  sp_wm_data* d = sp_calloc(1, sizeof *d);
  if (!d) return SP_ENOMEM;
  d->wm = wm;
  d->max_batch = max_batch;
  d->horizon = horizon;
  size_t B = (size_t)max_batch, nx = (size_t)wm->nx;
  d->ws = sp_calloc((size_t)horizon, sizeof *d->ws);
  d->x = sp_calloc(B * (size_t)wm->nin, sizeof(double));
  d->y = sp_calloc(B * (size_t)wm->nd, sizeof(double));
  d->S = sp_calloc(((size_t)horizon + 1) * B * nx, sizeof(double));
  d->G = sp_calloc(2 * B * nx, sizeof(double));
  d->A = sp_calloc(B * (size_t)wm->na, sizeof(double));
  int rc = d->ws && d->x && d->y && d->S && d->G && d->A ? 0 : SP_ENOMEM;
  for (int k = 0; !rc && k < horizon; k++) rc = sp_mlp_work_new(&d->ws[k], wm->net, max_batch);
  if (rc) {
    sp_wm_data_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void sp__mlp_works_free(sp_mlp_work** w, int n) {
  if (!w) return;
  for (int k = 0; k < n; k++) sp_mlp_work_free(w[k]);
  sp_free(w);
}

void sp_wm_data_free(sp_wm_data* d) {
  if (!d) return;
  sp__mlp_works_free(d->ws, d->horizon);
  sp_free(d->x);
  sp_free(d->y);
  sp_free(d->S);
  sp_free(d->G);
  sp_free(d->A);
  sp_free(d);
}

// ---- one row
// --------------------------------------------------------------------------------------

static const double ez[3] = {0, 0, 1};

// f (nf) = [p_z, R(q)^T e_z, v, w, qj, qd]
static void features(const sp_wm* wm, double* f, const double* s) {
  int nj = wm->cfg.nj;
  f[0] = s[2];
  sp_quat_rotate_inv(f + 1, s + 3, ez);
  memcpy(f + 4, s + 7, (6 + 2 * (size_t)nj) * sizeof(double));
}

// s1 from s and the velocity change delta (nd)
static void integrate(const sp_wm* wm, double* s1, const double* s, const double* delta) {
  int nj = wm->cfg.nj;
  double dt = wm->cfg.dt, h = dt / 2;
  const double *p = s, *q = s + 3, *v = s + 7, *w = s + 10, *qj = s + 13, *qd = s + 13 + nj;
  double *p1 = s1, *q1 = s1 + 3, *v1 = s1 + 7, *w1 = s1 + 10, *qj1 = s1 + 13, *qd1 = s1 + 13 + nj;
  for (int i = 0; i < 3; i++) v1[i] = v[i] + delta[i], w1[i] = w[i] + delta[3 + i];
  for (int j = 0; j < nj; j++) qd1[j] = qd[j] + delta[6 + j];
  double om[3], E[4], A[3], B[3];
  for (int i = 0; i < 3; i++) om[i] = h * (w[i] + w1[i]);
  sp_quat_exp(E, om);
  sp_quat_mul(q1, q, E);
  sp_quat_rotate(A, q, v);
  sp_quat_rotate(B, q1, v1);
  for (int i = 0; i < 3; i++) p1[i] = p[i] + h * (A[i] + B[i]);
  for (int j = 0; j < nj; j++) qj1[j] = qj[j] + h * (qd[j] + qd1[j]);
}

// J^T g for J (m x n) row-major: out (n) += J^T g (m)
static void add_jt(double* out, const double* J, const double* g, int m, int n) {
  for (int j = 0; j < n; j++) {
    double s = 0;
    for (int i = 0; i < m; i++) s += J[i * n + j] * g[i];
    out[j] += s;
  }
}

// backward through integrate: gs (nx) = direct part of dL/ds, gdelta (nd) = dL/ddelta
static void integrate_vjp(const sp_wm* wm, double* gs, double* gdelta, const double* g1,
                          const double* s, const double* s1) {
  int nj = wm->cfg.nj, nx = wm->nx;
  double dt = wm->cfg.dt, h = dt / 2;
  const double *q = s + 3, *v = s + 7, *w = s + 10;
  const double *q1 = s1 + 3, *v1 = s1 + 7, *w1 = s1 + 10;
  const double *gp1 = g1, *gq1 = g1 + 3, *gv1 = g1 + 7, *gw1 = g1 + 10, *gqj1 = g1 + 13,
               *gqd1 = g1 + 13 + nj;
  memset(gs, 0, (size_t)nx * sizeof(double));
  double *gp = gs, *gq = gs + 3, *gv = gs + 7, *gw = gs + 10, *gqj = gs + 13, *gqd = gs + 13 + nj;
  double J[16], gAB[3], gq1t[4], gv1t[3], gw1t[3], gE[4] = {0, 0, 0, 0}, gom[3] = {0, 0, 0};
  // p' = p + h (R(q) v + R(q') v')
  for (int i = 0; i < 3; i++) gp[i] = gp1[i], gAB[i] = h * gp1[i];
  sp_quat_rotate_jac(J, q, v);
  add_jt(gq, J, gAB, 3, 4);
  sp_quat_rotate_inv(gv, q, gAB);
  memcpy(gq1t, gq1, sizeof gq1t);
  sp_quat_rotate_jac(J, q1, v1);
  add_jt(gq1t, J, gAB, 3, 4);
  sp_quat_rotate_inv(gv1t, q1, gAB);
  for (int i = 0; i < 3; i++) gv1t[i] += gv1[i];
  // q' = q (x) Exp(om), om = h (w + w')
  double om[3], E[4], Da[16], Db[16];
  for (int i = 0; i < 3; i++) om[i] = h * (w[i] + w1[i]);
  sp_quat_exp(E, om);
  sp_quat_mul_jac(Da, Db, q, E);
  add_jt(gq, Da, gq1t, 4, 4);
  add_jt(gE, Db, gq1t, 4, 4);
  sp_quat_exp_jac(J, om);
  add_jt(gom, J, gE, 4, 3);
  for (int i = 0; i < 3; i++) gw[i] = h * gom[i], gw1t[i] = gw1[i] + h * gom[i];
  // qj' = qj + h (qd + qd')
  for (int j = 0; j < nj; j++) {
    gqj[j] = gqj1[j];
    gqd[j] = h * gqj1[j];
    gdelta[6 + j] = gqd1[j] + h * gqj1[j];
    gqd[j] += gdelta[6 + j];  // qd' = qd + delta
  }
  // v' = v + delta_v, w' = w + delta_w
  for (int i = 0; i < 3; i++) {
    gv[i] += gv1t[i];
    gdelta[i] = gv1t[i];
    gw[i] += gw1t[i];
    gdelta[3 + i] = gw1t[i];
  }
}

// ---- batched passes
// -------------------------------------------------------------------------------

void sp_wm_observe(sp_wm* wm, const double* s, const double* a, const double* s1, int count) {
  // features and velocity changes of a chunk of rows at a time in stack buffers
  enum { BUF = 2048 };
  double F[BUF], D[BUF];
  int nx = wm->nx, nf = wm->nf, nd = wm->nd, nj = wm->cfg.nj;
  int rows = BUF / nf;  // nf <= 10 + 2 * 1000 < BUF
  sp_normalizer_update(&wm->anorm, a, count, wm->na);
  for (int r0 = 0; r0 < count; r0 += rows) {
    int m = count - r0 < rows ? count - r0 : rows;
    for (int r = 0; r < m; r++) {
      const double* sr = s + (size_t)(r0 + r) * nx;
      const double* s1r = s1 + (size_t)(r0 + r) * nx;
      features(wm, F + (size_t)r * nf, sr);
      for (int i = 0; i < 6; i++) D[(size_t)r * nd + i] = s1r[7 + i] - sr[7 + i];
      for (int j = 0; j < nj; j++) D[(size_t)r * nd + 6 + j] = s1r[13 + nj + j] - sr[13 + nj + j];
    }
    sp_normalizer_update(&wm->fnorm, F, m, nf);
    sp_normalizer_update(&wm->dnorm, D, m, nd);
  }
}

int sp_wm_step(sp_wm* wm, sp_wm_data* d, int k, double* s1, const double* s, const double* a,
               int batch) {
  if (d->wm != wm) return SP_EINVAL;
  if (k < 0 || k >= d->horizon || batch < 1 || batch > d->max_batch) return SP_ERANGE;
  int nx = wm->nx, nf = wm->nf, nu = wm->na, nin = wm->nin, nd = wm->nd;
  // normalised network input
  for (int r = 0; r < batch; r++) {
    double* x = d->x + (size_t)r * nin;
    features(wm, x, s + (size_t)r * nx);
    for (int i = 0; i < nf; i++) x[i] = (x[i] - wm->fnorm.mean[i]) / wm->fnorm.scale[i];
    const double* ar = a + (size_t)r * nu;
    for (int i = 0; i < nu; i++) x[nf + i] = (ar[i] - wm->anorm.mean[i]) / wm->anorm.scale[i];
  }
  int rc = sp_mlp_forward(wm->net, d->ws[k], d->y, d->x, batch);
  if (rc) return rc;
  // velocity changes, then the integration
  for (int r = 0; r < batch; r++) {
    double* y = d->y + (size_t)r * nd;
    for (int i = 0; i < nd; i++) y[i] = wm->dnorm.mean[i] + wm->dnorm.scale[i] * y[i];
    integrate(wm, s1 + (size_t)r * nx, s + (size_t)r * nx, y);
  }
  return 0;
}

int sp_wm_step_vjp(sp_wm* wm, sp_wm_data* d, int k, double* gs, double* ga, const double* g1,
                   const double* s, const double* s1, int params) {
  if (d->wm != wm) return SP_EINVAL;
  if (k < 0 || k >= d->horizon) return SP_ERANGE;
  int batch = d->ws[k]->batch;
  if (batch < 1) return SP_ESTATE;
  int nx = wm->nx, nf = wm->nf, nu = wm->na, nin = wm->nin, nd = wm->nd;
  // through the integration; dL/d(network output) = sigma_d dL/ddelta
  for (int r = 0; r < batch; r++) {
    double* y = d->y + (size_t)r * nd;
    integrate_vjp(wm, gs + (size_t)r * nx, y, g1 + (size_t)r * nx, s + (size_t)r * nx,
                  s1 + (size_t)r * nx);
    for (int i = 0; i < nd; i++) y[i] *= wm->dnorm.scale[i];
  }
  int rc = params ? sp_mlp_backward(wm->net, d->ws[k], d->x, d->y)
                  : sp_mlp_backward_input(wm->net, d->ws[k], d->x, d->y);
  if (rc) return rc;
  // through the normalisation and the features
  for (int r = 0; r < batch; r++) {
    const double* gx = d->x + (size_t)r * nin;
    const double* sr = s + (size_t)r * nx;
    double* g = gs + (size_t)r * nx;
    double gf[3], J[12];
    g[2] += gx[0] / wm->fnorm.scale[0];
    for (int i = 0; i < 3; i++) gf[i] = gx[1 + i] / wm->fnorm.scale[1 + i];
    sp_quat_rotate_inv_jac(J, sr + 3, ez);
    add_jt(g + 3, J, gf, 3, 4);
    for (int i = 4; i < nf; i++) g[3 + i] += gx[i] / wm->fnorm.scale[i];
    if (ga)
      for (int i = 0; i < nu; i++) ga[(size_t)r * nu + i] = gx[nf + i] / wm->anorm.scale[i];
  }
  return 0;
}
