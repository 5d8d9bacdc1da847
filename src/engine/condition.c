/*
 * Segment conditions: compiling them at load and matching them against a context value.
 *
 * The semantics are those of Flagsmith's engine (flag_engine/segments/evaluator.py). The
 * condition's value is cast to the type of the context value: int(), float(), a boolean that is
 * true unless "False"/"false", or str(); a value ending in ":semver" compares string traits as
 * semantic versions. A cast that fails is a non-match. All casts are done once, at load, so
 * matching is a comparison. Where Python would raise (an invalid regex, a zero MODULO divisor, a
 * PERCENTAGE_SPLIT threshold that is not a number) the condition does not match.
 */
#include "engine/engine_int.h"
#include "flagtrail/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- loading --- */

static const struct {
    const char *name;
    enum cond_op op;
} operators[] = {
    {"EQUAL", OP_EQUAL},
    {"NOT_EQUAL", OP_NOT_EQUAL},
    {"GREATER_THAN", OP_GREATER_THAN},
    {"GREATER_THAN_INCLUSIVE", OP_GREATER_THAN_INCLUSIVE},
    {"LESS_THAN", OP_LESS_THAN},
    {"LESS_THAN_INCLUSIVE", OP_LESS_THAN_INCLUSIVE},
    {"CONTAINS", OP_CONTAINS},
    {"NOT_CONTAINS", OP_NOT_CONTAINS},
    {"REGEX", OP_REGEX},
    {"MODULO", OP_MODULO},
    {"IN", OP_IN},
    {"IS_SET", OP_IS_SET},
    {"IS_NOT_SET", OP_IS_NOT_SET},
    {"PERCENTAGE_SPLIT", OP_PERCENTAGE_SPLIT},
};

/* The trait slot of a name, created on first use. */
static uint32_t slot_of(struct loader *L, struct ft_str name)
{
    ft_engine *e = L->e;
    uint64_t h = ft__name_hash(name);
    if (L->slot_mask == 0 || (uint64_t)(e->nslots + 1) * 2 > (uint64_t)L->slot_mask + 1) {
        uint32_t cap = L->slot_mask ? (L->slot_mask + 1) * 2 : 64;
        free(L->slot_index);
        L->slot_index = ft_xmalloc(sizeof(uint32_t) * cap);
        memset(L->slot_index, 0xff, sizeof(uint32_t) * cap);
        L->slot_mask = cap - 1;
        for (uint32_t i = 0; i < e->nslots; i++) {
            uint32_t b = (uint32_t)ft__name_hash(e->slots[i]) & L->slot_mask;
            while (L->slot_index[b] != NO_INDEX)
                b = (b + 1) & L->slot_mask;
            L->slot_index[b] = i;
        }
    }
    uint32_t b = (uint32_t)h & L->slot_mask;
    while (L->slot_index[b] != NO_INDEX) {
        if (ft_str_eq(e->slots[L->slot_index[b]], name)) return L->slot_index[b];
        b = (b + 1) & L->slot_mask;
    }
    if (e->nslots == L->cap_slots) {
        L->cap_slots = L->cap_slots ? L->cap_slots * 2 : 16;
        e->slots = ft_xrealloc(e->slots, sizeof(*e->slots) * L->cap_slots);
    }
    e->slots[e->nslots] = name;
    L->slot_index[b] = e->nslots;
    return e->nslots++;
}

static void load_property(struct loader *L, struct ft_str prop, struct eng_prop *out)
{
    memset(out, 0, sizeof(*out));
    if (prop.len == 0) {
        out->kind = PROP_NONE;
        return;
    }
    out->slot = slot_of(L, prop);
    out->kind = PROP_TRAIT;
    if (prop.len < 2 || prop.ptr[0] != '$' || prop.ptr[1] != '.') return;
    enum path_target target;
    struct ft_str trait = {0};
    enum path_syntax syn = ft__jsonpath_compile(prop, &L->e->arena, &target, &trait);
    if (syn == PATH_INVALID) return; /* not JSONPath: a trait key */
    out->kind = PROP_PATH;
    out->target = (uint8_t)target;
    if (syn == PATH_UNSUPPORTED)
        ft__load_warn(L, "JSONPath \"%.*s\" is not resolved by flagtrail: it gives no value",
                      (int)(prop.len < 80 ? prop.len : 80), prop.ptr);
    if (target == PATH_TRAIT) out->path_slot = slot_of(L, trait);
}

static int cmp_str(const void *a, const void *b)
{
    return ft_str_cmp(*(const struct ft_str *)a, *(const struct ft_str *)b);
}

