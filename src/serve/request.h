/*
 * The body of an identify call (POST /api/v1/identities/), read and checked the way Flagsmith
 * core's serializer does: {"identifier": "...", "traits": [{"trait_key": ..., "trait_value":
 * ..., "transient": ...}], "transient": ...}. The answer to a bad body is a DRF-style field
 * error, {"FIELD": ["MESSAGE"]}, or {"detail": "JSON parse error - ..."} for a body that is not
 * a JSON object.
 */
#ifndef FT_SERVE_REQUEST_H
#define FT_SERVE_REQUEST_H

#include "flagtrail/base.h"
#include "flagtrail/json.h"
#include "serve/identities.h"

#include <stdbool.h>
#include <stddef.h>

/* Limits in code points, as Flagsmith core counts them (Python's len()) */
#define FT_IDENTIFIER_MAX 2000
#define FT_IDENTIFIER_MESSAGE "A string of 1 to 2000 characters is required."
/* and in bytes, so that PostgreSQL's unique index (at most 2704 bytes a row) can hold it */
#define FT_IDENTIFIER_MAX_BYTES 2400
#define FT_IDENTIFIER_BYTES_MESSAGE "An identifier may take at most 2400 bytes in UTF-8."
#define FT_TRAIT_KEY_MAX  200
#define FT_TRAITS_MAX     1000

/* Flagsmith's serializers refuse U+0000 in strings (PostgreSQL's text cannot hold it) with
 * this message; serve does the same with either store. */
#define FT_NUL_MESSAGE "Null characters are not allowed."

struct ft_identify {
    struct ft_str identifier;
    bool transient;
    struct ft_trait_change *traits; /* in the arena; strings point into `doc` or the arena */
    size_t ntraits;
};

struct ft_request_error {
    const char *field; /* the field at fault; NULL when the body is not a JSON object */
    char message[256];
};

/* Parses `body` into `doc` and reads it into *out. FT_OK, or FT_EINVAL with *err set. */
int ft__serve_read_identify(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                            struct ft_identify *out, struct ft_request_error *err);

#endif
