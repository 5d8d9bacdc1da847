/*
 * Unit tests of the identify call's body (src/serve/request.c) against Flagsmith's serializers:
 * the identifier as a DRF CharField (stripped, numbers as text, blank means none), the name
 * get_transient_identifier gives an identity sent without one (expected digests computed with
 * Python's hashlib), DRF's BooleanField words, and TraitValueField's 2000 characters.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "serve/request.h"

#include <stdio.h>
#include <string.h>

static ft_json_doc *doc;
static struct ft_arena arena;

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

TestSuite(serve_request, .init = setup, .fini = teardown);

static int read_body(const char *body, struct ft_identify *call, struct ft_request_error *err)
{
    return ft__serve_read_identify(doc, body, strlen(body), &arena, call, err);
}

/* Reads a body that must be accepted. */
static struct ft_identify accepted(const char *body)
{
    struct ft_identify call;
    struct ft_request_error err;
    int rc = read_body(body, &call, &err);
    cr_assert_eq(rc, FT_OK, "%s: %s: %s", body, err.field ? err.field : "-", err.message);
    return call;
}

/* Reads a body that must be refused with `message` on `field`. */
static void refused(const char *body, const char *field, const char *message)
{
    struct ft_identify call;
    struct ft_request_error err;
    cr_assert_eq(read_body(body, &call, &err), FT_EINVAL, "%s", body);
    cr_expect_str_eq(err.field, field, "%s", body);
    cr_expect_str_eq(err.message, message, "%s", body);
}

static bool identifier_is(const struct ft_identify *call, const char *want)
{
    return call->identifier.len == strlen(want) &&
           memcmp(call->identifier.ptr, want, call->identifier.len) == 0;
}

static bool is_uuid4_hex(struct ft_str s)
{
    if (s.len != 32) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!strchr("0123456789abcdef", s.ptr[i])) return false;
    return s.ptr[12] == '4' && strchr("89ab", s.ptr[16]) != NULL;
}

Test(serve_request, the_identifier_is_stripped_and_a_number_is_its_text)
{
    struct ft_identify c = accepted("{\"identifier\": \" \\t\\u00a0bob\\u3000\\n\"}");
    cr_expect(identifier_is(&c, "bob") && !c.anonymous);
    c = accepted("{\"identifier\": \"\\u200bbob\"}"); /* U+200B is no space to Python */
    cr_expect(identifier_is(&c, "\xe2\x80\x8b" "bob"));
    c = accepted("{\"identifier\": 5}");
    cr_expect(identifier_is(&c, "5"));
    c = accepted("{\"identifier\": -0}");
    cr_expect(identifier_is(&c, "0"));
    c = accepted("{\"identifier\": 1e16}");
    cr_expect(identifier_is(&c, "1e+16"));
    c = accepted("{\"identifier\": 2.50}");
    cr_expect(identifier_is(&c, "2.5"));
    refused("{\"identifier\": true}", "identifier", "Not a valid string.");
    refused("{\"identifier\": {}}", "identifier", "Not a valid string.");
    refused("{\"identifier\": \"a\\u0000\"}", "identifier", FT_NUL_MESSAGE);
}

Test(serve_request, no_identifier_names_the_identity_by_its_traits)
{
    /* hashlib.sha256(("ax" "a1e+16" "b1.5" "cTrue").encode()).hexdigest(): sorted by key,
     * stably, values as str() prints them, null values left out */
    const char *want = "4616081b9434b6f9ac14bdc967fd0e0a60332b7cdecd14579aa768a818fab3e6";
    const char *traits = "\"traits\": [{\"trait_key\": \"b\", \"trait_value\": 1.50},"
                         "{\"trait_key\": \"a\", \"trait_value\": \"x\"},"
                         "{\"trait_key\": \"c\", \"trait_value\": true},"
                         "{\"trait_key\": \"d\", \"trait_value\": null},"
                         "{\"trait_key\": \" a \", \"trait_value\": 1e16}]";
    const char *forms[] = {"{%s}", "{\"identifier\": null, %s}", "{\"identifier\": \"\", %s}",
                           "{\"identifier\": \" \\r\\n\", %s}"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body), forms[i], traits);
        struct ft_identify c = accepted(body);
        cr_expect(c.anonymous && identifier_is(&c, want), "%s", body);
        cr_expect_eq(c.ntraits, 5);
    }
    /* only null values: the digest of nothing */
    struct ft_identify c =
        accepted("{\"traits\": [{\"trait_key\": \"k\", \"trait_value\": null}]}");
    const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    cr_expect(identifier_is(&c, empty));
    /* non-ASCII keys and values are hashed as their UTF-8, big integers exactly */
    c = accepted("{\"traits\": [{\"trait_key\": \"k\", \"trait_value\": 42},"
                 "{\"trait_key\": \"Zo\\u00eb\", \"trait_value\": \"\\ud83d\\ude80\"}]}");
    const char *utf8 = "6268c0e7dfbd21056bcf0f4462034479f6029cc9f725f6935eb695da5caaa118";
    cr_expect(identifier_is(&c, utf8));
}

