/*
 * The flag evaluation engine: Flagsmith's evaluation semantics over a compiled, immutable model.
 *
 * A model is loaded once from one of two inputs: Flagsmith's environment document (the JSON of
 * /api/v1/environment-document/) or the engine-agnostic evaluation context of Flagsmith's engine
 * test data. Loading compiles everything evaluations need: regexes (PCRE2, behaving like
 * Python's re.match), numbers and semantic versions of conditions parsed, segment overrides
 * indexed by feature, multivariate variants sorted, identity overrides hashed by identifier.
 * Evaluations only read the model, so any number of threads may share one; replace a model by
 * loading a new one and freeing the old one once no evaluation uses it.
 *
 * Evaluating an identity gives every flag (value, reason, variant, and where the state came
 * from, with the ids Flagsmith's webhook carries) and every segment with its membership:
 *
 *     ft_engine *e;
 *     if (ft_engine_load(json, len, NULL, &e, &err)) { ... err.detail ... }
 *     struct ft_engine_result r;
 *     ft_engine_result_init(&r);
 *     struct ft_engine_identity id = {.identifier = FT_STR("user-1"), .traits = t, .ntraits = n};
 *     ft_engine_evaluate(e, &id, 0, &r);      // r.flags[i], r.segments[i]
 *     ft_engine_result_free(&r);
 *     ft_engine_free(e);
 *
 * The hashing key of an identity follows one of two conventions (docs/engine.md): SDKs and edge
 * proxies use "<environment api key>_<identifier>"; Flagsmith core uses the identity's integer
 * id unless the environment sets use_identity_composite_key_for_hashing. Give `has_id`/`id` to
 * get core's answers.
 */
#ifndef FLAGTRAIL_ENGINE_H
#define FLAGTRAIL_ENGINE_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_engine ft_engine;

/* --- loading --- */

struct ft_engine_load_options {
    size_t max_size;     /* input bytes accepted; 0: 64 MiB */
    bool allow_comments; /* accept `//` line comments outside strings (.jsonc test data) */
};

/*
 * Why a load failed, and the documented fallbacks taken by a load that succeeded (an unknown
 * operator never matches, an invalid regex never matches, ...). Paths name the offending value,
 * e.g. "project.segments[2].rules[0].conditions[1].operator".
 */
struct ft_engine_error {
    size_t offset;     /* byte offset of a JSON syntax error, else 0 */
    char detail[384];  /* why the load failed */
    unsigned warnings; /* fallbacks taken */
    char warning[384]; /* the first of them */
};

/*
 * Loads an environment document. `json` is borrowed for the call only: the model copies what it
 * keeps. `opts` may be NULL. On success *out owns a new model (free it with ft_engine_free).
 * Returns FT_OK; FT_EJSON, FT_EDEPTH or FT_ETOOBIG for unreadable JSON; FT_EDOCUMENT when the
 * JSON is not a document the engine can use. `err` (may be NULL) gets details and warnings.
 */
int ft_engine_load_document(const char *json, size_t len, const struct ft_engine_load_options *opts,
                            ft_engine **out, struct ft_engine_error *err);

/*
 * Loads an evaluation context ({"environment", "features", "segments", "identity"}), as
 * ft_engine_load_document. The context's identity, if any, is kept in the model
 * (ft_engine_context_identity).
 */
int ft_engine_load_context(const char *json, size_t len, const struct ft_engine_load_options *opts,
                           ft_engine **out, struct ft_engine_error *err);

/*
 * Loads whichever input `json` is: an environment document, an evaluation context, an engine
 * test case ({"context": ..., "result": ...}) or a v1 engine test file ({"environment": document,
 * "identities_and_responses": ...}). Same contract as ft_engine_load_document.
 */
int ft_engine_load(const char *json, size_t len, const struct ft_engine_load_options *opts,
                   ft_engine **out, struct ft_engine_error *err);

/* Frees a model (NULL is fine). No evaluation may be using it. */
void ft_engine_free(ft_engine *e);

/* --- the environment --- */

struct ft_engine_environment {
    struct ft_nint id;     /* environment id (the webhook's flag "environment") */
    struct ft_str api_key; /* client api key; the context's environment key */
    struct ft_str name;    /* ptr NULL when absent */
    struct ft_nint project_id;
    bool hide_disabled_flags;     /* the environment's value, else the project's */
    bool use_composite_key;       /* use_identity_composite_key_for_hashing */
    struct ft_str webhook_url;    /* webhook_config.url, ptr NULL when absent */
    struct ft_str webhook_secret; /* webhook_config.secret, ptr NULL when absent */
    size_t nfeatures, nsegments, nidentity_overrides;
    size_t memory; /* bytes the model holds (arena and arrays; PCRE2 code excluded) */
};

/* Facts about the loaded environment; valid while the model lives. */
const struct ft_engine_environment *ft_engine_environment(const ft_engine *e);

/*
 * How a feature splits identities when nothing overrides it: its default value (Flagsmith's
 * "control") and, for a multivariate feature, each variant with its percentage allocation.
 * The control keeps what the variants leave (100 minus their sum, at least 0). `variants`
 * holds up to `cap` entries; *nvariants may exceed `cap` (the rest were not written). Values
 * point into the model. FT_OK, or FT_ENOENT when the environment has no such feature.
 */
