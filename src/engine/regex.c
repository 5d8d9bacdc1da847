/*
 * REGEX conditions: Python's re.match(pattern, str(value)) with PCRE2.
 *
 * re.match anchors at the start of the subject only, so patterns compile with PCRE2_ANCHORED;
 * Python's str patterns are Unicode-aware (\d, \w, \s, case folding), hence PCRE2_UTF and
 * PCRE2_UCP. The few spellings where Python and PCRE2 differ are rewritten before compiling:
 * \Z (end of subject in Python, \z in PCRE2), \uXXXX and \UXXXXXXXX (\x{...} in PCRE2) and the
 * quantifier {,n} ({0,n}). Patterns are compiled once, at load, with the JIT where available;
 * matching runs under a match limit, so a catastrophic pattern ends as a non-match instead of
 * hanging a server (Python would hang).
 */
#include "engine/engine_int.h"

#include <stdio.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool hex_run(struct ft_str p, size_t at, size_t n)
{
    if (at + n > p.len) return false;
    for (size_t k = 0; k < n; k++)
        if (!is_hex(p.ptr[at + k])) return false;
    return true;
}

/* Rewrites the Python-only spellings; the result goes to `out`. */
static void translate(struct ft_str p, struct ft_buf *out)
{
    bool in_class = false;
    size_t class_start = 0;
    for (size_t i = 0; i < p.len; i++) {
        char c = p.ptr[i];
        if (c == '\\' && i + 1 < p.len) {
            char n = p.ptr[i + 1];
            if (n == 'Z' && !in_class) {
                ft_buf_append(out, "\\z", 2);
            } else if ((n == 'u' && hex_run(p, i + 2, 4)) || (n == 'U' && hex_run(p, i + 2, 8))) {
                size_t digits = n == 'u' ? 4 : 8;
                ft_buf_append(out, "\\x{", 3);
                ft_buf_append(out, p.ptr + i + 2, digits);
                ft_buf_append_char(out, '}');
                i += digits;
            } else {
                ft_buf_append(out, p.ptr + i, 2);
            }
            i++;
            continue;
        }
        if (in_class) {
            /* a ']' right after '[' or '[^' is a literal */
            if (c == ']' && i > class_start) in_class = false;
            ft_buf_append_char(out, c);
            continue;
        }
        if (c == '[') {
            in_class = true;
            class_start = i + 1 < p.len && p.ptr[i + 1] == '^' ? i + 2 : i + 1;
            ft_buf_append_char(out, c);
            if (class_start == i + 2) {
                ft_buf_append_char(out, '^');
                i++;
            }
            continue;
        }
        if (c == '{' && i + 1 < p.len && p.ptr[i + 1] == ',') {
            size_t j = i + 2;
            while (j < p.len && p.ptr[j] >= '0' && p.ptr[j] <= '9')
                j++;
            if (j > i + 2 && j < p.len && p.ptr[j] == '}') {
                ft_buf_append(out, "{0", 2);
                continue;
            }
        }
        ft_buf_append_char(out, c);
    }
}

pcre2_code *ft__regex_compile(struct ft_str pattern, char *err, size_t errlen)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    translate(pattern, &b);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(b.data ? b.data : ""), b.len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_MATCH_INVALID_UTF,
                                   &code, &offset, NULL);
    ft_buf_free(&b);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "invalid regex at offset %zu: %s", (size_t)offset, (char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    return re;
}

pcre2_match_context *ft__regex_context(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);
    if (!m) return NULL;
    pcre2_set_match_limit(m, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(m, REGEX_DEPTH_LIMIT);
    return m;
}

int ft__regex_match(const pcre2_code *re, struct ft_str subject, pcre2_match_data *md,
                    pcre2_match_context *mctx)
{
    int rc =
        pcre2_match(re, (PCRE2_SPTR)(subject.ptr ? subject.ptr : ""), subject.len, 0, 0, md, mctx);
    if (rc >= 0) return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}
