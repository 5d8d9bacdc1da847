/*
 * Conformance runner: every case of Flagsmith's engine test data against the engine.
 *
 *   conformance DIR     (DIR = tests/data/engine, a copy of the engine-test-data repository)
 *
 * The files DIR/test_cases/NAME.json and NAME.jsonc hold {"context": ..., "result": ...}: the
 * context is loaded and its identity evaluated, and the result must equal the expected one exactly
 * (flags by name with enabled, value, reason, variant and metadata; the matching segments in
 * order). The files DIR/v1/NAME.json hold an environment document and the answers Flagsmith's API
 * gave for 101 identities: each identity is evaluated with core's convention (its integer id as
 * hashing key, traits typed as the API types them) and every flag of the answer must match: feature
 * state id, feature id, name and type, enabled, value, environment, identity. Each test case and
 * each identity counts as one case. Prints "FAIL <file>: <why>" per failure and ends with
 * "conformance: N passed, N failed"; exits 1 when any failed.
 */
#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Blanks `//` comments outside strings, keeping offsets. */
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

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failed++;
}

/* Canonical text (sorted keys, Python separators) of JSON text. */
static char *canonical(const char *text, size_t len)
{
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_buf out;
    ft_buf_init(&out, 0);
    if (ft_json_parse(doc, text, len, NULL) == FT_OK)
        ft_json_write_value(&out, doc, ft_json_root(doc));
    else
        ft_buf_append_str(&out, "<invalid JSON>");
    ft_json_doc_free(doc);
    char *s = ft_xstrndup(out.data ? out.data : "", out.len);
    ft_buf_free(&out);
    return s;
}

static void write_value(struct ft_buf *b, const struct ft_value *v)
{
    if (ft_value_write(b, v) != FT_OK) ft_buf_append_str(b, "<unprintable>");
}

static void write_nullable(struct ft_buf *b, struct ft_str s)
{
    if (s.ptr)
        ft_json_write_str(b, s.ptr, s.len);
    else
        ft_buf_append_str(b, "null");
}

/* The engine's answer in the shape of the test data's "result". */
static void result_json(const struct ft_engine_result *r, struct ft_buf *b)
{
    ft_buf_append_str(b, "{\"flags\": {");
    for (size_t i = 0; i < r->nflags; i++) {
        const struct ft_engine_flag *f = &r->flags[i];
        if (i) ft_buf_append_str(b, ", ");
        ft_json_write_str(b, f->feature_name.ptr, f->feature_name.len);
        ft_buf_printf(b, ": {\"enabled\": %s, ", f->enabled ? "true" : "false");
        if (f->metadata.ptr) {
            ft_buf_append_str(b, "\"metadata\": ");
            ft_buf_append(b, f->metadata.ptr, f->metadata.len);
            ft_buf_append_str(b, ", ");
        }
        ft_buf_append_str(b, "\"name\": ");
        ft_json_write_str(b, f->feature_name.ptr, f->feature_name.len);
        ft_buf_append_str(b, ", \"reason\": ");
        ft_json_write_str(b, f->reason.ptr, f->reason.len);
        ft_buf_append_str(b, ", \"value\": ");
        write_value(b, &f->value);
        ft_buf_append_str(b, ", \"variant\": ");
        write_nullable(b, f->variant);
        ft_buf_append_str(b, "}");
    }
    ft_buf_append_str(b, "}, \"segments\": [");
    bool first = true;
    for (size_t i = 0; i < r->nsegments; i++) {
        const struct ft_engine_segment *g = &r->segments[i];
        if (!g->member) continue;
        if (!first) ft_buf_append_str(b, ", ");
        first = false;
        ft_buf_append_str(b, "{");
        if (g->metadata.ptr) {
            ft_buf_append_str(b, "\"metadata\": ");
            ft_buf_append(b, g->metadata.ptr, g->metadata.len);
            ft_buf_append_str(b, ", ");
        }
        ft_buf_append_str(b, "\"name\": ");
        ft_json_write_str(b, g->name.ptr, g->name.len);
        ft_buf_append_str(b, "}");
    }
    ft_buf_append_str(b, "]}");
}

