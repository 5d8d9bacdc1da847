/*
 * Parse, validate and emit the identity webhook payload (include/flagtrail/payload.h).
 *
 * Each JSON object is read in one pass: its members are matched against the known field names
 * into slots (a repeated key keeps its last value, as Python's json does), then the slots are
 * checked and converted. Paths for error messages are only formatted when an error occurs.
 */
#include "flagtrail/payload.h"
#include "flagtrail/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --- reading context --- */

struct reader {
    ft_json_doc *doc;
    struct ft_arena *arena;
    struct ft_payload_error *err;
    /* the path of the object being read, e.g. "flags[3]" or "flags[3].feature" */
    const char *list; /* "flags", "traits", "segments" or NULL at the top */
    size_t index;
    bool in_feature;
};

static int schema_error(struct reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int schema_error(struct reader *r, const char *field, const char *fmt, ...)
{
    if (!r->err) return FT_EPAYLOAD;
    char path[160] = "";
    if (r->list)
        snprintf(path, sizeof(path), "%s[%zu]%s%s%s", r->list, r->index,
                 r->in_feature ? ".feature" : "", field ? "." : "", field ? field : "");
    else if (field)
        snprintf(path, sizeof(path), "%s", field);
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->err->offset = 0;
    if (path[0])
        snprintf(r->err->detail, sizeof(r->err->detail), "%s: %s", path, msg);
    else
        snprintf(r->err->detail, sizeof(r->err->detail), "%s", msg);
    return FT_EPAYLOAD;
}

/* --- object fields --- */

static int missing(struct reader *r, const char *field)
{
    return schema_error(r, field, "required field missing");
}

static int wrong_type(struct reader *r, const char *field, const char *want,
                      const struct ft_json *v)
{
    return schema_error(r, field, "expected %s, got %s", want, ft_json_type_name(v->type));
}

#define MAX_FIELDS 8

static bool key_is(struct ft_str key, const char *name)
{
    for (size_t i = 0; i < key.len; i++)
        if (!name[i] || name[i] != key.ptr[i]) return false;
    return name[key.len] == '\0';
}

/*
 * Fills slots[i] with the member named names[i] (NULL when absent). Fails when `obj` is not an
 * object. Each member is first compared with the name after the last one matched: Flagsmith
 * sorts its keys, and `names` are sorted, so one comparison per member is the common case.
 */
static int read_fields(struct reader *r, const struct ft_json *obj, const char *field,
                       const char *const *names, size_t n, const struct ft_json **slots)
{
    if (!obj) return missing(r, field);
    if (obj->type != FT_JSON_OBJECT) return wrong_type(r, field, "object", obj);
    for (size_t i = 0; i < n; i++)
        slots[i] = NULL;
    size_t next = 0;
    const struct ft_json *k, *v;
    FT_JSON_EACH_MEMBER(k, v, obj)
    {
        struct ft_str key = ft_json_str(r->doc, k);
        if (next < n && key_is(key, names[next])) {
            slots[next++] = v;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (key_is(key, names[i])) {
                slots[i] = v;
                next = i + 1;
                break;
            }
        }
    }
    return FT_OK;
}

/* PostgreSQL's text cannot hold U+0000: a webhook with one would be accepted and never load. */
static int nul_in_string(struct reader *r, const char *field)
{
    return schema_error(r, field, "a string may not contain U+0000");
}

static int get_string(struct reader *r, const struct ft_json *v, const char *field, bool nullable,
                      struct ft_str *out)
{
    if (!v) return missing(r, field);
    if (nullable && v->type == FT_JSON_NULL) {
        *out = (struct ft_str){NULL, 0};
        return FT_OK;
    }
    if (v->type != FT_JSON_STRING)
        return wrong_type(r, field, nullable ? "string or null" : "string", v);
    if (v->flags & FT_JSON_NUL) return nul_in_string(r, field);
    *out = ft_json_str(r->doc, v);
    return FT_OK;
}

static int get_bool(struct reader *r, const struct ft_json *v, const char *field, bool *out)
{
    if (!v) return missing(r, field);
    if (v->type != FT_JSON_TRUE && v->type != FT_JSON_FALSE)
        return wrong_type(r, field, "boolean", v);
    *out = v->type == FT_JSON_TRUE;
    return FT_OK;
}

static int get_int(struct reader *r, const struct ft_json *v, const char *field, int64_t *out)
{
    if (!v) return missing(r, field);
    if (v->type != FT_JSON_NUMBER || !(v->flags & FT_JSON_INTEGER))
        return wrong_type(r, field, "integer", v);
    if (!ft_json_int64(r->doc, v, out)) return schema_error(r, field, "integer out of range");
    return FT_OK;
}

static int get_nint(struct reader *r, const struct ft_json *v, const char *field,
                    struct ft_nint *out)
{
    if (!v) return missing(r, field);
    if (v->type == FT_JSON_NULL) {
        *out = (struct ft_nint){.null = true};
        return FT_OK;
    }
    if (v->type != FT_JSON_NUMBER || !(v->flags & FT_JSON_INTEGER))
        return wrong_type(r, field, "integer or null", v);
    out->null = false;
    if (!ft_json_int64(r->doc, v, &out->value))
        return schema_error(r, field, "integer out of range");
    return FT_OK;
}

/* A scalar value: string, number, boolean or null (`numbers_only`: number or null). */
static int get_value(struct reader *r, const struct ft_json *v, const char *field,
                     bool numbers_only, struct ft_value *out)
{
    if (!v) return missing(r, field);
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_NULL: *out = (struct ft_value){FT_VALUE_NULL, {"", 0}}; return FT_OK;
    case FT_JSON_NUMBER: {
        out->type = (v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT;
        out->text = ft_json_raw(r->doc, v);
        if (!ft_str_number_in_range(out->text)) /* a warehouse's double column must take it */
            return schema_error(r, field, "number out of range");
        return FT_OK;
    }
    case FT_JSON_TRUE:
    case FT_JSON_FALSE:
        if (numbers_only) break;
        out->type = FT_VALUE_BOOL;
        out->text = v->type == FT_JSON_TRUE ? FT_STR("true") : FT_STR("false");
        return FT_OK;
    case FT_JSON_STRING:
        if (numbers_only) break;
        if (v->flags & FT_JSON_NUL) return nul_in_string(r, field);
        out->type = FT_VALUE_STRING;
        out->text = ft_json_str(r->doc, v);
        return FT_OK;
    case FT_JSON_ARRAY:
    case FT_JSON_OBJECT: break;
    }
    return wrong_type(r, field, numbers_only ? "number or null" : "string, number, boolean or null",
                      v);
}

/* --- items --- */

static int read_feature(struct reader *r, const struct ft_json *obj, struct ft_feature *f)
{
    static const char *const names[] = {"created_date", "default_enabled", "description", "id",
                                        "initial_value", "name",            "type"};
    const struct ft_json *s[7];
    int rc = read_fields(r, obj, "feature", names, 7, s);
    if (rc) return rc;
    f->json = (struct ft_str){NULL, 0};
    r->in_feature = true;
    if ((rc = get_int(r, s[3], "id", &f->id)) ||
        (rc = get_string(r, s[5], "name", false, &f->name)) ||
        (rc = get_string(r, s[6], "type", false, &f->type)) ||
        (rc = get_string(r, s[0], "created_date", false, &f->created_date)) ||
        (rc = get_bool(r, s[1], "default_enabled", &f->default_enabled)) ||
        (rc = get_string(r, s[2], "description", true, &f->description)) ||
        (rc = get_string(r, s[4], "initial_value", true, &f->initial_value)))
        return rc;
    r->in_feature = false;
    return FT_OK;
}

static int read_flag(struct reader *r, const struct ft_json *obj, struct ft_flag *f)
{
    static const char *const names[] = {"enabled",         "environment",          "feature",
                                        "feature_segment", "feature_state_value",  "id",
                                        "identity",        "percentage_allocation"};
    const struct ft_json *s[8];
    int rc = read_fields(r, obj, NULL, names, 8, s);
    if (rc) return rc;
    if ((rc = get_bool(r, s[0], "enabled", &f->enabled)) ||
        (rc = get_int(r, s[1], "environment", &f->environment)) ||
        (rc = read_feature(r, s[2], &f->feature)) ||
        (rc = get_nint(r, s[3], "feature_segment", &f->feature_segment)) ||
        (rc = get_value(r, s[4], "feature_state_value", false, &f->value)) ||
        (rc = get_int(r, s[5], "id", &f->id)) || (rc = get_nint(r, s[6], "identity", &f->identity)))
        return rc;
    f->has_percentage_allocation = s[7] != NULL;
    f->percentage_allocation = (struct ft_value){FT_VALUE_NULL, {"", 0}};
    if (s[7]) return get_value(r, s[7], "percentage_allocation", true, &f->percentage_allocation);
    return FT_OK;
}

static int read_trait(struct reader *r, const struct ft_json *obj, struct ft_trait *t)
{
    static const char *const names[] = {"id", "trait_key", "trait_value", "transient"};
    const struct ft_json *s[4];
    int rc = read_fields(r, obj, NULL, names, 4, s);
    if (rc) return rc;
    if ((rc = get_nint(r, s[0], "id", &t->id)) ||
        (rc = get_string(r, s[1], "trait_key", false, &t->key)) ||
        (rc = get_value(r, s[2], "trait_value", false, &t->value)))
        return rc;
    t->has_transient = s[3] != NULL;
    t->transient = false;
    if (s[3]) return get_bool(r, s[3], "transient", &t->transient);
    return FT_OK;
}

static int read_segment(struct reader *r, const struct ft_json *obj, struct ft_segment *g)
{
    static const char *const names[] = {"id", "member", "name"};
    const struct ft_json *s[3];
    int rc = read_fields(r, obj, NULL, names, 3, s);
    if (rc) return rc;
    if ((rc = get_int(r, s[0], "id", &g->id)) ||
        (rc = get_string(r, s[2], "name", false, &g->name)) ||
        (rc = get_bool(r, s[1], "member", &g->member)))
        return rc;
    return FT_OK;
}

/* Reads the array `name` with `read_item` into an arena array of `size`-byte items. */
static int read_list(struct reader *r, const struct ft_json *arr, const char *name, size_t size,
                     int (*read_item)(struct reader *, const struct ft_json *, void *),
                     void **items, size_t *count)
{
    if (!arr) return missing(r, name);
    if (arr->type != FT_JSON_ARRAY) return wrong_type(r, name, "array", arr);
    char *out = ft_arena_alloc(r->arena, size * (arr->len ? arr->len : 1));
    const struct ft_json *e;
    r->list = name;
    r->index = 0;
    FT_JSON_EACH(e, arr)
    {
        int rc = read_item(r, e, out + size * r->index);
        if (rc) return rc;
        r->index++;
    }
    r->list = NULL;
    *items = out;
    *count = arr->len;
    return FT_OK;
}

static int flag_item(struct reader *r, const struct ft_json *v, void *out)
{
    return read_flag(r, v, out);
}

static int trait_item(struct reader *r, const struct ft_json *v, void *out)
{
    return read_trait(r, v, out);
}

static int segment_item(struct reader *r, const struct ft_json *v, void *out)
{
    return read_segment(r, v, out);
}

int ft_payload_parse(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                     struct ft_payload *out, struct ft_payload_error *err)
{
    struct ft_json_error jerr;
    int rc = ft_json_parse(doc, body, len, &jerr);
    if (rc) {
        if (err) {
            err->offset = jerr.offset;
            snprintf(err->detail, sizeof(err->detail), "%s at byte %zu%s%s", jerr.message,
                     jerr.offset, jerr.path[0] ? " in " : "", jerr.path);
        }
        return rc;
    }
    struct reader r = {.doc = doc, .arena = arena, .err = err};
    *out = (struct ft_payload){0};
    const struct ft_json *root = ft_json_root(doc);
    if (root->type != FT_JSON_OBJECT)
        return schema_error(&r, NULL, "expected a JSON object, got %s",
                            ft_json_type_name(root->type));
    static const char *const names[] = {"identity", "flags", "traits", "segments"};
    const struct ft_json *s[4];
    read_fields(&r, root, NULL, names, 4, s);
    if ((rc = get_string(&r, s[0], "identity", false, &out->identity))) return rc;
    if (out->identity.len == 0) return schema_error(&r, "identity", "must not be empty");
    void *items;
    if ((rc =
             read_list(&r, s[1], "flags", sizeof(struct ft_flag), flag_item, &items, &out->nflags)))
        return rc;
    out->flags = items;
    if ((rc = read_list(&r, s[2], "traits", sizeof(struct ft_trait), trait_item, &items,
                        &out->ntraits)))
        return rc;
    out->traits = items;
    if ((rc = read_list(&r, s[3], "segments", sizeof(struct ft_segment), segment_item, &items,
                        &out->nsegments)))
        return rc;
    out->segments = items;
    for (int i = 0; i < 3; i++)
        out->lists_json[i] = ft_json_text(doc, s[1 + i]);
    return FT_OK;
}

/* --- emit --- */

const char *ft_value_type_name(enum ft_value_type type)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string"};
    return (unsigned)type < 5 ? names[type] : "unknown";
}

