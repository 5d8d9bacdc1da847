/*
 * The CSV reader of src/receive/csv.h.
 */
#include "receive/csv.h"
#include "flagtrail/error.h"

#include <stdio.h>
#include <string.h>

static int fail(struct ft_csv_error *err, const char *msg)
{
    if (err) snprintf(err->message, sizeof(err->message), "%s", msg);
    return FT_EINVAL;
}

/* A quoted field starting at the quote *p; on return *p is just past the closing quote. */
static int quoted(const char **pp, const char *end, struct ft_arena *arena, struct ft_str *out,
                  struct ft_csv_error *err)
{
    const char *p = *pp + 1, *start = p;
    bool doubled = false;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return fail(err, "unterminated quoted field");
        if (q + 1 < end && q[1] == '"') {
            doubled = true;
            p = q + 2;
            continue;
        }
        p = q;
        break;
    }
    size_t raw = (size_t)(p - start);
    if (!doubled) {
        *out = (struct ft_str){start, raw};
    } else {
        char *buf = ft_arena_alloc(arena, raw + 1);
        size_t n = 0;
        for (const char *s = start; s < p; s++) {
            buf[n++] = *s;
            if (*s == '"') s++; /* skip the second quote of a pair */
        }
        *out = (struct ft_str){buf, n};
    }
    *pp = p + 1;
    return FT_OK;
}

int ft_csv_row(const char *p, const char *end, struct ft_arena *arena, struct ft_str *fields,
               size_t max, size_t *n, const char **next, struct ft_csv_error *err)
{
    *n = 0;
    for (;;) {
        if (*n == max) return fail(err, "too many fields");
        struct ft_str f;
        if (p < end && *p == '"') {
            int rc = quoted(&p, end, arena, &f, err);
            if (rc) return rc;
            if (p < end && *p != ',' && *p != '\n' && *p != '\r')
                return fail(err, "text after a closing quote");
        } else {
            const char *s = p;
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                p++;
            f = (struct ft_str){s, (size_t)(p - s)};
        }
        fields[(*n)++] = f;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r') p++;
        if (p < end && *p == '\n') p++;
        *next = p;
        return FT_OK;
    }
}
