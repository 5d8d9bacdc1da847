/*
 * The strict JSON reader of include/flagtrail/json.h.
 *
 * One pass over the input, no recursion: an explicit stack of open containers (bounded by the
 * depth limit) and a flat, reusable node array. Strings are scanned 16 bytes at a time with
 * SSE2 where available, stopping only at quotes, backslashes, control characters and non-ASCII
 * bytes; non-ASCII bytes are checked against the UTF-8 grammar (RFC 3629, Unicode Table 3-7).
 */
#include "flagtrail/json.h"
#include "base/utf8.h"
#include "flagtrail/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define NO_KEY UINT32_MAX

struct frame {
    uint32_t node;  /* index of the container's node */
    uint32_t count; /* members (objects) or elements (arrays) started so far */
    uint32_t key;   /* objects: node index of the key being read, or NO_KEY */
};

struct ft_json_doc {
    struct ft_json_limits lim;
    const char *src;
    size_t len;
    struct ft_json *nodes;
    uint32_t n, cap;
    struct frame *stack;
    uint32_t depth;
    bool ok;
    struct ft_arena strings; /* decoded strings handed out by ft_json_str */
};

static const struct ft_json_limits default_limits = {
    .max_size = 64u << 20,
    .max_depth = FT_JSON_DEFAULT_DEPTH,
    .max_nodes = 4u << 20,
};

ft_json_doc *ft_json_doc_new(const struct ft_json_limits *limits)
{
    ft_json_doc *d = ft_xcalloc(1, sizeof(*d));
    d->lim = limits ? *limits : default_limits;
    if (d->lim.max_size == 0 || d->lim.max_size > UINT32_MAX - 1) d->lim.max_size = UINT32_MAX - 1;
    if (d->lim.max_depth == 0) d->lim.max_depth = FT_JSON_DEFAULT_DEPTH;
    if (d->lim.max_nodes == 0) d->lim.max_nodes = default_limits.max_nodes;
    d->stack = ft_xmalloc(sizeof(*d->stack) * d->lim.max_depth);
    ft_arena_init(&d->strings, 4096);
    return d;
}

void ft_json_doc_free(ft_json_doc *d)
{
    if (!d) return;
    free(d->nodes);
    free(d->stack);
    ft_arena_free(&d->strings);
    free(d);
}

/* --- errors --- */

static void append_path(const ft_json_doc *d, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < d->depth && n + 1 < cap; i++) {
        const struct frame *f = &d->stack[i];
        int w;
        if (d->nodes[f->node].type == FT_JSON_ARRAY) {
            if (f->count == 0) break;
            w = snprintf(out + n, cap - n, "[%u]", f->count - 1);
        } else {
            if (f->key == NO_KEY) break;
            const struct ft_json *k = &d->nodes[f->key];
            int klen = k->len > 64 ? 64 : (int)k->len;
            w = snprintf(out + n, cap - n, "%s%.*s%s", n ? "." : "", klen, d->src + k->off,
                         k->len > 64 ? "..." : "");
        }
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
}

static int fail(ft_json_doc *d, struct ft_json_error *err, int code, size_t offset, const char *msg)
{
    if (err) {
        err->offset = offset;
        snprintf(err->message, sizeof(err->message), "%s", msg);
        append_path(d, err->path, sizeof(err->path));
    }
    d->n = 0;
    return code;
}

/* --- nodes --- */

static int grow(ft_json_doc *d)
{
    if (d->cap >= d->lim.max_nodes) return FT_ETOOBIG;
    uint32_t cap = d->cap ? d->cap * 2 : 64;
    if (cap > d->lim.max_nodes || cap < d->cap) cap = d->lim.max_nodes;
    d->nodes = ft_xrealloc(d->nodes, sizeof(*d->nodes) * cap);
    d->cap = cap;
    return FT_OK;
}

static inline bool push(ft_json_doc *d, uint8_t type, uint8_t flags, size_t off, size_t len)
{
    if (d->n == d->cap && grow(d) != FT_OK) return false;
    d->nodes[d->n++] = (struct ft_json){
        .type = type, .flags = flags, .off = (uint32_t)off, .len = (uint32_t)len, .span = 1};
    return true;
}

/* --- lexing --- */

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* True for bytes that end the fast scan of a string: '"', '\\', controls, non-ASCII. */
static inline bool string_stop(unsigned char c)
{
    return (unsigned)(c - 0x20) >= 0x60u || c == '"' || c == '\\';
}

