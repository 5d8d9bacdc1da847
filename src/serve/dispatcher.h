/*
 * The dispatcher: delivers the webhooks of an outbox spool, at least once.
 *
 * One thread reads outbox records in order and POSTs them through libcurl's multi interface
 * (kept-alive connections, a cap per endpoint, a 10 s timeout, redirects not followed). A 2xx
 * is delivered. 5xx, 408, 429, timeouts and connection errors are retried after the schedule's
 * delay (with ±20% jitter, and at least Retry-After when the endpoint sent one) until the
 * webhook is older than max_age; then, and at once for any other answer, it becomes a dead
 * letter, written to the dead-letter spool with the reason. A 410 also disables its endpoint
 * (its other webhooks go to the dead letters too) until the process restarts.
 *
 * Progress is a checkpoint: the position before which every record is finished (delivered or
 * dead), kept in a file and renewed as it moves. After a restart the dispatcher resumes there,
 * so a webhook may be sent twice (at least once) but never lost; with Standard Webhooks headers
 * the receiver recognises the repeat by its webhook-id.
 */
#ifndef FT_SERVE_DISPATCHER_H
#define FT_SERVE_DISPATCHER_H

#include "flagtrail/base.h"
#include "flagtrail/signature.h"
#include "spool/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_dispatcher ft_dispatcher;

/* The default retry schedule: the delay before attempt 2, 3, ...; the last repeats. */
#define FT_DISPATCH_SCHEDULE "5s,30s,2m,10m,30m,1h"
#define FT_DISPATCH_MAX_AGE_US (24LL * 3600 * 1000000)

struct ft_dispatcher_options {
    const char *checkpoint_path; /* the source spool's checkpoint file */
    ft_spool *dead;              /* where dead letters go (borrowed) */
    const int64_t *schedule_us;  /* delays; NULL: FT_DISPATCH_SCHEDULE */
    size_t nschedule;
    int64_t max_age_us;          /* give up after this long (0: 24 h) */
    long timeout_ms;             /* per attempt (0: 10 000) */
    unsigned per_endpoint;       /* concurrent calls to one endpoint (0: 32) */
    size_t max_pending;          /* webhooks held (sending or waiting to retry) (0: 100 000) */
    size_t max_pending_bytes;    /* their bodies together (0: 256 MiB) */
    bool standard_webhooks;      /* add webhook-id, webhook-timestamp, webhook-signature */
    const char *user_agent;
    /* A signer for an environment's webhook secret, new and owned by the caller of this
     * callback (the dispatcher frees it), or NULL when webhooks to it go unsigned. */
    ft_signer *(*signer)(void *arg, struct ft_str environment);
    void *signer_arg;
    /* Changes whenever what signer() answers may have changed (a reload). */
    unsigned (*generation)(void *arg);
    /* Drain mode (replay): stop once every record before the end found at start is finished;
     * max_age counts from the start of the replay rather than from each webhook's creation. */
    bool drain;
};

struct ft_dispatcher_stats {
    uint64_t delivered;
    uint64_t retried;    /* failed attempts that will be tried again */
    uint64_t dead;       /* webhooks given up on */
    uint64_t dead_lost;  /* dead letters that could not be written */
    uint64_t rotated;    /* waiting webhooks moved to the outbox's tail (dispatcher.c) */
    uint64_t read_errors; /* failed reads of the outbox (each retried after a pause) */
    size_t pending;      /* webhooks held now */
    size_t unread;       /* webhooks after them in the outbox, counted while none can be held */
    size_t in_flight;
    uint64_t checkpoint;
};

/* The longest delay or age a schedule may name: 366 days. */
#define FT_DISPATCH_DURATION_MAX_US ((int64_t)366 * 24 * 3600 * 1000000)

/* Parses "5s,30s,2m,10m,30m,1h" (units ms, s, m, h) into at most `max` delays, each at most
 * FT_DISPATCH_DURATION_MAX_US. */
bool ft_dispatch_parse_schedule(const char *s, int64_t *out, size_t max, size_t *n);

/* A dispatcher over `outbox` (borrowed), resuming at its checkpoint file. FT_OK or FT_EIO. */
int ft_dispatcher_new(ft_spool *outbox, const struct ft_dispatcher_options *opt,
                      ft_dispatcher **out, char *err, size_t errlen);

int ft_dispatcher_start(ft_dispatcher *d);

/* Stops reading, lets calls in flight finish until `deadline_us` (monotonic µs), saves the
 * checkpoint and joins the thread. Webhooks waiting to retry stay after the checkpoint. */
void ft_dispatcher_stop(ft_dispatcher *d, int64_t deadline_us);

/* Drain mode, on the calling thread: sends until every record is finished. FT_OK, or FT_EIO
 * when it stopped at a record it could not read (those after it stay for a later run). */
int ft_dispatcher_run(ft_dispatcher *d);

void ft_dispatcher_get_stats(ft_dispatcher *d, struct ft_dispatcher_stats *out);
void ft_dispatcher_free(ft_dispatcher *d);

#endif
