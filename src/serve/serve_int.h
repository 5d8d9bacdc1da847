/*
 * What the files of src/serve share: the server's state, its per-thread workspace, and the
 * answer builders.
 */
#ifndef FT_SERVE_INT_H
#define FT_SERVE_INT_H

#include "flagtrail/engine.h"
#include "flagtrail/json.h"
#include "http/metrics.h"
#include "http/server.h"
#include "serve/dispatcher.h"
#include "serve/environments.h"
#include "serve/identities.h"
#include "serve/serve.h"
#include "spool/spool.h"

#include <pthread.h>
#include <stdatomic.h>

enum serve_route {
    S_FLAGS,
    S_IDENTITIES_GET,
    S_IDENTITIES_POST,
    S_DOCUMENT,
    S_HEALTHZ,
    S_READYZ,
    S_METRICS,
    S_OTHER,
    S_COUNT
};

#define S_STATUSES 9 /* 200, 400, 403, 404, 405, 413, 415, 503, other */

struct serve_worker {
    struct serve_worker *next;
    ft_json_doc *doc;
    struct ft_arena arena;
    struct ft_engine_result result;
    struct ft_buf out;     /* the answer */
    struct ft_buf webhook; /* the webhook body */
};

struct server {
    const struct ft_serve_config *cfg;
    ft_environments *envs;
    ft_identities *identities;
    ft_spool *outbox, *dead;
    ft_dispatcher *dispatcher;
    ft_http_server *http;
    pthread_mutex_t workers_lock;
    struct serve_worker *workers;

    atomic_uint_fast64_t requests[S_COUNT][S_STATUSES];
    atomic_uint_fast64_t webhooks_emitted, webhooks_lost, identity_errors;
    struct ft_histogram latency;
};

struct serve_worker *ft__serve_worker(struct server *s);

/* The route table and handlers (api.c), and the flags API's cross-origin settings. */
extern const struct ft_http_route ft__serve_routes[];
extern const size_t ft__serve_nroutes;
extern const struct ft_http_cors ft__serve_cors;

/* Appends one flag as Flagsmith's flags API answers it. */
void ft__serve_write_flag(struct ft_buf *b, const struct ft_env *env,
                          const struct ft_engine_flag *f);

/* Fills a webhook payload for an identity's evaluation, with the segment members given
 * (one per r->segments; NULL: the evaluation's). Strings are borrowed from the arguments or
 * put in `arena`. */
void ft__serve_payload(const struct ft_env *env, const struct ft_engine_result *r,
                       struct ft_str identifier, const struct ft_trait *traits, size_t ntraits,
                       const bool *members, struct ft_arena *arena, struct ft_payload *out);

void ft__serve_render_metrics(struct server *s, struct ft_buf *out);

#endif
