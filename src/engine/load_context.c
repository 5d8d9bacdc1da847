/*
 * The front end for the evaluation context of Flagsmith's engine test data
 * (sdk/evaluation-context.json): {"environment": {"key", "name"}, "features": {name: feature},
 * "segments": {key: segment}, "identity": {"identifier", "key", "traits"}}, into the model of
 * engine_int.h. The identity is kept in the model for ft_engine_context_identity().
 */
#include "engine/engine_int.h"
#include "flagtrail/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct ft_str split_reason(struct loader *L, const struct ft_value *weight)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_buf_append_str(&b, "SPLIT; weight=");
    ft__py_str(&b, weight);
    struct ft_str s = ft__copy(L, (struct ft_str){b.data, b.len});
    ft_buf_free(&b);
    return s;
}

static int load_variant(struct loader *L, const struct ft_json *vj, uint32_t order)
{
    if (vj->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)vj->type));
    uint32_t vi = ft__new_variant(L);
    const struct ft_json *value, *weight, *key;
    double priority;
    int rc = ft__member(L, vj, "value", T_SCALAR, false, &value);
    if (!rc) rc = ft__member(L, vj, "weight", T_NUMBER, true, &weight);
    if (!rc) rc = ft__member(L, vj, "key", T_STRING | T_NULL, false, &key);
    if (!rc) rc = ft__get_number(L, vj, "priority", INFINITY, &priority, NULL);
    if (rc) return rc;
    struct eng_variant *v = &L->e->variants[vi];
    v->value = ft__copy_value(L, value);
    v->allocation = ft__copy_value(L, weight);
    ft_json_double(L->doc, weight, &v->weight);
    v->key = key && key->type == FT_JSON_STRING ? ft__copy_str(L, key) : (struct ft_str){0};
    v->reason = split_reason(L, &v->allocation);
    v->priority = priority;
    v->order = order;
    return FT_OK;
}

/* A feature context (a feature, or a segment's override). */
static int load_feature(struct loader *L, const struct ft_json *fj, uint32_t *out)
{
    if (fj->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)fj->type));
    uint32_t si = ft__new_state(L);
    *out = si;
    const struct ft_json *key, *name, *enabled, *value, *variants, *meta;
    double priority;
    struct ft_str metadata;
    int rc = ft__member(L, fj, "key", T_STRING | T_NUMBER, true, &key);
    if (!rc) rc = ft__member(L, fj, "name", T_STRING, true, &name);
    if (!rc) rc = ft__member(L, fj, "enabled", T_BOOL, true, &enabled);
    if (!rc) rc = ft__member(L, fj, "value", T_SCALAR, false, &value);
    if (!rc) rc = ft__member(L, fj, "variants", T_ARRAY | T_NULL, false, &variants);
    if (!rc) rc = ft__get_number(L, fj, "priority", INFINITY, &priority, NULL);
    if (!rc) rc = ft__get_raw_object(L, fj, "metadata", &metadata);
    if (!rc) rc = ft__member(L, fj, "metadata", T_OBJECT | T_NULL, false, &meta);
    if (rc) return rc;
    struct eng_state *s = &L->e->states[si];
    s->key =
        key->type == FT_JSON_STRING ? ft__copy_str(L, key) : ft__copy(L, ft_json_raw(L->doc, key));
    s->name = ft__copy_str(L, name);
    s->enabled = enabled->type == FT_JSON_TRUE;
    s->value = ft__copy_value(L, value);
    s->priority = priority;
    s->metadata = metadata;
    if (meta && meta->type == FT_JSON_OBJECT) {
        const struct ft_json *id = ft_json_get(L->doc, meta, "id");
        int64_t v;
        if (id && ft_json_int64(L->doc, id, &v)) s->feature_id = (struct ft_nint){false, v};
    }
    uint32_t first = L->e->nvariants, i = 0;
    if (variants && variants->type == FT_JSON_ARRAY) {
        size_t old = ft__path_key(L, "variants");
        const struct ft_json *v;
        FT_JSON_EACH(v, variants)
        {
            size_t at = ft__path_index(L, i);
            rc = load_variant(L, v, i);
            if (rc) return rc;
            ft__path_pop(L, at);
            i++;
        }
        ft__path_pop(L, old);
    }
    s = &L->e->states[si];
    s->first_variant = first;
    s->nvariants = i;
    s->feature_type = i ? FT_STR("MULTIVARIATE") : FT_STR("STANDARD");
    return FT_OK;
}

static bool decimal_id(struct ft_str s, int64_t *out)
{
    if (s.len == 0 || s.len > 18) return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') return false;
        v = v * 10 + (s.ptr[i] - '0');
    }
    *out = v;
    return true;
}