/* Length of the valid UTF-8 sequence at p (first byte >= 0x80), or 0 when it is invalid. */
static inline size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    unsigned lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* U+D800..U+DFFF are not characters */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

bool ft_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_len(p, end);
        if (!n) return false;
        p += n;
    }
    return true;
}

struct lex {
    ft_json_doc *d;
    const unsigned char *s, *end;
    struct ft_json_error *err;
};

static int lex_fail(struct lex *L, const unsigned char *at, const char *msg)
{
    return fail(L->d, L->err, FT_EJSON, (size_t)(at - L->s), msg);
}

/* Validates one escape at p (the backslash); returns the byte after it, or NULL. */
static const unsigned char *scan_escape(struct lex *L, const unsigned char *p, int *rc)
{
    const unsigned char *end = L->end;
    if (end - p < 2) {
        *rc = lex_fail(L, p, "unterminated string");
        return NULL;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return p + 2;
    case 'u': break;
    default: *rc = lex_fail(L, p, "invalid escape"); return NULL;
    }
    int cp = end - p >= 6 ? ft_hex4(p + 2) : -1;
    if (cp < 0) {
        *rc = lex_fail(L, p, "invalid \\u escape");
        return NULL;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        *rc = lex_fail(L, p, "lone low surrogate");
        return NULL;
    }
    if (cp < 0xd800 || cp > 0xdbff) return p + 6;
    int lo = (end - p >= 12 && p[6] == '\\' && p[7] == 'u') ? ft_hex4(p + 8) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) {
        *rc = lex_fail(L, p, "lone high surrogate");
        return NULL;
    }
    return p + 12;
}

/*
 * Scans the string whose opening quote is at q and pushes its node. Returns the byte after
 * the closing quote, or NULL with *rc set.
 */
static const unsigned char *scan_string(struct lex *L, const unsigned char *q, int *rc)
{
    const unsigned char *start = q + 1, *p = start, *end = L->end;
    uint8_t flags = 0;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            /* signed compare: bytes 0x80..0xff are negative, so "< 0x20" also flags them */
            __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, space));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask) {
                p += __builtin_ctz(mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && !string_stop(*p))
            p++;
        if (p == end) {
            *rc = lex_fail(L, q, "unterminated string");
            return NULL;
        }
#if defined(__SSE2__)
    special:
#endif
        if (*p == '"') break;
        if (*p == '\\') {
            flags |= FT_JSON_ESCAPED;
            if (end - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0) flags |= FT_JSON_NUL;
            if (!(p = scan_escape(L, p, rc))) return NULL;
        } else if (*p < 0x20) {
            *rc = lex_fail(L, p, "control character in string");
            return NULL;
        } else {
            size_t n = utf8_len(p, end);
            if (!n) {
                *rc = lex_fail(L, p, "invalid UTF-8");
                return NULL;
            }
            p += n;
        }
    }
    if (!push(L->d, FT_JSON_STRING, flags, (size_t)(start - L->s), (size_t)(p - start))) {
        *rc = fail(L->d, L->err, FT_ETOOBIG, (size_t)(q - L->s), "too many values");
        return NULL;
    }
    return p + 1;
}

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

