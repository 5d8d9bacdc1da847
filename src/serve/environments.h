/*
 * serve's environments: the compiled documents it answers from, and the keys that pick one.
 *
 * A set of environments is immutable and reference-counted. A request takes the current set,
 * answers from it, and releases it; a reload (SIGHUP, a document file that changed, a polled
 * URL with a newer document) builds a new set and swaps it in atomically, so requests in
 * flight finish on the models they started with and the old set is freed by the last of them.
 * A document that fails to load keeps its previous model.
 *
 * Keys: each document's api_key is its client key; server keys ("ser....") come from a keys
 * file or --key, each mapped to an environment (implicitly when there is only one).
 */
#ifndef FT_SERVE_ENVIRONMENTS_H
#define FT_SERVE_ENVIRONMENTS_H

#include "flagtrail/engine.h"
#include "flagtrail/payload.h"
#include "flagtrail/signature.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The environment document does not carry a feature's creation date; webhooks and answers
 * show this one (docs/serve.md). */
#define FT_UNKNOWN_CREATED_DATE "1970-01-01T00:00:00Z"

/* What the engine does not know about a feature but Flagsmith's answers carry. */
struct ft_feature_info {
    struct ft_str name;
    bool default_enabled;
    struct ft_str initial_value; /* ptr NULL for null */
    struct ft_str json;          /* the flag's "feature" object, the same in every answer */
    struct ft_str webhook_json;  /* and as webhooks print it (ft_payload_emit_feature) */
};

struct ft_env {
    ft_engine *engine;
    char *api_key;            /* the client key */
    char *source;             /* file or URL it came from */
    char *document;           /* the document's bytes, for /api/v1/environment-document/ */
    size_t document_len;
    /* The settings of Flagsmith's SDK endpoints the document carries */
    bool allow_client_traits; /* allow_client_traits: client keys may send traits (default) */
    bool persist_traits;      /* project.organisation.persist_trait_data (default true) */
    bool stop_serving;        /* project.organisation.stop_serving_flags (default false) */
    char *webhook_url;        /* NULL: no webhooks */
    char *webhook_secret;     /* NULL: unsigned */
    size_t webhook_secret_len;
    struct ft_feature_info *features; /* sorted by name */
    char *features_json;      /* what their .json and .webhook_json point into */
    size_t nfeatures;
    char last_modified[64];   /* of a polled document */
    int64_t mtime_ns;         /* of a file */
};

struct ft_env_key {
    char *key;
    size_t env;
    bool server;
};

struct ft_envset {
    _Atomic int refs;
    struct ft_env **envs;
    size_t nenvs;
    struct ft_env_key *keys;
    size_t nkeys;
    unsigned generation;
};

typedef struct ft_environments ft_environments;

struct ft_environments_options {
    const char *const *files;
    size_t nfiles;
    const char *url;             /* poll this document endpoint (Flagsmith's, or an edge) */
    const char *url_key;         /* its X-Environment-Key (a server key): a secret */
    unsigned poll_interval_s;    /* default 10 */
    const char *const *keys;     /* "KEY" or "KEY=ENVIRONMENT_API_KEY" */
    size_t nkeys;
    const char *webhook_url;     /* overrides documents' webhook_config.url */
    const char *webhook_secret;  /* overrides their secret (copied, wiped when freed) */
    size_t webhook_secret_len;
};

/* Loads every document. FT_OK, or an error with `err` (a document failed, a key is bad). */
int ft_environments_open(const struct ft_environments_options *opt, ft_environments **out,
                         char *err, size_t errlen);
void ft_environments_close(ft_environments *r);

/* The current set, held until ft_envset_release. Never NULL after a successful open. */
struct ft_envset *ft_environments_acquire(ft_environments *r);
void ft_envset_release(struct ft_envset *set);

/* The environment a key opens, or NULL; *server tells a server key. */
const struct ft_env *ft_envset_find(const struct ft_envset *set, const char *key, bool *server);

/* The feature's extra facts, or NULL. */
const struct ft_feature_info *ft_env_feature(const struct ft_env *env, struct ft_str name);

/* Appends a flag's "feature" object as the flags API shows it; `fi` may be NULL (a feature the
 * document's defaults do not list). ft_feature_info.json holds this text, written at load. */
void ft_env_write_feature(struct ft_buf *b, const struct ft_engine_flag *f,
                          const struct ft_feature_info *fi);

/* A flag's feature as its webhook carries it, with the text printed at load when `fi` has it
 * (`fi` may be NULL). */
struct ft_feature ft_env_webhook_feature(const struct ft_engine_flag *f,
                                         const struct ft_feature_info *fi);

/* Reloads files that changed (or all, when `force`) and polls the URL. Returns how many
 * documents were replaced; failures are logged and keep the previous model. */
int ft_environments_reload(ft_environments *r, bool force);

/* A thread that checks files every second and polls the URL every poll interval. */
int ft_environments_watch(ft_environments *r);

/* Has the watcher reload everything soon (SIGHUP) and log `serve.reloaded`; returns at once,
 * also while a fetch of the URL is in progress. Without a watcher, reloads here. */
void ft_environments_request_reload(ft_environments *r);

unsigned ft_environments_generation(ft_environments *r);

/* A new signer for the environment with client key `api_key`, or NULL (unsigned / unknown). */
ft_signer *ft_environments_signer(ft_environments *r, struct ft_str api_key);

#endif
