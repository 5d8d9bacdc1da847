/*
 * The front end for Flagsmith's environment document (GET /api/v1/environment-document/):
 * environment settings, the project's segments with their rules and overrides, the feature
 * states, and the identity overrides, into the model of engine_int.h.
 *
 * Known keys must have their documented types (a wrong type fails the load with its path);
 * unknown keys are ignored, as Flagsmith's own SDKs do, since the document grows new fields.
 */
#include "engine/engine_int.h"
#include "flagtrail/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A UUID as 32 lowercase hex digits: as text, its order is its order as a 128-bit number. */
static struct ft_str uuid_hex(struct loader *L, struct ft_str uuid)
{
    char hex[33];
    size_t n = 0;
    for (size_t i = 0; i < uuid.len && n < 32; i++) {
        char c = uuid.ptr[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) hex[n++] = c;
    }
    return ft__copy(L, (struct ft_str){hex, n});
}

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

static int load_mv_value(struct loader *L, const struct ft_json *mv, uint32_t order)
{
    if (mv->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)mv->type));
    uint32_t vi = ft__new_variant(L);
    struct eng_variant *v = &L->e->variants[vi];
    struct ft_nint id;
    const struct ft_json *uuid, *alloc, *option, *value, *key;
    int rc = ft__get_nint(L, mv, "id", false, &id);
    if (!rc) rc = ft__member(L, mv, "mv_fs_value_uuid", T_STRING | T_NULL, false, &uuid);
    if (!rc) rc = ft__member(L, mv, "percentage_allocation", T_NUMBER, true, &alloc);
    if (!rc) rc = ft__member(L, mv, "multivariate_feature_option", T_OBJECT, true, &option);
    if (rc) return rc;
    size_t old = ft__path_key(L, "multivariate_feature_option");
    rc = ft__member(L, option, "value", T_SCALAR, false, &value);
    if (!rc) rc = ft__member(L, option, "key", T_STRING | T_NULL, false, &key);
    ft__path_pop(L, old);
    if (rc) return rc;
    v = &L->e->variants[vi];
    v->value = ft__copy_value(L, value);
    v->allocation = ft__copy_value(L, alloc);
    ft_json_double(L->doc, alloc, &v->weight);
    v->key = key && key->type == FT_JSON_STRING ? ft__copy_str(L, key) : (struct ft_str){0};
    v->reason = split_reason(L, &v->allocation);
    v->order = order;
    /* variants are served in the order of their ids (of their UUIDs when they have none) */
    v->priority = id.null ? INFINITY : (double)id.value;
    if (id.null && uuid && uuid->type == FT_JSON_STRING)
        v->uuid = uuid_hex(L, ft_json_str(L->doc, uuid));
    return FT_OK;
}

/* A feature state; its variants follow it in the variants array. */
static int load_state(struct loader *L, const struct ft_json *fs, uint32_t *out)
{
    if (fs->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)fs->type));
    uint32_t si = ft__new_state(L);
    *out = si;
    const struct ft_json *feature, *name, *type, *enabled, *value, *uuid, *fseg, *mvs;
    struct ft_nint fid, django, fseg_id = {.null = true};
    double priority = INFINITY;
    int rc = ft__member(L, fs, "feature", T_OBJECT, true, &feature);
    if (rc) return rc;
    size_t old = ft__path_key(L, "feature");
    rc = ft__get_nint(L, feature, "id", true, &fid);
    if (!rc) rc = ft__member(L, feature, "name", T_STRING, true, &name);
    if (!rc) rc = ft__member(L, feature, "type", T_STRING | T_NULL, false, &type);
    ft__path_pop(L, old);
    if (!rc) rc = ft__member(L, fs, "enabled", T_BOOL, true, &enabled);
    if (!rc) rc = ft__member(L, fs, "feature_state_value", T_SCALAR, false, &value);
    if (!rc) rc = ft__get_nint(L, fs, "django_id", false, &django);
    if (!rc) rc = ft__member(L, fs, "featurestate_uuid", T_STRING | T_NULL, false, &uuid);
    if (!rc) rc = ft__member(L, fs, "feature_segment", T_OBJECT | T_NULL, false, &fseg);
    if (!rc && fseg && fseg->type == FT_JSON_OBJECT) {
        old = ft__path_key(L, "feature_segment");
        rc = ft__get_number(L, fseg, "priority", INFINITY, &priority, NULL);
        if (!rc) rc = ft__get_nint(L, fseg, "id", false, &fseg_id);
        ft__path_pop(L, old);
    }
    if (!rc)
        rc = ft__member(L, fs, "multivariate_feature_state_values", T_ARRAY | T_NULL, false, &mvs);
    if (rc) return rc;

    struct eng_state *s = &L->e->states[si];
    s->name = ft__copy_str(L, name);
    s->feature_id = fid;
    s->feature_type = type && type->type == FT_JSON_STRING ? ft__copy_str(L, type) : FT_STR("");
    s->enabled = enabled->type == FT_JSON_TRUE;
    s->value = ft__copy_value(L, value);
    s->django_id = django;
    s->feature_segment = fseg_id;
    s->priority = priority;
    if (!django.null) {
        char num[24];
        int w = snprintf(num, sizeof(num), "%lld", (long long)django.value);
        s->key = ft__copy(L, (struct ft_str){num, (size_t)w});
    } else if (uuid && uuid->type == FT_JSON_STRING) {
        s->key = ft__copy_str(L, uuid);
    }

    uint32_t first = L->e->nvariants, i = 0;
    if (mvs && mvs->type == FT_JSON_ARRAY) {
        old = ft__path_key(L, "multivariate_feature_state_values");
        const struct ft_json *mv;
        FT_JSON_EACH(mv, mvs)
        {
            size_t at = ft__path_index(L, i);
            rc = load_mv_value(L, mv, i);
            if (rc) return rc;
            ft__path_pop(L, at);
            i++;
        }
        ft__path_pop(L, old);
    }
    s = &L->e->states[si];
    s->first_variant = first;
    s->nvariants = i;
    if (i && !s->key.ptr)
        ft__load_warn(L, "a multivariate state without django_id or featurestate_uuid hashes "
                         "with an empty key");
    if (!s->key.ptr) s->key = FT_STR("");
    return FT_OK;
}

