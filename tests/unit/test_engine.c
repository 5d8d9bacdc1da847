/*
 * Unit tests of the engine (src/engine): hashing, loading (errors and documented fallbacks
 * for malformed documents), and evaluation through the public API (conventions for the identity
 * key, overrides and their priorities, variants, views, result reuse, threads).
 */
#include <criterion/criterion.h>

#include "engine/engine_int.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- hashing --- */

static void expect_md5(const char *input, size_t len, const char *hex)
{
    unsigned char d[16];
    char got[33];
    ft__md5(input, len, d);
    for (int i = 0; i < 16; i++)
        snprintf(got + 2 * i, 3, "%02x", d[i]);
    cr_expect(strcmp(got, hex) == 0, "md5 of %zu bytes: got %s, want %s", len, got, hex);
}

Test(engine, md5_rfc1321_vectors_and_block_edges)
{
    expect_md5("", 0, "d41d8cd98f00b204e9800998ecf8427e");
    expect_md5("a", 1, "0cc175b9c0f1b6a831c399e269772661");
    expect_md5("abc", 3, "900150983cd24fb0d6963f7d28e17f72");
    expect_md5("message digest", 14, "f96b697d7cb7938d525a2f31aaf161d0");
    expect_md5("abcdefghijklmnopqrstuvwxyz", 26, "c3fcd3d76192e4007dfb496cca67e13b");
    char as[121];
    memset(as, 'A', sizeof(as));
    expect_md5(as, 55, "e38a93ffe074a99b3fed47dfbe37db21");
    expect_md5(as, 56, "a2f3e2024931bd470555002aa5ccc010");
    expect_md5(as, 64, "d289a97565bc2d27ac8b8545a5ddba45");
    expect_md5(as, 119, "4f428c9ec478ab46260c143f95b68bd6");
    expect_md5(as, 120, "2fc9840470860d0d8e67a2207d15c4c9");
}

static double pct(const char *a, const char *b)
{
    struct ft_str ids[2] = {ft_str_c(a), ft_str_c(b)};
    struct ft_buf scratch;
    ft_buf_init(&scratch, 0);
    double v = ft__hash_percentage(ids, 2, &scratch);
    ft_buf_free(&scratch);
    return v;
}

/* The first iteration's value: (md5 of "key,identity" as a big-endian integer % 9999) / 9998 * 100. */
static double first_iteration(const char *key, const char *identity)
{
    char text[256];
    int len = snprintf(text, sizeof(text), "%s,%s", key, identity);
    unsigned char d[16];
    ft__md5(text, (size_t)len, d);
    unsigned r = 0;
    for (int i = 0; i < 16; i++)
        r = (r * 256 + d[i]) % 9999;
    return (double)r / 9998.0 * 100.0;
}

Test(engine, paired_hashes_match_single_ones)
{
    /* keys and identities around the one-block limit (55 bytes), odd and even counts */
    char keys[70][72];
    struct ft_str k[70];
    for (int i = 0; i < 70; i++) {
        memset(keys[i], 'a' + i % 26, (size_t)i);
        keys[i][i] = '\0';
        k[i] = ft_str_c(keys[i]);
    }
    const char *identities[] = {"", "x", "env_key_user-42", "0123456789012345678901234567890123456789"};
    struct ft_buf scratch;
    ft_buf_init(&scratch, 0);
    double out[70];
    for (size_t id = 0; id < 4; id++) {
        for (uint32_t n = 0; n <= 70; n += 7) {
            ft__hash_percentages(k, n, ft_str_c(identities[id]), out, &scratch);
            for (uint32_t i = 0; i < n; i++)
                cr_expect(out[i] == pct(keys[i], identities[id]), "key %u of %u, identity %zu", i,
                          n, id);
        }
    }
    /* a key whose first hash lands exactly on 100 is hashed again, doubled, as singly */
    char found[2][32];
    int nfound = 0;
    for (int i = 0; i < 400000 && nfound < 2; i++) {
        snprintf(found[nfound], sizeof(found[0]), "k%d", i);
        if (first_iteration(found[nfound], "u") == 100.0) nfound++;
    }
    cr_assert(nfound == 2, "two keys that hash to 100 exist below 400000");
    struct ft_str hundred[3] = {ft_str_c(found[0]), ft_str_c("other"), ft_str_c(found[1])};
    ft__hash_percentages(hundred, 3, FT_STR("u"), out, &scratch);
    for (int i = 0; i < 3; i++) {
        cr_expect(out[i] < 100.0);
        cr_expect(out[i] == pct(hundred[i].ptr, "u"));
    }
    ft_buf_free(&scratch);
}

