/*
 * Unit tests of the engine's operators (src/engine/condition.c, pyval.c, regex.c, jsonpath.c):
 * one segment with one condition, one identity, and the membership Flagsmith's Python engine
 * gives for it. Each expectation is what flag_engine computes (a Python expression in the
 * comment where it is not obvious).
 */
#include <criterion/criterion.h>

#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "helpers.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static unsigned last_warnings;

/*
 * Loads a context with the given traits (a JSON object) and one segment holding one condition;
 * returns whether the identity belongs to the segment. `value` is JSON text.
 */
static bool member(const char *traits, const char *op, const char *prop, const char *value)
{
    char json[8192];
    snprintf(
        json, sizeof(json),
        "{\"environment\": {\"key\": \"env\", \"name\": \"Env Name\"},"
        " \"identity\": {\"identifier\": \"user-1\", \"key\": \"env_user-1\", \"traits\": %s},"
        " \"segments\": {\"12345\": {\"key\": \"12345\", \"name\": \"s\", \"rules\": [{\"type\": "
        "\"ALL\", \"conditions\": [{\"operator\": \"%s\", \"property\": \"%s\", \"value\": "
        "%s}]}]}}}",
        traits, op, prop, value);
    ft_engine *e;
    struct ft_engine_error err;
    int rc = ft_engine_load_context(json, strlen(json), NULL, &e, &err);
    cr_assert(rc == FT_OK, "load failed: %s (%s)", err.detail, json);
    last_warnings = err.warnings;
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(e, ft_engine_context_identity(e), 0, &r);
    cr_assert(r.nsegments == 1);
    bool m = r.segments[0].member;
    ft_engine_result_free(&r);
    ft_engine_free(e);
    return m;
}

#define IN_(traits, op, prop, value) \
    cr_expect(member(traits, op, prop, value), "%s %s %s %s", traits, op, prop, value)
#define OUT(traits, op, prop, value) \
    cr_expect_not(member(traits, op, prop, value), "%s %s %s %s", traits, op, prop, value)

Test(engine_ops, equal_casts_the_condition_to_the_trait_type)
{
    IN_("{\"a\": 5}", "EQUAL", "a", "\"5\"");
    IN_("{\"a\": 5}", "EQUAL", "a", "\" 5 \"");   /* int(" 5 ") == 5 */
    IN_("{\"a\": 15}", "EQUAL", "a", "\"1_5\"");  /* int("1_5") == 15 */
    OUT("{\"a\": 5}", "EQUAL", "a", "\"5.0\"");   /* int("5.0") raises */
    OUT("{\"a\": 5}", "NOT_EQUAL", "a", "\"x\""); /* a failed cast is a non-match */
    IN_("{\"a\": 5}", "NOT_EQUAL", "a", "\"6\"");
    IN_("{\"a\": \"5\"}", "EQUAL", "a", "\"5\"");
    OUT("{\"a\": \"5\"}", "EQUAL", "a", "\"5.0\""); /* strings compare as strings */
    IN_("{\"a\": 2.5}", "EQUAL", "a", "\"2.50\"");
    IN_("{\"a\": 2.0}", "EQUAL", "a", "\"2\"");
    OUT("{\"a\": null}", "EQUAL", "a", "\"None\"");
    OUT("{}", "EQUAL", "a", "\"x\"");
}

Test(engine_ops, integers_compare_exactly_at_any_size)
{
    IN_("{\"a\": 123456789012345678901234567890}", "EQUAL", "a",
        "\"123456789012345678901234567890\"");
    OUT("{\"a\": 123456789012345678901234567890}", "EQUAL", "a",
        "\"123456789012345678901234567891\"");
    IN_("{\"a\": 123456789012345678901234567890}", "LESS_THAN", "a",
        "\"123456789012345678901234567891\"");
    IN_("{\"a\": -5}", "LESS_THAN", "a", "\"-4\"");
    IN_("{\"a\": 0}", "EQUAL", "a", "\"-0\"");
    IN_("{\"a\": 9007199254740993}", "GREATER_THAN", "a", "\"9007199254740992\"");
}

