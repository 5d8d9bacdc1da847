/*
 * Fuzz driver for the webhook payload parser and emitter.
 *
 * Any input must parse or fail cleanly with a detail; whatever parses must emit, and the
 * emitted bytes must parse again and emit the same bytes (emit is a fixed point).
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ft_json_doc *doc, *doc2;
    if (!doc) {
        doc = ft_json_doc_new(NULL);
        doc2 = ft_json_doc_new(NULL);
    }
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_payload p, q;
    struct ft_payload_error err;
    int rc = ft_payload_parse(doc, (const char *)data, size, &arena, &p, &err);
    if (rc != FT_OK) {
        CHECK(rc == FT_EJSON || rc == FT_EDEPTH || rc == FT_ETOOBIG || rc == FT_EPAYLOAD);
        CHECK(err.detail[0] != '\0');
        ft_arena_free(&arena);
        return 0;
    }
    struct ft_buf a, b;
    ft_buf_init(&a, 0);
    ft_buf_init(&b, 0);
    CHECK(ft_payload_emit(&p, &a) == FT_OK);
    /* numbers overflowing a double print as Infinity, as Python would; those cannot reparse */
    if (strstr(a.data, "Infinity") == NULL) {
        rc = ft_payload_parse(doc2, a.data, a.len, &arena, &q, &err);
        if (rc != FT_OK) fprintf(stderr, "reparse failed: %s\n%s\n", err.detail, a.data);
        CHECK(rc == FT_OK);
        CHECK(ft_payload_emit(&q, &b) == FT_OK);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    }
    ft_buf_free(&a);
    ft_buf_free(&b);
    ft_arena_free(&arena);
    return 0;
}