Test(engine, hashed_percentage_matches_python)
{
    /* ((int(md5(",".join(ids)).hexdigest(), 16) % 9999) / 9998) * 100, from Python */
    cr_expect(pct("12345", "test_env_foobar") == 51.990398079615915);
    cr_expect(pct("78986", "test_env_foobar") == 54.53090618123625);
    cr_expect(pct("4268", "32103705") == 93.31866373274656);
    cr_expect(pct("78986", "32103813") == 49.27985597119424);
    cr_expect(pct("", "") == 51.200240048009604);
}

Test(engine, hashed_percentage_of_exactly_100_hashes_the_ids_twice)
{
    /* md5("seg,id20253") % 9999 == 9998; md5("seg,id20253,seg,id20253") gives 72.78% */
    cr_expect(pct("seg", "id20253") == 72.78455691138228);
}

/* --- loading --- */

static int load(const char *json, struct ft_engine_error *err, ft_engine **out)
{
    ft_engine *e = NULL;
    int rc = ft_engine_load(json, strlen(json), NULL, &e, err);
    if (out)
        *out = e;
    else
        ft_engine_free(e);
    return rc;
}

static void expect_load_error(const char *json, int code, const char *detail)
{
    struct ft_engine_error err;
    int rc = load(json, &err, NULL);
    cr_expect(rc == code, "%s: got %s", json, ft_error_name(rc));
    cr_expect(strstr(err.detail, detail) != NULL, "detail \"%s\" lacks \"%s\"", err.detail, detail);
}

#define DOC_HEAD "{\"api_key\": \"k\", \"project\": {\"segments\": "
#define FS(extra)                                                                             \
    "{\"feature\": {\"id\": 1, \"name\": \"f\", \"type\": \"STANDARD\"}, \"enabled\": true, " \
    "\"feature_state_value\": \"v\", \"django_id\": 10" extra "}"

Test(engine, malformed_documents_fail_with_the_path)
{
    expect_load_error("[]", FT_EDOCUMENT, "expected an object");
    expect_load_error("{\"api_key\": \"k\" ", FT_EJSON, "at byte");
    expect_load_error("{\"project\": {}, \"feature_states\": []}", FT_EDOCUMENT,
                      "api_key: missing");
    expect_load_error("{\"api_key\": 5, \"project\": {}, \"feature_states\": []}", FT_EDOCUMENT,
                      "api_key: expected string, got number");
    expect_load_error(DOC_HEAD "[]}, \"feature_states\": [{\"feature\": {\"id\": \"1\", "
                               "\"name\": \"f\"}, \"enabled\": true}]}",
                      FT_EDOCUMENT, "feature_states[0].feature.id: expected number or null");
    expect_load_error(DOC_HEAD "[]}, \"feature_states\": [{\"feature\": {\"id\": "
                               "99999999999999999999, \"name\": \"f\"}, \"enabled\": true}]}",
                      FT_EDOCUMENT, "feature_states[0].feature.id: expected an integer");
    expect_load_error(DOC_HEAD
                      "[]}, \"feature_states\": [" FS(", \"feature_state_value\": {}") "]}",
                      FT_EDOCUMENT,
                      "feature_states[0].feature_state_value: expected string, "
                      "number, boolean or null, got object");
    expect_load_error(DOC_HEAD "[{\"id\": 1, \"name\": \"s\", \"rules\": [{\"type\": \"ALL\", "
                               "\"conditions\": [{\"operator\": 7}]}]}]}, \"feature_states\": []}",
                      FT_EDOCUMENT,
                      "project.segments[0].rules[0].conditions[0].operator: expected string");
    expect_load_error(DOC_HEAD "[{\"id\": 1, \"name\": \"s\", \"rules\": [{\"type\": \"ALL\", "
                               "\"conditions\": [{\"operator\": \"EQUAL\", \"value\": {}}]}]}]}, "
                               "\"feature_states\": []}",
                      FT_EDOCUMENT,
                      "conditions[0].value: expected string, number, boolean, "
                      "null or list, got object");
    expect_load_error("{\"environment\": {\"key\": \"k\"}, \"identity\": {\"identifier\": \"u\", "
                      "\"traits\": {\"t\": [1]}}}",
                      FT_EDOCUMENT, "identity.traits.t: expected a string");
}

