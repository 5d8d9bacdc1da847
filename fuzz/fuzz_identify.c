/*
 * Fuzz driver for the body of serve's identify call (src/serve/request.c): any input must be
 * read or refused with a message (naming a field, or none when it is not a JSON object); what
 * is read must keep the limits the store relies on.
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "base/utf8.h"
#include "serve/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_value(const struct ft_value *v)
{
    CHECK(v->type == FT_VALUE_NULL || v->type == FT_VALUE_STRING || v->type == FT_VALUE_INT ||
          v->type == FT_VALUE_FLOAT || v->type == FT_VALUE_BOOL);
    CHECK(v->text.ptr != NULL);
    CHECK(memchr(v->text.ptr, '\0', v->text.len) == NULL); /* no store could keep it */
    CHECK(v->type != FT_VALUE_STRING || ft_utf8_length(v->text.ptr, v->text.len) <= 2000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ft_json_doc *doc;
    if (!doc) doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_identify call;
    struct ft_request_error err;
    int rc = ft__serve_read_identify(doc, (const char *)data, size, &arena, &call, &err);
    if (rc) {
        CHECK(rc == FT_EINVAL);
        CHECK(err.message[0] != '\0');
    } else {
        CHECK(call.identifier.len >= 1);
        CHECK(ft_utf8_length(call.identifier.ptr, call.identifier.len) <= FT_IDENTIFIER_MAX);
        CHECK(call.identifier.len <= FT_IDENTIFIER_MAX_BYTES);
        CHECK(memchr(call.identifier.ptr, '\0', call.identifier.len) == NULL);
        /* without identifier: get_transient_identifier's sha256 or uuid4 hex */
        CHECK(!call.anonymous || call.identifier.len == 64 || call.identifier.len == 32);
        CHECK(call.ntraits <= FT_TRAITS_MAX);
        for (size_t i = 0; i < call.ntraits; i++) {
            const struct ft_trait_change *c = &call.traits[i];
            CHECK(c->key.len >= 1 && ft_utf8_length(c->key.ptr, c->key.len) <= FT_TRAIT_KEY_MAX);
            CHECK(memchr(c->key.ptr, '\0', c->key.len) == NULL);
            check_value(&c->value);
        }
    }
    ft_arena_free(&arena);
    return 0;
}
