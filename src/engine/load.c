/*
 * Building a model: what both loaders share. The front ends (load_document.c for Flagsmith's
 * environment document, load_context.c for the evaluation context of the engine test data) read
 * their JSON into the arrays of struct ft_engine through the helpers here; ft__load_finish then
 * sorts features by name, resolves segment overrides to features, sorts variants, and builds the
 * hash tables for trait slots and identity overrides.
 *
 * Every value the model keeps is copied into its arena, so the input can go once loaded. Errors
 * name the path of the offending value; documented fallbacks are counted as warnings.
 */
#include "engine/engine_int.h"
#include "flagtrail/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- paths and messages --- */

size_t ft__path_key(struct loader *L, const char *key)
{
    size_t old = L->pathlen;
    int w = snprintf(L->path + L->pathlen, sizeof(L->path) - L->pathlen, "%s%s",
                     L->pathlen ? "." : "", key);
    if (w > 0) L->pathlen += (size_t)w;
    if (L->pathlen >= sizeof(L->path)) L->pathlen = sizeof(L->path) - 1;
    return old;
}

size_t ft__path_name(struct loader *L, struct ft_str name)
{
    size_t old = L->pathlen;
    int w = snprintf(L->path + L->pathlen, sizeof(L->path) - L->pathlen, "%s%.*s",
                     L->pathlen ? "." : "", (int)(name.len < 64 ? name.len : 64), name.ptr);
    if (w > 0) L->pathlen += (size_t)w;
    if (L->pathlen >= sizeof(L->path)) L->pathlen = sizeof(L->path) - 1;
    return old;
}

size_t ft__path_index(struct loader *L, size_t i)
{
    size_t old = L->pathlen;
    int w = snprintf(L->path + L->pathlen, sizeof(L->path) - L->pathlen, "[%zu]", i);
    if (w > 0) L->pathlen += (size_t)w;
    if (L->pathlen >= sizeof(L->path)) L->pathlen = sizeof(L->path) - 1;
    return old;
}

void ft__path_pop(struct loader *L, size_t len)
{
    L->pathlen = len;
    L->path[len] = '\0';
}

static void vformat(struct loader *L, char *out, size_t cap, const char *fmt, va_list ap)
{
    int w = snprintf(out, cap, "%s%s", L->pathlen ? L->path : "", L->pathlen ? ": " : "");
    if (w < 0) w = 0;
    if ((size_t)w < cap) vsnprintf(out + w, cap - (size_t)w, fmt, ap);
}

int ft__load_fail(struct loader *L, const char *fmt, ...)
{
    if (L->err) {
        va_list ap;
        va_start(ap, fmt);
        vformat(L, L->err->detail, sizeof(L->err->detail), fmt, ap);
        va_end(ap);
    }
    return FT_EDOCUMENT;
}

void ft__load_warn(struct loader *L, const char *fmt, ...)
{
    if (!L->err) return;
    if (L->err->warnings++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vformat(L, L->err->warning, sizeof(L->err->warning), fmt, ap);
        va_end(ap);
    }
}

/* --- typed members --- */

static const char *types_name(unsigned types)
{
    if (types == T_STRING) return "string";
    if (types == (T_STRING | T_NULL)) return "string or null";
    if (types == T_BOOL) return "boolean";
    if (types == (T_BOOL | T_NULL)) return "boolean or null";
    if (types == T_NUMBER) return "number";
    if (types == (T_NUMBER | T_NULL)) return "number or null";
    if (types == T_ARRAY) return "array";
    if (types == (T_ARRAY | T_NULL)) return "array or null";
    if (types == T_OBJECT) return "object";
    if (types == (T_OBJECT | T_NULL)) return "object or null";
    if (types == T_SCALAR) return "string, number, boolean or null";
    if (types == (T_SCALAR | T_ARRAY)) return "string, number, boolean, null or list";
    if (types == (T_STRING | T_NUMBER)) return "string or number";
    return "another type";
}

int ft__member(struct loader *L, const struct ft_json *obj, const char *key, unsigned types,
               bool required, const struct ft_json **out)
{
    const struct ft_json *v = ft_json_get(L->doc, obj, key);
    *out = v;
    if (!v) {
        if (!required) return FT_OK;
        size_t old = ft__path_key(L, key);
        int rc = ft__load_fail(L, "missing");
        ft__path_pop(L, old);
        return rc;
    }
    if (types & (1u << v->type)) return FT_OK;
    size_t old = ft__path_key(L, key);
    int rc = ft__load_fail(L, "expected %s, got %s", types_name(types),
                           ft_json_type_name((enum ft_json_type)v->type));
    ft__path_pop(L, old);
    return rc;
}

