// policy.c: method 1's policy class (policy.h): features -> MLP -> scaled reference and gain
// corrections -> embedded controller, with its vector-Jacobian products in x and theta. The
// policy is read-only during evaluation; every intermediate lives in the caller's sp_policy_data.
//
// Westenbroek et al., arXiv 2307.08168 (METHODS.md, method 1). With y = g_theta(phi(x, t)):
//   u = kappa(x, r(t) + S_r y, K0 + S_K y)          (closed loop)
//   u = u_ff + S_u y                                (open loop)
// so for mu = dL/du
//   Px^T mu = kappa_x^T mu + Dphi^T Dg^T (S_r^T kappa_r^T mu + S_K^T kappa_K^T mu)
//   Pt^T mu = Dg_theta^T (S_r^T kappa_r^T mu + S_K^T kappa_K^T mu)
// with S_u^T mu in place of the bracket for the open loop.
#include "engine/policy/policy.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/init.h"

#define TWO_PI 6.283185307179586476925286766559

int sp_policy_feature_count(sp_policy_features kind, int nx) {
  switch (kind) {
    case SP_POLICY_FEATURES_CAR:
      return 6;
    case SP_POLICY_FEATURES_STATE:
      return nx + 2;
    case SP_POLICY_FEATURES_PHASE:
      return 2;
  }
  return 0;
}

// check a configuration; fills the sizes
static int check_config(const sp_policy_config* c, int* nx, int* nu, int* nr, int* nk) {
  if (!c || c->nout < 1 || !c->outputs || c->nhidden < 0 || (c->nhidden > 0 && !c->hidden) ||
      c->nhidden + 1 > SP_MLP_MAXLAYERS)
    return SP_EINVAL;
  if (c->ctrl) {
    *nx = c->ctrl->nx, *nu = c->ctrl->nu, *nr = c->ctrl->nr, *nk = c->ctrl->nk;
    if (c->task && *nr != SP_TASK_NR) return SP_EINVAL;
  } else {
    *nx = c->nx, *nu = c->nu, *nr = 0, *nk = 0;
    if (*nx < 1 || *nu < 1) return SP_EINVAL;
  }
  if (sp_policy_feature_count(c->features, *nx) < 1) return SP_EINVAL;
  if (c->features == SP_POLICY_FEATURES_CAR && *nx < 4) return SP_EINVAL;
  if (!(c->period > 0) && !c->task) return SP_EINVAL;
  if (!isfinite(c->period)) return SP_EINVAL;
  for (int i = 0; i < c->nhidden; i++)
    if (c->hidden[i] < 1) return SP_EINVAL;
  for (int j = 0; j < c->nout; j++) {
    const sp_policy_output* o = &c->outputs[j];
    int n = o->kind == SP_POLICY_OUT_REF      ? (c->ctrl ? *nr : -1)
            : o->kind == SP_POLICY_OUT_GAIN   ? (c->ctrl ? *nk : -1)
            : o->kind == SP_POLICY_OUT_ACTION ? (c->ctrl ? -1 : *nu)
                                              : -1;
    if (n < 0 || o->index < 0 || o->index >= n || !isfinite(o->scale)) return SP_EINVAL;
  }
  for (int i = 0; i < *nu && !c->ctrl && c->u_ff; i++)
    if (!isfinite(c->u_ff[i])) return SP_EINVAL;
  return 0;
}

