/*
 * Small helpers for the unit tests: reading fixture files from tests/data (tests run from the
 * repository root), writing files, and making a spool segment unreadable.
 */
#ifndef FT_TEST_HELPERS_H
#define FT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A spool segment made unreadable by break_segment, to put back with mend_segment. */
struct broken_segment {
    char path[512], aside[512];
};

static inline int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/*
 * Makes the `index`-th segment (by position) of the spool in `dir` unreadable: a directory
 * takes its file's place, which opens and fails every read. The file waits in `aside` (a path
 * outside the spool). Fails the test when the spool has no such segment.
 */
static inline void break_segment(const char *dir, size_t index, const char *aside,
                                 struct broken_segment *b)
{
    char names[64][32];
    size_t n = 0;
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "cannot list %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        if (strspn(e->d_name, "0123456789") == 20) snprintf(names[n++], 32, "%.24s", e->d_name);
    closedir(d);
    cr_assert(index < n, "the spool has %zu segments, not %zu", n, index + 1);
    qsort(names, n, sizeof(names[0]), compare_names);
    snprintf(b->path, sizeof(b->path), "%s/%s", dir, names[index]);
    snprintf(b->aside, sizeof(b->aside), "%s", aside);
    cr_assert(rename(b->path, b->aside) == 0);
    cr_assert(mkdir(b->path, 0700) == 0);
}

/* Puts a segment break_segment made unreadable back. */
static inline void mend_segment(const struct broken_segment *b)
{
    cr_assert(rmdir(b->path) == 0);
    cr_assert(rename(b->aside, b->path) == 0);
}

#endif
