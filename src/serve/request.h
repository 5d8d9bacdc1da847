/*
 * The body of an identify call (POST /api/v1/identities/), read and checked the way Flagsmith
 * core's IdentifyWithTraitsSerializer does (api/environments/sdk/serializers.py):
 * {"identifier": ..., "traits": [{"trait_key": ..., "trait_value": ..., "transient": ...}],
 * "transient": ...}. The identifier is a DRF CharField that may be missing, null or blank (the
 * identity is then transient, named by get_transient_identifier); the transient flags are DRF
 * BooleanFields. The answer to a bad body is a DRF-style field error, {"FIELD": ["MESSAGE"]}, or
 * {"detail": "JSON parse error - ..."} for a body that is not a JSON object.
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
/* TraitValueField refuses longer strings, with this message */
#define FT_TRAIT_STRING_MAX 2000
#define FT_TRAIT_STRING_MESSAGE "Value string is too long. Must be less than 2000 character"

/* Flagsmith's serializers refuse U+0000 in strings (PostgreSQL's text cannot hold it) with
 * this message; serve does the same with either store. */
#define FT_NUL_MESSAGE "Null characters are not allowed."

struct ft_identify {
    /* The identifier, stripped of surrounding whitespace as a CharField does. With none
     * given (missing, null, blank) it is get_transient_identifier's, and `anonymous` is set. */
    struct ft_str identifier;
    bool anonymous; /* no identifier given: a transient identity, never stored */
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

/*
 * Flagsmith's name for an identity sent without identifier (get_transient_identifier in
 * api/environments/sdk/services.py): the hex SHA-256 of the traits sorted by key (a stable
 * sort), each written as its key then its value as Python's str() prints it, traits without
 * value left out; with no traits at all, a random uuid4's 32 hex digits. `traits` is the
 * body's array (its values already checked: strings, numbers, booleans, null), or NULL.
 * The identifier is written into `arena`.
 */
struct ft_str ft__serve_transient_identifier(ft_json_doc *doc, const struct ft_json *traits,
                                             struct ft_arena *arena);

#endif
