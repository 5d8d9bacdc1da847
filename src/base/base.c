/*
 * String views, allocation helpers, capped buffers and arenas (include/flagtrail/base.h).
 */
#include "flagtrail/base.h"
#include "flagtrail/error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* --- string views --- */

struct ft_str ft_str_c(const char *s)
{
    return (struct ft_str){s ? s : "", s ? strlen(s) : 0};
}

bool ft_str_eq(struct ft_str a, struct ft_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool ft_str_eq_c(struct ft_str a, const char *s)
{
    return ft_str_eq(a, ft_str_c(s));
}

/* Reads `s` with strtod; *erange gets whether it set ERANGE. */
static double read_double(struct ft_str s, bool *erange)
{
    char small[64], *tmp = s.len < sizeof(small) ? small : ft_xmalloc(s.len + 1);
    if (s.len) memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    *erange = errno == ERANGE;
    if (tmp != small) free(tmp);
    return d;
}

double ft_str_double(struct ft_str s)
{
    bool erange;
    return read_double(s, &erange);
}

bool ft_str_number_in_range(struct ft_str s)
{
    /* plain decimal text under 300 characters holds neither 1e308 nor a nonzero 1e-308 */
    size_t plain = 0;
    while (plain < s.len && ((s.ptr[plain] >= '0' && s.ptr[plain] <= '9') || s.ptr[plain] == '.' ||
                             s.ptr[plain] == '-' || s.ptr[plain] == '+'))
        plain++;
    if (s.len < 300 && plain == s.len) return true;
    bool erange;
    double d = read_double(s, &erange);
    return isfinite(d) && !(erange && d == 0);
}

int ft_str_cmp(struct ft_str a, struct ft_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* --- allocation --- */

static void out_of_memory(size_t size)
{
    fprintf(stderr, "flagtrail: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ft_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *ft_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size);
    return p;
}

void *ft_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) out_of_memory(size);
    return q;
}

void ft_one_line(const char *in, char *out, size_t cap)
{
    if (!cap) return;
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        if (*p != '\n' && *p != '\r') {
            out[n++] = *p;
            continue;
        }
        while (n && (out[n - 1] == ' ' || out[n - 1] == '\t'))
            n--;
        while (p[1] == ' ' || p[1] == '\t' || p[1] == '\n' || p[1] == '\r')
            p++;
        if (!p[1]) break;
        if (n + 3 >= cap) break; /* no room for the separator and more: stop at the break */
        out[n++] = ';', out[n++] = ' ';
    }
    while (n && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
}

char *ft_xstrdup(const char *s)
{
    return ft_xstrndup(s, strlen(s));
}

char *ft_xstrndup(const char *s, size_t len)
{
    char *p = ft_xmalloc(len + 1);
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void ft_free_secure(void *p, size_t len)
{
    if (!p) return;
    OPENSSL_cleanse(p, len);
    free(p);
}

/* --- capped buffer --- */

void ft_buf_init(struct ft_buf *b, size_t limit)
{
    *b = (struct ft_buf){.limit = limit};
}

void ft_buf_free(struct ft_buf *b)
{
    free(b->data);
    size_t limit = b->limit;
    ft_buf_init(b, limit);
}

void ft_buf_reset(struct ft_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

int ft_buf_reserve(struct ft_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) return FT_ETOOBIG;
    size_t need = b->len + extra;
    if (b->limit && need > b->limit) return FT_ETOOBIG;
    if (need + 1 <= b->cap) return FT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    b->data = ft_xrealloc(b->data, cap);
    b->cap = cap;
    return FT_OK;
}

int ft__buf_append_grow(struct ft_buf *b, const void *data, size_t len)
{
    int rc = ft_buf_reserve(b, len);
    if (rc) return rc;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return FT_OK;
}

int ft_buf_printf(struct ft_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return FT_EINVAL;
    int rc = ft_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return FT_OK;
}

/* --- arena --- */

struct ft_arena_chunk {
    struct ft_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char mem[];
};

#define ARENA_ALIGN 16

void ft_arena_init(struct ft_arena *a, size_t chunk_size)
{
    *a = (struct ft_arena){.chunk_size = chunk_size ? chunk_size : 16384};
}

void ft_arena_free(struct ft_arena *a)
{
    struct ft_arena_chunk *c = a->head;
    while (c) {
        struct ft_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void ft_arena_reset(struct ft_arena *a)
{
    if (!a->head) return;
    /* Keep the oldest chunk (the tail of the list): it has the configured size. */
    struct ft_arena_chunk *c = a->head, *keep = NULL;
    while (c) {
        struct ft_arena_chunk *next = c->next;
        if (next == NULL)
            keep = c;
        else
            free(c);
        c = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used = 0;
}

void *ft_arena_alloc(struct ft_arena *a, size_t size)
{
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (rounded < size) out_of_memory(size);
    struct ft_arena_chunk *c = a->head;
    if (!c || c->size - c->used < rounded) {
        size_t want = rounded > a->chunk_size ? rounded : a->chunk_size;
        c = ft_xmalloc(sizeof(*c) + want);
        c->size = want;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->mem + c->used;
    c->used += rounded;
    a->used += rounded;
    return p;
}

void *ft_arena_zalloc(struct ft_arena *a, size_t size)
{
    void *p = ft_arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *ft_arena_strndup(struct ft_arena *a, const char *s, size_t len)
{
    char *p = ft_arena_alloc(a, len + 1);
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
