// command.c: the high-level network h(z | s, command) over a frozen VAE decoder, its action and its
// training loss through the world model with the backward pass (see command.h for the equations).
#include "command.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/quat.h"
#include "engine/nn/init.h"
#include "engine/wm/internal.h"

static const double ez[3] = {0, 0, 1};

sp_command_config sp_command_default_config(int nj, int lat) {
  sp_command_config c = {.nj = nj,
                         .lat = lat,
                         .hidden = 128,
                         .layers = 2,
                         .act = SP_ACT_ELU,
                         .dtype = SP_F32,
                         .velocity = 1,
                         .yaw_rate = 0.5,
                         .position = 1,
                         .heading = 0.5,
                         .up = 1,
                         .beta = 0.01,
                         .gamma = 0.95,
                         .clock = 0,
                         .prev_action = 0};
  return c;
}

int sp_command_check(const sp_command_config* c, char* msg, size_t ms) {
  if (c->nj < 0 || c->nj > 1000)
    return sp_errorf(msg, ms, SP_EINVAL, "nj must be in [0, 1000], got %d", c->nj);
  if (c->lat < 1 || c->lat > 4096)
    return sp_errorf(msg, ms, SP_EINVAL, "lat must be in [1, 4096], got %d", c->lat);
  if (c->hidden < 1 || c->hidden > (1 << 16) || c->layers < 1 || c->layers >= SP_MLP_MAXLAYERS)
    return sp_errorf(msg, ms, SP_EINVAL, "hidden must be >= 1 and layers in [1, %d]",
                     SP_MLP_MAXLAYERS - 1);
  if ((unsigned)c->act >= SP_ACT_COUNT || (c->dtype != SP_F32 && c->dtype != SP_F64))
    return sp_errorf(msg, ms, SP_EINVAL, "unknown activation or dtype");
  if (!(c->gamma > 0 && c->gamma <= 1))
    return sp_errorf(msg, ms, SP_EINVAL, "gamma must be in (0, 1], got %g", c->gamma);
  if (!(c->clock >= 0 && c->clock <= 3.14159265358979323846))
    return sp_errorf(msg, ms, SP_EINVAL, "clock must be a phase step in [0, pi] rad, got %g",
                     c->clock);
  if (c->prev_action < 0 || c->prev_action > 4096)
    return sp_errorf(msg, ms, SP_EINVAL, "prev_action must be 0 or the actions' count, got %d",
                     c->prev_action);
  const double w[] = {c->velocity, c->yaw_rate, c->position, c->heading, c->up, c->beta};
  const char* names[] = {"velocity", "yaw_rate", "position", "heading", "up", "beta"};
  for (int i = 0; i < 6; i++)
    if (!(w[i] >= 0) || !isfinite(w[i]))
      return sp_errorf(msg, ms, SP_EINVAL, "weight %s must be a finite number >= 0, got %g",
                       names[i], w[i]);
  return 0;
}

