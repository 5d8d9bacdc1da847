/*
 * The dispatcher's state, shared by its two files (src/serve/dispatcher.h): dispatcher.c reads
 * the outbox, sends and keeps the checkpoint; dispatcher_retry.c decides when a webhook is
 * tried again, holds the retry heap, and moves waiting webhooks out of the checkpoint's way.
 * Everything here belongs to the dispatcher's thread but `stats`, which `lock` guards.
 */
#ifndef FT_SERVE_DISPATCHER_INT_H
#define FT_SERVE_DISPATCHER_INT_H

#include "flagtrail/base.h"
#include "http/client.h"
#include "serve/dispatcher.h"
#include "serve/outbox.h"
#include "spool/spool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_SCHEDULE 32
#define ROTATE_RUN 64 /* waiting webhooks moved at once, at most */
#define LOG_EVERY_NS 60000000000LL /* a failure that persists is logged once a minute */

struct pending;

struct endpoint {
    char *url;
    unsigned in_flight;
    bool disabled;
    bool failing; /* failed while stopping: nothing more goes to it before the next start */
    struct pending *ready, **ready_tail; /* FIFO */
};

struct pending {
    struct ft_dispatcher *d;
    struct pending *prev, *next; /* every pending webhook, by LSN */
    struct pending *qnext;       /* its endpoint's ready queue */
    uint64_t lsn, next_lsn;
    int64_t created_at;
    int64_t age_from; /* max_age counts from here: creation, or a replay's start */
    int64_t due_us;
    size_t heap_index; /* while waiting */
    bool waiting;      /* in the retry heap */
    unsigned attempts;
    struct endpoint *ep;
    struct ft_str id, url, environment, body; /* in `mem` */
    char *mem;
    size_t mem_len;
    char status_line[256]; /* the last failure, for a dead letter's reason */
};

/* A call's headers (the HTTP client copies them). */
struct headers {
    char hdr[4][160]; /* signature, webhook-id, -timestamp, -signature */
    const char *list[5];
    size_t n;
};

struct signer_cache {
    char *environment;
    ft_signer *signer; /* NULL: unsigned */
};

struct ft_dispatcher {
    ft_spool *outbox;
    struct ft_dispatcher_options opt;
    int64_t schedule[MAX_SCHEDULE];
    size_t nschedule;
    char *checkpoint_path;
    ft_spool_reader *reader;
    /* While the dispatcher holds all it may, a second cursor counts the webhooks waiting
     * unread after `reader`: `unread` of them, up to its position. */
    ft_spool_reader *counter;
    size_t unread;
    ft_http_client *client;

    struct pending head;   /* list of pending, by LSN */
    size_t nready;         /* in the endpoints' ready queues */
    struct pending **heap; /* retry heap by due_us */
    size_t nheap, heap_cap;
    size_t npending, pending_bytes;
    uint64_t pending_span; /* their records' bytes in the outbox, framing included */
    struct endpoint **endpoints; /* each allocated apart: pending webhooks point at them */
    size_t nendpoints;
    struct signer_cache *signers;
    size_t nsigners;
    unsigned generation;

    uint64_t saved_checkpoint;
    int64_t saved_at_ns;
    /* Webhooks moved to the outbox's tail whose copies are not known durable yet: the
     * originals stay in the list, inert, holding the checkpoint, until they are. */
    struct pending *moved[ROTATE_RUN];
    size_t nmoved;
    uint64_t moved_lsn;   /* the last copy's position */
    unsigned moved_epoch; /* the outbox's cut epoch when the copies were appended */
    int64_t move_logged_ns;
    bool save_soon; /* a settled move: save the checkpoint at the next turn */
    int64_t read_retry_ns, read_backoff_ns, read_logged_ns; /* an unreadable outbox */
    bool read_failing;
    bool drain_failed; /* a drain stopped at a record it could not read */
    uint64_t drain_end;
    bool reader_done, stopping;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    int64_t deadline_us;

    pthread_mutex_t lock;
    struct ft_dispatcher_stats stats;
};

/* --- dispatcher.c --- */

/* Puts `p` on its endpoint's ready queue. */
void ft__dispatch_enqueue(ft_dispatcher *d, struct pending *p);
/* Forgets a webhook that is delivered, dead or moved; frees it. */
void ft__dispatch_finish(ft_dispatcher *d, struct pending *p);
/* Adds one to a counter of `d->stats`. */
void ft__dispatch_bump(ft_dispatcher *d, uint64_t *counter);
/* Writes `p` to the dead letters with `why`, counts it, and finishes it. */
void ft__dispatch_dead(ft_dispatcher *d, struct pending *p, const char *why);

/* --- dispatcher_retry.c --- */

/* The retry heap, by due time: `p->waiting` while in it. */
void ft__retry_push(ft_dispatcher *d, struct pending *p);
void ft__retry_remove(ft_dispatcher *d, struct pending *p);
struct pending *ft__retry_pop(ft_dispatcher *d);
/* After a failed attempt: waits for the schedule's next delay (or a longer Retry-After of
 * `retry_after_s` seconds; -1: none), or makes `p` a dead letter when that passes its age. */
void ft__retry_later(ft_dispatcher *d, struct pending *p, int64_t retry_after_s);
/* A webhook just read: ready now, or, moved while waiting (`r` a retry record), waiting for
 * its due time. */
void ft__retry_schedule_read(ft_dispatcher *d, struct pending *p, const struct ft_outbox_record *r);
/* Moves waiting webhooks that hold enough finished ones behind them to the outbox's tail. */
void ft__retry_move_waiting(ft_dispatcher *d);
/* Finishes the moved originals once their copies are durable, or puts them back to wait when
 * a cut may have taken the copies; `stopping` syncs the outbox first. */
void ft__retry_settle_moved(ft_dispatcher *d, bool stopping);

#endif
