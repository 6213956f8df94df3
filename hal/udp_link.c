// udp_link.c: one end of a protocol link over UDP: receive checks and counters, stamped sends,
// round-trip estimates (see udp_link.h; the rules are docs/protocol.md's "Receiving a frame").
#include "hal/udp_link.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/core/error.h"

static const char* const drop_names[SP_UDP_DROP_COUNT] = {
    "malformed", "crc", "version", "duplicate", "stale", "foreign", "unexpected", "suspect",
};

const char* sp_udp_drop_name(int reason) {
  return reason >= 0 && reason < SP_UDP_DROP_COUNT ? drop_names[reason] : "unknown";
}

int64_t sp__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t ld(sp__counter* c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}
static void st(sp__counter* c, uint64_t v) {
  atomic_store_explicit(c, v, memory_order_relaxed);
}
static void inc(sp__counter* c) {
  st(c, ld(c) + 1);  // single writer: the I/O thread
}

void sp__udp_link_init(sp__udp_link* k, uv_udp_t* sock) {
  memset(k, 0, sizeof *k);
  k->sock = sock;
  sp_seq_reset(&k->trk);
}

// ---- addresses --------------------------------------------------------------------------------

void sp__udp_link_set_peer(sp__udp_link* k, const struct sockaddr* addr) {
  size_t n = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  memset(&k->peer, 0, sizeof k->peer);
  memcpy(&k->peer, addr, n);
  k->have_peer = 1;
}

int sp__udp_addr_equal(const struct sockaddr* a, const struct sockaddr* b) {
  if (a->sa_family != b->sa_family) return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void*)a, *y = (const void*)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void*)a, *y = (const void*)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
  }
  return 0;
}

void sp__udp_addr_format(char* out, size_t n, const struct sockaddr* a) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in* x = (const void*)a;
    uv_ip4_name(x, ip, sizeof ip);
    port = ntohs(x->sin_port);
    snprintf(out, n, "%s:%d", ip, port);
  } else if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6* x = (const void*)a;
    uv_ip6_name(x, ip, sizeof ip);
    port = ntohs(x->sin6_port);
    snprintf(out, n, "[%s]:%d", ip, port);
  } else {
    snprintf(out, n, "(no address)");
  }
}

int sp__udp_addr_parse(struct sockaddr_storage* addr, const char* s) {
  char host[64];
  const char* colon;
  memset(addr, 0, sizeof *addr);
  if (!s) return SP_EINVAL;
  if (s[0] == '[') {
    const char* close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) return SP_EINVAL;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = 0;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return SP_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
  }
  char* end;
  long port = strtol(colon + 1, &end, 10);
  if (colon[1] == 0 || *end || port < 0 || port > 65535) return SP_EINVAL;
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in*)addr) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6*)addr) == 0) return 0;
  return SP_EINVAL;
}

// ---- receiving --------------------------------------------------------------------------------

void sp__udp_link_drop(sp__udp_link* k, sp_udp_drop reason) {
  inc(&k->dropped[reason]);
}

int sp__udp_link_recv(sp__udp_link* k, sp_proto_msg* m, const uint8_t* buf, ssize_t nread,
                      const struct sockaddr* addr, unsigned flags, int hello_from_any,
                      int* seq_class) {
  inc(&k->received);
  if (flags & UV_UDP_PARTIAL) {  // longer than any frame: cut short by the receive buffer
    sp__udp_link_drop(k, SP_UDP_DROP_MALFORMED);
    return 0;
  }
  int rc = sp_proto_decode(m, buf, (size_t)nread);
  if (rc) {
    sp__udp_link_drop(k, rc == SP_PROTO_ECRC       ? SP_UDP_DROP_CRC
                         : rc == SP_PROTO_EVERSION ? SP_UDP_DROP_VERSION
                                                   : SP_UDP_DROP_MALFORMED);
    return 0;
  }
  int result = 1;
  if (!k->have_peer || !sp__udp_addr_equal(addr, (const void*)&k->peer)) {
    if (!(hello_from_any && m->h.type == SP_PROTO_HELLO)) {
      sp__udp_link_drop(k, SP_UDP_DROP_FOREIGN);
      return 0;
    }
    // a HELLO from a new sender: it becomes the peer, its numbering starts over
    sp__udp_link_set_peer(k, addr);
    sp_seq_reset(&k->trk);
    k->echo_ns = 0;
    result = 2;
  }
  int c = sp_seq_classify(&k->trk, m->h.seq);
  st(&k->lost, k->trk.lost);
  *seq_class = c;
  int always =
      m->h.type == SP_PROTO_HELLO || m->h.type == SP_PROTO_CONFIG || m->h.type == SP_PROTO_ESTOP;
  if (c != SP_SEQ_FRESH && !always) {
    sp__udp_link_drop(k, c == SP_SEQ_DUPLICATE ? SP_UDP_DROP_DUPLICATE
                         : c == SP_SEQ_SUSPECT ? SP_UDP_DROP_SUSPECT
                                               : SP_UDP_DROP_STALE);
    return 0;
  }
  // a HELLO or CONFIG far ahead starts the numbering over (it starts a session anyway)
  if (c == SP_SEQ_SUSPECT && m->h.type != SP_PROTO_ESTOP) {
    sp_seq_reset(&k->trk);
    sp_seq_classify(&k->trk, m->h.seq);
    *seq_class = SP_SEQ_FRESH;
  }
  return result;
}

