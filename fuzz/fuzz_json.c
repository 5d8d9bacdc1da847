/*
 * Fuzz driver for the JSON reader, differential against cJSON.
 *
 * flagtrail's reader is stricter than cJSON, never looser: whatever it accepts cJSON must
 * accept with the same values, and whatever cJSON accepts that it rejects must be one of
 * cJSON's known leniencies (leading zeros, "1.", unchecked UTF-8, ...). The writer is run on
 * every accepted document and its output must parse again to the same output. ft_utf8_valid
 * must agree with the reader on the input's bytes as a string.
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ft_json_doc *doc, *doc2;

/* Reasons to reject that cJSON does not share. */
static bool cjson_is_lenient_about(const char *message)
{
    static const char *const known[] = {
        "leading zero in number",
        "digit expected after '.'",
        "digit expected in exponent",
        "invalid number",
        "invalid UTF-8",
        "lone high surrogate",
        "lone low surrogate",
        "control character in string",
        "nesting deeper than",
        "invalid escape",
        "invalid \\u escape",
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strncmp(message, known[i], strlen(known[i])) == 0) return true;
    return false;
}

/* cJSON truncates numbers of 64 characters or more and takes any byte <= 0x20 as space. */
static bool outside_cjson_domain(const uint8_t *data, size_t size)
{
    size_t run = 0;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
        bool numeric =
            (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
        run = numeric ? run + 1 : 0;
        if (run >= 63) return true;
    }
    return false;
}

static void same_value(const struct ft_json *v, const cJSON *c)
{
    switch ((enum ft_json_type)v->type) {
    case FT_JSON_NULL: CHECK(cJSON_IsNull(c)); break;
    case FT_JSON_TRUE: CHECK(cJSON_IsTrue(c)); break;
    case FT_JSON_FALSE: CHECK(cJSON_IsFalse(c)); break;
    case FT_JSON_NUMBER: {
        double d;
        CHECK(cJSON_IsNumber(c));
        CHECK(ft_json_double(doc, v, &d));
        CHECK(d == c->valuedouble || (d != d && c->valuedouble != c->valuedouble));
        break;
    }
    case FT_JSON_STRING: {
        CHECK(cJSON_IsString(c));
        struct ft_str s = ft_json_str(doc, v);
        size_t n = strnlen(s.ptr, s.len); /* cJSON's strings end at the first NUL */
        CHECK(strlen(c->valuestring) == n);
        CHECK(memcmp(s.ptr, c->valuestring, n) == 0);
        break;
    }
    case FT_JSON_ARRAY: {
        CHECK(cJSON_IsArray(c));
        const struct ft_json *e;
        const cJSON *ce = c->child;
        FT_JSON_EACH(e, v)
        {
            CHECK(ce != NULL);
            same_value(e, ce);
            ce = ce->next;
        }
        CHECK(ce == NULL);
        break;
    }
    case FT_JSON_OBJECT: {
        CHECK(cJSON_IsObject(c));
        const struct ft_json *k, *val;
        const cJSON *ce = c->child;
        FT_JSON_EACH_MEMBER(k, val, v)
        {
            CHECK(ce != NULL);
            struct ft_str key = ft_json_str(doc, k);
            size_t n = strnlen(key.ptr, key.len);
            CHECK(strlen(ce->string) == n && memcmp(key.ptr, ce->string, n) == 0);
            same_value(val, ce);
            ce = ce->next;
        }
        CHECK(ce == NULL);
        break;
    }
    }
}

static void writer_is_stable(void)
{
    struct ft_buf a, b;
    ft_buf_init(&a, 0);
    ft_buf_init(&b, 0);
    CHECK(ft_json_write_value(&a, doc, ft_json_root(doc)) == FT_OK);
    /* Infinity and NaN are what Python prints for overflowing floats; they do not parse. */
    if (strstr(a.data, "Infinity") == NULL && strstr(a.data, "NaN") == NULL) {
        CHECK(ft_json_parse(doc2, a.data, a.len, NULL) == FT_OK);
        CHECK(ft_json_write_value(&b, doc2, ft_json_root(doc2)) == FT_OK);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    }
    ft_buf_free(&a);
    ft_buf_free(&b);
}

/* ft_utf8_valid says what the reader says of the same bytes as a string: the input's bytes
 * (those that need no escape) between quotes. */
static void utf8_agrees_with_reader(const uint8_t *data, size_t size)
{
    char *lit = malloc(size + 2);
    size_t n = 0;
    lit[n++] = '"';
    for (size_t i = 0; i < size; i++)
        if (data[i] >= 0x20 && data[i] != '"' && data[i] != '\\') lit[n++] = (char)data[i];
    lit[n++] = '"';
    struct ft_json_error err;
    bool reader_ok = ft_json_parse(doc2, lit, n, &err) == FT_OK;
    CHECK(ft_utf8_valid(lit + 1, n - 2) == reader_ok);
    free(lit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!doc) {
        doc = ft_json_doc_new(NULL);
        doc2 = ft_json_doc_new(NULL);
    }
    struct ft_json_error err;
    utf8_agrees_with_reader(data, size);
    int rc = ft_json_parse(doc, (const char *)data, size, &err);
    CHECK(rc == FT_OK || rc == FT_EJSON || rc == FT_EDEPTH || rc == FT_ETOOBIG);
    if (rc != FT_OK) CHECK(err.offset <= size);
    if (outside_cjson_domain(data, size)) {
        if (rc == FT_OK) writer_is_stable();
        return 0;
    }
    const char *end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    bool cjson_ok = false;
    if (c) {
        const char *p = end, *stop = (const char *)data + size;
        while (p < stop && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        cjson_ok = p == stop;
    }
    if (rc == FT_OK) {
        CHECK(cjson_ok);
        same_value(ft_json_root(doc), c);
        writer_is_stable();
    } else if (cjson_ok) {
        CHECK(cjson_is_lenient_about(err.message));
    }
    cJSON_Delete(c);
    return 0;
}
