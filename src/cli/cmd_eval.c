/*
 * flagtrail eval: evaluates an identity against an environment document (or an evaluation
 * context) with the engine, and prints the flags as GET /api/v1/identities/ answers them, as a
 * readable table, or in the result shape of Flagsmith's engine test data. --batch evaluates one
 * identity per input line, for comparisons with other engines.
 */
#include "cli/cli.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_MAX_DOCUMENT ((size_t)64 << 20)
#define EVAL_MAX_BATCH    ((size_t)1 << 30)
#define EVAL_MAX_TRAITS   4096

enum format { FORMAT_JSON, FORMAT_TABLE, FORMAT_RESULT };

void help_eval(void)
{
    puts("Usage: flagtrail eval --environment FILE [--identity ID] [OPTIONS]\n"
         "\n"
         "Evaluates the flags of an identity as Flagsmith would, from an environment document\n"
         "(GET /api/v1/environment-document/) or an evaluation context of Flagsmith's engine\n"
         "test data, and prints them as GET /api/v1/identities/ answers. Without --identity it\n"
         "prints the environment's flags (GET /api/v1/flags/), or evaluates the context's own\n"
         "identity.\n"
         "\n"
         "  --environment FILE   the document or context ('-': standard input); // comments\n"
         "                       are accepted\n"
         "  --identity ID        the identifier to evaluate\n"
         "  --identity-id N      hash with the identity's integer id N, as Flagsmith core does\n"
         "                       (default: \"<environment api key>_<identifier>\", as SDKs do)\n"
         "  --trait KEY=VALUE    a trait (repeatable); VALUE is typed as the API types it: an\n"
         "                       integer, a decimal, true or false, else a string\n"
         "  --traits-json JSON   traits as {\"key\": value, ...} or the API's list\n"
         "                       [{\"trait_key\": ..., \"trait_value\": ...}]; strings that look "
         "like\n"
         "                       numbers become numbers, as the API does\n"
         "  --raw-traits         keep --traits-json and --batch values exactly as typed\n"
         "  --client-key         answer a client-side key: no server-key-only features\n"
         "  --format FORMAT      json (default), table, or result: the engine test data's\n"
         "                       {\"flags\": {name: ...}, \"segments\": [...]} with every flag\n"
         "  --batch FILE         evaluate each line of FILE ({\"identifier\": ..., \"traits\": "
         "...,\n"
         "                       \"identity_id\": N}); prints one answer per line\n"
         "  -h, --help           this help\n"
         "\n"
         "Exit status: 0 evaluated, 1 the document could not be loaded, 2 usage error.");
}

/* --- traits --- */

struct traits {
    struct ft_engine_trait *items;
    size_t n, cap;
    struct ft_arena arena;
};

