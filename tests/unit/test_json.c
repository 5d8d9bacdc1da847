/*
 * Unit tests of the JSON reader and writer (src/base/json.c, src/base/json_write.c).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "helpers.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static ft_json_doc *doc;

static void setup(void)
{
    doc = ft_json_doc_new(NULL);
}

static void teardown(void)
{
    ft_json_doc_free(doc);
}

TestSuite(json, .init = setup, .fini = teardown);

static int parse(const char *s)
{
    return ft_json_parse(doc, s, strlen(s), NULL);
}

static void expect_reject(const char *s, int code, const char *message)
{
    struct ft_json_error err;
    int rc = ft_json_parse(doc, s, strlen(s), &err);
    cr_expect(eq(int, rc, code), "input %s", s);
    cr_expect(eq(str, err.message, (char *)message), "input %s", s);
    cr_expect(ft_json_root(doc) == NULL);
}

/* --- accepted --- */

Test(json, scalars_at_top_level)
{
    cr_assert(eq(int, parse("null"), FT_OK));
    cr_expect(eq(int, ft_json_root(doc)->type, FT_JSON_NULL));
    cr_assert(eq(int, parse(" true "), FT_OK));
    cr_expect(eq(int, ft_json_root(doc)->type, FT_JSON_TRUE));
    cr_assert(eq(int, parse("\t\r\nfalse\n"), FT_OK));
    cr_expect(eq(int, ft_json_root(doc)->type, FT_JSON_FALSE));
    cr_assert(eq(int, parse("\"x\""), FT_OK));
    cr_expect(eq(int, ft_json_root(doc)->type, FT_JSON_STRING));
    cr_assert(eq(int, parse("-0.5e+3"), FT_OK));
    cr_expect(eq(int, ft_json_root(doc)->type, FT_JSON_NUMBER));
}

Test(json, object_navigation)
{
    const char *s = "{\"a\": [1, {\"b\": null}, \"c\"], \"d\": {}, \"e\": []}";
    cr_assert(eq(int, parse(s), FT_OK));
    const struct ft_json *root = ft_json_root(doc);
    cr_expect(eq(u32, root->len, 3));
    cr_expect(eq(u32, root->span, 12));
    const struct ft_json *a = ft_json_get(doc, root, "a");
    cr_assert(a != NULL);
    cr_expect(eq(int, a->type, FT_JSON_ARRAY));
    cr_expect(eq(u32, a->len, 3));
    const struct ft_json *e;
    int i = 0, types[3];
    FT_JSON_EACH(e, a) types[i++] = e->type;
    cr_expect(eq(int, i, 3));
    cr_expect(eq(int, types[0], FT_JSON_NUMBER));
    cr_expect(eq(int, types[1], FT_JSON_OBJECT));
    cr_expect(eq(int, types[2], FT_JSON_STRING));
    cr_expect(eq(u32, ft_json_get(doc, root, "d")->len, 0));
    cr_expect(eq(int, ft_json_get(doc, root, "e")->type, FT_JSON_ARRAY));
    cr_expect(ft_json_get(doc, root, "zz") == NULL);
    cr_expect(ft_json_get(doc, a, "a") == NULL, "get on an array finds nothing");
}

Test(json, repeated_key_keeps_the_last)
{
    cr_assert(eq(int, parse("{\"k\": 1, \"k\": 2}"), FT_OK));
    int64_t v = 0;
    cr_assert(ft_json_int64(doc, ft_json_get(doc, ft_json_root(doc), "k"), &v));
    cr_expect(eq(i64, v, 2));
}

Test(json, escaped_keys_are_matched_decoded)
{
    cr_assert(eq(int, parse("{\"n\\u0061me\": \"x\"}"), FT_OK));
    cr_expect(ft_json_get(doc, ft_json_root(doc), "name") != NULL);
}

Test(json, strings_holding_u0000_are_flagged)
{
    /* "\u0000" decodes to NUL; "\\u0000" is a backslash and text; "\u0001" is not NUL */
    const char *s = "[\"a\\u0000b\", \"a\\\\u0000b\", \"\\u0001\", \"x\\n\\u0000\", 0]";
    cr_assert(eq(int, parse(s), FT_OK));
    const struct ft_json *e = ft_json_root(doc) + 1;
    bool want[] = {true, false, false, true, false};
    for (size_t i = 0; i < 5; i++, e += e->span)
        cr_expect(eq(int, has_bit(e->flags, FT_JSON_NUL), want[i]), "element %zu", i);
    struct ft_str v = ft_json_str(doc, ft_json_root(doc) + 1);
    cr_expect(eq(sz, v.len, 3));
    cr_expect(memcmp(v.ptr, "a\0b", 3) == 0, "the string itself is kept, NUL included");
}