struct ft_engine_variant {
    struct ft_value value;
    double weight; /* percent */
};

int ft_engine_feature_split(const ft_engine *e, struct ft_str feature, struct ft_value *control,
                            double *control_weight, struct ft_engine_variant *variants,
                            size_t cap, size_t *nvariants);

/* --- evaluating --- */

struct ft_engine_trait {
    struct ft_str key;
    struct ft_value value; /* FT_VALUE_NULL: the trait is present with no value (never set) */
};

struct ft_engine_identity {
    struct ft_str identifier;
    struct ft_str key; /* explicit hashing key (the context's identity.key); ptr NULL: derive it */
    bool has_id;       /* core's convention: hash with the integer id... */
    int64_t id;        /* ...unless the environment sets use_identity_composite_key_for_hashing */
    const struct ft_engine_trait *traits; /* borrowed for the call; a repeated key: last wins */
    size_t ntraits;
};

/* The identity stored in an evaluation context, or NULL (documents never carry one). */
const struct ft_engine_identity *ft_engine_context_identity(const ft_engine *e);

enum ft_engine_source {
    FT_ENGINE_DEFAULT,           /* the environment's feature state */
    FT_ENGINE_SEGMENT_OVERRIDE,  /* the override of a segment the identity belongs to */
    FT_ENGINE_IDENTITY_OVERRIDE, /* the document's identity_overrides entry for the identity */
};

struct ft_engine_flag {
    struct ft_nint feature_id; /* feature.id (context: metadata.id), null when unknown */
    struct ft_str feature_name;
    struct ft_str feature_type; /* "STANDARD", "MULTIVARIATE", ... */
    bool enabled;
    struct ft_value value; /* for a multivariate feature: the identity's variant */
    struct ft_str reason;  /* "DEFAULT", "TARGETING_MATCH; segment=x", "SPLIT; weight=30" */
    struct ft_str variant; /* the variant's key, "control", or ptr NULL for null */
    enum ft_engine_source source;
    struct ft_nint feature_state_id; /* django_id of the state served */
    struct ft_nint feature_segment;  /* feature_segment.id of a segment override, when known */
    struct ft_nint identity;         /* django_id of the identity owning an identity override */
    struct ft_str segment;           /* name of the overriding segment, ptr NULL otherwise */
    struct ft_value percentage_allocation; /* the chosen variant's allocation, else FT_VALUE_NULL */
    struct ft_str metadata; /* the state's metadata object as JSON text, ptr NULL if none */
};

struct ft_engine_segment {
    struct ft_str key; /* the segment's key (a document's segment id as text) */
    struct ft_nint id; /* the key as an integer, null when it is not one */
    struct ft_str name;
    bool member;
    struct ft_str metadata; /* JSON text, ptr NULL if none */
};

struct ft__engine_scratch;

/*
 * The answer of one evaluation. Reuse one per thread: after the first evaluations it stops
 * allocating. Strings point into the model (or the scratch space), so a result is valid until
 * the next evaluation into it, and only while its model lives.
 */
struct ft_engine_result {
    struct ft_engine_flag *flags; /* features by name */
    size_t nflags;
    struct ft_engine_segment *segments; /* every segment of the project, document order */
    size_t nsegments;
    struct ft_str identity_key;         /* the hashing key used, ptr NULL without an identity */
    struct ft__engine_scratch *scratch; /* private */
};

void ft_engine_result_init(struct ft_engine_result *r);
void ft_engine_result_free(struct ft_engine_result *r);

enum {
    FT_ENGINE_CLIENT_VIEW = 1, /* a client key asks: drop project.server_key_only_feature_ids */
    FT_ENGINE_ALL_FLAGS = 2,   /* keep disabled flags even if hide_disabled_flags is set */
};

/*
 * Evaluates `identity` (NULL: the environment's flags without an identity) into `out`.
 * `flags` combines FT_ENGINE_CLIENT_VIEW and FT_ENGINE_ALL_FLAGS. Never fails for any input:
 * every value that cannot be compared is a non-match, as in Flagsmith. Returns FT_OK.
 */
int ft_engine_evaluate(const ft_engine *e, const struct ft_engine_identity *identity,
                       unsigned flags, struct ft_engine_result *out);

/*
 * Types a trait value the way Flagsmith's API does before evaluating: a string that looks like
 * an integer (-?[0-9]+) becomes FT_VALUE_INT and one that looks like a decimal
 * (-?[0-9]+.[0-9]+) FT_VALUE_FLOAT. The text is normalized into `arena` ("007" -> "7",
 * "1.50" -> "1.5"), so that it prints as Flagsmith's API would store it. Digits too many for
 * a double (it would overflow to infinity, which no JSON can carry) stay a string.
 * Returns true when the value changed.
 */
bool ft_engine_trait_coerce(struct ft_value *v, struct ft_arena *arena);

/* "DEFAULT", "SEGMENT_OVERRIDE", "IDENTITY_OVERRIDE". */
const char *ft_engine_source_name(enum ft_engine_source source);

#endif
