/*
 * Semantic versions for conditions whose value ends with ":semver", as python-semver parses and
 * orders them (Version.parse, Version.compare): semver 2.0.0 with precedence on major, minor,
 * patch and prerelease, build metadata ignored.
 */
#include "engine/engine_int.h"

#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* A numeric part: "0" or digits without a leading zero. */
static bool take_number(struct ft_str s, size_t *i, struct ft_str *out)
{
    size_t start = *i;
    while (*i < s.len && is_digit(s.ptr[*i]))
        (*i)++;
    size_t n = *i - start;
    if (n == 0 || (n > 1 && s.ptr[start] == '0')) return false;
    *out = (struct ft_str){s.ptr + start, n};
    return true;
}

/* Dot-separated identifiers [0-9A-Za-z-]+; prerelease numerics may not have leading zeros. */
static bool take_identifiers(struct ft_str s, size_t *i, bool prerelease)
{
    for (;;) {
        size_t start = *i;
        bool numeric = true;
        while (*i < s.len && is_ident_char(s.ptr[*i])) {
            numeric = numeric && is_digit(s.ptr[*i]);
            (*i)++;
        }
        size_t n = *i - start;
        if (n == 0) return false;
        if (prerelease && numeric && n > 1 && s.ptr[start] == '0') return false;
        if (*i < s.len && s.ptr[*i] == '.') {
            (*i)++;
            continue;
        }
        return true;
    }
}

bool ft__semver_parse(struct ft_str s, struct ft__semver *out)
{
    /* Python's `$` also matches before a final newline */
    if (s.len && s.ptr[s.len - 1] == '\n') s.len--;
    size_t i = 0;
    memset(out, 0, sizeof(*out));
    if (!take_number(s, &i, &out->major) || i >= s.len || s.ptr[i++] != '.') return false;
    if (!take_number(s, &i, &out->minor) || i >= s.len || s.ptr[i++] != '.') return false;
    if (!take_number(s, &i, &out->patch)) return false;
    out->pre = (struct ft_str){s.ptr + i, 0};
    if (i < s.len && s.ptr[i] == '-') {
        size_t start = ++i;
        if (!take_identifiers(s, &i, true)) return false;
        out->pre = (struct ft_str){s.ptr + start, i - start};
    }
    if (i < s.len && s.ptr[i] == '+') {
        i++;
        if (!take_identifiers(s, &i, false)) return false;
    }
    return i == s.len;
}

static int cmp_numeric(struct ft_str a, struct ft_str b)
{
    while (a.len > 1 && a.ptr[0] == '0') {
        a.ptr++;
        a.len--;
    }
    while (b.len > 1 && b.ptr[0] == '0') {
        b.ptr++;
        b.len--;
    }
    if (a.len != b.len) return a.len < b.len ? -1 : 1;
    int c = memcmp(a.ptr, b.ptr, a.len);
    return (c > 0) - (c < 0);
}

static bool all_digits(struct ft_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!is_digit(s.ptr[i])) return false;
    return s.len > 0;
}

/* The next dot-separated identifier of a prerelease, advancing *rest. */
static struct ft_str next_identifier(struct ft_str *rest)
{
    const char *dot = memchr(rest->ptr, '.', rest->len);
    size_t n = dot ? (size_t)(dot - rest->ptr) : rest->len;
    struct ft_str id = {rest->ptr, n};
    size_t skip = dot ? n + 1 : n;
    rest->ptr += skip;
    rest->len -= skip;
    return id;
}

static int cmp_prerelease(struct ft_str a, struct ft_str b)
{
    struct ft_str ra = a, rb = b;
    for (;;) {
        struct ft_str x = next_identifier(&ra), y = next_identifier(&rb);
        bool nx = all_digits(x), ny = all_digits(y);
        int c;
        if (nx && ny)
            c = cmp_numeric(x, y);
        else if (nx != ny)
            c = nx ? -1 : 1; /* numeric identifiers have lower precedence */
        else
            c = ft_str_cmp(x, y);
        if (c) return c < 0 ? -1 : 1;
        if (x.ptr + x.len == a.ptr + a.len || y.ptr + y.len == b.ptr + b.len) break;
    }
    /* every shared identifier is equal: the longer prerelease has higher precedence */
    return (a.len > b.len) - (a.len < b.len);
}

int ft__semver_cmp(const struct ft__semver *a, const struct ft__semver *b)
{
    int c = cmp_numeric(a->major, b->major);
    if (!c) c = cmp_numeric(a->minor, b->minor);
    if (!c) c = cmp_numeric(a->patch, b->patch);
    if (c) return c;
    if (a->pre.len == 0 || b->pre.len == 0) return (a->pre.len == 0) - (b->pre.len == 0);
    return cmp_prerelease(a->pre, b->pre);
}