/* An array member of feature states, appended contiguously; returns the first and count. */
static int load_states(struct loader *L, const struct ft_json *obj, const char *key, bool required,
                       uint32_t *first, uint32_t *count, bool features)
{
    const struct ft_json *arr, *fs;
    *first = L->e->nstates;
    *count = 0;
    int rc = ft__member(L, obj, key, required ? T_ARRAY : T_ARRAY | T_NULL, required, &arr);
    if (rc || !arr || arr->type != FT_JSON_ARRAY) return rc;
    size_t old = ft__path_key(L, key), i = 0;
    FT_JSON_EACH(fs, arr)
    {
        size_t at = ft__path_index(L, i++);
        uint32_t si = 0;
        rc = load_state(L, fs, &si);
        if (rc) return rc;
        if (features) ft__add_feature(L, si);
        ft__path_pop(L, at);
    }
    ft__path_pop(L, old);
    *count = (uint32_t)i;
    return FT_OK;
}

static int load_segment(struct loader *L, const struct ft_json *sj)
{
    if (sj->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)sj->type));
    uint32_t gi = ft__new_segment(L);
    struct ft_nint id;
    const struct ft_json *name, *rules;
    int rc = ft__get_nint(L, sj, "id", true, &id);
    if (!rc) rc = ft__member(L, sj, "name", T_STRING, true, &name);
    if (!rc) rc = ft__member(L, sj, "rules", T_ARRAY | T_NULL, false, &rules);
    if (rc) return rc;
    char num[24];
    int w = snprintf(num, sizeof(num), "%lld", (long long)id.value);
    struct eng_segment *g = &L->e->segments[gi];
    g->id = id;
    g->key = ft__copy(L, (struct ft_str){num, (size_t)w});
    g->name = ft__copy_str(L, name);
    g->reason = ft__segment_reason(L, g->name);

    uint32_t first, nrules;
    if ((rc = ft__load_rules(L, rules, &first, &nrules))) return rc;
    uint32_t ofirst, on;
    rc = load_states(L, sj, "feature_states", false, &ofirst, &on, false);
    if (rc) return rc;
    g = &L->e->segments[gi];
    g->first_rule = first;
    g->nrules = nrules;
    g->first_override = ofirst;
    g->noverrides = on;
    return FT_OK;
}

static int load_identity_override(struct loader *L, const struct ft_json *io)
{
    if (io->type != FT_JSON_OBJECT)
        return ft__load_fail(L, "expected object, got %s",
                             ft_json_type_name((enum ft_json_type)io->type));
    const struct ft_json *identifier;
    struct ft_nint django;
    int rc = ft__member(L, io, "identifier", T_STRING, true, &identifier);
    if (!rc) rc = ft__get_nint(L, io, "django_id", false, &django);
    if (rc) return rc;
    uint32_t first, n;
    rc = load_states(L, io, "identity_features", false, &first, &n, false);
    if (rc) return rc;
    uint32_t oi = ft__new_override(L);
    struct eng_identity_override *o = &L->e->overrides[oi];
    o->identifier = ft__copy_str(L, identifier);
    o->django_id = django;
    o->first_state = first;
    o->nstates = n;
    return FT_OK;
}

