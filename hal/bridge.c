// bridge.c: the robot side of the HAL protocol over any plant (see bridge.h, docs/protocol.md).
//
// Who touches what: in realtime mode only the pacing thread touches the plant; in lockstep mode
// only the I/O thread does. The two threads share atomics only: the session flags (armed,
// tripped, estop), the time of the last command or heartbeat, and two seqlock slots (the latest
// command, I/O -> pacer; the latest state, pacer -> I/O, followed by uv_async_send).
#include "hal/bridge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define DEFAULT_WATCHDOG_NS 200000000LL
#define DEFAULT_WATCHDOG_MAX_NS 1000000000LL
#define TIMER_MS 1

typedef sp__counter counter;

struct sp_bridge {
  sp_plant* plant;
  int nx, nu, realtime, activated, reset_on_session;
  double rate_hz;
  int64_t period_ns, wd_cfg_ns, wd_max_ns, t0_ns;
  double u_safe[SP_PROTO_MAX_DIM], u[SP_PROTO_MAX_DIM], x[SP_PROTO_MAX_DIM];
  double lo[SP_PROTO_MAX_DIM], hi[SP_PROTO_MAX_DIM];  // command limits (for the counters)

  // the robot's own safety filter, on the thread that steps the plant
  sp_safety* filter;
  double u_out[SP_PROTO_MAX_DIM];
  int have_x;
  int64_t t_x;
  int plant_safe;       // the plant's own safe behaviour is on (e-stop or watchdog trip)
  sp_proto_hello conf;  // CONFIG template: name, sizes, names, rate

  // I/O thread
  uv_loop_t loop;
  uv_udp_t sock;
  uv_async_t wake;
  uv_timer_t timer;
  uv_thread_t thread;
  int port, session;
  uint64_t sent_gen;
  sp__udp_link link;
  sp_proto_msg msg;
  uint8_t rx[SP_PROTO_MAX_FRAME + 64];
  atomic_int stop_io;

  // pacing thread (realtime)
  pthread_t pacer;
  int pacer_live;
  atomic_int stop_pacer;

  // shared
  atomic_int armed, tripped, estop;
  counter wd_ns, last_feed_ns;
  counter cmd_seq, cmd_words[SP_PROTO_MAX_DIM];
  counter st_seq, st_gen, st_words[2 + SP_PROTO_MAX_DIM];
  counter steps, commands, safe_steps, sessions, trips, trip_silence_ns;
  counter rejected, limited, goodbyes, wd_asked_ms, resets;
  atomic_uint status;
};

