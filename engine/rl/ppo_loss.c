// ppo_loss.c: PPO's minibatch loss and its exact gradient in the policy mean, log sigma and value
// (Schulman, Wolski, Dhariwal, Radford and Klimov 2017, "Proximal policy optimization
// algorithms", eq. 7 and 9; the loss as engine/rl/ppo.h writes it).
//
// With z_ij = (a_ij - mu_ij) / sigma_j, log pi = -1/2 sum_j z_ij^2 - sum_j log sigma_j - const:
//   d log pi / d mu_ij = z_ij / sigma_j,   d log pi / d log sigma_j = z_ij^2 - 1.
// The surrogate's row term s_i = -min(rho A, clip(rho) A) has d s_i / d log pi = -rho A where the
// unclipped term is the minimum or rho lies inside the clip range, 0 elsewhere (the clipped term
// is then constant in the parameters).
#include <math.h>

#include "engine/rl/ppo.h"

double sp_ppo_loss(sp_ppo_stats* st, double* gmu, double* gv, double* glogstd, const double* mu,
                   const double* v, const double* logstd, const double* a, const double* mu_old,
                   const double* logstd_old, const double* logp_old, const double* adv,
                   const double* ret, const double* v_old, int B, int k, double clip,
                   int clip_value, double value_coef, double entropy_coef) {
  static const double LOG_2PI = 1.8378770664093453;
  double c = -0.5 * k * LOG_2PI;
  for (int j = 0; j < k; j++) {
    c -= logstd[j];
    glogstd[j] = 0;
  }
  double surr = 0, vloss = 0, clipped = 0, inv = 1.0 / B;
  for (int i = 0; i < B; i++) {
    const double* ai = a + (size_t)i * k;
    const double* mi = mu + (size_t)i * k;
    double s = 0;
    for (int j = 0; j < k; j++) {
      double z = (ai[j] - mi[j]) * exp(-logstd[j]);
      s += z * z;
    }
    double logp = c - 0.5 * s;
    double rho = exp(logp - logp_old[i]), A = adv[i];
    double lo = 1.0 - clip, hi = 1.0 + clip;
    double rc = rho < lo ? lo : rho > hi ? hi : rho;
    double u = rho * A, w = rc * A;
    surr += -(u < w ? u : w);
    int inside = rho > lo && rho < hi;
    if (!inside) clipped += 1;
    // d s_i / d logp, scaled by the mean
    double gl = (u <= w || inside) ? -rho * A * inv : 0;
    for (int j = 0; j < k; j++) {
      double isig = exp(-logstd[j]);
      double z = (ai[j] - mi[j]) * isig;
      gmu[(size_t)i * k + j] = gl * z * isig;
      glogstd[j] += gl * (z * z - 1);
    }
    // value loss
    double e = v[i] - ret[i], g;
    if (clip_value) {
      double dv = v[i] - v_old[i];
      double vc = v_old[i] + (dv < -clip ? -clip : dv > clip ? clip : dv);
      double ec = vc - ret[i];
      if (e * e >= ec * ec) {
        vloss += e * e;
        g = 2 * e;
      } else {
        vloss += ec * ec;
        g = (dv > -clip && dv < clip) ? 2 * ec : 0;
      }
    } else {
      vloss += e * e;
      g = 2 * e;
    }
    gv[i] = value_coef * g * inv;
  }
  // entropy bonus: d(-c_H H)/d log sigma_j = -c_H
  for (int j = 0; j < k; j++) glogstd[j] -= entropy_coef;
  double H = sp_gaussian_entropy(logstd, k);
  surr *= inv;
  vloss *= inv;
  if (st) {
    st->surrogate = surr;
    st->value_loss = vloss;
    st->entropy = H;
    st->kl = sp_gaussian_kl(mu_old, mu, logstd_old, logstd, B, k) * inv;
    st->clip_fraction = clipped * inv;
  }
  return surr + value_coef * vloss - entropy_coef * H;
}