Test(engine, extreme_rule_depth_is_refused_by_the_reader)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_buf_append_str(&b, DOC_HEAD "[{\"id\": 1, \"name\": \"s\", \"rules\": [");
    for (int i = 0; i < 200; i++)
        ft_buf_append_str(&b, "{\"type\": \"ALL\", \"rules\": [");
    for (int i = 0; i < 200; i++)
        ft_buf_append_str(&b, "]}");
    ft_buf_append_str(&b, "]}]}, \"feature_states\": []}");
    struct ft_engine_error err;
    cr_expect(load(b.data, &err, NULL) == FT_EDEPTH, "%s", err.detail);
    ft_buf_free(&b);
}

Test(engine, documented_fallbacks_are_counted_as_warnings)
{
    struct ft_engine_error err;
    ft_engine *e;
    int rc =
        load(DOC_HEAD "[{\"id\": 1, \"name\": \"s\", \"rules\": [{\"type\": \"SOME\", "
                      "\"conditions\": [{\"operator\": \"EQUAL\", \"property_\": \"a\", "
                      "\"value\": \"1\"}]}, {\"type\": \"ALL\", \"conditions\": [{"
                      "\"operator\": \"REGEX\", \"property_\": \"a\", \"value\": \"[\"}]}]}]}, "
                      "\"feature_states\": [" FS("") "]}",
             &err, &e);
    cr_assert(rc == FT_OK, "%s", err.detail);
    cr_expect(err.warnings == 2);
    cr_expect(strstr(err.warning, "project.segments[0].rules[0].type: unknown rule type") != NULL,
              "%s", err.warning);
    ft_engine_free(e);
}

Test(engine, free_null_is_a_no_op)
{
    ft_engine_free(NULL);
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_result_free(&r);
}

/* --- evaluation --- */