int ft_value_write(struct ft_buf *out, const struct ft_value *v)
{
    switch (v->type) {
    case FT_VALUE_NULL: return ft_buf_append(out, "null", 4);
    case FT_VALUE_BOOL: return ft_buf_append(out, v->text.ptr, v->text.len);
    case FT_VALUE_INT:
    case FT_VALUE_FLOAT: return ft_json_write_number(out, v->text);
    case FT_VALUE_STRING: return ft_json_write_str(out, v->text.ptr, v->text.len);
    }
    return FT_EINVAL;
}

/* A small emitter over a buffer that remembers the first error. */
struct emitter {
    struct ft_buf *out;
    int rc;
};

static void raw(struct emitter *e, const char *s)
{
    if (e->rc == FT_OK) e->rc = ft_buf_append_str(e->out, s);
}

static void str(struct emitter *e, struct ft_str s)
{
    if (e->rc != FT_OK) return;
    e->rc = s.ptr ? ft_json_write_str(e->out, s.ptr, s.len) : ft_buf_append(e->out, "null", 4);
}

static void integer(struct emitter *e, int64_t v)
{
    if (e->rc == FT_OK) e->rc = ft_json_write_int(e->out, v);
}

static void nint(struct emitter *e, struct ft_nint v)
{
    if (v.null)
        raw(e, "null");
    else
        integer(e, v.value);
}

