// test.h: the tiny C test harness every tests/**/test_*.c uses.
//
// Tests are functions declared with TEST(name_that_reads_as_a_sentence); they register themselves
// and run in file order from TEST_MAIN(). Checks report file:line and the values involved, and a
// failing check ends its test. The last line printed is "N passed, M failed", which CTest and CI
// read; the exit status is non-zero when any test failed.
//
// Each test runs in its own child process, so a test that fails half-way (or crashes) cannot leak
// threads, sockets, handles or global state into the next one; a crash is that test's failure
// ("killed by signal 11"). Tests therefore share nothing through static variables. Arguments
// select tests by name substring; SP_TEST_NOFORK=1 runs them in one process (for a debugger).
#ifndef SP_TEST_H
#define SP_TEST_H

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*sp_test_fn)(int* failed);
typedef struct {
  const char* name;
  sp_test_fn fn;
} sp_test_case;

#define SP_TEST_MAX 512
static sp_test_case sp_tests[SP_TEST_MAX];
static int sp_ntests;

static inline void sp_test_register(const char* name, sp_test_fn fn) {
  if (sp_ntests < SP_TEST_MAX) sp_tests[sp_ntests++] = (sp_test_case){name, fn};
}

#define TEST(name)                                                 \
  static void test_##name(int* sp_failed_);                        \
  __attribute__((constructor)) static void register_##name(void) { \
    sp_test_register(#name, test_##name);                          \
  }                                                                \
  static void test_##name(int* sp_failed_)

#define SP_FAIL_(...)                                 \
  do {                                                \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                     \
    fprintf(stderr, "\n");                            \
    *sp_failed_ = 1;                                  \
    return;                                           \
  } while (0)

#define CHECK(cond)                                   \
  do {                                                \
    if (!(cond)) SP_FAIL_("check failed: %s", #cond); \
  } while (0)

#define CHECK_INT(a, b)                                                    \
  do {                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                    \
    if (a_ != b_) SP_FAIL_("%s == %s: got %lld and %lld", #a, #b, a_, b_); \
  } while (0)

#define CHECK_STR(a, b)                                                                            \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    if (!a_ || !b_ || strcmp(a_, b_))                                                              \
      SP_FAIL_("%s == %s: got \"%s\" and \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
  } while (0)

// |a - b| <= atol + rtol * max(|a|, |b|)
#define CHECK_CLOSE(a, b, rtol, atol)                                                       \
  do {                                                                                      \
    double a_ = (double)(a), b_ = (double)(b);                                              \
    double s_ = fmax(fabs(a_), fabs(b_));                                                   \
    if (!(fabs(a_ - b_) <= (atol) + (rtol)*s_))                                             \
      SP_FAIL_("%s ~= %s: got %.17g and %.17g (diff %.3g)", #a, #b, a_, b_, fabs(a_ - b_)); \
  } while (0)

// ---- a temporary directory per process -----------------------------------------------------

// the directory (name empty until made) and the process that made it
typedef struct {
  char dir[64];
  pid_t owner;
} sp_test_tmp_;

static inline sp_test_tmp_* sp_test_tmp_state_(void) {
  static sp_test_tmp_ t;
  return &t;
}

// removes the directory and its files, in the process that made it only (a forked test's child
// inherits this handler from a parent that made one)
static inline void sp_test_tmp_remove_(void) {
  sp_test_tmp_* t = sp_test_tmp_state_();
  if (!t->dir[0] || t->owner != getpid()) return;
  DIR* d = opendir(t->dir);
  if (d) {
    struct dirent* e;
    char p[64 + 256 + 8];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(t->dir);
  t->dir[0] = 0;
}

// <dir>/<name>, dir a fresh /tmp/<prefix>_ directory (mkdtemp) made on first use and removed with
// its files when the process exits (each test's child, or the one process with SP_TEST_NOFORK);
// NULL if it cannot be made. The path is overwritten by the next call.
static inline const char* sp_test_tmp_path(const char* prefix, const char* name) {
  static char path[192];
  sp_test_tmp_* t = sp_test_tmp_state_();
  if (!t->dir[0]) {
    snprintf(t->dir, sizeof t->dir, "/tmp/%s_XXXXXX", prefix);  // mkdtemp's template
    if (!mkdtemp(t->dir)) {
      t->dir[0] = 0;
      return NULL;
    }
    t->owner = getpid();
    atexit(sp_test_tmp_remove_);
  }
  snprintf(path, sizeof path, "%s/%s", t->dir, name);
  return path;
}

// run test i in a child process: 0 passed, 1 failed (the reason is on stderr)
static inline int sp_test_run_forked(int i) {
  fflush(NULL);  // nothing buffered may be written twice
  pid_t pid = fork();
  if (pid < 0) {
    perror("  fork");
    return 1;
  }
  if (pid == 0) {
    int f = 0;
    sp_tests[i].fn(&f);
    exit(f ? 1 : 0);  // exit, not _exit: LeakSanitizer checks each test on the way out
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("  waitpid");
      return 1;
    }
  }
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "  killed by signal %d\n", WTERMSIG(status));
    return 1;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (code > 1) fprintf(stderr, "  exited with status %d (a sanitizer report above?)\n", code);
  return code != 0;
}

static inline int sp_test_selected(int argc, char** argv, const char* name) {
  if (argc < 2) return 1;
  for (int a = 1; a < argc; a++)
    if (strstr(name, argv[a])) return 1;
  return 0;
}

#define TEST_MAIN()                                                  \
  int main(int argc, char** argv) {                                  \
    int passed = 0, failed = 0;                                      \
    const char* nofork = getenv("SP_TEST_NOFORK");                   \
    int fork_each = !(nofork && *nofork && strcmp(nofork, "0"));     \
    for (int i = 0; i < sp_ntests; i++) {                            \
      if (!sp_test_selected(argc, argv, sp_tests[i].name)) continue; \
      int f = 0;                                                     \
      if (fork_each)                                                 \
        f = sp_test_run_forked(i);                                   \
      else                                                           \
        sp_tests[i].fn(&f);                                          \
      printf("%s %s\n", f ? "FAIL" : "ok  ", sp_tests[i].name);      \
      fflush(stdout);                                                \
      if (f)                                                         \
        failed++;                                                    \
      else                                                           \
        passed++;                                                    \
    }                                                                \
    printf("%d passed, %d failed\n", passed, failed);                \
    return failed ? 1 : 0;                                           \
  }

#endif  // SP_TEST_H
