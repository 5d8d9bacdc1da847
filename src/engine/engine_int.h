/*
 * The engine's private model, shared by its files: the loaders (load.c, load_document.c,
 * load_context.c) build it, the evaluator (eval.c, condition.c) reads it.
 *
 * Everything lives in flat arrays indexed by uint32_t, with strings in one arena, so a model is
 * a handful of allocations and evaluation follows indices instead of pointers. The helpers for
 * Python's value semantics (pyval.c), semantic versions (semver.c), hashing (hash.c), regexes
 * (regex.c) and JSONPath properties (jsonpath.c) are declared here too, with the ft__ prefix of
 * non-static internals.
 */
#ifndef FT_ENGINE_INT_H
#define FT_ENGINE_INT_H

#include "flagtrail/engine.h"
#include "flagtrail/json.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NO_INDEX UINT32_MAX

/* --- Python value semantics (pyval.c) --- */

/* Python's int(s): optional whitespace and sign, digits with single underscores between them.
 * On success *out is the normalized decimal ("-12", "0") in `arena`. */
bool ft__py_int_parse(struct ft_str s, struct ft_arena *arena, struct ft_str *out);

/* Python's float(s): decimal or exponent forms with underscores, "inf", "infinity", "nan". */
bool ft__py_float_parse(struct ft_str s, double *out);

/* Orders two integers written in decimal (optional '-', leading zeros allowed), exactly. */
int ft__py_int_cmp(struct ft_str a, struct ft_str b);

/* Python's float % float (the result has the divisor's sign). */
double ft__py_fmod(double x, double y);

/* Appends Python's str() of a value: "None", "True", "12", "0.1", "inf", or the string. */
void ft__py_str(struct ft_buf *out, const struct ft_value *v);

/* A number value's double (strtod of its text). */
double ft__value_double(const struct ft_value *v);

/* --- semantic versions (semver.c) --- */

struct ft__semver {
    struct ft_str major, minor, patch; /* digits, no leading zeros */
    struct ft_str pre;                 /* prerelease, empty when none; build is ignored */
};

/* Parses semver 2.0.0 as python-semver's Version.parse does; views point into `s`. */
bool ft__semver_parse(struct ft_str s, struct ft__semver *out);
/* <0, 0, >0 in semver precedence (build metadata ignored). */
int ft__semver_cmp(const struct ft__semver *a, const struct ft__semver *b);

/* --- hashing (hash.c) --- */

/* The 16-byte MD5 digest of `len` bytes (RFC 1321). */
void ft__md5(const void *data, size_t len, unsigned char digest[16]);

/*
 * Flagsmith's hashed percentage of a list of ids, in [0, 100): md5(",".join(ids * n)) read as a
 * 128-bit big-endian integer h, (h % 9999) / 9998 * 100, with n = 1, 2, ... until below 100.
 * `scratch` is reused for the joined text.
 */
double ft__hash_percentage(const struct ft_str *ids, size_t nids, struct ft_buf *scratch);
/* The hashed percentage of [keys[i], identity] for each of `n` keys, two MD5s at a time. */
void ft__hash_percentages(const struct ft_str *keys, uint32_t n, struct ft_str identity,
                          double *out, struct ft_buf *scratch);

/* --- regexes (regex.c) --- */

enum { REGEX_MATCH_LIMIT = 100000, REGEX_DEPTH_LIMIT = 10000 };

/* Compiles a Python `re` pattern for re.match semantics; NULL with `err` filled if invalid. */
pcre2_code *ft__regex_compile(struct ft_str pattern, char *err, size_t errlen);
pcre2_match_context *ft__regex_context(void);
/* 1 match, 0 no match, negative: PCRE2 error (match limit, invalid UTF-8 subject). */
int ft__regex_match(const pcre2_code *re, struct ft_str subject, pcre2_match_data *md,
                    pcre2_match_context *mctx);

/* --- properties (jsonpath.c) --- */

enum path_target {
    PATH_NOTHING,      /* resolves to no primitive value */
    PATH_IDENTIFIER,   /* $.identity.identifier */
    PATH_IDENTITY_KEY, /* $.identity.key */
    PATH_ENV_KEY,      /* $.environment.key */
    PATH_ENV_NAME,     /* $.environment.name */
    PATH_TRAIT,        /* $.identity.traits.<name> */
};

