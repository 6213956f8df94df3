// backend_udp.c: the "udp" plant backend (see backend_udp.h; wire format in docs/protocol.md).
//
// Threads: the caller's control thread (read, write, lifecycle) and one I/O thread running a
// libuv loop that owns the socket, an async handle (woken by write and by requests) and a timer
// (HELLO repeats during the handshake, heartbeats when idle). They share only atomics: the
// latest-state seqlock, the command ring and the request bits.
#include "hal/backend_udp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define RING 16                      // queued commands (power of two)
#define HELLO_PERIOD_NS 100000000LL  // HELLO repeat while waiting for CONFIG
#define TIMER_MS 5                   // I/O housekeeping period

enum { REQ_HELLO = 1, REQ_ESTOP = 2, REQ_STOP = 4 };

typedef struct udp_plant {
  // what the caller expects
  char uri[128], where[96];
  struct sockaddr_storage addr;
  char exp_robot[SP_PROTO_MAX_NAME];
  int exp_nx, exp_nu, has_xn, has_un;
  char exp_x[SP_PROTO_MAX_DIM][SP_PROTO_MAX_NAME], exp_u[SP_PROTO_MAX_DIM][SP_PROTO_MAX_NAME];
  double rate_req, wd_req, timeout_s;
  int64_t heartbeat_ns;
  int heartbeat_auto;  // heartbeat_ns follows the robot's watchdog (watchdog / 4)
  int64_t wait_ns;     // read waits this long for a state it has not returned (0: never)
  uint64_t returned;   // control thread: st_count of the latest state read returned
  atomic_int pending;  // a command went out since read last returned a new state
  // sessions asked for (control thread: rearm, activate) and answered (I/O: the CONFIG to the
  // HELLO of that request), and st_count when that CONFIG came: a lockstep read after a rearm
  // returns a state of the new session, never one the old session sent late (a trip's)
  atomic_ullong hello_asked, hello_answered, st_floor;
  uint64_t hello_taken;  // I/O: hello_asked when the latest requested HELLO went out

  // the robot's CONFIG and its sizes: written once by the I/O thread before got_config is
  // released (read by the caller only after)
  sp_proto_hello cfg;
  int nx, nu;
  const char* xp[SP_PROTO_MAX_DIM];
  const char* up[SP_PROTO_MAX_DIM];

  // I/O thread
  uv_loop_t loop;
  uv_udp_t sock;
  uv_async_t wake;
  uv_timer_t timer;
  uv_thread_t thread;
  int io_live, deactivated;
  int hello_pending;      // I/O: repeat HELLO until a CONFIG answers
  int64_t last_hello_ns;  // I/O
  int64_t last_t_state;   // I/O: robot time of the latest accepted state
  atomic_int got_config, quiet, requests;
  atomic_uint estop_rx;      // the robot sent ESTOP (until the next CONFIG)
  atomic_uint estop_reason;  // reason for the ESTOP frames we are asked to send
  sp__udp_link link;
  sp_proto_msg msg;
  uint8_t rx[SP_PROTO_MAX_FRAME + 64];

  // latest state: seqlock over [t_ns, status, x (nx)]
  sp__counter st_seq, st_count;
  sp__counter st_words[2 + SP_PROTO_MAX_DIM];

  // commands: single producer (write), single consumer (I/O thread)
  double ring[RING][SP_PROTO_MAX_DIM];
  atomic_size_t r_head, r_tail;
} udp_plant;

extern const sp_plant_backend sp__plant_udp_backend;

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

// ---- I/O thread ------------------------------------------------------------------------------

