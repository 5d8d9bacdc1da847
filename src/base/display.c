/*
 * Visible escapes for control characters and stray bytes (src/base/display.h).
 */
#include "base/display.h"

#include <string.h>

/* The length of the UTF-8 character at `p` (at most `n` bytes), 0 when it is not one. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || p[0] > 0xf4) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (len == 3 && p[0] == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    if (len == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (len == 4 && p[0] == 0xf4 && p[1] >= 0x90) return 0; /* above U+10FFFF */
    return len;
}

size_t ft_display_append(struct ft_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t width = 0;
    while (p < end) {
        size_t n = utf8_char(p, (size_t)(end - p));
        char e[8];
        size_t elen = 0;
        if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
            const char *named = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : NULL;
            if (named) {
                memcpy(e, named, 2);
                elen = 2;
            } else {
                e[0] = '\\', e[1] = 'x', e[2] = hex[*p >> 4], e[3] = hex[*p & 15];
                elen = 4;
            }
        } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* C1: U+0080..U+009F */
            memcpy(e, "\\u00", 4);
            e[4] = hex[p[1] >> 4], e[5] = hex[p[1] & 15];
            elen = 6;
        } else if (n == 0) {
            e[0] = '\\', e[1] = 'x', e[2] = hex[*p >> 4], e[3] = hex[*p & 15];
            elen = 4;
            n = 1;
        }
        if (elen) {
            ft_buf_append(b, e, elen);
            width += elen;
        } else {
            ft_buf_append(b, p, n);
            width++;
        }
        p += n;
    }
    return width;
}

char *ft_display_dup(const char *s)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    if (s) ft_display_append(&b, s, strlen(s));
    ft_buf_append_char(&b, '\0');
    return b.data;
}

size_t ft_display_width(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}