int sp_policy_new(sp_policy** out, const sp_policy_config* cfg) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  int nx, nu, nr, nk;
  int rc = check_config(cfg, &nx, &nu, &nr, &nk);
  if (rc) return rc;
  int nf = sp_policy_feature_count(cfg->features, nx);

  // the network: nf -> hidden... -> nout
  int sizes[SP_MLP_MAXLAYERS + 1];
  sp_act acts[SP_MLP_MAXLAYERS];
  int L = cfg->nhidden + 1;
  sizes[0] = nf;
  for (int i = 0; i < cfg->nhidden; i++) sizes[i + 1] = cfg->hidden[i], acts[i] = cfg->hidden_act;
  sizes[L] = cfg->nout;
  acts[L - 1] = cfg->out_act;
  sp_mlp* net;
  rc = sp_mlp_new(&net, L, sizes, acts, SP_F64, 1);
  if (rc) return rc;
  rc = sp_mlp_init(net, SP_INIT_XAVIER, cfg->seed);
  if (!rc && !cfg->init_last) rc = sp_mlp_zero_layer(net, -1);
  if (rc) {
    sp_mlp_free(net);
    return rc;
  }

  // one allocation: struct, outputs, then every double array
  size_t nd = (size_t)nr + nk + nu + nu;
  size_t head = (sizeof(sp_policy) + sizeof(sp_policy_output) * cfg->nout + 15) / 16 * 16;
  char* mem = sp_calloc(1, head + nd * sizeof(double));
  if (!mem) {
    sp_mlp_free(net);
    return SP_ENOMEM;
  }
  sp_policy* p = (sp_policy*)mem;
  p->outputs = (sp_policy_output*)(mem + sizeof(sp_policy));
  memcpy(p->outputs, cfg->outputs, sizeof(sp_policy_output) * cfg->nout);
  double* d = (double*)(mem + head);
  p->r0 = d, d += nr;
  p->K0 = d, d += nk;
  p->u_ff = d, d += nu;
  p->sigma = d;

  p->ctrl = cfg->ctrl;
  p->task = cfg->task;
  p->nx = nx, p->nu = nu, p->nr = nr, p->nk = nk, p->nf = nf, p->nout = cfg->nout;
  p->net = net;
  p->nparams = net->nparams;
  p->features = cfg->features;
  p->period = cfg->period > 0 ? cfg->period : sp_task_period(cfg->task);
  if (cfg->ctrl) {
    if (cfg->r0) memcpy(p->r0, cfg->r0, sizeof(double) * nr);
    memcpy(p->K0, cfg->K0 ? cfg->K0 : cfg->ctrl->K, sizeof(double) * nk);
  } else if (cfg->u_ff) {
    memcpy(p->u_ff, cfg->u_ff, sizeof(double) * nu);
  }
  p->seed = cfg->seed;
  *out = p;
  return 0;
}

void sp_policy_data_free(sp_policy_data* d) {
  if (!d) return;
  sp_ctrl_data_free(d->ctrl);
  sp_mlp_work_free(d->act);
  sp_free(d);
}

int sp_policy_data_new(sp_policy_data** out, const sp_policy* p) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!p) return SP_EINVAL;
  int nx = p->nx, nu = p->nu, nr = p->nr, nk = p->nk, nf = p->nf, nout = p->nout;
  size_t nd = (size_t)nf + (size_t)nf * nx + nout + nr + nk + nr + nk + nout + nf + nu + nu;
  size_t head = (sizeof(sp_policy_data) + 15) / 16 * 16;
  char* mem = sp_calloc(1, head + nd * sizeof(double));
  if (!mem) return SP_ENOMEM;
  sp_policy_data* w = (sp_policy_data*)mem;
  w->policy = p;
  int rc = sp_mlp_work_new(&w->act, p->net, 1);
  if (!rc && p->ctrl) rc = sp_ctrl_data_new(&w->ctrl, p->ctrl);
  if (rc) {
    sp_policy_data_free(w);
    return rc;
  }
  // the activations belong to the view, the network as this workspace evaluates it
  w->view = *p->net;
  w->act->net = &w->view;
  double* d = (double*)(mem + head);
  w->f = d, d += nf;
  w->Df = d, d += (size_t)nf * nx;
  w->y = d, d += nout;
  w->r = d, d += nr;
  w->K = d, d += nk;
  w->gr = d, d += nr;
  w->gK = d, d += nk;
  w->gy = d, d += nout;
  w->gf = d, d += nf;
  w->mean = d, d += nu;
  w->e = d;
  sp_rng_seed(&w->rng, p->seed, 1);
  *out = w;
  return 0;
}

void sp_policy_data_seed(sp_policy_data* d, uint64_t seed, uint64_t stream) {
  sp_rng_seed(&d->rng, seed, stream);
}

void sp_policy_free(sp_policy* p) {
  if (!p) return;
  sp_mlp_free(p->net);
  sp_free(p);
}

double* sp_policy_params(sp_policy* p) {
  return p->net->params;
}