static void expect_text(const struct ft_json *v, const char *want)
{
    struct ft_str t = ft_json_text(doc, v);
    cr_expect(eq(sz, t.len, strlen(want)), "%.*s / %s", (int)t.len, t.ptr, want);
    cr_expect(t.len == strlen(want) && memcmp(t.ptr, want, t.len) == 0, "%.*s / %s", (int)t.len,
              t.ptr, want);
}

Test(json, a_value_text_runs_through_its_last_token)
{
    const char *s = "{\"s\": \"a\\\"b\" , \"n\": -1.5e3 , \"t\": true, \"e\": [ ],"
                    " \"l\": [1, {\"k\": []} ] , \"o\": {\"x\": \"y\"}  }";
    cr_assert(eq(int, parse(s), FT_OK));
    const struct ft_json *root = ft_json_root(doc);
    expect_text(ft_json_get(doc, root, "s"), "\"a\\\"b\"");
    expect_text(ft_json_get(doc, root, "n"), "-1.5e3");
    expect_text(ft_json_get(doc, root, "t"), "true");
    expect_text(ft_json_get(doc, root, "e"), "[");
    expect_text(ft_json_get(doc, root, "l"), "[1, {\"k\": [");
    expect_text(ft_json_get(doc, root, "o"), "{\"x\": \"y\"");
    expect_text(root, "{\"s\": \"a\\\"b\" , \"n\": -1.5e3 , \"t\": true, \"e\": [ ], \"l\": [1, "
                      "{\"k\": []} ] , \"o\": {\"x\": \"y\"");
}

Test(json, strings_zero_copy_and_decoded)
{
    const char *s =
        "[\"plain\", \"tab\\tq\\\"\\\\\\/\", \"\\u00e9\\ud83d\\ude80\", \"caf\xc3\xa9\"]";
    cr_assert(eq(int, parse(s), FT_OK));
    const struct ft_json *e = ft_json_root(doc) + 1;
    struct ft_str v = ft_json_str(doc, e);
    cr_expect(v.ptr == s + 2, "an unescaped string points into the input");
    cr_expect(eq(int, (int)v.len, 5));
    e += e->span;
    cr_expect(has_bit(e->flags, FT_JSON_ESCAPED));
    v = ft_json_str(doc, e);
    cr_expect(eq(int, (int)v.len, 8));
    cr_expect(memcmp(v.ptr, "tab\tq\"\\/", 8) == 0);
    e += e->span;
    v = ft_json_str(doc, e);
    cr_expect(eq(int, (int)v.len, 6));
    cr_expect(memcmp(v.ptr, "\xc3\xa9\xf0\x9f\x9a\x80", 6) == 0);
    e += e->span;
    cr_expect(ft_json_str_eq(doc, e, "caf\xc3\xa9"));
}

Test(json, numbers_keep_their_text)
{
    cr_assert(eq(int, parse("[9007199254740993, 0.1, 1e+16, -0, 123456789012345678901234567890]"),
                 FT_OK));
    const struct ft_json *e = ft_json_root(doc) + 1;
    int64_t i;
    cr_assert(ft_json_int64(doc, e, &i));
    cr_expect(eq(i64, i, 9007199254740993LL));
    struct ft_str raw = ft_json_raw(doc, e);
    cr_expect(raw.len == 16 && memcmp(raw.ptr, "9007199254740993", 16) == 0);
    e++;
    cr_expect_not(has_bit(e->flags, FT_JSON_INTEGER));
    cr_expect_not(ft_json_int64(doc, e, &i), "0.1 is not an integer");
    double d;
    cr_assert(ft_json_double(doc, e, &d));
    cr_expect(eq(dbl, d, 0.1));
    e++;
    cr_expect(ft_json_double(doc, e, &d) && d == 1e16);
    e++;
    cr_expect(ft_json_int64(doc, e, &i) && i == 0);
    e++;
    cr_expect(has_bit(e->flags, FT_JSON_INTEGER));
    cr_expect_not(ft_json_int64(doc, e, &i), "too large for int64");
    raw = ft_json_raw(doc, e);
    cr_expect(eq(int, (int)raw.len, 30));
}