static void traits_add(struct traits *t, struct ft_str key, struct ft_value value)
{
    for (size_t i = 0; i < t->n; i++) {
        if (ft_str_eq(t->items[i].key, key)) {
            t->items[i].value = value; /* a repeated key replaces the value, keeping its place */
            return;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->items = ft_xrealloc(t->items, sizeof(*t->items) * t->cap);
    }
    t->items[t->n++] = (struct ft_engine_trait){key, value};
}

/* KEY=VALUE typed as the API would: integer, decimal, true/false, else string. */
static bool trait_arg(struct traits *t, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return false;
    struct ft_str key = {ft_arena_strndup(&t->arena, arg, (size_t)(eq - arg)), (size_t)(eq - arg)};
    struct ft_value v = {FT_VALUE_STRING,
                         ft_str_c(ft_arena_strndup(&t->arena, eq + 1, strlen(eq + 1)))};
    if (ft_str_eq_c(v.text, "true") || ft_str_eq_c(v.text, "false"))
        v.type = FT_VALUE_BOOL;
    else
        ft_engine_trait_coerce(&v, &t->arena);
    traits_add(t, key, v);
    return true;
}

static struct ft_value json_value(ft_json_doc *doc, const struct ft_json *v, struct ft_arena *a)
{
    struct ft_value out = {FT_VALUE_NULL, FT_STR("")};
    struct ft_str s;
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_TRUE: out = (struct ft_value){FT_VALUE_BOOL, FT_STR("true")}; break;
    case FT_JSON_FALSE: out = (struct ft_value){FT_VALUE_BOOL, FT_STR("false")}; break;
    case FT_JSON_NUMBER:
        s = ft_json_raw(doc, v);
        out.type = (v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT;
        out.text = (struct ft_str){ft_arena_strndup(a, s.ptr, s.len), s.len};
        break;
    case FT_JSON_STRING:
        s = ft_json_str(doc, v);
        out.type = FT_VALUE_STRING;
        out.text = (struct ft_str){ft_arena_strndup(a, s.ptr, s.len), s.len};
        break;
    default: break;
    }
    return out;
}

/* {"key": value} or [{"trait_key": k, "trait_value": v}]; NULL or a message. */
static const char *traits_json(struct traits *t, ft_json_doc *doc, const struct ft_json *root,
                               bool coerce)
{
    const struct ft_json *k, *v, *item;
    if (root->type == FT_JSON_OBJECT) {
        FT_JSON_EACH_MEMBER(k, v, root)
        {
            if (v->type == FT_JSON_ARRAY || v->type == FT_JSON_OBJECT)
                return "a trait value must be a string, number, boolean or null";
            struct ft_str key = ft_json_str(doc, k);
            struct ft_value value = json_value(doc, v, &t->arena);
            if (coerce) ft_engine_trait_coerce(&value, &t->arena);
            traits_add(t, (struct ft_str){ft_arena_strndup(&t->arena, key.ptr, key.len), key.len},
                       value);
        }
        return NULL;
    }
    if (root->type != FT_JSON_ARRAY) return "traits must be an object or a list";
    FT_JSON_EACH(item, root)
    {
        k = ft_json_get(doc, item, "trait_key");
        v = ft_json_get(doc, item, "trait_value");
        if (!k || k->type != FT_JSON_STRING || !v)
            return "each trait needs trait_key and trait_value";
        if (v->type == FT_JSON_ARRAY || v->type == FT_JSON_OBJECT)
            return "a trait value must be a string, number, boolean or null";
        struct ft_str key = ft_json_str(doc, k);
        struct ft_value value = json_value(doc, v, &t->arena);
        if (coerce) ft_engine_trait_coerce(&value, &t->arena);
        traits_add(t, (struct ft_str){ft_arena_strndup(&t->arena, key.ptr, key.len), key.len},
                   value);
    }
    return NULL;
}

/* --- output --- */

static void write_nint(struct ft_buf *b, struct ft_nint n)
{
    if (n.null)
        ft_buf_append_str(b, "null");
    else
        ft_json_write_int(b, n.value);
}

static void write_nstr(struct ft_buf *b, struct ft_str s)
{
    if (s.ptr)
        ft_json_write_str(b, s.ptr, s.len);
    else
        ft_buf_append_str(b, "null");
}

static void write_value(struct ft_buf *b, const struct ft_value *v)
{
    if (ft_value_write(b, v) != FT_OK) ft_json_write_str(b, v->text.ptr, v->text.len);
}

/* One flag as the flags API prints it (keys sorted, as Python's json.dumps would). */
static void write_api_flag(struct ft_buf *b, const ft_engine *e, const struct ft_engine_flag *f)
{
    ft_buf_printf(b, "{\"enabled\": %s, \"environment\": ", f->enabled ? "true" : "false");
    write_nint(b, ft_engine_environment(e)->id);
    ft_buf_append_str(b, ", \"feature\": {\"id\": ");
    write_nint(b, f->feature_id);
    ft_buf_append_str(b, ", \"name\": ");
    ft_json_write_str(b, f->feature_name.ptr, f->feature_name.len);
    ft_buf_append_str(b, ", \"type\": ");
    ft_json_write_str(b, f->feature_type.ptr, f->feature_type.len);
    ft_buf_append_str(b, "}, \"feature_segment\": ");
    write_nint(b, f->feature_segment);
    ft_buf_append_str(b, ", \"feature_state_value\": ");
    write_value(b, &f->value);
    ft_buf_append_str(b, ", \"id\": ");
    write_nint(b, f->feature_state_id);
    ft_buf_append_str(b, ", \"identity\": ");
    write_nint(b, f->identity);
    ft_buf_append_str(b, ", \"variant\": ");
    write_nstr(b, f->variant);
    ft_buf_append_char(b, '}');
}

static void write_api(struct ft_buf *b, const ft_engine *e, const struct ft_engine_result *r,
                      const struct ft_engine_identity *id)
{
    if (id) ft_buf_append_str(b, "{\"flags\": ");
    ft_buf_append_char(b, '[');
    for (size_t i = 0; i < r->nflags; i++) {
        if (i) ft_buf_append_str(b, ", ");
        write_api_flag(b, e, &r->flags[i]);
    }
    ft_buf_append_char(b, ']');
    if (!id) return;
    ft_buf_append_str(b, ", \"identifier\": ");
    ft_json_write_str(b, id->identifier.ptr, id->identifier.len);
    ft_buf_append_str(b, ", \"traits\": [");
    for (size_t i = 0; i < id->ntraits; i++) {
        if (i) ft_buf_append_str(b, ", ");
        ft_buf_append_str(b, "{\"trait_key\": ");
        ft_json_write_str(b, id->traits[i].key.ptr, id->traits[i].key.len);
        ft_buf_append_str(b, ", \"trait_value\": ");
        write_value(b, &id->traits[i].value);
        ft_buf_append_char(b, '}');
    }
    ft_buf_append_str(b, "]}");
}

/* The engine test data's result: flags by name, the segments the identity belongs to. */
static void write_result(struct ft_buf *b, const struct ft_engine_result *r)
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
        write_nstr(b, f->variant);
        ft_buf_append_char(b, '}');
    }
    ft_buf_append_str(b, "}, \"segments\": [");
    bool first = true;
    for (size_t i = 0; i < r->nsegments; i++) {
        const struct ft_engine_segment *g = &r->segments[i];
        if (!g->member) continue;
        ft_buf_append_str(b, first ? "{" : ", {");
        first = false;
        if (g->metadata.ptr) {
            ft_buf_append_str(b, "\"metadata\": ");
            ft_buf_append(b, g->metadata.ptr, g->metadata.len);
            ft_buf_append_str(b, ", ");
        }
        ft_buf_append_str(b, "\"name\": ");
        ft_json_write_str(b, g->name.ptr, g->name.len);
        ft_buf_append_char(b, '}');
    }
    ft_buf_append_str(b, "]}");
}