void sp_policy_features_eval(const sp_policy* p, double* f, double* Df, const double* x, double t) {
  int nx = p->nx, nf = p->nf;
  double s = t / p->period;
  s -= floor(s);
  double cs = cos(TWO_PI * s), sn = sin(TWO_PI * s);
  if (Df) memset(Df, 0, sizeof(double) * nf * nx);
  switch (p->features) {
    case SP_POLICY_FEATURES_CAR: {
      // (px, py, v cos phi, v sin phi)
      double v = x[2], c = cos(x[3]), si = sin(x[3]);
      f[0] = x[0], f[1] = x[1], f[2] = v * c, f[3] = v * si;
      if (Df) {
        Df[0 * nx + 0] = 1;
        Df[1 * nx + 1] = 1;
        Df[2 * nx + 2] = c, Df[2 * nx + 3] = -v * si;
        Df[3 * nx + 2] = si, Df[3 * nx + 3] = v * c;
      }
      break;
    }
    case SP_POLICY_FEATURES_STATE:
      for (int i = 0; i < nx; i++) {
        f[i] = x[i];
        if (Df) Df[i * nx + i] = 1;
      }
      break;
    case SP_POLICY_FEATURES_PHASE:
      break;
  }
  f[nf - 2] = cs, f[nf - 1] = sn;
}

// the network as evaluated by d: the policy's, with the workspace's theta (when set) and
// gradients accumulating into grads (NULL: none are written)
static sp_mlp* view(const sp_policy* p, sp_policy_data* d, double* grads) {
  d->view = *p->net;
  if (d->theta) d->view.params = (void*)d->theta;
  d->view.grads = grads;
  return &d->view;
}

// the network's output y at (x, t), and the corrected reference and gains (closed loop)
static int forward(const sp_policy* p, sp_policy_data* d, const double* x, double t, int want_Df) {
  sp_policy_features_eval(p, d->f, want_Df ? d->Df : NULL, x, t);
  sp_mlp_forward(view(p, d, NULL), d->act, d->y, d->f, 1);
  if (p->ctrl) {
    if (p->task)
      sp_task_eval(p->task, d->r, NULL, t);
    else
      memcpy(d->r, p->r0, sizeof(double) * p->nr);
    memcpy(d->K, p->K0, sizeof(double) * p->nk);
    for (int j = 0; j < p->nout; j++) {
      const sp_policy_output* o = &p->outputs[j];
      if (o->kind == SP_POLICY_OUT_REF)
        d->r[o->index] += o->scale * d->y[j];
      else
        d->K[o->index] += o->scale * d->y[j];
    }
  }
  return 0;
}

// the mean action, with forward's results left in the workspace
static int mean_action(const sp_policy* p, sp_policy_data* d, double* u, const double* x, double t,
                       int want_Df) {
  forward(p, d, x, t, want_Df);
  if (p->ctrl) return sp_ctrl_act(p->ctrl, d->ctrl, u, x, d->r, d->K) ? SP_ENUMERIC : 0;
  memcpy(u, p->u_ff, sizeof(double) * p->nu);
  for (int j = 0; j < p->nout; j++) u[p->outputs[j].index] += p->outputs[j].scale * d->y[j];
  for (int i = 0; i < p->nu; i++)
    if (!isfinite(u[i])) return SP_ENUMERIC;
  return 0;
}

static int bad_call(const sp_policy* p, const sp_policy_data* d) {
  return !p || !d || d->policy != p;
}

int sp_policy_act(const sp_policy* p, sp_policy_data* d, double* u, const double* x, double t) {
  if (bad_call(p, d)) return SP_EINVAL;
  return mean_action(p, d, u, x, t, 0);
}

int sp_policy_sample(const sp_policy* p, sp_policy_data* d, double* u, const double* x, double t) {
  if (bad_call(p, d)) return SP_EINVAL;
  int rc = mean_action(p, d, u, x, t, 0);
  for (int i = 0; i < p->nu; i++)
    if (p->sigma[i] > 0) u[i] += p->sigma[i] * sp_rng_normal(&d->rng);
  return rc;
}