Test(json, int64_limits)
{
    int64_t v;
    cr_assert(
        eq(int, parse("[9223372036854775807, -9223372036854775808, 9223372036854775808]"), FT_OK));
    const struct ft_json *e = ft_json_root(doc) + 1;
    cr_expect(ft_json_int64(doc, e, &v) && v == INT64_MAX);
    cr_expect(ft_json_int64(doc, e + 1, &v) && v == INT64_MIN);
    cr_expect_not(ft_json_int64(doc, e + 2, &v));
}

Test(json, document_is_reusable)
{
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, parse("{\"a\": [1, 2, 3]}"), FT_OK));
        cr_expect(eq(u32, ft_json_root(doc)->span, 6));
        cr_assert(eq(int, parse("[[[]]]"), FT_OK));
        cr_expect(eq(u32, ft_json_root(doc)->span, 3));
    }
}

Test(json, large_documents_grow_the_node_array)
{
    enum { N = 100000 };
    char *s = malloc(N * 2 + 2);
    s[0] = '[';
    for (int i = 0; i < N; i++) {
        s[1 + 2 * i] = '1';
        s[2 + 2 * i] = ',';
    }
    s[N * 2] = ']';
    s[N * 2 + 1] = '\0';
    cr_assert(eq(int, parse(s), FT_OK));
    cr_expect(eq(u32, ft_json_root(doc)->len, N));
    free(s);
}

/* --- rejected --- */

Test(json, rejects_what_rfc8259_rejects)
{
    expect_reject("", FT_EJSON, "unexpected end of input");
    expect_reject("   ", FT_EJSON, "unexpected end of input");
    expect_reject("[1,]", FT_EJSON, "trailing comma");
    expect_reject("{\"a\":1,}", FT_EJSON, "trailing comma");
    expect_reject("[01]", FT_EJSON, "leading zero in number");
    expect_reject("-01", FT_EJSON, "leading zero in number");
    expect_reject("1.", FT_EJSON, "digit expected after '.'");
    expect_reject(".5", FT_EJSON, "invalid literal");
    expect_reject("1e", FT_EJSON, "digit expected in exponent");
    expect_reject("+1", FT_EJSON, "invalid literal");
    expect_reject("-", FT_EJSON, "invalid number");
    expect_reject("NaN", FT_EJSON, "NaN and Infinity are not JSON");
    expect_reject("[Infinity]", FT_EJSON, "NaN and Infinity are not JSON");
    expect_reject("[-Infinity]", FT_EJSON, "invalid number");
    expect_reject("tru", FT_EJSON, "invalid literal");
    expect_reject("nul", FT_EJSON, "invalid literal");
    expect_reject("{} {}", FT_EJSON, "unexpected data after the value");
    expect_reject("1 2", FT_EJSON, "unexpected data after the value");
    expect_reject("{\"a\" 1}", FT_EJSON, "expected ':'");
    expect_reject("{1: 1}", FT_EJSON, "expected a string key");
    expect_reject("[1 2]", FT_EJSON, "expected ',' or ']'");
    expect_reject("{\"a\":1 \"b\":2}", FT_EJSON, "expected ',' or '}'");
    expect_reject("[", FT_EJSON, "unexpected end of input");
    expect_reject("{\"a\":", FT_EJSON, "unexpected end of input");
    expect_reject("\"abc", FT_EJSON, "unterminated string");
    expect_reject("\"\\", FT_EJSON, "unterminated string");
    expect_reject("'single'", FT_EJSON, "invalid literal");
    expect_reject("\xef\xbb\xbf{}", FT_EJSON, "invalid literal");
}

Test(json, rejects_bad_strings)
{
    expect_reject("\"a\\x\"", FT_EJSON, "invalid escape");
    expect_reject("\"\\u12\"", FT_EJSON, "invalid \\u escape");
    expect_reject("\"\\u12G4\"", FT_EJSON, "invalid \\u escape");
    expect_reject("\"\\ud800\"", FT_EJSON, "lone high surrogate");
    expect_reject("\"\\ud800\\u0041\"", FT_EJSON, "lone high surrogate");
    expect_reject("\"\\udc00\"", FT_EJSON, "lone low surrogate");
    expect_reject("\"a\tb\"", FT_EJSON, "control character in string");
    expect_reject("\"a\nb\"", FT_EJSON, "control character in string");
}

