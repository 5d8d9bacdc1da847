/*
 * The metric event schema (src/receive/events.h).
 */
#include "receive/events.h"
#include "base/clock.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int fail(struct ft_events_error *err, const char *path, const char *field, const char *msg,
                const char *got)
{
    if (err) {
        char where[128];
        snprintf(where, sizeof(where), "%s%s%s", path, *path && field ? "." : "",
                 field ? field : "");
        err->offset = 0;
        snprintf(err->detail, sizeof(err->detail), "%s%s%s%s%s", where, *where ? ": " : "", msg,
                 got ? ", got " : "", got ? got : "");
    }
    return FT_EPAYLOAD;
}

static const char *check_string(struct ft_str s, size_t max, const char *too_long)
{
    if (s.len == 0) return "must not be empty";
    if (memchr(s.ptr, '\0', s.len)) return "a string may not contain U+0000";
    if (!ft_utf8_valid(s.ptr, s.len)) return "must be UTF-8";
    return s.len > max ? too_long : NULL;
}

const char *ft_event_check_strings(struct ft_str identity, struct ft_str event,
                                   const char **field)
{
    const char *msg = check_string(identity, FT_EVENT_IDENTITY_MAX_BYTES,
                                   "may take at most 2400 bytes in UTF-8");
    *field = "identity";
    if (msg) return msg;
    *field = "event";
    return check_string(event, FT_EVENT_NAME_MAX_BYTES, "may take at most 200 bytes in UTF-8");
}

static int read_string(ft_json_doc *doc, const struct ft_json *obj, const char *path,
                       const char *field, struct ft_str *out, struct ft_events_error *err)
{
    const struct ft_json *v = ft_json_get(doc, obj, field);
    if (!v) return fail(err, path, field, "required field missing", NULL);
    if (v->type != FT_JSON_STRING)
        return fail(err, path, field, "expected string", ft_json_type_name(v->type));
    *out = ft_json_str(doc, v);
    return FT_OK;
}

static int read_time(ft_json_doc *doc, const struct ft_json *v, const char *path,
                     struct ft_event *e, struct ft_events_error *err)
{
    if (v->type == FT_JSON_NUMBER) {
        double secs;
        ft_json_double(doc, v, &secs);
        if (!isfinite(secs) || secs < 0 || secs > 32503680000.0)
            return fail(err, path, "timestamp", "seconds since 1970 out of range", NULL);
        e->occurred_at = (int64_t)llround(secs * 1e6);
    } else if (v->type == FT_JSON_STRING) {
        struct ft_str s = ft_json_str(doc, v);
        if (!ft_clock_parse_iso(s.ptr, s.len, &e->occurred_at))
            return fail(err, path, "timestamp", "expected an ISO-8601 time", NULL);
    } else if (v->type == FT_JSON_NULL) {
        return FT_OK;
    } else {
        return fail(err, path, "timestamp", "expected string or number",
                    ft_json_type_name(v->type));
    }
    e->has_time = true;
    return FT_OK;
}

int ft_event_read(ft_json_doc *doc, const struct ft_json *v, const char *path,
                  struct ft_event *out, struct ft_events_error *err)
{
    *out = (struct ft_event){0};
    if (v->type != FT_JSON_OBJECT)
        return fail(err, path, NULL, "expected an event object", ft_json_type_name(v->type));
    int rc;
    if ((rc = read_string(doc, v, path, "identity", &out->identity, err)) ||
        (rc = read_string(doc, v, path, "event", &out->event, err)))
        return rc;
    const char *field, *msg = ft_event_check_strings(out->identity, out->event, &field);
    if (msg) return fail(err, path, field, msg, NULL);
    const struct ft_json *val = ft_json_get(doc, v, "value");
    if (val && val->type != FT_JSON_NULL) {
        if (val->type != FT_JSON_NUMBER)
            return fail(err, path, "value", "expected number", ft_json_type_name(val->type));
        ft_json_double(doc, val, &out->value);
        if (!isfinite(out->value)) return fail(err, path, "value", "number out of range", NULL);
        out->has_value = true;
    }
    const struct ft_json *ts = ft_json_get(doc, v, "timestamp");
    return ts ? read_time(doc, ts, path, out, err) : FT_OK;
}

int ft_events_parse(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                    struct ft_event **out, size_t *count, struct ft_events_error *err)
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
    const struct ft_json *root = ft_json_root(doc);
    if (root->type == FT_JSON_OBJECT) {
        *out = ft_arena_alloc(arena, sizeof(**out));
        *count = 1;
        return ft_event_read(doc, root, "", *out, err);
    }
    if (root->type != FT_JSON_ARRAY)
        return fail(err, "", NULL, "expected an event object or an array of them",
                    ft_json_type_name(root->type));
    if (root->len == 0) return fail(err, "", NULL, "no events", NULL);
    *out = ft_arena_alloc(arena, sizeof(**out) * root->len);
    *count = root->len;
    size_t i = 0;
    const struct ft_json *e;
    FT_JSON_EACH(e, root)
    {
        char path[32];
        snprintf(path, sizeof(path), "[%zu]", i);
        if ((rc = ft_event_read(doc, e, path, &(*out)[i], err))) return rc;
        i++;
    }
    return FT_OK;
}