struct ft_str ft__copy(struct loader *L, struct ft_str s)
{
    return (struct ft_str){ft_arena_strndup(&L->e->arena, s.ptr ? s.ptr : "", s.len), s.len};
}

struct ft_str ft__copy_str(struct loader *L, const struct ft_json *v)
{
    return ft__copy(L, ft_json_str(L->doc, v));
}

struct ft_value ft__copy_value(struct loader *L, const struct ft_json *v)
{
    struct ft_value out = {FT_VALUE_NULL, {"", 0}};
    if (!v) return out;
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_NULL: break;
    case FT_JSON_TRUE: out = (struct ft_value){FT_VALUE_BOOL, FT_STR("true")}; break;
    case FT_JSON_FALSE: out = (struct ft_value){FT_VALUE_BOOL, FT_STR("false")}; break;
    case FT_JSON_NUMBER:
        out.type = (v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT;
        out.text = ft__copy(L, ft_json_raw(L->doc, v));
        break;
    case FT_JSON_STRING:
        out.type = FT_VALUE_STRING;
        out.text = ft__copy_str(L, v);
        break;
    default: break;
    }
    return out;
}

int ft__get_nint(struct loader *L, const struct ft_json *obj, const char *key, bool required,
                 struct ft_nint *out)
{
    const struct ft_json *v;
    *out = (struct ft_nint){.null = true};
    int rc = ft__member(L, obj, key, T_NUMBER | T_NULL, required, &v);
    if (rc || !v || v->type == FT_JSON_NULL) return rc;
    if (!ft_json_int64(L->doc, v, &out->value)) {
        size_t old = ft__path_key(L, key);
        rc = ft__load_fail(L, "expected an integer that fits in 64 bits");
        ft__path_pop(L, old);
        return rc;
    }
    out->null = false;
    return FT_OK;
}

int ft__get_number(struct loader *L, const struct ft_json *obj, const char *key, double dflt,
                   double *out, const struct ft_json **node)
{
    const struct ft_json *v;
    *out = dflt;
    if (node) *node = NULL;
    int rc = ft__member(L, obj, key, T_NUMBER | T_NULL, false, &v);
    if (rc || !v || v->type == FT_JSON_NULL) return rc;
    ft_json_double(L->doc, v, out);
    if (node) *node = v;
    return FT_OK;
}

int ft__get_bool(struct loader *L, const struct ft_json *obj, const char *key, bool dflt, bool *out)
{
    const struct ft_json *v;
    *out = dflt;
    int rc = ft__member(L, obj, key, T_BOOL | T_NULL, false, &v);
    if (rc || !v || v->type == FT_JSON_NULL) return rc;
    *out = v->type == FT_JSON_TRUE;
    return FT_OK;
}

int ft__get_raw_object(struct loader *L, const struct ft_json *obj, const char *key,
                       struct ft_str *out)
{
    const struct ft_json *v;
    *out = (struct ft_str){NULL, 0};
    int rc = ft__member(L, obj, key, T_OBJECT | T_NULL, false, &v);
    if (rc || !v || v->type == FT_JSON_NULL) return rc;
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_json_write_value(&b, L->doc, v);
    *out = ft__copy(L, (struct ft_str){b.data, b.len});
    ft_buf_free(&b);
    return FT_OK;
}

/* --- growing the arrays --- */

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return p;
    uint32_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    *cap = c;
    return ft_xrealloc(p, (size_t)c * elem);
}

uint32_t ft__new_state(struct loader *L)
{
    ft_engine *e = L->e;
    e->states = grow(e->states, &L->cap_states, e->nstates + 1, sizeof(*e->states));
    struct eng_state *s = &e->states[e->nstates];
    memset(s, 0, sizeof(*s));
    s->feature_id.null = s->django_id.null = s->feature_segment.null = true;
    s->priority = INFINITY;
    s->feature = NO_INDEX;
    s->eager = NO_INDEX;
    s->value.text = FT_STR("");
    return e->nstates++;
}

