// rollout_loss.c: the world model's autoregressive n-step loss against recorded windows and its
// backward pass through all n applications (see sp_wm_rollout_loss in wm.h).
//
// Forward: s_0 = S[:, 0], s_k+1 = W(s_k, A[:, k]) for k < n, each application in its own slot of
// the workspace. Loss: per component c, L_c = sum_k sum_rows sum_coords |e| / (n B D_c), where the
// orientation error is the geodesic angle |Log(q_rec* (x) q)| (D = 1). Backward (BPTT): from k = n
// down to 1, g_k = dloss/ds_k (its own loss term plus what flows back from s_k+1), then through
// application k - 1 to s_k-1; s_0 is data and receives nothing.
#include <math.h>
#include <string.h>

#include "engine/core/error.h"
#include "engine/la/quat.h"
#include "engine/wm/internal.h"
#include "engine/wm/wm.h"

static double sgn(double x) {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}

// component sums of one row's errors into e (SP_WM_NCOMP); with g, ADD dloss/ds into g (nx) with
// per-component factors c[] (weight / (n B D_c))
void sp__wm_row_errors(const sp_wm* wm, double* e, double* g, const double* c, const double* s,
                       const double* r) {
  int nj = wm->cfg.nj;
  // position, velocities, joints: absolute differences
  static const int first[SP_WM_NCOMP] = {0, 3, 7, 10, 13, 13};
  for (int comp = 0; comp < SP_WM_NCOMP; comp++) {
    if (comp == SP_WM_ORIENTATION) continue;
    int at = first[comp] + (comp == SP_WM_JOINT_VELOCITIES ? nj : 0);
    int len = comp >= SP_WM_JOINTS ? nj : 3;
    for (int i = at; i < at + len; i++) {
      double diff = s[i] - r[i];
      e[comp] += fabs(diff);
      if (g) g[i] += c[comp] * sgn(diff);
    }
  }
  // orientation: geodesic angle of q_rec* (x) q
  double rc[4], dq[4], v[3];
  sp_quat_conj(rc, r + 3);
  sp_quat_mul(dq, rc, s + 3);
  sp_quat_log(v, dq);
  double ang = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  e[SP_WM_ORIENTATION] += ang;
  if (g && ang > 0) {
    double Jl[12], Db[16], u[3], gd[4] = {0, 0, 0, 0};
    for (int i = 0; i < 3; i++) u[i] = c[SP_WM_ORIENTATION] * v[i] / ang;
    sp_quat_log_jac(Jl, dq);
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 3; i++) gd[j] += Jl[i * 4 + j] * u[i];
    sp_quat_mul_jac(NULL, Db, rc, s + 3);
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) g[3 + j] += Db[i * 4 + j] * gd[i];
  }
}

int sp_wm_rollout_loss(sp_wm* wm, sp_wm_data* d, double* loss, double* comps, double* per_step,
                       const double* S, const double* A, int batch, int n, int backward) {
  if (d->wm != wm) return SP_EINVAL;
  if (n < 1 || n > d->horizon || batch < 1 || batch > d->max_batch) return SP_ERANGE;
  int nx = wm->nx, nu = wm->na, nj = wm->cfg.nj;
  size_t B = (size_t)batch, win = (size_t)(n + 1) * nx;
  const double dims[SP_WM_NCOMP] = {3, 1, 3, 3, nj, nj};
  double c[SP_WM_NCOMP], total[SP_WM_NCOMP] = {0};
  for (int k = 0; k < SP_WM_NCOMP; k++)
    c[k] = dims[k] > 0 ? wm->cfg.weight[k] / ((double)n * batch * dims[k]) : 0;

  // the rollout
  double* Sk = d->S;
  for (size_t b = 0; b < B; b++) memcpy(Sk + b * nx, S + b * win, (size_t)nx * sizeof(double));
  for (int k = 0; k < n; k++) {
    for (size_t b = 0; b < B; b++)
      memcpy(d->A + b * nu, A + (b * n + k) * nu, (size_t)nu * sizeof(double));
    int rc = sp_wm_step(wm, d, k, d->S + (k + 1) * B * nx, d->S + k * B * nx, d->A, batch);
    if (rc) return rc;
    double e[SP_WM_NCOMP] = {0};
    for (size_t b = 0; b < B; b++)
      sp__wm_row_errors(wm, e, NULL, c, d->S + ((k + 1) * B + b) * nx,
                        S + b * win + (size_t)(k + 1) * nx);
    for (int cc = 0; cc < SP_WM_NCOMP; cc++) {
      double mean = dims[cc] > 0 ? e[cc] / (batch * dims[cc]) : 0;
      total[cc] += mean / n;
      if (per_step) per_step[k * SP_WM_NCOMP + cc] = mean;
    }
  }
  double L = 0;
  for (int cc = 0; cc < SP_WM_NCOMP; cc++) L += wm->cfg.weight[cc] * total[cc];
  if (loss) *loss = L;
  if (comps) memcpy(comps, total, sizeof total);
  if (!backward) return 0;

  // backpropagation through time
  double* g = d->G;  // dloss/ds_k
  double* gprev = d->G + B * nx;
  memset(g, 0, B * nx * sizeof(double));
  for (int k = n; k >= 1; k--) {
    double e[SP_WM_NCOMP] = {0};
    for (size_t b = 0; b < B; b++)
      sp__wm_row_errors(wm, e, g + b * nx, c, d->S + (k * B + b) * nx,
                        S + b * win + (size_t)k * nx);
    int rc =
        sp_wm_step_vjp(wm, d, k - 1, gprev, NULL, g, d->S + (k - 1) * B * nx, d->S + k * B * nx, 1);
    if (rc) return rc;
    double* t = g;
    g = gprev;
    gprev = t;
  }
  return 0;
}
