/*
 * A CSV reader (RFC 4180): comma-separated fields, double quotes around fields that hold
 * commas, quotes or line breaks, "" for a quote inside them, CRLF or LF line ends.
 */
#ifndef FT_RECEIVE_CSV_H
#define FT_RECEIVE_CSV_H

#include "flagtrail/base.h"

#include <stddef.h>

#define FT_CSV_MAX_FIELDS 64

struct ft_csv_error {
    char message[96];
};

/*
 * Reads the row starting at `p` (before `end`): up to `max` fields into `fields` (views into
 * the input, or into `arena` for quoted fields with doubled quotes), *n the count, *next the
 * start of the following row. Returns FT_OK; FT_EINVAL for a malformed row (unterminated
 * quote, text after a closing quote, more than `max` fields), with `err` filled.
 */
int ft_csv_row(const char *p, const char *end, struct ft_arena *arena, struct ft_str *fields,
               size_t max, size_t *n, const char **next, struct ft_csv_error *err);

#endif
