/* check.h: the one assertion every unit test program uses, and its closing line.
 * A failed CHECK prints where and why, and the run goes on; check_report() prints "N passed, N failed". */
#ifndef AMLFS_TEST_CHECK_H
#define AMLFS_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

/* Flushed at once: tests that fork must not print a failure twice or lose it in a crash. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            fflush(stdout);                                                                        \
        }                                                                                          \
    } while (0)

#endif