/* A document with two features, three segments overriding "f", and an identity override. */
static const char *doc_json =
    "{\"api_key\": \"KEY\", \"id\": 7, \"name\": \"Env\", \"hide_disabled_flags\": null,"
    " \"project\": {\"id\": 3, \"hide_disabled_flags\": false, \"server_key_only_feature_ids\": "
    "[2],"
    "  \"segments\": ["
    "   {\"id\": 10, \"name\": \"weak\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{"
    "     \"operator\": \"EQUAL\", \"property_\": \"plan\", \"value\": \"pro\"}]}],"
    "    \"feature_states\": [{\"feature\": {\"id\": 1, \"name\": \"f\"}, \"enabled\": true,"
    "     \"feature_state_value\": \"weak\", \"django_id\": 101}]},"
    "   {\"id\": 11, \"name\": \"first\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{"
    "     \"operator\": \"EQUAL\", \"property_\": \"plan\", \"value\": \"pro\"}]}],"
    "    \"feature_states\": [{\"feature\": {\"id\": 1, \"name\": \"f\"}, \"enabled\": true,"
    "     \"feature_state_value\": \"first\", \"django_id\": 102,"
    "     \"feature_segment\": {\"priority\": 1, \"id\": 55}}]},"
    "   {\"id\": 12, \"name\": \"tie\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{"
    "     \"operator\": \"EQUAL\", \"property_\": \"plan\", \"value\": \"pro\"}]}],"
    "    \"feature_states\": [{\"feature\": {\"id\": 1, \"name\": \"f\"}, \"enabled\": true,"
    "     \"feature_state_value\": \"tie\", \"django_id\": 103,"
    "     \"feature_segment\": {\"priority\": 1}}]},"
    "   {\"id\": 13, \"name\": \"empty\", \"rules\": []}]},"
    " \"feature_states\": ["
    "  {\"feature\": {\"id\": 2, \"name\": \"secret\", \"type\": \"STANDARD\"}, \"enabled\": false,"
    "   \"feature_state_value\": null, \"django_id\": 200},"
    "  {\"feature\": {\"id\": 1, \"name\": \"f\", \"type\": \"MULTIVARIATE\"}, \"enabled\": true,"
    "   \"feature_state_value\": \"control-value\", \"django_id\": 100,"
    "   \"multivariate_feature_state_values\": ["
    "    {\"id\": 2, \"percentage_allocation\": 50, \"multivariate_feature_option\": "
    "     {\"value\": \"second\", \"key\": \"k2\"}},"
    "    {\"id\": 1, \"percentage_allocation\": 0, \"multivariate_feature_option\": "
    "     {\"value\": \"never\"}}]}],"
    " \"identity_overrides\": [{\"identifier\": \"vip\", \"django_id\": 900, "
    "  \"identity_features\": [{\"feature\": {\"id\": 1, \"name\": \"f\"}, \"enabled\": false,"
    "   \"feature_state_value\": 42, \"django_id\": 300}]}]}";

static ft_engine *doc;

static void load_doc(void)
{
    struct ft_engine_error err;
    cr_assert(ft_engine_load_document(doc_json, strlen(doc_json), NULL, &doc, &err) == FT_OK, "%s",
              err.detail);
}

static void free_doc(void)
{
    ft_engine_free(doc);
}

TestSuite(engine_eval, .init = load_doc, .fini = free_doc);

static const struct ft_engine_flag *flag(const struct ft_engine_result *r, const char *name)
{
    for (size_t i = 0; i < r->nflags; i++)
        if (ft_str_eq_c(r->flags[i].feature_name, name)) return &r->flags[i];
    return NULL;
}

static struct ft_engine_identity who(const char *identifier, const struct ft_engine_trait *t,
                                     size_t n)
{
    return (struct ft_engine_identity){
        .identifier = ft_str_c(identifier), .traits = t, .ntraits = n};
}

static const struct ft_engine_trait pro[] = {{FT_STR("plan"), {FT_VALUE_STRING, FT_STR("pro")}}};

Test(engine_eval, environment_facts)
{
    const struct ft_engine_environment *env = ft_engine_environment(doc);
    cr_expect(!env->id.null && env->id.value == 7);
    cr_expect(ft_str_eq_c(env->api_key, "KEY") && ft_str_eq_c(env->name, "Env"));
    cr_expect(env->nfeatures == 2 && env->nsegments == 4 && env->nidentity_overrides == 1);
    cr_expect(env->memory > 0);
}

Test(engine_eval, lowest_priority_wins_and_the_first_wins_a_tie)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    struct ft_engine_identity id = who("someone", pro, 1);
    ft_engine_evaluate(doc, &id, 0, &r);
    const struct ft_engine_flag *f = flag(&r, "f");
    cr_assert(f);
    cr_expect(f->source == FT_ENGINE_SEGMENT_OVERRIDE);
    cr_expect(ft_str_eq_c(f->segment, "first"), "%.*s", (int)f->segment.len, f->segment.ptr);
    cr_expect(!f->feature_state_id.null && f->feature_state_id.value == 102);
    cr_expect(!f->feature_segment.null && f->feature_segment.value == 55);
    cr_expect(f->identity.null);
    cr_expect(r.nsegments == 4 && r.segments[0].member && r.segments[1].member);
    cr_expect_not(r.segments[3].member); /* a segment without rules has no members */
    cr_expect(!r.segments[0].id.null && r.segments[0].id.value == 10);
    ft_engine_result_free(&r);
}

