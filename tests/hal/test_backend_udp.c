// test_backend_udp.c: hal/backend_udp.c and hal/bridge.c over loopback: handshake, states and
// commands, counters, injected malformed/stale/duplicate/out-of-order packets dropped and counted
// on both sides, the bridge's watchdog and re-arm, e-stop, a missing robot at configure, and the
// client's safety watchdog when the bridge dies. Peers are an in-process bridge serving the fake
// plant (x += dt u) or a hand-written robot/host on a plain socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "fake_plant.h"
#include "hal/backend_model.h"
#include "hal/backend_udp.h"
#include "hal/bridge.h"
#include "hal/loop.h"
#include "hal/protocol.h"
#include "test.h"

static const char* const names_ab[2] = {"a", "b"};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

// ---- rigs -------------------------------------------------------------------------------------

typedef struct rig {
  sp_plant* robot;  // the fake plant the bridge serves
  sp_bridge* bridge;
  sp_plant* host;  // the udp plant talking to it
  char uri[64];
} rig;

static const double safe_cmd[2] = {-1.0, -1.0};

// a bridge (realtime at rate or lockstep) over a 2-channel fake plant, and a udp plant opened
// and configured against it
static int rig_open(rig* r, int realtime, double rate, double watchdog_s) {
  fake_register();
  memset(r, 0, sizeof *r);
  fake_config fc = {.n = 2, .rate_hz = rate};
  char msg[256];
  int rc = sp_plant_open(&r->robot, "fake", &fc, msg, sizeof msg);
  if (!rc) rc = sp_plant_configure(r->robot, msg, sizeof msg);
  sp_bridge_config bc = {.listen = "127.0.0.1:0",
                         .realtime = realtime,
                         .watchdog_s = watchdog_s,
                         .u_safe = safe_cmd,
                         .robot = "fakebot"};
  if (!rc) rc = sp_bridge_new(&r->bridge, r->robot, &bc, msg, sizeof msg);
  if (!rc) {
    snprintf(r->uri, sizeof r->uri, "udp://127.0.0.1:%d", sp_bridge_port(r->bridge));
    sp_plant_udp_config uc = {.robot = "fakebot",
                              .nx = 2,
                              .nu = 2,
                              .x_names = names_ab,
                              .u_names = names_ab,
                              .timeout_s = 2.0};
    rc = sp_plant_open(&r->host, r->uri, &uc, msg, sizeof msg);
    if (!rc) rc = sp_plant_configure(r->host, msg, sizeof msg);
  }
  if (rc) fprintf(stderr, "  rig: %s\n", msg);
  return rc;
}

static void rig_close(rig* r) {
  sp_plant_close(r->host);
  sp_bridge_free(r->bridge);
  sp_plant_close(r->robot);
}

// poll the udp plant until it returns a state newer than t_after (or timeout): 0 or SP_ETIMEOUT
static int wait_state(sp_plant* p, int64_t t_after, double timeout, double* x, int64_t* t,
                      uint32_t* status) {
  double end = now_s() + timeout;
  do {
    if (sp_plant_read(p, x, t, status) == 0 && *t > t_after) return 0;
    sleep_s(0.0002);
  } while (now_s() < end);
  return SP_ETIMEOUT;
}

// ---- a hand-written peer on a plain socket ------------------------------------------------------

typedef struct peer {
  int fd;
  struct sockaddr_in self, other;
  uint32_t seq;
} peer;

static int peer_open(peer* pe) {
  memset(pe, 0, sizeof *pe);
  pe->fd = socket(AF_INET, SOCK_DGRAM, 0);
  pe->self.sin_family = AF_INET;
  pe->self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(pe->fd, (struct sockaddr*)&pe->self, sizeof pe->self)) return -1;
  socklen_t n = sizeof pe->self;
  getsockname(pe->fd, (struct sockaddr*)&pe->self, &n);
  struct timeval tv = {1, 0};
  setsockopt(pe->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return 0;
}

static int peer_port(const peer* pe) {
  return ntohs(pe->self.sin_port);
}

static void peer_target(peer* pe, int port) {
  pe->other.sin_family = AF_INET;
  pe->other.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  pe->other.sin_port = htons((uint16_t)port);
}

// receive one frame (decoded); learns the sender as the other side. Returns the type or -1.
static int peer_recv(peer* pe, sp_proto_msg* m) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  socklen_t n = sizeof pe->other;
  ssize_t k = recvfrom(pe->fd, buf, sizeof buf, 0, (struct sockaddr*)&pe->other, &n);
  if (k <= 0 || sp_proto_decode(m, buf, (size_t)k)) return -1;
  return m->h.type;
}

// receive until a frame of the given type arrives (skipping heartbeats and others)
static int peer_expect(peer* pe, sp_proto_msg* m, int type) {
  for (int i = 0; i < 50; i++) {
    int t = peer_recv(pe, m);
    if (t == type) return 0;
    if (t < 0) return -1;
  }
  return -1;
}