/* Python's str() of each element of a JSON array (nested containers never match). */
static uint32_t in_from_array(struct loader *L, ft_json_doc *doc, const struct ft_json *arr,
                              struct ft_str *out)
{
    uint32_t n = 0;
    const struct ft_json *el;
    struct ft_buf b;
    ft_buf_init(&b, 0);
    FT_JSON_EACH(el, arr)
    {
        if (el->type == FT_JSON_ARRAY || el->type == FT_JSON_OBJECT) continue;
        struct ft_value v;
        if (el->type == FT_JSON_STRING) {
            out[n++] = ft__copy(L, ft_json_str(doc, el));
            continue;
        }
        if (el->type == FT_JSON_NUMBER)
            v = (struct ft_value){(el->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT,
                                  ft_json_raw(doc, el)};
        else if (el->type == FT_JSON_NULL)
            v = (struct ft_value){FT_VALUE_NULL, FT_STR("")};
        else
            v = (struct ft_value){FT_VALUE_BOOL,
                                  el->type == FT_JSON_TRUE ? FT_STR("true") : FT_STR("false")};
        ft_buf_reset(&b);
        ft__py_str(&b, &v);
        out[n++] = ft__copy(L, (struct ft_str){b.data, b.len});
    }
    ft_buf_free(&b);
    return n;
}

static void load_in(struct loader *L, const struct ft_json *value, struct eng_cond *c)
{
    struct ft_str *values = NULL;
    uint32_t n = 0;
    if (value && value->type == FT_JSON_ARRAY) {
        values = ft_arena_alloc(&L->e->arena, sizeof(*values) * (value->len + 1));
        n = in_from_array(L, L->doc, value, values);
    } else if (!c->value_null) {
        /* a JSON array in a string, else comma-separated values */
        ft_json_doc *inner = ft_json_doc_new(NULL);
        if (ft_json_parse(inner, c->text.ptr, c->text.len, NULL) == FT_OK &&
            ft_json_root(inner)->type == FT_JSON_ARRAY) {
            const struct ft_json *arr = ft_json_root(inner);
            values = ft_arena_alloc(&L->e->arena, sizeof(*values) * (arr->len + 1));
            n = in_from_array(L, inner, arr, values);
        } else {
            uint32_t parts = 1;
            for (size_t i = 0; i < c->text.len; i++)
                parts += c->text.ptr[i] == ',';
            values = ft_arena_alloc(&L->e->arena, sizeof(*values) * parts);
            const char *p = c->text.ptr, *end = p + c->text.len;
            for (;;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *stop = comma ? comma : end;
                values[n++] = (struct ft_str){p, (size_t)(stop - p)};
                if (!comma) break;
                p = comma + 1;
            }
        }
        ft_json_doc_free(inner);
    }
    if (n > 1) qsort(values, n, sizeof(*values), cmp_str);
    c->u.in.values = values;
    c->u.in.n = n;
}

static void load_modulo(struct eng_cond *c)
{
    c->u.mod.ok = false;
    if (c->value_null || c->text.len == 0) return;
    const char *bar = memchr(c->text.ptr, '|', c->text.len);
    if (!bar || memchr(bar + 1, '|', c->text.len - (size_t)(bar + 1 - c->text.ptr))) return;
    struct ft_str d = {c->text.ptr, (size_t)(bar - c->text.ptr)};
    struct ft_str r = {bar + 1, c->text.len - d.len - 1};
    if (!ft__py_float_parse(d, &c->u.mod.divisor) || !ft__py_float_parse(r, &c->u.mod.remainder))
        return;
    c->u.mod.ok = c->u.mod.divisor != 0; /* Python raises ZeroDivisionError */
}

static void load_regex(struct loader *L, struct eng_cond *c)
{
    char err[256];
    pcre2_code *re = ft__regex_compile(c->text, err, sizeof(err));
    c->u.re = re;
    if (!re) {
        size_t old = ft__path_key(L, "value");
        ft__load_warn(L, "%s: the condition never matches", err);
        ft__path_pop(L, old);
        return;
    }
    ft_engine *e = L->e;
    if (e->nregexes == L->cap_regexes) {
        L->cap_regexes = L->cap_regexes ? L->cap_regexes * 2 : 16;
        e->regexes = ft_xrealloc(e->regexes, sizeof(*e->regexes) * L->cap_regexes);
    }
    e->regexes[e->nregexes++] = re;
}

int ft__load_condition(struct loader *L, const struct ft_json *cj, uint32_t index)
{
    struct eng_cond *c = &L->e->conds[index];
    if (cj->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)cj->type));
    const struct ft_json *op, *prop, *prop_, *value;
    int rc = ft__member(L, cj, "operator", T_STRING, true, &op);
    if (!rc) rc = ft__member(L, cj, "property_", T_STRING | T_NULL, false, &prop_);
    if (!rc) rc = ft__member(L, cj, "property", T_STRING | T_NULL, false, &prop);
    if (!rc) rc = ft__member(L, cj, "value", T_SCALAR | T_ARRAY, false, &value);
    if (rc) return rc;

    struct ft_str name = ft_json_str(L->doc, op);
    c->op = OP_UNKNOWN;
    for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
        if (ft_str_eq_c(name, operators[i].name)) c->op = (uint8_t)operators[i].op;
    if (c->op == OP_UNKNOWN) {
        size_t old = ft__path_key(L, "operator");
        ft__load_warn(L, "unknown operator \"%.*s\": the condition never matches",
                      (int)(name.len < 64 ? name.len : 64), name.ptr);
        ft__path_pop(L, old);
    }

    if (!prop || prop->type == FT_JSON_NULL) prop = prop_;
    struct ft_str p = prop && prop->type == FT_JSON_STRING ? ft__copy_str(L, prop) : FT_STR("");
    load_property(L, p, &c->prop);

    /* str(value): the text every cast starts from */
    c->value_null = !value || value->type == FT_JSON_NULL;
    if (value && value->type == FT_JSON_ARRAY) {
        if (c->op != OP_IN && c->op != OP_IS_SET && c->op != OP_IS_NOT_SET && c->op != OP_UNKNOWN) {
            size_t old = ft__path_key(L, "value");
            ft__load_warn(L, "a list value is only meaningful for IN: the condition never "
                             "matches");
            ft__path_pop(L, old);
            c->op = OP_UNKNOWN;
        }
        c->text = FT_STR("");
    } else {
        struct ft_value v = ft__copy_value(L, value);
        struct ft_buf b;
        ft_buf_init(&b, 0);
        ft__py_str(&b, &v);
        c->text = v.type == FT_VALUE_STRING ? v.text : ft__copy(L, (struct ft_str){b.data, b.len});
        ft_buf_free(&b);
    }
    if (!c->value_null) {
        c->has_int = ft__py_int_parse(c->text, &L->e->arena, &c->int_text);
        c->has_float = ft__py_float_parse(c->text, &c->float_value);
    }
    c->bool_value = !ft_str_eq_c(c->text, "False") && !ft_str_eq_c(c->text, "false");
    c->is_semver = !c->value_null && c->text.len >= 7 &&
                   memcmp(c->text.ptr + c->text.len - 7, ":semver", 7) == 0;
    if (c->is_semver)
        c->semver_ok = ft__semver_parse((struct ft_str){c->text.ptr, c->text.len - 7}, &c->semver);

    switch (c->op) {
    case OP_REGEX: load_regex(L, c); break;
    case OP_MODULO: load_modulo(c); break;
    case OP_IN: load_in(L, value, c); break;
    case OP_PERCENTAGE_SPLIT:
        c->u.pct.ok = !c->value_null && ft__py_float_parse(c->text, &c->u.pct.threshold);
        if (!c->u.pct.ok) {
            size_t old = ft__path_key(L, "value");
            ft__load_warn(L, "PERCENTAGE_SPLIT value is not a number: the condition never "
                             "matches");
            ft__path_pop(L, old);
        }
        break;
    default: break;
    }
    return FT_OK;
}