Test(engine_eval, identity_override_beats_segments)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    struct ft_engine_identity id = who("vip", pro, 1);
    ft_engine_evaluate(doc, &id, 0, &r);
    const struct ft_engine_flag *f = flag(&r, "f");
    cr_assert(f);
    cr_expect(f->source == FT_ENGINE_IDENTITY_OVERRIDE);
    cr_expect(!f->identity.null && f->identity.value == 900);
    cr_expect(f->value.type == FT_VALUE_INT && ft_str_eq_c(f->value.text, "42"));
    cr_expect(ft_str_eq_c(f->reason, "TARGETING_MATCH; segment=identity_overrides"));
    cr_expect_not(f->enabled);
    ft_engine_result_free(&r);
}

Test(engine_eval, a_reused_result_keeps_nothing_of_the_previous_identity)
{
    /* regression: an identity override mark survived into the next evaluation */
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    struct ft_engine_identity vip = who("vip", NULL, 0), other = who("other", pro, 1);
    ft_engine_evaluate(doc, &vip, 0, &r);
    ft_engine_evaluate(doc, &vip, 0, &r);
    const struct ft_engine_flag *f = flag(&r, "f");
    cr_expect(f->source == FT_ENGINE_IDENTITY_OVERRIDE);
    ft_engine_evaluate(doc, &other, 0, &r);
    f = flag(&r, "f");
    cr_expect(f->source == FT_ENGINE_SEGMENT_OVERRIDE);
    ft_engine_evaluate(doc, &vip, 0, &r);
    f = flag(&r, "f");
    cr_expect(f->source == FT_ENGINE_IDENTITY_OVERRIDE);
    ft_engine_result_free(&r);
}

Test(engine_eval, variants_in_id_order_and_the_control)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    int served = 0, control = 0;
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "user-%d", i);
        struct ft_engine_identity id = who(name, NULL, 0);
        ft_engine_evaluate(doc, &id, 0, &r);
        const struct ft_engine_flag *f = flag(&r, "f");
        cr_assert(f && f->source == FT_ENGINE_DEFAULT);
        /* the variant with id 1 has 0%: the one with id 2 covers [0, 50) */
        double p = pct("100", r.identity_key.ptr);
        if (p < 50) {
            served++;
            cr_expect(ft_str_eq_c(f->value.text, "second") && ft_str_eq_c(f->variant, "k2"));
            cr_expect(ft_str_eq_c(f->reason, "SPLIT; weight=50"));
            cr_expect(f->percentage_allocation.type == FT_VALUE_INT &&
                      ft_str_eq_c(f->percentage_allocation.text, "50"));
        } else {
            control++;
            cr_expect(ft_str_eq_c(f->value.text, "control-value"));
            cr_expect(ft_str_eq_c(f->variant, "control") && ft_str_eq_c(f->reason, "DEFAULT"));
            cr_expect(f->percentage_allocation.type == FT_VALUE_NULL);
        }
    }
    cr_expect(served > 50 && control > 50, "%d served, %d control", served, control);
    ft_engine_result_free(&r);
}

Test(engine_eval, identity_key_conventions)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    struct ft_engine_identity id = who("u1", NULL, 0);
    ft_engine_evaluate(doc, &id, 0, &r);
    cr_expect(ft_str_eq_c(r.identity_key, "KEY_u1"));
    id.has_id = true;
    id.id = 32103705;
    ft_engine_evaluate(doc, &id, 0, &r);
    cr_expect(ft_str_eq_c(r.identity_key, "32103705"));
    id.key = FT_STR("explicit");
    ft_engine_evaluate(doc, &id, 0, &r);
    cr_expect(ft_str_eq_c(r.identity_key, "explicit"));
    ft_engine_evaluate(doc, NULL, 0, &r);
    cr_expect(r.identity_key.ptr == NULL);
    cr_expect(ft_str_eq_c(flag(&r, "f")->variant, "control")); /* no identity, no split */
    ft_engine_result_free(&r);

    /* with use_identity_composite_key_for_hashing, core hashes the composite key too */
    char json[256];
    snprintf(json, sizeof(json),
             "{\"api_key\": \"K\", \"use_identity_composite_key_for_hashing\": true, "
             "\"project\": {}, \"feature_states\": []}");
    ft_engine *e;
    cr_assert(load(json, NULL, &e) == FT_OK);
    ft_engine_result_init(&r);
    id = who("u1", NULL, 0);
    id.has_id = true;
    id.id = 5;
    ft_engine_evaluate(e, &id, 0, &r);
    cr_expect(ft_str_eq_c(r.identity_key, "K_u1"));
    ft_engine_result_free(&r);
    ft_engine_free(e);
}

