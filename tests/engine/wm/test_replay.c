// test_replay.c: the replay buffer (engine/wm/replay.c): windows keep steps in order and never
// cross an episode end, the ring overwrites the oldest entries, sampling is seeded, covers every
// valid start, and neither push nor sample allocates; with history each action row carries the
// action before it (within its episode, held).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/wm/replay.h"
#include "test.h"

// transition t: s = (t, -t), a = (10 t), s_next = (t + 0.5, -t)
static void push(sp_replay* r, int t, int end) {
  double s[2] = {t, -t}, a = 10 * t, s1[2] = {t + 0.5, -t};
  sp_replay_push(r, s, &a, s1, end);
}

TEST(windows_are_consecutive_and_end_with_the_last_next_state) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 10), 0);
  for (int t = 0; t < 6; t++) push(r, t, 0);
  double S[4 * 2], A[3];
  CHECK_INT(sp_replay_window(r, S, A, 2, 3), 0);
  const double want_S[8] = {2, -2, 3, -3, 4, -4, 4.5, -4}, want_A[3] = {20, 30, 40};
  for (int i = 0; i < 8; i++) CHECK_CLOSE(S[i], want_S[i], 0, 0);
  for (int i = 0; i < 3; i++) CHECK_CLOSE(A[i], want_A[i], 0, 0);
  CHECK_INT(sp_replay_window(r, S, A, 4, 3), SP_ERANGE);  // runs past the newest entry
  sp_replay_free(r);
}

TEST(windows_never_cross_an_episode_end) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 20), 0);
  for (int t = 0; t < 10; t++) push(r, t, t == 4);  // episodes 0..4 and 5..9
  CHECK(sp_replay_valid(r, 2, 3));                  // 2, 3, 4: ends with the episode
  CHECK(!sp_replay_valid(r, 3, 3));                 // 3, 4 | 5
  CHECK(sp_replay_valid(r, 5, 5));
  sp_rng g;
  sp_rng_seed(&g, 1, 0);
  double S[64 * 4 * 2], A[64 * 3];
  int64_t starts[64];
  int seen[10] = {0};
  for (int rep = 0; rep < 10; rep++) {
    CHECK_INT(sp_replay_sample(r, &g, S, A, starts, 64, 3), 0);
    for (int b = 0; b < 64; b++) {
      CHECK(sp_replay_valid(r, starts[b], 3));
      CHECK_CLOSE(S[b * 8], (double)starts[b], 0, 0);  // entry i holds transition i
      seen[starts[b]]++;
    }
  }
  // every valid start (0, 1, 2, 5, 6, 7) is drawn, no invalid one
  const int valid[10] = {1, 1, 1, 0, 0, 1, 1, 1, 0, 0};
  for (int i = 0; i < 10; i++) CHECK(valid[i] ? seen[i] > 50 : seen[i] == 0);
  // windows longer than any episode do not exist
  CHECK_INT(sp_replay_sample(r, &g, S, A, starts, 1, 6), SP_ENOTFOUND);
  sp_replay_free(r);
}

TEST(with_history_each_action_row_carries_the_action_before_it_within_its_episode) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 6), 0);
  CHECK_INT(sp_replay_set_history(r, 2), SP_EINVAL);
  CHECK_INT(sp_replay_set_history(r, 1), 0);
  for (int t = 0; t < 8; t++) push(r, t, t == 4);  // episodes ..4 and 5..; entries 0..5 = t 2..7
  double S[4 * 2], A[3 * 2];
  // entry 1 (t 3): before it t 2, held and in its episode
  CHECK_INT(sp_replay_window(r, S, A, 1, 2), 0);
  const double want1[4] = {30, 20, 40, 30};
  for (int i = 0; i < 4; i++) CHECK_CLOSE(A[i], want1[i], 0, 0);
  // entry 3 (t 5) starts an episode: its own action stands for the one before
  CHECK_INT(sp_replay_window(r, S, A, 3, 3), 0);
  const double want3[6] = {50, 50, 60, 50, 70, 60};
  for (int i = 0; i < 6; i++) CHECK_CLOSE(A[i], want3[i], 0, 0);
  // entry 0 (t 2): t 1 was overwritten, so its own again
  CHECK_INT(sp_replay_window(r, S, A, 0, 1), 0);
  CHECK_CLOSE(A[1], 20, 0, 0);
  // sampled windows have the same rows
  sp_rng g;
  sp_rng_seed(&g, 3, 0);
  double SS[16 * 3 * 2], AA[16 * 2 * 2];
  int64_t starts[16];
  CHECK_INT(sp_replay_sample(r, &g, SS, AA, starts, 16, 2), 0);
  for (int b = 0; b < 16; b++) {
    double t0 = SS[b * 6];
    CHECK_CLOSE(AA[b * 4], 10 * t0, 0, 0);
    CHECK_CLOSE(AA[b * 4 + 1], t0 == 5 || starts[b] == 0 ? 10 * t0 : 10 * (t0 - 1), 0, 0);
    CHECK_CLOSE(AA[b * 4 + 3], 10 * t0, 0, 0);
  }
  sp_replay_free(r);
}

