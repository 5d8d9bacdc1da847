/*
 * What the fuzz drivers share: CHECK(cond) names the failed condition, its driver and line,
 * then aborts, so libFuzzer keeps the input (and the corpus replay of `make test` fails).
 */
#ifndef FT_FUZZ_CHECK_H
#define FT_FUZZ_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif
