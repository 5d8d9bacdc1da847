/*
 * bench/engine: the flag engine beside Flagsmith's own JS engine, in one run.
 *
 *   engine V1_DOC V1_IDS LARGE_DOC LARGE_IDS BIG_DOC NODE_PEER PACKAGE_DIR
 *
 * Evaluations per second on one thread, for the v1 document of the engine test data and for a
 * generated large environment (200 features, 100 segments of 5 conditions, 1000 identity
 * overrides), each over its file of identities (JSON lines {"identifier", "traits"}).
 * flagsmith-nodejs evaluates the same documents and identities through NODE_PEER
 * (bench/peers/flagsmith_engine.mjs), as its SDK does (mapping the environment for every call)
 * and as its engine alone (contexts prepared in advance); both ratios are printed. Then load
 * time and memory for BIG_DOC (about 10 MB), beside the JS engine's. Last, the regex matcher
 * behind REGEX conditions: PCRE2 with its JIT against glibc's POSIX regexec, on the same
 * pattern, and whether each gives Python's answers.
 *
 * Timings: the best of 5 rounds of at least 0.2 s. Prints Markdown; bench/run saves it.
 */
#include "base/clock.h"
#include "engine/engine_int.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- inputs --- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) exit(1);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct people {
    struct ft_engine_identity *ids;
    size_t n;
    struct ft_arena arena;
};

static struct ft_value value_of(ft_json_doc *doc, const struct ft_json *v, struct ft_arena *a)
{
    struct ft_str s = v->type == FT_JSON_STRING ? ft_json_str(doc, v) : ft_json_raw(doc, v);
    struct ft_str copy = {ft_arena_strndup(a, s.ptr, s.len), s.len};
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_TRUE: return (struct ft_value){FT_VALUE_BOOL, FT_STR("true")};
    case FT_JSON_FALSE: return (struct ft_value){FT_VALUE_BOOL, FT_STR("false")};
    case FT_JSON_NUMBER:
        return (struct ft_value){(v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT,
                                 copy};
    case FT_JSON_STRING: return (struct ft_value){FT_VALUE_STRING, copy};
    default: return (struct ft_value){FT_VALUE_NULL, FT_STR("")};
    }
}

static void read_people(const char *path, struct people *p)
{
    size_t len;
    char *text = read_file(path, &len);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    ft_arena_init(&p->arena, 0);
    size_t cap = 256;
    p->ids = malloc(sizeof(*p->ids) * cap);
    p->n = 0;
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) nl = text + len;
        if (nl == line || ft_json_parse(doc, line, (size_t)(nl - line), NULL) != FT_OK) continue;
        const struct ft_json *root = ft_json_root(doc);
        const struct ft_json *identifier = ft_json_get(doc, root, "identifier");
        const struct ft_json *traits = ft_json_get(doc, root, "traits"), *k, *v;
        struct ft_str ident = ft_json_str(doc, identifier);
        size_t nt = traits && traits->type == FT_JSON_OBJECT ? traits->len : 0, i = 0;
        struct ft_engine_trait *t = ft_arena_alloc(&p->arena, sizeof(*t) * (nt + 1));
        if (nt) {
            FT_JSON_EACH_MEMBER(k, v, traits)
            {
                struct ft_str key = ft_json_str(doc, k);
                t[i].key = (struct ft_str){ft_arena_strndup(&p->arena, key.ptr, key.len), key.len};
                t[i++].value = value_of(doc, v, &p->arena);
            }
        }
        if (p->n == cap) p->ids = realloc(p->ids, sizeof(*p->ids) * (cap *= 2));
        p->ids[p->n++] = (struct ft_engine_identity){
            .identifier = {ft_arena_strndup(&p->arena, ident.ptr, ident.len), ident.len},
            .traits = t,
            .ntraits = i};
    }
    ft_json_doc_free(doc);
    free(text);
}

static ft_engine *load(const char *path, size_t *size)
{
    char *text = read_file(path, size);
    ft_engine *e;
    struct ft_engine_error err;
    int rc = ft_engine_load(text, *size, NULL, &e, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "bench/engine: %s: %s\n", path, err.detail);
        exit(1);
    }
    return e;
}

/* --- timing --- */

