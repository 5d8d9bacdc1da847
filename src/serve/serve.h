/*
 * flagtrail serve: a Flagsmith-compatible flags API that evaluates locally and, on every
 * identity call, emits the identity webhook Flagsmith would send, byte for byte, durably.
 *
 * Routes (X-Environment-Key picks the environment): GET /api/v1/flags/,
 * GET /api/v1/identities/?identifier=X[&feature=NAME], POST /api/v1/identities/,
 * GET /api/v1/environment-document/ (server keys), /healthz, /readyz, /metrics. Webhooks go to
 * an outbox spool without waiting for its fsync (a sync every `sync_interval_ms`) and a
 * dispatcher delivers them with retries; a full or failed outbox never stops the flags API
 * (availability first): the webhook is counted and logged as lost.
 */
#ifndef FT_SERVE_H
#define FT_SERVE_H

#include "base/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FT_SERVE_MAX_FILES 16

struct ft_serve_config {
    const char *listen; /* default 127.0.0.1:8000 */
    const char *environments[FT_SERVE_MAX_FILES];
    size_t nenvironments;
    const char *environment_url; /* poll Flagsmith's environment-document endpoint */
    const char *environment_key; /* its server key (secret; from a file or the environment) */
    unsigned poll_interval_s;
    const char *keys[FT_SERVE_MAX_FILES * 4]; /* "KEY" or "KEY=API_KEY" */
    size_t nkeys;
    const char *data_dir;   /* identities.db, outbox/, dead-letters/ */
    const char *identities; /* the identity store (NULL: DATA/identities.db) */
    const char *webhook_url;
    const char *webhook_secret; /* secret bytes (from a file or the environment) */
    size_t webhook_secret_len;
    bool standard_webhooks;
    int64_t schedule_us[32];
    size_t nschedule; /* 0: the default schedule */
    int64_t max_age_us;
    uint64_t outbox_max_bytes;
    unsigned sync_interval_ms; /* outbox sync, identity store commit; default 10 */
    unsigned webhook_timeout_s;
    unsigned endpoint_concurrency;
    unsigned threads, max_connections;
    unsigned drain_timeout_s;
};

void ft_serve_config_init(struct ft_serve_config *cfg);

/* Runs until SIGTERM or SIGINT (SIGHUP reloads the documents); returns an exit code. */
int ft_serve_run(const struct ft_serve_config *cfg);

#endif