static void peer_send(peer* pe, const uint8_t* buf, int n) {
  sendto(pe->fd, buf, (size_t)n, 0, (struct sockaddr*)&pe->other, sizeof pe->other);
}

static sp_proto_header hdr(uint32_t seq) {
  return (sp_proto_header){.seq = seq, .t_send_ns = 1000 + seq};
}

static int state_frame(uint8_t* buf, uint32_t seq, int64_t t, double v, int n) {
  double x[3] = {v, v, v};
  sp_proto_header h = hdr(seq);
  return sp_proto_encode_state(buf, SP_PROTO_MAX_FRAME, &h, t, 0, x, n);
}

static int command_frame(uint8_t* buf, uint32_t seq, double v) {
  double u[2] = {v, v};
  sp_proto_header h = hdr(seq);
  return sp_proto_encode_command(buf, SP_PROTO_MAX_FRAME, &h, u, 2);
}

static void peer_close(peer* pe) {
  close(pe->fd);
}

// fake robot: answer the first HELLO with a CONFIG for a 2-state, 2-action robot at 100 Hz
static void* fake_robot_handshake(void* arg) {
  peer* pe = arg;
  sp_proto_msg m;
  if (peer_expect(pe, &m, SP_PROTO_HELLO)) return NULL;
  sp_proto_hello c = {.proto_version = 1, .nx = 2, .nu = 2, .rate_hz = 100, .watchdog_ms = 100};
  strcpy(c.name, "fakebot");
  strcpy(c.x_names[0], "a");
  strcpy(c.x_names[1], "b");
  strcpy(c.u_names[0], "a");
  strcpy(c.u_names[1], "b");
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_header h = hdr(pe->seq++);
  peer_send(pe, buf, sp_proto_encode_hello(buf, sizeof buf, &h, SP_PROTO_CONFIG, &c));
  return NULL;
}

// ---- handshake --------------------------------------------------------------------------------

TEST(handshake_gives_the_robots_name_sizes_names_and_rate) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 0.2), 0);
  const sp_plant_caps* c = sp_plant_capabilities(r.host);
  CHECK_STR(c->robot, "fakebot");
  CHECK_STR(c->backend, "udp");
  CHECK_INT(c->nx, 2);
  CHECK_INT(c->nu, 2);
  CHECK_CLOSE(c->rate_hz, 100, 0, 0);
  CHECK_STR(c->x_names[1], "b");
  CHECK_STR(c->u_names[0], "a");
  CHECK_INT(c->can_reset, 0);
  CHECK_INT(sp_plant_reset(r.host, NULL), SP_EUNSUPPORTED);
  sp_bridge_stats bs;
  sp_bridge_stats_get(r.bridge, &bs);
  CHECK(bs.sessions >= 1);
  rig_close(&r);
}

TEST(missing_robot_times_out_at_configure_naming_the_address) {
  peer silent;  // a bound port that never answers
  CHECK_INT(peer_open(&silent), 0);
  char uri[64], msg[256], want[96];
  snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", peer_port(&silent));
  sp_plant_udp_config uc = {.timeout_s = 0.3};
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, uri, &uc, msg, sizeof msg), 0);
  double t0 = now_s();
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), SP_ETIMEOUT);
  double took = now_s() - t0;
  snprintf(want, sizeof want, "no CONFIG from %s within 0.3 s", uri);
  CHECK(strstr(msg, want) != NULL);
  CHECK(took >= 0.29 && took < 1.0);
  CHECK_INT(p->state, SP_PLANT_OPENED);
  // the HELLOs that went out, every 100 ms
  sp_proto_msg m;
  int hellos = 0;
  struct timeval tv = {0, 100000};
  setsockopt(silent.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (peer_recv(&silent, &m) == SP_PROTO_HELLO) hellos++;
  CHECK(hellos >= 3 && hellos <= 5);
  sp_plant_close(p);
  peer_close(&silent);
}

TEST(bad_uris_are_refused_at_open_with_the_expected_form) {
  sp_plant* p = NULL;
  char msg[256];
  const char* bad[] = {"udp://", "udp://127.0.0.1", "udp://127.0.0.1:0", "udp://nohost:9870",
                       "udp://127.0.0.1:99999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_INT(sp_plant_open(&p, bad[i], NULL, msg, sizeof msg), SP_EINVAL);
    CHECK(strstr(msg, "expected udp://HOST:PORT") != NULL);
    CHECK(p == NULL);
  }
}

TEST(mismatched_robot_is_refused_naming_the_first_difference) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 0.2), 0);
  static const char* const wrong[2] = {"a", "heading"};
  sp_plant_udp_config uc = {.nx = 2, .nu = 2, .x_names = wrong, .u_names = names_ab};
  sp_plant* p = NULL;
  char msg[256];
  CHECK_INT(sp_plant_open(&p, r.uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), SP_EMISMATCH);
  CHECK(strstr(msg, "names state 2 'b', expected 'heading'") != NULL);
  sp_plant_close(p);
  uc = (sp_plant_udp_config){.nx = 3};
  CHECK_INT(sp_plant_open(&p, r.uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), SP_EMISMATCH);
  CHECK(strstr(msg, "has 2 states, expected 3") != NULL);
  sp_plant_close(p);
  uc = (sp_plant_udp_config){.robot = "rc_car"};
  CHECK_INT(sp_plant_open(&p, r.uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), SP_EMISMATCH);
  CHECK(strstr(msg, "is 'fakebot', expected 'rc_car'") != NULL);
  sp_plant_close(p);
  rig_close(&r);
}