static void fill_hello(udp_plant* up, sp_proto_hello* h) {
  memset(h, 0, sizeof *h);
  h->proto_version = SP_PROTO_VERSION;
  h->nx = (uint16_t)up->exp_nx;
  h->nu = (uint16_t)up->exp_nu;
  h->rate_hz = up->rate_req;
  h->watchdog_ms = (uint32_t)llround(up->wd_req * 1000.0);
  snprintf(h->name, sizeof h->name, "%s", up->exp_robot);
  for (int i = 0; up->has_xn && i < up->exp_nx; i++) memcpy(h->x_names[i], up->exp_x[i], 32);
  for (int i = 0; up->has_un && i < up->exp_nu; i++) memcpy(h->u_names[i], up->exp_u[i], 32);
  if (!up->has_xn || !up->has_un) h->nx = h->nu = 0;  // names go with sizes, or neither
}

static void send_hello(udp_plant* up) {
  sp_proto_hello h;
  fill_hello(up, &h);
  sp__udp_link_send_hello(&up->link, SP_PROTO_HELLO, &h);
  up->last_hello_ns = sp__now_ns();
}

static void on_closed(uv_handle_t* h) {}

static void io_close_handles(udp_plant* up) {
  uv_udp_recv_stop(&up->sock);
  uv_close((uv_handle_t*)&up->sock, on_closed);
  uv_close((uv_handle_t*)&up->timer, on_closed);
  uv_close((uv_handle_t*)&up->wake, on_closed);
}

static void publish_state(udp_plant* up, const sp_proto_msg* m) {
  uint64_t s = atomic_load_explicit(&up->st_seq, memory_order_relaxed);
  atomic_store_explicit(&up->st_seq, s + 1, memory_order_relaxed);
  atomic_store_explicit(&up->st_words[0], (uint64_t)m->body.state.t_ns, memory_order_release);
  atomic_store_explicit(&up->st_words[1], m->body.state.status, memory_order_release);
  for (int i = 0; i < up->nx; i++)
    atomic_store_explicit(&up->st_words[2 + i], bits(m->body.state.x[i]), memory_order_release);
  atomic_store_explicit(&up->st_seq, s + 2, memory_order_release);
  atomic_store_explicit(&up->st_count, atomic_load(&up->st_count) + 1, memory_order_release);
}

static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr,
                    unsigned flags) {
  udp_plant* up = h->data;
  if (nread <= 0 || !addr) return;  // nothing more to read, or a socket error (ICMP)
  sp_proto_msg* m = &up->msg;
  int cls;
  if (!sp__udp_link_recv(&up->link, m, (const uint8_t*)buf->base, nread, addr, flags, 0, &cls))
    return;
  int configured = atomic_load_explicit(&up->got_config, memory_order_relaxed);
  switch (m->h.type) {
    case SP_PROTO_CONFIG:
      // only the answer to our HELLO counts; repeats and copies are dropped
      if (!up->hello_pending) {
        sp__udp_link_drop(&up->link, cls == SP_SEQ_DUPLICATE ? SP_UDP_DROP_DUPLICATE
                                     : cls == SP_SEQ_STALE   ? SP_UDP_DROP_STALE
                                                             : SP_UDP_DROP_UNEXPECTED);
        return;
      }
      if (configured && (m->body.hello.nx != up->cfg.nx || m->body.hello.nu != up->cfg.nu)) {
        sp__udp_link_drop(&up->link, SP_UDP_DROP_UNEXPECTED);  // not the robot we configured
        return;
      }
      if (!configured) {  // the first CONFIG fixes the capabilities
        up->cfg = m->body.hello;
        up->nx = up->cfg.nx;  // before got_config is released: states may follow at once
        up->nu = up->cfg.nu;
        // unless told otherwise, a heartbeat after a quarter of the robot's watchdog of silence
        if (up->heartbeat_auto && up->cfg.watchdog_ms)
          up->heartbeat_ns = (int64_t)up->cfg.watchdog_ms * 250000;
      }
      // a new session: the robot may have restarted, its numbering and clock with it
      sp_seq_reset(&up->link.trk);
      sp_seq_classify(&up->link.trk, m->h.seq);
      up->last_t_state = INT64_MIN;
      up->hello_pending = 0;
      atomic_store(&up->st_floor, atomic_load(&up->st_count));
      atomic_store_explicit(&up->hello_answered, up->hello_taken, memory_order_release);
      atomic_store(&up->estop_rx, 0);
      sp__udp_link_accept(&up->link, m);
      atomic_store_explicit(&up->got_config, 1, memory_order_release);
      return;
    case SP_PROTO_STATE:
      if (!configured || m->body.state.n != up->cfg.nx) {
        sp__udp_link_drop(&up->link, SP_UDP_DROP_UNEXPECTED);
        return;
      }
      if (m->body.state.t_ns <= up->last_t_state) {
        sp__udp_link_drop(&up->link, SP_UDP_DROP_STALE);  // fresh number, old measurement
        return;
      }
      up->last_t_state = m->body.state.t_ns;
      publish_state(up, m);
      sp__udp_link_accept(&up->link, m);
      return;
    case SP_PROTO_HEARTBEAT:
      sp__udp_link_accept(&up->link, m);
      return;
    case SP_PROTO_ESTOP:
      atomic_store(&up->estop_rx, 1);
      sp__udp_link_accept(&up->link, m);
      return;
    default:  // HELLO and COMMAND travel host -> robot only
      sp__udp_link_drop(&up->link, SP_UDP_DROP_UNEXPECTED);
      return;
  }
}

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  udp_plant* up = h->data;
  *buf = uv_buf_init((char*)up->rx, sizeof up->rx);
}