enum path_syntax { PATH_INVALID, PATH_VALID, PATH_UNSUPPORTED };

/*
 * Reads a property starting with "$." as an RFC 9535 JSONPath into the evaluation context.
 * PATH_VALID sets *target (and *trait for PATH_TRAIT, decoded into `arena`); PATH_UNSUPPORTED
 * is valid syntax the engine does not resolve (wildcards, descendants, filters, slices, paths
 * into features or segments); PATH_INVALID is not JSONPath at all.
 */
enum path_syntax ft__jsonpath_compile(struct ft_str property, struct ft_arena *arena,
                                      enum path_target *target, struct ft_str *trait);

/* --- the model --- */

enum cond_op {
    OP_EQUAL,
    OP_NOT_EQUAL,
    OP_GREATER_THAN,
    OP_GREATER_THAN_INCLUSIVE,
    OP_LESS_THAN,
    OP_LESS_THAN_INCLUSIVE,
    OP_CONTAINS,
    OP_NOT_CONTAINS,
    OP_REGEX,
    OP_MODULO,
    OP_IN,
    OP_IS_SET,
    OP_IS_NOT_SET,
    OP_PERCENTAGE_SPLIT,
    OP_UNKNOWN, /* never matches */
};

enum rule_type { RULE_ALL, RULE_ANY, RULE_NONE, RULE_UNKNOWN };

enum prop_kind {
    PROP_NONE,  /* empty or null property: no value */
    PROP_TRAIT, /* a trait key */
    PROP_PATH,  /* "$.": a trait of that literal name, else the path's target */
};

struct eng_prop {
    uint8_t kind;       /* enum prop_kind */
    uint8_t target;     /* enum path_target, for PROP_PATH */
    uint32_t slot;      /* trait slot of the literal property (PROP_TRAIT, PROP_PATH) */
    uint32_t path_slot; /* trait slot of PATH_TRAIT */
};

/* A condition with its value cast in advance to every type a context value may need. */
struct eng_cond {
    uint8_t op;      /* enum cond_op */
    bool value_null; /* the condition's value is null: str() gives "None" */
    bool has_int;    /* int(value) succeeded: int_text */
    bool has_float;  /* float(value) succeeded: float_value */
    bool bool_value; /* value not in ("False", "false") */
    bool is_semver;  /* value ends with ":semver" */
    bool semver_ok;  /* ...and the rest parses: semver */
    struct eng_prop prop;
    struct ft_str text; /* str(value) */
    struct ft_str int_text;
    double float_value;
    struct ft__semver semver;
    uint32_t eager; /* OP_PERCENTAGE_SPLIT always evaluated: its index in ft_engine.eager */
    union {
        const pcre2_code *re; /* OP_REGEX; NULL when invalid */
        struct {              /* OP_MODULO */
            bool ok;
            double divisor, remainder;
        } mod;
        struct { /* OP_PERCENTAGE_SPLIT */
            bool ok;
            double threshold;
        } pct;
        struct { /* OP_IN: str() of each value, sorted */
            const struct ft_str *values;
            uint32_t n;
        } in;
    } u;
};

struct eng_rule {
    uint8_t type; /* enum rule_type */
    uint32_t first_cond, ncond;
    uint32_t first_child, nchild; /* sub-rules are contiguous in the rules array */
};

struct eng_variant {
    struct ft_value value;
    double weight;
    struct ft_value allocation; /* the weight as written (percentage_allocation) */
    struct ft_str key;          /* variant key, ptr NULL when absent */
    struct ft_str reason;       /* "SPLIT; weight=<str(weight)>" */
    double priority;            /* order; +inf when absent */
    struct ft_str uuid;         /* then this (hex digits of mv_fs_value_uuid), when no id */
    uint32_t order;             /* then the position in the input */
};

/* A feature state: an environment default, a segment override or an identity override. */
struct eng_state {
    struct ft_str name; /* feature name */
    struct ft_nint feature_id;
    struct ft_str feature_type;
    bool enabled;
    struct ft_value value;
    struct ft_str key; /* hashing key: django_id text, featurestate_uuid, context key */
    struct ft_nint django_id;
    struct ft_nint feature_segment;
    double priority; /* segment override priority; +inf when absent */
    uint32_t first_variant, nvariants;
    struct ft_str metadata;
    uint32_t feature; /* index in features; NO_INDEX when the feature is unknown */
    uint32_t eager;   /* a default with variants: its index in ft_engine.eager */
};

