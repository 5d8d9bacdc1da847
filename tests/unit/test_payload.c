/*
 * Unit tests of the webhook payload parser and emitter (src/webhook/payload.c).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "helpers.h"

#include <string.h>

static ft_json_doc *doc;
static struct ft_arena arena;
static struct ft_payload p;
static struct ft_payload_error err;

static void setup(void)
{
    doc = ft_json_doc_new(NULL);
    ft_arena_init(&arena, 0);
}

static void teardown(void)
{
    ft_arena_free(&arena);
    ft_json_doc_free(doc);
}

TestSuite(payload, .init = setup, .fini = teardown);

static int parse(const char *s)
{
    return ft_payload_parse(doc, s, strlen(s), &arena, &p, &err);
}

static void roundtrip_file(const char *name)
{
    size_t len;
    char *body = read_data(name, &len);
    cr_assert(eq(int, ft_payload_parse(doc, body, len, &arena, &p, &err), FT_OK), "%s: %s", name,
              err.detail);
    struct ft_buf out;
    ft_buf_init(&out, 0);
    cr_assert(eq(int, ft_payload_emit(&p, &out), FT_OK));
    cr_expect(eq(sz, out.len, len), "%s", name);
    cr_expect(memcmp(out.data, body, len) == 0, "%s:\n%s\n%s", name, out.data, body);
    ft_buf_free(&out);
    free(body);
}

Test(payload, flagsmith_bytes_roundtrip_exactly)
{
    roundtrip_file("webhook/seed_flagsmith_bytes.json");
    roundtrip_file("webhook/rich_flagsmith_bytes.json");
}

Test(payload, docs_example_emits_the_seed_bytes)
{
    size_t len, seed_len;
    char *body = read_data("webhook/seed_docs_example.json", &len);
    char *seed = read_data("webhook/seed_flagsmith_bytes.json", &seed_len);
    cr_assert(eq(int, ft_payload_parse(doc, body, len, &arena, &p, &err), FT_OK));
    struct ft_buf out;
    ft_buf_init(&out, 0);
    cr_assert(eq(int, ft_payload_emit(&p, &out), FT_OK));
    cr_expect(eq(str, out.data, seed));
    ft_buf_free(&out);
    free(body);
    free(seed);
}

Test(payload, rich_fixture_model)
{
    size_t len;
    char *body = read_data("webhook/rich_flagsmith_bytes.json", &len);
    cr_assert(eq(int, ft_payload_parse(doc, body, len, &arena, &p, &err), FT_OK));
    cr_expect(ft_str_eq_c(p.identity, "us\xc3\xa9r-42 \xf0\x9f\x9a\x80"));
    cr_assert(eq(sz, p.nflags, 4));
    cr_expect(ft_str_eq_c(p.flags[0].feature.name, "checkout_flow"));
    cr_expect(ft_str_eq_c(p.flags[0].feature.type, "MULTIVARIATE"));
    cr_expect(eq(int, p.flags[0].value.type, FT_VALUE_STRING));
    cr_expect(p.flags[0].has_percentage_allocation);
    cr_expect(ft_str_eq_c(p.flags[0].percentage_allocation.text, "33.3"));
    cr_expect(eq(int, p.flags[1].value.type, FT_VALUE_FLOAT));
    cr_expect(eq(i64, p.flags[1].feature_segment.value, 4411));
    cr_expect_not(p.flags[1].feature_segment.null);
    cr_expect(eq(int, p.flags[2].value.type, FT_VALUE_INT));
    cr_expect(ft_str_eq_c(p.flags[2].value.text, "9007199254740993"));
    cr_expect(eq(i64, p.flags[2].identity.value, 32102998));
    cr_expect(p.flags[3].feature.initial_value.ptr == NULL, "null initial_value");
    cr_expect(eq(int, p.flags[3].value.type, FT_VALUE_BOOL));
    cr_assert(eq(sz, p.ntraits, 5));
    cr_expect(p.traits[3].id.null);
    cr_expect(p.traits[3].transient);
    cr_expect(ft_str_eq_c(p.traits[3].value.text, "Z\xc3\xbcrich"));
    cr_expect(ft_str_eq_c(p.traits[2].value.text, "0.1"));
    cr_assert(eq(sz, p.nsegments, 2));
    cr_expect(p.segments[0].member);
    cr_expect_not(p.segments[1].member);
    free(body);
}

Test(payload, unknown_keys_are_ignored_everywhere)
{
    const char *s =
        "{\"identity\": \"u\", \"extra\": {\"x\": [1]}, \"flags\": [{\"enabled\": true, "
        "\"environment\": 1, \"feature\": {\"created_date\": \"d\", "
        "\"default_enabled\": true, \"description\": null, \"id\": 1, "
        "\"initial_value\": null, \"name\": \"f\", \"type\": \"STANDARD\", \"new\": 1}, "
        "\"feature_segment\": null, \"feature_state_value\": null, \"id\": 2, "
        "\"identity\": null, \"later\": true}], \"traits\": [{\"id\": 1, "
        "\"trait_key\": \"k\", \"trait_value\": 1, \"z\": 0}], \"segments\": "
        "[{\"id\": 1, \"name\": \"s\", \"member\": false, \"q\": null}]}";
    cr_expect(eq(int, parse(s), FT_OK), "%s", err.detail);
}

Test(payload, empty_lists_are_fine)
{
    cr_expect(
        eq(int, parse("{\"identity\":\"u\",\"flags\":[],\"traits\":[],\"segments\":[]}"), FT_OK));
    cr_expect(eq(sz, p.nflags + p.ntraits + p.nsegments, 0));
    struct ft_buf out;
    ft_buf_init(&out, 0);
    cr_assert(eq(int, ft_payload_emit(&p, &out), FT_OK));
    cr_expect(eq(str, out.data,
                 "{\"flags\": [], \"identity\": \"u\", \"segments\": [], \"traits\": []}"));
    ft_buf_free(&out);
}

static void expect_error(const char *s, int code, const char *detail)
{
    cr_expect(eq(int, parse(s), code), "for %s", s);
    cr_expect(eq(str, err.detail, (char *)detail), "for %s", s);
}

#define FEATURE                                                                    \
    "{\"created_date\": \"d\", \"default_enabled\": true, \"description\": null, " \
    "\"id\": 1, \"initial_value\": null, \"name\": \"f\", \"type\": \"STANDARD\"}"
#define FLAG(feature, rest)                                         \
    "{\"enabled\": true, \"environment\": 1, \"feature\": " feature \
    ", \"feature_segment\": null, \"feature_state_value\": null, "  \
    "\"id\": 2, \"identity\": null" rest "}"
#define BODY(flags) \
    "{\"identity\": \"u\", \"flags\": [" flags "], \"traits\": [], \"segments\": []}"

Test(payload, schema_errors_name_their_path)
{
    expect_error("[]", FT_EPAYLOAD, "expected a JSON object, got array");
    expect_error("\"x\"", FT_EPAYLOAD, "expected a JSON object, got string");
    expect_error("{}", FT_EPAYLOAD, "identity: required field missing");
    expect_error("{\"identity\": \"\", \"flags\": [], \"traits\": [], \"segments\": []}",
                 FT_EPAYLOAD, "identity: must not be empty");
    expect_error("{\"identity\": 5}", FT_EPAYLOAD, "identity: expected string, got number");
    expect_error("{\"identity\": \"u\", \"flags\": {}}", FT_EPAYLOAD,
                 "flags: expected array, got object");
    expect_error("{\"identity\": \"u\", \"flags\": []}", FT_EPAYLOAD,
                 "traits: required field missing");
    expect_error(BODY(FLAG(FEATURE, "") ", 3"), FT_EPAYLOAD,
                 "flags[1]: expected object, got number");
    expect_error(BODY(FLAG(FEATURE, "") ", " FLAG("{\"id\": 1, \"type\": \"STANDARD\"}", "")),
                 FT_EPAYLOAD, "flags[1].feature.name: required field missing");
    expect_error(BODY(FLAG("{\"id\": 1, \"name\": 7}", "")), FT_EPAYLOAD,
                 "flags[0].feature.name: expected string, got number");
    expect_error(BODY(FLAG("[]", "")), FT_EPAYLOAD, "flags[0].feature: expected object, got array");
    expect_error(BODY(FLAG(FEATURE, ", \"percentage_allocation\": \"50\"")), FT_EPAYLOAD,
                 "flags[0].percentage_allocation: expected number or null, got string");
    expect_error(
        "{\"identity\": \"u\", \"flags\": [], \"traits\": [{\"id\": 1.5}], \"segments\": []}",
        FT_EPAYLOAD, "traits[0].id: expected integer or null, got number");
    expect_error(
        "{\"identity\": \"u\", \"flags\": [], \"traits\": [{\"id\": 1, \"trait_key\": \"k\", "
        "\"trait_value\": [1]}], \"segments\": []}",
        FT_EPAYLOAD, "traits[0].trait_value: expected string, number, boolean or null, got array");
    expect_error(
        "{\"identity\": \"u\", \"flags\": [], \"traits\": [{\"id\": 1, \"trait_key\": \"k\", "
        "\"trait_value\": 1, \"transient\": \"no\"}], \"segments\": []}",
        FT_EPAYLOAD, "traits[0].transient: expected boolean, got string");
    expect_error("{\"identity\": \"u\", \"flags\": [], \"traits\": [], \"segments\": [{\"id\": 1, "
                 "\"name\": \"s\", \"member\": 1}]}",
                 FT_EPAYLOAD, "segments[0].member: expected boolean, got number");
    expect_error("{\"identity\": \"u\", \"flags\": [], \"traits\": [], \"segments\": [{\"id\": "
                 "99999999999999999999, \"name\": \"s\", \"member\": true}]}",
                 FT_EPAYLOAD, "segments[0].id: integer out of range");
}

/* A number a double cannot hold (PostgreSQL's double precision refuses it, no JSON writer can
 * print it) is refused at the door, not left to stall the loader later. */
