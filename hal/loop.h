// loop.h: the control loop: read -> act -> safety -> write -> log, lockstep or real time.
//
// Lockstep mode ticks in the calling thread as fast as possible in simulated time, t = k / rate
// (experiments, tests). Real-time mode ticks on a dedicated pthread at a fixed rate (up to 1 kHz)
// woken by absolute deadlines (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), so errors do not
// accumulate), under SCHED_FIFO when asked and permitted; it records wake-up jitter, the actual
// period, overruns (a tick finished after the next deadline; the missed deadlines are skipped,
// not bunched) and the time spent in plant read and write. A second thread drains the log ring.
//
// Each tick: read the plant; call the policy act(user, u, x, t, k) on the state (C only: the
// real-time thread never calls Lua); filter through sp_safety; write; push (k, t, x, u, flags) to
// the log ring. Nothing in a tick allocates, locks or blocks.
//
// Other threads talk to a running loop only through a command queue (lock-free on the consumer
// side; producers serialise on a mutex that the control thread never takes): hold/resume, stop,
// e-stop, and parameter swaps. Parameters are double-buffered: sp_loop_set_params fills the back
// buffer and queues a swap, which the control thread applies between two ticks, so the policy
// never sees a half-written vector. Inside act, sp_loop_params gives the current buffer.
#ifndef SP_HAL_LOOP_H
#define SP_HAL_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "hal/hal.h"
#include "hal/log.h"
#include "hal/safety.h"

SP_API_BEGIN

typedef struct sp_loop sp_loop;

// The policy: write the command u (nu) for state x (nx) at loop time t (s), tick k. Return 0, or
// non-zero on failure (the safety filter then sends the safe command).
typedef int (*sp_act_fn)(void* user, double* u, const double* x, double t, long k);

typedef enum sp_loop_mode { SP_LOOP_LOCKSTEP = 0, SP_LOOP_REALTIME = 1 } sp_loop_mode;

typedef struct sp_loop_config {
  sp_loop_mode mode;
  double rate_hz;         // ticks per second; 0: the plant's rate
  sp_act_fn act;          // required
  void* user;             // passed to act
  size_t log_capacity;    // log ring slots; 0: two seconds of ticks, at least 4096
  int stop_on_fault;      // 1: stop after the tick that sent the safe command for a fault
  int start_held;         // 1: start held (safe command, policy not called) until resumed
  int rt_priority;        // > 0: ask for SCHED_FIFO at this priority (falls back if refused)
  int nparams;            // size of the double-buffered parameter vector (0: none)
  const double* params;   // (nparams) initial parameters, may be NULL (zeros)
  const char* robot;      // name for trajectory metadata; NULL: the plant's
  int record_on_request;  // real time: 1: the log keeps samples only while a recording asked by
                          // sp_loop_record runs (a live loop may run for hours); 0: keep all
  int pin_cpu;            // real time: k > 0: run the control thread on CPU k - 1 only; 0: any
} sp_loop_config;

typedef struct sp_loop_stats {
  uint64_t ticks;          // ticks run since the last start/run
  uint64_t overruns;       // ticks that finished after the next deadline
  uint64_t missed;         // deadlines skipped because of overruns
  uint64_t faults;         // ticks that sent the safe command because of a fault
  uint64_t log_overflows;  // samples the log ring dropped (must stay 0)
  int sched_fifo;          // 1 when the control thread runs under SCHED_FIFO
  // real time only, microseconds: wake-up latency after the deadline, and the actual period
  double jitter_mean_us, jitter_p50_us, jitter_p99_us, jitter_max_us;
  double period_min_us, period_mean_us, period_max_us;
  double read_mean_us, read_max_us, write_mean_us, write_max_us;
  double tick_mean_us, tick_max_us;  // whole tick: read, act, safety, write, log
} sp_loop_stats;

// What a rollout recorded. Row i of x is the state the policy saw at tick i; row n is the state
// read after the last command. Arrays are owned (sp_traj_free).
typedef struct sp_traj {
  long n;  // ticks recorded
  int nx, nu;
  double* t;             // (n + 1) loop time of each tick, then of the final read
  double* x;             // (n + 1 x nx)
  double* u;             // (n x nu) commands actually sent (after safety)
  uint32_t* flags;       // (n) SP_FLAG_*
  long* k;               // (n) tick indices (a gap means a sample was lost: see lost)
  uint64_t lost;         // samples the log ring dropped during the rollout
  double dt;             // nominal tick period (s)
  uint64_t seed;         // seed the plant was given
  uint64_t params_hash;  // FNV-1a of the parameter vector at the start
  char robot[64], backend[32];
} sp_traj;

typedef struct sp_rollout_opts {
  long steps;  // ticks to run; if 0, seconds * rate (rounded)
  double seconds;
  const double* x0;  // (nx) initial state for the plant's reset; NULL: its default
  uint64_t seed;     // passed to sp_plant_seed before the reset
} sp_rollout_opts;

