// loop.c: the control loop (see loop.h): one tick function shared by the lockstep and real-time
// drivers, a command queue, double-buffered parameters, statistics and rollouts.
//
// Real-time pacing follows the usual cyclic-executive pattern for Linux (e.g. the PREEMPT_RT
// "cyclictest" tool): absolute deadlines t0 + k T on CLOCK_MONOTONIC slept to with
// clock_nanosleep(TIMER_ABSTIME); on an overrun the missed deadlines are skipped and counted.
#define _GNU_SOURCE  // cpu_set_t and sched_setaffinity, for pin_cpu
#include "hal/loop.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define QUEUE_CAP 64  // power of two
#define HIST_US 2000  // jitter histogram: 1 us buckets, the last one collects everything above

enum { CMD_HOLD = 1, CMD_RESUME = 2, CMD_PARAMS = 3, CMD_RESET = 4 };

typedef atomic_uint_fast64_t counter;

struct sp_loop {
  sp_plant* plant;
  int plant_safe;  // the plant's own safe behaviour is on (sp_plant_safe): a fault's ticks
  sp_safety* safety;
  sp_log* log;
  sp_loop_config cfg;
  int nx, nu, np;
  double dt;
  int64_t period_ns;
  char robot[64];

  // one allocation: x, x_last, x_final, x_reset (nx), u_pol, u_out (nu), params[0], params[1] (np)
  double* mem;
  double *x, *x_last, *x_final, *x_reset, *u_pol, *u_out, *params[2];

  // plant resets at a tick boundary, and the timestamp offset that keeps the plant clock rising
  int reset_has_x0;
  atomic_int reset_pending, reset_rc;
  int64_t ts_offset, ts_seen;

  // recording on request: state (sp_loop_rec), ticks wanted (0: open-ended), samples kept
  atomic_int rec_state;
  atomic_long rec_want, rec_count;

  // control-thread state
  int have_state, held, have_final;
  long k;          // next tick index
  double t_next;   // loop time of the next tick
  double t_final;  // time of the final read

  // command queue: many producers serialised by q_lock, one lock-free consumer (the control side)
  int q[QUEUE_CAP];
  atomic_size_t q_head, q_tail;
  pthread_mutex_t q_lock;
  atomic_int front, swap_pending;

  // threads
  pthread_t ctl_thread, log_thread;
  int threads_live;  // managed by the owning thread only
  long rt_steps;
  atomic_int running, stop_flag, log_stop, sched_fifo;

  // statistics, written by the control thread only
  counter ticks, overruns, missed, faults;
  counter jit_sum, jit_max, per_sum, per_n, per_min, per_max;
  counter rd_sum, rd_max, wr_sum, wr_max, tk_sum, tk_max;
  atomic_uint_fast32_t hist[HIST_US + 1];

  // latest tick for readers on other threads: a seqlock over 64-bit words
  // [k, t, flags, x (nx), u (nu)] stored as bit patterns
  counter latest_seq;
  counter* latest;
};

