/*
 * Condition properties that start with "$.": RFC 9535 JSONPath queries into the evaluation
 * context ({"environment": {"key", "name"}, "identity": {"identifier", "key", "traits"}, ...}).
 *
 * Flagsmith compiles the property with a JSONPath library and takes the first node found, if
 * it is a primitive; a property that is not valid JSONPath is a trait key. The engine parses
 * the RFC 9535 grammar at load and resolves what a context can hold to a fixed target, so
 * evaluation never walks a path. Valid queries it does not resolve (wildcards, descendants,
 * filters, slices, several selectors in one bracket, paths into features or segments) never
 * give a value; the loader warns about them (docs/engine.md).
 */
#include "base/utf8.h"
#include "engine/engine_int.h"

#include <string.h>

#define MAX_NAMES 8

struct path {
    struct ft_str names[MAX_NAMES];
    bool is_index[MAX_NAMES];
    size_t n;
    bool unsupported;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool hex4(struct ft_str s, size_t at, unsigned *out)
{
    if (at + 4 > s.len) return false;
    int v = ft_hex4((const unsigned char *)s.ptr + at);
    *out = (unsigned)v;
    return v >= 0;
}

/* A quoted name at s[*i] (the quote); decodes it into `arena`. */
static bool string_literal(struct ft_str s, size_t *i, struct ft_arena *arena, struct ft_str *out)
{
    char quote = s.ptr[*i];
    char *buf = ft_arena_alloc(arena, s.len + 1);
    size_t n = 0, k = *i + 1;
    while (k < s.len && s.ptr[k] != quote) {
        unsigned char c = (unsigned char)s.ptr[k];
        if (c < 0x20) return false;
        if (c != '\\') {
            buf[n++] = (char)c;
            k++;
            continue;
        }
        if (++k >= s.len) return false;
        char e = s.ptr[k++];
        unsigned cp;
        switch (e) {
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case '/': buf[n++] = '/'; break;
        case '\\': buf[n++] = '\\'; break;
        case '"':
        case '\'':
            if (e != quote) return false;
            buf[n++] = e;
            break;
        case 'u':
            if (!hex4(s, k, &cp)) return false;
            k += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) return false;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (k + 6 > s.len || s.ptr[k] != '\\' || s.ptr[k + 1] != 'u' ||
                    !hex4(s, k + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return false;
                k += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += ft_utf8_put(buf + n, cp);
            break;
        default: return false;
        }
    }
    if (k >= s.len) return false;
    *i = k + 1;
    buf[n] = '\0';
    *out = (struct ft_str){buf, n};
    return true;
}

static void skip_blank(struct ft_str s, size_t *i)
{
    while (*i < s.len && is_blank(s.ptr[*i]))
        (*i)++;
}

/* "0" or ["-"] DIGIT1 *DIGIT */
static bool integer(struct ft_str s, size_t *i)
{
    size_t k = *i;
    if (k < s.len && s.ptr[k] == '-') k++;
    if (k >= s.len || !is_digit(s.ptr[k])) return false;
    if (s.ptr[k] == '0') {
        if (k != *i) return false; /* "-0" is not an int */
        *i = k + 1;
        return true;
    }
    while (k < s.len && is_digit(s.ptr[k]))
        k++;
    *i = k;
    return true;
}

/* Skips a filter selector's expression up to the closing ']' of its bracket (not validated). */
static bool skip_filter(struct ft_str s, size_t *i)
{
    int depth = 0;
    while (*i < s.len) {
        char c = s.ptr[*i];
        if (c == '"' || c == '\'') {
            size_t k = *i + 1;
            while (k < s.len && s.ptr[k] != c)
                k += s.ptr[k] == '\\' ? 2 : 1;
            if (k >= s.len) return false;
            *i = k + 1;
            continue;
        }
        if (c == '[' || c == '(') depth++;
        if (c == ')') depth--;
        if (c == ']') {
            if (depth == 0) return true;
            depth--;
        }
        (*i)++;
    }
    return false;
}

/* One selector inside brackets; records a name or index, or marks the path unsupported. */
static bool selector(struct ft_str s, size_t *i, struct ft_arena *arena, struct path *p,
                     bool *single_name, struct ft_str *name, bool *is_index)
{
    if (*i >= s.len) return false;
    char c = s.ptr[*i];
    if (c == '"' || c == '\'') {
        *is_index = false;
        return string_literal(s, i, arena, name);
    }
    if (c == '*') {
        (*i)++;
        p->unsupported = true;
        return true;
    }
    if (c == '?') {
        (*i)++;
        p->unsupported = true;
        *single_name = false;
        return skip_filter(s, i);
    }
    /* index or slice: [start] ":" [end] [":" [step]] */
    size_t start = *i;
    bool has_start = integer(s, i);
    size_t after = *i;
    skip_blank(s, i);
    if (*i < s.len && s.ptr[*i] == ':') {
        (*i)++;
        skip_blank(s, i);
        if (integer(s, i)) skip_blank(s, i);
        if (*i < s.len && s.ptr[*i] == ':') {
            (*i)++;
            skip_blank(s, i);
            if (integer(s, i)) skip_blank(s, i);
        }
        p->unsupported = true;
        return true;
    }
    if (!has_start) return false;
    *i = after;
    *is_index = true;
    *name = (struct ft_str){s.ptr + start, after - start};
    return true;
}

static bool add_name(struct path *p, struct ft_str name, bool is_index)
{
    if (p->n == MAX_NAMES) {
        p->unsupported = true;
        return true;
    }
    p->names[p->n] = name;
    p->is_index[p->n++] = is_index;
    return true;
}

static bool bracketed(struct ft_str s, size_t *i, struct ft_arena *arena, struct path *p)
{
    (*i)++; /* '[' */
    size_t count = 0;
    bool single = true, is_index = false;
    struct ft_str name = {0};
    for (;;) {
        skip_blank(s, i);
        if (!selector(s, i, arena, p, &single, &name, &is_index)) return false;
        count++;
        skip_blank(s, i);
        if (*i < s.len && s.ptr[*i] == ',') {
            (*i)++;
            continue;
        }
        if (*i < s.len && s.ptr[*i] == ']') {
            (*i)++;
            break;
        }
        return false;
    }
    if (count > 1) p->unsupported = true;
    if (!p->unsupported) add_name(p, name, is_index);
    return true;
}

static bool shorthand(struct ft_str s, size_t *i, struct ft_str *name)
{
    size_t k = *i;
    if (k >= s.len || !is_alpha((unsigned char)s.ptr[k])) return false;
    while (k < s.len && (is_alpha((unsigned char)s.ptr[k]) || is_digit(s.ptr[k])))
        k++;
    *name = (struct ft_str){s.ptr + *i, k - *i};
    *i = k;
    return true;
}

static bool parse(struct ft_str s, struct ft_arena *arena, struct path *p)
{
    if (s.len < 1 || s.ptr[0] != '$') return false;
    size_t i = 1;
    while (i < s.len) {
        skip_blank(s, &i);
        if (i >= s.len) return false; /* no blanks after the last segment */
        if (s.ptr[i] == '[') {
            if (!bracketed(s, &i, arena, p)) return false;
            continue;
        }
        if (s.ptr[i] != '.') return false;
        i++;
        if (i < s.len && s.ptr[i] == '.') { /* descendant segment */
            i++;
            p->unsupported = true;
            if (i < s.len && s.ptr[i] == '[') {
                if (!bracketed(s, &i, arena, p)) return false;
            } else if (i < s.len && s.ptr[i] == '*') {
                i++;
            } else {
                struct ft_str name;
                if (!shorthand(s, &i, &name)) return false;
            }
            continue;
        }
        if (i < s.len && s.ptr[i] == '*') {
            i++;
            p->unsupported = true;
            continue;
        }
        struct ft_str name;
        if (!shorthand(s, &i, &name)) return false;
        add_name(p, name, false);
    }
    return true;
}

static bool name_is(const struct path *p, size_t k, const char *word)
{
    return !p->is_index[k] && ft_str_eq_c(p->names[k], word);
}

enum path_syntax ft__jsonpath_compile(struct ft_str property, struct ft_arena *arena,
                                      enum path_target *target, struct ft_str *trait)
{
    struct path p = {0};
    *target = PATH_NOTHING;
    if (!parse(property, arena, &p)) return PATH_INVALID;
    if (p.unsupported) return PATH_UNSUPPORTED;
    if (p.n >= 1 && (name_is(&p, 0, "features") || name_is(&p, 0, "segments")))
        return PATH_UNSUPPORTED;
    if (p.n == 2 && name_is(&p, 0, "environment")) {
        if (name_is(&p, 1, "key")) *target = PATH_ENV_KEY;
        if (name_is(&p, 1, "name")) *target = PATH_ENV_NAME;
    } else if (p.n == 2 && name_is(&p, 0, "identity")) {
        if (name_is(&p, 1, "identifier")) *target = PATH_IDENTIFIER;
        if (name_is(&p, 1, "key")) *target = PATH_IDENTITY_KEY;
    } else if (p.n == 3 && name_is(&p, 0, "identity") && name_is(&p, 1, "traits") &&
               !p.is_index[2]) {
        *target = PATH_TRAIT;
        *trait = p.names[2];
    }
    return PATH_VALID;
}