TEST(a_full_ring_overwrites_the_oldest_entries) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 5), 0);
  for (int t = 0; t < 12; t++) push(r, t, 0);
  CHECK_INT(r->size, 5);
  CHECK_INT(r->pushed, 12);
  double S[6 * 2], A[5];
  CHECK_INT(sp_replay_window(r, S, A, 0, 5), 0);
  for (int k = 0; k < 5; k++) CHECK_CLOSE(S[2 * k], 7 + k, 0, 0);  // 7..11 remain
  CHECK_CLOSE(S[10], 11.5, 0, 0);
  sp_replay_clear(r);
  CHECK_INT(r->size, 0);
  sp_replay_free(r);
}

TEST(same_seed_same_windows_and_no_allocation) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 100), 0);
  sp_rng g1, g2;
  sp_rng_seed(&g1, 9, 0);
  sp_rng_seed(&g2, 9, 0);
  double S1[16 * 9 * 2], A1[16 * 8], S2[16 * 9 * 2], A2[16 * 8];
  uint64_t before = sp_alloc_count();
  for (int t = 0; t < 300; t++) push(r, t, t % 50 == 49);
  CHECK_INT(sp_replay_sample(r, &g1, S1, A1, NULL, 16, 8), 0);
  CHECK_INT(sp_replay_sample(r, &g2, S2, A2, NULL, 16, 8), 0);
  CHECK_INT(sp_alloc_count() - before, 0);
  CHECK(memcmp(S1, S2, sizeof S1) == 0);
  CHECK(memcmp(A1, A2, sizeof A1) == 0);
  sp_replay_free(r);
}

TEST(files_restore_the_entries_counters_and_generator) {
  sp_replay* r;
  CHECK_INT(sp_replay_new(&r, 2, 1, 8), 0);
  for (int t = 0; t < 11; t++) push(r, t, t == 6);  // wrapped: entries 3..10
  sp_rng g;
  sp_rng_seed(&g, 4, 0);
  sp_rng_normal(&g);  // a spare normal is part of the state
  char path[64], msg[200];
  snprintf(path, sizeof path, "/tmp/spinal_replay_%d.bin", (int)getpid());
  CHECK_INT(sp_replay_save(r, &g, path, msg, sizeof msg), 0);
  sp_replay* back;
  CHECK_INT(sp_replay_new(&back, 2, 1, 20), 0);
  sp_rng g2;
  sp_rng_seed(&g2, 0, 0);
  CHECK_INT(sp_replay_load(back, &g2, path, msg, sizeof msg), 0);
  CHECK_INT(back->size, 8);
  CHECK_INT(back->pushed, 11);
  double S1[4 * 2], A1[3], S2[4 * 2], A2[3];
  int64_t i1, i2;
  CHECK_INT(sp_replay_sample(r, &g, S1, A1, &i1, 1, 3), 0);
  CHECK_INT(sp_replay_sample(back, &g2, S2, A2, &i2, 1, 3), 0);
  CHECK_INT(i1, i2);
  CHECK(memcmp(S1, S2, sizeof S1) == 0);
  CHECK(!sp_replay_valid(back, 3, 2));  // the episode end (transition 6) survived
  // a smaller buffer keeps the newest entries
  sp_replay* small;
  CHECK_INT(sp_replay_new(&small, 2, 1, 3), 0);
  CHECK_INT(sp_replay_load(small, NULL, path, msg, sizeof msg), 0);
  double S[2 * 2], A[1];
  CHECK_INT(sp_replay_window(small, S, A, 0, 1), 0);
  CHECK_CLOSE(S[0], 8, 0, 0);
  // another shape is refused and nothing changes
  sp_replay* other;
  CHECK_INT(sp_replay_new(&other, 3, 1, 5), 0);
  CHECK_INT(sp_replay_load(other, NULL, path, msg, sizeof msg), SP_EMISMATCH);
  CHECK(strstr(msg, ": transitions of nx 2, nu 1 in the file, nx 3, nu 1 in the buffer"));
  CHECK_INT(other->size, 0);
  // a corrupt file is refused
  FILE* f = fopen(path, "r+b");
  fseek(f, 40, SEEK_SET);
  fputc(0x5a, f);
  fclose(f);
  CHECK_INT(sp_replay_load(back, NULL, path, msg, sizeof msg), SP_ECHECKSUM);
  CHECK(strstr(msg, ": checksum mismatch: the file is corrupt"));
  unlink(path);
  sp_replay_free(other);
  sp_replay_free(small);
  sp_replay_free(back);
  sp_replay_free(r);
}

TEST_MAIN()