static void run_case(const char *path, const char *name)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fail(name, "cannot read %s", path);
        return;
    }
    strip_comments(text, len);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    const struct ft_json *expected = NULL;
    if (ft_json_parse(doc, text, len, NULL) == FT_OK)
        expected = ft_json_get(doc, ft_json_root(doc), "result");
    ft_engine *e = NULL;
    struct ft_engine_error err;
    int rc = ft_engine_load(text, len, NULL, &e, &err);
    if (!expected) {
        fail(name, "no \"result\" in the test case");
    } else if (rc) {
        fail(name, "load failed: %s: %s", ft_strerror(rc), err.detail);
    } else {
        struct ft_engine_result r;
        ft_engine_result_init(&r);
        ft_engine_evaluate(e, ft_engine_context_identity(e), FT_ENGINE_ALL_FLAGS, &r);
        struct ft_buf got, want;
        ft_buf_init(&got, 0);
        ft_buf_init(&want, 0);
        result_json(&r, &got);
        ft_json_write_value(&want, doc, expected);
        char *a = canonical(got.data, got.len), *b = canonical(want.data, want.len);
        if (strcmp(a, b) == 0)
            passed++;
        else
            fail(name, "\n   got:      %s\n   expected: %s", a, b);
        free(a);
        free(b);
        ft_buf_free(&got);
        ft_buf_free(&want);
        ft_engine_result_free(&r);
    }
    ft_engine_free(e);
    ft_json_doc_free(doc);
    free(text);
}

/* --- v1: an environment document and the API's answers --- */

static bool nint_is(struct ft_nint n, ft_json_doc *doc, const struct ft_json *v)
{
    int64_t x;
    if (!v) return false;
    if (v->type == FT_JSON_NULL) return n.null;
    return !n.null && ft_json_int64(doc, v, &x) && x == n.value;
}

static bool str_is(struct ft_str s, ft_json_doc *doc, const struct ft_json *v)
{
    return v && v->type == FT_JSON_STRING && ft_str_eq(ft_json_str(doc, v), s);
}

/* Compares one flag of the API's answer with the engine's; fills `why` on a difference. */
static bool same_flag(const struct ft_engine_flag *f, const struct ft_engine_environment *env,
                      ft_json_doc *doc, const struct ft_json *want, char *why, size_t cap)
{
    const struct ft_json *feature = ft_json_get(doc, want, "feature");
    const struct ft_json *enabled = ft_json_get(doc, want, "enabled");
    struct ft_buf a, b;
    ft_buf_init(&a, 0);
    ft_buf_init(&b, 0);
    write_value(&a, &f->value);
    ft_json_write_value(&b, doc, ft_json_get(doc, want, "feature_state_value"));
    bool ok = true;
    if (!nint_is(f->feature_state_id, doc, ft_json_get(doc, want, "id")))
        snprintf(why, cap, "id (feature state) differs"), ok = false;
    else if (!nint_is(f->feature_id, doc, ft_json_get(doc, feature, "id")))
        snprintf(why, cap, "feature.id differs"), ok = false;
    else if (!str_is(f->feature_type, doc, ft_json_get(doc, feature, "type")))
        snprintf(why, cap, "feature.type differs"), ok = false;
    else if (!enabled || (enabled->type == FT_JSON_TRUE) != f->enabled)
        snprintf(why, cap, "enabled: got %s", f->enabled ? "true" : "false"), ok = false;
    else if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        snprintf(why, cap, "feature_state_value: got %s, expected %s", a.data, b.data), ok = false;
    else if (!nint_is(env->id, doc, ft_json_get(doc, want, "environment")))
        snprintf(why, cap, "environment differs"), ok = false;
    else if (!nint_is(f->identity, doc, ft_json_get(doc, want, "identity")))
        snprintf(why, cap, "identity differs"), ok = false;
    ft_buf_free(&a);
    ft_buf_free(&b);
    return ok;
}