static void on_wake(uv_async_t* a) {
  udp_plant* up = a->data;
  int req = atomic_exchange(&up->requests, 0);
  if (req & REQ_STOP) {
    // leaving on purpose: GOODBYE (three times, UDP may drop one), so the robot applies its safe
    // command without counting a watchdog trip; an old robot drops it and its watchdog trips
    if (atomic_load(&up->got_config))
      for (int i = 0; i < 3; i++) sp__udp_link_send_goodbye(&up->link);
    io_close_handles(up);
    return;
  }
  if (req & REQ_HELLO) {
    up->hello_taken = atomic_load(&up->hello_asked);
    up->hello_pending = 1;
    send_hello(up);
  }
  if (req & REQ_ESTOP)
    for (int i = 0; i < 3; i++) sp__udp_link_send_estop(&up->link, atomic_load(&up->estop_reason));

  // queued commands, oldest first
  size_t t = atomic_load_explicit(&up->r_tail, memory_order_relaxed);
  size_t hd = atomic_load_explicit(&up->r_head, memory_order_acquire);
  int quiet = atomic_load(&up->quiet);
  for (; t != hd; t++)
    if (!quiet) sp__udp_link_send_command(&up->link, up->ring[t & (RING - 1)], up->nu);
  atomic_store_explicit(&up->r_tail, t, memory_order_release);
}

static void on_timer(uv_timer_t* tm) {
  udp_plant* up = tm->data;
  int64_t now = sp__now_ns();
  int configured = atomic_load(&up->got_config);
  if (!configured || up->hello_pending) {
    if (now - up->last_hello_ns >= HELLO_PERIOD_NS) send_hello(up);
    return;
  }
  if (!atomic_load(&up->quiet) && sp__udp_link_idle_ns(&up->link, now) >= up->heartbeat_ns)
    sp__udp_link_send_heartbeat(&up->link);
}

static void io_main(void* arg) {
  udp_plant* up = arg;
  uv_run(&up->loop, UV_RUN_DEFAULT);
}

