// normalizer.c: running mean and variance by exact batch merges (see normalizer.h).
#include "normalizer.h"

#include <math.h>
#include <string.h>

void sp_normalizer_init(sp_normalizer* z, int n, double* storage, double min_std) {
  z->n = n;
  z->min_std = min_std;
  z->mean = storage;
  z->m2 = storage + n;
  z->scale = storage + 2 * n;
  sp_normalizer_reset(z);
}

void sp_normalizer_reset(sp_normalizer* z) {
  z->count = 0;
  memset(z->mean, 0, (size_t)z->n * sizeof(double));
  memset(z->m2, 0, (size_t)z->n * sizeof(double));
  for (int i = 0; i < z->n; i++) z->scale[i] = 1;
}

void sp_normalizer_refresh(sp_normalizer* z) {
  for (int i = 0; i < z->n; i++) {
    double s = z->count > 0 ? sqrt(z->m2[i] / z->count) : 1;
    z->scale[i] = z->count > 0 && s < z->min_std ? z->min_std : s;
  }
}

void sp_normalizer_update(sp_normalizer* z, const double* x, int count, int ld) {
  if (count < 1) return;
  double nb = count, na = z->count, n = na + nb;
  for (int i = 0; i < z->n; i++) {
    // the batch's own mean and M2, then the pairwise merge
    double mb = 0, m2b = 0;
    for (int r = 0; r < count; r++) mb += x[(size_t)r * ld + i];
    mb /= nb;
    for (int r = 0; r < count; r++) {
      double d = x[(size_t)r * ld + i] - mb;
      m2b += d * d;
    }
    double delta = mb - z->mean[i];
    z->mean[i] += delta * nb / n;
    z->m2[i] += m2b + delta * delta * na * nb / n;
  }
  z->count = n;
  sp_normalizer_refresh(z);
}
