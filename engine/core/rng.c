// rng.c: xoshiro256** with splitmix64 seeding (https://prng.di.unimi.it/), polar-method normals.
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void sp_rng_seed(sp_rng* r, uint64_t seed, uint64_t stream) {
  // mix the stream into the seed through one splitmix round so nearby streams differ everywhere
  uint64_t x = seed;
  uint64_t mixed = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&mixed);
  r->has_spare = 0;
  r->spare = 0;
}

uint64_t sp_rng_next(sp_rng* r) {
  uint64_t* s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double sp_rng_uniform(sp_rng* r) {
  return (double)(sp_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sp_rng_below(sp_rng* r, uint64_t n) {
  // rejection on the top of the range removes modulo bias
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = sp_rng_next(r);
  while (x >= limit);
  return x % n;
}

double sp_rng_normal(sp_rng* r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * sp_rng_uniform(r) - 1.0;
    v = 2.0 * sp_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double m = sqrt(-2.0 * log(s) / s);
  r->spare = v * m;
  r->has_spare = 1;
  return u * m;
}

void sp_rng_fill_uniform(sp_rng* r, double* out, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * sp_rng_uniform(r);
}

void sp_rng_fill_normal(sp_rng* r, double* out, size_t n, double mu, double sigma) {
  for (size_t i = 0; i < n; i++) out[i] = mu + sigma * sp_rng_normal(r);
}
