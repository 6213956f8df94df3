// test_gait_clock.c: the running gait clock (engine/ctrl/gait_parts.h, sp_gait_clock): with fixed
// settings it is sp_gait_phase bit for bit; a new period keeps the phase continuous; a new gait is
// blended in over the given cycles without a leg's phase jumping, every intermediate pattern a
// four-beat walk, and it ends exactly on the new gait's pattern; a restart snaps to it.
#include <math.h>

#include "engine/ctrl/gait.h"
#include "engine/ctrl/gait_parts.h"
#include "test.h"

// a leg's phase in cycles, in [0, 1), from the clock
static double leg_phase(const sp_gait_clock* c, int leg) {
  double ph = c->phase + 1 - c->off[leg];
  return ph - floor(ph);
}

TEST(with_fixed_settings_the_clock_is_the_schedule_bit_for_bit) {
  for (int gait = 0; gait < 3; gait++) {
    sp_gait_clock c = {0};
    double t0 = 1.234;
    for (int i = 0; i < 3000; i++) {
      double t = t0 + 0.001 * i;
      sp_gait_clock_update(&c, gait, 0.3, 0.6, 1, t, t0);
      for (int l = 0; l < 4; l++) {
        double s1, s2;
        int a = sp_gait_clock_leg(&c, l, &s1), b = sp_gait_phase(gait, l, 0.3, 0.6, t - t0, &s2);
        CHECK_INT(a, b);
        CHECK(s1 == s2);
      }
    }
  }
}

TEST(a_new_period_changes_the_rate_not_the_phase) {
  sp_gait_clock c = {0};
  sp_gait_clock_update(&c, SP_GAIT_TROT, 0.3, 0.6, 1, 0, 0);
  sp_gait_clock_update(&c, SP_GAIT_TROT, 0.3, 0.6, 1, 0.45, 0);
  double before = c.phase;
  CHECK(fabs(before - 1.5) < 1e-12);
  sp_gait_clock_update(&c, SP_GAIT_TROT, 0.5, 0.6, 1, 0.45, 0);
  CHECK(c.phase == before);
  sp_gait_clock_update(&c, SP_GAIT_TROT, 0.5, 0.6, 1, 0.55, 0);
  CHECK(fabs(c.phase - (before + 0.1 / 0.5)) < 1e-12);
}

// every ordered pair of gaits: no phase jumps, phases never run backwards or more than
// 1.75 x fast, the intermediate offsets keep the legs a quarter cycle apart at mid-blend, and the
// new gait's pattern is exact once the blend is over
TEST(a_new_gait_is_blended_in_smoothly_and_ends_on_its_pattern) {
  for (int from = 0; from < 3; from++)
    for (int to = 0; to < 3; to++) {
      if (from == to) continue;
      sp_gait_clock c = {0};
      double dt = 0.001, period = 0.3, blend = 2, t_switch = 0.6;
      double prev[4] = {0}, rate_min = 1e9, rate_max = 0;
      int mid_checked = 0;
      for (int i = 0; i <= 3000; i++) {
        double t = i * dt;
        sp_gait_clock_update(&c, t < t_switch ? from : to, period, 0.6, blend, t, 0);
        for (int l = 0; l < 4; l++) {
          double ph = leg_phase(&c, l);
          if (i > 0) {
            double d = ph - prev[l];
            d -= floor(d + 0.5);
            double rate = d / (dt / period);  // cycles per nominal cycle
            if (rate < rate_min) rate_min = rate;
            if (rate > rate_max) rate_max = rate;
          }
          prev[l] = ph;
        }
        double u = (c.phase - t_switch / period) / blend;
        if (!mid_checked && u >= 0.5) {  // mid-blend: four distinct phases a quarter apart
          mid_checked = 1;
          double o[4];
          for (int l = 0; l < 4; l++) o[l] = c.off[l] - floor(c.off[l]);
          for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++) {
              double d = fabs(o[a] - o[b]);
              d = fmin(d, 1 - d);
              CHECK(d > 0.25 - 0.02);
            }
        }
      }
      CHECK(mid_checked);
      // the smooth step's steepest slope is 3/2: 0.5 cycle over 2 cycles moves a phase rate by
      // at most 3/8
      CHECK(rate_min > 1 - 0.375 - 1e-6 && rate_max < 1 + 0.375 + 1e-6);
      // after the blend (cycles 2 to 4 of 10): exactly the new gait's relative offsets
      CHECK(c.blend == 0);
      for (int l = 0; l < 4; l++) {
        double d = (c.off[l] - c.off[0]) - (sp_gait_offset(to, l) - sp_gait_offset(to, 0));
        CHECK(fabs(d - floor(d + 0.5)) < 1e-12);
      }
      CHECK(c.gait == to);
    }
}

TEST(zero_blend_switches_at_once_and_a_restart_snaps_to_the_gait) {
  sp_gait_clock c = {0};
  sp_gait_clock_update(&c, SP_GAIT_TROT, 0.3, 0.6, 0, 0, 0);
  sp_gait_clock_update(&c, SP_GAIT_PACE, 0.3, 0.6, 0, 0.1, 0);
  for (int l = 0; l < 4; l++) {
    double d = c.off[l] - sp_gait_offset(SP_GAIT_PACE, l);
    CHECK(fabs(d - floor(d + 0.5)) < 1e-12);
  }
  // a blend under way, then a new start time: the new gait's offsets exactly, phase 0
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.6, 2, 0.2, 0);
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.6, 2, 0.3, 0);
  CHECK(c.blend > 0);
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.6, 2, 0.5, 0.5);
  CHECK(c.phase == 0 && c.blend == 0);
  for (int l = 0; l < 4; l++) CHECK(c.off[l] == sp_gait_offset(SP_GAIT_BOUND, l));
  // a duty change blends too, ending on the new duty
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.7, 1, 0.6, 0.5);
  CHECK(c.duty == 0.6);  // the blend starts here
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.7, 1, 0.75, 0.5);
  CHECK(c.duty > 0.6 && c.duty < 0.7);
  sp_gait_clock_update(&c, SP_GAIT_BOUND, 0.3, 0.7, 1, 1.0, 0.5);
  CHECK(c.duty == 0.7);
}

TEST_MAIN()
