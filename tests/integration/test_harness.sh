#!/usr/bin/env bash
# test_harness.sh: tests/test.h runs each C test case in its own process. A case that fails
# half-way leaving a thread running and a socket bound, or that crashes, does not leak either into
# the next case; the output keeps its "ok  NAME" / "FAIL NAME" lines and the "N passed, M failed"
# summary; arguments select cases by name.
set -euo pipefail
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$work/probe.c" <<'C'
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include "test.h"
static int bound_port;
static void* sleeper(void* arg) { for (;;) pause(); return arg; }
static int threads(void) {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  for (struct dirent* e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}
static int bind_port(int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(s, (struct sockaddr*)&a, sizeof a)) return -1;
  getsockname(s, (struct sockaddr*)&a, &len);
  return ntohs(a.sin_port);
}
TEST(a_failing_case_leaves_a_thread_and_a_socket_behind) {
  pthread_t t;
  pthread_create(&t, NULL, sleeper, NULL);
  bound_port = bind_port(0);
  FILE* f = fopen("port", "w");
  fprintf(f, "%d\n", bound_port);
  fclose(f);
  CHECK_INT(threads(), 1);
}
TEST(the_next_case_sees_one_thread_and_a_free_port) {
  FILE* f = fopen("port", "r");
  int port = 0;
  CHECK(f && fscanf(f, "%d", &port) == 1);
  fclose(f);
  CHECK_INT(threads(), 1);
  CHECK(bind_port(port) == port);
}
TEST(a_crash_is_that_cases_failure) {
  volatile int* p = NULL;
  *p = 1;
}
TEST(cases_after_a_crash_still_run) { CHECK_INT(bound_port, 0); }
TEST_MAIN()
C
cc -std=c11 -D_DEFAULT_SOURCE -I"$SRC/tests" "$work/probe.c" -o "$work/probe" -lm -pthread
cd "$work"
set +e
./probe >out 2>err
status=$?
set -e
[ $status -eq 1 ] || fail "the probe exited $status (expected 1)"
expected="FAIL a_failing_case_leaves_a_thread_and_a_socket_behind
ok   the_next_case_sees_one_thread_and_a_free_port
FAIL a_crash_is_that_cases_failure
ok   cases_after_a_crash_still_run
2 passed, 2 failed"
[ "$(cat out)" = "$expected" ] || { cat out err; fail "unexpected output"; }
grep -q 'threads() == 1: got 2 and 1' err || { cat err; fail "the failing check was not reported"; }
grep -q 'killed by signal 11' err || { cat err; fail "the crash was not reported"; }
# selecting by name
./probe next_case >out 2>err || fail "the selected case failed"
[ "$(cat out)" = "ok   the_next_case_sees_one_thread_and_a_free_port
1 passed, 0 failed" ] || { cat out; fail "selection by name ran: $(cat out)"; }
echo "test.h: each case in its own process; failures and crashes do not leak into the next case"