Test(engine_ops, ordering_operators)
{
    IN_("{\"a\": 2}", "GREATER_THAN", "a", "\"1\"");
    OUT("{\"a\": 1}", "GREATER_THAN", "a", "\"1\"");
    IN_("{\"a\": 1}", "GREATER_THAN_INCLUSIVE", "a", "\"1\"");
    IN_("{\"a\": 1}", "LESS_THAN_INCLUSIVE", "a", "\"1\"");
    OUT("{\"a\": 1}", "LESS_THAN", "a", "\"1\"");
    IN_("{\"a\": 2.1}", "GREATER_THAN", "a", "\"2\"");
    IN_("{\"a\": 2.1}", "LESS_THAN", "a", "\"inf\""); /* float("inf") */
    IN_("{\"a\": 2.1}", "NOT_EQUAL", "a", "\"nan\""); /* nan != 2.1 */
    OUT("{\"a\": 2.1}", "GREATER_THAN", "a", "\"nan\"");
    IN_("{\"a\": \"b\"}", "GREATER_THAN", "a", "\"a\"");        /* str order */
    IN_("{\"a\": \"10\"}", "LESS_THAN", "a", "\"9\"");          /* "10" < "9" as strings */
    IN_("{\"a\": \"\xc3\xa9\"}", "GREATER_THAN", "a", "\"z\""); /* code points */
}

Test(engine_ops, booleans)
{
    IN_("{\"a\": true}", "EQUAL", "a", "\"true\"");
    IN_("{\"a\": true}", "EQUAL", "a", "\"1\""); /* "1" not in ("False", "false") */
    IN_("{\"a\": false}", "EQUAL", "a", "\"False\"");
    OUT("{\"a\": false}", "EQUAL", "a", "\"0\"");
    IN_("{\"a\": true}", "NOT_EQUAL", "a", "\"false\"");
    IN_("{\"a\": true}", "GREATER_THAN", "a", "\"false\""); /* True > False */
    OUT("{\"a\": 1}", "EQUAL", "a", "\"true\"");            /* int("true") raises */
    OUT("{\"a\": true}", "CONTAINS", "a", "\"t\"");
    IN_("{\"a\": true}", "EQUAL", "a", "\"x:semver\""); /* bool cast of any text but False */
}

Test(engine_ops, contains_and_not_contains)
{
    IN_("{\"a\": \"hello\"}", "CONTAINS", "a", "\"ell\"");
    IN_("{\"a\": \"hello\"}", "CONTAINS", "a", "\"\"");
    OUT("{\"a\": \"hello\"}", "CONTAINS", "a", "\"xyz\"");
    OUT("{\"a\": 123}", "CONTAINS", "a", "\"2\"");
    IN_("{\"a\": \"hello\"}", "NOT_CONTAINS", "a", "\"xyz\"");
    OUT("{\"a\": \"hello\"}", "NOT_CONTAINS", "a", "\"\"");
    OUT("{\"a\": 123}", "NOT_CONTAINS", "a", "\"9\""); /* strings only */
}