static uint64_t ld(counter* c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}
static void put(counter* c, uint64_t v) {
  atomic_store_explicit(c, v, memory_order_relaxed);
}
static void inc(counter* c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

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

// seqlock writer and reader over n words (one writer thread per slot)
static void slot_write(counter* seq, counter* w, const uint64_t* v, int n) {
  uint64_t s = ld(seq);
  put(seq, s + 1);
  for (int i = 0; i < n; i++) atomic_store_explicit(&w[i], v[i], memory_order_release);
  atomic_store_explicit(seq, s + 2, memory_order_release);
}

static int slot_read(counter* seq, counter* w, uint64_t* v, int n) {
  for (int tries = 0; tries < 1000; tries++) {
    uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
    if (s1 & 1) continue;
    for (int i = 0; i < n; i++) v[i] = atomic_load_explicit(&w[i], memory_order_acquire);
    if (atomic_load_explicit(seq, memory_order_relaxed) == s1) return 1;
  }
  return 0;
}

// the status bits a STATE carries now
static uint32_t current_status(sp_bridge* b, uint32_t plant_status, uint32_t extra) {
  uint32_t s = ((plant_status >> 16) & 0xFFu) | extra;
  if (atomic_load(&b->estop)) s |= SP_PROTO_STATUS_ESTOP | SP_PROTO_STATUS_SAFE_STOP;
  if (atomic_load(&b->tripped)) s |= SP_PROTO_STATUS_WATCHDOG | SP_PROTO_STATUS_SAFE_STOP;
  if (!atomic_load(&b->armed)) s |= SP_PROTO_STATUS_SAFE_STOP;
  return s;
}

static int use_safe(sp_bridge* b) {
  return atomic_load(&b->estop) || atomic_load(&b->tripped) || !atomic_load(&b->armed);
}

// read the plant into b->x (the filter's safe behaviour acts on the last state read)
static int read_plant(sp_bridge* b, int64_t* t_ns, uint32_t* ps) {
  *t_ns = 0;
  *ps = 0;
  int rc = sp_plant_read(b->plant, b->x, t_ns, ps);
  if (!rc) {
    b->have_x = 1;
    b->t_x = *t_ns;
  }
  return rc;
}

// one plant step with u through the robot's safety filter (the safe command when not armed,
// tripped or e-stopped); reads the state into b->x. Returns the status.
static uint32_t step(sp_bridge* b, const double* u, int64_t* t_ns) {
  int safe = use_safe(b);
  sp_safety_input in = {.t = (double)(sp__now_ns() - b->t0_ns) * 1e-9,
                        .x = b->have_x ? b->x : NULL,
                        .t_state_ns = b->t_x,
                        .u = safe ? NULL : u,
                        .hold = safe};
  sp_safety_result r = sp_safety_tick(b->filter, b->u_out, &in);
  uint32_t extra = 0;
  if (!safe && r.cause != SP_CAUSE_NONE)
    extra |= SP_PROTO_STATUS_REJECTED | SP_PROTO_STATUS_SAFE_STOP;
  if (r.flags & (SP_FLAG_CLAMPED | SP_FLAG_RATE_LIMITED)) extra |= SP_PROTO_STATUS_LIMITED;
  // an e-stop or a watchdog trip (not a robot waiting for its first command) also turns on the
  // plant's own safe behaviour: a legged robot's low-level controller sits down
  int fault = atomic_load(&b->estop) || atomic_load(&b->tripped);
  if (fault != b->plant_safe) {
    sp_plant_safe(b->plant, fault);
    b->plant_safe = fault;
  }
  sp_plant_write(b->plant, b->u_out);
  inc(&b->steps);
  if (r.flags & SP_FLAG_SAFE) inc(&b->safe_steps);
  uint32_t ps;
  read_plant(b, t_ns, &ps);
  uint32_t s = current_status(b, ps, extra);
  atomic_store(&b->status, s);
  return s;
}

// ---- I/O thread ------------------------------------------------------------------------------

static void send_config(sp_bridge* b) {
  b->conf.watchdog_ms = (uint32_t)(ld(&b->wd_ns) / 1000000);
  sp__udp_link_send_hello(&b->link, SP_PROTO_CONFIG, &b->conf);
}

// lockstep: read the plant as it is and send it
static void send_current_state(sp_bridge* b) {
  int64_t t;
  uint32_t ps;
  read_plant(b, &t, &ps);
  uint32_t s = current_status(b, ps, 0);
  atomic_store(&b->status, s);
  sp__udp_link_send_state(&b->link, t, s, b->x, b->nx);
}

static void lockstep_step_and_reply(sp_bridge* b, const double* u) {
  int64_t t;
  uint32_t s = step(b, u, &t);
  sp__udp_link_send_state(&b->link, t, s, b->x, b->nx);
}

static void new_session(sp_bridge* b, const sp_proto_hello* hello) {
  // the host's request, bounded by the robot's limit (0xffffffff ms would switch it off)
  int64_t asked = hello->watchdog_ms ? (int64_t)hello->watchdog_ms * 1000000 : DEFAULT_WATCHDOG_NS;
  if (asked > b->wd_max_ns) asked = b->wd_max_ns;
  int64_t wd = b->wd_cfg_ns ? b->wd_cfg_ns : asked;
  put(&b->wd_asked_ms, hello->watchdog_ms);
  put(&b->wd_ns, (uint64_t)wd);
  atomic_store(&b->armed, 0);
  atomic_store(&b->tripped, 0);
  atomic_store(&b->estop, 0);
  b->session = 1;
  inc(&b->sessions);
}

// count a command the filter will reject (non-finite) or clamp (outside the limits)
static void count_command(sp_bridge* b, const double* u) {
  int bad = 0, out = 0;
  for (int i = 0; i < b->nu; i++) {
    if (!isfinite(u[i]))
      bad = 1;
    else if (u[i] < b->lo[i] || u[i] > b->hi[i])
      out = 1;
  }
  if (bad)
    inc(&b->rejected);
  else if (out)
    inc(&b->limited);
}

static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr,
                    unsigned flags) {
  sp_bridge* b = h->data;
  if (nread <= 0 || !addr) return;
  sp_proto_msg* m = &b->msg;
  int cls;
  int r = sp__udp_link_recv(&b->link, m, (const uint8_t*)buf->base, nread, addr, flags, 1, &cls);
  if (!r) return;
  int64_t now = sp__now_ns();
  switch (m->h.type) {
    case SP_PROTO_HELLO:
      // a new sender or a fresh HELLO starts a session; a repeat only gets its CONFIG again
      if (r == 2 || cls == SP_SEQ_FRESH) {
        new_session(b, &m->body.hello);
        // (lockstep: the plant is this thread's; its clock may restart, which the host's CONFIG
        // handling accepts: a new session may be a restarted robot)
        if (b->reset_on_session && sp_plant_reset(b->plant, NULL) == 0) inc(&b->resets);
      }
      sp__udp_link_accept(&b->link, m);
      send_config(b);
      if (!b->realtime) send_current_state(b);
      return;
    case SP_PROTO_COMMAND:
      if (!b->session || m->body.command.n != b->nu) {
        sp__udp_link_drop(&b->link, SP_UDP_DROP_UNEXPECTED);
        return;
      }
      sp__udp_link_accept(&b->link, m);
      inc(&b->commands);
      count_command(b, m->body.command.u);
      put(&b->last_feed_ns, (uint64_t)now);
      if (b->realtime) {  // the command first, so the pacer never applies an older one armed
        uint64_t w[SP_PROTO_MAX_DIM];
        for (int i = 0; i < b->nu; i++) w[i] = bits(m->body.command.u[i]);
        slot_write(&b->cmd_seq, b->cmd_words, w, b->nu);
      }
      if (!atomic_load(&b->tripped) && !atomic_load(&b->estop)) atomic_store(&b->armed, 1);
      if (!b->realtime) lockstep_step_and_reply(b, m->body.command.u);
      return;
    case SP_PROTO_HEARTBEAT:
      if (!b->session) {
        sp__udp_link_drop(&b->link, SP_UDP_DROP_UNEXPECTED);
        return;
      }
      sp__udp_link_accept(&b->link, m);
      put(&b->last_feed_ns, (uint64_t)now);
      return;
    case SP_PROTO_ESTOP:
      sp__udp_link_accept(&b->link, m);
      atomic_store(&b->estop, 1);
      if (!b->realtime && b->session) send_current_state(b);
      return;
    case SP_PROTO_GOODBYE:
      // the host leaves on purpose: the safe command, and no watchdog trip (session over)
      if (!b->session) {
        sp__udp_link_drop(&b->link, SP_UDP_DROP_UNEXPECTED);
        return;
      }
      sp__udp_link_accept(&b->link, m);
      atomic_store(&b->armed, 0);
      inc(&b->goodbyes);
      if (!b->realtime) lockstep_step_and_reply(b, b->u_safe);
      b->session = 0;
      return;
    default:  // CONFIG and STATE travel robot -> host only
      sp__udp_link_drop(&b->link, SP_UDP_DROP_UNEXPECTED);
      return;
  }
}

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  sp_bridge* b = h->data;
  *buf = uv_buf_init((char*)b->rx, sizeof b->rx);
}