// Build a loop over a configured plant and a safety filter (both borrowed: they must outlive the
// loop, and their sizes must agree). msg names the problem on failure.
int sp_loop_new(sp_loop** out, sp_plant* plant, sp_safety* safety, const sp_loop_config* c,
                char* msg, size_t msglen);
// Stops a running loop first. Safe on NULL.
void sp_loop_free(sp_loop* l);

// Lockstep: run steps ticks in the calling thread (activating the plant if needed), continuing
// tick numbering and time from the previous run. Returns 0, or SP_ESTATE if the loop is running in
// real time, or the plant's error if it could not be activated.
int sp_loop_run(sp_loop* l, long steps);

// Real time: start the control and log threads; steps > 0 stops after that many ticks, 0 runs
// until sp_loop_stop. SP_ESTATE if already running or the loop is in lockstep mode.
int sp_loop_start(sp_loop* l, long steps);
// Ask the loop to stop at the next tick boundary and join its threads (waits). The plant gets the
// safe command once more as the thread exits. Safe to call when not running.
int sp_loop_stop(sp_loop* l);
// Wait for a loop started with steps > 0 (or stopped by a fault) to end, and join its threads.
int sp_loop_wait(sp_loop* l);
int sp_loop_running(const sp_loop* l);

// Run a rollout from a fresh start: seed and reset the plant, reset the safety filter and the
// log, run (in this thread or in real time, by the loop's mode) and collect the trajectory.
// A rollout longer than sp_loop_max_steps is refused before it starts (SP_ERANGE).
int sp_loop_rollout(sp_loop* l, sp_traj* out, const sp_rollout_opts* o);
// The longest rollout this machine's memory allows for nx states and nu actions: a quarter of
// physical memory over what one tick costs (its log entry, the trajectory and a caller's copy).
long sp_loop_max_steps(int nx, int nu);
void sp_traj_free(sp_traj* tr);

// Commands from any thread; applied by the control thread at the next tick boundary.
int sp_loop_hold(sp_loop* l);    // send the safe command, stop calling the policy
int sp_loop_resume(sp_loop* l);  // call the policy again
int sp_loop_estop(sp_loop* l);   // latch the safety filter's e-stop (immediately)
// Copy p (n == nparams) into the back buffer and queue the swap. Waits (non-RT side only) until
// a previous swap has been applied; SP_ETIMEOUT if the loop does not take it within 1 s.
int sp_loop_set_params(sp_loop* l, const double* p, int n);
// For the policy, inside act: the current parameters (nparams), stable for the whole tick.
const double* sp_loop_params(const sp_loop* l);
// Reset the plant to x0 (nx; NULL: its default) at the next tick boundary and wait (non-RT side,
// up to 1 s) for the plant's answer: 0, SP_EUNSUPPORTED (a real robot), SP_ETIMEOUT. Calls the
// plant directly when the loop is not running. The plant's clock may restart at a reset: the loop
// offsets later timestamps so the watchdog still sees every new state as new.
int sp_loop_reset_plant(sp_loop* l, const double* x0);

// Recording on request (cfg.record_on_request, real time). The log thread owns the log's arrays
// while a recording runs; they belong to the caller again once it is done.
typedef enum sp_loop_rec {
  SP_LOOP_REC_IDLE = 0,       // nothing recorded; samples are dropped as they are drained
  SP_LOOP_REC_REQUESTED = 1,  // asked, not yet started by the log thread
  SP_LOOP_REC_RECORDING = 2,  // every tick is kept
  SP_LOOP_REC_STOPPING = 3,   // asked to stop
  SP_LOOP_REC_DONE = 4,       // complete: sp_loop_log's arrays hold the recording
} sp_loop_rec;
// Start recording the next ticks (0: until sp_loop_record_stop). Drops a finished recording not
// yet released. SP_ESTATE unless a real-time loop with record_on_request is running.
int sp_loop_record(sp_loop* l, long ticks);
// Finish the recording now (waits up to 1 s for the log thread); then the log's arrays are the
// caller's until sp_loop_record_release. 0, or SP_ENOTFOUND when nothing was recorded.
int sp_loop_record_stop(sp_loop* l);
// The recording state and the samples kept so far (any thread).
sp_loop_rec sp_loop_record_state(const sp_loop* l, long* count);
// Hand the arrays back (the recording is forgotten; state idle).
void sp_loop_record_release(sp_loop* l);

void sp_loop_stats_get(const sp_loop* l, sp_loop_stats* out);

// The latest tick as a consistent snapshot, from any thread without disturbing the loop (a
// seqlock: the control thread never waits; a reader retries while a tick is being published).
// x (nx), u (nu), t, k, flags may each be NULL. SP_ENOTFOUND before the first tick, SP_ETIMEOUT if
// no consistent snapshot could be taken (practically never).
int sp_loop_latest(const sp_loop* l, double* x, double* u, double* t, long* k, uint32_t* flags);
// The loop's log. Its arrays are complete after sp_loop_run returns or after sp_loop_stop/wait;
// while a real-time loop runs, its log thread is the consumer and they must not be touched.
sp_log* sp_loop_log(sp_loop* l);

SP_API_END

#endif  // SP_HAL_LOOP_H