static void boolean(struct emitter *e, bool v)
{
    raw(e, v ? "true" : "false");
}

static void value(struct emitter *e, const struct ft_value *v)
{
    if (e->rc == FT_OK) e->rc = ft_value_write(e->out, v);
}

/* Keys below are written in sorted order, as json.dumps(sort_keys=True) does. */
static void emit_feature(struct emitter *e, const struct ft_feature *f)
{
    raw(e, "{\"created_date\": ");
    str(e, f->created_date);
    raw(e, ", \"default_enabled\": ");
    boolean(e, f->default_enabled);
    raw(e, ", \"description\": ");
    str(e, f->description);
    raw(e, ", \"id\": ");
    integer(e, f->id);
    raw(e, ", \"initial_value\": ");
    str(e, f->initial_value);
    raw(e, ", \"name\": ");
    str(e, f->name);
    raw(e, ", \"type\": ");
    str(e, f->type);
    raw(e, "}");
}

static void emit_flag(struct emitter *e, const struct ft_flag *f)
{
    raw(e, "{\"enabled\": ");
    boolean(e, f->enabled);
    raw(e, ", \"environment\": ");
    integer(e, f->environment);
    raw(e, ", \"feature\": ");
    if (f->feature.json.ptr) {
        if (e->rc == FT_OK) e->rc = ft_buf_append(e->out, f->feature.json.ptr, f->feature.json.len);
    } else {
        emit_feature(e, &f->feature);
    }
    raw(e, ", \"feature_segment\": ");
    nint(e, f->feature_segment);
    raw(e, ", \"feature_state_value\": ");
    value(e, &f->value);
    raw(e, ", \"id\": ");
    integer(e, f->id);
    raw(e, ", \"identity\": ");
    nint(e, f->identity);
    if (f->has_percentage_allocation) {
        raw(e, ", \"percentage_allocation\": ");
        value(e, &f->percentage_allocation);
    }
    raw(e, "}");
}