static int load_segment(struct loader *L, const struct ft_json *sj)
{
    if (sj->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)sj->type));
    uint32_t gi = ft__new_segment(L);
    const struct ft_json *key, *name, *rules, *overrides, *r;
    struct ft_str metadata;
    int rc = ft__member(L, sj, "key", T_STRING | T_NUMBER, true, &key);
    if (!rc) rc = ft__member(L, sj, "name", T_STRING, true, &name);
    if (!rc) rc = ft__member(L, sj, "rules", T_ARRAY | T_NULL, false, &rules);
    if (!rc) rc = ft__member(L, sj, "overrides", T_ARRAY | T_NULL, false, &overrides);
    if (!rc) rc = ft__get_raw_object(L, sj, "metadata", &metadata);
    if (rc) return rc;
    struct eng_segment *g = &L->e->segments[gi];
    g->key =
        key->type == FT_JSON_STRING ? ft__copy_str(L, key) : ft__copy(L, ft_json_raw(L->doc, key));
    int64_t id;
    if (decimal_id(g->key, &id)) g->id = (struct ft_nint){false, id};
    g->name = ft__copy_str(L, name);
    g->metadata = metadata;
    g->reason = ft__segment_reason(L, g->name);

    uint32_t first, nrules;
    if ((rc = ft__load_rules(L, rules, &first, &nrules))) return rc;
    uint32_t ofirst = L->e->nstates, on = 0;
    if (overrides && overrides->type == FT_JSON_ARRAY) {
        size_t old = ft__path_key(L, "overrides");
        FT_JSON_EACH(r, overrides)
        {
            size_t at = ft__path_index(L, on++);
            uint32_t si = 0;
            rc = load_feature(L, r, &si);
            if (rc) return rc;
            ft__path_pop(L, at);
        }
        ft__path_pop(L, old);
    }
    g = &L->e->segments[gi];
    g->first_rule = first;
    g->nrules = nrules;
    g->first_override = ofirst;
    g->noverrides = on;
    return FT_OK;
}

static int load_identity(struct loader *L, const struct ft_json *ij)
{
    ft_engine *e = L->e;
    const struct ft_json *identifier, *key, *traits, *k, *v;
    size_t old = ft__path_key(L, "identity");
    int rc = ft__member(L, ij, "identifier", T_STRING, true, &identifier);
    if (!rc) rc = ft__member(L, ij, "key", T_STRING | T_NULL, false, &key);
    if (!rc) rc = ft__member(L, ij, "traits", T_OBJECT | T_NULL, false, &traits);
    if (rc) return rc;
    e->has_identity = true;
    e->identity.identifier = ft__copy_str(L, identifier);
    if (key && key->type == FT_JSON_STRING) e->identity.key = ft__copy_str(L, key);
    size_t n = 0;
    if (traits && traits->type == FT_JSON_OBJECT) {
        e->identity_traits = ft_xcalloc(traits->len + 1, sizeof(*e->identity_traits));
        size_t at = ft__path_key(L, "traits");
        FT_JSON_EACH_MEMBER(k, v, traits)
        {
            struct ft_str name = ft_json_str(L->doc, k);
            if (!((T_SCALAR >> v->type) & 1)) {
                ft__path_name(L, name);
                return ft__load_fail(L, "expected a string, number, boolean or null, got %s",
                                     ft_json_type_name((enum ft_json_type)v->type));
            }
            e->identity_traits[n++] =
                (struct ft_engine_trait){ft__copy(L, name), ft__copy_value(L, v)};
        }
        ft__path_pop(L, at);
    }
    e->identity.traits = e->identity_traits;
    e->identity.ntraits = n;
    ft__path_pop(L, old);
    return FT_OK;
}

int ft__load_context_node(struct loader *L, const struct ft_json *root)
{
    ft_engine *e = L->e;
    const struct ft_json *env, *key, *name, *features, *segments, *identity, *k, *v;
    int rc = ft__member(L, root, "environment", T_OBJECT, true, &env);
    if (!rc) rc = ft__member(L, root, "features", T_OBJECT | T_NULL, false, &features);
    if (!rc) rc = ft__member(L, root, "segments", T_OBJECT | T_NULL, false, &segments);
    if (!rc) rc = ft__member(L, root, "identity", T_OBJECT | T_NULL, false, &identity);
    if (rc) return rc;
    size_t old = ft__path_key(L, "environment");
    rc = ft__member(L, env, "key", T_STRING, true, &key);
    if (!rc) rc = ft__member(L, env, "name", T_STRING | T_NULL, false, &name);
    if (rc) return rc;
    ft__path_pop(L, old);
    e->env.api_key = ft__copy_str(L, key);
    if (name && name->type == FT_JSON_STRING) e->env.name = ft__copy_str(L, name);

    if (features && features->type == FT_JSON_OBJECT) {
        old = ft__path_key(L, "features");
        FT_JSON_EACH_MEMBER(k, v, features)
        {
            size_t at = ft__path_name(L, ft_json_str(L->doc, k));
            uint32_t si = 0;
            rc = load_feature(L, v, &si);
            if (rc) return rc;
            ft__add_feature(L, si);
            ft__path_pop(L, at);
        }
        ft__path_pop(L, old);
    }
    if (segments && segments->type == FT_JSON_OBJECT) {
        old = ft__path_key(L, "segments");
        FT_JSON_EACH_MEMBER(k, v, segments)
        {
            size_t at = ft__path_name(L, ft_json_str(L->doc, k));
            rc = load_segment(L, v);
            if (rc) return rc;
            ft__path_pop(L, at);
        }
        ft__path_pop(L, old);
    }
    if (identity && identity->type == FT_JSON_OBJECT) return load_identity(L, identity);
    return FT_OK;
}
