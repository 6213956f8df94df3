// test_telemetry.c: hal/telemetry.c: JSON datagrams in PlotJuggler's form, received by a UDP
// listener on loopback while a real-time loop runs; one datagram per new tick at most.
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/error.h"
#include "fake_plant.h"
#include "hal/loop.h"
#include "hal/telemetry.h"
#include "test.h"

static const char* const xn[2] = {"px", "py"};
static const char* const un[2] = {"throttle", "steer"};

TEST(datagram_is_one_json_object_with_named_state_and_command) {
  sp_telemetry_config c = {.nx = 2, .nu = 2, .x_names = xn, .u_names = un};
  char buf[256];
  double x[2] = {0.5, -1.25}, u[2] = {NAN, 2.0};
  int n = sp_telemetry_format(buf, sizeof buf, &c, 1.5, 42, x, u, 64);
  CHECK(n > 0 && (size_t)n == strlen(buf));
  CHECK(strcmp(buf,
               "{\"t\":1.5,\"k\":42,\"x\":{\"px\":0.5,\"py\":-1.25},"
               "\"u\":{\"throttle\":null,\"steer\":2},\"flags\":64}") == 0);
  // unnamed entries are x0.., u0..; a buffer too small is refused, not cut
  c.x_names = c.u_names = NULL;
  n = sp_telemetry_format(buf, sizeof buf, &c, 0, 0, x, u, 0);
  CHECK(strstr(buf, "\"x\":{\"x0\":0.5,\"x1\":-1.25}") != NULL);
  CHECK(strstr(buf, "\"u0\":null") != NULL);
  CHECK_INT(sp_telemetry_format(buf, 20, &c, 0, 0, x, u, 0), -1);
}

static int act_const(void* user, double* u, const double* x, double t, long k) {
  (void)user, (void)x, (void)t, (void)k;
  u[0] = 0.25;
  u[1] = -0.5;
  return 0;
}

TEST(a_listener_on_loopback_receives_the_running_loop_at_the_telemetry_rate) {
  // the listener: an ephemeral UDP port on 127.0.0.1
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr*)&a, sizeof a) == 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &al);
  struct timeval tv = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  fake_register();
  fake_config fc = {.n = 2, .rate_hz = 500};
  static const double safe[2] = {0, 0};
  sp_safety_config sc = {.nx = 2, .nu = 2, .u_safe = safe, .period_s = 1.0 / 500};
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME, .act = act_const};
  sp_plant* p;
  sp_safety* s;
  sp_loop* l;
  char msg[256];
  CHECK_INT(sp_plant_open(&p, "fake", &fc, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  CHECK_INT(sp_safety_new(&s, &sc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_new(&l, p, s, &lc, msg, sizeof msg), 0);

  sp_telemetry* tm;
  sp_telemetry_config bad = {.port = 70000, .nx = 2, .nu = 2};
  CHECK_INT(sp_telemetry_new(&tm, l, &bad, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "port") != NULL);
  sp_telemetry_config tc = {.host = "127.0.0.1",
                            .port = ntohs(a.sin_port),
                            .rate_hz = 50,
                            .nx = 2,
                            .nu = 2,
                            .x_names = xn,
                            .u_names = un};
  CHECK_INT(sp_telemetry_new(&tm, l, &tc, msg, sizeof msg), 0);

  // nothing before the first tick
  char buf[1024];
  CHECK(recv(fd, buf, sizeof buf, 0) < 0);

  CHECK_INT(sp_loop_start(l, 0), 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int got = 0, good = 0;
  long last_k = -1;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec) > 0.5) break;
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) continue;
    buf[n] = 0;
    got++;
    long k;
    double t;
    if (sscanf(buf, "{\"t\":%lf,\"k\":%ld,", &t, &k) == 2 && k > last_k &&
        strstr(buf, "\"u\":{\"throttle\":0.25,\"steer\":-0.5}") && strstr(buf, "\"px\":"))
      good++;
    last_k = k;
  }
  CHECK_INT(sp_loop_stop(l), 0);
  // 50 datagrams a second for 0.5 s, sampled from a 500 Hz loop: about 25, never one per tick
  CHECK(got >= 10 && got <= 30);
  CHECK_INT(good, got);
  CHECK(sp_telemetry_sent(tm) >= (uint64_t)got);

  // the loop stopped: no new tick, no datagram
  while (recv(fd, buf, sizeof buf, 0) > 0) {
  }
  CHECK(recv(fd, buf, sizeof buf, 0) < 0);
  sp_telemetry_free(tm);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  close(fd);
}

TEST_MAIN()
