// test_rng.c: reproducibility, stream independence and moments of engine/core/rng.c.
#include "engine/core/rng.h"
#include "test.h"

TEST(same_seed_and_stream_repeat_exactly) {
  sp_rng a, b;
  sp_rng_seed(&a, 42, 3);
  sp_rng_seed(&b, 42, 3);
  for (int i = 0; i < 1000; i++) CHECK(sp_rng_next(&a) == sp_rng_next(&b));
}

TEST(different_streams_are_uncorrelated) {
  sp_rng a, b;
  sp_rng_seed(&a, 42, 0);
  sp_rng_seed(&b, 42, 1);
  double sab = 0;
  int n = 100000, equal = 0;
  for (int i = 0; i < n; i++) {
    double x = sp_rng_normal(&a), y = sp_rng_normal(&b);
    sab += x * y;
    equal += x == y;
  }
  CHECK_INT(equal, 0);
  CHECK(fabs(sab / n) < 5.0 / sqrt(n));  // 5 standard errors
}

TEST(uniform_lies_in_unit_interval_with_mean_one_half) {
  sp_rng r;
  sp_rng_seed(&r, 7, 0);
  double s = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) {
    double u = sp_rng_uniform(&r);
    CHECK(u >= 0.0 && u < 1.0);
    s += u;
  }
  CHECK(fabs(s / n - 0.5) < 5.0 * sqrt(1.0 / 12.0 / n));
}

TEST(normal_has_zero_mean_and_unit_variance) {
  sp_rng r;
  sp_rng_seed(&r, 11, 5);
  double s = 0, s2 = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) {
    double x = sp_rng_normal(&r);
    s += x;
    s2 += x * x;
  }
  CHECK(fabs(s / n) < 5.0 / sqrt(n));
  CHECK(fabs(s2 / n - 1.0) < 5.0 * sqrt(2.0 / n));
}

TEST(below_is_in_range_and_covers_every_value) {
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  int seen[7] = {0};
  for (int i = 0; i < 7000; i++) {
    uint64_t k = sp_rng_below(&r, 7);
    CHECK(k < 7);
    seen[k]++;
  }
  for (int k = 0; k < 7; k++) CHECK(seen[k] > 800 && seen[k] < 1200);
}

TEST_MAIN()
