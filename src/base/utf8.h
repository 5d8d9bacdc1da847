/*
 * The pieces of JSON string escapes that the JSON reader and the engine's JSONPath names
 * share: four hex digits of a \u escape, and a code point written as UTF-8; and the length of
 * a UTF-8 string in code points, which is what Flagsmith's limits count.
 */
#ifndef FT_BASE_UTF8_H
#define FT_BASE_UTF8_H

#include <stddef.h>

/* The value of the four hex digits (either case) at `p`, or -1 when one is not a digit. */
static inline int ft_hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            x = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + x;
    }
    return v;
}

/* Writes code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8; returns its length. */
static inline size_t ft_utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The number of code points in the valid UTF-8 `s`: its bytes that do not continue one. */
static inline size_t ft_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

#endif
