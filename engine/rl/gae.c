// gae.c: generalised advantage estimation (Schulman, Moritz, Levine, Jordan and Abbeel 2016,
// "High-dimensional continuous control using generalized advantage estimation", eq. 16), computed
// backwards in time with the episode ends of a batch of environments:
//   delta_t = r_t + gamma V_t+1 (1 - d_t) - V_t
//   A_t     = delta_t + gamma lambda (1 - d_t) A_t+1,    R_t = A_t + V_t
#include "engine/rl/ppo.h"

void sp_gae(double* adv, double* ret, const double* reward, const double* done, const double* value,
            int nsteps, int nenvs, double gamma, double lambda) {
  for (int e = 0; e < nenvs; e++) {
    double next = 0;  // A_t+1
    for (int t = nsteps - 1; t >= 0; t--) {
      size_t i = (size_t)t * nenvs + e;
      double keep = 1.0 - done[i];
      double delta = reward[i] + gamma * value[i + nenvs] * keep - value[i];
      next = delta + gamma * lambda * keep * next;
      adv[i] = next;
      ret[i] = next + value[i];
    }
  }
}
