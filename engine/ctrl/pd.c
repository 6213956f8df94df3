// pd.c: joint-space proportional-derivative control, u = u_ff + kp .* (q_d - q) + kd .* (qd_d -
// qd), per channel (method 2's motor decoder outputs joint position targets tracked by joint PD,
// e.g. kp = 50, kd = 0.5; METHODS.md). State x = (q, qd) (n each), reference r = (q_d, qd_d, u_ff)
// (n each), gains K = (kp, kd) (n each). The Jacobians are constant or linear:
//   du_i/dq_i = -kp_i, du_i/dqd_i = -kd_i, du_i/dq_d,i = kp_i, du_i/dqd_d,i = kd_i,
//   du_i/du_ff,i = 1, du_i/dkp_i = q_d,i - q_i, du_i/dkd_i = qd_d,i - qd_i.
#include <string.h>

#include "engine/core/error.h"
#include "engine/ctrl/ctrl.h"

static void pd_raw(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x, const double* r,
                   const double* K) {
  int n = c->nu;
  for (int i = 0; i < n; i++)
    u[i] = r[2 * n + i] + K[i] * (r[i] - x[i]) + K[n + i] * (r[n + i] - x[n + i]);
}

static void pd_raw_jac(const sp_ctrl* c, sp_ctrl_data* d, double* Dx, double* Dr, double* DK,
                       const double* x, const double* r, const double* K) {
  int n = c->nu;
  if (Dx) memset(Dx, 0, sizeof(double) * (size_t)n * 2 * n);
  if (Dr) memset(Dr, 0, sizeof(double) * (size_t)n * 3 * n);
  if (DK) memset(DK, 0, sizeof(double) * (size_t)n * 2 * n);
  for (int i = 0; i < n; i++) {
    if (Dx) {
      Dx[(size_t)i * 2 * n + i] = -K[i];
      Dx[(size_t)i * 2 * n + n + i] = -K[n + i];
    }
    if (Dr) {
      Dr[(size_t)i * 3 * n + i] = K[i];
      Dr[(size_t)i * 3 * n + n + i] = K[n + i];
      Dr[(size_t)i * 3 * n + 2 * n + i] = 1;
    }
    if (DK) {
      DK[(size_t)i * 2 * n + i] = r[i] - x[i];
      DK[(size_t)i * 2 * n + n + i] = r[n + i] - x[n + i];
    }
  }
}

static void pd_raw_vjp(const sp_ctrl* c, sp_ctrl_data* d, double* gx, double* gr, double* gK,
                       const double* x, const double* r, const double* K, const double* g) {
  int n = c->nu;
  for (int i = 0; i < n; i++) {
    if (gx) {
      gx[i] -= K[i] * g[i];
      gx[n + i] -= K[n + i] * g[i];
    }
    if (gr) {
      gr[i] += K[i] * g[i];
      gr[n + i] += K[n + i] * g[i];
      gr[2 * n + i] += g[i];
    }
    if (gK) {
      gK[i] += (r[i] - x[i]) * g[i];
      gK[n + i] += (r[n + i] - x[n + i]) * g[i];
    }
  }
}

static const sp_ctrl_block pd_gains[] = {{"kp", SP_CTRL_PER_ACTION}, {"kd", SP_CTRL_PER_ACTION}};
static const sp_ctrl_block pd_refs[] = {
    {"q_d", SP_CTRL_PER_ACTION}, {"qdot_d", SP_CTRL_PER_ACTION}, {"u_ff", SP_CTRL_PER_ACTION}};

static const sp_ctrl_class pd_class = {
    .name = "pd",
    .ngains = 2,
    .gains = pd_gains,
    .nrefs = 3,
    .refs = pd_refs,
    .raw = pd_raw,
    .raw_jac = pd_raw_jac,
    .raw_vjp = pd_raw_vjp,
};

int sp_pd_new(sp_ctrl** out, int n, const double* kp, const double* kd) {
  if (!out || n < 1) return SP_EINVAL;
  sp_ctrl* c;
  int rc = sp_ctrl_new_class(&c, &pd_class, 2 * n, n, 3 * n, 2 * n, 0, 0);
  if (rc) return rc;
  if (kp) memcpy(c->K, kp, sizeof(double) * (size_t)n);
  if (kd) memcpy(c->K + n, kd, sizeof(double) * (size_t)n);
  *out = c;
  return 0;
}
