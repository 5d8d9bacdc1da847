/*
 * The JSON writer of include/flagtrail/json.h: the exact bytes of Python's
 * json.dumps(obj, sort_keys=True) with its defaults (ensure_ascii, separators ", " and ": ").
 *
 * Flagsmith signs these bytes, so every detail matters: which characters are escaped and how
 * (lowercase \u00e9, surrogate pairs above U+FFFF, DEL as \u007f), integers exactly as written,
 * and floats as Python's repr, the shortest text that reads back as the same double.
 */
#include "flagtrail/json.h"
#include "flagtrail/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- strings --- */

static const char hexdigits[] = "0123456789abcdef";

static int write_u16(struct ft_buf *out, unsigned cp)
{
    char e[6] = {'\\',
                 'u',
                 hexdigits[(cp >> 12) & 15],
                 hexdigits[(cp >> 8) & 15],
                 hexdigits[(cp >> 4) & 15],
                 hexdigits[cp & 15]};
    return ft_buf_append(out, e, 6);
}

/* Decodes one UTF-8 sequence at s[*i]; malformed input yields U+FFFD and skips one byte. */
static unsigned next_code_point(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i];
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (n == 1 || *i + n > len) {
        (*i)++;
        return 0xfffd;
    }
    unsigned cp = c & (0x7f >> n);
    for (size_t k = 1; k < n; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return 0xfffd;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    }
    *i += n;
    return cp;
}

int ft_json_write_str(struct ft_buf *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    int rc = ft_buf_append_char(out, '"');
    size_t i = 0;
    while (rc == FT_OK && i < len) {
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            rc = ft_buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        unsigned c = s[i];
        const char *short_esc = NULL;
        switch (c) {
        case '"': short_esc = "\\\""; break;
        case '\\': short_esc = "\\\\"; break;
        case '\n': short_esc = "\\n"; break;
        case '\r': short_esc = "\\r"; break;
        case '\t': short_esc = "\\t"; break;
        case '\b': short_esc = "\\b"; break;
        case '\f': short_esc = "\\f"; break;
        }
        if (short_esc) {
            rc = ft_buf_append(out, short_esc, 2);
            i++;
            continue;
        }
        unsigned cp = c < 0x80 ? (i++, c) : next_code_point(s, len, &i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            rc = write_u16(out, 0xd800 + (cp >> 10));
            if (rc == FT_OK) rc = write_u16(out, 0xdc00 + (cp & 0x3ff));
        } else {
            rc = write_u16(out, cp);
        }
    }
    return rc ? rc : ft_buf_append_char(out, '"');
}

/* --- numbers --- */

int ft_json_write_int(struct ft_buf *out, int64_t v)
{
    char tmp[24], *end = tmp + sizeof(tmp), *p = end; /* digits from the right; no printf */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return ft_buf_append(out, p, (size_t)(end - p));
}

/*
 * Shortest decimal digits of finite, positive `v` that read back as `v`: digits[0..ndigits)
 * with the value 0.d1d2... x 10^decpt. Tries each precision in turn; at a power of two the
 * correctly rounded candidate may fall outside the narrower lower half-interval while the next
 * decimal up still reads back, so that one is tried too (as dtoa's shortest mode finds it).
 */
static void shortest_digits(double v, char digits[20], int *ndigits, int *decpt)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        /* buf is "d.ddde[+-]xx" */
        char *e = strchr(buf, 'e');
        int exp10 = (int)strtol(e + 1, NULL, 10);
        int n = 0;
        for (char *p = buf; p < e; p++)
            if (*p != '.') digits[n++] = *p;
        if (prec < 17 && strtod(buf, NULL) != v) { /* 17 digits always read back */
            /* try the next decimal up at this precision */
            char up[20];
            memcpy(up, digits, (size_t)n);
            int k = n - 1;
            while (k >= 0 && up[k] == '9')
                up[k--] = '0';
            int upexp = exp10;
            if (k < 0) {
                up[0] = '1';
                upexp++;
            } else {
                up[k]++;
            }
            char candidate[40];
            snprintf(candidate, sizeof(candidate), "0.%.*se%d", n, up, upexp + 1);
            if (strtod(candidate, NULL) != v) continue;
            memcpy(digits, up, (size_t)n);
            exp10 = upexp;
        }
        while (n > 1 && digits[n - 1] == '0')
            n--;
        *ndigits = n;
        *decpt = exp10 + 1;
        return;
    }
}