struct eng_feature {
    struct ft_str name;
    uint32_t state; /* default state */
    bool server_key_only;
};

struct eng_segment {
    struct ft_str key; /* hashing key of PERCENTAGE_SPLIT */
    struct ft_nint id;
    struct ft_str name;
    struct ft_str metadata;
    struct ft_str reason; /* "TARGETING_MATCH; segment=<name>" */
    uint32_t first_rule, nrules;
    uint32_t first_override, noverrides; /* states */
};

struct eng_identity_override {
    struct ft_str identifier;
    uint64_t hash;
    struct ft_nint django_id;
    uint32_t first_state, nstates;
};

/* An open-addressing table from names to indices (trait slots, identity overrides). */
struct eng_table {
    uint32_t *index; /* NO_INDEX for empty buckets */
    uint32_t mask;   /* capacity - 1 (a power of two) */
};

struct ft_engine {
    struct ft_arena arena;
    struct ft_engine_environment env;

    struct eng_feature *features; /* sorted by name */
    uint32_t nfeatures;
    struct eng_state *states;
    uint32_t nstates;
    struct eng_variant *variants;
    uint32_t nvariants;
    struct eng_segment *segments;
    uint32_t nsegments;
    struct eng_rule *rules;
    uint32_t nrules;
    struct eng_cond *conds;
    uint32_t nconds;
    struct eng_identity_override *overrides;
    uint32_t noverrides;
    struct eng_table override_table;

    struct ft_str *slots; /* trait names conditions read, by slot */
    uint32_t nslots;
    struct eng_table slot_table;

    pcre2_code **regexes; /* owned, freed with the model */
    uint32_t nregexes;
    pcre2_match_context *match_context;

    bool has_identity; /* the context's identity */
    struct ft_engine_identity identity;
    struct ft_engine_trait *identity_traits;

    struct ft_str identity_override_reason; /* "TARGETING_MATCH; segment=identity_overrides" */

    /* The hashing keys whose percentage every evaluation with an identity needs (variants of
     * defaults, and splits that are the first condition a segment tests): hashed together,
     * two at a time, before the segments are evaluated. */
    struct ft_str *eager;
    uint32_t neager;
};

/* The index of the feature named `name` (features are sorted by name), or NO_INDEX. */
uint32_t ft__find_feature(const ft_engine *e, struct ft_str name);
/* The names of the identity overrides, for ft__table_find (NULL when there are none). */
const void *ft__override_names(const ft_engine *e);
/* FNV-1a of a name, for eng_table. */
uint64_t ft__name_hash(struct ft_str s);
/*
 * Builds a table over `n` names: the name of index i is the ft_str at `names + i * stride`
 * bytes. The table's memory comes from `arena`.
 */
void ft__table_build(struct eng_table *t, struct ft_arena *arena, const void *names, size_t stride,
                     uint32_t n);
/* The index of `name` in a table built over `names`/`stride`, or NO_INDEX. */
uint32_t ft__table_find(const struct eng_table *t, const void *names, size_t stride,
                        struct ft_str name);

/* --- building a model (load.c) --- */

struct loader {
    ft_engine *e;
    ft_json_doc *doc;
    struct ft_engine_error *err;
    char path[256];
    size_t pathlen;
    uint32_t cap_features, cap_states, cap_variants, cap_segments, cap_rules, cap_conds,
        cap_overrides, cap_slots, cap_regexes;
    uint32_t *slot_index; /* trait name -> slot while loading (condition.c) */
    uint32_t slot_mask;
};

/* Path breadcrumbs for messages: push returns the length to restore with path_pop. */
size_t ft__path_key(struct loader *L, const char *key);
size_t ft__path_name(struct loader *L, struct ft_str name);
size_t ft__path_index(struct loader *L, size_t i);
void ft__path_pop(struct loader *L, size_t len);