Test(payload, numbers_a_double_cannot_hold_are_refused)
{
    expect_error(BODY(FLAG(FEATURE, ", \"percentage_allocation\": 1e999")), FT_EPAYLOAD,
                 "flags[0].percentage_allocation: number out of range");
    expect_error(BODY(FLAG(FEATURE, ", \"percentage_allocation\": -1e-400")), FT_EPAYLOAD,
                 "flags[0].percentage_allocation: number out of range");
    const char *trait = "{\"identity\": \"u\", \"flags\": [], \"traits\": [{\"id\": 1, "
                        "\"trait_key\": \"k\", \"trait_value\": %s}], \"segments\": []}";
    char body[1024], digits[401];
    memset(digits, '9', 400);
    digits[400] = '\0';
    snprintf(body, sizeof(body), trait, digits);
    expect_error(body, FT_EPAYLOAD, "traits[0].trait_value: number out of range");
    const char *fine[] = {"1e-310", "0e-999", "-0.0", "1.7976931348623157e308", "12345678901234567890"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        snprintf(body, sizeof(body), trait, fine[i]);
        cr_expect(eq(int, parse(body), FT_OK), "%s: %s", fine[i], err.detail);
    }
}

Test(payload, strings_with_u0000_are_refused_with_their_path)
{
    expect_error("{\"identity\": \"u\\u0000\", \"flags\": [], \"traits\": [], \"segments\": []}",
                 FT_EPAYLOAD, "identity: a string may not contain U+0000");
    expect_error(BODY(FLAG("{\"id\": 1, \"name\": \"f\\u0000\", \"type\": \"STANDARD\"}", "")),
                 FT_EPAYLOAD, "flags[0].feature.name: a string may not contain U+0000");
    expect_error(
        "{\"identity\": \"u\", \"flags\": [], \"traits\": [{\"id\": 1, \"trait_key\": \"k\", "
        "\"trait_value\": \"v\\u0000\"}], \"segments\": []}",
        FT_EPAYLOAD, "traits[0].trait_value: a string may not contain U+0000");
    cr_expect(eq(int, parse("{\"identity\": \"u\\\\u0000\", \"flags\": [], \"traits\": [], "
                            "\"segments\": []}"),
                 FT_OK),
              "an escaped backslash before u0000 is text: %s", err.detail);
}

Test(payload, json_errors_carry_offset_and_path)
{
    expect_error("{\"identity\": \"u\", \"flags\": [1,]}", FT_EJSON,
                 "trailing comma at byte 30 in flags[0]");
    expect_error("{\"identity\": \"\xff\"}", FT_EJSON, "invalid UTF-8 at byte 14 in identity");
    expect_error("{} x", FT_EJSON, "unexpected data after the value at byte 3");
}

Test(payload, values_keep_type_and_text)
{
    const char *s = BODY(FLAG(FEATURE, "") ", " FLAG(FEATURE, ""));
    cr_assert(eq(int, parse(s), FT_OK), "%s", err.detail);
    cr_expect(eq(int, p.flags[0].value.type, FT_VALUE_NULL));
    cr_expect_not(p.flags[0].has_percentage_allocation);
    /* regression: an absent percentage_allocation was left uninitialized */
    cr_expect(eq(int, p.flags[0].percentage_allocation.type, FT_VALUE_NULL));
    cr_expect(eq(sz, p.flags[0].percentage_allocation.text.len, 0));
    cr_expect(eq(str, (char *)ft_value_type_name(FT_VALUE_FLOAT), "float"));
}

Test(payload, emit_normalizes_numbers_like_python)
{
    const char *s = BODY(FLAG(FEATURE, ", \"percentage_allocation\": 5E1") ", " FLAG(
        FEATURE, ", \"percentage_allocation\": -0"));
    cr_assert(eq(int, parse(s), FT_OK), "%s", err.detail);
    struct ft_buf out;
    ft_buf_init(&out, 0);
    cr_assert(eq(int, ft_payload_emit(&p, &out), FT_OK));
    cr_expect(strstr(out.data, "\"percentage_allocation\": 50.0}") != NULL, "%s", out.data);
    cr_expect(strstr(out.data, "\"percentage_allocation\": 0}") != NULL, "%s", out.data);
    ft_buf_free(&out);
}