static void run_identity(const ft_engine *e, ft_json_doc *doc, const struct ft_json *item,
                         const char *file, size_t index)
{
    char name[512];
    const struct ft_json *identity = ft_json_get(doc, item, "identity");
    const struct ft_json *response = ft_json_get(doc, item, "response");
    const struct ft_json *identifier = ft_json_get(doc, identity, "identifier");
    snprintf(name, sizeof(name), "%s#%zu", file, index);
    if (!identifier || identifier->type != FT_JSON_STRING || !response) {
        fail(name, "malformed identities_and_responses entry");
        return;
    }
    struct ft_str ident = ft_json_str(doc, identifier);
    snprintf(name, sizeof(name), "%s#%zu(%.*s)", file, index, (int)ident.len, ident.ptr);
    const struct ft_json *features = ft_json_get(doc, identity, "identity_features");
    if (features && features->type == FT_JSON_ARRAY && features->len > 0) {
        fail(name, "identity_features (per-identity overrides of core) are not supported");
        return;
    }
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    const struct ft_json *traits = ft_json_get(doc, identity, "identity_traits"), *t;
    size_t n = 0;
    struct ft_engine_trait *tv =
        ft_arena_alloc(&arena, sizeof(*tv) * (traits && traits->len ? traits->len : 1));
    if (traits && traits->type == FT_JSON_ARRAY) {
        FT_JSON_EACH(t, traits)
        {
            const struct ft_json *k = ft_json_get(doc, t, "trait_key");
            const struct ft_json *v = ft_json_get(doc, t, "trait_value");
            if (!k || k->type != FT_JSON_STRING || !v) continue;
            struct ft_value value = {FT_VALUE_NULL, FT_STR("")};
            if (v->type == FT_JSON_STRING)
                value = (struct ft_value){FT_VALUE_STRING, ft_json_str(doc, v)};
            else if (v->type == FT_JSON_NUMBER)
                value =
                    (struct ft_value){(v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT,
                                      ft_json_raw(doc, v)};
            else if (v->type == FT_JSON_TRUE || v->type == FT_JSON_FALSE)
                value = (struct ft_value){FT_VALUE_BOOL, v->type == FT_JSON_TRUE ? FT_STR("true")
                                                                                 : FT_STR("false")};
            ft_engine_trait_coerce(&value, &arena); /* as Flagsmith's API types traits */
            tv[n++] = (struct ft_engine_trait){ft_json_str(doc, k), value};
        }
    }
    struct ft_engine_identity id = {.identifier = ident, .traits = tv, .ntraits = n};
    int64_t django;
    if (ft_json_int64(doc, ft_json_get(doc, identity, "django_id"), &django)) {
        id.has_id = true;
        id.id = django;
    }
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(e, &id, 0, &r);
    const struct ft_json *flags = ft_json_get(doc, response, "flags"), *want;
    size_t matched = 0;
    bool ok = flags && flags->type == FT_JSON_ARRAY;
    char why[512] = "no flags in the response";
    if (ok) {
        FT_JSON_EACH(want, flags)
        {
            const struct ft_json *fname =
                ft_json_get(doc, ft_json_get(doc, want, "feature"), "name");
            const struct ft_engine_flag *f = NULL;
            for (size_t i = 0; i < r.nflags; i++)
                if (str_is(r.flags[i].feature_name, doc, fname)) f = &r.flags[i];
            if (!f) {
                snprintf(why, sizeof(why), "a flag of the response is missing");
                ok = false;
                break;
            }
            char detail[400];
            if (!same_flag(f, ft_engine_environment(e), doc, want, detail, sizeof(detail))) {
                snprintf(why, sizeof(why), "%.*s: %s", (int)f->feature_name.len,
                         f->feature_name.ptr, detail);
                ok = false;
                break;
            }
            matched++;
        }
    }
    if (ok && matched != r.nflags) {
        snprintf(why, sizeof(why), "%zu flags evaluated, %zu in the response", r.nflags, matched);
        ok = false;
    }
    if (ok)
        passed++;
    else
        fail(name, "%s", why);
    ft_engine_result_free(&r);
    ft_arena_free(&arena);
}

static void run_v1(const char *path, const char *file)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fail(file, "cannot read %s", path);
        return;
    }
    ft_engine *e = NULL;
    struct ft_engine_error err;
    int rc = ft_engine_load(text, len, NULL, &e, &err);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    const struct ft_json *items = NULL, *item;
    if (ft_json_parse(doc, text, len, NULL) == FT_OK)
        items = ft_json_get(doc, ft_json_root(doc), "identities_and_responses");
    if (rc) {
        fail(file, "load failed: %s: %s", ft_strerror(rc), err.detail);
    } else if (!items || items->type != FT_JSON_ARRAY || items->len == 0) {
        fail(file, "no identities_and_responses");
    } else {
        size_t i = 0;
        FT_JSON_EACH(item, items)
        run_identity(e, doc, item, file, i++);
    }
    ft_json_doc_free(doc);
    ft_engine_free(e);
    free(text);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs `fn` on each file of DIR/sub whose name ends with one of the suffixes, sorted. */
static int each_file(const char *dir, const char *sub, const char *suffix1, const char *suffix2,
                     void (*fn)(const char *path, const char *name))
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d) {
        printf("FAIL %s: cannot open the directory\n", path);
        failed++;
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t l = strlen(ent->d_name), l1 = strlen(suffix1), l2 = suffix2 ? strlen(suffix2) : 0;
        bool match = (l > l1 && strcmp(ent->d_name + l - l1, suffix1) == 0) ||
                     (suffix2 && l > l2 && strcmp(ent->d_name + l - l2, suffix2) == 0);
        if (!match) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, sizeof(*names) * cap);
        }
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, names[i]);
        fn(path, names[i]);
        free(names[i]);
    }
    free(names);
    return (int)n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: conformance DIR\n");
        return 2;
    }
    int cases = each_file(argv[1], "test_cases", ".json", ".jsonc", run_case);
    int docs = each_file(argv[1], "v1", ".json", NULL, run_v1);
    if (cases == 0 || docs == 0) {
        printf("FAIL %s: expected test_cases/ and v1/ with files\n", argv[1]);
        failed++;
    }
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