/* Calls `fn` on each element of an optional array member, with the path kept. */
static int each(struct loader *L, const struct ft_json *obj, const char *key,
                int (*fn)(struct loader *, const struct ft_json *))
{
    const struct ft_json *arr, *el;
    int rc = ft__member(L, obj, key, T_ARRAY | T_NULL, false, &arr);
    if (rc || !arr || arr->type != FT_JSON_ARRAY) return rc;
    size_t old = ft__path_key(L, key), i = 0;
    FT_JSON_EACH(el, arr)
    {
        size_t at = ft__path_index(L, i++);
        rc = fn(L, el);
        if (rc) return rc;
        ft__path_pop(L, at);
    }
    ft__path_pop(L, old);
    return FT_OK;
}

static int load_project(struct loader *L, const struct ft_json *project, bool *hide,
                        const struct ft_json **server_only)
{
    size_t old = ft__path_key(L, "project");
    int rc = ft__get_nint(L, project, "id", false, &L->e->env.project_id);
    if (!rc) rc = ft__get_bool(L, project, "hide_disabled_flags", false, hide);
    if (!rc)
        rc = ft__member(L, project, "server_key_only_feature_ids", T_ARRAY | T_NULL, false,
                        server_only);
    if (!rc && *server_only && (*server_only)->type == FT_JSON_ARRAY) {
        const struct ft_json *id;
        size_t i = 0, at = ft__path_key(L, "server_key_only_feature_ids");
        FT_JSON_EACH(id, *server_only)
        {
            int64_t v;
            size_t k = ft__path_index(L, i++);
            if (!ft_json_int64(L->doc, id, &v)) return ft__load_fail(L, "expected an integer");
            ft__path_pop(L, k);
        }
        ft__path_pop(L, at);
    }
    if (!rc) rc = each(L, project, "segments", load_segment);
    if (!rc) ft__path_pop(L, old);
    return rc;
}

static bool listed(struct loader *L, const struct ft_json *ids, struct ft_nint id)
{
    if (!ids || ids->type != FT_JSON_ARRAY || id.null) return false;
    const struct ft_json *e;
    FT_JSON_EACH(e, ids)
    {
        int64_t v;
        if (ft_json_int64(L->doc, e, &v) && v == id.value) return true;
    }
    return false;
}

int ft__load_document_node(struct loader *L, const struct ft_json *root)
{
    ft_engine *e = L->e;
    const struct ft_json *api_key, *name, *hide, *project, *hook, *server_only = NULL;
    bool project_hide = false;
    int rc = ft__member(L, root, "api_key", T_STRING, true, &api_key);
    if (!rc) rc = ft__get_nint(L, root, "id", false, &e->env.id);
    if (!rc) rc = ft__member(L, root, "name", T_STRING | T_NULL, false, &name);
    if (!rc) rc = ft__member(L, root, "hide_disabled_flags", T_BOOL | T_NULL, false, &hide);
    if (!rc)
        rc = ft__get_bool(L, root, "use_identity_composite_key_for_hashing", false,
                          &e->env.use_composite_key);
    if (!rc) rc = ft__member(L, root, "webhook_config", T_OBJECT | T_NULL, false, &hook);
    if (!rc && hook && hook->type == FT_JSON_OBJECT) {
        const struct ft_json *url, *secret;
        size_t old = ft__path_key(L, "webhook_config");
        rc = ft__member(L, hook, "url", T_STRING | T_NULL, false, &url);
        if (!rc) rc = ft__member(L, hook, "secret", T_STRING | T_NULL, false, &secret);
        if (!rc && url && url->type == FT_JSON_STRING) e->env.webhook_url = ft__copy_str(L, url);
        if (!rc && secret && secret->type == FT_JSON_STRING)
            e->env.webhook_secret = ft__copy_str(L, secret);
        ft__path_pop(L, old);
    }
    if (!rc) rc = ft__member(L, root, "project", T_OBJECT, true, &project);
    if (rc) return rc;
    e->env.api_key = ft__copy_str(L, api_key);
    if (name && name->type == FT_JSON_STRING) e->env.name = ft__copy_str(L, name);

    rc = load_project(L, project, &project_hide, &server_only);
    if (rc) return rc;
    e->env.hide_disabled_flags =
        hide && hide->type != FT_JSON_NULL ? hide->type == FT_JSON_TRUE : project_hide;

    uint32_t first, n;
    rc = load_states(L, root, "feature_states", true, &first, &n, true);
    if (rc) return rc;
    for (uint32_t i = 0; i < e->nfeatures; i++)
        e->features[i].server_key_only =
            listed(L, server_only, e->states[e->features[i].state].feature_id);
    return each(L, root, "identity_overrides", load_identity_override);
}