Test(serve_request, no_identifier_and_no_traits_is_a_random_uuid4)
{
    struct ft_identify a = accepted("{}");
    struct ft_identify b = accepted("{\"identifier\": null, \"traits\": []}");
    struct ft_identify c = accepted("{\"identifier\": \"\", \"traits\": null}");
    cr_expect(a.anonymous && b.anonymous && c.anonymous);
    cr_expect(is_uuid4_hex(a.identifier) && is_uuid4_hex(b.identifier) &&
              is_uuid4_hex(c.identifier));
    bool differ = !ft_str_eq(a.identifier, b.identifier) && !ft_str_eq(b.identifier, c.identifier);
    cr_expect(differ, "random each time");
}

Test(serve_request, transient_takes_drf_booleanfield_words)
{
    const char *yes[] = {"true", "\"true\"", "\"TRUE\"", "\"t\"", "\"Y\"", "\"yes\"", "\"Yes\"",
                         "\"on\"", "\"1\"", "1", "1.0", "1e0"};
    const char *no[] = {"false", "\"False\"", "\"f\"", "\"n\"", "\"NO\"", "\"off\"", "\"0\"",
                        "0", "0.0", "-0.0"};
    char body[256];
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"identifier\": \"u\", \"transient\": %s, \"traits\": "
                 "[{\"trait_key\": \"k\", \"trait_value\": 1, \"transient\": %s}]}",
                 yes[i], yes[i]);
        struct ft_identify c = accepted(body);
        cr_expect(c.transient && c.traits[0].transient, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"identifier\": \"u\", \"transient\": %s, \"traits\": "
                 "[{\"trait_key\": \"k\", \"trait_value\": 1, \"transient\": %s}]}",
                 no[i], no[i]);
        struct ft_identify c = accepted(body);
        bool off = !c.transient && !c.traits[0].transient;
        cr_expect(off, "%s", no[i]);
    }
    const char *invalid[] = {"\"maybe\"", "\"\"", "\"null\"", "2", "0.5", "[]", "{}"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        snprintf(body, sizeof(body), "{\"identifier\": \"u\", \"transient\": %s}", invalid[i]);
        refused(body, "transient", "Must be a valid boolean.");
        snprintf(body, sizeof(body),
                 "{\"identifier\": \"u\", \"traits\": [{\"trait_key\": \"k\", \"trait_value\": 1, \"transient\": %s}]}",
                 invalid[i]);
        refused(body, "traits", "transient must be a boolean.");
    }
    refused("{\"identifier\": \"u\", \"transient\": null}", "transient",
            "This field may not be null.");
}

Test(serve_request, trait_strings_take_2000_characters_and_keys_are_stripped)
{
    char body[9000];
    char value[4200];
    for (int i = 0; i < 2000; i++)
        memcpy(value + 2 * i, "\xc3\xa9", 2); /* 2000 characters, 4000 bytes */
    value[4000] = '\0';
    snprintf(body, sizeof(body),
             "{\"identifier\": \"u\", \"traits\": [{\"trait_key\": \" k\\t\", \"trait_value\": "
             "\"%s\"}]}",
             value);
    struct ft_identify c = accepted(body);
    cr_expect(c.traits[0].key.len == 1 && c.traits[0].key.ptr[0] == 'k');
    cr_expect_eq(c.traits[0].value.text.len, 4000);
    memset(value, 'x', 2001);
    value[2001] = '\0';
    snprintf(body, sizeof(body),
             "{\"identifier\": \"u\", \"traits\": "
             "[{\"trait_key\": \"k\", \"trait_value\": \"%s\"}]}",
             value);
    refused(body, "traits", FT_TRAIT_STRING_MESSAGE);
    refused("{\"identifier\": \"u\", \"traits\": [{\"trait_key\": \" \", \"trait_value\": 1}]}",
            "traits", "A trait_key must have 1 to 200 characters.");
}