int ft_json_write_double(struct ft_buf *out, double v)
{
    if (isnan(v)) return ft_buf_append_str(out, "NaN");
    if (isinf(v)) return ft_buf_append_str(out, v < 0 ? "-Infinity" : "Infinity");
    if (v == 0) return ft_buf_append_str(out, signbit(v) ? "-0.0" : "0.0");
    char digits[20], text[48];
    int nd = 1, decpt = 1;
    shortest_digits(fabs(v), digits, &nd, &decpt);
    size_t n = 0;
    if (v < 0) text[n++] = '-';
    if (decpt <= -4 || decpt > 16) {
        /* exponent form, as repr: "1e+16", "1.5e-07" */
        text[n++] = digits[0];
        if (nd > 1) {
            text[n++] = '.';
            memcpy(text + n, digits + 1, (size_t)nd - 1);
            n += (size_t)nd - 1;
        }
        int e = decpt - 1;
        n += (size_t)snprintf(text + n, sizeof(text) - n, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    } else if (decpt <= 0) {
        memcpy(text + n, "0.", 2);
        n += 2;
        for (int i = 0; i < -decpt; i++)
            text[n++] = '0';
        memcpy(text + n, digits, (size_t)nd);
        n += (size_t)nd;
    } else if (decpt >= nd) {
        memcpy(text + n, digits, (size_t)nd);
        n += (size_t)nd;
        for (int i = nd; i < decpt; i++)
            text[n++] = '0';
        memcpy(text + n, ".0", 2);
        n += 2;
    } else {
        memcpy(text + n, digits, (size_t)decpt);
        n += (size_t)decpt;
        text[n++] = '.';
        memcpy(text + n, digits + decpt, (size_t)(nd - decpt));
        n += (size_t)(nd - decpt);
    }
    return ft_buf_append(out, text, n);
}

/* True when `s` is a whole JSON number; *integer tells whether it has no fraction/exponent. */
static bool is_number_lexeme(struct ft_str s, bool *integer)
{
    size_t i = 0;
    *integer = true;
    if (i < s.len && s.ptr[i] == '-') i++;
    if (i == s.len || s.ptr[i] < '0' || s.ptr[i] > '9') return false;
    if (s.ptr[i] == '0')
        i++;
    else
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
            i++;
    if (i < s.len && s.ptr[i] == '.') {
        *integer = false;
        size_t start = ++i;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
            i++;
        if (i == start) return false;
    }
    if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        *integer = false;
        if (++i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) i++;
        size_t start = i;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
            i++;
        if (i == start) return false;
    }
    return i == s.len;
}

int ft_json_write_number(struct ft_buf *out, struct ft_str lexeme)
{
    bool integer;
    if (!is_number_lexeme(lexeme, &integer)) return FT_EINVAL;
    if (integer) {
        if (lexeme.len == 2 && lexeme.ptr[0] == '-' && lexeme.ptr[1] == '0')
            return ft_buf_append_char(out, '0');
        return ft_buf_append(out, lexeme.ptr, lexeme.len);
    }
    return ft_json_write_double(out, ft_str_double(lexeme));
}

/* --- whole values --- */

struct member {
    struct ft_str key;
    const struct ft_json *value;
    uint32_t order;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = ft_str_cmp(x->key, y->key);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

static int write_object(struct ft_buf *out, ft_json_doc *doc, const struct ft_json *obj)
{
    struct member stack_members[32];
    struct member *m = obj->len <= 32 ? stack_members : ft_xmalloc(sizeof(*m) * obj->len);
    uint32_t n = 0;
    const struct ft_json *k, *v;
    FT_JSON_EACH_MEMBER(k, v, obj)
    {
        m[n] = (struct member){ft_json_str(doc, k), v, n};
        n++;
    }
    qsort(m, n, sizeof(*m), member_cmp);
    int rc = ft_buf_append_char(out, '{');
    bool first = true;
    for (uint32_t i = 0; i < n && rc == FT_OK; i++) {
        /* a repeated key keeps its last value, as a Python dict does */
        if (i + 1 < n && ft_str_eq(m[i].key, m[i + 1].key)) continue;
        if (!first) rc = ft_buf_append(out, ", ", 2);
        first = false;
        if (rc == FT_OK) rc = ft_json_write_str(out, m[i].key.ptr, m[i].key.len);
        if (rc == FT_OK) rc = ft_buf_append(out, ": ", 2);
        if (rc == FT_OK) rc = ft_json_write_value(out, doc, m[i].value);
    }
    if (m != stack_members) free(m);
    return rc ? rc : ft_buf_append_char(out, '}');
}

int ft_json_write_value(struct ft_buf *out, ft_json_doc *doc, const struct ft_json *v)
{
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_NULL: return ft_buf_append(out, "null", 4);
    case FT_JSON_TRUE: return ft_buf_append(out, "true", 4);
    case FT_JSON_FALSE: return ft_buf_append(out, "false", 5);
    case FT_JSON_NUMBER: return ft_json_write_number(out, ft_json_raw(doc, v));
    case FT_JSON_STRING: {
        struct ft_str s = ft_json_str(doc, v);
        return ft_json_write_str(out, s.ptr, s.len);
    }
    case FT_JSON_ARRAY: {
        int rc = ft_buf_append_char(out, '[');
        const struct ft_json *e;
        FT_JSON_EACH(e, v)
        {
            if (rc == FT_OK && e != v + 1) rc = ft_buf_append(out, ", ", 2);
            if (rc == FT_OK) rc = ft_json_write_value(out, doc, e);
        }
        return rc ? rc : ft_buf_append_char(out, ']');
    }
    case FT_JSON_OBJECT: return write_object(out, doc, v);
    }
    return FT_EINVAL;
}
