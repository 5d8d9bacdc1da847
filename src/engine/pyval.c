/*
 * Python's value semantics, as Flagsmith's engine (Python) applies them to conditions: int() and
 * float() of a condition's text, exact integer comparison at any size, float modulo, and str()
 * of a trait value (for REGEX, IN and hashing).
 *
 * Only ASCII digits and whitespace are recognized: Python also accepts other Unicode digits and
 * spaces in int() and float(), which no Flagsmith condition uses (docs/engine.md).
 */
#include "engine/engine_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    /* str.isspace() for ASCII: \t \n \v \f \r, the separators \x1c-\x1f, and space */
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static struct ft_str strip(struct ft_str s)
{
    while (s.len && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/*
 * Copies digits with PEP 515 underscores (single, between digits) from s[*i] into out;
 * returns the number of digits, 0 when there are none or an underscore is misplaced.
 */
static size_t take_digits(struct ft_str s, size_t *i, char *out, size_t *n)
{
    size_t digits = 0;
    while (*i < s.len) {
        char c = s.ptr[*i];
        if (is_digit(c)) {
            out[(*n)++] = c;
            digits++;
            (*i)++;
        } else if (c == '_' && digits > 0 && *i + 1 < s.len && is_digit(s.ptr[*i + 1])) {
            (*i)++;
        } else {
            break;
        }
    }
    return digits;
}

bool ft__py_int_parse(struct ft_str s, struct ft_arena *arena, struct ft_str *out)
{
    s = strip(s);
    if (s.len == 0) return false;
    char *buf = ft_arena_alloc(arena, s.len + 2);
    size_t n = 0, i = 0;
    bool neg = false;
    if (s.ptr[0] == '+' || s.ptr[0] == '-') {
        neg = s.ptr[0] == '-';
        i++;
    }
    if (neg) buf[n++] = '-';
    size_t start = n;
    if (take_digits(s, &i, buf, &n) == 0 || i != s.len) return false;
    /* normalize: no leading zeros, and no "-0" */
    size_t z = start;
    while (z + 1 < n && buf[z] == '0')
        z++;
    if (z > start) {
        memmove(buf + start, buf + z, n - z);
        n -= z - start;
    }
    if (n - start == 1 && buf[start] == '0' && neg) {
        buf[0] = '0';
        n = 1;
    }
    buf[n] = '\0';
    *out = (struct ft_str){buf, n};
    return true;
}

static bool ieq(struct ft_str s, size_t at, const char *word)
{
    size_t w = strlen(word);
    if (s.len - at != w) return false;
    for (size_t k = 0; k < w; k++) {
        char c = s.ptr[at + k];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[k]) return false;
    }
    return true;
}

bool ft__py_float_parse(struct ft_str s, double *out)
{
    s = strip(s);
    if (s.len == 0 || s.len > 4096) return false;
    size_t i = 0;
    bool neg = false;
    if (s.ptr[0] == '+' || s.ptr[0] == '-') {
        neg = s.ptr[0] == '-';
        i++;
    }
    if (ieq(s, i, "inf") || ieq(s, i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (ieq(s, i, "nan")) {
        *out = neg ? -NAN : NAN;
        return true;
    }
    char small[128], *buf = s.len + 2 < sizeof(small) ? small : ft_xmalloc(s.len + 2);
    size_t n = 0;
    if (neg) buf[n++] = '-';
    size_t mantissa = take_digits(s, &i, buf, &n);
    if (i < s.len && s.ptr[i] == '.') {
        buf[n++] = '.';
        i++;
        mantissa += take_digits(s, &i, buf, &n);
    }
    bool ok = mantissa > 0;
    if (ok && i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        buf[n++] = 'e';
        i++;
        if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) buf[n++] = s.ptr[i++];
        ok = take_digits(s, &i, buf, &n) > 0;
    }
    ok = ok && i == s.len;
    if (ok) {
        buf[n] = '\0';
        *out = strtod(buf, NULL);
    }
    if (buf != small) free(buf);
    return ok;
}

/* Skips the sign and leading zeros of a decimal integer; *neg tells the sign of a non-zero. */
static struct ft_str magnitude(struct ft_str s, bool *neg)
{
    *neg = s.len && s.ptr[0] == '-';
    if (s.len && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 1 && s.ptr[0] == '0') {
        s.ptr++;
        s.len--;
    }
    if (s.len == 1 && s.ptr[0] == '0') *neg = false;
    return s;
}

int ft__py_int_cmp(struct ft_str a, struct ft_str b)
{
    bool na, nb;
    struct ft_str ma = magnitude(a, &na), mb = magnitude(b, &nb);
    if (na != nb) return na ? -1 : 1;
    int c = ma.len != mb.len ? (ma.len < mb.len ? -1 : 1) : memcmp(ma.ptr, mb.ptr, ma.len);
    if (c) c = c < 0 ? -1 : 1;
    return na ? -c : c;
}

double ft__py_fmod(double x, double y)
{
    double m = fmod(x, y);
    if (m != 0) {
        if ((y < 0) != (m < 0)) m += y;
    } else {
        m = copysign(0.0, y);
    }
    return m;
}

double ft__value_double(const struct ft_value *v)
{
    return ft_str_double(v->text);
}

void ft__py_str(struct ft_buf *out, const struct ft_value *v)
{
    switch (v->type) {
    case FT_VALUE_NULL: ft_buf_append_str(out, "None"); return;
    case FT_VALUE_BOOL:
        ft_buf_append_str(out, v->text.len && v->text.ptr[0] == 't' ? "True" : "False");
        return;
    case FT_VALUE_INT: {
        bool neg;
        struct ft_str m = magnitude(v->text, &neg);
        if (neg) ft_buf_append_char(out, '-');
        ft_buf_append(out, m.ptr, m.len);
        return;
    }
    case FT_VALUE_FLOAT: {
        double d = ft__value_double(v);
        if (isnan(d))
            ft_buf_append_str(out, "nan");
        else if (isinf(d))
            ft_buf_append_str(out, d < 0 ? "-inf" : "inf");
        else
            ft_json_write_double(out, d);
        return;
    }
    case FT_VALUE_STRING: ft_buf_append(out, v->text.ptr, v->text.len); return;
    }
}

/* --- trait typing as Flagsmith's API does it --- */

static bool all_digits(const char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i])) return false;
    return true;
}

bool ft_engine_trait_coerce(struct ft_value *v, struct ft_arena *arena)
{
    if (v->type != FT_VALUE_STRING) return false;
    const char *p = v->text.ptr;
    size_t n = v->text.len, sign = n && p[0] == '-';
    const char *dot = memchr(p, '.', n);
    bool integer = all_digits(p + sign, n - sign);
    bool decimal = !integer && dot && all_digits(p + sign, (size_t)(dot - p) - sign) &&
                   all_digits(dot + 1, n - (size_t)(dot + 1 - p));
    /* only a string that looks like a number is read, and only when a double holds it */
    if (!(integer || decimal) || !ft_str_number_in_range(v->text)) return false;
    if (integer) {
        struct ft_str norm;
        if (!ft__py_int_parse(v->text, arena, &norm)) return false;
        v->type = FT_VALUE_INT;
        v->text = norm;
        return true;
    }
    /* the text becomes Python's repr of the float, a valid JSON lexeme ("00.50" -> "0.5") */
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_json_write_double(&b, ft__value_double(v));
    v->type = FT_VALUE_FLOAT;
    v->text = (struct ft_str){ft_arena_strndup(arena, b.data, b.len), b.len};
    ft_buf_free(&b);
    return true;
}