static void emit_trait(struct emitter *e, const struct ft_trait *t)
{
    raw(e, "{\"id\": ");
    nint(e, t->id);
    raw(e, ", \"trait_key\": ");
    str(e, t->key);
    raw(e, ", \"trait_value\": ");
    value(e, &t->value);
    if (t->has_transient) {
        raw(e, ", \"transient\": ");
        boolean(e, t->transient);
    }
    raw(e, "}");
}

static void emit_segment(struct emitter *e, const struct ft_segment *g)
{
    raw(e, "{\"id\": ");
    integer(e, g->id);
    raw(e, ", \"member\": ");
    boolean(e, g->member);
    raw(e, ", \"name\": ");
    str(e, g->name);
    raw(e, "}");
}

int ft_payload_emit(const struct ft_payload *p, struct ft_buf *out)
{
    struct emitter e = {out, FT_OK};
    raw(&e, "{\"flags\": [");
    for (size_t i = 0; i < p->nflags; i++) {
        if (i) raw(&e, ", ");
        emit_flag(&e, &p->flags[i]);
    }
    raw(&e, "], \"identity\": ");
    str(&e, p->identity);
    raw(&e, ", \"segments\": [");
    for (size_t i = 0; i < p->nsegments; i++) {
        if (i) raw(&e, ", ");
        emit_segment(&e, &p->segments[i]);
    }
    raw(&e, "], \"traits\": [");
    for (size_t i = 0; i < p->ntraits; i++) {
        if (i) raw(&e, ", ");
        emit_trait(&e, &p->traits[i]);
    }
    raw(&e, "]}");
    return e.rc;
}

int ft_payload_emit_feature(const struct ft_feature *f, struct ft_buf *out)
{
    struct emitter e = {out, FT_OK};
    emit_feature(&e, f);
    return e.rc;
}