int sp_policy_set_noise(sp_policy* p, const double* sigma) {
  for (int i = 0; sigma && i < p->nu; i++)
    if (!(sigma[i] >= 0) || !isfinite(sigma[i])) return SP_EINVAL;
  for (int i = 0; i < p->nu; i++) p->sigma[i] = sigma ? sigma[i] : 0;
  return 0;
}

// backward through the last forward (at x) for mu; the controller's x term goes to gx
static void backward(const sp_policy* p, sp_policy_data* d, double* gx, double* gtheta,
                     const double* x, const double* mu) {
  // gradient at the network's output
  if (p->ctrl) {
    memset(d->gr, 0, sizeof(double) * p->nr);
    memset(d->gK, 0, sizeof(double) * p->nk);
    sp_ctrl_vjp(p->ctrl, d->ctrl, gx, d->gr, d->gK, x, d->r, d->K, mu);
    for (int j = 0; j < p->nout; j++) {
      const sp_policy_output* o = &p->outputs[j];
      d->gy[j] = o->scale * (o->kind == SP_POLICY_OUT_REF ? d->gr[o->index] : d->gK[o->index]);
    }
  } else {
    for (int j = 0; j < p->nout; j++) d->gy[j] = p->outputs[j].scale * mu[p->outputs[j].index];
  }
  // through the network, its parameter gradients accumulating into gtheta (when wanted)
  if (gtheta)
    sp_mlp_backward(view(p, d, gtheta), d->act, d->gf, d->gy);
  else
    sp_mlp_backward_input(view(p, d, NULL), d->act, d->gf, d->gy);
  // and the features: gx += Df^T gf
  if (gx && p->features != SP_POLICY_FEATURES_PHASE)
    for (int a = 0; a < p->nf - 2; a++) {
      double ga = d->gf[a];
      if (ga == 0) continue;
      const double* row = d->Df + (size_t)a * p->nx;
      for (int i = 0; i < p->nx; i++) gx[i] += row[i] * ga;
    }
}

int sp_policy_vjp(const sp_policy* p, sp_policy_data* d, double* gx, double* gtheta,
                  const double* x, double t, const double* mu) {
  if (bad_call(p, d)) return SP_EINVAL;
  int rc = mean_action(p, d, d->mean, x, t, 1);
  backward(p, d, gx, gtheta, x, mu);
  return rc;
}

int sp_policy_jac_x(const sp_policy* p, sp_policy_data* d, double* Px, const double* x, double t) {
  if (bad_call(p, d)) return SP_EINVAL;
  int rc = mean_action(p, d, d->mean, x, t, 1);
  for (int i = 0; i < p->nu; i++) {
    double* row = Px + (size_t)i * p->nx;
    memset(row, 0, sizeof(double) * p->nx);
    memset(d->e, 0, sizeof(double) * p->nu);
    d->e[i] = 1;
    backward(p, d, row, NULL, x, d->e);
  }
  return rc;
}

int sp_policy_logp_vjp(const sp_policy* p, sp_policy_data* d, double* logp, double* gtheta,
                       const double* x, double t, const double* u, double w) {
  if (bad_call(p, d)) return SP_EINVAL;
  int any = 0;
  for (int i = 0; i < p->nu; i++) any |= p->sigma[i] > 0;
  if (!any) return SP_ESTATE;
  int rc = mean_action(p, d, d->mean, x, t, 0);
  // log N and d logN / d mean = (u - mean) / sigma^2
  double lp = 0;
  for (int i = 0; i < p->nu; i++) {
    double s = p->sigma[i];
    if (!(s > 0)) {
      d->e[i] = 0;
      continue;
    }
    double z = (u[i] - d->mean[i]) / s;
    lp += -0.5 * z * z - log(s) - 0.91893853320467274178;  // log sqrt(2 pi)
    d->e[i] = w * z / s;
  }
  if (logp) *logp = lp;
  if (gtheta) backward(p, d, NULL, gtheta, x, d->e);
  return rc;
}

int sp_policy_loop_act(void* user, double* u, const double* x, double t, long k) {
  (void)k;
  sp_policy_data* d = user;
  return sp_policy_act(d->policy, d, u, x, t);
}

int sp_policy_loop_sample(void* user, double* u, const double* x, double t, long k) {
  (void)k;
  sp_policy_data* d = user;
  return sp_policy_sample(d->policy, d, u, x, t);
}
