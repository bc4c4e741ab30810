/*
 * fuzz_check.h — the fuzz targets' invariant check: CHECK(c) names the
 * target, the line and the failed condition, then aborts, so that a CI
 * failure reads without a debugger.
 */
#ifndef HS_FUZZ_CHECK_H
#define HS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s: check failed at line %d: %s\n", __FILE__, __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
