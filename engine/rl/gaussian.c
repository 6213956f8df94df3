// gaussian.c: the diagonal Gaussian policy's log-density, entropy and KL divergence
// (engine/rl/ppo.h).
//
//   log N(a; mu, diag(sigma^2)) = -1/2 sum_j ((a_j - mu_j) / sigma_j)^2 - sum_j log sigma_j
//                                 - k/2 log(2 pi)
//   H = sum_j log sigma_j + k/2 log(2 pi e)
//   KL(old || new) = sum_j log(sigma_j / sigma_old_j) + (sigma_old_j^2 + (mu_old_j - mu_j)^2)
//                    / (2 sigma_j^2) - 1/2
#include <math.h>

#include "engine/rl/ppo.h"

static const double LOG_2PI = 1.8378770664093453;

void sp_gaussian_logp(double* logp, const double* a, const double* mu, const double* logstd, int n,
                      int k) {
  double c = -0.5 * k * LOG_2PI;
  for (int j = 0; j < k; j++) c -= logstd[j];
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < k; j++) {
      double z = (a[(size_t)i * k + j] - mu[(size_t)i * k + j]) * exp(-logstd[j]);
      s += z * z;
    }
    logp[i] = c - 0.5 * s;
  }
}

double sp_gaussian_entropy(const double* logstd, int k) {
  double h = 0.5 * k * (LOG_2PI + 1.0);
  for (int j = 0; j < k; j++) h += logstd[j];
  return h;
}

double sp_gaussian_kl(const double* mu_old, const double* mu, const double* logstd_old,
                      const double* logstd, int n, int k) {
  double kl0 = 0;  // the part that does not depend on the row
  for (int j = 0; j < k; j++)
    kl0 += logstd[j] - logstd_old[j] + 0.5 * exp(2 * (logstd_old[j] - logstd[j])) - 0.5;
  double kl = 0;
  for (int i = 0; i < n; i++) {
    double d2 = 0;
    for (int j = 0; j < k; j++) {
      double dm = (mu_old[(size_t)i * k + j] - mu[(size_t)i * k + j]) * exp(-logstd[j]);
      d2 += dm * dm;
    }
    kl += kl0 + 0.5 * d2;
  }
  return kl;
}