/* --- matching --- */

/* The value a condition's property names, for this evaluation. */
static struct cval resolve(const struct eng_cond *c, struct evalctx *x)
{
    struct cval none = {.type = CV_NONE};
    switch (c->prop.kind) {
    case PROP_TRAIT: return x->slot_values[c->prop.slot];
    case PROP_PATH: {
        /* a trait with the property's literal name comes first */
        struct cval v = x->slot_values[c->prop.slot];
        if (v.type != CV_NONE) return v;
        struct cval s = {.type = CV_STR};
        switch (c->prop.target) {
        case PATH_IDENTIFIER:
            if (!x->has_identity) return none;
            s.s = x->identifier;
            return s;
        case PATH_IDENTITY_KEY:
            if (!x->has_identity) return none;
            s.s = x->identity_key;
            return s;
        case PATH_ENV_KEY: s.s = x->e->env.api_key; return s;
        case PATH_ENV_NAME:
            if (!x->e->env.name.ptr) return none;
            s.s = x->e->env.name;
            return s;
        case PATH_TRAIT: return x->slot_values[c->prop.path_slot];
        default: return none;
        }
    }
    default: return none;
    }
}

/* str() of a context value, in x->buf when it must be formatted. */
static struct ft_str py_str(const struct cval *v, struct evalctx *x)
{
    if (v->type == CV_STR) return v->s;
    ft_buf_reset(&x->buf);
    if (v->v) {
        ft__py_str(&x->buf, v->v);
    } else {
        struct ft_value tmp = {FT_VALUE_NULL, FT_STR("")};
        ft__py_str(&x->buf, &tmp);
    }
    return (struct ft_str){x->buf.data, x->buf.len};
}

