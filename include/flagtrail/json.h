/*
 * Strict JSON (RFC 8259) reader and a writer of Python's json.dumps bytes.
 *
 * The reader validates the whole input in one pass and produces a flat array of nodes that
 * point into the input: nothing is copied, strings keep their escapes until asked for, and
 * numbers keep their exact text (an integer beyond 2^53 stays exact). It rejects what RFC 8259
 * rejects (trailing commas, leading zeros, bad escapes, lone surrogates, invalid UTF-8, NaN and
 * Infinity, garbage after the value, a byte-order mark) and enforces limits on size, depth and
 * node count. Errors carry the byte offset and the path of the value being read
 * ("flags[1].feature.name").
 *
 * Navigation: a node's subtree is the `span` nodes starting at it, so children are found
 * without pointers:
 *
 *     const struct ft_json *e;
 *     FT_JSON_EACH(e, array) { ... }                    // elements
 *     const struct ft_json *k, *v;
 *     FT_JSON_EACH_MEMBER(k, v, object) { ... }          // key node, value node
 *
 * A document is reusable: parse into it again and its memory is kept (one per thread in a
 * server). Nodes and strings it returns stay valid until the next parse or free, and only while
 * the input buffer lives. A document is not thread-safe.
 *
 * The writer reproduces `json.dumps(obj, sort_keys=True)`: separators ", " and ": ", every
 * non-ASCII character as \uXXXX (surrogate pairs above U+FFFF), floats as Python's repr.
 */
#ifndef FLAGTRAIL_JSON_H
#define FLAGTRAIL_JSON_H

#include "flagtrail/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ft_json_type {
    FT_JSON_NULL,
    FT_JSON_FALSE,
    FT_JSON_TRUE,
    FT_JSON_NUMBER,
    FT_JSON_STRING,
    FT_JSON_ARRAY,
    FT_JSON_OBJECT,
};

enum {
    FT_JSON_ESCAPED = 1, /* string: holds at least one backslash escape */
    FT_JSON_INTEGER = 2, /* number: no fraction and no exponent */
    FT_JSON_NUL = 4,     /* string: one of its escapes is \u0000 */
};

/* One parsed value. 16 bytes; read it through the functions below. */
struct ft_json {
    uint8_t type;  /* enum ft_json_type */
    uint8_t flags; /* FT_JSON_ESCAPED, FT_JSON_INTEGER, FT_JSON_NUL */
    uint16_t reserved;
    uint32_t off;  /* offset of the value's text in the input (strings: after the quote) */
    uint32_t len;  /* text length (strings: raw, without quotes); containers: member count */
    uint32_t span; /* nodes in this subtree, itself included */
};

#define FT_JSON_EACH(e, arr) for ((e) = (arr) + 1; (e) < (arr) + (arr)->span; (e) += (e)->span)
#define FT_JSON_EACH_MEMBER(k, v, obj)                              \
    for ((k) = (obj) + 1, (v) = (k) + 1; (k) < (obj) + (obj)->span; \
         (k) = (v) + (v)->span, (v) = (k) + 1)

struct ft_json_limits {
    size_t max_size;    /* input bytes (at most 4 GiB - 1); default 64 MiB */
    uint32_t max_depth; /* nested arrays and objects; default 64 */
    uint32_t max_nodes; /* values in the document; default 4 Mi */
};

#define FT_JSON_DEFAULT_DEPTH 64

struct ft_json_error {
    size_t offset;    /* byte offset where reading stopped */
    char message[96]; /* "expected ',' or '}'", "invalid UTF-8", ... */
    char path[256];   /* "flags[1].feature.name"; empty at the top level */
};

typedef struct ft_json_doc ft_json_doc;

/* A new, empty document with the given limits (NULL: defaults). Free it with ft_json_doc_free. */
ft_json_doc *ft_json_doc_new(const struct ft_json_limits *limits);
void ft_json_doc_free(ft_json_doc *doc);

/*
 * Parses `len` bytes at `src` into `doc`, replacing what it held. `src` is borrowed: it must
 * stay unchanged while the document's nodes are used. Returns FT_OK; FT_EJSON for invalid
 * JSON, FT_EDEPTH past the depth limit, FT_ETOOBIG past the size or node limit, each with
 * `err` filled in when it is not NULL.
 */
int ft_json_parse(ft_json_doc *doc, const char *src, size_t len, struct ft_json_error *err);

/* The top-level value of the last successful parse. */
const struct ft_json *ft_json_root(const ft_json_doc *doc);

/* The member `key` of an object (the last one if repeated, as Python does), or NULL. */
const struct ft_json *ft_json_get(ft_json_doc *doc, const struct ft_json *obj, const char *key);

/* A value's text from its first byte through its last token (a container's text stops before
 * its closing brackets, which its tokens imply): equal texts are equal values. */
struct ft_str ft_json_text(const ft_json_doc *d, const struct ft_json *v);

/* The exact input text of a value: a number's lexeme, a string's raw content. */
struct ft_str ft_json_raw(const ft_json_doc *doc, const struct ft_json *v);

/*
 * A string's decoded UTF-8 (escapes resolved). Without escapes this points into the input;
 * otherwise into memory owned by `doc`. Valid until the next parse or free.
 */
struct ft_str ft_json_str(ft_json_doc *doc, const struct ft_json *v);

/* True when `v` is a string whose decoded text equals `s`. */
bool ft_json_str_eq(ft_json_doc *doc, const struct ft_json *v, const char *s);

/* True and *out set when `v` is an integer-syntax number that fits in int64. */
bool ft_json_int64(const ft_json_doc *doc, const struct ft_json *v, int64_t *out);

/* True and *out set when `v` is a number (rounded to the nearest double, may be ±inf). */
bool ft_json_double(const ft_json_doc *doc, const struct ft_json *v, double *out);

/* A short name of a type for messages ("string", "object", "boolean", ...). */
const char *ft_json_type_name(enum ft_json_type type);

/* Whether `s` is valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points past
 * U+10FFFF), the rule the reader applies to strings. */
bool ft_utf8_valid(const char *s, size_t len);

/* --- writer: Python json.dumps(obj, sort_keys=True) bytes --- */

/* Appends a JSON string literal for UTF-8 `s`, escaped as Python's ensure_ascii does. */
int ft_json_write_str(struct ft_buf *out, const char *s, size_t len);

/* Appends an int64 in decimal. */
int ft_json_write_int(struct ft_buf *out, int64_t v);

/* Appends a double as Python's repr ("0.1", "1.0", "1e+16", "1e-05", "Infinity", "NaN"). */
int ft_json_write_double(struct ft_buf *out, double v);

/*
 * Appends a JSON number lexeme the way Python prints the value json.loads makes of it: an
 * integer exactly ("-0" as "0", any length), anything with a fraction or exponent as a float's
 * repr. FT_EINVAL when `lexeme` is not a JSON number.
 */
int ft_json_write_number(struct ft_buf *out, struct ft_str lexeme);

/* Appends any parsed value as json.dumps(value, sort_keys=True) prints it. */
int ft_json_write_value(struct ft_buf *out, ft_json_doc *doc, const struct ft_json *v);

#endif
