/* t.h: the unit-test harness. One test file is one executable (one process
 * per test file, as libuv does); each T_TEST runs in order, failures are
 * counted, and the closing line is "N passed, N failed" for CTest logs. */
#ifndef PODIUM_T_H
#define PODIUM_T_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int t_failed_checks;
static int t_passed, t_failed;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            t_failed_checks++;                                                             \
        }                                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                            \
        if (t_a_ != t_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__,  \
                    __LINE__, #a, t_a_, #b, t_b_);                                         \
            t_failed_checks++;                                                             \
        }                                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *t_a_ = (a), *t_b_ = (b);                                               \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                   \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__,       \
                    __LINE__, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");             \
            t_failed_checks++;                                                             \
        }                                                                                  \
    } while (0)

#define T_RUN(fn)                                                                          \
    do {                                                                                   \
        int t_before_ = t_failed_checks;                                                   \
        fn();                                                                              \
        if (t_failed_checks == t_before_) {                                                \
            t_passed++;                                                                    \
        } else {                                                                           \
            t_failed++;                                                                    \
            fprintf(stderr, "FAIL %s\n", #fn);                                             \
        }                                                                                  \
    } while (0)

#define T_DONE()                                                                           \
    do {                                                                                   \
        printf("%d passed, %d failed\n", t_passed, t_failed);                              \
        return t_failed ? 1 : 0;                                                           \
    } while (0)

#endif