// ---- states and commands ----------------------------------------------------------------------

TEST(lockstep_bridge_steps_once_per_command_and_states_match_the_plant) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 0.5), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], xr[2] = {0, 0};
  int64_t t = -1;
  uint32_t st;
  CHECK_INT(wait_state(r.host, -1, 1.0, x, &t, &st), 0);  // the state sent with CONFIG
  CHECK_INT(t, 0);
  for (int k = 0; k < 60; k++) {
    double u[2] = {sin(0.1 * k), 0.5 * cos(0.3 * k)};
    CHECK_INT(sp_plant_write(r.host, u), 0);
    int64_t t_prev = t;
    CHECK_INT(wait_state(r.host, t_prev, 1.0, x, &t, &st), 0);
    for (int i = 0; i < 2; i++) xr[i] += 0.01 * u[i];
    CHECK_CLOSE(x[0], xr[0], 1e-12, 1e-12);
    CHECK_CLOSE(x[1], xr[1], 1e-12, 1e-12);
    CHECK_INT(t, (int64_t)(k + 1) * 10000000);
    CHECK_INT(st & (SP_FLAG_PLANT_WATCHDOG | SP_FLAG_PLANT_SAFE_STOP), 0);
  }
  sp_bridge_stats bs;
  sp_udp_stats hs;
  sp_bridge_stats_get(r.bridge, &bs);
  CHECK_INT(sp_plant_udp_stats(r.host, &hs), 0);
  CHECK_INT(bs.commands, 60);
  CHECK_INT(bs.steps, 60);
  CHECK_INT(bs.safe_steps, 0);
  CHECK_INT(bs.link.dropped_total, 0);
  CHECK_INT(hs.dropped_total, 0);
  CHECK(hs.accepted >= 62);  // CONFIG, the first state, one state per command (+ heartbeats)
  CHECK(hs.rtt_samples >= 60);
  CHECK(hs.rtt_p50_us > 0 && hs.rtt_p50_us <= hs.rtt_p99_us + 1 && hs.rtt_max_us < 1e6);
  CHECK(hs.sent >= 61);
  rig_close(&r);
}

// the car's speed and heading loop
static int act_car(void* user, double* u, const double* x, double t, long k) {
  u[0] = 1.0 - x[2] + 0.3 * sin(0.05 * (double)k);
  u[1] = 0.4 - 0.5 * x[3];
  return 0;
}

// a lockstep rollout of 200 ticks on plant p; the trajectory in tr
static int car_rollout(sp_plant* p, sp_traj* tr) {
  static const double safe[2] = {0, 0};
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.01, .watchdog_s = 0.05};
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_car};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  char msg[256];
  int rc = sp_safety_new(&s, &sc, msg, sizeof msg);
  if (!rc) rc = sp_loop_new(&l, p, s, &lc, msg, sizeof msg);
  sp_rollout_opts o = {.steps = 200};
  if (!rc) rc = sp_loop_rollout(l, tr, &o);
  sp_loop_free(l);
  sp_safety_free(s);
  return rc;
}