static const unsigned char *scan_number(struct lex *L, const unsigned char *q, int *rc)
{
    const unsigned char *p = q, *end = L->end;
    uint8_t flags = FT_JSON_INTEGER;
    if (*p == '-') p++;
    if (p == end || !IS_DIGIT(*p)) {
        *rc = lex_fail(L, p, "invalid number");
        return NULL;
    }
    if (*p == '0') {
        if (++p < end && IS_DIGIT(*p)) {
            *rc = lex_fail(L, q, "leading zero in number");
            return NULL;
        }
    } else {
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    if (p < end && *p == '.') {
        flags = 0;
        if (++p == end || !IS_DIGIT(*p)) {
            *rc = lex_fail(L, p, "digit expected after '.'");
            return NULL;
        }
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        flags = 0;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !IS_DIGIT(*p)) {
            *rc = lex_fail(L, p, "digit expected in exponent");
            return NULL;
        }
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    if (!push(L->d, FT_JSON_NUMBER, flags, (size_t)(q - L->s), (size_t)(p - q))) {
        *rc = fail(L->d, L->err, FT_ETOOBIG, (size_t)(q - L->s), "too many values");
        return NULL;
    }
    return p;
}

static const unsigned char *scan_literal(struct lex *L, const unsigned char *q, int *rc)
{
    static const struct {
        const char *text;
        size_t len;
        uint8_t type;
    } lits[] = {{"true", 4, FT_JSON_TRUE}, {"false", 5, FT_JSON_FALSE}, {"null", 4, FT_JSON_NULL}};
    for (size_t i = 0; i < 3; i++) {
        if (*q != lits[i].text[0]) continue;
        if ((size_t)(L->end - q) < lits[i].len || memcmp(q, lits[i].text, lits[i].len) != 0) break;
        if (!push(L->d, lits[i].type, 0, (size_t)(q - L->s), lits[i].len)) {
            *rc = fail(L->d, L->err, FT_ETOOBIG, (size_t)(q - L->s), "too many values");
            return NULL;
        }
        return q + lits[i].len;
    }
    if (*q == 'N' || *q == 'I')
        *rc = lex_fail(L, q, "NaN and Infinity are not JSON");
    else
        *rc = lex_fail(L, q, "invalid literal");
    return NULL;
}

/* --- the parser --- */

static void close_container(ft_json_doc *d)
{
    struct frame *f = &d->stack[--d->depth];
    struct ft_json *c = &d->nodes[f->node];
    c->len = f->count;
    c->span = d->n - f->node;
}

int ft_json_parse(ft_json_doc *d, const char *src, size_t len, struct ft_json_error *err)
{
    d->ok = false;
    d->n = 0;
    d->depth = 0;
    d->src = src;
    d->len = len;
    ft_arena_reset(&d->strings);
    if (err) *err = (struct ft_json_error){0};
    if (len > d->lim.max_size) {
        char msg[64];
        snprintf(msg, sizeof(msg), "input larger than %zu bytes", d->lim.max_size);
        return fail(d, err, FT_ETOOBIG, 0, msg);
    }
    if (d->cap == 0) grow(d);
    struct lex L = {d, (const unsigned char *)src, (const unsigned char *)src + len, err};
    const unsigned char *p = L.s, *end = L.end;
    int rc = FT_OK;

value:
    p = skip_ws(p, end);
    if (p == end) return lex_fail(&L, p, "unexpected end of input");
    switch (*p) {
    case '{':
    case '[': {
        if (d->depth == d->lim.max_depth) {
            char msg[64];
            snprintf(msg, sizeof(msg), "nesting deeper than %u", d->lim.max_depth);
            return fail(d, err, FT_EDEPTH, (size_t)(p - L.s), msg);
        }
        uint8_t type = *p == '{' ? FT_JSON_OBJECT : FT_JSON_ARRAY;
        if (!push(d, type, 0, (size_t)(p - L.s), 0))
            return fail(d, err, FT_ETOOBIG, (size_t)(p - L.s), "too many values");
        d->stack[d->depth++] = (struct frame){d->n - 1, 0, NO_KEY};
        p = skip_ws(p + 1, end);
        if (p < end && *p == (type == FT_JSON_OBJECT ? '}' : ']')) {
            p++;
            close_container(d);
            goto after;
        }
        if (type == FT_JSON_OBJECT) goto key;
        d->stack[d->depth - 1].count = 1;
        goto value;
    }
    case '"': p = scan_string(&L, p, &rc); break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': p = scan_number(&L, p, &rc); break;
    default: p = scan_literal(&L, p, &rc); break;
    }
    if (!p) return rc;

after:
    if (d->depth == 0) {
        p = skip_ws(p, end);
        if (p != end) return lex_fail(&L, p, "unexpected data after the value");
        d->ok = true;
        return FT_OK;
    }
    p = skip_ws(p, end);
    if (p == end) return lex_fail(&L, p, "unexpected end of input");
    {
        struct frame *f = &d->stack[d->depth - 1];
        bool object = d->nodes[f->node].type == FT_JSON_OBJECT;
        char close = object ? '}' : ']';
        if (*p == close) {
            p++;
            close_container(d);
            goto after;
        }
        if (*p != ',')
            return lex_fail(&L, p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        if (object) f->key = NO_KEY; /* errors before the next key belong to the object */
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) return lex_fail(&L, p, "trailing comma");
        if (object) goto key;
        f->count++;
        goto value;
    }

key:
    if (p == end) return lex_fail(&L, p, "unexpected end of input");
    if (*p != '"') return lex_fail(&L, p, "expected a string key");
    {
        struct frame *f = &d->stack[d->depth - 1];
        p = scan_string(&L, p, &rc);
        if (!p) return rc;
        f->key = d->n - 1;
        f->count++;
    }
    p = skip_ws(p, end);
    if (p == end || *p != ':') return lex_fail(&L, p, "expected ':'");
    p++;
    goto value;
}

/* --- access --- */

const struct ft_json *ft_json_root(const ft_json_doc *d)
{
    return d->ok && d->n ? &d->nodes[0] : NULL;
}

struct ft_str ft_json_raw(const ft_json_doc *d, const struct ft_json *v)
{
    if (v->type == FT_JSON_OBJECT || v->type == FT_JSON_ARRAY) return (struct ft_str){"", 0};
    return (struct ft_str){d->src + v->off, v->len};
}

struct ft_str ft_json_text(const ft_json_doc *d, const struct ft_json *v)
{
    const struct ft_json *last = v + v->span - 1;
    size_t start = v->type == FT_JSON_STRING ? v->off - 1 : v->off;
    size_t end = last->off;
    if (last->type == FT_JSON_STRING)
        end += last->len + 1; /* the closing quote */
    else if (last->type == FT_JSON_ARRAY || last->type == FT_JSON_OBJECT)
        end += 1; /* an empty container */
    else
        end += last->len;
    return (struct ft_str){d->src + start, end - start};
}

/* Decodes a validated raw string into `out` (at least `len` bytes); returns the length. */
static size_t unescape(const char *raw, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (raw[i] != '\\') {
            out[o++] = raw[i++];
            continue;
        }
        char c = raw[i + 1];
        i += 2;
        switch (c) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned cp = (unsigned)ft_hex4((const unsigned char *)raw + i);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo = (unsigned)ft_hex4((const unsigned char *)raw + i + 2);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            o += ft_utf8_put(out + o, cp);
            break;
        }
        default: out[o++] = c; break; /* '"', '\\', '/' */
        }
    }
    return o;
}