uint32_t ft__new_variant(struct loader *L)
{
    ft_engine *e = L->e;
    e->variants = grow(e->variants, &L->cap_variants, e->nvariants + 1, sizeof(*e->variants));
    memset(&e->variants[e->nvariants], 0, sizeof(e->variants[0]));
    return e->nvariants++;
}

uint32_t ft__new_segment(struct loader *L)
{
    ft_engine *e = L->e;
    e->segments = grow(e->segments, &L->cap_segments, e->nsegments + 1, sizeof(*e->segments));
    memset(&e->segments[e->nsegments], 0, sizeof(e->segments[0]));
    e->segments[e->nsegments].id.null = true;
    return e->nsegments++;
}

uint32_t ft__new_override(struct loader *L)
{
    ft_engine *e = L->e;
    e->overrides = grow(e->overrides, &L->cap_overrides, e->noverrides + 1, sizeof(*e->overrides));
    memset(&e->overrides[e->noverrides], 0, sizeof(e->overrides[0]));
    e->overrides[e->noverrides].django_id.null = true;
    return e->noverrides++;
}

uint32_t ft__new_rules(struct loader *L, uint32_t n)
{
    ft_engine *e = L->e;
    e->rules = grow(e->rules, &L->cap_rules, e->nrules + n, sizeof(*e->rules));
    if (n) memset(&e->rules[e->nrules], 0, sizeof(e->rules[0]) * n);
    uint32_t first = e->nrules;
    e->nrules += n;
    return first;
}

uint32_t ft__new_conds(struct loader *L, uint32_t n)
{
    ft_engine *e = L->e;
    e->conds = grow(e->conds, &L->cap_conds, e->nconds + n, sizeof(*e->conds));
    if (n) memset(&e->conds[e->nconds], 0, sizeof(e->conds[0]) * n);
    for (uint32_t i = 0; i < n; i++)
        e->conds[e->nconds + i].eager = NO_INDEX;
    uint32_t first = e->nconds;
    e->nconds += n;
    return first;
}

void ft__add_feature(struct loader *L, uint32_t state)
{
    ft_engine *e = L->e;
    e->features = grow(e->features, &L->cap_features, e->nfeatures + 1, sizeof(*e->features));
    e->features[e->nfeatures++] =
        (struct eng_feature){.name = e->states[state].name, .state = state};
}

/* --- rules --- */

static int rule_type(struct loader *L, const struct ft_json *rule, uint8_t *out)
{
    const struct ft_json *t;
    int rc = ft__member(L, rule, "type", T_STRING, true, &t);
    if (rc) return rc;
    struct ft_str s = ft_json_str(L->doc, t);
    if (ft_str_eq_c(s, "ALL"))
        *out = RULE_ALL;
    else if (ft_str_eq_c(s, "ANY"))
        *out = RULE_ANY;
    else if (ft_str_eq_c(s, "NONE"))
        *out = RULE_NONE;
    else {
        *out = RULE_UNKNOWN;
        size_t old = ft__path_key(L, "type");
        ft__load_warn(L, "unknown rule type \"%.*s\": its conditions and sub-rules never hold",
                      (int)(s.len < 64 ? s.len : 64), s.ptr);
        ft__path_pop(L, old);
    }
    return FT_OK;
}

int ft__load_rule(struct loader *L, const struct ft_json *rule, uint32_t index)
{
    if (rule->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)rule->type));
    uint8_t type;
    const struct ft_json *conds, *subs, *e;
    int rc = rule_type(L, rule, &type);
    if (!rc) rc = ft__member(L, rule, "conditions", T_ARRAY | T_NULL, false, &conds);
    if (!rc) rc = ft__member(L, rule, "rules", T_ARRAY | T_NULL, false, &subs);
    if (rc) return rc;
    uint32_t ncond = conds && conds->type == FT_JSON_ARRAY ? conds->len : 0;
    uint32_t first_cond = ft__new_conds(L, ncond);
    L->e->rules[index] = (struct eng_rule){type, first_cond, ncond, 0, 0};
    size_t i = 0, old = ft__path_key(L, "conditions");
    if (ncond) {
        FT_JSON_EACH(e, conds)
        {
            size_t at = ft__path_index(L, i);
            rc = ft__load_condition(L, e, first_cond + (uint32_t)i++);
            if (rc) return rc;
            ft__path_pop(L, at);
        }
    }
    ft__path_pop(L, old);
    uint32_t first_child, nsub;
    if ((rc = ft__load_rules(L, subs, &first_child, &nsub))) return rc;
    L->e->rules[index].first_child = first_child;
    L->e->rules[index].nchild = nsub;
    return FT_OK;
}