// create the loop and its handles; on failure everything is closed again
static int io_start(udp_plant* up, char* msg, size_t len) {
  int rc = uv_loop_init(&up->loop);
  if (rc)
    return sp_errorf(msg, len, SP_EIO, "udp plant: cannot create the I/O loop: %s",
                     uv_strerror(rc));
  uv_udp_init(&up->loop, &up->sock);
  uv_async_init(&up->loop, &up->wake, on_wake);
  uv_timer_init(&up->loop, &up->timer);
  up->sock.data = up->wake.data = up->timer.data = up;
  sp__udp_link_init(&up->link, &up->sock);
  sp__udp_link_set_peer(&up->link, (const struct sockaddr*)&up->addr);

  // any local port, same family as the robot
  struct sockaddr_storage any;
  if (up->addr.ss_family == AF_INET6)
    uv_ip6_addr("::", 0, (struct sockaddr_in6*)&any);
  else
    uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in*)&any);
  rc = uv_udp_bind(&up->sock, (const struct sockaddr*)&any, 0);
  if (!rc) rc = uv_udp_recv_start(&up->sock, on_alloc, on_recv);
  if (!rc) rc = uv_timer_start(&up->timer, on_timer, 0, TIMER_MS);
  if (!rc) rc = uv_thread_create(&up->thread, io_main, up);
  if (rc) {
    io_close_handles(up);
    uv_run(&up->loop, UV_RUN_DEFAULT);
    uv_loop_close(&up->loop);
    return sp_errorf(msg, len, SP_EIO, "udp plant: cannot open a socket for %s: %s", up->where,
                     uv_strerror(rc));
  }
  up->io_live = 1;
  return 0;
}

// ask the I/O thread to close its handles, wait for it, release the loop
static void io_stop(udp_plant* up) {
  if (!up->io_live) return;
  atomic_fetch_or(&up->requests, REQ_STOP);
  uv_async_send(&up->wake);
  uv_thread_join(&up->thread);
  uv_loop_close(&up->loop);
  up->io_live = 0;
}

// ---- lifecycle --------------------------------------------------------------------------------

static int copy_names(char (*dst)[SP_PROTO_MAX_NAME], const char* const* src, int n,
                      const char* what, char* msg, size_t len) {
  for (int i = 0; i < n; i++) {
    if (!src[i] || strlen(src[i]) >= SP_PROTO_MAX_NAME)
      return sp_errorf(msg, len, SP_EINVAL,
                       "udp plant: %s name %d is missing or longer than %d "
                       "bytes",
                       what, i + 1, SP_PROTO_MAX_NAME - 1);
    strcpy(dst[i], src[i]);
  }
  return 0;
}

