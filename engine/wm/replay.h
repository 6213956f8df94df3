// replay.h: a fixed-capacity replay buffer of transitions, sampled as windows of n consecutive
// steps.
//
// Each entry is one transition (s (nx), a (nu), s_next (nx)) with an end flag saying that the
// next transition pushed does not continue from s_next (an episode ended, the plant was reset).
// When full, a push overwrites the oldest entry (a ring). A window of n steps starts at an entry
// and takes the n entries pushed after it in order, none of the first n - 1 ending an episode; it
// gives the states S (n + 1 rows: s of each entry, then s_next of the last) and actions A (n rows),
// the input of sp_wm_rollout_loss. With history (sp_replay_set_history) each of A's rows is
// [a_k, a_k-1], a_k-1 the action of the entry pushed before (a_k itself where the entry starts
// an episode or the one before it is no longer held): the action inputs of a world model with
// history 1, from the same entries (nothing more is stored). Sampling draws windows uniformly over
// the valid starts by rejection from the seeded generator. Only sp_replay_new allocates.
#ifndef SP_WM_REPLAY_H
#define SP_WM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/core/rng.h"

SP_API_BEGIN

typedef struct sp_replay {
  int nx, nu;
  int history;         // earlier actions in a window's rows: 0 or 1 (A has nu (1 + history))
  int64_t capacity;    // entries
  int64_t size;        // entries held, <= capacity
  int64_t head;        // where the next push goes
  int64_t pushed;      // pushes since creation
  double* s;           // (capacity x nx)
  double* a;           // (capacity x nu)
  double* s_next;      // (capacity x nx)
  unsigned char* end;  // (capacity)
} sp_replay;

int sp_replay_new(sp_replay** out, int nx, int nu, int64_t capacity);
void sp_replay_free(sp_replay* r);
// Forget every entry (capacity kept).
void sp_replay_clear(sp_replay* r);

// Windows' actions with (1) or without (0) the action before each: SP_EINVAL for other values.
int sp_replay_set_history(sp_replay* r, int history);

// Append one transition; end = 1 when the episode ends with it.
void sp_replay_push(sp_replay* r, const double* s, const double* a, const double* s_next, int end);

// Whether the window of n steps starting at entry i (0 = oldest held) is valid.
int sp_replay_valid(const sp_replay* r, int64_t i, int n);

// batch windows of n steps: S (batch x (n + 1) x nx), A (batch x n x nu (1 + history)), starts
// (batch, may be NULL) the entries they start at. SP_ENOTFOUND when no valid window turned up in 64
// draws per row (too little data, or episodes shorter than n); SP_EINVAL for n < 1 or batch < 1.
int sp_replay_sample(const sp_replay* r, sp_rng* rng, double* S, double* A, int64_t* starts,
                     int batch, int n);

// The window starting at entry i (as a sample of one); SP_ERANGE when it is not valid.
int sp_replay_window(const sp_replay* r, double* S, double* A, int64_t i, int n);

// Save every entry (oldest first), the counters and the generator state rng (may be NULL) to path:
//   "SPREPLAY" u32 version (1) u32 nx u32 nu u32 has_rng u64 size u64 pushed
//   size x (s (nx f64), a (nu f64), s_next (nx f64)), size end flags (u8), rng state (4 u64,
//   f64 spare, u32 has_spare) when has_rng, u32 CRC-32; little-endian, written atomically.
int sp_replay_save(const sp_replay* r, const sp_rng* rng, const char* path, char* msg,
                   size_t msg_size);
// Load into r (same nx and nu, else SP_EMISMATCH; a smaller capacity keeps the newest entries) and,
// when the file holds one and rng is not NULL, the generator state. Nothing changes on failure.
int sp_replay_load(sp_replay* r, sp_rng* rng, const char* path, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_WM_REPLAY_H
