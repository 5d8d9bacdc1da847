/*
 * The evaluator: one identity against a compiled model.
 *
 * It follows flag_engine's get_evaluation_result. Every segment is evaluated (the webhook lists
 * each one with its membership); the overrides of the segments the identity belongs to are
 * collected per feature, the lowest priority number winning and the first seen winning a tie;
 * an identity override beats them all. Each feature then serves its winning state, and a state
 * with variants picks one by the identity's hashed percentage. Results point into the model;
 * the scratch space (trait slots, override choice, buffers) is kept in the result, so a warm
 * result evaluates without allocating.
 */
#include "engine/engine_int.h"
#include "flagtrail/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BY_IDENTITY (NO_INDEX - 1) /* override_segment of an identity override */

struct ft__engine_scratch {
    struct evalctx x;
    uint32_t cap_slots, cap_features, cap_segments, cap_eager;
    uint32_t *override_state;   /* by feature: the winning override state, or NO_INDEX */
    uint32_t *override_segment; /* by feature: its segment, or BY_IDENTITY */
    struct ft_buf key;          /* the identity key when it is built */
};

void ft_engine_result_init(struct ft_engine_result *r)
{
    memset(r, 0, sizeof(*r));
}

void ft_engine_result_free(struct ft_engine_result *r)
{
    struct ft__engine_scratch *s = r->scratch;
    if (s) {
        free(s->x.slot_values);
        free(s->x.eager_pct);
        free(s->override_state);
        free(s->override_segment);
        ft_buf_free(&s->x.buf);
        ft_buf_free(&s->x.buf2);
        ft_buf_free(&s->key);
        pcre2_match_data_free(s->x.md);
        free(s);
    }
    free(r->flags);
    free(r->segments);
    memset(r, 0, sizeof(*r));
}

const char *ft_engine_source_name(enum ft_engine_source source)
{
    switch (source) {
    case FT_ENGINE_DEFAULT: return "DEFAULT";
    case FT_ENGINE_SEGMENT_OVERRIDE: return "SEGMENT_OVERRIDE";
    case FT_ENGINE_IDENTITY_OVERRIDE: return "IDENTITY_OVERRIDE";
    }
    return "UNKNOWN";
}

static struct ft__engine_scratch *prepare(const ft_engine *e, struct ft_engine_result *r)
{
    struct ft__engine_scratch *s = r->scratch;
    if (!s) {
        s = r->scratch = ft_xcalloc(1, sizeof(*s));
        ft_buf_init(&s->x.buf, 0);
        ft_buf_init(&s->x.buf2, 0);
        ft_buf_init(&s->key, 0);
        s->x.md = pcre2_match_data_create(1, NULL);
        if (!s->x.md) {
            fprintf(stderr, "flagtrail: out of memory (PCRE2 match data)\n");
            abort();
        }
    }
    if (e->nslots > s->cap_slots) {
        s->cap_slots = e->nslots;
        s->x.slot_values = ft_xrealloc(s->x.slot_values, sizeof(struct cval) * s->cap_slots);
    }
    if (e->nfeatures > s->cap_features) {
        s->cap_features = e->nfeatures;
        s->override_state = ft_xrealloc(s->override_state, sizeof(uint32_t) * s->cap_features);
        s->override_segment = ft_xrealloc(s->override_segment, sizeof(uint32_t) * s->cap_features);
        r->flags = ft_xrealloc(r->flags, sizeof(*r->flags) * s->cap_features);
    }
    if (e->neager > s->cap_eager) {
        s->cap_eager = e->neager;
        s->x.eager_pct = ft_xrealloc(s->x.eager_pct, sizeof(double) * s->cap_eager);
    }
    if (e->nsegments > s->cap_segments) {
        s->cap_segments = e->nsegments;
        r->segments = ft_xrealloc(r->segments, sizeof(*r->segments) * s->cap_segments);
    }
    return s;
}

int ft_engine_feature_split(const ft_engine *e, struct ft_str feature, struct ft_value *control,
                            double *control_weight, struct ft_engine_variant *variants,
                            size_t cap, size_t *nvariants)
{
    uint32_t fi = ft__find_feature(e, feature);
    if (fi == NO_INDEX) return FT_ENOENT;
    const struct eng_state *st = &e->states[e->features[fi].state];
    double left = 100.0;
    for (uint32_t i = 0; i < st->nvariants; i++) {
        const struct eng_variant *v = &e->variants[st->first_variant + i];
        if (i < cap) variants[i] = (struct ft_engine_variant){v->value, v->weight};
        left -= v->weight;
    }
    *control = st->value;
    *control_weight = left > 0 ? left : 0;
    *nvariants = st->nvariants;
    return FT_OK;
}

