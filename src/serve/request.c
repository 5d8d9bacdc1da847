/*
 * The identify call's body (src/serve/request.h).
 */
#include "serve/request.h"
#include "base/hex.h"
#include "base/utf8.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static int refuse(struct ft_request_error *err, const char *field, const char *msg)
{
    err->field = field;
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return FT_EINVAL;
}

/* --- DRF's fields --- */

/* The first code point of the valid UTF-8 `s` (not empty); *n is its length in bytes. */
static unsigned first_code_point(struct ft_str s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    if (len > s.len) len = s.len;
    unsigned cp = len == 1 ? p[0] : p[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (p[i] & 0x3fu);
    *n = len;
    return cp;
}

/* Python's str.isspace(), which str.strip() removes. */
static bool python_space(unsigned cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* `s` without surrounding whitespace, as a DRF CharField (trim_whitespace) reads it. */
static struct ft_str strip(struct ft_str s)
{
    size_t n;
    while (s.len && python_space(first_code_point(s, &n))) {
        s.ptr += n;
        s.len -= n;
    }
    while (s.len) {
        size_t start = s.len - 1;
        while (start && ((unsigned char)s.ptr[start] & 0xc0) == 0x80)
            start--;
        if (!python_space(first_code_point((struct ft_str){s.ptr + start, s.len - start}, &n)))
            break;
        s.len = start;
    }
    return s;
}

/* A number as Python's str() prints the value json.loads made of it, into `arena`. */
static struct ft_str python_number(ft_json_doc *doc, const struct ft_json *v,
                                   struct ft_arena *arena)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_json_write_number(&b, ft_json_raw(doc, v));
    struct ft_str out = {ft_arena_strndup(arena, b.data ? b.data : "", b.len), b.len};
    ft_buf_free(&b);
    return out;
}

enum boolean { BOOLEAN_TRUE, BOOLEAN_FALSE, BOOLEAN_NULL, BOOLEAN_INVALID };

/* One of DRF's BooleanField words, compared after lowering the string as DRF 3.15 does. */
static bool is_word(struct ft_str s, const char *const *words)
{
    for (; *words; words++) {
        size_t n = strlen(*words);
        if (s.len == n && strncasecmp(s.ptr, *words, n) == 0) return true;
    }
    return false;
}

/* A value as DRF's BooleanField reads it: true, 1, 1.0 and "true", "yes", "on", "1", ... in
 * any case; false alike; null is its own error ("This field may not be null."). */
static enum boolean read_boolean(ft_json_doc *doc, const struct ft_json *v)
{
    static const char *const yes[] = {"t", "y", "yes", "true", "on", "1", NULL};
    static const char *const no[] = {"f", "n", "no", "false", "off", "0", NULL};
    switch (v->type) {
    case FT_JSON_TRUE: return BOOLEAN_TRUE;
    case FT_JSON_FALSE: return BOOLEAN_FALSE;
    case FT_JSON_NULL: return BOOLEAN_NULL;
    case FT_JSON_STRING: {
        struct ft_str s = ft_json_str(doc, v);
        return is_word(s, yes) ? BOOLEAN_TRUE : is_word(s, no) ? BOOLEAN_FALSE : BOOLEAN_INVALID;
    }
    case FT_JSON_NUMBER: { /* Python's 1 == 1.0 == True and 0 == -0.0 == False */
        double d;
        if (!ft_json_double(doc, v, &d)) return BOOLEAN_INVALID;
        return d == 1 ? BOOLEAN_TRUE : d == 0 ? BOOLEAN_FALSE : BOOLEAN_INVALID;
    }
    default: return BOOLEAN_INVALID;
    }
}

/* --- traits --- */

/* A trait's value, kept as sent: a string that reads as a number stays a string in the store,
 * the answer and the webhook, as Flagsmith core keeps it (TraitValueField; its recorded
 * answers in the engine test data show "2"); only evaluation reads it as a number (api.c). */
static int read_value(ft_json_doc *doc, const struct ft_json *v, struct ft_value *out,
                      struct ft_request_error *err)
{
    if (!v || v->type == FT_JSON_NULL) {
        *out = (struct ft_value){FT_VALUE_NULL, {"", 0}};
    } else if (v->type == FT_JSON_STRING) {
        *out = (struct ft_value){FT_VALUE_STRING, ft_json_str(doc, v)};
        if (ft_utf8_length(out->text.ptr, out->text.len) > FT_TRAIT_STRING_MAX)
            return refuse(err, "traits", FT_TRAIT_STRING_MESSAGE);
    } else if (v->type == FT_JSON_NUMBER) {
        *out = (struct ft_value){(v->flags & FT_JSON_INTEGER) ? FT_VALUE_INT : FT_VALUE_FLOAT,
                                 ft_json_raw(doc, v)};
        if (!ft_str_number_in_range(out->text))
            return refuse(err, "traits", "trait_value is out of range.");
    } else if (v->type == FT_JSON_TRUE || v->type == FT_JSON_FALSE) {
        *out = (struct ft_value){FT_VALUE_BOOL,
                                 v->type == FT_JSON_TRUE ? FT_STR("true") : FT_STR("false")};
    } else { /* Flagsmith stores Python's str() of a list or dict: not reproduced */
        return refuse(err, "traits", "trait_value must be a string, number or boolean.");
    }
    return FT_OK;
}

static int read_trait(ft_json_doc *doc, const struct ft_json *e, struct ft_trait_change *c,
                      struct ft_request_error *err)
{
    const struct ft_json *k = e->type == FT_JSON_OBJECT ? ft_json_get(doc, e, "trait_key") : NULL;
    if (!k || k->type != FT_JSON_STRING)
        return refuse(err, "traits", "Each trait needs a string trait_key.");
    const struct ft_json *v = ft_json_get(doc, e, "trait_value");
    if (!v) /* required, as in Flagsmith's TraitSerializerBasic: only null deletes */
        return refuse(err, "traits", "Each trait needs a trait_value (null deletes the trait).");
    const struct ft_json *tr = ft_json_get(doc, e, "transient");
    if ((k->flags & FT_JSON_NUL) || (v && (v->flags & FT_JSON_NUL)))
        return refuse(err, "traits", FT_NUL_MESSAGE);
    c->key = strip(ft_json_str(doc, k));
    if (c->key.len == 0 || ft_utf8_length(c->key.ptr, c->key.len) > FT_TRAIT_KEY_MAX)
        return refuse(err, "traits", "A trait_key must have 1 to 200 characters.");
    enum boolean t = tr ? read_boolean(doc, tr) : BOOLEAN_FALSE;
    if (t != BOOLEAN_TRUE && t != BOOLEAN_FALSE)
        return refuse(err, "traits", "transient must be a boolean.");
    c->transient = t == BOOLEAN_TRUE;
    return read_value(doc, v, &c->value, err);
}

static int read_traits(ft_json_doc *doc, const struct ft_json *arr, struct ft_arena *arena,
                       struct ft_identify *out, struct ft_request_error *err)
{
    if (!arr || arr->type == FT_JSON_NULL) return FT_OK;
    if (arr->type != FT_JSON_ARRAY) return refuse(err, "traits", "Expected a list of items.");
    if (arr->len > FT_TRAITS_MAX) return refuse(err, "traits", "Too many traits.");
    out->traits = ft_arena_alloc(arena, sizeof(*out->traits) * (arr->len ? arr->len : 1));
    const struct ft_json *e;
    FT_JSON_EACH(e, arr)
    {
        int rc = read_trait(doc, e, &out->traits[out->ntraits], err);
        if (rc) return rc;
        out->ntraits++;
    }
    return FT_OK;
}

/* --- the call --- */

/* The identifier, a CharField(required=False, allow_blank=True, allow_null=True): a string
 * stripped of surrounding whitespace, a number as its text; none when missing, null or blank. */
static int read_identifier(ft_json_doc *doc, const struct ft_json *v, struct ft_arena *arena,
                           struct ft_identify *out, struct ft_request_error *err)
{
    if (!v || v->type == FT_JSON_NULL) return FT_OK;
    if (v->type == FT_JSON_STRING)
        out->identifier = strip(ft_json_str(doc, v));
    else if (v->type == FT_JSON_NUMBER)
        out->identifier = python_number(doc, v, arena);
    else
        return refuse(err, "identifier", "Not a valid string.");
    if (out->identifier.len == 0) {
        out->identifier = (struct ft_str){NULL, 0};
        return FT_OK;
    }
    if (v->flags & FT_JSON_NUL) return refuse(err, "identifier", FT_NUL_MESSAGE);
    if (ft_utf8_length(out->identifier.ptr, out->identifier.len) > FT_IDENTIFIER_MAX)
        return refuse(err, "identifier", FT_IDENTIFIER_MESSAGE);
    if (out->identifier.len > FT_IDENTIFIER_MAX_BYTES)
        return refuse(err, "identifier", FT_IDENTIFIER_BYTES_MESSAGE);
    return FT_OK;
}

/* The identify-wide transient, a BooleanField(default=False). */
static int read_transient(ft_json_doc *doc, const struct ft_json *v, struct ft_identify *out,
                          struct ft_request_error *err)
{
    enum boolean t = v ? read_boolean(doc, v) : BOOLEAN_FALSE;
    if (t == BOOLEAN_NULL) return refuse(err, "transient", "This field may not be null.");
    if (t == BOOLEAN_INVALID) return refuse(err, "transient", "Must be a valid boolean.");
    out->transient = t == BOOLEAN_TRUE;
    return FT_OK;
}

int ft__serve_read_identify(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                            struct ft_identify *out, struct ft_request_error *err)
{
    *out = (struct ft_identify){{NULL, 0}, false, false, NULL, 0};
    struct ft_json_error jerr;
    if (ft_json_parse(doc, body, len, &jerr) != FT_OK) {
        err->field = NULL;
        snprintf(err->message, sizeof(err->message), "JSON parse error - %s", jerr.message);
        return FT_EINVAL;
    }
    const struct ft_json *root = ft_json_root(doc);
    if (root->type != FT_JSON_OBJECT) {
        err->field = NULL;
        snprintf(err->message, sizeof(err->message), "JSON parse error - expected an object");
        return FT_EINVAL;
    }
    const struct ft_json *traits = ft_json_get(doc, root, "traits");
    int rc = read_identifier(doc, ft_json_get(doc, root, "identifier"), arena, out, err);
    if (rc == FT_OK) rc = read_transient(doc, ft_json_get(doc, root, "transient"), out, err);
    if (rc == FT_OK) rc = read_traits(doc, traits, arena, out, err);
    if (rc == FT_OK && !out->identifier.ptr) {
        out->anonymous = true;
        out->identifier = ft__serve_transient_identifier(doc, traits, arena);
    }
    return rc;
}

/* --- get_transient_identifier --- */

struct keyed {
    struct ft_str key;
    const struct ft_json *value;
    size_t order;
};

/* Python's sorted() by trait_key: code point order (UTF-8's byte order), stable. */
static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = ft_str_cmp(x->key, y->key);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* Appends a trait value as Python's str() prints it in an f-string. */
static void python_str(struct ft_buf *b, ft_json_doc *doc, const struct ft_json *v)
{
    if (v->type == FT_JSON_STRING) {
        struct ft_str s = ft_json_str(doc, v);
        ft_buf_append(b, s.ptr, s.len);
    } else if (v->type == FT_JSON_NUMBER) {
        ft_json_write_number(b, ft_json_raw(doc, v));
    } else {
        ft_buf_append_str(b, v->type == FT_JSON_TRUE ? "True" : "False");
    }
}

static struct ft_str random_uuid4_hex(struct ft_arena *arena)
{
    unsigned char u[16];
    size_t got = 0;
    while (got < sizeof(u)) {
        ssize_t n = getrandom(u + got, sizeof(u) - got, 0);
        if (n > 0) got += (size_t)n;
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *hex = ft_arena_alloc(arena, 33);
    ft_hex_encode(u, sizeof(u), hex);
    return (struct ft_str){hex, 32};
}

struct ft_str ft__serve_transient_identifier(ft_json_doc *doc, const struct ft_json *traits,
                                             struct ft_arena *arena)
{
    if (!traits || traits->type != FT_JSON_ARRAY || traits->len == 0)
        return random_uuid4_hex(arena);
    struct keyed *k = ft_xmalloc(sizeof(*k) * traits->len);
    size_t n = 0;
    const struct ft_json *e;
    FT_JSON_EACH(e, traits)
    {
        k[n] = (struct keyed){strip(ft_json_str(doc, ft_json_get(doc, e, "trait_key"))),
                              ft_json_get(doc, e, "trait_value"), n};
        n++;
    }
    qsort(k, n, sizeof(*k), cmp_keyed);
    struct ft_buf b;
    ft_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (!k[i].value || k[i].value->type == FT_JSON_NULL) continue;
        ft_buf_append(&b, k[i].key.ptr, k[i].key.len);
        python_str(&b, doc, k[i].value);
    }
    unsigned char digest[32];
    unsigned dlen = 0;
    EVP_Digest(b.data ? b.data : "", b.len, digest, &dlen, EVP_sha256(), NULL);
    ft_buf_free(&b);
    free(k);
    char *hex = ft_arena_alloc(arena, 65);
    ft_hex_encode(digest, sizeof(digest), hex);
    return (struct ft_str){hex, 64};
}