Test(engine_ops, regex_is_python_re_match)
{
    OUT("{\"a\": \"abc\"}", "REGEX", "a", "\"b\""); /* anchored at the start */
    IN_("{\"a\": \"bc\"}", "REGEX", "a", "\"b\"");
    IN_("{\"a\": \"abc\"}", "REGEX", "a", "\".*c\"");
    IN_("{\"a\": \"ABC\"}", "REGEX", "a", "\"(?i)abc\"");
    IN_("{\"a\": \"ab\"}", "REGEX", "a", "\"ab\\\\Z\"");
    OUT("{\"a\": \"ab\\n\"}", "REGEX", "a", "\"ab\\\\Z\""); /* \Z: the very end, in Python */
    IN_("{\"a\": \"ab\\n\"}", "REGEX", "a", "\"ab$\"");     /* $ before a final newline */
    IN_("{\"a\": \"\xc3\xa9\"}", "REGEX", "a", "\"\\\\u00e9\"");
    IN_("{\"a\": \"aab\"}", "REGEX", "a", "\"a{,2}b\"");
    OUT("{\"a\": \"aaab\"}", "REGEX", "a", "\"a{,2}b\"");
    IN_("{\"a\": \"tama\xc3\xb1o\"}", "REGEX", "a", "\"\\\\w+$\""); /* Unicode \w */
    IN_("{\"a\": \"\xd9\xa3\"}", "REGEX", "a", "\"\\\\d\"");        /* Arabic-Indic 3 */
    IN_("{\"a\": true}", "REGEX", "a", "\"True\"");                 /* str(True) */
    IN_("{\"a\": 1.0}", "REGEX", "a", "\"1\\\\.0$\"");              /* str(1.0) */
    IN_("{\"a\": 123}", "REGEX", "a", "\"\\\\d*[13579]$\"");
    OUT("{\"a\": null}", "REGEX", "a", "\"[a-z]\"");
}

Test(engine_ops, invalid_regex_never_matches_and_warns)
{
    OUT("{\"a\": \"(\"}", "REGEX", "a", "\"(\"");
    cr_expect(last_warnings == 1);
}

Test(engine_ops, catastrophic_regex_ends_as_a_non_match)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OUT("{\"a\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"}", "REGEX", "a", "\"(a+)+$\"");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect(s < 5.0, "took %.1f s", s); /* Python would take hours */
}

Test(engine_ops, modulo)
{
    IN_("{\"a\": 7}", "MODULO", "a", "\"3|1\"");
    IN_("{\"a\": 7.5}", "MODULO", "a", "\"2|1.5\"");
    IN_("{\"a\": -1}", "MODULO", "a", "\"4|3\"");   /* -1 % 4.0 == 3.0 in Python */
    IN_("{\"a\": true}", "MODULO", "a", "\"2|1\""); /* bool is an int in Python */
    OUT("{\"a\": false}", "MODULO", "a", "\"1|3\"");
    OUT("{\"a\": \"7\"}", "MODULO", "a", "\"3|1\"");
    OUT("{\"a\": 7}", "MODULO", "a", "\"3|\"");
    OUT("{\"a\": 7}", "MODULO", "a", "\"0|0\"");
    OUT("{\"a\": 7}", "MODULO", "a", "\"a|b\"");
    OUT("{\"a\": 7}", "MODULO", "a", "\"1|2|3\"");
    OUT("{\"a\": 7}", "MODULO", "a", "\"\"");
    OUT("{\"a\": 7}", "MODULO", "a", "null");
}

Test(engine_ops, in)
{
    IN_("{\"a\": 2}", "IN", "a", "\"1,2,3\"");
    OUT("{\"a\": 2.0}", "IN", "a", "\"2.0,2\"");        /* floats never match */
    OUT("{\"a\": true}", "IN", "a", "\"True,true,1\""); /* nor booleans */
    IN_("{\"a\": \"x\"}", "IN", "a", "\"[\\\"x\\\", \\\"y\\\"]\"");
    IN_("{\"a\": \"[x\"}", "IN", "a", "\"[x,y]\""); /* not JSON: comma-split */
    IN_("{\"a\": \"\"}", "IN", "a", "\"p,,q\"");
    OUT("{\"a\": \" p\"}", "IN", "a", "\"p,q\"");
    IN_("{\"a\": 1}", "IN", "a", "\"[1, 2]\"");        /* str(1) == "1" */
    IN_("{\"a\": \"1.0\"}", "IN", "a", "\"[1.0]\"");   /* str(1.0) == "1.0" */
    IN_("{\"a\": \"True\"}", "IN", "a", "\"[true]\""); /* str(True) */
    IN_("{\"a\": 100000000000000000000}", "IN", "a", "\"100000000000000000000\"");
    IN_("{\"a\": \"y\"}", "IN", "a", "[\"x\", \"y\"]"); /* a list value */
    OUT("{\"a\": null}", "IN", "a", "\"None,null\"");
    OUT("{\"a\": \"x\"}", "IN", "a", "null");
    IN_("{\"a\": \"\\\"q\\\"\"}", "IN", "a", "\"\\\"q\\\"\""); /* a JSON literal: one value */
}