Test(engine_eval, client_view_hides_server_key_only_features)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(doc, NULL, 0, &r);
    cr_expect(r.nflags == 2 && flag(&r, "secret"));
    ft_engine_evaluate(doc, NULL, FT_ENGINE_CLIENT_VIEW, &r);
    cr_expect(r.nflags == 1 && !flag(&r, "secret"));
    ft_engine_result_free(&r);
}

Test(engine_eval, hide_disabled_flags_environment_value_wins)
{
    const char *json = "{\"api_key\": \"K\", \"hide_disabled_flags\": true, \"project\": "
                       "{\"hide_disabled_flags\": false}, \"feature_states\": ["
                       "{\"feature\": {\"id\": 1, \"name\": \"off\"}, \"enabled\": false},"
                       "{\"feature\": {\"id\": 2, \"name\": \"on\"}, \"enabled\": true}]}";
    ft_engine *e;
    cr_assert(load(json, NULL, &e) == FT_OK);
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(e, NULL, 0, &r);
    cr_expect(r.nflags == 1 && flag(&r, "on"));
    ft_engine_evaluate(e, NULL, FT_ENGINE_ALL_FLAGS, &r);
    cr_expect(r.nflags == 2);
    ft_engine_result_free(&r);
    ft_engine_free(e);
}

Test(engine_eval, trait_coercion_as_the_api_types_traits)
{
    struct ft_arena a;
    ft_arena_init(&a, 0);
    struct ft_value v = {FT_VALUE_STRING, FT_STR("007")};
    cr_expect(ft_engine_trait_coerce(&v, &a) && v.type == FT_VALUE_INT && ft_str_eq_c(v.text, "7"));
    v = (struct ft_value){FT_VALUE_STRING, FT_STR("-1.50")};
    cr_expect(ft_engine_trait_coerce(&v, &a) && v.type == FT_VALUE_FLOAT &&
              ft_str_eq_c(v.text, "-1.5"));
    const char *kept[] = {"1e5", "1.", ".5", "1_000", " 1", "abc", "", "-", "true"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        v = (struct ft_value){FT_VALUE_STRING, ft_str_c(kept[i])};
        cr_expect_not(ft_engine_trait_coerce(&v, &a), "%s", kept[i]);
        cr_expect(v.type == FT_VALUE_STRING);
    }
    ft_arena_free(&a);
}

/* --- threads share one model --- */

struct worker {
    int n;
    int mismatches;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct ft_engine_result r, single;
    ft_engine_result_init(&r);
    ft_engine_result_init(&single);
    char name[32];
    for (int i = 0; i < w->n; i++) {
        snprintf(name, sizeof(name), "user-%d", i % 97);
        struct ft_engine_identity id = who(name, i % 2 ? pro : NULL, i % 2);
        ft_engine_evaluate(doc, &id, 0, &r);
        ft_engine_evaluate(doc, &id, 0, &single);
        const struct ft_engine_flag *a = flag(&r, "f"), *b = flag(&single, "f");
        if (!a || !b || !ft_str_eq(a->value.text, b->value.text) || a->source != b->source)
            w->mismatches++;
    }
    ft_engine_result_free(&r);
    ft_engine_result_free(&single);
    return NULL;
}

Test(engine_eval, threads_evaluate_one_model_concurrently)
{
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.n = 2000};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_expect(w[i].mismatches == 0);
    }
}