Test(json, rejects_invalid_utf8)
{
    static const char *const bad[] = {
        "\"\x80\"",             /* lone continuation byte */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xc1\xbf\"",         /* overlong */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xed\xa0\x80\"",     /* UTF-8 encoded surrogate U+D800 */
        "\"\xf0\x80\x80\xaf\"", /* overlong 4-byte */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"", /* invalid lead byte */
        "\"\xff\"",
        "\"\xc3\"",     /* truncated */
        "\"\xe2\x82\"", /* truncated */
        "\"\xc3\x28\"", /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(bad[i], FT_EJSON, "invalid UTF-8");
    /* and the valid extremes */
    cr_expect(eq(
        int, parse("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""),
        FT_OK));
}

Test(json, invalid_utf8_found_after_sixteen_clean_bytes)
{
    /* the vectorized scan must hand over to the validator at any offset */
    char s[64];
    for (int pos = 0; pos < 40; pos++) {
        memset(s, 'a', sizeof(s));
        s[0] = '"';
        s[1 + pos] = (char)0xff;
        s[50] = '"';
        s[51] = '\0';
        struct ft_json_error err;
        cr_expect(eq(int, ft_json_parse(doc, s, 51, &err), FT_EJSON), "pos %d", pos);
        cr_expect(eq(sz, err.offset, (size_t)(1 + pos)), "pos %d", pos);
    }
}

Test(json, depth_limit)
{
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    expect_reject(deep, FT_EDEPTH, "nesting deeper than 64");
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    cr_expect(eq(int, parse(deep), FT_OK), "exactly 64 levels are allowed");
}

Test(json, nesting_ten_thousand_deep_fails_quickly)
{
    enum { N = 10000 };
    char *s = malloc(N + 1);
    memset(s, '[', N);
    s[N] = '\0';
    expect_reject(s, FT_EDEPTH, "nesting deeper than 64");
    free(s);
}

Test(json, size_and_node_limits)
{
    struct ft_json_limits lim = {.max_size = 8, .max_depth = 4, .max_nodes = 3};
    ft_json_doc *small = ft_json_doc_new(&lim);
    struct ft_json_error err;
    cr_expect(eq(int, ft_json_parse(small, "[1,2,3,4,5]", 11, &err), FT_ETOOBIG));
    cr_expect(eq(str, err.message, "input larger than 8 bytes"));
    cr_expect(eq(int, ft_json_parse(small, "[1,2]", 5, &err), FT_OK));
    cr_expect(eq(int, ft_json_parse(small, "[1,2,3]", 7, &err), FT_ETOOBIG));
    cr_expect(eq(str, err.message, "too many values"));
    ft_json_doc_free(small);
}

Test(json, error_offset_and_path)
{
    const char *s =
        "{\"flags\": [{\"feature\": {\"name\": \"ok\"}}, {\"feature\": {\"name\": tru}}]}";
    struct ft_json_error err;
    cr_assert(eq(int, ft_json_parse(doc, s, strlen(s), &err), FT_EJSON));
    cr_expect(eq(str, err.path, "flags[1].feature.name"));
    cr_expect(eq(sz, err.offset, (size_t)(strstr(s, "tru}") - s)));
    cr_assert(eq(int, ft_json_parse(doc, "[[1, 2], [3, x]]", 16, &err), FT_EJSON));
    cr_expect(eq(str, err.path, "[1][1]"));
}

/* --- writer --- */

static char *dump(const char *s)
{
    static struct ft_buf out;
    ft_buf_free(&out);
    ft_buf_init(&out, 0);
    if (parse(s) != FT_OK) return NULL;
    cr_assert(eq(int, ft_json_write_value(&out, doc, ft_json_root(doc)), FT_OK));
    return out.data;
}

Test(json, writer_matches_python_json_dumps)
{
    cr_expect(eq(str, dump("{\"b\":1,\"a\":[true,false,null],\"c\":{}}"),
                 "{\"a\": [true, false, null], \"b\": 1, \"c\": {}}"));
    cr_expect(eq(str, dump("[]"), "[]"));
    cr_expect(eq(str, dump("\"\\u00e9\xc3\xa9\\ud83d\\ude80\xf0\x9f\x9a\x80\""),
                 "\"\\u00e9\\u00e9\\ud83d\\ude80\\ud83d\\ude80\""));
    cr_expect(eq(str, dump("\"\\u0000\\u001f\\u007f\\b\\f\\n\\r\\t\\/\\\"\\\\\""),
                 "\"\\u0000\\u001f\\u007f\\b\\f\\n\\r\\t/\\\"\\\\\""));
    cr_expect(eq(str, dump("{\"k\":1,\"k\":2}"), "{\"k\": 2}"));
    /* keys sort by code point: "Z" < "a" < "\u00e9" < "\ud83d\ude80" */
    cr_expect(eq(str, dump("{\"\xf0\x9f\x9a\x80\":4,\"\xc3\xa9\":3,\"a\":2,\"Z\":1}"),
                 "{\"Z\": 1, \"a\": 2, \"\\u00e9\": 3, \"\\ud83d\\ude80\": 4}"));
}

Test(json, writer_numbers_as_python)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"0", "0"},
        {"-0", "0"},
        {"9007199254740993", "9007199254740993"},
        {"0.1", "0.1"},
        {"1.0", "1.0"},
        {"1e16", "1e+16"},
        {"1E+16", "1e+16"},
        {"1e15", "1000000000000000.0"},
        {"0.00001", "1e-05"},
        {"0.0001", "0.0001"},
        {"-0.0", "-0.0"},
        {"12.34", "12.34"},
        {"1.25", "1.25"},
        {"2.5e-7", "2.5e-07"},
        {"123456789012345678.0", "1.2345678901234568e+17"},
        {"1e400", "Infinity"},
        {"-1e400", "-Infinity"},
        {"1e-400", "0.0"},
        {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"33.3", "33.3"},
        {"100.0", "100.0"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"2.2250738585072014e-308", "2.2250738585072014e-308"},
        {"9007199254740993.0", "9007199254740992.0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ft_buf out;
        ft_buf_init(&out, 0);
        cr_assert(eq(int, ft_json_write_number(&out, ft_str_c(cases[i].in)), FT_OK));
        cr_expect(eq(str, out.data, (char *)cases[i].out), "for %s", cases[i].in);
        ft_buf_free(&out);
    }
}