TEST(lockstep_rollout_through_a_lockstep_bridge_equals_the_rollout_on_the_plant) {
  sp_plant_model_config mc = {
      .model = "unicycle_accel", .rate_hz = 100, .substeps = 2, .integrator = SP_INTEGRATOR_RK4};
  char msg[256], uri[64];
  sp_plant *local = NULL, *robot = NULL, *host = NULL;
  sp_bridge* b = NULL;
  CHECK_INT(sp_plant_open(&local, "model", &mc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(local, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_open(&robot, "model", &mc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(robot, msg, sizeof msg), 0);
  sp_bridge_config bc = {.listen = "127.0.0.1:0"};
  CHECK_INT(sp_bridge_new(&b, robot, &bc, msg, sizeof msg), 0);
  snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", sp_bridge_port(b));
  sp_plant_udp_config uc = {.wait_s = 1.0};
  CHECK_INT(sp_plant_open(&host, uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(host, msg, sizeof msg), 0);

  sp_traj a, c;
  CHECK_INT(car_rollout(local, &a), 0);
  CHECK_INT(car_rollout(host, &c), 0);
  CHECK_INT(c.n, 200);
  CHECK(memcmp(a.x, c.x, sizeof(double) * 4 * 201) == 0);
  CHECK(memcmp(a.u, c.u, sizeof(double) * 2 * 200) == 0);
  for (long i = 0; i < c.n; i++) CHECK_INT(c.flags[i] & (SP_FLAG_DROPPED | SP_FLAG_SAFE), 0);
  CHECK(c.x[4 * 200 + 2] > 0.5);  // the car did move
  sp_traj_free(&a);
  sp_traj_free(&c);
  sp_plant_close(host);
  sp_bridge_free(b);
  sp_plant_close(robot);
  sp_plant_close(local);
}

// lockstep with wait: a read after a command returns the robot's answer; a robot that stops
// answering is SP_ETIMEOUT after the wait (never its last state passed off as the answer); a read
// with nothing sent since returns the latest state at once
TEST(lockstep_read_times_out_when_the_robot_stops_answering) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 5.0), 0);
  sp_plant_close(r.host);  // reopened with wait_s
  char msg[256];
  sp_plant_udp_config uc = {.robot = "fakebot", .nx = 2, .nu = 2, .wait_s = 0.2};
  CHECK_INT(sp_plant_open(&r.host, r.uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(r.host, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], u[2] = {1.0, 1.0};
  int64_t t = -1, t_prev;
  uint32_t st = 0;
  CHECK_INT(wait_state(r.host, -1, 1.0, x, &t, &st), 0);  // the state sent with CONFIG
  for (int k = 0; k < 3; k++) {  // each read is the answer to the command before it
    t_prev = t;
    CHECK_INT(sp_plant_write(r.host, u), 0);
    CHECK_INT(sp_plant_read(r.host, x, &t, &st), 0);
    CHECK(t > t_prev);
  }
  double t0 = now_s();
  CHECK_INT(sp_plant_read(r.host, x, &t_prev, &st), 0);  // nothing sent: the latest, at once
  CHECK(t_prev == t);
  CHECK(now_s() - t0 < 0.1);
  // the robot goes away: the next command gets no answer
  sp_bridge_free(r.bridge);
  r.bridge = NULL;
  CHECK_INT(sp_plant_write(r.host, u), 0);
  t0 = now_s();
  CHECK_INT(sp_plant_read(r.host, x, &t, &st), SP_ETIMEOUT);
  double waited = now_s() - t0;
  CHECK(waited >= 0.19 && waited < 1.0);
  CHECK_INT(sp_plant_read(r.host, x, &t, &st), SP_ETIMEOUT);  // still no answer
  rig_close(&r);
}

// --reset-on-session: each new session starts the (simulated) robot from its initial state, and a
// lockstep read after a rearm returns the new session's state, not the one the old session sent
// late (its watchdog trip's step); realtime refuses it
TEST(bridge_resets_the_robot_on_each_session_and_the_read_after_a_rearm_is_the_new_one) {
  fake_register();
  char msg[256];
  fake_config fc = {.n = 2, .rate_hz = 100};
  sp_plant *robot = NULL, *host = NULL;
  sp_bridge* b = NULL;
  CHECK_INT(sp_plant_open(&robot, "fake", &fc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(robot, msg, sizeof msg), 0);
  sp_bridge_config bc = {.listen = "127.0.0.1:0",
                         .realtime = 1,
                         .watchdog_s = 0.1,
                         .u_safe = safe_cmd,
                         .robot = "fakebot",
                         .reset_on_session = 1};
  CHECK_INT(sp_bridge_new(&b, robot, &bc, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "reset_on_session needs lockstep") != NULL);
  bc.realtime = 0;
  CHECK_INT(sp_bridge_new(&b, robot, &bc, msg, sizeof msg), 0);
  char uri[64];
  snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", sp_bridge_port(b));
  sp_plant_udp_config uc = {.robot = "fakebot", .nx = 2, .nu = 2, .wait_s = 0.5};
  CHECK_INT(sp_plant_open(&host, uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(host, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_activate(host), 0);
  double x[2], u[2] = {1.0, 1.0};
  int64_t t = -1;
  uint32_t st = 0;
  CHECK_INT(sp_plant_read(host, x, &t, &st), 0);  // the state after the session's CONFIG
  CHECK(x[0] == 0.0 && t == 0);
  for (int k = 0; k < 10; k++) {
    CHECK_INT(sp_plant_write(host, u), 0);
    CHECK_INT(sp_plant_read(host, x, &t, &st), 0);
  }
  CHECK_CLOSE(x[0], 0.1, 1e-12, 0);
  // the host goes quiet (no heartbeats either): the bridge's watchdog trips and steps with the
  // safe command (-1, -1), whose state reaches the host unread
  CHECK_INT(sp_plant_deactivate(host), 0);
  sleep_s(0.3);
  sp_bridge_stats bs;
  sp_bridge_stats_get(b, &bs);
  CHECK_INT(bs.watchdog_trips, 1);
  // a new session (activate after a deactivate: a HELLO, as rearm): the robot starts again from
  // its initial state, and that is what read returns
  CHECK_INT(sp_plant_activate(host), 0);
  CHECK_INT(sp_plant_read(host, x, &t, &st), 0);
  CHECK(x[0] == 0.0 && x[1] == 0.0 && t == 0);
  CHECK_INT(st & SP_FLAG_PLANT_WATCHDOG, 0);
  sp_bridge_stats_get(b, &bs);
  CHECK_INT(bs.sessions, 2);
  CHECK_INT(bs.resets, 2);
  CHECK_INT(sp_plant_write(host, u), 0);  // and it moves again from there
  CHECK_INT(sp_plant_read(host, x, &t, &st), 0);
  CHECK_CLOSE(x[0], 0.01, 1e-12, 0);
  sp_plant_close(host);
  sp_bridge_free(b);
  sp_plant_close(robot);
}

TEST(read_and_write_do_not_allocate) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 0.5), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], u[2] = {0.1, 0.2};
  int64_t t = -1;
  uint32_t st;
  CHECK_INT(wait_state(r.host, -1, 1.0, x, &t, &st), 0);
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 200; k++) {
    CHECK_INT(sp_plant_write(r.host, u), 0);
    CHECK_INT(wait_state(r.host, t, 1.0, x, &t, &st), 0);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  rig_close(&r);
}

TEST(a_restarted_robot_is_picked_up_again_after_a_rearm) {
  rig r;
  CHECK_INT(rig_open(&r, 0, 100, 0.5), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], u[2] = {1.0, 1.0};
  int64_t t = -1;
  uint32_t st;
  CHECK_INT(wait_state(r.host, -1, 1.0, x, &t, &st), 0);
  for (int k = 0; k < 20; k++) {
    CHECK_INT(sp_plant_write(r.host, u), 0);
    CHECK_INT(wait_state(r.host, t, 1.0, x, &t, &st), 0);
  }
  CHECK_CLOSE(x[0], 0.2, 1e-12, 0);

  // the robot restarts on the same port: new plant (time from 0), numbering from 0
  int port = sp_bridge_port(r.bridge);
  sp_bridge_free(r.bridge);
  sp_plant_close(r.robot);
  fake_config fc = {.n = 2, .rate_hz = 100};
  char msg[256], listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  sp_bridge_config bc = {.listen = listen, .robot = "fakebot"};
  CHECK_INT(sp_plant_open(&r.robot, "fake", &fc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(r.robot, msg, sizeof msg), 0);
  CHECK_INT(sp_bridge_new(&r.bridge, r.robot, &bc, msg, sizeof msg), 0);

  // re-arm: a new session; the restarted robot's states are accepted although older
  CHECK_INT(sp_plant_udp_rearm(r.host), 0);
  double end = now_s() + 1.0;
  int ok = 0;
  while (!ok && now_s() < end) {
    CHECK_INT(sp_plant_write(r.host, u), 0);
    sleep_s(0.01);
    ok = sp_plant_read(r.host, x, &t, &st) == 0 && x[0] < 0.1;
  }
  CHECK(ok);
  CHECK(t < 200000000);  // the new robot's clock
  rig_close(&r);
}

// ---- injected packets --------------------------------------------------------------------------

TEST(host_drops_and_counts_malformed_duplicate_stale_foreign_and_unexpected_packets) {
  peer robot, stranger;
  CHECK_INT(peer_open(&robot), 0);
  CHECK_INT(peer_open(&stranger), 0);
  robot.seq = 1;
  char uri[64], msg[256];
  snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", peer_port(&robot));
  pthread_t th;
  pthread_create(&th, NULL, fake_robot_handshake, &robot);
  sp_plant* p = NULL;
  sp_plant_udp_config uc = {.nx = 2, .nu = 2, .timeout_s = 2, .heartbeat_s = 10};
  CHECK_INT(sp_plant_open(&p, uri, &uc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  pthread_join(th, NULL);
  stranger.other = robot.other;  // the stranger aims at the host too

  uint8_t buf[SP_PROTO_MAX_FRAME], good[SP_PROTO_MAX_FRAME];
  double x[2];
  int64_t t = 0;
  uint32_t st;
  int n;
  // a good state: t = 10 ns, value 1
  peer_send(&robot, good, state_frame(good, 10, 10, 1.0, 2));
  CHECK_INT(wait_state(p, 0, 1.0, x, &t, &st), 0);
  CHECK_INT(t, 10);

  // each bad packet is followed by a good state; the good value must be what read returns
  int64_t tgood = 10;
  uint32_t seq = 11;
  for (int kind = 0; kind < 10; kind++) {
    switch (kind) {
      case 0:  // the same good frame again: duplicate
        peer_send(&robot, good, state_frame(good, seq - 1, tgood, 1.0, 2));
        break;
      case 1:  // an older sequence number: stale
        peer_send(&robot, buf, state_frame(buf, seq - 5, tgood + 1, 666, 2));
        break;
      case 2:  // a corrupted payload byte: crc
        n = state_frame(buf, seq++, tgood + 1, 666, 2);
        buf[40] ^= 0x10;
        peer_send(&robot, buf, n);
        break;
      case 3:  // cut short: malformed
        n = state_frame(buf, seq++, tgood + 1, 666, 2);
        peer_send(&robot, buf, n - 7);
        break;
      case 4:  // another protocol version: version
        n = state_frame(buf, seq++, tgood + 1, 666, 2);
        buf[4] = 2;
        peer_send(&robot, buf, n);
        break;
      case 5:  // fresh number, but measured no later than the last state: stale
        peer_send(&robot, buf, state_frame(buf, seq++, tgood, 666, 2));
        break;
      case 6:  // the wrong state size: unexpected
        peer_send(&robot, buf, state_frame(buf, seq++, tgood + 1, 666, 3));
        break;
      case 7:  // a command travelling the wrong way: unexpected
        peer_send(&robot, buf, command_frame(buf, seq++, 666));
        break;
      case 8:  // a valid state from another address: foreign
        peer_send(&stranger, buf, state_frame(buf, seq + 100, tgood + 1, 666, 2));
        break;
      case 9: {  // a gap, then the skipped state arriving late: lost, then stale
        uint32_t skipped = seq++;
        peer_send(&robot, good, state_frame(good, seq++, ++tgood, 1.0 + kind, 2));
        CHECK_INT(wait_state(p, tgood - 1, 1.0, x, &t, &st), 0);
        peer_send(&robot, buf, state_frame(buf, skipped, tgood + 1, 666, 2));
        break;
      }
    }
    peer_send(&robot, good, state_frame(good, seq++, ++tgood, 2.0 + kind, 2));
    CHECK_INT(wait_state(p, tgood - 1, 1.0, x, &t, &st), 0);
    CHECK_INT(t, tgood);
    CHECK_CLOSE(x[0], 2.0 + kind, 0, 0);
  }
  sp_udp_stats s;
  CHECK_INT(sp_plant_udp_stats(p, &s), 0);
  CHECK_INT(s.dropped[SP_UDP_DROP_DUPLICATE], 1);
  CHECK_INT(s.dropped[SP_UDP_DROP_STALE], 3);
  CHECK_INT(s.dropped[SP_UDP_DROP_CRC], 1);
  CHECK_INT(s.dropped[SP_UDP_DROP_MALFORMED], 1);
  CHECK_INT(s.dropped[SP_UDP_DROP_VERSION], 1);
  CHECK_INT(s.dropped[SP_UDP_DROP_UNEXPECTED], 2);
  CHECK_INT(s.dropped[SP_UDP_DROP_FOREIGN], 1);
  CHECK_INT(s.dropped_total, 10);
  CHECK_INT(s.accepted, 1 + 1 + 10 + 1);  // CONFIG, first state, one per kind, the extra one
  CHECK_INT(s.received, s.accepted + s.dropped_total);
  CHECK_STR(sp_udp_drop_name(SP_UDP_DROP_CRC), "crc");
  sp_plant_close(p);
  peer_close(&robot);
  peer_close(&stranger);
}

TEST(bridge_steps_only_on_fresh_commands_and_counts_what_it_drops) {
  fake_register();
  fake_config fc = {.n = 2, .rate_hz = 100};
  sp_plant* plant = NULL;
  sp_bridge* b = NULL;
  char msg[256];
  CHECK_INT(sp_plant_open(&plant, "fake", &fc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(plant, msg, sizeof msg), 0);
  sp_bridge_config bc = {.listen = "127.0.0.1:0", .watchdog_s = 5};
  CHECK_INT(sp_bridge_new(&b, plant, &bc, msg, sizeof msg), 0);
  peer host, stranger;
  CHECK_INT(peer_open(&host), 0);
  CHECK_INT(peer_open(&stranger), 0);
  peer_target(&host, sp_bridge_port(b));
  peer_target(&stranger, sp_bridge_port(b));

  // handshake by hand: HELLO -> CONFIG + STATE
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_hello hello = {.proto_version = 1};
  sp_proto_header h = hdr(100);
  peer_send(&host, buf, sp_proto_encode_hello(buf, sizeof buf, &h, SP_PROTO_HELLO, &hello));
  sp_proto_msg m;
  CHECK_INT(peer_expect(&host, &m, SP_PROTO_CONFIG), 0);
  CHECK_INT(m.body.hello.nx, 2);
  CHECK_INT(m.body.hello.watchdog_ms, 5000);
  CHECK_INT(peer_expect(&host, &m, SP_PROTO_STATE), 0);

  // one fresh command: one step, one state; its echo is our t_send
  peer_send(&host, buf, command_frame(buf, 101, 1.0));
  CHECK_INT(peer_expect(&host, &m, SP_PROTO_STATE), 0);
  CHECK_CLOSE(m.body.state.x[0], 0.01, 1e-12, 0);
  CHECK_INT(m.h.t_echo_ns, 1000 + 101);

  // bad commands: duplicate, stale, corrupted, wrong size, foreign; none steps the plant
  peer_send(&host, buf, command_frame(buf, 101, 50.0));
  peer_send(&host, buf, command_frame(buf, 99, 50.0));
  int n = command_frame(buf, 102, 50.0);
  buf[n - 1] ^= 1;
  peer_send(&host, buf, n);
  double u3[3] = {50, 50, 50};
  h = hdr(103);
  peer_send(&host, buf, sp_proto_encode_command(buf, sizeof buf, &h, u3, 3));
  peer_send(&stranger, buf, command_frame(buf, 500, 50.0));
  // then a good one: the state shows exactly two good steps
  peer_send(&host, buf, command_frame(buf, 104, 1.0));
  CHECK_INT(peer_expect(&host, &m, SP_PROTO_STATE), 0);
  CHECK_CLOSE(m.body.state.x[0], 0.02, 1e-12, 0);
  sp_bridge_stats s;
  sp_bridge_stats_get(b, &s);
  CHECK_INT(s.steps, 2);
  CHECK_INT(s.commands, 2);
  CHECK_INT(s.link.dropped[SP_UDP_DROP_DUPLICATE], 1);
  CHECK_INT(s.link.dropped[SP_UDP_DROP_STALE], 1);
  CHECK_INT(s.link.dropped[SP_UDP_DROP_CRC], 1);
  CHECK_INT(s.link.dropped[SP_UDP_DROP_UNEXPECTED], 1);
  CHECK_INT(s.link.dropped[SP_UDP_DROP_FOREIGN], 1);
  CHECK_INT(s.link.lost, 1);  // 102 never arrived intact

  // a late copy of the HELLO is answered but does not start a session
  h = hdr(100);
  peer_send(&host, buf, sp_proto_encode_hello(buf, sizeof buf, &h, SP_PROTO_HELLO, &hello));
  CHECK_INT(peer_expect(&host, &m, SP_PROTO_CONFIG), 0);
  sp_bridge_stats_get(b, &s);
  CHECK_INT(s.sessions, 1);
  sp_bridge_free(b);
  sp_plant_close(plant);
  peer_close(&host);
  peer_close(&stranger);
}

// ---- watchdogs and e-stop -----------------------------------------------------------------------

// n commands u at 200 Hz from the host, then its latest state (x, status). A trip while commands
// flow is right only if the bridge saw a silence of at least its watchdog (a loaded machine can
// starve the writer or the bridge's thread for ~100 ms): then the session is re-armed and the
// phase run again, at most 3 times. Returns the trips taken that way, or -1 (said why) for a
// failed write or read, a trip with less silence than the watchdog, or 3 trips.
static int commanded_phase(rig* r, int n, const double* u, double watchdog_s, double* x, int64_t* t,
                           uint32_t* st) {
  for (int trips = 0; trips < 3; trips++) {
    int64_t t0 = -1;
    if (sp_plant_read(r->host, x, &t0, st) != 0) t0 = -1;
    for (int k = 0; k < n; k++) {
      if (sp_plant_write(r->host, u) != 0) return fprintf(stderr, "  a write failed\n"), -1;
      sleep_s(0.005);
    }
    if (wait_state(r->host, t0, 1.0, x, t, st) != 0)
      return fprintf(stderr, "  no new state within 1 s\n"), -1;
    if (!(*st & SP_FLAG_PLANT_WATCHDOG)) return trips;
    sp_bridge_stats bs;
    sp_bridge_stats_get(r->bridge, &bs);
    if (!(bs.last_trip_silence_s >= watchdog_s)) {
      fprintf(stderr, "  the watchdog tripped after %.3f s without a command (watchdog %.3f s)\n",
              bs.last_trip_silence_s, watchdog_s);
      return -1;
    }
    printf("  a loaded machine: the bridge saw %.3f s without a command and tripped; again\n",
           bs.last_trip_silence_s);
    if (sp_plant_udp_rearm(r->host) != 0) return fprintf(stderr, "  re-arming failed\n"), -1;
    sleep_s(0.03);
  }
  fprintf(stderr, "  the watchdog tripped in 3 phases of commands at 200 Hz\n");
  return -1;
}

TEST(bridge_watchdog_applies_the_safe_command_in_time_and_latches_until_rearmed) {
  rig r;
  CHECK_INT(rig_open(&r, 1, 200, 0.1), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], u[2] = {1.0, 1.0};
  int64_t t = -1;
  uint32_t st = 0;
  // commands at 200 Hz for 0.3 s: x grows, no watchdog
  int trips = commanded_phase(&r, 60, u, 0.1, x, &t, &st);
  CHECK(trips >= 0);
  CHECK(!(st & SP_FLAG_PLANT_WATCHDOG));
  CHECK(x[0] > 0.1);

  // silence (deactivate: no commands, no heartbeats): the robot trips within the watchdog time
  CHECK_INT(sp_plant_deactivate(r.host), 0);
  double t_silent = now_s();
  double seen = -1;
  while (now_s() - t_silent < 1.0) {
    if (sp_plant_read(r.host, x, &t, &st) == 0 && (st & SP_FLAG_PLANT_WATCHDOG)) {
      seen = now_s() - t_silent;
      break;
    }
    sleep_s(0.0005);
  }
  CHECK(seen > 0.09 && seen < 0.25);  // the watchdog time, plus slack for a loaded machine
  CHECK(st & SP_FLAG_PLANT_SAFE_STOP);
  sp_bridge_stats bs;
  sp_bridge_stats_get(r.bridge, &bs);
  CHECK_INT(bs.watchdog_trips, trips + 1);
  CHECK(bs.last_trip_silence_s >= 0.1 && bs.last_trip_silence_s < 0.2);
  // the safe command (-1, -1) now drives the plant: x falls (6 of the bridge's ticks; waited for
  // rather than slept for, so a loaded machine that delays the bridge's ticks does not fail it)
  double x_trip = x[0];
  double t_fall = now_s();
  while (now_s() - t_fall < 1.0) {
    CHECK_INT(sp_plant_read(r.host, x, &t, &st), 0);
    if (x[0] < x_trip - 0.03) break;
    sleep_s(0.001);
  }
  CHECK(x[0] < x_trip - 0.03);
  CHECK(st & SP_FLAG_PLANT_SAFE_STOP);

  // re-arm: activate starts a new session; commands act again and the flags clear
  CHECK_INT(sp_plant_activate(r.host), 0);
  sleep_s(0.03);
  int trips2 = commanded_phase(&r, 20, u, 0.1, x, &t, &st);
  CHECK(trips2 >= 0);
  CHECK_INT(st & (SP_FLAG_PLANT_WATCHDOG | SP_FLAG_PLANT_SAFE_STOP), 0);
  sp_bridge_stats_get(r.bridge, &bs);
  CHECK_INT(bs.watchdog_trips, trips + 1 + trips2);
  CHECK(bs.sessions >= 2);
  rig_close(&r);
}

TEST(estop_latches_on_the_robot_and_shows_in_the_state_flags) {
  rig r;
  CHECK_INT(rig_open(&r, 1, 200, 0.5), 0);
  CHECK_INT(sp_plant_activate(r.host), 0);
  double x[2], u[2] = {1.0, 1.0};
  int64_t t = -1;
  uint32_t st = 0;
  for (int k = 0; k < 10; k++) {
    CHECK_INT(sp_plant_write(r.host, u), 0);
    sleep_s(0.005);
  }
  CHECK_INT(sp_plant_udp_estop(r.host, SP_PROTO_ESTOP_OPERATOR), 0);
  for (int k = 0; k < 20; k++) {  // commands keep coming but are ignored
    CHECK_INT(sp_plant_write(r.host, u), 0);
    sleep_s(0.005);
  }
  CHECK_INT(sp_plant_read(r.host, x, &t, &st), 0);
  CHECK(st & SP_FLAG_PLANT_ESTOP);
  CHECK(st & SP_FLAG_PLANT_SAFE_STOP);
  sp_bridge_stats bs;
  sp_bridge_stats_get(r.bridge, &bs);
  CHECK(bs.status & SP_PROTO_STATUS_ESTOP);
  CHECK(bs.safe_steps >= 15);
  rig_close(&r);
}

// the policy for the loop test: hold u = 1
static int act_one(void* user, double* u, const double* x, double t, long k) {
  u[0] = u[1] = 1.0;
  return 0;
}

TEST(client_safety_watchdog_stops_the_loop_when_the_bridge_dies_and_keeps_every_tick) {
  rig r;
  CHECK_INT(rig_open(&r, 1, 200, 0.2), 0);
  sp_safety_config sc = {
      .nx = 2, .nu = 2, .u_safe = safe_cmd, .period_s = 1.0 / 200, .watchdog_s = 0.2};
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME, .act = act_one, .stop_on_fault = 1};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  char msg[256];
  CHECK_INT(sp_safety_new(&s, &sc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_new(&l, r.host, s, &lc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_start(l, 2000), 0);  // 10 s unless something stops it
  sleep_s(0.3);
  if (!sp_loop_running(l)) {
    sp_safety_stats ss0;
    sp_safety_stats_get(s, &ss0);
    fprintf(stderr, "  stopped early: cause %s at t = %g\n",
            sp_safety_cause_name((sp_safety_cause)ss0.first_cause), ss0.first_fault_t);
  }
  CHECK(sp_loop_running(l));
  double t_kill = now_s();
  sp_bridge_free(r.bridge);  // the robot goes away
  r.bridge = NULL;
  CHECK_INT(sp_loop_wait(l), 0);
  double took = now_s() - t_kill;
  CHECK(took >= 0.19 && took < 0.8);
  sp_loop_stats ls;
  sp_loop_stats_get(l, &ls);
  sp_log* g = sp_loop_log(l);
  long n = sp_log_count(g);
  CHECK_INT(n, (long)ls.ticks);
  CHECK_INT(ls.log_overflows, 0);
  const long* k = sp_log_k(g);
  for (long i = 0; i < n; i++) CHECK_INT(k[i], i);
  const uint32_t* f = sp_log_flags(g);
  CHECK(f[n - 1] & SP_FLAG_WATCHDOG);
  CHECK(f[n - 1] & SP_FLAG_SAFE);
  sp_safety_stats ss;
  sp_safety_stats_get(s, &ss);
  CHECK_INT(ss.first_cause, SP_CAUSE_WATCHDOG);
  sp_loop_free(l);
  sp_safety_free(s);
  rig_close(&r);
}

TEST_MAIN()