/* Best evaluations per second over 5 rounds of at least 0.2 s. */
static double evals_per_second(const ft_engine *e, const struct people *p)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    double best = 0;
    for (int round = 0; round < 5; round++) {
        long n = 0;
        int64_t start = ft_clock_mono_ns(), now;
        do {
            for (size_t i = 0; i < p->n; i++)
                ft_engine_evaluate(e, &p->ids[i], 0, &r);
            n += (long)p->n;
            now = ft_clock_mono_ns();
        } while (now - start < 200000000);
        double rate = (double)n / ((double)(now - start) / 1e9);
        if (rate > best) best = rate;
    }
    ft_engine_result_free(&r);
    return best;
}

struct peer {
    double sdk, engine, load_ms, heap_mb;
    bool ok;
};

/* Runs the node peer in bench mode (ids given) or load mode (ids NULL); reads its JSON line. */
static struct peer run_peer(const char *script, const char *pkg, const char *doc, const char *ids)
{
    struct peer p = {0};
    char cmd[4096];
    if (ids)
        snprintf(cmd, sizeof(cmd), "node '%s' '%s' bench '%s' '%s' 2", script, pkg, doc, ids);
    else
        snprintf(cmd, sizeof(cmd), "node '%s' '%s' load '%s'", script, pkg, doc);
    FILE *f = popen(cmd, "r");
    char line[1024] = "";
    if (f) {
        if (!fgets(line, sizeof(line), f)) line[0] = '\0';
        pclose(f);
    }
    ft_json_doc *d = ft_json_doc_new(NULL);
    if (ft_json_parse(d, line, strlen(line), NULL) == FT_OK) {
        const struct ft_json *root = ft_json_root(d);
        if (ids)
            p.ok = ft_json_double(d, ft_json_get(d, root, "sdk"), &p.sdk) &&
                   ft_json_double(d, ft_json_get(d, root, "engine"), &p.engine);
        else
            p.ok = ft_json_double(d, ft_json_get(d, root, "load_ms"), &p.load_ms) &&
                   ft_json_double(d, ft_json_get(d, root, "heap_mb"), &p.heap_mb);
    }
    ft_json_doc_free(d);
    if (!p.ok) fprintf(stderr, "bench/engine: the node peer gave no numbers: %s\n", cmd);
    return p;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

/* --- regex engines --- */

struct regex_case {
    const char *pattern, *subject;
    bool python; /* re.match(pattern, subject) is not None */
};

struct pcre_ctx {
    pcre2_code *re;
    struct ft_str subject;
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

struct posix_ctx {
    regex_t re;
    const char *subject;
};

static int pcre_match(void *p)
{
    struct pcre_ctx *c = p;
    return ft__regex_match(c->re, c->subject, c->md, c->mc) > 0;
}

static int posix_match(void *p)
{
    struct posix_ctx *c = p;
    return regexec(&c->re, c->subject, 0, NULL, 0) == 0;
}

/* Best nanoseconds per call over 5 rounds of at least 0.2 s. */
static double ns_per_call(int (*fn)(void *), void *ctx)
{
    double best = 1e30;
    volatile int sink = 0;
    for (int round = 0; round < 5; round++) {
        long n = 0;
        int64_t start = ft_clock_mono_ns(), now;
        do {
            for (int i = 0; i < 256; i++)
                sink += fn(ctx);
            n += 256;
            now = ft_clock_mono_ns();
        } while (now - start < 200000000);
        double per = (double)(now - start) / (double)n;
        if (per < best) best = per;
    }
    (void)sink;
    return best;
}

static const char *verdict(int answer, bool python)
{
    if (answer < 0) return "rejects the pattern";
    return (answer == 1) == python ? "same as Python" : "differs from Python";
}

static void regex_table(void)
{
    static const struct regex_case cases[] = {
        {"^[a-z]+[0-9]+@test", "user123@test.dev", true},
        {"^\\d+$", "12345", true},
        {"(?i)abc", "ABC", true},
        {"^a.*?c", "abxc", true},
    };
    printf("\n## REGEX conditions: PCRE2 (JIT) against glibc's POSIX regexec\n\n");
    printf("| pattern | subject | PCRE2 | answer | regexec (REG_EXTENDED) | answer |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        struct pcre_ctx p = {ft__regex_compile(ft_str_c(cases[i].pattern), err, sizeof(err)),
                             ft_str_c(cases[i].subject), pcre2_match_data_create(1, NULL),
                             ft__regex_context()};
        int pa = p.re ? pcre_match(&p) : -1;
        double pns = p.re ? ns_per_call(pcre_match, &p) : 0;
        struct posix_ctx q = {.subject = cases[i].subject};
        bool compiled = regcomp(&q.re, cases[i].pattern, REG_EXTENDED | REG_NOSUB) == 0;
        int qa = compiled ? posix_match(&q) : -1;
        double qns = compiled ? ns_per_call(posix_match, &q) : 0;
        printf("| `%s` | `%s` | %.0f ns | %s | ", cases[i].pattern, cases[i].subject, pns,
               verdict(pa, cases[i].python));
        if (compiled)
            printf("%.0f ns (%.1fx) | %s |\n", qns, qns / pns, verdict(qa, cases[i].python));
        else
            printf("- | %s |\n", verdict(qa, cases[i].python));
        if (compiled) regfree(&q.re);
        pcre2_code_free(p.re);
        pcre2_match_data_free(p.md);
        pcre2_match_context_free(p.mc);
    }
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: engine V1_DOC V1_IDS LARGE_DOC LARGE_IDS BIG_DOC NODE_PEER "
                        "PACKAGE_DIR\n");
        return 2;
    }
    const char *peer = argv[6], *pkg = argv[7];
    struct {
        const char *label, *doc, *ids;
    } cases[] = {
        {"v1 document of the engine test data (5 features, 4 segments)", argv[1], argv[2]},
        {"generated: 200 features, 100 segments x 5 conditions, 1000 identity overrides", argv[3],
         argv[4]},
    };
    printf("## Evaluations per second, one thread\n\n");
    printf("| environment | identities | flagtrail | flagsmith-nodejs engine | ratio | "
           "flagsmith-nodejs SDK path | ratio |\n|---|---|---|---|---|---|---|\n");
    for (size_t c = 0; c < 2; c++) {
        size_t size;
        ft_engine *e = load(cases[c].doc, &size);
        struct people p;
        read_people(cases[c].ids, &p);
        double ours = evals_per_second(e, &p);
        struct peer js = run_peer(peer, pkg, cases[c].doc, cases[c].ids);
        printf("| %s | %zu | %.0f | %.0f | %.0fx | %.0f | %.0fx |\n", cases[c].label, p.n, ours,
               js.engine, js.ok ? ours / js.engine : 0, js.sdk, js.ok ? ours / js.sdk : 0);
        fflush(stdout);
        free(p.ids);
        ft_arena_free(&p.arena);
        ft_engine_free(e);
    }

    /* load time and memory of a large document */
    size_t size;
    char *text = read_file(argv[5], &size);
    double best_ms = 1e30;
    size_t model = 0;
    long rss_growth = 0;
    for (int round = 0; round < 3; round++) {
        long before = rss_kib();
        int64_t start = ft_clock_mono_ns();
        ft_engine *e;
        struct ft_engine_error err;
        if (ft_engine_load(text, size, NULL, &e, &err) != FT_OK) {
            fprintf(stderr, "bench/engine: %s: %s\n", argv[5], err.detail);
            return 1;
        }
        double ms = (double)(ft_clock_mono_ns() - start) / 1e6;
        if (ms < best_ms) best_ms = ms;
        model = ft_engine_environment(e)->memory;
        if (round == 0) rss_growth = rss_kib() - before;
        ft_engine_free(e);
    }
    free(text);
    struct peer js = run_peer(peer, pkg, argv[5], NULL);
    printf("\n## Loading a %.1f MB environment document\n\n", (double)size / 1e6);
    printf("| | load time | memory |\n|---|---|---|\n");
    printf("| flagtrail (ft_engine_load: parse, compile, index) | %.1f ms | %.1f MB model "
           "(%.1f MB RSS growth on the first load) |\n",
           best_ms, (double)model / 1e6, (double)rss_growth / 1024.0);
    if (js.ok)
        printf("| flagsmith-nodejs (JSON.parse, buildEnvironmentModel, context mapping) | %.1f "
               "ms (%.1fx) | %.1f MB heap growth |\n",
               js.load_ms, js.load_ms / best_ms, js.heap_mb);

    regex_table();
    return 0;
}