int sp_command_new(sp_command** out, const sp_command_config* cfg, uint64_t seed) {
  *out = NULL;
  if (sp_command_check(cfg, NULL, 0)) return SP_EINVAL;
  sp_command* h = sp_calloc(1, sizeof *h);
  if (!h) return SP_ENOMEM;
  h->cfg = *cfg;
  h->nf = 10 + 2 * cfg->nj;
  h->nk = SP_COMMAND_NK + (cfg->clock > 0);
  h->nin = h->nf + SP_COMMAND_NU + (cfg->clock > 0 ? 2 : 0) + cfg->prev_action;
  int sizes[SP_MLP_MAXLAYERS + 1];
  sp_act acts[SP_MLP_MAXLAYERS];
  sizes[0] = h->nin;
  for (int l = 0; l < cfg->layers; l++) sizes[l + 1] = cfg->hidden, acts[l] = cfg->act;
  sizes[cfg->layers + 1] = cfg->lat;
  acts[cfg->layers] = SP_ACT_IDENTITY;
  int rc = sp_mlp_new(&h->net, cfg->layers + 1, sizes, acts, cfg->dtype, 1);
  if (!rc) rc = sp_mlp_init(h->net, SP_INIT_XAVIER, seed);
  if (!rc) rc = sp_mlp_zero_layer(h->net, -1);
  if (rc) {
    sp_command_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

int sp_command_with_prev_action(sp_command** out, const sp_command* h, int nu) {
  *out = NULL;
  if (h->cfg.prev_action || nu < 1) return SP_EINVAL;
  sp_command_config c = h->cfg;
  c.prev_action = nu;
  sp_command* w;
  int rc = sp_command_new(&w, &c, 0);
  if (rc) return rc;
  if ((rc = sp_mlp_copy_widened(w->net, h->net))) {
    sp_command_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

void sp_command_free(sp_command* h) {
  if (!h) return;
  sp_mlp_free(h->net);
  sp_free(h);
}

void sp_command_data_free(sp_command_data* d) {
  if (!d) return;
  sp__mlp_works_free(d->wp, d->horizon);
  sp__mlp_works_free(d->wh, d->horizon);
  sp__mlp_works_free(d->wd, d->horizon);
  sp_free(d->S);
  sp_free(d->A);
  sp_free(d->Ho);
  sp_free(d->x);
  sp_free(d->y);
  sp_free(d->mp);
  sp_free(d->gz);
  sp_free(d->gf);
  sp_free(d->ga);
  sp_free(d->aw);
  sp_free(d->ac);
  sp_free(d->G);
  sp_free(d->Sv);
  sp_free(d);
}

int sp_command_data_new(sp_command_data** out, const sp_command* h, const sp_vae* vae,
                        int max_batch, int horizon) {
  *out = NULL;
  if (max_batch < 1 || horizon < 1 || horizon > (1 << 16)) return SP_EINVAL;
  if (vae->cfg.nj != h->cfg.nj || vae->cfg.lat != h->cfg.lat ||
      (h->cfg.prev_action && vae->cfg.nu != h->cfg.prev_action))
    return SP_EINVAL;
  sp_command_data* d = sp_calloc(1, sizeof *d);
  if (!d) return SP_ENOMEM;
  int lat = h->cfg.lat, nu = vae->cfg.nu;
  size_t B = (size_t)max_batch, H = (size_t)horizon, nx = 13 + 2 * (size_t)h->cfg.nj;
  size_t wide = (size_t)(lat > h->nin - h->nf ? lat : h->nin - h->nf);
  size_t outw = (size_t)(lat > nu ? lat : nu);
  d->h = h;
  d->vae = vae;
  d->max_batch = max_batch;
  d->horizon = horizon;
  d->wp = sp_calloc(H, sizeof *d->wp);
  d->wh = sp_calloc(H, sizeof *d->wh);
  d->wd = sp_calloc(H, sizeof *d->wd);
  d->S = sp_calloc((H + 1) * B * nx, sizeof(double));
  d->A = sp_calloc(H * B * nu, sizeof(double));
  d->Ho = sp_calloc(H * B * lat, sizeof(double));
  d->x = sp_calloc(B * (h->nf + wide), sizeof(double));
  d->y = sp_calloc(B * outw, sizeof(double));
  d->mp = sp_calloc(B * lat, sizeof(double));
  d->gz = sp_calloc(B * lat, sizeof(double));
  d->gf = sp_calloc(B * h->nf, sizeof(double));
  d->ga = sp_calloc(B * nu, sizeof(double));
  d->aw = sp_calloc(2 * B * nu, sizeof(double));
  d->ac = sp_calloc(B * nu, sizeof(double));
  d->G = sp_calloc(2 * B * nx, sizeof(double));
  d->Sv = sp_calloc(B * nx, sizeof(double));
  int rc = d->wp && d->wh && d->wd && d->S && d->A && d->Ho && d->x && d->y && d->mp && d->gz &&
                   d->gf && d->ga && d->aw && d->ac && d->G && d->Sv
               ? 0
               : SP_ENOMEM;
  for (int k = 0; !rc && k < horizon; k++) {
    rc = sp_mlp_work_new(&d->wp[k], vae->prior, max_batch);
    if (!rc) rc = sp_mlp_work_new(&d->wh[k], h->net, max_batch);
    if (!rc) rc = sp_mlp_work_new(&d->wd[k], vae->dec, max_batch);
  }
  if (rc) {
    sp_command_data_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

// ---- rows -------------------------------------------------------------------------------------

static double sgn(double x) {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}

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

// yaw(q) = atan2(a, b), a = 2 (w z + x y), b = 1 - 2 (y^2 + z^2); with dq, its gradient (4)
static double yaw_of(const double* q, double* dq) {
  double w = q[0], x = q[1], y = q[2], z = q[3];
  double a = 2 * (w * z + x * y), b = 1 - 2 * (y * y + z * z);
  if (dq) {
    double r2 = a * a + b * b;
    double ua = r2 > 0 ? b / r2 : 0, ub = r2 > 0 ? -a / r2 : 0;  // dyaw/da, dyaw/db
    dq[0] = ua * 2 * z;
    dq[1] = ua * 2 * y;
    dq[2] = ua * 2 * x + ub * (-4 * y);
    dq[3] = ua * 2 * w + ub * (-4 * z);
  }
  return atan2(a, b);
}

void sp_command_features(double* u, const double* s, const double* k) {
  double yaw = yaw_of(s + 3, NULL), c = cos(yaw), sn = sin(yaw), wp = k[6];
  double dx = k[3] - s[0], dy = k[4] - s[1], e = k[5] - yaw;
  u[0] = k[0];
  u[1] = k[1];
  u[2] = k[2];
  u[3] = wp;
  u[4] = wp * (c * dx + sn * dy);
  u[5] = wp * (-sn * dx + c * dy);
  u[6] = wp * sin(e);
  u[7] = wp * (cos(e) - 1);
}

// where the previous action's inputs begin in h's input row
static int prev_at(const sp_command* h) {
  return h->nin - h->cfg.prev_action;
}

void sp_command_input(const sp_command* h, double* x, const double* s, const double* k,
                      const double* ap) {
  features(h->cfg.nj, x, s);
  sp_command_features(x + h->nf, s, k);
  if (h->cfg.clock > 0) {
    x[h->nf + SP_COMMAND_NU] = sin(k[SP_COMMAND_NK]);
    x[h->nf + SP_COMMAND_NU + 1] = cos(k[SP_COMMAND_NK]);
  }
  if (h->cfg.prev_action) memcpy(x + prev_at(h), ap, (size_t)h->cfg.prev_action * sizeof(double));
}

// ADD the command features' VJP: g (nx) += (du/ds)^T gu (the command is data)
static void command_features_vjp(double* g, const double* gu, const double* s, const double* k) {
  double dq[4], yaw = yaw_of(s + 3, dq), c = cos(yaw), sn = sin(yaw), wp = k[6];
  double dx = k[3] - s[0], dy = k[4] - s[1], e = k[5] - yaw;
  double bx = c * dx + sn * dy, by = -sn * dx + c * dy;
  // u4 = wp bx, u5 = wp by: d/dp and d/dyaw (dbx/dyaw = by, dby/dyaw = -bx)
  g[0] += wp * (gu[4] * -c + gu[5] * sn);
  g[1] += wp * (gu[4] * -sn + gu[5] * -c);
  double gyaw = wp * (gu[4] * by - gu[5] * bx);
  // u6 = wp sin(e), u7 = wp (cos(e) - 1), de/dyaw = -1
  gyaw += wp * (-gu[6] * cos(e) + gu[7] * sin(e));
  for (int j = 0; j < 4; j++) g[3 + j] += gyaw * dq[j];
}

// the network at step slot k for batch rows: fills d->mp (prior means), Ho (h's outputs) and a
// (batch x nu) and, unless NULL, z (batch x lat); K rows at stride kstride (entries); ap the
// previous actions (batch x nu; NULL: a_nom), for a network that sees them
static int forward(sp_command* h, sp_command_data* d, const sp_vae* vae, int k, double* a,
                   double* z, double* Ho, const double* s, const double* K, size_t kstride,
                   const double* ap, const double* eps, size_t estride, int batch) {
  int nj = h->cfg.nj, nf = h->nf, lat = h->cfg.lat, nu = vae->cfg.nu, nx = 13 + 2 * nj, rc;
  double sigma = vae->cfg.sigma;
  // prior
  for (int r = 0; r < batch; r++) features(nj, d->x + (size_t)r * nf, s + (size_t)r * nx);
  if ((rc = sp_mlp_forward(vae->prior, d->wp[k], d->mp, d->x, batch))) return rc;
  // h
  for (int r = 0; r < batch; r++)
    sp_command_input(h, d->x + (size_t)r * h->nin, s + (size_t)r * nx, K + (size_t)r * kstride,
                     ap ? ap + (size_t)r * nu : vae->cfg.a_nom);
  if ((rc = sp_mlp_forward(h->net, d->wh[k], Ho, d->x, batch))) return rc;
  // latent and decoder
  for (int r = 0; r < batch; r++) {
    double* x = d->x + (size_t)r * (nf + lat);
    features(nj, x, s + (size_t)r * nx);
    for (int j = 0; j < lat; j++) {
      size_t i = (size_t)r * lat + j;
      x[nf + j] = d->mp[i] + Ho[i] + (eps ? sigma * eps[(size_t)r * estride + j] : 0);
      if (z) z[i] = x[nf + j];
    }
  }
  if ((rc = sp_mlp_forward(vae->dec, d->wd[k], a, d->x, batch))) return rc;
  for (int r = 0; r < batch; r++)
    for (int i = 0; i < nu; i++) a[(size_t)r * nu + i] += vae->cfg.a_nom[i];
  return 0;
}

int sp_command_act(sp_command* h, sp_command_data* d, const sp_vae* vae, double* a, double* z,
                   const double* s, const double* k, const double* ap, const double* eps,
                   int batch) {
  if (d->h != h || d->vae != vae) return SP_EINVAL;
  if (batch < 1 || batch > d->max_batch) return SP_ERANGE;
  return forward(h, d, vae, 0, a, z, d->Ho, s, k, (size_t)h->nk, ap, eps, (size_t)h->cfg.lat,
                 batch);
}

// one row's loss terms at state s (nx) against command k into sum (SP_COMMAND_NPARTS, weighted by
// f); with g, ADD their gradient with respect to s times f into g (nx)
static void row_terms(const sp_command_config* c, double* sum, double* g, double f, const double* s,
                      const double* k) {
  // velocity and yaw rate (body frame)
  double ex = s[7] - k[0], ey = s[8] - k[1], ew = s[12] - k[2];
  sum[SP_COMMAND_VELOCITY] += f * (c->velocity * (fabs(ex) + fabs(ey)) + c->yaw_rate * fabs(ew));
  if (g) {
    g[7] += f * c->velocity * sgn(ex);
    g[8] += f * c->velocity * sgn(ey);
    g[12] += f * c->yaw_rate * sgn(ew);
  }
  // the target pose
  double wp = k[6];
  if (wp > 0) {
    double px = s[0] - k[3], py = s[1] - k[4], dist = sqrt(px * px + py * py);
    double dq[4], yaw = yaw_of(s + 3, g ? dq : NULL), e = yaw - k[5];
    double we = atan2(sin(e), cos(e));
    sum[SP_COMMAND_POSE] += f * wp * (c->position * dist + c->heading * fabs(we));
    if (g) {
      if (dist > 0) {
        g[0] += f * wp * c->position * px / dist;
        g[1] += f * wp * c->position * py / dist;
      }
      double gy = f * wp * c->heading * sgn(we);
      for (int j = 0; j < 4; j++) g[3 + j] += gy * dq[j];
    }
  }
  // upright
  double up[3];
  sp_quat_rotate_inv(up, s + 3, ez);
  double du[3] = {up[0], up[1], up[2] - 1};
  sum[SP_COMMAND_UPRIGHT] += f * c->up * (fabs(du[0]) + fabs(du[1]) + fabs(du[2])) / 3;
  if (g) {
    double J[12], gu[3];
    for (int i = 0; i < 3; i++) gu[i] = f * c->up * sgn(du[i]) / 3;
    sp_quat_rotate_inv_jac(J, s + 3, ez);
    for (int j = 0; j < 4; j++) g[3 + j] += J[j] * gu[0] + J[4 + j] * gu[1] + J[8 + j] * gu[2];
  }
}

// the correction of row r at step k in R (batch x H x nx)
static const double* residual_row(const double* R, size_t r, int k, int H, int nx) {
  return R + (r * (size_t)H + (size_t)k) * (size_t)nx;
}

// s1 += sign * rho on every entry but the quaternion (3..6)
static void add_residual(double* s1, const double* rho, double sign, int nx) {
  for (int i = 0; i < nx; i++)
    if (i < 3 || i > 6) s1[i] += sign * rho[i];
}

// A world model with history takes [a_k, a_k-1]: the inputs of step k in x (batch x 2 nu) from a
// and ap (batch x nu: the step before's actions, or the start's previous actions at k = 0).
static const double* history_input(double* x, const double* a, const double* ap, int nu,
                                   int batch) {
  size_t n = (size_t)nu;
  for (size_t r = 0; r < (size_t)batch; r++) {
    memcpy(x + 2 * n * r, a + n * r, n * sizeof(double));
    memcpy(x + 2 * n * r + n, ap + n * r, n * sizeof(double));
  }
  return x;
}

// Their backward pass: gin (batch x 2 nu) the model's gradient of step k's inputs, carry (batch x
// nu) the gradient of a_k as step k + 1's previous action (ignored when last: the rollout's last
// step). WRITES ga (batch x nu) = dL/da_k, and carry = step k's previous-action part; with
// self_prev (k = 0 and a_-1 = a_0) that part is a_0's too and added to ga.
static void history_vjp(double* ga, double* carry, const double* gin, int nu, int batch, int last,
                        int self_prev) {
  size_t n = (size_t)nu;
  for (size_t r = 0; r < (size_t)batch; r++)
    for (size_t i = 0; i < n; i++) {
      double own = gin[2 * n * r + i], prev = gin[2 * n * r + n + i];
      ga[n * r + i] = own + (last ? 0 : carry[n * r + i]) + (self_prev ? prev : 0);
      carry[n * r + i] = prev;
    }
}

// the states of step k as the policy sees them: s itself, or s + N[k] (sensor noise) in d->Sv
static const double* policy_view(sp_command_data* d, const double* s, const double* N, int k,
                                 int batch, int H, int nx) {
  if (!N) return s;
  for (size_t r = 0; r < (size_t)batch; r++) {
    const double* n = N + (r * (size_t)H + (size_t)k) * (size_t)nx;
    for (int i = 0; i < nx; i++) d->Sv[r * nx + i] = s[r * nx + i] + n[i];
  }
  return d->Sv;
}

int sp_command_loss(sp_command* h, sp_command_data* d, sp_vae* vae, sp_wm* wm, sp_wm_data* wd,
                    double* loss, double* parts, const double* S0, const double* K,
                    const double* eps, int batch, int H, int backward) {
  return sp_command_loss_corrected(h, d, vae, wm, wd, loss, parts, S0, K, NULL, NULL, NULL, eps,
                                   batch, H, backward);
}

int sp_command_loss_corrected(sp_command* h, sp_command_data* d, sp_vae* vae, sp_wm* wm,
                              sp_wm_data* wd, double* loss, double* parts, const double* S0,
                              const double* K, const double* R, const double* P0, const double* N,
                              const double* eps, int batch, int H, int backward) {
  const sp_command_config* cf = &h->cfg;
  if (d->h != h || d->vae != vae || wd->wm != wm || wm->cfg.nj != cf->nj ||
      wm->cfg.nu != vae->cfg.nu)
    return SP_EINVAL;
  if (H < 1 || H > d->horizon || H > wd->horizon || batch < 1 || batch > d->max_batch ||
      batch > wd->max_batch)
    return SP_ERANGE;
  int nx = wm->nx, nu = vae->cfg.nu, lat = cf->lat, nf = h->nf, nj = cf->nj;
  size_t B = (size_t)batch, KH = (size_t)H * h->nk, EH = (size_t)H * lat;
  double s2 = vae->cfg.sigma * vae->cfg.sigma;
  double sum[SP_COMMAND_NPARTS] = {0};

  // forward: h, the decoder and the world model, H steps
  memcpy(d->S, S0, B * nx * sizeof(double));
  for (int k = 0; k < H; k++) {
    double f = pow(cf->gamma, k) / batch;
    double* s = d->S + (size_t)k * B * nx;
    double* s1 = s + B * nx;
    double* a = d->A + (size_t)k * B * nu;
    double* Ho = d->Ho + (size_t)k * B * lat;
    const double* Kk = K + (size_t)k * h->nk;
    // h with prev_action sees the action before (P0 or a_nom at the start), a model with history
    // too (P0 or a_0 itself at the start)
    const double* ap = k > 0 ? a - B * nu : P0;
    const double* sv = policy_view(d, s, N, k, batch, H, nx);
    int rc = forward(h, d, vae, k, a, NULL, Ho, sv, Kk, KH, ap, eps ? eps + (size_t)k * lat : NULL,
                     EH, batch);
    if (rc) return rc;
    if (!ap) ap = a;
    const double* in = wm->cfg.history ? history_input(d->aw, a, ap, nu, batch) : a;
    if ((rc = sp_wm_step(wm, wd, k, s1, s, in, batch))) return rc;
    if (R)
      for (size_t r = 0; r < B; r++) add_residual(s1 + r * nx, residual_row(R, r, k, H, nx), 1, nx);
    for (size_t r = 0; r < B; r++) {
      row_terms(cf, sum, NULL, f, s1 + r * nx, Kk + r * KH);
      for (int j = 0; j < lat; j++) {
        double q = Ho[r * lat + j];
        sum[SP_COMMAND_PRIOR] += f * cf->beta * q * q / (2 * s2);
      }
    }
  }
  if (loss) *loss = sum[0] + sum[1] + sum[2] + sum[3];
  if (parts) memcpy(parts, sum, sizeof sum);
  if (!backward) return 0;

  // backward through time: g = dloss/ds_k+1, into h (and the decoder when asked)
  double* g = d->G;
  double* gprev = d->G + B * nx;
  double unused[SP_COMMAND_NPARTS];
  memset(g, 0, B * nx * sizeof(double));
  for (int k = H - 1; k >= 0; k--) {
    double f = pow(cf->gamma, k) / batch;
    double* s = d->S + (size_t)k * B * nx;
    double* s1 = s + B * nx;
    const double* Ho = d->Ho + (size_t)k * B * lat;
    const double* Kk = K + (size_t)k * h->nk;
    for (size_t r = 0; r < B; r++) row_terms(cf, unused, g + r * nx, f, s1 + r * nx, Kk + r * KH);
    // the residual is a constant: the gradient passes through it unchanged, into the model's own
    // s_k+1, which its VJP needs (s_k+1 is not used again: the steps after k are done)
    if (R)
      for (size_t r = 0; r < B; r++)
        add_residual(s1 + r * nx, residual_row(R, r, k, H, nx), -1, nx);
    // through the world model into s_k and a_k (a_k's gradient as step k + 1's previous action,
    // the model's with history and h's with prev_action, is carried back in ac)
    int rc = sp_wm_step_vjp(wm, wd, k, gprev, wm->cfg.history ? d->aw : d->ga, g, s, s1, 0);
    if (rc) return rc;
    if (wm->cfg.history) {
      history_vjp(d->ga, d->ac, d->aw, nu, batch, k == H - 1, !k && !P0);
    } else if (cf->prev_action) {
      for (size_t i = 0; i < B * nu; i++) {
        if (k < H - 1) d->ga[i] += d->ac[i];
        d->ac[i] = 0;
      }
    }
    // the policy's view of s_k (its features' VJPs are taken there; ds_view/ds_k = I)
    const double* sv = policy_view(d, s, N, k, batch, H, nx);
    // decoder: input [f, z]
    rc = backward & SP_COMMAND_GRAD_DECODER
             ? sp_mlp_backward(vae->dec, d->wd[k], d->x, d->ga)
             : sp_mlp_backward_input(vae->dec, d->wd[k], d->x, d->ga);
    if (rc) return rc;
    for (size_t r = 0; r < B; r++) {
      const double* gx = d->x + r * (nf + lat);
      memcpy(d->gf + r * nf, gx, (size_t)nf * sizeof(double));
      memcpy(d->gz + r * lat, gx + nf, (size_t)lat * sizeof(double));
    }
    // h: z's gradient plus the prior term's
    for (size_t r = 0; r < B; r++)
      for (int j = 0; j < lat; j++)
        d->y[r * lat + j] = d->gz[r * lat + j] + f * cf->beta * Ho[r * lat + j] / s2;
    rc = backward & SP_COMMAND_GRAD_NET ? sp_mlp_backward(h->net, d->wh[k], d->x, d->y)
                                        : sp_mlp_backward_input(h->net, d->wh[k], d->x, d->y);
    if (rc) return rc;
    for (size_t r = 0; r < B; r++) {
      const double* gx = d->x + r * h->nin;
      for (int i = 0; i < nf; i++) d->gf[r * nf + i] += gx[i];
      command_features_vjp(gprev + r * nx, gx + nf, sv + r * nx, Kk + r * KH);
      // the previous action's (a_k-1, for step k - 1; at k = 0 data: dropped)
      if (cf->prev_action)
        for (int i = 0; i < nu; i++) d->ac[r * nu + i] += gx[prev_at(h) + i];
    }
    // prior: z's gradient, into the state only
    if ((rc = sp_mlp_backward_input(vae->prior, d->wp[k], d->x, d->gz))) return rc;
    for (size_t r = 0; r < B; r++)
      for (int i = 0; i < nf; i++) d->gf[r * nf + i] += d->x[r * nf + i];
    // the features of s_k
    for (size_t r = 0; r < B; r++) features_vjp(nj, gprev + r * nx, d->gf + r * nf, sv + r * nx);
    double* t = g;
    g = gprev;
    gprev = t;
  }
  return 0;
}
