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

// Known answers. The expected values come from an independent implementation of the published
// algorithms (xoshiro256** and splitmix64, Blackman and Vigna) with rng.c's seeding rule, not from
// running rng.c: they pin the promise that a seed gives the same numbers on every machine.
TEST(xoshiro256starstar_from_state_1_2_3_4_gives_the_published_first_outputs) {
  sp_rng r = {.s = {1, 2, 3, 4}};
  CHECK(sp_rng_next(&r) == 11520u);
  CHECK(sp_rng_next(&r) == 0u);
  CHECK(sp_rng_next(&r) == 1509978240u);
  CHECK(sp_rng_next(&r) == 1215971899390074240u);
}

TEST(seed_42_gives_the_same_first_outputs_on_every_machine) {
  static const uint64_t want[2][4] = {
      {0xb87d55476bc46e06u, 0xfa9163840a0ffb5eu, 0x573e6885eb026b30u, 0xd6ca0d94acdc66b7u},
      {0x7e4b507769d7cb88u, 0x72b2edef7631b466u, 0x5ae8bf7394b8297bu, 0x53d3a73d573ffa79u},
  };
  for (int stream = 0; stream < 2; stream++) {
    sp_rng r;
    sp_rng_seed(&r, 42, (uint64_t)stream);
    for (int i = 0; i < 4; i++) {
      uint64_t got = sp_rng_next(&r);
      if (got != want[stream][i])
        SP_FAIL_("seed 42 stream %d output %d: got 0x%016llx, want 0x%016llx", stream, i,
                 (unsigned long long)got, (unsigned long long)want[stream][i]);
    }
  }
}

TEST(seed_42_uniforms_and_seed_7_integers_are_pinned_exactly) {
  sp_rng r;
  sp_rng_seed(&r, 42, 0);
  CHECK(sp_rng_uniform(&r) == 0.7206624316566078);
  CHECK(sp_rng_uniform(&r) == 0.9787809560166919);
  CHECK(sp_rng_uniform(&r) == 0.34079602498514705);
  static const int below[8] = {7, 1, 7, 4, 2, 5, 3, 8};
  sp_rng_seed(&r, 7, 0);
  for (int i = 0; i < 8; i++) CHECK_INT(sp_rng_below(&r, 10), below[i]);
}

// normals go through libm's log and sqrt, which may differ in the last bit between C libraries
TEST(seed_42_normals_are_pinned_to_the_last_bits) {
  static const double want[4] = {-0.4569449164275077, 0.973051915348695, 0.836973315292692,
                                 2.234002973799183};
  sp_rng r;
  sp_rng_seed(&r, 42, 0);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(sp_rng_normal(&r), want[i], 4e-16, 0);
}

TEST_MAIN()