static bool contains(struct ft_str hay, struct ft_str needle)
{
    if (needle.len == 0) return true;
    if (needle.len > hay.len) return false;
    return memmem(hay.ptr, hay.len, needle.ptr, needle.len) != NULL;
}

static bool apply(uint8_t op, int cmp)
{
    switch (op) {
    case OP_EQUAL: return cmp == 0;
    case OP_NOT_EQUAL: return cmp != 0;
    case OP_GREATER_THAN: return cmp > 0;
    case OP_GREATER_THAN_INCLUSIVE: return cmp >= 0;
    case OP_LESS_THAN: return cmp < 0;
    case OP_LESS_THAN_INCLUSIVE: return cmp <= 0;
    default: return false;
    }
}

static bool apply_double(uint8_t op, double a, double b)
{
    switch (op) {
    case OP_EQUAL: return a == b;
    case OP_NOT_EQUAL: return a != b;
    case OP_GREATER_THAN: return a > b;
    case OP_GREATER_THAN_INCLUSIVE: return a >= b;
    case OP_LESS_THAN: return a < b;
    case OP_LESS_THAN_INCLUSIVE: return a <= b;
    default: return false;
    }
}

/* EQUAL ... CONTAINS: the condition's value cast to the context value's type. */
static bool typed(const struct eng_cond *c, const struct cval *v)
{
    int cmp;
    switch (v->type) {
    case CV_STR:
        if (c->is_semver) {
            struct ft__semver sv;
            if (!c->semver_ok || c->op == OP_CONTAINS || !ft__semver_parse(v->s, &sv)) return false;
            cmp = ft__semver_cmp(&sv, &c->semver);
        } else {
            if (c->op == OP_CONTAINS) return contains(v->s, c->text);
            cmp = ft_str_cmp(v->s, c->text);
        }
        return apply(c->op, cmp);
    case CV_BOOL:
        if (c->op == OP_CONTAINS) return false;
        return apply(c->op, (int)v->b - (int)c->bool_value);
    case CV_INT:
        if (!c->has_int || c->op == OP_CONTAINS) return false;
        return apply(c->op, ft__py_int_cmp(v->s, c->int_text));
    case CV_FLOAT:
        if (!c->has_float || c->op == OP_CONTAINS) return false;
        return apply_double(c->op, v->d, c->float_value);
    default: return false;
    }
}

static bool in_list(const struct eng_cond *c, const struct cval *v, struct evalctx *x)
{
    if (v->type != CV_STR && v->type != CV_INT) return false; /* floats, booleans, None */
    struct ft_str needle = py_str(v, x);
    const struct ft_str *vals = c->u.in.values;
    size_t lo = 0, hi = c->u.in.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = ft_str_cmp(vals[mid], needle);
        if (cmp == 0) return true;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool percentage_split(const struct eng_cond *c, const struct eng_segment *seg,
                             const struct cval *v, struct evalctx *x)
{
    if (!c->u.pct.ok) return false;
    struct ft_str ids[2] = {seg->key, {0}};
    if (c->prop.kind == PROP_NONE) {
        if (!x->has_identity) return false;
        if (c->eager != NO_INDEX) return x->eager_pct[c->eager] <= c->u.pct.threshold;
        ids[1] = x->identity_key;
    } else {
        if (v->type == CV_NONE) return false; /* a missing trait is not in the split */
        ids[1] = py_str(v, x);
    }
    return ft__hash_percentage(ids, 2, &x->buf2) <= c->u.pct.threshold;
}

static double number_of(const struct cval *v)
{
    if (v->type == CV_BOOL) return v->b ? 1.0 : 0.0;
    if (v->type == CV_FLOAT) return v->d;
    return ft__value_double(v->v ? v->v : &(struct ft_value){FT_VALUE_INT, v->s});
}

bool ft__condition_matches(const struct eng_cond *c, const struct eng_segment *seg,
                           struct evalctx *x)
{
    struct cval v = resolve(c, x);
    switch (c->op) {
    case OP_IN: return in_list(c, &v, x);
    case OP_PERCENTAGE_SPLIT: return percentage_split(c, seg, &v, x);
    case OP_IS_SET: return v.type != CV_NONE;
    case OP_IS_NOT_SET: return v.type == CV_NONE;
    case OP_UNKNOWN: return false;
    default: break;
    }
    if (v.type == CV_NONE) return false;
    switch (c->op) {
    case OP_NOT_CONTAINS: return v.type == CV_STR && !contains(v.s, c->text);
    case OP_REGEX:
        return c->u.re && ft__regex_match(c->u.re, py_str(&v, x), x->md, x->e->match_context) > 0;
    case OP_MODULO:
        if (!c->u.mod.ok || v.type == CV_STR) return false;
        return ft__py_fmod(number_of(&v), c->u.mod.divisor) == c->u.mod.remainder;
    default: return typed(c, &v);
    }
}