int ft__load_rules(struct loader *L, const struct ft_json *rules, uint32_t *first, uint32_t *n)
{
    *n = rules && rules->type == FT_JSON_ARRAY ? rules->len : 0;
    *first = ft__new_rules(L, *n);
    size_t old = ft__path_key(L, "rules");
    if (*n) {
        uint32_t i = 0;
        const struct ft_json *r;
        FT_JSON_EACH(r, rules)
        {
            size_t at = ft__path_index(L, i);
            int rc = ft__load_rule(L, r, *first + i++);
            if (rc) return rc;
            ft__path_pop(L, at);
        }
    }
    ft__path_pop(L, old);
    return FT_OK;
}

struct ft_str ft__segment_reason(struct loader *L, struct ft_str name)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_buf_append_str(&b, "TARGETING_MATCH; segment=");
    ft_buf_append(&b, name.ptr, name.len);
    struct ft_str reason = ft__copy(L, (struct ft_str){b.data, b.len});
    ft_buf_free(&b);
    return reason;
}

/* --- tables --- */

const void *ft__override_names(const ft_engine *e)
{
    return e->noverrides ? (const void *)&e->overrides[0].identifier : NULL;
}

uint64_t ft__name_hash(struct ft_str s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static const struct ft_str *name_at(const void *names, size_t stride, uint32_t i)
{
    return (const struct ft_str *)((const char *)names + (size_t)i * stride);
}

void ft__table_build(struct eng_table *t, struct ft_arena *arena, const void *names, size_t stride,
                     uint32_t n)
{
    uint32_t cap = 8;
    while (cap < (uint64_t)n * 2)
        cap *= 2;
    t->index = ft_arena_alloc(arena, sizeof(uint32_t) * cap);
    memset(t->index, 0xff, sizeof(uint32_t) * cap);
    t->mask = cap - 1;
    for (uint32_t i = 0; i < n; i++) {
        struct ft_str name = *name_at(names, stride, i);
        uint32_t b = (uint32_t)ft__name_hash(name) & t->mask;
        while (t->index[b] != NO_INDEX) {
            if (ft_str_eq(*name_at(names, stride, t->index[b]), name)) break; /* first wins */
            b = (b + 1) & t->mask;
        }
        if (t->index[b] == NO_INDEX) t->index[b] = i;
    }
}

uint32_t ft__table_find(const struct eng_table *t, const void *names, size_t stride,
                        struct ft_str name)
{
    if (!t->index) return NO_INDEX;
    uint32_t b = (uint32_t)ft__name_hash(name) & t->mask;
    for (;;) {
        uint32_t i = t->index[b];
        if (i == NO_INDEX || ft_str_eq(*name_at(names, stride, i), name)) return i;
        b = (b + 1) & t->mask;
    }
}

/* --- finishing --- */

static int cmp_feature(const void *a, const void *b)
{
    const struct eng_feature *x = a, *y = b;
    int c = ft_str_cmp(x->name, y->name);
    if (c) return c;
    return (x->state > y->state) - (x->state < y->state); /* stable: input order */
}

static int cmp_variant(const void *a, const void *b)
{
    const struct eng_variant *x = a, *y = b;
    if (x->priority != y->priority) return x->priority < y->priority ? -1 : 1;
    if (x->uuid.len != y->uuid.len) return x->uuid.len < y->uuid.len ? -1 : 1;
    int c = ft_str_cmp(x->uuid, y->uuid);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

uint32_t ft__find_feature(const ft_engine *e, struct ft_str name)
{
    size_t lo = 0, hi = e->nfeatures;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ft_str_cmp(e->features[mid].name, name);
        if (c == 0) return (uint32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NO_INDEX;
}

/* The condition every evaluation of segment `g` tests first, or NULL: a rule tests its own
 * conditions first, then its sub-rules in order (as rule_matches does in eval.c). */
static struct eng_cond *first_condition(ft_engine *e, const struct eng_segment *g)
{
    if (g->nrules == 0) return NULL;
    const struct eng_rule *r = &e->rules[g->first_rule];
    while (r->type != RULE_UNKNOWN && r->ncond == 0 && r->nchild > 0)
        r = &e->rules[r->first_child];
    if (r->type == RULE_UNKNOWN || r->ncond == 0) return NULL;
    return &e->conds[r->first_cond];
}

/* Lists the hashes every evaluation needs (see ft_engine.eager). */
static void find_eager(ft_engine *e)
{
    uint32_t cap = e->nfeatures + e->nsegments, n = 0;
    e->eager = ft_arena_alloc(&e->arena, sizeof(*e->eager) * (cap ? cap : 1));
    for (uint32_t i = 0; i < e->nfeatures; i++) {
        struct eng_state *st = &e->states[e->features[i].state];
        if (st->nvariants == 0) continue;
        st->eager = n;
        e->eager[n++] = st->key;
    }
    for (uint32_t i = 0; i < e->nsegments; i++) {
        struct eng_cond *c = first_condition(e, &e->segments[i]);
        if (!c || c->op != OP_PERCENTAGE_SPLIT || !c->u.pct.ok || c->prop.kind != PROP_NONE)
            continue;
        c->eager = n;
        e->eager[n++] = e->segments[i].key;
    }
    e->neager = n;
}

int ft__load_finish(struct loader *L)
{
    ft_engine *e = L->e;
    /* features by name; of states sharing a name the last one wins, as in a Python dict */
    if (e->nfeatures > 1) qsort(e->features, e->nfeatures, sizeof(*e->features), cmp_feature);
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->nfeatures; i++) {
        if (n && ft_str_eq(e->features[n - 1].name, e->features[i].name)) {
            ft__load_warn(L, "feature \"%.64s\" appears twice: the last one wins",
                          e->features[i].name.ptr);
            e->features[n - 1] = e->features[i];
        } else {
            e->features[n++] = e->features[i];
        }
    }
    e->nfeatures = n;
    for (uint32_t i = 0; i < e->nstates; i++) {
        struct eng_state *s = &e->states[i];
        s->feature = ft__find_feature(e, s->name);
        if (s->nvariants > 1)
            qsort(&e->variants[s->first_variant], s->nvariants, sizeof(*e->variants), cmp_variant);
    }
    for (uint32_t i = 0; i < e->nfeatures; i++)
        e->states[e->features[i].state].feature = i;
    find_eager(e);

    ft__table_build(&e->slot_table, &e->arena, e->slots, sizeof(*e->slots), e->nslots);
    ft__table_build(&e->override_table, &e->arena, ft__override_names(e), sizeof(*e->overrides),
                    e->noverrides);
    for (uint32_t i = 0; i < e->noverrides; i++)
        if (ft__table_find(&e->override_table, ft__override_names(e), sizeof(*e->overrides),
                           e->overrides[i].identifier) != i)
            ft__load_warn(L,
                          "identity_overrides: identifier \"%.64s\" appears twice: the first "
                          "entry wins",
                          e->overrides[i].identifier.ptr);

    e->identity_override_reason = FT_STR("TARGETING_MATCH; segment=identity_overrides");
    e->env.nfeatures = e->nfeatures;
    e->env.nsegments = e->nsegments;
    e->env.nidentity_overrides = e->noverrides;
    e->env.memory =
        e->arena.used + (size_t)L->cap_features * sizeof(*e->features) +
        (size_t)L->cap_states * sizeof(*e->states) +
        (size_t)L->cap_variants * sizeof(*e->variants) +
        (size_t)L->cap_segments * sizeof(*e->segments) + (size_t)L->cap_rules * sizeof(*e->rules) +
        (size_t)L->cap_conds * sizeof(*e->conds) +
        (size_t)L->cap_overrides * sizeof(*e->overrides) + (size_t)L->cap_slots * sizeof(*e->slots);
    return FT_OK;
}

/* --- entry points --- */

/* Blanks `//` comments outside strings (the .jsonc files of the engine test data). */
static void strip_comments(char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
            while (i < len && s[i] != '\n')
                s[i++] = ' ';
        }
    }
}