static void write_table(struct ft_buf *b, const struct ft_engine_result *r,
                        const struct ft_engine_identity *id)
{
    if (id)
        ft_buf_printf(b, "identity %.*s (hashing key %.*s)\n\n", (int)id->identifier.len,
                      id->identifier.ptr, (int)r->identity_key.len, r->identity_key.ptr);
    ft_buf_printf(b, "%-28s %-7s %-24s %-26s %s\n", "FEATURE", "ENABLED", "VALUE", "SOURCE",
                  "REASON");
    struct ft_buf v;
    ft_buf_init(&v, 0);
    for (size_t i = 0; i < r->nflags; i++) {
        const struct ft_engine_flag *f = &r->flags[i];
        ft_buf_reset(&v);
        write_value(&v, &f->value);
        char source[96];
        if (f->source == FT_ENGINE_SEGMENT_OVERRIDE)
            snprintf(source, sizeof(source), "segment %.*s", (int)f->segment.len, f->segment.ptr);
        else if (f->source == FT_ENGINE_IDENTITY_OVERRIDE)
            snprintf(source, sizeof(source), "identity override");
        else
            snprintf(source, sizeof(source), "default");
        ft_buf_printf(b, "%-28.*s %-7s %-24.*s %-26s %.*s\n", (int)f->feature_name.len,
                      f->feature_name.ptr, f->enabled ? "on" : "off", (int)v.len, v.data, source,
                      (int)f->reason.len, f->reason.ptr);
    }
    ft_buf_free(&v);
    if (r->nsegments) ft_buf_printf(b, "\n%-28s %s\n", "SEGMENT", "MEMBER");
    for (size_t i = 0; i < r->nsegments; i++)
        ft_buf_printf(b, "%-28.*s %s\n", (int)r->segments[i].name.len, r->segments[i].name.ptr,
                      r->segments[i].member ? "yes" : "no");
}