static void on_closed(uv_handle_t* h) {}

static void close_handles(sp_bridge* b) {
  uv_udp_recv_stop(&b->sock);
  uv_close((uv_handle_t*)&b->sock, on_closed);
  uv_close((uv_handle_t*)&b->timer, on_closed);
  uv_close((uv_handle_t*)&b->wake, on_closed);
}

// the pacer published a state (or the owner asks to stop)
static void on_wake(uv_async_t* a) {
  sp_bridge* b = a->data;
  if (atomic_load(&b->stop_io)) {
    close_handles(b);
    return;
  }
  uint64_t gen = atomic_load_explicit(&b->st_gen, memory_order_acquire);
  if (gen == b->sent_gen || !b->session) return;
  uint64_t w[2 + SP_PROTO_MAX_DIM];
  if (!slot_read(&b->st_seq, b->st_words, w, 2 + b->nx)) return;
  b->sent_gen = gen;
  double x[SP_PROTO_MAX_DIM];
  for (int i = 0; i < b->nx; i++) x[i] = from_bits(w[2 + i]);
  sp__udp_link_send_state(&b->link, (int64_t)w[0], (uint32_t)w[1], x, b->nx);
}

// watchdog and heartbeats
static void on_timer(uv_timer_t* tm) {
  sp_bridge* b = tm->data;
  if (!b->session) return;
  int64_t now = sp__now_ns();
  int64_t wd = (int64_t)ld(&b->wd_ns);
  int64_t silence = now - (int64_t)ld(&b->last_feed_ns);
  if (atomic_load(&b->armed) && !atomic_load(&b->tripped) && silence > wd) {
    atomic_store(&b->tripped, 1);
    put(&b->trip_silence_ns, (uint64_t)silence);
    inc(&b->trips);
    if (!b->realtime) lockstep_step_and_reply(b, b->u_safe);  // the safe command, at once
  }
  if (sp__udp_link_idle_ns(&b->link, now) >= wd / 4) sp__udp_link_send_heartbeat(&b->link);
}