Test(payload, emit_fails_cleanly_at_the_buffer_limit)
{
    size_t len;
    char *body = read_data("webhook/rich_flagsmith_bytes.json", &len);
    cr_assert(eq(int, ft_payload_parse(doc, body, len, &arena, &p, &err), FT_OK));
    for (size_t limit = 1; limit < len; limit += 97) {
        struct ft_buf out;
        ft_buf_init(&out, limit);
        cr_expect(eq(int, ft_payload_emit(&p, &out), FT_ETOOBIG), "limit %zu", limit);
        cr_expect(out.len <= limit);
        ft_buf_free(&out);
    }
    free(body);
}

/* A feature's object kept as text (serve prints each once per document) is what emit copies;
 * a parsed payload keeps none, even in arena memory a previous request dirtied. */
Test(payload, a_kept_feature_text_is_emitted_and_parsing_keeps_none)
{
    memset(ft_arena_alloc(&arena, 1 << 16), 0xAA, 1 << 16);
    ft_arena_reset(&arena);
    size_t len;
    char *body = read_data("webhook/rich_flagsmith_bytes.json", &len);
    cr_assert(eq(int, ft_payload_parse(doc, body, len, &arena, &p, &err), FT_OK), "%s", err.detail);
    cr_assert(p.nflags >= 2);
    struct ft_buf texts, out;
    ft_buf_init(&texts, 0);
    ft_buf_init(&out, 0);
    size_t *ends = ft_xmalloc(sizeof(*ends) * p.nflags);
    for (size_t i = 0; i < p.nflags; i++) {
        cr_expect(p.flags[i].feature.json.ptr == NULL, "flag %zu", i);
        cr_assert(eq(int, ft_payload_emit_feature(&p.flags[i].feature, &texts), FT_OK));
        ends[i] = texts.len;
    }
    for (size_t i = 0; i < p.nflags; i++) {
        size_t start = i ? ends[i - 1] : 0;
        p.flags[i].feature.json = (struct ft_str){texts.data + start, ends[i] - start};
        p.flags[i].feature.name = FT_STR("not what the text says");
    }
    cr_assert(eq(int, ft_payload_emit(&p, &out), FT_OK));
    cr_expect(eq(sz, out.len, len));
    cr_expect(memcmp(out.data, body, len) == 0, "%s", out.data);
    free(ends);
    ft_buf_free(&texts);
    ft_buf_free(&out);
    free(body);
}