Test(engine_ops, is_set_and_is_not_set)
{
    IN_("{\"a\": 0}", "IS_SET", "a", "null");
    IN_("{\"a\": false}", "IS_SET", "a", "null");
    OUT("{\"a\": null}", "IS_SET", "a", "null");
    OUT("{}", "IS_SET", "a", "null");
    IN_("{}", "IS_NOT_SET", "a", "null");
    IN_("{\"a\": null}", "IS_NOT_SET", "a", "null");
    IN_("{}", "IS_NOT_SET", "", "null"); /* no property: no value */
}

Test(engine_ops, percentage_split)
{
    /* md5("12345,env_user-1") places this identity at 43.2887% (Python's hashing) */
    IN_("{}", "PERCENTAGE_SPLIT", "", "\"43.29\"");
    OUT("{}", "PERCENTAGE_SPLIT", "", "\"43.28\"");
    IN_("{}", "PERCENTAGE_SPLIT", "$.identity.key", "\"43.29\"");
    IN_("{\"company\": \"env_user-1\"}", "PERCENTAGE_SPLIT", "company", "\"43.29\"");
    OUT("{}", "PERCENTAGE_SPLIT", "company", "\"100\""); /* a missing trait is not in */
    OUT("{}", "PERCENTAGE_SPLIT", "", "\"abc\"");
    cr_expect(last_warnings == 1);
}

Test(engine_ops, semver)
{
    IN_("{\"v\": \"1.0.0\"}", "GREATER_THAN", "v", "\"0.9.9:semver\"");
    IN_("{\"v\": \"1.0.0+build.7\"}", "EQUAL", "v", "\"1.0.0:semver\""); /* build ignored */
    OUT("{\"v\": \"1.0\"}", "EQUAL", "v", "\"1.0.0:semver\"");
    OUT("{\"v\": \"01.0.0\"}", "EQUAL", "v", "\"1.0.0:semver\"");
    OUT("{\"v\": 1}", "EQUAL", "v", "\"1:semver\""); /* int("1:semver") */
    OUT("{\"v\": \"1.0.0\"}", "EQUAL", "v", "\"1.0:semver\"");
    const char *order[] = {"1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                           "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
                           "1.0.1",        "1.2.0",         "1.10.0",           "2.0.0"};
    for (size_t i = 0; i + 1 < sizeof(order) / sizeof(order[0]); i++) {
        char traits[64], value[64];
        snprintf(traits, sizeof(traits), "{\"v\": \"%s\"}", order[i]);
        snprintf(value, sizeof(value), "\"%s:semver\"", order[i + 1]);
        IN_(traits, "LESS_THAN", "v", value);
        OUT(traits, "GREATER_THAN_INCLUSIVE", "v", value);
    }
}

