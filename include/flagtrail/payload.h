/*
 * The identity webhook's payload: its model, a validating parser and an emitter of
 * Flagsmith's exact bytes.
 *
 * Flagsmith POSTs {"flags": [...], "identity": "...", "segments": [...], "traits": [...]} for
 * every identity evaluation. ft_payload_parse() checks the documented schema (required fields,
 * types; unknown keys ignored at every level) and reports the first violation with its path,
 * e.g. "flags[1].feature.name: expected string". ft_payload_emit() prints the model as Python's
 * json.dumps(payload, sort_keys=True) does, so emit(parse(x)) == x for bytes Flagsmith sent.
 *
 * Values keep their JSON type and exact text: 9007199254740993 stays that integer and 0.1 keeps
 * its lexeme. Optional fields Flagsmith sends but does not document (percentage_allocation on
 * flags, transient on traits) are remembered as present or absent.
 *
 * Nullable strings are views with ptr == NULL for JSON null.
 */
#ifndef FLAGTRAIL_PAYLOAD_H
#define FLAGTRAIL_PAYLOAD_H

#include "flagtrail/base.h"
#include "flagtrail/json.h"

enum ft_value_type {
    FT_VALUE_NULL,
    FT_VALUE_BOOL,
    FT_VALUE_INT,   /* a number without fraction or exponent, any size */
    FT_VALUE_FLOAT, /* a number with a fraction or an exponent */
    FT_VALUE_STRING,
};

/* A flag or trait value: its JSON type and its exact text (decoded for strings). */
struct ft_value {
    enum ft_value_type type;
    struct ft_str text; /* number lexeme, decoded string, "true"/"false", "" for null */
};

/* An integer that may be JSON null. */
struct ft_nint {
    bool null;
    int64_t value;
};

struct ft_feature {
    int64_t id;
    struct ft_str name;
    struct ft_str type; /* "STANDARD", "MULTIVARIATE", legacy "FLAG"/"CONFIG" */
    struct ft_str created_date;
    bool default_enabled;
    struct ft_str description;   /* nullable */
    struct ft_str initial_value; /* nullable */
    /* Its object as ft_payload_emit_feature prints it, when the producer keeps that (serve
     * prints each feature once per document); ptr NULL: printed from the fields above. */
    struct ft_str json;
};

struct ft_flag {
    bool enabled;
    int64_t environment;
    struct ft_feature feature;
    struct ft_nint feature_segment; /* segment override row, or null */
    struct ft_value value;          /* feature_state_value */
    int64_t id;                     /* feature state id */
    struct ft_nint identity;        /* identity owning an identity override, or null */
    bool has_percentage_allocation;
    struct ft_value percentage_allocation; /* number or null, when present */
};

struct ft_trait {
    struct ft_nint id; /* null for a transient trait */
    struct ft_str key;
    struct ft_value value;
    bool has_transient;
    bool transient;
};

struct ft_segment {
    int64_t id;
    struct ft_str name;
    bool member;
};

struct ft_payload {
    struct ft_str identity;
    struct ft_flag *flags;
    size_t nflags;
    struct ft_trait *traits;
    size_t ntraits;
    struct ft_segment *segments;
    size_t nsegments;
    struct ft_str lists_json[3]; /* the flags, traits and segments arrays' text (ft_json_text) */
};

struct ft_payload_error {
    size_t offset;    /* byte offset for JSON syntax errors, 0 for schema errors */
    char detail[384]; /* "flags[1].feature.name: expected string" */
};

/*
 * Parses and validates a webhook body. `doc` is a reusable JSON document (see json.h), `arena`
 * receives the payload's arrays. The payload borrows `body`, `doc` and `arena`: its strings
 * point into the body or the document, so all three must outlive it and `doc` must not parse
 * anything else meanwhile.
 *
 * Returns FT_OK; FT_EJSON, FT_EDEPTH or FT_ETOOBIG when the body is not acceptable JSON;
 * FT_EPAYLOAD when it breaks the schema. `err`, when not NULL, gets the detail.
 */
int ft_payload_parse(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                     struct ft_payload *out, struct ft_payload_error *err);

/* Appends Flagsmith's bytes for the payload to `out`. FT_ETOOBIG if `out`'s limit is hit. */
int ft_payload_emit(const struct ft_payload *p, struct ft_buf *out);

/* Appends a flag's "feature" object as ft_payload_emit prints it (ignoring `f->json`). */
int ft_payload_emit_feature(const struct ft_feature *f, struct ft_buf *out);

/* Appends a value as Flagsmith's JSON would hold it. */
int ft_value_write(struct ft_buf *out, const struct ft_value *v);

/* "null", "bool", "int", "float", "string". */
const char *ft_value_type_name(enum ft_value_type type);

#endif
