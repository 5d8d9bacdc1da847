/*
 * The identify call's body (src/serve/request.h).
 */
#include "serve/request.h"
#include "base/utf8.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"

#include <stdio.h>

static int refuse(struct ft_request_error *err, const char *field, const char *msg)
{
    err->field = field;
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return FT_EINVAL;
}

/* A trait's value: strings that read as numbers or booleans are stored as those ("42" is 42),
 * as Flagsmith core does. */
static int read_value(ft_json_doc *doc, const struct ft_json *v, struct ft_arena *arena,
                      struct ft_value *out, struct ft_request_error *err)
{
    if (!v || v->type == FT_JSON_NULL) {
        *out = (struct ft_value){FT_VALUE_NULL, {"", 0}};
    } else if (v->type == FT_JSON_STRING) {
        *out = (struct ft_value){FT_VALUE_STRING, ft_json_str(doc, v)};
        ft_engine_trait_coerce(out, arena);
    } else if (v->type == FT_JSON_NUMBER) {
        *out = (struct ft_value){(v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT,
                                 ft_json_raw(doc, v)};
        if (!ft_str_number_in_range(out->text))
            return refuse(err, "traits", "trait_value is out of range.");
    } else if (v->type == FT_JSON_TRUE || v->type == FT_JSON_FALSE) {
        *out = (struct ft_value){FT_VALUE_BOOL,
                                 v->type == FT_JSON_TRUE ? FT_STR("true") : FT_STR("false")};
    } else {
        return refuse(err, "traits", "trait_value must be a string, number or boolean.");
    }
    return FT_OK;
}

static int read_trait(ft_json_doc *doc, const struct ft_json *e, struct ft_arena *arena,
                      struct ft_trait_change *c, struct ft_request_error *err)
{
    const struct ft_json *k = e->type == FT_JSON_OBJECT ? ft_json_get(doc, e, "trait_key") : NULL;
    if (!k || k->type != FT_JSON_STRING)
        return refuse(err, "traits", "Each trait needs a string trait_key.");
    const struct ft_json *v = ft_json_get(doc, e, "trait_value");
    const struct ft_json *tr = ft_json_get(doc, e, "transient");
    if ((k->flags & FT_JSON_NUL) || (v && (v->flags & FT_JSON_NUL)))
        return refuse(err, "traits", FT_NUL_MESSAGE);
    c->key = ft_json_str(doc, k);
    if (c->key.len == 0 || ft_utf8_length(c->key.ptr, c->key.len) > FT_TRAIT_KEY_MAX)
        return refuse(err, "traits", "A trait_key must have 1 to 200 characters.");
    if (tr && tr->type != FT_JSON_TRUE && tr->type != FT_JSON_FALSE)
        return refuse(err, "traits", "transient must be a boolean.");
    c->transient = tr && tr->type == FT_JSON_TRUE;
    return read_value(doc, v, arena, &c->value, err);
}

static int read_traits(ft_json_doc *doc, const struct ft_json *arr, struct ft_arena *arena,
                       struct ft_identify *out, struct ft_request_error *err)
{
    if (!arr || arr->type == FT_JSON_NULL) return FT_OK;
    if (arr->type != FT_JSON_ARRAY) return refuse(err, "traits", "Expected a list of items.");
    if (arr->len > FT_TRAITS_MAX) return refuse(err, "traits", "Too many traits.");
    out->traits = ft_arena_alloc(arena, sizeof(*out->traits) * (arr->len ? arr->len : 1));
    const struct ft_json *e;
    FT_JSON_EACH(e, arr)
    {
        int rc = read_trait(doc, e, arena, &out->traits[out->ntraits], err);
        if (rc) return rc;
        out->ntraits++;
    }
    return FT_OK;
}

int ft__serve_read_identify(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                            struct ft_identify *out, struct ft_request_error *err)
{
    *out = (struct ft_identify){{NULL, 0}, false, NULL, 0};
    struct ft_json_error jerr;
    if (ft_json_parse(doc, body, len, &jerr) != FT_OK) {
        err->field = NULL;
        snprintf(err->message, sizeof(err->message), "JSON parse error - %s", jerr.message);
        return FT_EINVAL;
    }
    const struct ft_json *root = ft_json_root(doc);
    if (root->type != FT_JSON_OBJECT) {
        err->field = NULL;
        snprintf(err->message, sizeof(err->message), "JSON parse error - expected an object");
        return FT_EINVAL;
    }
    const struct ft_json *ident = ft_json_get(doc, root, "identifier");
    if (!ident || ident->type == FT_JSON_NULL)
        return refuse(err, "identifier", "This field is required.");
    if (ident->flags & FT_JSON_NUL) return refuse(err, "identifier", FT_NUL_MESSAGE);
    if (ident->type == FT_JSON_STRING) out->identifier = ft_json_str(doc, ident);
    if (out->identifier.len == 0 ||
        ft_utf8_length(out->identifier.ptr, out->identifier.len) > FT_IDENTIFIER_MAX)
        return refuse(err, "identifier", FT_IDENTIFIER_MESSAGE);
    if (out->identifier.len > FT_IDENTIFIER_MAX_BYTES)
        return refuse(err, "identifier", FT_IDENTIFIER_BYTES_MESSAGE);
    const struct ft_json *tr = ft_json_get(doc, root, "transient");
    if (tr && tr->type != FT_JSON_TRUE && tr->type != FT_JSON_FALSE && tr->type != FT_JSON_NULL)
        return refuse(err, "transient", "Must be a valid boolean.");
    out->transient = tr && tr->type == FT_JSON_TRUE;
    return read_traits(doc, ft_json_get(doc, root, "traits"), arena, out, err);
}