void sp__udp_link_accept(sp__udp_link* k, const sp_proto_msg* m) {
  int64_t now = sp__now_ns();
  inc(&k->accepted);
  st(&k->last_rx_ns, (uint64_t)now);
  if (m->h.t_send_ns > k->echo_ns) k->echo_ns = m->h.t_send_ns;
  // round trip: our own send time, echoed back
  int64_t e = m->h.t_echo_ns;
  if (e > 0 && e <= now) {
    uint64_t rtt = (uint64_t)(now - e);
    inc(&k->rtt_n);
    st(&k->rtt_sum, ld(&k->rtt_sum) + rtt);
    st(&k->rtt_last, rtt);
    if (rtt > ld(&k->rtt_max)) st(&k->rtt_max, rtt);
    uint64_t b = rtt / 1000 < SP__RTT_BUCKETS ? rtt / 1000 : SP__RTT_BUCKETS;
    atomic_store_explicit(&k->rtt_hist[b],
                          atomic_load_explicit(&k->rtt_hist[b], memory_order_relaxed) + 1,
                          memory_order_relaxed);
  }
}

// ---- sending ----------------------------------------------------------------------------------

static void header(sp__udp_link* k, sp_proto_header* h) {
  memset(h, 0, sizeof *h);
  h->seq = k->tx_seq++;
  h->flags = k->tx_flags;
  h->t_send_ns = sp__now_ns();
  h->t_echo_ns = k->echo_ns;
}

static int send_buf(sp__udp_link* k, int n) {
  if (n < 0 || !k->have_peer) {
    inc(&k->send_errors);
    return SP_EINVAL;
  }
  uv_buf_t b = uv_buf_init((char*)k->tx, (unsigned)n);
  int rc = uv_udp_try_send(k->sock, &b, 1, (const struct sockaddr*)&k->peer);
  if (rc < 0) {
    inc(&k->send_errors);
    return SP_EIO;
  }
  inc(&k->sent);
  st(&k->last_tx_ns, (uint64_t)sp__now_ns());
  return 0;
}

int sp__udp_link_send_hello(sp__udp_link* k, int type, const sp_proto_hello* hello) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_hello(k->tx, sizeof k->tx, &h, type, hello));
}

int sp__udp_link_send_state(sp__udp_link* k, int64_t t_ns, uint32_t status, const double* x,
                            int n) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_state(k->tx, sizeof k->tx, &h, t_ns, status, x, n));
}

int sp__udp_link_send_command(sp__udp_link* k, const double* u, int n) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_command(k->tx, sizeof k->tx, &h, u, n));
}

int sp__udp_link_send_heartbeat(sp__udp_link* k) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_heartbeat(k->tx, sizeof k->tx, &h));
}

int sp__udp_link_send_goodbye(sp__udp_link* k) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_goodbye(k->tx, sizeof k->tx, &h));
}

int sp__udp_link_send_estop(sp__udp_link* k, uint32_t reason) {
  sp_proto_header h;
  header(k, &h);
  return send_buf(k, sp_proto_encode_estop(k->tx, sizeof k->tx, &h, reason));
}

int64_t sp__udp_link_idle_ns(sp__udp_link* k, int64_t now) {
  uint64_t t = ld(&k->last_tx_ns);
  return t ? now - (int64_t)t : INT64_MAX;
}

// ---- statistics -------------------------------------------------------------------------------

static double pct(sp__udp_link* k, double q, uint64_t n) {
  uint64_t want = (uint64_t)ceil(q * (double)n), cum = 0;
  for (int i = 0; i <= SP__RTT_BUCKETS; i++) {
    cum += atomic_load_explicit(&k->rtt_hist[i], memory_order_relaxed);
    if (cum >= want && cum > 0) return i + 1.0;  // upper edge of the bucket, us
  }
  return 0;
}

void sp__udp_link_stats(sp__udp_link* k, sp_udp_stats* o) {
  memset(o, 0, sizeof *o);
  o->received = ld(&k->received);
  o->accepted = ld(&k->accepted);
  for (int i = 0; i < SP_UDP_DROP_COUNT; i++) {
    o->dropped[i] = ld(&k->dropped[i]);
    o->dropped_total += o->dropped[i];
  }
  o->lost = ld(&k->lost);
  o->sent = ld(&k->sent);
  o->send_errors = ld(&k->send_errors);
  o->rtt_samples = ld(&k->rtt_n);
  if (o->rtt_samples) {
    o->rtt_last_us = (double)ld(&k->rtt_last) * 1e-3;
    o->rtt_mean_us = (double)ld(&k->rtt_sum) / (double)o->rtt_samples * 1e-3;
    o->rtt_max_us = (double)ld(&k->rtt_max) * 1e-3;
    o->rtt_p50_us = pct(k, 0.5, o->rtt_samples);
    o->rtt_p99_us = pct(k, 0.99, o->rtt_samples);
  }
  uint64_t rx = ld(&k->last_rx_ns);
  o->since_rx_s = rx ? (double)(sp__now_ns() - (int64_t)rx) * 1e-9 : INFINITY;
}
