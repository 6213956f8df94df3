// test.h: the tiny C test harness every tests/**/test_*.c uses.
//
// Tests are functions declared with TEST(name_that_reads_as_a_sentence); they register themselves
// and run in file order from TEST_MAIN(). Checks report file:line and the values involved, and a
// failing check ends its test. The last line printed is "N passed, M failed", which CTest and CI
// read; the exit status is non-zero when any test failed.
#ifndef SP_TEST_H
#define SP_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define TEST(name)                                                                      \
  static void test_##name(int* sp_failed_);                                             \
  __attribute__((constructor)) static void register_##name(void) {                      \
    sp_test_register(#name, test_##name);                                               \
  }                                                                                     \
  static void test_##name(int* sp_failed_)

#define SP_FAIL_(...)                                       \
  do {                                                      \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);       \
    fprintf(stderr, __VA_ARGS__);                           \
    fprintf(stderr, "\n");                                  \
    *sp_failed_ = 1;                                        \
    return;                                                 \
  } while (0)

#define CHECK(cond)                                 \
  do {                                              \
    if (!(cond)) SP_FAIL_("check failed: %s", #cond); \
  } while (0)

#define CHECK_INT(a, b)                                                          \
  do {                                                                           \
    long long a_ = (long long)(a), b_ = (long long)(b);                          \
    if (a_ != b_) SP_FAIL_("%s == %s: got %lld and %lld", #a, #b, a_, b_);      \
  } while (0)

#define CHECK_STR(a, b)                                                          \
  do {                                                                           \
    const char *a_ = (a), *b_ = (b);                                             \
    if (!a_ || !b_ || strcmp(a_, b_))                                            \
      SP_FAIL_("%s == %s: got \"%s\" and \"%s\"", #a, #b, a_ ? a_ : "(null)",   \
               b_ ? b_ : "(null)");                                              \
  } while (0)

// |a - b| <= atol + rtol * max(|a|, |b|)
#define CHECK_CLOSE(a, b, rtol, atol)                                                    \
  do {                                                                                   \
    double a_ = (double)(a), b_ = (double)(b);                                           \
    double s_ = fmax(fabs(a_), fabs(b_));                                                \
    if (!(fabs(a_ - b_) <= (atol) + (rtol) * s_))                                        \
      SP_FAIL_("%s ~= %s: got %.17g and %.17g (diff %.3g)", #a, #b, a_, b_, fabs(a_ - b_)); \
  } while (0)

#define TEST_MAIN()                                                       \
  int main(void) {                                                        \
    int passed = 0, failed = 0;                                           \
    for (int i = 0; i < sp_ntests; i++) {                                 \
      int f = 0;                                                          \
      sp_tests[i].fn(&f);                                                 \
      printf("%s %s\n", f ? "FAIL" : "ok  ", sp_tests[i].name);          \
      fflush(stdout);                                                     \
      if (f) failed++; else passed++;                                     \
    }                                                                     \
    printf("%d passed, %d failed\n", passed, failed);                     \
    return failed ? 1 : 0;                                                \
  }

#endif  // SP_TEST_H
