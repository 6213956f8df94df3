// test_log.c: hal/log.c ring: order, overflow accounting, no allocation in push, concurrent
// producer/consumer, NPY/CSV output, and no sample lost at 1 kHz for 10 s in real-time mode.
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/npy.h"
#include "fake_plant.h"
#include "hal/log.h"
#include "hal/loop.h"
#include "hal/safety.h"
#include "test.h"

TEST(samples_come_out_in_order_with_their_values_across_many_wraps) {
  sp_log* g = NULL;
  CHECK_INT(sp_log_new(&g, 2, 1, 5), 0);
  CHECK_INT(sp_log_capacity(g), 8);
  long next = 0;
  for (int round = 0; round < 50; round++) {
    for (int j = 0; j < 1 + round % 8; j++, next++) {
      double x[2] = {next, -next}, u[1] = {0.5 * next};
      CHECK_INT(sp_log_push(g, next, 0.001 * next, x, u, (uint32_t)next * 3), 0);
    }
    CHECK(sp_log_drain(g) > 0);
  }
  CHECK_INT(sp_log_count(g), next);
  for (long i = 0; i < next; i++) {
    CHECK_INT(sp_log_k(g)[i], i);
    CHECK(sp_log_t(g)[i] == 0.001 * i);
    CHECK_INT(sp_log_flags(g)[i], i * 3);
    CHECK(sp_log_x(g)[2 * i] == i && sp_log_x(g)[2 * i + 1] == -i);
    CHECK(sp_log_u(g)[i] == 0.5 * i);
  }
  CHECK_INT(sp_log_overflows(g), 0);
  sp_log_free(g);
}

TEST(a_full_ring_counts_every_dropped_sample) {
  sp_log* g = NULL;
  CHECK_INT(sp_log_new(&g, 1, 1, 8), 0);
  double x = 1, u = 2;
  int refused = 0;
  for (int k = 0; k < 11; k++) refused += sp_log_push(g, k, k, &x, &u, 0) == SP_ERANGE;
  CHECK_INT(refused, 3);
  CHECK_INT(sp_log_overflows(g), 3);
  CHECK_INT(sp_log_pushed(g), 8);
  CHECK_INT(sp_log_drain(g), 8);
  CHECK_INT(sp_log_k(g)[7], 7);
  CHECK_INT(sp_log_push(g, 11, 11, &x, &u, 0), 0);  // room again after draining
  sp_log_free(g);
}

TEST(push_does_not_allocate) {
  sp_log* g = NULL;
  CHECK_INT(sp_log_new(&g, 4, 2, 1024), 0);
  double x[4] = {1, 2, 3, 4}, u[2] = {5, 6};
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 5000; k++) sp_log_push(g, k, k, x, u, 0);
  CHECK(sp_alloc_count() == before);
  CHECK_INT(sp_log_overflows(g), 5000 - 1024);
  sp_log_free(g);
}

typedef struct {
  sp_log* g;
  long n;
  atomic_int done;
} producer_arg;

static void* produce(void* p) {
  producer_arg* a = p;
  for (long k = 0; k < a->n; k++) {
    double x = (double)k, u = -(double)k;
    while (sp_log_push(a->g, k, (double)k, &x, &u, 1) != 0) sched_yield();
  }
  atomic_store(&a->done, 1);
  return NULL;
}

TEST(concurrent_producer_and_consumer_lose_and_corrupt_nothing) {
  producer_arg a = {.n = 200000};
  CHECK_INT(sp_log_new(&a.g, 1, 1, 64), 0);
  atomic_init(&a.done, 0);
  pthread_t th;
  CHECK_INT(pthread_create(&th, NULL, produce, &a), 0);
  while (!atomic_load(&a.done)) sp_log_drain(a.g);
  pthread_join(th, NULL);
  sp_log_drain(a.g);
  CHECK_INT(sp_log_count(a.g), a.n);
  for (long k = 0; k < a.n; k++) {
    if (sp_log_k(a.g)[k] != k || sp_log_x(a.g)[k] != k || sp_log_u(a.g)[k] != -k)
      SP_FAIL_("sample %ld corrupted", k);
  }
  sp_log_free(a.g);
}