// ---- small helpers ----------------------------------------------------------------------------

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns) {
  struct timespec ts = {.tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static uint64_t ld(counter* c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}
static void st(counter* c, uint64_t v) {
  atomic_store_explicit(c, v, memory_order_relaxed);
}
static void add(counter* c, uint64_t v) {
  st(c, ld(c) + v);
}
static void maxv(counter* c, uint64_t v) {
  if (v > ld(c)) st(c, v);
}

static uint64_t fnv1a(const void* data, size_t n) {
  const unsigned char* p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void reset_stats(sp_loop* l) {
  counter* all[] = {&l->ticks,   &l->overruns, &l->missed, &l->faults,  &l->jit_sum,
                    &l->jit_max, &l->per_sum,  &l->per_n,  &l->per_max, &l->rd_sum,
                    &l->rd_max,  &l->wr_sum,   &l->wr_max, &l->tk_sum,  &l->tk_max};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st(all[i], 0);
  st(&l->per_min, UINT64_MAX);
  for (int i = 0; i <= HIST_US; i++) atomic_store_explicit(&l->hist[i], 0, memory_order_relaxed);
}

// ---- construction -----------------------------------------------------------------------------

int sp_loop_new(sp_loop** out, sp_plant* plant, sp_safety* safety, const sp_loop_config* c,
                char* msg, size_t msglen) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!plant || !safety || !c)
    return sp_errorf(msg, msglen, SP_EINVAL,
                     "loop: plant, safety "
                     "and config are required");
  if (plant->state != SP_PLANT_CONFIGURED && plant->state != SP_PLANT_ACTIVE)
    return sp_errorf(msg, msglen, SP_ESTATE, "loop: plant is %s, expected configured or active",
                     sp_plant_state_name(plant->state));
  if (!c->act) return sp_errorf(msg, msglen, SP_EINVAL, "loop: act callback is required");
  const sp_plant_caps* caps = sp_plant_capabilities(plant);
  double rate = c->rate_hz > 0 ? c->rate_hz : caps->rate_hz;
  if (!(rate > 0) || rate > 100000)
    return sp_errorf(msg, msglen, SP_EINVAL, "loop: rate must be in (0, 100000] Hz, got %g", rate);
  if (c->mode != SP_LOOP_LOCKSTEP && c->mode != SP_LOOP_REALTIME)
    return sp_errorf(msg, msglen, SP_EINVAL, "loop: unknown mode %d", (int)c->mode);
  if (c->nparams < 0) return sp_errorf(msg, msglen, SP_EINVAL, "loop: nparams < 0");

  sp_loop* l = sp_calloc(1, sizeof *l);
  if (!l) return sp_errorf(msg, msglen, SP_ENOMEM, "loop: out of memory");
  l->plant = plant;
  l->safety = safety;
  l->cfg = *c;
  l->nx = caps->nx;
  l->nu = caps->nu;
  l->np = c->nparams;
  l->dt = 1.0 / rate;
  l->period_ns = (int64_t)llround(1e9 / rate);
  snprintf(l->robot, sizeof l->robot, "%s", c->robot ? c->robot : caps->robot);
  size_t nd = 4 * (size_t)l->nx + 2 * (size_t)l->nu + 2 * (size_t)l->np;
  l->mem = sp_calloc(nd ? nd : 1, sizeof(double));
  size_t cap = c->log_capacity ? c->log_capacity : (size_t)fmax(4096, 2 * rate);
  l->latest = sp_calloc(3 + (size_t)l->nx + (size_t)l->nu, sizeof(counter));
  int rc = l->mem && l->latest ? sp_log_new(&l->log, l->nx, l->nu, cap) : SP_ENOMEM;
  if (rc) {
    sp_free(l->latest);
    sp_free(l->mem);
    sp_free(l);
    return sp_errorf(msg, msglen, rc, "loop: cannot allocate (log of %zu samples)", cap);
  }
  sp_log_set_names(l->log, caps->x_names, caps->u_names);
  double* d = l->mem;
  l->x = d;
  l->x_last = d + l->nx;
  l->x_final = d + 2 * l->nx;
  l->x_reset = d + 3 * l->nx;
  l->u_pol = d + 4 * l->nx;
  l->u_out = l->u_pol + l->nu;
  l->params[0] = l->u_out + l->nu;
  l->params[1] = l->params[0] + l->np;
  if (c->params && l->np) memcpy(l->params[0], c->params, (size_t)l->np * sizeof(double));
  l->held = c->start_held;
  pthread_mutex_init(&l->q_lock, NULL);
  atomic_init(&l->q_head, 0);
  atomic_init(&l->q_tail, 0);
  atomic_init(&l->front, 0);
  atomic_init(&l->swap_pending, 0);
  atomic_init(&l->running, 0);
  atomic_init(&l->stop_flag, 0);
  atomic_init(&l->log_stop, 0);
  atomic_init(&l->sched_fifo, 0);
  atomic_init(&l->latest_seq, 0);
  atomic_init(&l->reset_pending, 0);
  atomic_init(&l->reset_rc, 0);
  atomic_init(&l->rec_state, SP_LOOP_REC_IDLE);
  atomic_init(&l->rec_want, 0);
  atomic_init(&l->rec_count, 0);
  reset_stats(l);
  *out = l;
  return 0;
}

void sp_loop_free(sp_loop* l) {
  if (!l) return;
  sp_loop_stop(l);
  pthread_mutex_destroy(&l->q_lock);
  sp_log_free(l->log);
  sp_free(l->latest);
  sp_free(l->mem);
  sp_free(l);
}

// ---- command queue ----------------------------------------------------------------------------

// reset the plant (control thread, or any thread while stopped); a plant clock that restarts is
// offset past the last timestamp seen, so the next state still counts as new
static void do_reset(sp_loop* l) {
  int rc = sp_plant_reset(l->plant, l->reset_has_x0 ? l->x_reset : NULL);
  if (!rc) l->ts_offset = l->ts_seen + 1;
  atomic_store_explicit(&l->reset_rc, rc, memory_order_relaxed);
  atomic_store_explicit(&l->reset_pending, 0, memory_order_release);
}

static int push_cmd(sp_loop* l, int cmd) {
  pthread_mutex_lock(&l->q_lock);
  size_t h = atomic_load_explicit(&l->q_head, memory_order_relaxed);
  size_t t = atomic_load_explicit(&l->q_tail, memory_order_acquire);
  int rc = SP_ERANGE;
  if (h - t < QUEUE_CAP) {
    l->q[h & (QUEUE_CAP - 1)] = cmd;
    atomic_store_explicit(&l->q_head, h + 1, memory_order_release);
    rc = 0;
  }
  pthread_mutex_unlock(&l->q_lock);
  return rc;
}

// control side: apply every queued command (a tick boundary)
static void apply_cmds(sp_loop* l) {
  size_t t = atomic_load_explicit(&l->q_tail, memory_order_relaxed);
  size_t h = atomic_load_explicit(&l->q_head, memory_order_acquire);
  for (; t != h; t++) {
    switch (l->q[t & (QUEUE_CAP - 1)]) {
      case CMD_HOLD:
        l->held = 1;
        break;
      case CMD_RESUME:
        l->held = 0;
        break;
      case CMD_PARAMS:
        atomic_store_explicit(&l->front, 1 - atomic_load(&l->front), memory_order_release);
        atomic_store_explicit(&l->swap_pending, 0, memory_order_release);
        break;
      case CMD_RESET:
        do_reset(l);
        break;
    }
  }
  atomic_store_explicit(&l->q_tail, t, memory_order_release);
}

int sp_loop_hold(sp_loop* l) {
  return push_cmd(l, CMD_HOLD);
}
int sp_loop_resume(sp_loop* l) {
  return push_cmd(l, CMD_RESUME);
}

int sp_loop_estop(sp_loop* l) {
  sp_safety_estop(l->safety);
  return 0;
}

int sp_loop_set_params(sp_loop* l, const double* p, int n) {
  if (!l || n != l->np || (n && !p)) return SP_EINVAL;
  if (!atomic_load(&l->running)) {
    memcpy(l->params[atomic_load(&l->front)], p, (size_t)n * sizeof(double));
    return 0;
  }
  // wait (non-RT side) until the previous swap has been taken
  for (int i = 0; atomic_load_explicit(&l->swap_pending, memory_order_acquire); i++) {
    if (i == 20000) return SP_ETIMEOUT;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  int back = 1 - atomic_load_explicit(&l->front, memory_order_acquire);
  memcpy(l->params[back], p, (size_t)n * sizeof(double));
  atomic_store_explicit(&l->swap_pending, 1, memory_order_release);
  int rc = push_cmd(l, CMD_PARAMS);
  if (rc) atomic_store(&l->swap_pending, 0);
  return rc;
}

// wait (non-RT side, up to 1 s) until *flag drops to 0; SP_ETIMEOUT otherwise
static int wait_clear(atomic_int* flag) {
  for (int i = 0; atomic_load_explicit(flag, memory_order_acquire); i++) {
    if (i == 20000) return SP_ETIMEOUT;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

int sp_loop_reset_plant(sp_loop* l, const double* x0) {
  if (!l) return SP_EINVAL;
  int rc = wait_clear(&l->reset_pending);
  if (rc) return rc;
  if (x0) memcpy(l->x_reset, x0, (size_t)l->nx * sizeof(double));
  l->reset_has_x0 = x0 != NULL;
  if (!atomic_load(&l->running)) {
    do_reset(l);
  } else {
    atomic_store_explicit(&l->reset_pending, 1, memory_order_release);
    if ((rc = push_cmd(l, CMD_RESET))) {
      atomic_store(&l->reset_pending, 0);
      return rc;
    }
    // a loop that stops meanwhile never takes the command: do it here once it has stopped
    for (int i = 0; atomic_load_explicit(&l->reset_pending, memory_order_acquire); i++) {
      if (!atomic_load(&l->running)) {
        do_reset(l);
        break;
      }
      if (i == 20000) return SP_ETIMEOUT;
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    }
  }
  return atomic_load(&l->reset_rc);
}

const double* sp_loop_params(const sp_loop* l) {
  return l->params[atomic_load_explicit(&((sp_loop*)l)->front, memory_order_acquire)];
}

// ---- latest sample (seqlock) ------------------------------------------------------------------

static uint64_t bits(double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  return v;
}

static double from_bits(uint64_t v) {
  double d;
  memcpy(&d, &v, 8);
  return d;
}

static void pub(counter* c, uint64_t v) {
  atomic_store_explicit(c, v, memory_order_release);
}
static uint64_t sub(counter* c) {
  return atomic_load_explicit(c, memory_order_acquire);
}

// writer (control thread): odd sequence while writing, even when done
static void publish_latest(sp_loop* l, double t, uint32_t flags) {
  // release stores keep the odd sequence number ahead of the data (Boehm 2012, "Can seqlocks get
  // along with programming language memory models?"), without fences
  uint64_t s = ld(&l->latest_seq);
  atomic_store_explicit(&l->latest_seq, s + 1, memory_order_relaxed);
  counter* w = l->latest;
  pub(&w[0], (uint64_t)l->k);
  pub(&w[1], bits(t));
  pub(&w[2], flags);
  for (int i = 0; i < l->nx; i++) pub(&w[3 + i], bits(l->have_state ? l->x_last[i] : NAN));
  for (int i = 0; i < l->nu; i++) pub(&w[3 + l->nx + i], bits(l->u_out[i]));
  atomic_store_explicit(&l->latest_seq, s + 2, memory_order_release);
}

int sp_loop_latest(const sp_loop* lc, double* x, double* u, double* t, long* k, uint32_t* flags) {
  if (!lc) return SP_EINVAL;
  sp_loop* l = (sp_loop*)lc;
  counter* w = l->latest;
  for (int tries = 0; tries < 100000; tries++) {
    uint64_t s1 = atomic_load_explicit(&l->latest_seq, memory_order_acquire);
    if (s1 == 0) return SP_ENOTFOUND;
    if (s1 & 1) continue;
    // acquire loads keep the second sequence read after the data
    if (k) *k = (long)sub(&w[0]);
    if (t) *t = from_bits(sub(&w[1]));
    if (flags) *flags = (uint32_t)sub(&w[2]);
    for (int i = 0; x && i < l->nx; i++) x[i] = from_bits(sub(&w[3 + i]));
    for (int i = 0; u && i < l->nu; i++) u[i] = from_bits(sub(&w[3 + l->nx + i]));
    if (atomic_load_explicit(&l->latest_seq, memory_order_relaxed) == s1) return 0;
  }
  return SP_ETIMEOUT;
}

// ---- one tick ---------------------------------------------------------------------------------

// read -> act -> safety -> write -> log at loop time t; extra: flags from the driver (LATE).
// Returns 1 when the loop must stop after this tick (fault with stop_on_fault).
static int tick(sp_loop* l, double t, uint32_t extra) {
  apply_cmds(l);
  int64_t t0 = now_ns();

  // read
  int64_t ts = 0;
  uint32_t status = 0;
  int rrc = sp_plant_read(l->plant, l->x, &ts, &status);
  int64_t t1 = now_ns();
  ts += l->ts_offset;
  if (!rrc && ts > l->ts_seen) l->ts_seen = ts;
  if (!rrc) {
    memcpy(l->x_last, l->x, (size_t)l->nx * sizeof(double));
    l->have_state = 1;
  }
  // a robot that reports its e-stop latched latches ours too (docs/protocol.md): this tick
  // already sends the safe command, and it stays latched until cleared here
  if (!rrc && (status & SP_FLAG_PLANT_ESTOP)) sp_safety_estop(l->safety);

  // act, unless held or no state has ever arrived
  int hold = l->held || !l->have_state;
  int perr = 0;
  if (!hold) perr = l->cfg.act(l->cfg.user, l->u_pol, l->x_last, t, l->k) != 0;

  // safety
  sp_safety_input in = {.t = t,
                        .x = rrc ? NULL : l->x,
                        .t_state_ns = ts,
                        .u = (hold || perr) ? NULL : l->u_pol,
                        .policy_error = perr,
                        .hold = hold};
  sp_safety_result r = sp_safety_tick(l->safety, l->u_out, &in);
  // a fault (not a hold) also turns on the plant's own safe behaviour, e.g. a legged robot's
  // low-level controller sitting down; plants without one ignore it
  int safe = r.cause != SP_CAUSE_NONE;
  if (safe != l->plant_safe) {
    sp_plant_safe(l->plant, safe);
    l->plant_safe = safe;
  }
  int64_t t2 = now_ns();

  // write
  int wrc = sp_plant_write(l->plant, l->u_out);
  int64_t t3 = now_ns();

  // flags and log
  uint32_t flags = r.flags | extra | (status & 0xFF0000u);
  if (!l->held) flags &= ~(uint32_t)SP_FLAG_HELD;
  if (!r.state_new) flags |= SP_FLAG_DROPPED;
  if (wrc) flags |= SP_FLAG_WRITE_ERROR;
  sp_log_push(l->log, l->k, t, l->have_state ? l->x_last : NULL, l->u_out, flags);
  publish_latest(l, t, flags);
  int64_t t4 = now_ns();

  // statistics
  add(&l->ticks, 1);
  if (r.cause != SP_CAUSE_NONE) add(&l->faults, 1);
  add(&l->rd_sum, (uint64_t)(t1 - t0));
  maxv(&l->rd_max, (uint64_t)(t1 - t0));
  add(&l->wr_sum, (uint64_t)(t3 - t2));
  maxv(&l->wr_max, (uint64_t)(t3 - t2));
  add(&l->tk_sum, (uint64_t)(t4 - t0));
  maxv(&l->tk_max, (uint64_t)(t4 - t0));

  l->k++;
  return r.cause != SP_CAUSE_NONE && l->cfg.stop_on_fault;
}

// the state after the last command, for rollouts
static void final_read(sp_loop* l, double t) {
  int64_t ts;
  uint32_t status;
  l->have_final = sp_plant_read(l->plant, l->x_final, &ts, &status) == 0;
  l->t_final = t;
}

static int ensure_active(sp_loop* l) {
  if (l->plant->state == SP_PLANT_ACTIVE) return 0;
  if (l->plant->state != SP_PLANT_CONFIGURED) return SP_ESTATE;
  return sp_plant_activate(l->plant);
}

// ---- lockstep driver --------------------------------------------------------------------------

int sp_loop_run(sp_loop* l, long steps) {
  if (!l || steps < 0) return SP_EINVAL;
  if (l->cfg.mode != SP_LOOP_LOCKSTEP || l->threads_live) return SP_ESTATE;
  int rc = ensure_active(l);
  if (rc) return rc;
  atomic_store(&l->running, 1);
  for (long i = 0; i < steps; i++) {
    // this thread is also the log's consumer: make room when the ring is full
    if (sp_log_pending(l->log) == sp_log_capacity(l->log)) sp_log_drain(l->log);
    double t = l->t_next;
    l->t_next = (double)(l->k + 1) * l->dt;
    if (tick(l, t, 0)) break;
  }
  final_read(l, l->t_next);
  atomic_store(&l->running, 0);
  return sp_log_drain(l->log) < 0 ? SP_ENOMEM : 0;
}

// ---- real-time driver -------------------------------------------------------------------------

static void* ctl_main(void* arg) {
  sp_loop* l = arg;
  if (l->cfg.pin_cpu > 0 && l->cfg.pin_cpu <= CPU_SETSIZE) {
    // best effort: a CPU that is not ours leaves the thread where it is
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(l->cfg.pin_cpu - 1, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  int64_t period = l->period_ns;
  int64_t t0 = now_ns() + period;  // first deadline one period from now
  double t_base = l->t_next;
  int64_t deadline = t0, prev_wake = 0;
  uint32_t late = 0;
  long done = 0;
  while (!atomic_load(&l->stop_flag) && (l->rt_steps == 0 || done < l->rt_steps)) {
    sleep_until(deadline);
    int64_t wake = now_ns();

    // wake-up latency and actual period
    uint64_t jit = wake > deadline ? (uint64_t)(wake - deadline) : 0;
    add(&l->jit_sum, jit);
    maxv(&l->jit_max, jit);
    uint64_t b = jit / 1000 < HIST_US ? jit / 1000 : HIST_US;
    atomic_store_explicit(&l->hist[b], atomic_load_explicit(&l->hist[b], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (prev_wake) {
      uint64_t per = (uint64_t)(wake - prev_wake);
      add(&l->per_sum, per);
      add(&l->per_n, 1);
      maxv(&l->per_max, per);
      if (per < ld(&l->per_min)) st(&l->per_min, per);
    }
    prev_wake = wake;

    double t = t_base + (double)(wake - t0) * 1e-9;
    int stop = tick(l, t, late);
    done++;
    l->t_next = t + l->dt;
    if (stop) break;

    // next deadline; an overrun skips the deadlines already passed
    deadline += period;
    late = 0;
    int64_t end = now_ns();
    if (end > deadline) {
      int64_t skip = (end - deadline) / period + 1;
      add(&l->overruns, 1);
      add(&l->missed, (uint64_t)skip);
      deadline += skip * period;
      late = SP_FLAG_LATE;
    }
  }
  final_read(l, t_base + (double)(now_ns() - t0) * 1e-9);
  // leaving the loop: the plant holds the safe command
  sp_plant_write(l->plant, sp_safety_safe_command(l->safety));
  atomic_store(&l->running, 0);
  return NULL;
}

// one pass of the log consumer in record-on-request mode; final: the loop has stopped
static void record_step(sp_loop* l, int final) {
  sp_log* g = l->log;
  int st = atomic_load_explicit(&l->rec_state, memory_order_acquire);
  if (st == SP_LOOP_REC_REQUESTED) {
    // start from the ticks after the request: older ones are dropped
    sp_log_discard(g);
    sp_log_clear(g);
    atomic_store(&l->rec_count, 0);
    st = SP_LOOP_REC_RECORDING;
    atomic_store_explicit(&l->rec_state, st, memory_order_release);
  }
  if (st != SP_LOOP_REC_RECORDING && st != SP_LOOP_REC_STOPPING) {
    sp_log_discard(g);
    return;
  }
  sp_log_drain(g);
  long want = atomic_load(&l->rec_want);
  if (want > 0) sp_log_truncate(g, want);
  atomic_store(&l->rec_count, sp_log_count(g));
  if (st == SP_LOOP_REC_STOPPING || final || (want > 0 && sp_log_count(g) >= want))
    atomic_store_explicit(&l->rec_state, SP_LOOP_REC_DONE, memory_order_release);
}

static void* log_main(void* arg) {
  sp_loop* l = arg;
  int rec = l->cfg.record_on_request;
  while (!atomic_load(&l->log_stop)) {
    if (rec)
      record_step(l, 0);
    else
      sp_log_drain(l->log);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  if (rec)
    record_step(l, 1);
  else
    sp_log_drain(l->log);
  return NULL;
}

int sp_loop_record(sp_loop* l, long ticks) {
  if (!l || ticks < 0) return SP_EINVAL;
  if (!l->cfg.record_on_request || l->cfg.mode != SP_LOOP_REALTIME || !l->threads_live ||
      !atomic_load(&l->running))
    return SP_ESTATE;
  int st = atomic_load(&l->rec_state);
  if (st == SP_LOOP_REC_REQUESTED || st == SP_LOOP_REC_RECORDING || st == SP_LOOP_REC_STOPPING)
    return SP_ESTATE;
  atomic_store(&l->rec_want, ticks);
  atomic_store(&l->rec_count, 0);
  atomic_store_explicit(&l->rec_state, SP_LOOP_REC_REQUESTED, memory_order_release);
  return 0;
}

int sp_loop_record_stop(sp_loop* l) {
  if (!l) return SP_EINVAL;
  int st = atomic_load(&l->rec_state);
  if (st == SP_LOOP_REC_IDLE) return SP_ENOTFOUND;
  if (st == SP_LOOP_REC_DONE) return 0;
  if (!l->threads_live) {
    // no log thread: whatever was recorded is final (the exiting log thread drained it)
    atomic_store(&l->rec_state, SP_LOOP_REC_DONE);
    return 0;
  }
  int want = st;
  if (st == SP_LOOP_REC_REQUESTED || st == SP_LOOP_REC_RECORDING)
    atomic_compare_exchange_strong(&l->rec_state, &want, SP_LOOP_REC_STOPPING);
  for (int i = 0; atomic_load_explicit(&l->rec_state, memory_order_acquire) != SP_LOOP_REC_DONE;
       i++) {
    if (i == 20000) return SP_ETIMEOUT;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

sp_loop_rec sp_loop_record_state(const sp_loop* lc, long* count) {
  sp_loop* l = (sp_loop*)lc;
  if (count) *count = atomic_load(&l->rec_count);
  return (sp_loop_rec)atomic_load_explicit(&l->rec_state, memory_order_acquire);
}

void sp_loop_record_release(sp_loop* l) {
  if (!l) return;
  int st = SP_LOOP_REC_DONE;
  if (atomic_compare_exchange_strong(&l->rec_state, &st, SP_LOOP_REC_IDLE))
    atomic_store(&l->rec_count, 0);
}

static int start_threads(sp_loop* l, long steps);

static int start_ctl_thread(sp_loop* l) {
  if (l->cfg.rt_priority > 0) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    struct sched_param sp = {.sched_priority = l->cfg.rt_priority};
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_FIFO);
    pthread_attr_setschedparam(&a, &sp);
    int rc = pthread_create(&l->ctl_thread, &a, ctl_main, l);
    pthread_attr_destroy(&a);
    if (rc == 0) {
      atomic_store(&l->sched_fifo, 1);
      return 0;
    }
    // not permitted (no CAP_SYS_NICE / rtprio limit): run with normal scheduling
  }
  atomic_store(&l->sched_fifo, 0);
  return pthread_create(&l->ctl_thread, NULL, ctl_main, l) ? SP_EIO : 0;
}

int sp_loop_start(sp_loop* l, long steps) {
  if (!l || steps < 0) return SP_EINVAL;
  if (l->cfg.mode != SP_LOOP_REALTIME || l->threads_live) return SP_ESTATE;
  int rc = ensure_active(l);
  if (rc) return rc;
  // the loop's threads block every signal (they inherit this mask): a process-directed signal
  // such as SIGINT then reaches the caller's thread (the REPL) and never runs on the control thread
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rc = start_threads(l, steps);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

static int start_threads(sp_loop* l, long steps) {
  int rc;
  reset_stats(l);
  l->rt_steps = steps;
  atomic_store(&l->stop_flag, 0);
  atomic_store(&l->log_stop, 0);
  atomic_store(&l->running, 1);
  if (pthread_create(&l->log_thread, NULL, log_main, l)) {
    atomic_store(&l->running, 0);
    return SP_EIO;
  }
  if ((rc = start_ctl_thread(l))) {
    atomic_store(&l->running, 0);
    atomic_store(&l->log_stop, 1);
    pthread_join(l->log_thread, NULL);
    return rc;
  }
  l->threads_live = 1;
  return 0;
}

int sp_loop_wait(sp_loop* l) {
  if (!l) return SP_EINVAL;
  if (!l->threads_live) return 0;
  pthread_join(l->ctl_thread, NULL);
  atomic_store(&l->log_stop, 1);
  pthread_join(l->log_thread, NULL);
  l->threads_live = 0;
  return 0;
}

int sp_loop_stop(sp_loop* l) {
  if (!l) return SP_EINVAL;
  atomic_store(&l->stop_flag, 1);
  return sp_loop_wait(l);
}

int sp_loop_running(const sp_loop* l) {
  return atomic_load(&((sp_loop*)l)->running);
}

// ---- statistics -------------------------------------------------------------------------------

static double pct(sp_loop* l, double q, uint64_t n) {
  uint64_t want = (uint64_t)ceil(q * (double)n), cum = 0;
  for (int i = 0; i <= HIST_US; i++) {
    cum += atomic_load_explicit(&l->hist[i], memory_order_relaxed);
    if (cum >= want && cum > 0) return i + 1.0;  // upper edge of the bucket, us
  }
  return 0;
}

void sp_loop_stats_get(const sp_loop* lc, sp_loop_stats* o) {
  sp_loop* l = (sp_loop*)lc;
  memset(o, 0, sizeof *o);
  o->ticks = ld(&l->ticks);
  o->overruns = ld(&l->overruns);
  o->missed = ld(&l->missed);
  o->faults = ld(&l->faults);
  o->log_overflows = sp_log_overflows(l->log);
  o->sched_fifo = atomic_load(&l->sched_fifo);
  double n = o->ticks ? (double)o->ticks : 1.0;
  o->read_mean_us = (double)ld(&l->rd_sum) / n * 1e-3;
  o->read_max_us = (double)ld(&l->rd_max) * 1e-3;
  o->write_mean_us = (double)ld(&l->wr_sum) / n * 1e-3;
  o->write_max_us = (double)ld(&l->wr_max) * 1e-3;
  o->tick_mean_us = (double)ld(&l->tk_sum) / n * 1e-3;
  o->tick_max_us = (double)ld(&l->tk_max) * 1e-3;
  if (l->cfg.mode == SP_LOOP_REALTIME && o->ticks) {
    o->jitter_mean_us = (double)ld(&l->jit_sum) / n * 1e-3;
    o->jitter_max_us = (double)ld(&l->jit_max) * 1e-3;
    o->jitter_p50_us = pct(l, 0.5, o->ticks);
    o->jitter_p99_us = pct(l, 0.99, o->ticks);
    uint64_t pn = ld(&l->per_n);
    if (pn) {
      o->period_mean_us = (double)ld(&l->per_sum) / (double)pn * 1e-3;
      o->period_min_us = (double)ld(&l->per_min) * 1e-3;
      o->period_max_us = (double)ld(&l->per_max) * 1e-3;
    }
  }
}

sp_log* sp_loop_log(sp_loop* l) {
  return l->log;
}

// ---- rollouts ---------------------------------------------------------------------------------

void sp_traj_free(sp_traj* tr) {
  if (!tr) return;
  sp_free(tr->t);
  sp_free(tr->x);
  sp_free(tr->u);
  sp_free(tr->flags);
  sp_free(tr->k);
  memset(tr, 0, sizeof *tr);
}

long sp_loop_max_steps(int nx, int nu) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double mem = pages > 0 && page > 0 ? (double)pages * (double)page : 1e9;
  // three copies of (t, x, u) in doubles, plus the flags and tick index of each
  double tick = 3.0 * sizeof(double) * (1.0 + nx + nu) + sizeof(uint32_t) + 2 * sizeof(long);
  double n = mem / 4 / tick;
  return n > (double)LONG_MAX / 2 ? LONG_MAX / 2 : (long)n;
}

int sp_loop_rollout(sp_loop* l, sp_traj* out, const sp_rollout_opts* o) {
  if (!l || !out || !o) return SP_EINVAL;
  memset(out, 0, sizeof *out);
  if (l->threads_live || atomic_load(&l->running)) return SP_ESTATE;
  double want = o->steps > 0 ? (double)o->steps : o->seconds / l->dt;
  if (want > (double)sp_loop_max_steps(l->nx, l->nu)) return SP_ERANGE;
  long steps = o->steps > 0 ? o->steps : lround(want);
  if (steps <= 0) return SP_EINVAL;

  // a fresh start: plant seeded and reset, filter, clock and log cleared
  int rc = sp_plant_seed(l->plant, o->seed);
  if (rc) return rc;
  rc = sp_plant_reset(l->plant, o->x0);
  if (rc && !(rc == SP_EUNSUPPORTED && !o->x0)) return rc;
  l->k = 0;
  l->t_next = 0;
  l->have_state = 0;
  sp_safety_reset(l->safety, 0.0);
  if (sp_log_drain(l->log) < 0) return SP_ENOMEM;
  sp_log_clear(l->log);
  uint64_t lost0 = sp_log_overflows(l->log);
  uint64_t hash = fnv1a(sp_loop_params(l), (size_t)l->np * sizeof(double));

  if (l->cfg.mode == SP_LOOP_LOCKSTEP) {
    reset_stats(l);
    rc = sp_loop_run(l, steps);
  } else {
    rc = sp_loop_start(l, steps);
    if (!rc) rc = sp_loop_wait(l);
  }
  if (rc) return rc;

  // collect
  sp_log* g = l->log;
  long n = sp_log_count(g);
  int nx = l->nx, nu = l->nu;
  out->t = sp_malloc((size_t)(n + 1) * sizeof(double));
  out->x = sp_malloc((size_t)(n + 1) * (size_t)(nx ? nx : 1) * sizeof(double));
  out->u = sp_malloc((size_t)(n ? n : 1) * (size_t)(nu ? nu : 1) * sizeof(double));
  out->flags = sp_malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
  out->k = sp_malloc((size_t)(n ? n : 1) * sizeof(long));
  if (!out->t || !out->x || !out->u || !out->flags || !out->k) {
    sp_traj_free(out);
    return SP_ENOMEM;
  }
  out->n = n;
  out->nx = nx;
  out->nu = nu;
  memcpy(out->t, sp_log_t(g), (size_t)n * sizeof(double));
  memcpy(out->x, sp_log_x(g), (size_t)n * (size_t)nx * sizeof(double));
  memcpy(out->u, sp_log_u(g), (size_t)n * (size_t)nu * sizeof(double));
  memcpy(out->flags, sp_log_flags(g), (size_t)n * sizeof(uint32_t));
  memcpy(out->k, sp_log_k(g), (size_t)n * sizeof(long));
  out->t[n] = l->t_final;
  for (int i = 0; i < nx; i++) out->x[(size_t)n * nx + i] = l->have_final ? l->x_final[i] : NAN;
  out->lost = sp_log_overflows(g) - lost0;
  out->dt = l->dt;
  out->seed = o->seed;
  out->params_hash = hash;
  snprintf(out->robot, sizeof out->robot, "%s", l->robot);
  snprintf(out->backend, sizeof out->backend, "%s", l->plant->caps.backend);
  return 0;
}
