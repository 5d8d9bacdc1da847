/*
 * Small helpers for the unit tests: reading fixture files from tests/data (tests run from the
 * repository root).
 */
#ifndef FT_TEST_HELPERS_H
#define FT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define DATA_DIR "tests/data/"

/*
 * Criterion's cr_expect() cannot take an expression that starts with '(' or '!', and treats
 * only 0/1 as booleans; this gives bit tests a form it reads.
 */
static inline bool has_bit(unsigned flags, unsigned bit)
{
    return (flags & bit) != 0;
}

/* Reads a whole file under tests/data; the caller frees it. Fails the test if unreadable. */
static inline char *read_data(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes `len` bytes to `path`, replacing it. Fails the test if it cannot. */
static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot write %s", path);
    cr_assert(fwrite(data, 1, len, f) == len);
    fclose(f);
}

#endif
