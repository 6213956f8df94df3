// log.h: lock-free recording of control ticks: a preallocated single-producer/single-consumer ring
// written by the control thread, drained by another thread into growing arrays, saved as NPY + CSV.
//
// One sample per tick: tick index k, time t (s), flags (SP_FLAG_*), state x (nx), command u (nu).
// The producer (sp_log_push) never locks, blocks or allocates: when the ring is full the sample is
// dropped and counted (sp_log_overflows), never silently. The consumer (sp_log_drain) may allocate
// as the arrays grow. The ring is the classic SPSC queue (Lamport 1983) with C11 acquire/release
// on the two indices. Exactly one thread may push and one (possibly other) thread may drain at a
// time; the arrays belong to the consumer side.
#ifndef SP_HAL_LOG_H
#define SP_HAL_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_log sp_log;

// capacity: ring slots (rounded up to a power of two, >= 2).
int sp_log_new(sp_log** out, int nx, int nu, size_t capacity);
void sp_log_free(sp_log* g);

// Names for the CSV header (borrowed, must outlive the log); NULL: x0.., u0...
void sp_log_set_names(sp_log* g, const char* const* x_names, const char* const* u_names);

// Producer side (control thread). 0, or SP_ERANGE when the ring was full (the sample is counted
// as an overflow and dropped). x (nx) and u (nu) may be NULL (recorded as NaN).
int sp_log_push(sp_log* g, long k, double t, const double* x, const double* u, uint32_t flags);

// Consumer side. Move every sample in the ring to the arrays; returns the number moved (>= 0) or
// SP_ENOMEM (samples then stay in the ring).
long sp_log_drain(sp_log* g);
// Samples in the arrays, and the arrays themselves (valid until the next drain or clear).
long sp_log_count(const sp_log* g);
const long* sp_log_k(const sp_log* g);          // (count)
const double* sp_log_t(const sp_log* g);        // (count)
const uint32_t* sp_log_flags(const sp_log* g);  // (count)
const double* sp_log_x(const sp_log* g);        // (count x nx)
const double* sp_log_u(const sp_log* g);        // (count x nu)
// Forget the drained samples (the ring and the overflow count are untouched).
void sp_log_clear(sp_log* g);
// Consumer side: keep only the first n drained samples (no-op when there are fewer).
void sp_log_truncate(sp_log* g, long n);
// Consumer side: drop every sample waiting in the ring without storing it (the arrays are not
// touched); returns the number dropped. For a consumer that is not recording.
long sp_log_discard(sp_log* g);

// Samples waiting in the ring (either side; exact on the consumer side).
size_t sp_log_pending(const sp_log* g);

// Any thread: samples dropped because the ring was full, samples pushed in total, ring capacity.
uint64_t sp_log_overflows(const sp_log* g);
uint64_t sp_log_pushed(const sp_log* g);
size_t sp_log_capacity(const sp_log* g);

// Consumer side: write dir/k.npy, t.npy, flags.npy (n), x.npy (n x nx), u.npy (n x nu) (all
// float64) and dir/log.csv (header k,t,flags,<x names>,<u names>). dir is created if missing.
int sp_log_save(const sp_log* g, const char* dir, char* msg, size_t msglen);

SP_API_END

#endif  // SP_HAL_LOG_H