static int udp_open(sp_plant* p, const char* uri, const void* config, char* msg, size_t len) {
  const sp_plant_udp_config* c = config;
  sp_plant_udp_config none = {0};
  if (!c) c = &none;
  if (strncmp(uri, "udp://", 6))
    return sp_errorf(msg, len, SP_EINVAL, "udp plant: expected a URI udp://HOST:PORT, got '%s'",
                     uri);
  if (c->nx < 0 || c->nu < 0 || c->nx > SP_PROTO_MAX_DIM || c->nu > SP_PROTO_MAX_DIM)
    return sp_errorf(msg, len, SP_EINVAL, "udp plant: expected sizes 0..%d, got nx %d, nu %d",
                     SP_PROTO_MAX_DIM, c->nx, c->nu);
  if (!(c->rate_hz >= 0) || !(c->watchdog_s >= 0) || !(c->timeout_s >= 0) ||
      !(c->heartbeat_s >= 0) || !(c->wait_s >= 0) || c->watchdog_s > 3600 || c->wait_s > 60)
    return sp_errorf(msg, len, SP_EINVAL,
                     "udp plant: rate, watchdog, timeout, heartbeat and wait must be >= 0 "
                     "(watchdog <= 3600 s, wait <= 60 s)");
  if (c->robot && strlen(c->robot) >= SP_PROTO_MAX_NAME)
    return sp_errorf(msg, len, SP_EINVAL, "udp plant: robot name longer than %d bytes",
                     SP_PROTO_MAX_NAME - 1);
  udp_plant* up = sp_calloc(1, sizeof *up);
  if (!up) return SP_ENOMEM;
  p->impl = up;
  snprintf(up->uri, sizeof up->uri, "%s", uri);
  if (sp__udp_addr_parse(&up->addr, uri + 6) ||
      (up->addr.ss_family == AF_INET && ((struct sockaddr_in*)&up->addr)->sin_port == 0))
    return sp_errorf(msg, len, SP_EINVAL,
                     "udp plant: bad address in '%s' (expected udp://HOST:PORT with a numeric "
                     "IPv4/IPv6 host or localhost, port 1..65535)",
                     uri);
  snprintf(up->where, sizeof up->where, "%s", uri);
  snprintf(up->exp_robot, sizeof up->exp_robot, "%s", c->robot ? c->robot : "");
  up->exp_nx = c->nx;
  up->exp_nu = c->nu;
  int rc = 0;
  if (c->x_names && c->nx) {
    up->has_xn = 1;
    rc = copy_names(up->exp_x, c->x_names, c->nx, "state", msg, len);
  }
  if (!rc && c->u_names && c->nu) {
    up->has_un = 1;
    rc = copy_names(up->exp_u, c->u_names, c->nu, "action", msg, len);
  }
  if (rc) return rc;
  up->rate_req = c->rate_hz;
  up->wd_req = c->watchdog_s;
  up->timeout_s = c->timeout_s > 0 ? c->timeout_s : 2.0;
  up->wait_ns = (int64_t)llround(c->wait_s * 1e9);
  up->heartbeat_auto = !(c->heartbeat_s > 0);
  up->heartbeat_ns = (int64_t)llround((c->heartbeat_s > 0 ? c->heartbeat_s : 0.05) * 1e9);
  atomic_init(&up->got_config, 0);
  atomic_init(&up->quiet, 0);
  atomic_init(&up->requests, 0);
  atomic_init(&up->estop_rx, 0);
  atomic_init(&up->pending, 0);
  atomic_init(&up->hello_asked, 0);
  atomic_init(&up->hello_answered, 0);
  atomic_init(&up->st_floor, 0);
  up->hello_taken = 0;
  atomic_init(&up->r_head, 0);
  atomic_init(&up->r_tail, 0);
  return 0;
}

// the first difference between what the robot declared and what the caller expects
static int check_config(udp_plant* up, char* msg, size_t len) {
  const sp_proto_hello* r = &up->cfg;
  const char* w = up->where;
  if (r->proto_version < 1)
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s speaks protocol version %d", w,
                     r->proto_version);
  if (up->exp_robot[0] && strcmp(up->exp_robot, r->name))
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s is '%s', expected '%s'", w,
                     r->name, up->exp_robot);
  if (up->exp_nx && r->nx != up->exp_nx)
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s has %d states, expected %d", w,
                     r->nx, up->exp_nx);
  if (up->exp_nu && r->nu != up->exp_nu)
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s has %d actions, expected %d",
                     w, r->nu, up->exp_nu);
  for (int i = 0; up->has_xn && i < r->nx; i++)
    if (strcmp(r->x_names[i], up->exp_x[i]))
      return sp_errorf(msg, len, SP_EMISMATCH,
                       "udp plant: robot at %s names state %d '%s', expected '%s'", w, i + 1,
                       r->x_names[i], up->exp_x[i]);
  for (int i = 0; up->has_un && i < r->nu; i++)
    if (strcmp(r->u_names[i], up->exp_u[i]))
      return sp_errorf(msg, len, SP_EMISMATCH,
                       "udp plant: robot at %s names action %d '%s', expected '%s'", w, i + 1,
                       r->u_names[i], up->exp_u[i]);
  if (!(r->rate_hz > 0) || !isfinite(r->rate_hz))
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s reports rate %g Hz", w,
                     r->rate_hz);
  if (up->rate_req > 0 && fabs(r->rate_hz - up->rate_req) > 1e-9 * up->rate_req)
    return sp_errorf(msg, len, SP_EMISMATCH, "udp plant: robot at %s runs at %g Hz, expected %g", w,
                     r->rate_hz, up->rate_req);
  return 0;
}