enum front { FRONT_DOCUMENT, FRONT_CONTEXT, FRONT_ANY };

static int load(const char *json, size_t len, const struct ft_engine_load_options *opts,
                enum front front, ft_engine **out, struct ft_engine_error *err)
{
    *out = NULL;
    if (err) memset(err, 0, sizeof(*err));
    size_t max = opts && opts->max_size ? opts->max_size : (size_t)64 << 20;
    struct ft_json_limits limits = {.max_size = max};
    ft_json_doc *doc = ft_json_doc_new(&limits);
    char *copy = NULL;
    if (opts && opts->allow_comments && len <= max) {
        copy = ft_xmalloc(len + 1);
        memcpy(copy, json, len);
        strip_comments(copy, len);
        json = copy;
    }
    struct ft_json_error jerr;
    int rc = ft_json_parse(doc, json, len, &jerr);
    if (rc) {
        if (err) {
            err->offset = jerr.offset;
            snprintf(err->detail, sizeof(err->detail), "%s%s%s at byte %zu", jerr.path,
                     jerr.path[0] ? ": " : "", jerr.message, jerr.offset);
        }
        goto free_doc;
    }
    ft_engine *e = ft_xcalloc(1, sizeof(*e));
    ft_arena_init(&e->arena, 65536);
    e->env.id.null = e->env.project_id.null = true;
    e->match_context = ft__regex_context();
    if (!e->match_context) {
        fprintf(stderr, "flagtrail: out of memory (PCRE2 match context)\n");
        abort();
    }
    struct loader L = {.e = e, .doc = doc, .err = err};
    const struct ft_json *root = ft_json_root(doc);
    if (front == FRONT_ANY && root->type == FT_JSON_OBJECT) {
        const struct ft_json *inner;
        if ((inner = ft_json_get(doc, root, "context")) && inner->type == FT_JSON_OBJECT) {
            root = inner;
            ft__path_key(&L, "context");
            front = FRONT_CONTEXT;
        } else if ((inner = ft_json_get(doc, root, "environment")) &&
                   inner->type == FT_JSON_OBJECT && ft_json_get(doc, inner, "feature_states")) {
            root = inner;
            ft__path_key(&L, "environment");
            front = FRONT_DOCUMENT;
        } else {
            front = ft_json_get(doc, root, "api_key") || ft_json_get(doc, root, "feature_states")
                        ? FRONT_DOCUMENT
                        : FRONT_CONTEXT;
        }
    }
    if (root->type != FT_JSON_OBJECT) {
        rc = ft__load_fail(&L, "expected an object, got %s",
                           ft_json_type_name((enum ft_json_type)root->type));
    } else if (front == FRONT_CONTEXT) {
        rc = ft__load_context_node(&L, root);
    } else {
        rc = ft__load_document_node(&L, root);
    }
    if (!rc) rc = ft__load_finish(&L);
    free(L.slot_index);
    if (rc) {
        ft_engine_free(e);
        goto free_doc;
    }
    *out = e;
free_doc:
    ft_json_doc_free(doc);
    free(copy);
    return rc;
}