static void print_answer(const ft_engine *e, const struct ft_engine_result *r,
                         const struct ft_engine_identity *id, enum format format, struct ft_buf *b)
{
    ft_buf_reset(b);
    if (format == FORMAT_TABLE)
        write_table(b, r, id);
    else if (format == FORMAT_RESULT)
        write_result(b, r);
    else
        write_api(b, e, r, id);
    if (format != FORMAT_TABLE) ft_buf_append_char(b, '\n');
    fwrite(b->data, 1, b->len, stdout);
}

/* --- batch --- */

static int run_batch(const char *file, const ft_engine *e, unsigned flags, enum format format,
                     bool coerce)
{
    struct ft_buf in, out;
    char err[256];
    int rc = cli_read_input(file, EVAL_MAX_BATCH, &in, err, sizeof(err));
    if (rc) {
        ft_buf_free(&in);
        return cli_fail("eval", "%s", err);
    }
    ft_buf_init(&out, 0);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    int status = CLI_OK;
    size_t lineno = 0;
    const char *p = in.data ? in.data : "", *end = p + in.len;
    while (p < end && status == CLI_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        lineno++;
        size_t len = (size_t)(stop - p);
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (len == 0) continue;
        struct traits t = {0};
        ft_arena_init(&t.arena, 0);
        struct ft_json_error jerr;
        const struct ft_json *root, *identifier, *traits, *idnum;
        const char *msg = NULL;
        if (ft_json_parse(doc, line, len, &jerr) != FT_OK) {
            msg = jerr.message;
        } else if ((root = ft_json_root(doc))->type != FT_JSON_OBJECT ||
                   !(identifier = ft_json_get(doc, root, "identifier")) ||
                   identifier->type != FT_JSON_STRING) {
            msg = "expected {\"identifier\": string, \"traits\": ...}";
        } else {
            struct ft_engine_identity id = {.identifier = ft_json_str(doc, identifier)};
            if ((traits = ft_json_get(doc, root, "traits")) && traits->type != FT_JSON_NULL)
                msg = traits_json(&t, doc, traits, coerce);
            if ((idnum = ft_json_get(doc, root, "identity_id")) && idnum->type != FT_JSON_NULL) {
                if (ft_json_int64(doc, idnum, &id.id))
                    id.has_id = true;
                else
                    msg = "identity_id must be an integer";
            }
            if (!msg) {
                id.traits = t.items;
                id.ntraits = t.n;
                ft_engine_evaluate(e, &id, flags, &r);
                print_answer(e, &r, &id, format, &out);
            }
        }
        if (msg) status = cli_fail("eval", "%s line %zu: %s", file, lineno, msg);
        free(t.items);
        ft_arena_free(&t.arena);
    }
    ft_engine_result_free(&r);
    ft_json_doc_free(doc);
    ft_buf_free(&out);
    ft_buf_free(&in);
    return status;
}

/* --- the command --- */