TEST(save_writes_npy_arrays_and_a_named_csv) {
  sp_log* g = NULL;
  CHECK_INT(sp_log_new(&g, 2, 1, 16), 0);
  static const char* const xn[2] = {"pos", "vel"};
  static const char* const un[1] = {"force"};
  sp_log_set_names(g, xn, un);
  for (int k = 0; k < 5; k++) {
    double x[2] = {k, 2 * k}, u = 0.25 * k;
    sp_log_push(g, k, 0.01 * k, x, &u, k == 3 ? 64u : 0u);
  }
  sp_log_drain(g);
  char dir[] = "/tmp/sp_test_log_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char msg[256], path[300];
  CHECK_INT(sp_log_save(g, dir, msg, sizeof msg), 0);
  sp_array a;
  snprintf(path, sizeof path, "%s/x.npy", dir);
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), 0);
  CHECK_INT(a.ndim, 2);
  CHECK_INT(a.shape[0], 5);
  CHECK_INT(a.shape[1], 2);
  CHECK(a.data[9] == 8.0);
  sp_array_release(&a);
  snprintf(path, sizeof path, "%s/flags.npy", dir);
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), 0);
  CHECK(a.data[3] == 64.0);
  sp_array_release(&a);
  snprintf(path, sizeof path, "%s/log.csv", dir);
  FILE* f = fopen(path, "r");
  CHECK(f != NULL);
  char line[256];
  CHECK(fgets(line, sizeof line, f) != NULL);
  CHECK_STR(line, "k,t,flags,pos,vel,force\n");
  int rows = 0;
  while (fgets(line, sizeof line, f)) rows++;
  fclose(f);
  CHECK_INT(rows, 5);
  const char* names[] = {"k.npy", "t.npy", "flags.npy", "x.npy", "u.npy", "log.csv"};
  for (int i = 0; i < 6; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
  sp_log_free(g);
}

// the trivial policy for the real-time run: a constant command
static int act_const(void* user, double* u, const double* x, double t, long k) {
  u[0] = 0.1;
  return 0;
}

TEST(no_sample_is_lost_at_1khz_for_10_seconds_in_real_time) {
  fake_register();
  fake_config fc = {.n = 1, .rate_hz = 1000};
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "fake", &fc, NULL, 0), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  double safe = 0;
  sp_safety_config sc = {.nx = 1, .nu = 1, .u_safe = &safe, .period_s = 0.001};
  sp_safety* s = NULL;
  CHECK_INT(sp_safety_new(&s, &sc, NULL, 0), 0);
  sp_loop_config lc = {.mode = SP_LOOP_REALTIME, .act = act_const, .rt_priority = 10};
  sp_loop* l = NULL;
  char msg[256];
  CHECK_INT(sp_loop_new(&l, p, s, &lc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_start(l, 10000), 0);
  CHECK_INT(sp_loop_wait(l), 0);
  sp_loop_stats st;
  sp_loop_stats_get(l, &st);
  sp_log* g = sp_loop_log(l);
  CHECK_INT(st.ticks, 10000);
  CHECK_INT(st.log_overflows, 0);
  CHECK_INT(sp_log_count(g), 10000);
  for (long k = 0; k < 10000; k++)
    if (sp_log_k(g)[k] != k || sp_log_u(g)[k] != 0.1) SP_FAIL_("tick %ld missing or wrong", k);
  // the loop really ran at 1 kHz: the last tick came after 9999 periods plus the skipped ones
  CHECK_CLOSE(sp_log_t(g)[9999], 0.001 * (9999 + (double)st.missed), 0, 0.05);
  printf(
      "  1 kHz x 10 s: jitter p50 %.0f us, p99 %.0f us, max %.0f us; overruns %llu; "
      "SCHED_FIFO %d\n",
      st.jitter_p50_us, st.jitter_p99_us, st.jitter_max_us, (unsigned long long)st.overruns,
      st.sched_fifo);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
}

TEST_MAIN()