int ft_engine_load_document(const char *json, size_t len, const struct ft_engine_load_options *opts,
                            ft_engine **out, struct ft_engine_error *err)
{
    return load(json, len, opts, FRONT_DOCUMENT, out, err);
}

int ft_engine_load_context(const char *json, size_t len, const struct ft_engine_load_options *opts,
                           ft_engine **out, struct ft_engine_error *err)
{
    return load(json, len, opts, FRONT_CONTEXT, out, err);
}

int ft_engine_load(const char *json, size_t len, const struct ft_engine_load_options *opts,
                   ft_engine **out, struct ft_engine_error *err)
{
    return load(json, len, opts, FRONT_ANY, out, err);
}

void ft_engine_free(ft_engine *e)
{
    if (!e) return;
    for (uint32_t i = 0; i < e->nregexes; i++)
        pcre2_code_free(e->regexes[i]);
    free(e->regexes);
    pcre2_match_context_free(e->match_context);
    if (e->env.webhook_secret.ptr)
        explicit_bzero((char *)e->env.webhook_secret.ptr, e->env.webhook_secret.len);
    free(e->features);
    free(e->states);
    free(e->variants);
    free(e->segments);
    free(e->rules);
    free(e->conds);
    free(e->overrides);
    free(e->slots);
    free(e->identity_traits);
    ft_arena_free(&e->arena);
    free(e);
}

const struct ft_engine_environment *ft_engine_environment(const ft_engine *e)
{
    return &e->env;
}

const struct ft_engine_identity *ft_engine_context_identity(const ft_engine *e)
{
    return e->has_identity ? &e->identity : NULL;
}