static int udp_configure(sp_plant* p, char* msg, size_t len) {
  udp_plant* up = p->impl;
  atomic_store(&up->got_config, 0);
  up->hello_pending = 1;
  int rc = io_start(up, msg, len);
  if (rc) return rc;

  // the handshake: the I/O thread repeats HELLO until CONFIG comes back
  int64_t deadline = sp__now_ns() + (int64_t)llround(up->timeout_s * 1e9);
  while (!atomic_load_explicit(&up->got_config, memory_order_acquire) && sp__now_ns() < deadline) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  if (!atomic_load_explicit(&up->got_config, memory_order_acquire)) {
    io_stop(up);
    sp_udp_stats s;
    sp__udp_link_stats(&up->link, &s);
    char extra[128] = "";
    if (s.dropped[SP_UDP_DROP_VERSION])
      snprintf(extra, sizeof extra, "; %llu frames in another protocol version arrived",
               (unsigned long long)s.dropped[SP_UDP_DROP_VERSION]);
    else if (s.received)
      snprintf(extra, sizeof extra, "; %llu datagrams arrived, none a valid CONFIG",
               (unsigned long long)s.received);
    return sp_errorf(msg, len, SP_ETIMEOUT,
                     "udp plant: no CONFIG from %s within %g s (is the robot or `spinal bridge` "
                     "listening there?)%s",
                     up->where, up->timeout_s, extra);
  }
  if ((rc = check_config(up, msg, len))) {
    io_stop(up);
    return rc;
  }

  // the robot's declaration becomes the capabilities (nx, nu were set with the CONFIG)
  for (int i = 0; i < up->nx; i++) up->xp[i] = up->cfg.x_names[i];
  for (int i = 0; i < up->nu; i++) up->up[i] = up->cfg.u_names[i];
  p->caps.robot = up->cfg.name;
  p->caps.nx = up->nx;
  p->caps.nu = up->nu;
  p->caps.rate_hz = up->cfg.rate_hz;
  p->caps.x_names = up->xp;
  p->caps.u_names = up->up;
  p->caps.can_reset = 0;
  return 0;
}

static int udp_activate(sp_plant* p) {
  udp_plant* up = p->impl;
  atomic_store(&up->quiet, 0);
  if (up->deactivated) sp_plant_udp_rearm(p);  // a new session after a deliberate silence
  up->deactivated = 0;
  return 0;
}

static int udp_deactivate(sp_plant* p) {
  udp_plant* up = p->impl;
  atomic_store(&up->quiet, 1);  // silence: the robot's watchdog applies its safe command
  up->deactivated = 1;
  return 0;
}

static void udp_close(sp_plant* p) {
  udp_plant* up = p->impl;
  if (!up) return;
  io_stop(up);
  sp_free(up);
  p->impl = NULL;
}

// lockstep: the answer read waits for is here (the new session's CONFIG and a state after it;
// after a command, a state read has not returned)
static int lockstep_ready(udp_plant* up) {
  uint64_t asked = atomic_load(&up->hello_asked);
  if (atomic_load_explicit(&up->hello_answered, memory_order_acquire) != asked) return 0;
  uint64_t n = atomic_load_explicit(&up->st_count, memory_order_acquire);
  if (n <= atomic_load(&up->st_floor)) return 0;
  return !(atomic_load(&up->pending) && n == up->returned);
}