/* Fails the load: "<path>: <message>". Returns FT_EDOCUMENT. */
int ft__load_fail(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a documented fallback: "<path>: <message>". */
void ft__load_warn(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A member of an object, checked against the allowed types (a bit set of 1 << FT_JSON_*). */
enum {
    T_NULL = 1 << FT_JSON_NULL,
    T_BOOL = (1 << FT_JSON_TRUE) | (1 << FT_JSON_FALSE),
    T_NUMBER = 1 << FT_JSON_NUMBER,
    T_STRING = 1 << FT_JSON_STRING,
    T_ARRAY = 1 << FT_JSON_ARRAY,
    T_OBJECT = 1 << FT_JSON_OBJECT,
    T_SCALAR = T_NULL | T_BOOL | T_NUMBER | T_STRING,
};
/* The member `key` of `obj` (NULL when absent and not `required`); fails on a wrong type. */
int ft__member(struct loader *L, const struct ft_json *obj, const char *key, unsigned types,
               bool required, const struct ft_json **out);

struct ft_str ft__copy_str(struct loader *L, const struct ft_json *v);
struct ft_str ft__copy(struct loader *L, struct ft_str s);
/* A scalar JSON value as an ft_value whose text the model owns. */
struct ft_value ft__copy_value(struct loader *L, const struct ft_json *v);
/* An integer member that may be null or absent; fails when it is not an int64. */
int ft__get_nint(struct loader *L, const struct ft_json *obj, const char *key, bool required,
                 struct ft_nint *out);
/* A number member as a double (absent or null: `dflt`). */
int ft__get_number(struct loader *L, const struct ft_json *obj, const char *key, double dflt,
                   double *out, const struct ft_json **node);
int ft__get_bool(struct loader *L, const struct ft_json *obj, const char *key, bool dflt,
                 bool *out);
/* An object's JSON text, for metadata (ptr NULL when absent or null). */
int ft__get_raw_object(struct loader *L, const struct ft_json *obj, const char *key,
                       struct ft_str *out);

uint32_t ft__new_state(struct loader *L);
uint32_t ft__new_variant(struct loader *L);
uint32_t ft__new_segment(struct loader *L);
uint32_t ft__new_override(struct loader *L);
/* Reserves `n` contiguous rules / conditions; returns the first index. */
uint32_t ft__new_rules(struct loader *L, uint32_t n);
uint32_t ft__new_conds(struct loader *L, uint32_t n);
void ft__add_feature(struct loader *L, uint32_t state);

/*
 * Reads a rule object ({type, conditions, rules}) into L->e->rules[index]. `property_key` is
 * "property_" for documents, "property" for contexts (both are accepted).
 */
int ft__load_rule(struct loader *L, const struct ft_json *rule, uint32_t index);
/* Reads an array of rules (or null: none), at the path's key "rules", into contiguous rules:
 * the first's index and their number. */
int ft__load_rules(struct loader *L, const struct ft_json *rules, uint32_t *first, uint32_t *n);
/* A segment's evaluation reason: "TARGETING_MATCH; segment=<name>", in the model's arena. */
struct ft_str ft__segment_reason(struct loader *L, struct ft_str name);

/* Sorts, indexes and finishes the model after a front end filled it. */
int ft__load_finish(struct loader *L);

/* Front ends (load_document.c, load_context.c) over a parsed node. */
int ft__load_document_node(struct loader *L, const struct ft_json *root);
int ft__load_context_node(struct loader *L, const struct ft_json *root);

/* --- conditions (condition.c) --- */

/* Compiles a condition object into L->e->conds[index]. */
int ft__load_condition(struct loader *L, const struct ft_json *cond, uint32_t index);

/* A value a condition compares: a trait or a context field. */
enum cv_type { CV_NONE, CV_BOOL, CV_INT, CV_FLOAT, CV_STR };
struct cval {
    uint8_t type; /* enum cv_type */
    bool b;
    double d;                 /* CV_FLOAT (and CV_INT, once needed) */
    struct ft_str s;          /* CV_STR text, CV_INT / CV_FLOAT lexeme */
    const struct ft_value *v; /* the trait value (NULL for context fields) */
};

/* What one evaluation knows about its identity; scratch space of a result. */
struct evalctx {
    const ft_engine *e;
    bool has_identity;
    struct ft_str identifier;
    struct ft_str identity_key;
    struct cval *slot_values; /* by trait slot; CV_NONE when the identity lacks the trait */
    struct ft_buf buf;        /* str() and hashing scratch */
    struct ft_buf buf2;
    pcre2_match_data *md;
    double *eager_pct; /* by ft_engine.eager index, for this identity */
};

bool ft__condition_matches(const struct eng_cond *c, const struct eng_segment *seg,
                           struct evalctx *x);

#endif