Test(engine_ops, json_path_properties)
{
    IN_("{}", "EQUAL", "$.identity.identifier", "\"user-1\"");
    IN_("{}", "EQUAL", "$.identity.key", "\"env_user-1\"");
    IN_("{}", "EQUAL", "$.environment.name", "\"Env Name\"");
    IN_("{}", "EQUAL", "$.environment.key", "\"env\"");
    IN_("{\"age\": 3}", "EQUAL", "$.identity.traits.age", "\"3\"");
    IN_("{\"a.b\": 3}", "EQUAL", "$.identity.traits['a.b']", "\"3\"");
    IN_("{\"a\": 3}", "EQUAL", "$.identity[\\\"traits\\\"].a", "\"3\"");
    OUT("{\"a\": 3}", "EQUAL", "$['identity'].traits.a", "\"3\""); /* no "$.": a trait key */
    IN_("{}", "IS_NOT_SET", "$.identity", "null");                 /* an object is no value */
    OUT("{}", "IS_SET", "$.nowhere.at.all", "null");
    IN_("{\"$.a b\": 1}", "EQUAL", "$.a b", "\"1\""); /* not JSONPath: a trait key */
    IN_("{\"$.identity.identifier\": \"t\"}", "EQUAL", "$.identity.identifier", "\"t\"");
    OUT("{\"x\": 1}", "IS_SET", "$.identity.traits.*", "null"); /* unresolved: no value */
    cr_expect(last_warnings == 1);
}

Test(engine_ops, unknown_operator_never_matches)
{
    OUT("{\"a\": 1}", "SOUNDS_LIKE", "a", "\"1\"");
    cr_expect(last_warnings == 1);
}

/* --- the Python value helpers directly --- */

#include "engine/engine_int.h"

Test(engine_ops, python_int_and_float_parsing)
{
    struct ft_arena a;
    ft_arena_init(&a, 0);
    struct ft_str out;
    cr_expect(ft__py_int_parse(FT_STR(" -007 "), &a, &out) && ft_str_eq_c(out, "-7"));
    cr_expect(ft__py_int_parse(FT_STR("+1_000"), &a, &out) && ft_str_eq_c(out, "1000"));
    cr_expect(ft__py_int_parse(FT_STR("-0"), &a, &out) && ft_str_eq_c(out, "0"));
    cr_expect_not(ft__py_int_parse(FT_STR("1__0"), &a, &out));
    cr_expect_not(ft__py_int_parse(FT_STR("_1"), &a, &out));
    cr_expect_not(ft__py_int_parse(FT_STR("1.0"), &a, &out));
    cr_expect_not(ft__py_int_parse(FT_STR(""), &a, &out));
    double d;
    cr_expect(ft__py_float_parse(FT_STR("1e3"), &d) && d == 1000.0);
    cr_expect(ft__py_float_parse(FT_STR(" .5 "), &d) && d == 0.5);
    cr_expect(ft__py_float_parse(FT_STR("5."), &d) && d == 5.0);
    cr_expect(ft__py_float_parse(FT_STR("-Infinity"), &d) && d < -1e308);
    cr_expect(ft__py_float_parse(FT_STR("1_0.2_5"), &d) && d == 10.25);
    cr_expect_not(ft__py_float_parse(FT_STR("."), &d));
    cr_expect_not(ft__py_float_parse(FT_STR("1e"), &d));
    cr_expect_not(ft__py_float_parse(FT_STR("0x10"), &d));
    ft_arena_free(&a);
}

Test(engine_ops, python_str_of_values)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    const struct {
        struct ft_value v;
        const char *want;
    } cases[] = {
        {{FT_VALUE_NULL, FT_STR("")}, "None"},     {{FT_VALUE_BOOL, FT_STR("true")}, "True"},
        {{FT_VALUE_INT, FT_STR("-0")}, "0"},       {{FT_VALUE_FLOAT, FT_STR("1e16")}, "1e+16"},
        {{FT_VALUE_FLOAT, FT_STR("1.50")}, "1.5"}, {{FT_VALUE_FLOAT, FT_STR("1e400")}, "inf"},
        {{FT_VALUE_STRING, FT_STR("x")}, "x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ft_buf_reset(&b);
        ft__py_str(&b, &cases[i].v);
        cr_expect(strcmp(b.data, cases[i].want) == 0, "got %s, want %s", b.data, cases[i].want);
    }
    ft_buf_free(&b);
}