static int udp_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  udp_plant* up = p->impl;
  // lockstep use: after a command wait (bounded) for a state this call has not returned yet,
  // after a rearm for the new session's first; none within wait_s is a robot that stopped
  // answering (SP_ETIMEOUT), never an old state passed off as the answer. With nothing sent
  // since, the latest is current.
  if (up->wait_ns > 0 && !lockstep_ready(up)) {
    int64_t end = sp__now_ns() + up->wait_ns;
    while (!lockstep_ready(up) && sp__now_ns() < end) {
      struct timespec ts = {0, 20000};
      nanosleep(&ts, NULL);
    }
    if (!lockstep_ready(up)) return SP_ETIMEOUT;
  }
  uint64_t n = atomic_load_explicit(&up->st_count, memory_order_acquire);
  if (!n) return SP_ENOTFOUND;
  if (n != up->returned) atomic_store(&up->pending, 0);
  up->returned = n;
  for (int tries = 0; tries < 100000; tries++) {
    uint64_t s1 = atomic_load_explicit(&up->st_seq, memory_order_acquire);
    if (s1 & 1) continue;
    uint64_t t = atomic_load_explicit(&up->st_words[0], memory_order_acquire);
    uint64_t stt = atomic_load_explicit(&up->st_words[1], memory_order_acquire);
    for (int i = 0; i < up->nx; i++)
      x[i] = from_bits(atomic_load_explicit(&up->st_words[2 + i], memory_order_acquire));
    if (atomic_load_explicit(&up->st_seq, memory_order_relaxed) == s1) {
      *t_ns = (int64_t)t;
      *status = (uint32_t)(stt & 0xFFu) << 16;
      if (atomic_load(&up->estop_rx)) *status |= SP_FLAG_PLANT_ESTOP;
      return 0;
    }
  }
  return SP_ETIMEOUT;
}

static int udp_write(sp_plant* p, const double* u) {
  udp_plant* up = p->impl;
  size_t h = atomic_load_explicit(&up->r_head, memory_order_relaxed);
  size_t t = atomic_load_explicit(&up->r_tail, memory_order_acquire);
  if (h - t >= RING) return SP_EIO;  // the I/O thread is not keeping up
  memcpy(up->ring[h & (RING - 1)], u, (size_t)up->nu * sizeof(double));
  atomic_store(&up->pending, 1);
  atomic_store_explicit(&up->r_head, h + 1, memory_order_release);
  uv_async_send(&up->wake);
  return 0;
}

// the host's fault reaches the robot: ESTOP (its own safe behaviour: a legged robot's low-level
// controller sits down) while on, a new session (HELLO) when the fault is cleared
static int udp_safe(sp_plant* p, int on) {
  return on ? sp_plant_udp_estop(p, SP_PROTO_ESTOP_FAULT) : sp_plant_udp_rearm(p);
}

const sp_plant_backend sp__plant_udp_backend = {
    .scheme = "udp",
    .open = udp_open,
    .configure = udp_configure,
    .activate = udp_activate,
    .deactivate = udp_deactivate,
    .close = udp_close,
    .read = udp_read,
    .write = udp_write,
    .safe = udp_safe,
};

// ---- udp-specific calls -----------------------------------------------------------------------

static udp_plant* as_udp(const sp_plant* p) {
  if (!p || p->backend != &sp__plant_udp_backend || !p->impl) return NULL;
  return p->impl;
}

int sp_plant_udp_stats(const sp_plant* p, sp_udp_stats* out) {
  udp_plant* up = as_udp(p);
  if (!up || !out) return SP_EINVAL;
  sp__udp_link_stats(&up->link, out);
  return 0;
}

int sp_plant_udp_status(const sp_plant* p, uint32_t* status) {
  udp_plant* up = as_udp(p);
  if (!up || !status) return SP_EINVAL;
  *status = (uint32_t)atomic_load(&up->st_words[1]);
  return 0;
}

static int request(sp_plant* p, int req) {
  udp_plant* up = as_udp(p);
  if (!up) return SP_EINVAL;
  if (!up->io_live) return SP_ESTATE;
  if (req & REQ_HELLO) atomic_fetch_add(&up->hello_asked, 1);  // before the I/O thread sees it
  atomic_fetch_or(&up->requests, req);
  uv_async_send(&up->wake);
  return 0;
}

int sp_plant_udp_rearm(sp_plant* p) {
  return request(p, REQ_HELLO);
}

int sp_plant_udp_estop(sp_plant* p, uint32_t reason) {
  udp_plant* up = as_udp(p);
  if (up) atomic_store(&up->estop_reason, reason);
  return request(p, REQ_ESTOP);
}