/* --- the identity --- */

static struct cval trait_value(const struct ft_value *v)
{
    struct cval c = {.type = CV_NONE, .v = v, .s = v->text};
    switch (v->type) {
    case FT_VALUE_NULL: break;
    case FT_VALUE_BOOL:
        c.type = CV_BOOL;
        c.b = v->text.len && v->text.ptr[0] == 't';
        break;
    case FT_VALUE_INT: c.type = CV_INT; break;
    case FT_VALUE_FLOAT:
        c.type = CV_FLOAT;
        c.d = ft__value_double(v);
        break;
    case FT_VALUE_STRING: c.type = CV_STR; break;
    }
    return c;
}

static void set_identity(const ft_engine *e, const struct ft_engine_identity *id,
                         struct ft__engine_scratch *s)
{
    struct evalctx *x = &s->x;
    x->e = e;
    for (uint32_t i = 0; i < e->nslots; i++)
        x->slot_values[i] = (struct cval){.type = CV_NONE};
    x->has_identity = id != NULL;
    x->identifier = (struct ft_str){NULL, 0};
    x->identity_key = (struct ft_str){NULL, 0};
    if (!id) return;
    x->identifier = id->identifier.ptr ? id->identifier : FT_STR("");
    if (id->key.ptr && id->key.len) {
        x->identity_key = id->key;
    } else {
        ft_buf_reset(&s->key);
        if (id->has_id && !e->env.use_composite_key) {
            ft_buf_printf(&s->key, "%" PRId64, id->id);
        } else {
            ft_buf_append(&s->key, e->env.api_key.ptr, e->env.api_key.len);
            ft_buf_append_char(&s->key, '_');
            ft_buf_append(&s->key, x->identifier.ptr, x->identifier.len);
        }
        x->identity_key = (struct ft_str){s->key.data, s->key.len};
    }
    if (e->neager) ft__hash_percentages(e->eager, e->neager, x->identity_key, x->eager_pct, &x->buf2);
    for (size_t i = 0; i < id->ntraits; i++) {
        uint32_t slot =
            ft__table_find(&e->slot_table, e->slots, sizeof(*e->slots), id->traits[i].key);
        if (slot != NO_INDEX) x->slot_values[slot] = trait_value(&id->traits[i].value);
    }
}

/* --- segments --- */

static bool rule_matches(const ft_engine *e, const struct eng_rule *r, const struct eng_segment *g,
                         struct evalctx *x);

/*
 * ALL: every item matches; ANY: one does; NONE: none does. Stops at the first item that decides
 * (conditions have no side effects, so this is Python's all()/any() over the full list).
 */
static bool items_match(const ft_engine *e, const struct eng_rule *r, bool conditions,
                        const struct eng_segment *g, struct evalctx *x)
{
    uint32_t n = conditions ? r->ncond : r->nchild;
    if (r->type == RULE_UNKNOWN) return false;
    for (uint32_t i = 0; i < n; i++) {
        bool m = conditions ? ft__condition_matches(&e->conds[r->first_cond + i], g, x)
                            : rule_matches(e, &e->rules[r->first_child + i], g, x);
        if (r->type == RULE_ALL && !m) return false;
        if (r->type == RULE_ANY && m) return true;
        if (r->type == RULE_NONE && m) return false;
    }
    return r->type != RULE_ANY;
}

/* A rule holds when its type holds over its conditions (if any) and its sub-rules (if any). */
static bool rule_matches(const ft_engine *e, const struct eng_rule *r, const struct eng_segment *g,
                         struct evalctx *x)
{
    if (r->ncond && !items_match(e, r, true, g, x)) return false;
    return r->nchild == 0 || items_match(e, r, false, g, x);
}

static bool segment_matches(const ft_engine *e, const struct eng_segment *g, struct evalctx *x)
{
    if (g->nrules == 0) return false;
    for (uint32_t i = 0; i < g->nrules; i++)
        if (!rule_matches(e, &e->rules[g->first_rule + i], g, x)) return false;
    return true;
}

/* --- flags --- */