struct ft_str ft_json_str(ft_json_doc *d, const struct ft_json *v)
{
    struct ft_str raw = ft_json_raw(d, v);
    if (v->type != FT_JSON_STRING || !(v->flags & FT_JSON_ESCAPED)) return raw;
    /* every escape is at least as long as the UTF-8 it stands for */
    char *out = ft_arena_alloc(&d->strings, raw.len + 1);
    size_t n = unescape(raw.ptr, raw.len, out);
    out[n] = '\0';
    return (struct ft_str){out, n};
}

bool ft_json_str_eq(ft_json_doc *d, const struct ft_json *v, const char *s)
{
    if (!v || v->type != FT_JSON_STRING) return false;
    size_t n = strlen(s);
    if (!(v->flags & FT_JSON_ESCAPED)) return v->len == n && memcmp(d->src + v->off, s, n) == 0;
    return ft_str_eq(ft_json_str(d, v), (struct ft_str){s, n});
}

const struct ft_json *ft_json_get(ft_json_doc *d, const struct ft_json *obj, const char *key)
{
    if (!obj || obj->type != FT_JSON_OBJECT) return NULL;
    const struct ft_json *k, *v, *found = NULL;
    FT_JSON_EACH_MEMBER(k, v, obj)
    {
        if (ft_json_str_eq(d, k, key)) found = v;
    }
    return found;
}

bool ft_json_int64(const ft_json_doc *d, const struct ft_json *v, int64_t *out)
{
    if (!v || v->type != FT_JSON_NUMBER || !(v->flags & FT_JSON_INTEGER)) return false;
    const char *p = d->src + v->off, *end = p + v->len;
    bool neg = *p == '-';
    if (neg) p++;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
    for (; p < end; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (acc > (limit - digit) / 10) return false;
        acc = acc * 10 + digit;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

bool ft_json_double(const ft_json_doc *d, const struct ft_json *v, double *out)
{
    if (!v || v->type != FT_JSON_NUMBER) return false;
    *out = ft_str_double((struct ft_str){d->src + v->off, v->len});
    return true;
}

const char *ft_json_type_name(enum ft_json_type type)
{
    switch (type) {
    case FT_JSON_NULL: return "null";
    case FT_JSON_FALSE:
    case FT_JSON_TRUE: return "boolean";
    case FT_JSON_NUMBER: return "number";
    case FT_JSON_STRING: return "string";
    case FT_JSON_ARRAY: return "array";
    case FT_JSON_OBJECT: return "object";
    }
    return "value";
}