Test(json, writer_prints_integers_at_their_limits)
{
    const struct {
        int64_t in;
        const char *out;
    } cases[] = {{0, "0"},   {7, "7"},       {-7, "-7"},       {10, "10"},
                 {-10, "-10"}, {1000000, "1000000"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ft_buf out;
        ft_buf_init(&out, 0);
        cr_assert(eq(int, ft_json_write_int(&out, cases[i].in), FT_OK));
        cr_expect(eq(str, out.data, (char *)cases[i].out));
        ft_buf_free(&out);
    }
}

Test(json, writer_rejects_non_numbers)
{
    struct ft_buf out;
    ft_buf_init(&out, 0);
    cr_expect(eq(int, ft_json_write_number(&out, ft_str_c("1.")), FT_EINVAL));
    cr_expect(eq(int, ft_json_write_number(&out, ft_str_c("abc")), FT_EINVAL));
    cr_expect(eq(int, ft_json_write_number(&out, ft_str_c("")), FT_EINVAL));
    ft_buf_free(&out);
}

Test(json, writer_respects_the_buffer_limit)
{
    struct ft_buf out;
    ft_buf_init(&out, 8);
    cr_assert(eq(int, parse("[\"0123456789\"]"), FT_OK));
    cr_expect(eq(int, ft_json_write_value(&out, doc, ft_json_root(doc)), FT_ETOOBIG));
    cr_expect(out.len <= 8);
    ft_buf_free(&out);
}

Test(json, utf8_validation_follows_rfc_3629)
{
    cr_expect(ft_utf8_valid("plain ascii", 11));
    cr_expect(ft_utf8_valid("Z\xc3\xbcrich \xe2\x80\x94 \xf0\x9f\x98\x80", 16));
    cr_expect(not(ft_utf8_valid("\xff", 1)), "never a UTF-8 byte");
    cr_expect(not(ft_utf8_valid("\xc0\xaf", 2)), "overlong");
    cr_expect(not(ft_utf8_valid("\xed\xa0\x80", 3)), "a surrogate");
    cr_expect(not(ft_utf8_valid("\xf4\x90\x80\x80", 4)), "past U+10FFFF");
    cr_expect(not(ft_utf8_valid("ok\xe2\x80", 4)), "cut short");
}
