// telemetry.c: the telemetry sender (see telemetry.h): a POSIX UDP socket and a pthread that
// samples the loop's seqlock snapshot at a fixed rate and sends JSON, one object per datagram.
#include "hal/telemetry.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

#define DGRAM_MAX 8192  // bytes; a larger datagram is not sent (counted as dropped)

struct sp_telemetry {
  const sp_loop* loop;
  sp_telemetry_config cfg;
  int fd;
  struct sockaddr_storage dst;
  socklen_t dst_len;
  pthread_t thread;
  atomic_int stop;
  atomic_uint_fast64_t sent, dropped;
  double* x;  // (nx) snapshot
  double* u;  // (nu)
  char buf[DGRAM_MAX];
};

// ---- formatting ---------------------------------------------------------------------------------

typedef struct jbuf {
  char* p;
  size_t left;
  int bad;
} jbuf;

static void put(jbuf* o, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(jbuf* o, const char* fmt, ...) {
  if (o->bad) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->p, o->left, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= o->left) {
    o->bad = 1;
    return;
  }
  o->p += n;
  o->left -= (size_t)n;
}

static void put_num(jbuf* o, double v) {
  if (isfinite(v))
    put(o, "%.9g", v);
  else
    put(o, "null");
}

// a JSON string: names are identifiers in practice; quotes, backslashes, controls are escaped
static void put_name(jbuf* o, const char* name, const char* prefix, int i) {
  if (!name) {
    put(o, "\"%s%d\"", prefix, i);
    return;
  }
  put(o, "\"");
  for (const char* s = name; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      put(o, "\\%c", c);
    else if (c < 0x20)
      put(o, "\\u%04x", c);
    else
      put(o, "%c", c);
  }
  put(o, "\"");
}

static void put_group(jbuf* o, const char* key, const double* v, int n, const char* const* names,
                      const char* prefix) {
  put(o, ",\"%s\":{", key);
  for (int i = 0; i < n; i++) {
    if (i) put(o, ",");
    put_name(o, names ? names[i] : NULL, prefix, i);
    put(o, ":");
    put_num(o, v[i]);
  }
  put(o, "}");
}

int sp_telemetry_format(char* buf, size_t cap, const sp_telemetry_config* c, double t, long k,
                        const double* x, const double* u, uint32_t flags) {
  jbuf o = {buf, cap, cap == 0};
  put(&o, "{\"t\":");
  put_num(&o, t);
  put(&o, ",\"k\":%ld", k);
  put_group(&o, "x", x, c->nx, c->x_names, "x");
  put_group(&o, "u", u, c->nu, c->u_names, "u");
  put(&o, ",\"flags\":%u}", (unsigned)flags);
  return o.bad ? -1 : (int)(o.p - buf);
}

// ---- the sender thread --------------------------------------------------------------------------

static void* sender_main(void* arg) {
  sp_telemetry* tm = arg;
  long last_k = -1;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  long period_ns = (long)llround(1e9 / tm->cfg.rate_hz);
  while (!atomic_load(&tm->stop)) {
    next.tv_nsec += period_ns;
    while (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      next.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
    double t;
    long k;
    uint32_t flags;
    if (sp_loop_latest(tm->loop, tm->x, tm->u, &t, &k, &flags) || k == last_k) continue;
    last_k = k;
    int n = sp_telemetry_format(tm->buf, sizeof tm->buf, &tm->cfg, t, k, tm->x, tm->u, flags);
    ssize_t w = n < 0 ? -1
                      : sendto(tm->fd, tm->buf, (size_t)n, MSG_DONTWAIT,
                               (const struct sockaddr*)&tm->dst, tm->dst_len);
    atomic_fetch_add(w == n ? &tm->sent : &tm->dropped, 1);
  }
  return NULL;
}

int sp_telemetry_new(sp_telemetry** out, const sp_loop* l, const sp_telemetry_config* c, char* msg,
                     size_t msglen) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!l || !c) return sp_errorf(msg, msglen, SP_EINVAL, "telemetry: loop and config required");
  double rate = c->rate_hz > 0 ? c->rate_hz : 50;
  if (!(rate <= 1000) || c->rate_hz < 0)
    return sp_errorf(msg, msglen, SP_EINVAL, "telemetry: rate must be in (0, 1000] Hz, got %g",
                     c->rate_hz);
  int port = c->port ? c->port : SP_TELEMETRY_PORT;
  if (port < 1 || port > 65535)
    return sp_errorf(msg, msglen, SP_EINVAL, "telemetry: port must be in [1, 65535], got %d",
                     c->port);
  if (c->nx < 0 || c->nu < 0)
    return sp_errorf(msg, msglen, SP_EINVAL, "telemetry: nx and nu must be >= 0");

  // the destination
  const char* host = c->host ? c->host : "127.0.0.1";
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  struct addrinfo* res = NULL;
  int gai = getaddrinfo(host, service, &hints, &res);
  if (gai || !res)
    return sp_errorf(msg, msglen, SP_EIO, "telemetry: cannot resolve %s: %s", host,
                     gai_strerror(gai));

  sp_telemetry* tm = sp_calloc(1, sizeof *tm);
  double* v = sp_calloc((size_t)c->nx + (size_t)c->nu + 1, sizeof(double));
  if (!tm || !v) {
    freeaddrinfo(res);
    sp_free(tm);
    sp_free(v);
    return sp_errorf(msg, msglen, SP_ENOMEM, "telemetry: out of memory");
  }
  tm->loop = l;
  tm->cfg = *c;
  tm->cfg.rate_hz = rate;
  tm->cfg.port = port;
  tm->cfg.host = NULL;  // not kept: the caller's string may go away
  tm->x = v;
  tm->u = v + c->nx;
  memcpy(&tm->dst, res->ai_addr, res->ai_addrlen);
  tm->dst_len = res->ai_addrlen;
  tm->fd = socket(res->ai_family, SOCK_DGRAM, 0);
  freeaddrinfo(res);
  if (tm->fd < 0) {
    int e = errno;
    sp_free(v);
    sp_free(tm);
    return sp_errorf(msg, msglen, SP_EIO, "telemetry: cannot open a UDP socket: %s", strerror(e));
  }
  atomic_init(&tm->stop, 0);
  atomic_init(&tm->sent, 0);
  atomic_init(&tm->dropped, 0);
  // the sender blocks every signal (inherited mask): signals go to the application's threads
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int prc = pthread_create(&tm->thread, NULL, sender_main, tm);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (prc) {
    close(tm->fd);
    sp_free(v);
    sp_free(tm);
    return sp_errorf(msg, msglen, SP_EIO, "telemetry: cannot start the sender thread");
  }
  *out = tm;
  return 0;
}

void sp_telemetry_free(sp_telemetry* tm) {
  if (!tm) return;
  atomic_store(&tm->stop, 1);
  pthread_join(tm->thread, NULL);
  close(tm->fd);
  sp_free(tm->x);
  sp_free(tm);
}

uint64_t sp_telemetry_sent(const sp_telemetry* tm) {
  return atomic_load(&((sp_telemetry*)tm)->sent);
}

uint64_t sp_telemetry_dropped(const sp_telemetry* tm) {
  return atomic_load(&((sp_telemetry*)tm)->dropped);
}