static void io_main(void* arg) {
  sp_bridge* b = arg;
  uv_run(&b->loop, UV_RUN_DEFAULT);
}

// ---- pacing thread ----------------------------------------------------------------------------

static void sleep_until(int64_t t_ns) {
  struct timespec ts = {.tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static void* pacer_main(void* arg) {
  sp_bridge* b = arg;
  int64_t deadline = sp__now_ns() + b->period_ns;
  uint64_t w[2 + SP_PROTO_MAX_DIM];
  while (!atomic_load(&b->stop_pacer)) {
    sleep_until(deadline);
    // the latest command (the previous one if a write is in progress)
    if (slot_read(&b->cmd_seq, b->cmd_words, w, b->nu))
      for (int i = 0; i < b->nu; i++) b->u[i] = from_bits(w[i]);
    int64_t t;
    uint32_t s = step(b, b->u, &t);
    w[0] = (uint64_t)t;
    w[1] = s;
    for (int i = 0; i < b->nx; i++) w[2 + i] = bits(b->x[i]);
    slot_write(&b->st_seq, b->st_words, w, 2 + b->nx);
    atomic_fetch_add_explicit(&b->st_gen, 1, memory_order_release);
    uv_async_send(&b->wake);

    // next deadline; an overrun skips the deadlines already passed
    deadline += b->period_ns;
    int64_t now = sp__now_ns();
    if (now > deadline) deadline += ((now - deadline) / b->period_ns + 1) * b->period_ns;
  }
  return NULL;
}

// ---- lifecycle --------------------------------------------------------------------------------

int sp_bridge_new(sp_bridge** out, sp_plant* plant, const sp_bridge_config* c, char* msg,
                  size_t msglen) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!plant || !c || !c->listen)
    return sp_errorf(msg, msglen, SP_EINVAL, "bridge: plant, config and listen address required");
  if (plant->state != SP_PLANT_CONFIGURED && plant->state != SP_PLANT_ACTIVE)
    return sp_errorf(msg, msglen, SP_ESTATE, "bridge: plant is %s, expected configured or active",
                     sp_plant_state_name(plant->state));
  const sp_plant_caps* caps = sp_plant_capabilities(plant);
  if (caps->nx > SP_PROTO_MAX_DIM || caps->nu > SP_PROTO_MAX_DIM)
    return sp_errorf(msg, msglen, SP_ERANGE,
                     "bridge: the protocol carries at most %d states and "
                     "actions, the plant has %d and %d",
                     SP_PROTO_MAX_DIM, caps->nx, caps->nu);
  double rate = c->rate_hz > 0 ? c->rate_hz : caps->rate_hz;
  if (!(rate > 0) || rate > 100000)
    return sp_errorf(msg, msglen, SP_EINVAL, "bridge: rate must be in (0, 100000] Hz, got %g",
                     rate);
  if (!(c->watchdog_s >= 0) || c->watchdog_s > 3600)
    return sp_errorf(msg, msglen, SP_EINVAL, "bridge: watchdog must be in [0, 3600] s, got %g",
                     c->watchdog_s);
  if (!(c->watchdog_max_s >= 0) || c->watchdog_max_s > 3600)
    return sp_errorf(msg, msglen, SP_EINVAL, "bridge: watchdog_max must be in [0, 3600] s, got %g",
                     c->watchdog_max_s);
  struct sockaddr_storage addr;
  if (sp__udp_addr_parse(&addr, c->listen))
    return sp_errorf(msg, msglen, SP_EINVAL,
                     "bridge: bad listen address '%s' (expected HOST:PORT, e.g. 127.0.0.1:9870)",
                     c->listen);
  for (int i = 0; c->u_safe && i < caps->nu; i++)
    if (!isfinite(c->u_safe[i]))
      return sp_errorf(msg, msglen, SP_EINVAL, "bridge: safe command %d is not finite", i + 1);
  if (c->reset_on_session && c->realtime)
    return sp_errorf(msg, msglen, SP_EINVAL,
                     "bridge: reset_on_session needs lockstep (realtime steps the plant on the "
                     "pacing thread)");
  if (c->reset_on_session && !caps->can_reset)
    return sp_errorf(msg, msglen, SP_EUNSUPPORTED,
                     "bridge: reset_on_session needs a plant that can reset (a simulator)");

  // the robot's own safety filter: limits (the config's, else the plant's), rate limits, NaN guard
  double u_safe[SP_PROTO_MAX_DIM];
  for (int i = 0; i < caps->nu; i++) u_safe[i] = c->u_safe ? c->u_safe[i] : 0.0;
  sp_safety_config sc = {.nx = caps->nx,
                         .nu = caps->nu,
                         .u_min = c->u_min ? c->u_min : caps->u_min,
                         .u_max = c->u_max ? c->u_max : caps->u_max,
                         .rate_max = c->rate_max,
                         .u_safe = u_safe,
                         .period_s = 1.0 / rate,
                         .safe_act = c->safe_act,
                         .safe_user = c->safe_user};
  sp_safety* filter = NULL;
  char fmsg[200];
  int frc = sp_safety_new(&filter, &sc, fmsg, sizeof fmsg);
  if (frc) return sp_errorf(msg, msglen, frc, "bridge: %s", fmsg);

  sp_bridge* b = sp_calloc(1, sizeof *b);
  if (!b) {
    sp_safety_free(filter);
    return sp_errorf(msg, msglen, SP_ENOMEM, "bridge: out of memory");
  }
  b->filter = filter;
  b->t0_ns = sp__now_ns();
  b->wd_max_ns =
      c->watchdog_max_s > 0 ? (int64_t)llround(c->watchdog_max_s * 1e9) : DEFAULT_WATCHDOG_MAX_NS;
  for (int i = 0; i < caps->nu; i++) {
    b->lo[i] = sc.u_min ? sc.u_min[i] : -INFINITY;
    b->hi[i] = sc.u_max ? sc.u_max[i] : INFINITY;
  }
  b->plant = plant;
  b->nx = caps->nx;
  b->nu = caps->nu;
  b->realtime = c->realtime != 0;
  b->reset_on_session = c->reset_on_session != 0;
  b->rate_hz = rate;
  b->period_ns = (int64_t)llround(1e9 / rate);
  b->wd_cfg_ns = (int64_t)llround(c->watchdog_s * 1e9);
  put(&b->wd_ns, (uint64_t)(b->wd_cfg_ns ? b->wd_cfg_ns : DEFAULT_WATCHDOG_NS));
  for (int i = 0; i < b->nu; i++) b->u_safe[i] = b->u[i] = c->u_safe ? c->u_safe[i] : 0.0;

  // the CONFIG every session gets
  b->conf.proto_version = SP_PROTO_VERSION;
  b->conf.nx = (uint16_t)b->nx;
  b->conf.nu = (uint16_t)b->nu;
  b->conf.rate_hz = rate;
  snprintf(b->conf.name, sizeof b->conf.name, "%s", c->robot ? c->robot : caps->robot);
  for (int i = 0; i < b->nx; i++)
    snprintf(b->conf.x_names[i], SP_PROTO_MAX_NAME, "%s", caps->x_names ? caps->x_names[i] : "");
  for (int i = 0; i < b->nu; i++)
    snprintf(b->conf.u_names[i], SP_PROTO_MAX_NAME, "%s", caps->u_names ? caps->u_names[i] : "");

  // the plant takes commands from now on
  int rc = 0;
  if (plant->state == SP_PLANT_CONFIGURED) {
    rc = sp_plant_activate(plant);
    if (rc) {
      sp_safety_free(b->filter);
      sp_free(b);
      return sp_errorf(msg, msglen, rc, "bridge: cannot activate the plant: %s", sp_strerror(rc));
    }
    b->activated = 1;
  }

  // socket, timer and wake-up on the I/O loop
  uv_loop_init(&b->loop);
  uv_udp_init(&b->loop, &b->sock);
  uv_async_init(&b->loop, &b->wake, on_wake);
  uv_timer_init(&b->loop, &b->timer);
  b->sock.data = b->wake.data = b->timer.data = b;
  sp__udp_link_init(&b->link, &b->sock);
  rc = uv_udp_bind(&b->sock, (const struct sockaddr*)&addr, 0);
  if (!rc) {
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_udp_getsockname(&b->sock, (struct sockaddr*)&bound, &len);
    b->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&bound)->sin6_port
                                                : ((struct sockaddr_in*)&bound)->sin_port);
    rc = uv_udp_recv_start(&b->sock, on_alloc, on_recv);
  }
  if (!rc) rc = uv_timer_start(&b->timer, on_timer, TIMER_MS, TIMER_MS);
  if (!rc) rc = uv_thread_create(&b->thread, io_main, b);
  if (rc) {
    close_handles(b);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    if (b->activated) sp_plant_deactivate(plant);
    sp_safety_free(b->filter);
    sp_free(b);
    return sp_errorf(msg, msglen, SP_EIO, "bridge: cannot listen on %s: %s", c->listen,
                     uv_strerror(rc));
  }
  if (b->realtime) {
    if (pthread_create(&b->pacer, NULL, pacer_main, b)) {
      *out = b;
      sp_bridge_free(b);
      *out = NULL;
      return sp_errorf(msg, msglen, SP_EIO, "bridge: cannot start the pacing thread");
    }
    b->pacer_live = 1;
  }
  *out = b;
  return 0;
}