static void serve_state(const ft_engine *e, const struct eng_state *st, struct evalctx *x,
                        struct ft_engine_flag *f)
{
    f->enabled = st->enabled;
    f->value = st->value;
    f->feature_state_id = st->django_id;
    f->feature_segment = st->feature_segment;
    f->metadata = st->metadata;
    f->variant = (struct ft_str){NULL, 0};
    f->percentage_allocation = (struct ft_value){FT_VALUE_NULL, FT_STR("")};
    if (st->nvariants == 0) return;
    f->variant = FT_STR("control");
    if (!x->has_identity) return;
    struct ft_str ids[2] = {st->key, x->identity_key};
    double pct = st->eager != NO_INDEX ? x->eager_pct[st->eager] : ft__hash_percentage(ids, 2, &x->buf2);
    double start = 0;
    for (uint32_t i = 0; i < st->nvariants; i++) {
        const struct eng_variant *v = &e->variants[st->first_variant + i];
        double limit = start + v->weight;
        if (start <= pct && pct < limit) {
            f->value = v->value;
            f->reason = v->reason;
            f->variant = v->key;
            f->percentage_allocation = v->allocation;
            return;
        }
        start = limit;
    }
}

int ft_engine_evaluate(const ft_engine *e, const struct ft_engine_identity *identity,
                       unsigned flags, struct ft_engine_result *r)
{
    struct ft__engine_scratch *s = prepare(e, r);
    struct evalctx *x = &s->x;
    set_identity(e, identity, s);
    r->identity_key = x->identity_key;

    for (uint32_t i = 0; i < e->nfeatures; i++) {
        s->override_state[i] = NO_INDEX;
        s->override_segment[i] = NO_INDEX;
    }
    for (uint32_t gi = 0; gi < e->nsegments; gi++) {
        const struct eng_segment *g = &e->segments[gi];
        bool member = segment_matches(e, g, x);
        r->segments[gi] = (struct ft_engine_segment){g->key, g->id, g->name, member, g->metadata};
        if (!member) continue;
        for (uint32_t k = 0; k < g->noverrides; k++) {
            uint32_t si = g->first_override + k;
            uint32_t fi = e->states[si].feature;
            if (fi == NO_INDEX) continue;
            uint32_t cur = s->override_state[fi];
            if (cur == NO_INDEX || e->states[si].priority < e->states[cur].priority) {
                s->override_state[fi] = si;
                s->override_segment[fi] = gi;
            }
        }
    }
    r->nsegments = e->nsegments;

    if (identity && e->noverrides) {
        uint32_t oi = ft__table_find(&e->override_table, ft__override_names(e),
                                     sizeof(*e->overrides), x->identifier);
        if (oi != NO_INDEX) {
            const struct eng_identity_override *o = &e->overrides[oi];
            for (uint32_t k = 0; k < o->nstates; k++) {
                uint32_t si = o->first_state + k;
                uint32_t fi = e->states[si].feature;
                if (fi == NO_INDEX || s->override_segment[fi] == BY_IDENTITY) continue;
                s->override_state[fi] = si;
                s->override_segment[fi] = BY_IDENTITY;
            }
        }
    }

    bool hide_disabled = e->env.hide_disabled_flags && !(flags & FT_ENGINE_ALL_FLAGS);
    size_t n = 0;
    for (uint32_t fi = 0; fi < e->nfeatures; fi++) {
        const struct eng_feature *feat = &e->features[fi];
        if ((flags & FT_ENGINE_CLIENT_VIEW) && feat->server_key_only) continue;
        const struct eng_state *def = &e->states[feat->state];
        uint32_t oi = s->override_state[fi];
        const struct eng_state *st = oi == NO_INDEX ? def : &e->states[oi];
        struct ft_engine_flag *f = &r->flags[n];
        f->feature_id = def->feature_id;
        f->feature_name = feat->name;
        f->feature_type = def->feature_type;
        f->identity = (struct ft_nint){.null = true};
        f->segment = (struct ft_str){NULL, 0};
        if (oi == NO_INDEX) {
            f->source = FT_ENGINE_DEFAULT;
            f->reason = FT_STR("DEFAULT");
        } else if (s->override_segment[fi] == BY_IDENTITY) {
            f->source = FT_ENGINE_IDENTITY_OVERRIDE;
            f->reason = e->identity_override_reason;
            uint32_t io = ft__table_find(&e->override_table, ft__override_names(e),
                                         sizeof(*e->overrides), x->identifier);
            f->identity = e->overrides[io].django_id;
        } else {
            const struct eng_segment *g = &e->segments[s->override_segment[fi]];
            f->source = FT_ENGINE_SEGMENT_OVERRIDE;
            f->reason = g->reason;
            f->segment = g->name;
        }
        serve_state(e, st, x, f);
        if (hide_disabled && !f->enabled) continue;
        n++;
    }
    r->nflags = n;
    return FT_OK;
}
