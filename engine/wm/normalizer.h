// normalizer.h: running per-dimension mean and standard deviation, for network inputs and outputs.
//
// Statistics merge batches exactly (Chan, Golub and LeVeque 1979, the pairwise update of mean and
// sum of squared deviations M2), so feeding the data at once or in any split gives the same values
// up to rounding. The scale used is sigma = max(sqrt(M2 / count), min_std), 1 before any data, so a
// constant dimension maps to 0 instead of dividing by zero. The storage belongs to the caller
// (3 n doubles: mean, M2, scale), so an object that owns normalisers carves them from its own
// allocation; nothing here allocates.
#ifndef SP_WM_NORMALIZER_H
#define SP_WM_NORMALIZER_H

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_normalizer {
  int n;           // dimensions
  double count;    // samples seen
  double min_std;  // floor of the scale, > 0
  double* mean;    // (n)
  double* m2;      // (n) sum of squared deviations from the mean
  double* scale;   // (n) sigma, recomputed by every update
} sp_normalizer;

// Set up over storage (3 n doubles), empty (mean 0, scale 1).
void sp_normalizer_init(sp_normalizer* z, int n, double* storage, double min_std);
// Forget the statistics (mean 0, scale 1, count 0).
void sp_normalizer_reset(sp_normalizer* z);
// Merge rows x (count x n, row stride ld >= n) into the statistics.
void sp_normalizer_update(sp_normalizer* z, const double* x, int count, int ld);
// Recompute scale from count, M2 and min_std (after statistics were set directly, e.g. loaded).
void sp_normalizer_refresh(sp_normalizer* z);

SP_API_END

#endif  // SP_WM_NORMALIZER_H