void sp_bridge_free(sp_bridge* b) {
  if (!b) return;
  if (b->pacer_live) {
    atomic_store(&b->stop_pacer, 1);
    pthread_join(b->pacer, NULL);
  }
  atomic_store(&b->stop_io, 1);
  uv_async_send(&b->wake);
  uv_thread_join(&b->thread);
  uv_loop_close(&b->loop);
  // leaving: the plant holds the safe command
  sp_plant_write(b->plant, b->u_safe);
  if (b->activated) sp_plant_deactivate(b->plant);
  sp_safety_free(b->filter);
  sp_free(b);
}

int sp_bridge_port(const sp_bridge* b) {
  return b ? b->port : 0;
}

void sp_bridge_stats_get(const sp_bridge* cb, sp_bridge_stats* o) {
  sp_bridge* b = (sp_bridge*)cb;
  memset(o, 0, sizeof *o);
  sp__udp_link_stats(&b->link, &o->link);
  o->steps = ld(&b->steps);
  o->commands = ld(&b->commands);
  o->safe_steps = ld(&b->safe_steps);
  o->sessions = ld(&b->sessions);
  o->watchdog_trips = ld(&b->trips);
  o->last_trip_silence_s = o->watchdog_trips ? (double)ld(&b->trip_silence_ns) * 1e-9 : NAN;
  o->watchdog_s = (double)ld(&b->wd_ns) * 1e-9;
  o->watchdog_asked_s = (double)ld(&b->wd_asked_ms) * 1e-3;
  o->rejected = ld(&b->rejected);
  o->limited = ld(&b->limited);
  o->goodbyes = ld(&b->goodbyes);
  o->resets = ld(&b->resets);
  o->status = atomic_load(&b->status);
  o->port = b->port;
}