static bool parse_format(const char *s, enum format *out)
{
    if (strcmp(s, "json") == 0)
        *out = FORMAT_JSON;
    else if (strcmp(s, "table") == 0)
        *out = FORMAT_TABLE;
    else if (strcmp(s, "result") == 0)
        *out = FORMAT_RESULT;
    else
        return false;
    return true;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"environment", required_argument, NULL, 'e'},
        {"identity", required_argument, NULL, 'i'},
        {"identity-id", required_argument, NULL, 'n'},
        {"trait", required_argument, NULL, 't'},
        {"traits-json", required_argument, NULL, 'j'},
        {"raw-traits", no_argument, NULL, 'r'},
        {"client-key", no_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *env_file = NULL, *identity = NULL, *traits_text = NULL, *batch = NULL;
    bool has_id = false, coerce = true;
    int64_t id_number = 0;
    unsigned flags = 0;
    enum format format = FORMAT_JSON;
    struct traits t = {0};
    ft_arena_init(&t.arena, 0);
    int status = CLI_OK, c;
    while (status == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'e': env_file = optarg; break;
        case 'i': identity = optarg; break;
        case 'n':
            if (!cli_parse_int64(optarg, &id_number))
                status = cli_usage("eval", "--identity-id: not an integer: %s", optarg);
            has_id = true;
            break;
        case 't':
            if (t.n >= EVAL_MAX_TRAITS || !trait_arg(&t, optarg))
                status = cli_usage("eval", "--trait: expected KEY=VALUE, got %s", optarg);
            break;
        case 'j': traits_text = optarg; break;
        case 'r': coerce = false; break;
        case 'c': flags |= FT_ENGINE_CLIENT_VIEW; break;
        case 'f':
            if (!parse_format(optarg, &format))
                status = cli_usage("eval", "--format: expected json, table or result");
            break;
        case 'b': batch = optarg; break;
        case 'h':
            help_eval();
            status = -1;
            break;
        default: status = cli_bad_option("eval", c, argv);
        }
    }
    if (status == CLI_OK && optind < argc)
        status = cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    if (status == CLI_OK && !env_file) status = cli_usage("eval", "--environment FILE is needed");
    if (status == CLI_OK && batch && (identity || t.n || traits_text))
        status = cli_usage("eval", "--batch takes identities from its file only");
    ft_json_doc *doc = ft_json_doc_new(NULL);
    if (status == CLI_OK && traits_text) {
        struct ft_json_error jerr;
        const char *msg = NULL;
        if (ft_json_parse(doc, traits_text, strlen(traits_text), &jerr) != FT_OK)
            msg = jerr.message;
        else
            msg = traits_json(&t, doc, ft_json_root(doc), coerce);
        if (msg) status = cli_usage("eval", "--traits-json: %s", msg);
    }
    if (status != CLI_OK) goto free_traits;

    struct ft_buf input, out;
    char err[256];
    int rc = cli_read_input(env_file, EVAL_MAX_DOCUMENT, &input, err, sizeof(err));
    if (rc) {
        status = cli_fail("eval", "%s", err);
        goto free_input;
    }
    struct ft_engine_load_options lo = {.max_size = EVAL_MAX_DOCUMENT, .allow_comments = true};
    struct ft_engine_error lerr;
    ft_engine *e;
    rc = ft_engine_load(input.data ? input.data : "", input.len, &lo, &e, &lerr);
    if (rc) {
        status = cli_fail("eval", "cannot load %s: %s: %s", env_file, ft_strerror(rc), lerr.detail);
        goto free_input;
    }
    if (lerr.warnings)
        fprintf(stderr, "flagtrail eval: %u documented fallback%s while loading; first: %s\n",
                lerr.warnings, lerr.warnings == 1 ? "" : "s", lerr.warning);
    if (batch) {
        status = run_batch(batch, e, flags, format, coerce);
        ft_engine_free(e);
        goto free_input;
    }
    struct ft_engine_identity id = {.traits = t.items, .ntraits = t.n};
    const struct ft_engine_identity *who = NULL;
    if (identity) {
        id.identifier = ft_str_c(identity);
        id.has_id = has_id;
        id.id = id_number;
        who = &id;
    } else if (ft_engine_context_identity(e)) {
        id = *ft_engine_context_identity(e);
        if (t.n) {
            id.traits = t.items;
            id.ntraits = t.n;
        }
        who = &id;
    } else if (t.n || has_id) {
        ft_engine_free(e);
        status = cli_usage("eval", "traits and --identity-id need --identity");
        goto free_input;
    }
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(e, who, flags, &r);
    ft_buf_init(&out, 0);
    print_answer(e, &r, who, format, &out);
    ft_buf_free(&out);
    ft_engine_result_free(&r);
    ft_engine_free(e);
free_input:
    ft_buf_free(&input);
free_traits:
    ft_json_doc_free(doc);
    free(t.items);
    ft_arena_free(&t.arena);
    return status < 0 ? CLI_OK : status;
}
