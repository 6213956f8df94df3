// rng.h: seeded, reproducible random numbers with independent streams.
//
// xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64 from a (seed, stream) pair,
// so sp_rng_seed(r, 42, 0) and sp_rng_seed(r, 42, 1) give independent sequences that are the same
// on every run and machine. Normals use the Marsaglia polar method. No allocation; the state is a
// plain struct the caller owns.
#ifndef SP_CORE_RNG_H
#define SP_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_rng {
  uint64_t s[4];  // xoshiro256** state
  double spare;   // second normal from the last polar draw
  int has_spare;
} sp_rng;

// Seed from a user seed and a stream index; different streams are statistically independent.
void sp_rng_seed(sp_rng* r, uint64_t seed, uint64_t stream);

uint64_t sp_rng_next(sp_rng* r);               // 64 random bits
double sp_rng_uniform(sp_rng* r);              // [0, 1), 53 bits of precision
double sp_rng_normal(sp_rng* r);               // standard normal
uint64_t sp_rng_below(sp_rng* r, uint64_t n);  // uniform integer in [0, n), unbiased; n > 0

// Fill out (n) with uniform values in [lo, hi) or normal values with mean mu and std sigma.
void sp_rng_fill_uniform(sp_rng* r, double* out, size_t n, double lo, double hi);
void sp_rng_fill_normal(sp_rng* r, double* out, size_t n, double mu, double sigma);

SP_API_END

#endif  // SP_CORE_RNG_H
