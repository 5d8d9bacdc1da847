/*
 * The dispatcher (src/serve/dispatcher.h).
 *
 * Webhooks read from the outbox become `pending` entries, kept in an LSN-ordered list (its
 * head gives the checkpoint) and owned by exactly one of: their endpoint's ready queue (to
 * send as soon as the endpoint has a free slot), the client (in flight), or the retry heap
 * (ordered by due time). Reading stops while READAHEAD webhooks are ready, so a full outbox
 * stays on disk rather than in memory. A webhook waiting for its retry would hold the
 * checkpoint, and so every record after it, delivered or not, on disk and in the outbox's
 * bound; when enough finished records wait behind such webhooks, they are moved to the
 * outbox's tail (rotate_waiting). Everything runs on the dispatcher's thread; only the
 * statistics are shared, under a mutex.
 */
#include "serve/dispatcher.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "flagtrail/error.h"
#include "http/client.h"
#include "serve/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MAX_SCHEDULE 32
#define READAHEAD 1024 /* ready webhooks, all endpoints together */
#define ROTATE_RUN 64  /* waiting webhooks moved at once, at most */
#define READ_BACKOFF_MIN_NS 100000000LL   /* an unreadable outbox: first wait, 100 ms */
#define READ_BACKOFF_MAX_NS 5000000000LL  /* doubling up to 5 s */
#define LOG_EVERY_NS 60000000000LL        /* a failure that persists is logged once a minute */

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
    int64_t age_from;            /* max_age counts from here: creation, or a replay's start */
    int64_t due_us;
    size_t heap_index; /* while waiting */
    bool waiting;      /* in the retry heap */
    unsigned attempts;
    struct endpoint *ep;
    struct ft_str id, url, environment, body; /* in `mem` */
    char *mem;
    size_t mem_len;
    char status_line[256];       /* the last failure, for a dead letter's reason */
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

    struct pending head;         /* list of pending, by LSN */
    size_t nready;               /* in the endpoints' ready queues */
    struct pending **heap;       /* retry heap by due_us */
    size_t nheap, heap_cap;
    size_t npending, pending_bytes;
    struct endpoint **endpoints; /* each allocated apart: pending webhooks point at them */
    size_t nendpoints;
    struct signer_cache *signers;
    size_t nsigners;
    unsigned generation;

    uint64_t saved_checkpoint;
    int64_t saved_at_ns;
    /* the last webhook moved to the tail; the checkpoint is saved past the originals only
     * once the copies are durable */
    uint64_t rotated_lsn;
    bool rotated_unsynced;
    int64_t rotate_logged_ns;
    int64_t read_retry_ns, read_backoff_ns, read_logged_ns; /* an unreadable outbox */
    bool read_failing;
    uint64_t drain_end;
    bool reader_done, stopping;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    int64_t deadline_us;

    pthread_mutex_t lock;
    struct ft_dispatcher_stats stats;
};

/* --- schedule --- */

bool ft_dispatch_parse_schedule(const char *s, int64_t *out, size_t max, size_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        /* NaN fails v > 0; a zero delay would retry a failing endpoint back to back */
        if (end == s || errno || !(v > 0) || *n == max) return false;
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) unit = 1000, end += 2;
        else if (*end == 's') unit = 1000000, end++;
        else if (*end == 'm') unit = 60000000, end++;
        else if (*end == 'h') unit = 3600000000LL, end++;
        else return false;
        if (v * (double)unit > (double)FT_DISPATCH_DURATION_MAX_US) return false; /* and inf */
        if (v * (double)unit < 1000) return false; /* under 1 ms rounds to nothing */
        out[(*n)++] = (int64_t)(v * (double)unit);
        if (*end == ',' && end[1]) end++;
        else if (*end) return false;
        s = end;
    }
    return *n > 0;
}

/* --- checkpoint file --- */

/* The checkpoint saved at `path`: 0 when there is none yet. One that is not a position in the
 * outbox (not a number, or past its end: a damaged file) is logged and read as 0, so the
 * outbox is sent again from its start, rather than released unsent. */
static uint64_t load_checkpoint(const char *path, uint64_t end)
{
    char text[32];
    if (ft_file_read_small(path, text, sizeof(text)) < 0) return 0;
    text[strcspn(text, "\n")] = '\0';
    char *stop;
    errno = 0;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &stop, 10) : 0;
    if (text[0] >= '0' && text[0] <= '9' && !errno && !*stop && v <= end) return v;
    ft_log(FT_LOG_ERROR, "dispatch.checkpoint_invalid", "path", path, "read_as", "0", NULL);
    return 0;
}

static int save_checkpoint(const char *path, uint64_t lsn)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", lsn);
    return ft_file_replace(path, text, (size_t)n);
}

/* --- bookkeeping --- */

static struct endpoint *endpoint_for(ft_dispatcher *d, struct ft_str url)
{
    for (size_t i = 0; i < d->nendpoints; i++) /* few: one per environment's URL */
        if (ft_str_eq_c(url, d->endpoints[i]->url)) return d->endpoints[i];
    d->endpoints = ft_xrealloc(d->endpoints, sizeof(*d->endpoints) * (d->nendpoints + 1));
    struct endpoint *ep = ft_xcalloc(1, sizeof(*ep));
    ep->url = ft_xstrndup(url.ptr, url.len);
    ep->ready_tail = &ep->ready;
    d->endpoints[d->nendpoints++] = ep;
    return ep;
}

static void heap_set(ft_dispatcher *d, size_t i, struct pending *p)
{
    d->heap[i] = p;
    p->heap_index = i;
}

static void heap_swap(ft_dispatcher *d, size_t a, size_t b)
{
    struct pending *t = d->heap[a];
    heap_set(d, a, d->heap[b]);
    heap_set(d, b, t);
}

static void sift_up(ft_dispatcher *d, size_t i)
{
    while (i && d->heap[(i - 1) / 2]->due_us > d->heap[i]->due_us) {
        heap_swap(d, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(ft_dispatcher *d, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->nheap && d->heap[l]->due_us < d->heap[m]->due_us) m = l;
        if (r < d->nheap && d->heap[r]->due_us < d->heap[m]->due_us) m = r;
        if (m == i) break;
        heap_swap(d, i, m);
        i = m;
    }
}

static void heap_push(ft_dispatcher *d, struct pending *p)
{
    if (d->nheap == d->heap_cap) {
        d->heap_cap = d->heap_cap ? d->heap_cap * 2 : 256;
        d->heap = ft_xrealloc(d->heap, sizeof(*d->heap) * d->heap_cap);
    }
    heap_set(d, d->nheap++, p);
    p->waiting = true;
    sift_up(d, p->heap_index);
}

/* Takes `p` out of the retry heap, wherever it is. */
static void heap_remove(ft_dispatcher *d, struct pending *p)
{
    size_t i = p->heap_index;
    struct pending *last = d->heap[--d->nheap];
    p->waiting = false;
    if (last == p) return;
    heap_set(d, i, last);
    if (i && d->heap[(i - 1) / 2]->due_us > last->due_us)
        sift_up(d, i);
    else
        sift_down(d, i);
}

static struct pending *heap_pop(ft_dispatcher *d)
{
    struct pending *top = d->heap[0];
    heap_remove(d, top);
    return top;
}

static void enqueue(ft_dispatcher *d, struct pending *p)
{
    p->qnext = NULL;
    *p->ep->ready_tail = p;
    p->ep->ready_tail = &p->qnext;
    d->nready++;
}

static struct pending *dequeue(ft_dispatcher *d, struct endpoint *ep)
{
    struct pending *p = ep->ready;
    if (!p) return NULL;
    ep->ready = p->qnext;
    if (!ep->ready) ep->ready_tail = &ep->ready;
    d->nready--;
    return p;
}

static void finish(ft_dispatcher *d, struct pending *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    d->npending--;
    d->pending_bytes -= p->mem_len;
    free(p->mem);
    free(p);
}

static void bump(ft_dispatcher *d, uint64_t *counter)
{
    pthread_mutex_lock(&d->lock);
    (*counter)++;
    pthread_mutex_unlock(&d->lock);
}

static void make_dead(ft_dispatcher *d, struct pending *p, const char *why)
{
    char reason[400];
    snprintf(reason, sizeof(reason), "%s after %u attempt%s", why, p->attempts,
             p->attempts == 1 ? "" : "s");
    struct ft_outbox_record r = {.type = FT_OUTBOX_DEAD,
                                 .attempts = p->attempts,
                                 .created_at = p->created_at,
                                 .id = p->id,
                                 .url = p->url,
                                 .environment = p->environment,
                                 .reason = ft_str_c(reason)};
    unsigned char *head = ft_xmalloc(ft_outbox_header_size(&r));
    size_t hlen = ft_outbox_header(head, &r);
    struct iovec iov[2] = {{head, hlen}, {(void *)p->body.ptr, p->body.len}};
    uint64_t lsn;
    bool durable;
    int rc = d->opt.dead ? ft_spool_append(d->opt.dead, iov, 2, NULL, NULL, &lsn, &durable)
                         : FT_EINVAL;
    free(head);
    char id[64];
    snprintf(id, sizeof(id), "%.*s", (int)p->id.len, p->id.ptr);
    ft_log(FT_LOG_WARN, "dispatch.dead_letter", "id", id, "reason", reason,
           rc ? "lost" : NULL, rc ? ft_strerror(rc) : NULL, NULL);
    bump(d, rc ? &d->stats.dead_lost : &d->stats.dead);
    finish(d, p);
}

/* --- reading --- */

static bool room(const ft_dispatcher *d)
{
    return d->nready < READAHEAD && d->npending < d->opt.max_pending &&
           d->pending_bytes < d->opt.max_pending_bytes;
}

/* The counting cursor: a record the reader just read is no longer unread; once the reader
 * has caught up with the cursor, the cursor is closed. */
static void uncount(ft_dispatcher *d, int rc, const struct ft_spool_record *rec)
{
    if (!d->counter) return;
    if (rc == FT_OK && d->unread && rec->lsn < ft_spool_reader_pos(d->counter)) d->unread--;
    if (ft_spool_reader_pos(d->reader) >= ft_spool_reader_pos(d->counter)) {
        ft_spool_reader_close(d->counter);
        d->counter = NULL;
        d->unread = 0;
    }
}

#define COUNT_PER_TURN 20000 /* records the counting cursor reads per turn, at most */

/* When there is no room to read, counts (a bounded number per turn) the webhooks waiting
 * unread, for the depth gauge. */
static void count_unread(ft_dispatcher *d)
{
    if (d->reader_done || room(d)) return;
    if (!d->counter &&
        ft_spool_reader_open(d->outbox, ft_spool_reader_pos(d->reader), &d->counter) != FT_OK)
        return;
    struct ft_spool_record rec;
    for (int i = 0; i < COUNT_PER_TURN; i++) {
        int rc = ft_spool_next(d->counter, &rec);
        if (rc == FT_ENOENT || rc == FT_EIO) break;
        if (rc == FT_OK) d->unread++;
    }
}

/* The outbox could not be read (a segment that cannot be opened or read: out of file
 * descriptors, a file removed or unreadable, a disk error). The reader stays at the record;
 * reading waits, 100 ms doubling to 5 s, instead of spinning, and the failure is counted and
 * logged when it starts and then once a minute. */
static void read_failed(ft_dispatcher *d)
{
    int64_t now = ft_clock_mono_ns();
    d->read_backoff_ns = d->read_backoff_ns ? 2 * d->read_backoff_ns : READ_BACKOFF_MIN_NS;
    if (d->read_backoff_ns > READ_BACKOFF_MAX_NS) d->read_backoff_ns = READ_BACKOFF_MAX_NS;
    d->read_retry_ns = now + d->read_backoff_ns;
    bump(d, &d->stats.read_errors);
    if (!d->read_failing || now - d->read_logged_ns >= LOG_EVERY_NS) {
        char pos[24];
        snprintf(pos, sizeof(pos), "%" PRIu64, ft_spool_reader_pos(d->reader));
        ft_log(FT_LOG_ERROR, "dispatch.outbox_unreadable", "lsn", pos, "error", strerror(errno),
               NULL);
        d->read_logged_ns = now;
    }
    d->read_failing = true;
}

static void read_recovered(ft_dispatcher *d)
{
    if (!d->read_failing) return;
    ft_log(FT_LOG_INFO, "dispatch.outbox_readable", NULL);
    d->read_failing = false;
    d->read_backoff_ns = 0;
}

/* A webhook waiting for a retry when it was moved to the tail waits in the heap again. */
static void schedule_read(ft_dispatcher *d, struct pending *p, const struct ft_outbox_record *r)
{
    int64_t wait = r->type == FT_OUTBOX_RETRY ? r->due_at - ft_clock_now_us() : 0;
    if (wait <= 0) {
        enqueue(d, p);
        return;
    }
    if (wait > FT_DISPATCH_DURATION_MAX_US) wait = FT_DISPATCH_DURATION_MAX_US; /* a bad clock */
    p->due_us = ft_clock_mono_ns() / 1000 + wait;
    heap_push(d, p);
}

static void read_more(ft_dispatcher *d)
{
    if (d->read_failing && ft_clock_mono_ns() < d->read_retry_ns) return;
    while (!d->reader_done && room(d)) {
        if ((d->opt.drain || d->stopping) && ft_spool_reader_pos(d->reader) >= d->drain_end) {
            d->reader_done = true;
            break;
        }
        struct ft_spool_record rec;
        int rc = ft_spool_next(d->reader, &rec);
        if (rc == FT_ENOENT) {
            if (d->opt.drain || d->stopping) d->reader_done = true;
            break;
        }
        if (rc == FT_EIO) {
            read_failed(d);
            break;
        }
        read_recovered(d);
        uncount(d, rc, &rec);
        struct ft_outbox_record r;
        if (rc != FT_OK || ft_outbox_decode(rec.data, rec.len, &r)) {
            char pos[24];
            snprintf(pos, sizeof(pos), "%" PRIu64, rec.lsn);
            ft_log(FT_LOG_ERROR, "dispatch.record_skipped", "lsn", pos, "reason",
                   rc == FT_ECORRUPT ? "corrupt outbox segment" : "unreadable outbox record",
                   NULL);
            continue;
        }
        struct pending *p = ft_xcalloc(1, sizeof(*p));
        p->d = d;
        p->lsn = rec.lsn;
        p->next_lsn = rec.next_lsn;
        p->created_at = r.created_at;
        p->age_from = d->opt.drain ? ft_clock_now_us() : r.created_at;
        p->attempts = r.type == FT_OUTBOX_RETRY ? r.attempts : 0;
        p->mem_len = r.id.len + r.url.len + r.environment.len + r.body.len + 4;
        p->mem = ft_xmalloc(p->mem_len);
        char *m = p->mem;
        struct ft_str *dst[4] = {&p->id, &p->url, &p->environment, &p->body};
        const struct ft_str src[4] = {r.id, r.url, r.environment, r.body};
        for (int i = 0; i < 4; i++) {
            memcpy(m, src[i].ptr, src[i].len);
            m[src[i].len] = '\0';
            *dst[i] = (struct ft_str){m, src[i].len};
            m += src[i].len + 1;
        }
        p->ep = endpoint_for(d, p->url);
        p->prev = d->head.prev;
        p->next = &d->head;
        d->head.prev->next = p;
        d->head.prev = p;
        d->npending++;
        d->pending_bytes += p->mem_len;
        schedule_read(d, p, &r);
    }
}

/* --- sending --- */

static ft_signer *signer_for(ft_dispatcher *d, struct ft_str environment)
{
    unsigned gen = d->opt.generation ? d->opt.generation(d->opt.signer_arg) : 0;
    if (gen != d->generation) {
        for (size_t i = 0; i < d->nsigners; i++) {
            free(d->signers[i].environment);
            ft_signer_free(d->signers[i].signer);
        }
        d->nsigners = 0;
        d->generation = gen;
    }
    for (size_t i = 0; i < d->nsigners; i++)
        if (ft_str_eq_c(environment, d->signers[i].environment)) return d->signers[i].signer;
    d->signers = ft_xrealloc(d->signers, sizeof(*d->signers) * (d->nsigners + 1));
    ft_signer *s = d->opt.signer ? d->opt.signer(d->opt.signer_arg, environment) : NULL;
    d->signers[d->nsigners++] =
        (struct signer_cache){ft_xstrndup(environment.ptr, environment.len), s};
    return s;
}

static void on_result(void *arg, const struct ft_http_result *r);

static bool sign_headers(ft_dispatcher *d, struct pending *p, struct headers *h)
{
    size_t n = 0;
    h->list[n++] = "Content-Type: application/json";
    ft_signer *s = signer_for(d, p->environment);
    if (s) {
        char hex[65];
        if (ft_signer_hex(s, p->body.ptr, p->body.len, hex)) return false;
        snprintf(h->hdr[0], sizeof(h->hdr[0]), "X-Flagsmith-Signature: %s", hex);
        h->list[n++] = h->hdr[0];
    }
    if (d->opt.standard_webhooks) {
        long long ts = (long long)(ft_clock_now_us() / 1000000);
        snprintf(h->hdr[1], sizeof(h->hdr[1]), "webhook-id: %.*s", (int)p->id.len, p->id.ptr);
        snprintf(h->hdr[2], sizeof(h->hdr[2]), "webhook-timestamp: %lld", ts);
        h->list[n++] = h->hdr[1];
        h->list[n++] = h->hdr[2];
        if (s) {
            char tsbuf[24], sig[FT_STANDARD_SIGNATURE_MAX];
            snprintf(tsbuf, sizeof(tsbuf), "%lld", ts);
            if (ft_signer_standard(s, p->id.ptr, tsbuf, p->body.ptr, p->body.len, sig))
                return false;
            snprintf(h->hdr[3], sizeof(h->hdr[3]), "webhook-signature: %s", sig);
            h->list[n++] = h->hdr[3];
        }
    }
    h->n = n;
    return true;
}

static void send(ft_dispatcher *d, struct pending *p)
{
    struct headers h;
    if (!sign_headers(d, p, &h)) {
        make_dead(d, p, "signing failed");
        return;
    }
    struct ft_http_call call = {.url = p->url.ptr,
                                .body = p->body.ptr,
                                .len = p->body.len,
                                .headers = h.list,
                                .nheaders = h.n,
                                .done = on_result,
                                .arg = p};
    p->ep->in_flight++;
    if (ft_http_client_submit(d->client, &call)) {
        p->ep->in_flight--;
        snprintf(p->status_line, sizeof(p->status_line), "the HTTP client refused the call");
        make_dead(d, p, p->status_line);
    }
}

static void start_ready(ft_dispatcher *d)
{
    for (size_t i = 0; i < d->nendpoints; i++) {
        struct endpoint *ep = d->endpoints[i];
        struct pending *p;
        if (ep->disabled) {
            while ((p = dequeue(d, ep)))
                make_dead(d, p, "the endpoint answered 410 Gone and was disabled");
            continue;
        }
        if (ep->failing) continue;
        while (ep->in_flight < d->opt.per_endpoint && (p = dequeue(d, ep)))
            send(d, p);
    }
}

static int64_t jitter(int64_t us)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) r = (uint32_t)ft_clock_mono_ns();
    double f = 0.8 + 0.4 * ((double)r / 4294967296.0);
    return (int64_t)((double)us * f);
}

static void retry_or_give_up(ft_dispatcher *d, struct pending *p, int64_t retry_after_s)
{
    size_t i = p->attempts - 1 < d->nschedule ? p->attempts - 1 : d->nschedule - 1;
    int64_t delay = jitter(d->schedule[i]);
    if (retry_after_s >= 0 && retry_after_s * 1000000 > delay) delay = retry_after_s * 1000000;
    int64_t now = ft_clock_now_us();
    if (now + delay > p->age_from + d->opt.max_age_us) {
        char why[300];
        snprintf(why, sizeof(why), "gave up (%s)", p->status_line);
        make_dead(d, p, why);
        return;
    }
    p->due_us = ft_clock_mono_ns() / 1000 + delay;
    heap_push(d, p);
    bump(d, &d->stats.retried);
}

static void on_result(void *arg, const struct ft_http_result *r)
{
    struct pending *p = arg;
    ft_dispatcher *d = p->d;
    p->ep->in_flight--;
    p->attempts++;
    if (r->status >= 200 && r->status < 300) {
        bump(d, &d->stats.delivered);
        finish(d, p);
        return;
    }
    if (r->status == 0)
        snprintf(p->status_line, sizeof(p->status_line), "%s",
                 r->timed_out ? "timed out" : r->error);
    else
        snprintf(p->status_line, sizeof(p->status_line), "HTTP %d", r->status);
    bool retryable = r->status == 0 || r->status == 408 || r->status == 429 || r->status >= 500;
    if (r->status == 410) {
        if (!p->ep->disabled) {
            ft_log(FT_LOG_ERROR, "dispatch.endpoint_disabled", "url", p->ep->url, "reason",
                   "410 Gone", NULL);
            p->ep->disabled = true;
        }
        make_dead(d, p, "the endpoint answered 410 Gone and was disabled");
    } else if (retryable) {
        if (d->stopping) p->ep->failing = true;
        retry_or_give_up(d, p, r->retry_after);
    } else {
        make_dead(d, p, p->status_line);
    }
}

/* --- rotation --- */

/* Appends `p` at the outbox's tail as a retry record that keeps its id, attempts, creation
 * and due time. Fire and forget: save() waits for it to be durable before it moves the
 * checkpoint past the original. */
static int append_retry(ft_dispatcher *d, const struct pending *p, int64_t now_us, int64_t now_mono)
{
    struct ft_outbox_record r = {.type = FT_OUTBOX_RETRY,
                                 .attempts = p->attempts,
                                 .created_at = p->created_at,
                                 .due_at = now_us + (p->due_us - now_mono),
                                 .id = p->id,
                                 .url = p->url,
                                 .environment = p->environment};
    unsigned char *head = ft_xmalloc(ft_outbox_header_size(&r));
    size_t hlen = ft_outbox_header(head, &r);
    struct iovec iov[2] = {{head, hlen}, {(void *)p->body.ptr, p->body.len}};
    uint64_t lsn;
    int rc = ft_spool_append_moved(d->outbox, iov, 2, &lsn);
    free(head);
    if (rc == FT_OK) {
        d->rotated_lsn = lsn;
        d->rotated_unsynced = true;
    }
    return rc;
}

/*
 * Webhooks waiting for a retry at the head of the pending list hold the checkpoint: every
 * record after them stays on disk, counts against the outbox's bound (one webhook an endpoint
 * refuses for an hour filled it, and every new webhook was lost), and is sent again after a
 * restart. When the finished records they hold come to a sixteenth of the bound (at least
 * 16 KiB, at most 4 MiB) and to four times their own size, the waiting webhooks are appended
 * again at the tail and their originals dropped: the checkpoint moves on, and the copies
 * cost a quarter of what they free at most. While nothing behind them is finished (an
 * endpoint down for everything) nothing moves.
 */
static void rotate_waiting(ft_dispatcher *d)
{
    if (d->opt.drain || d->stopping) return; /* drain reads up to an end fixed at its start */
    struct pending *p = d->head.next, *run[ROTATE_RUN];
    size_t n = 0;
    uint64_t own = 0;
    for (; p != &d->head && p->waiting && n < ROTATE_RUN; p = p->next) {
        run[n++] = p;
        own += p->next_lsn - p->lsn;
    }
    if (!n) return;
    uint64_t end = p != &d->head ? p->lsn : ft_spool_reader_pos(d->reader);
    uint64_t held = end - run[0]->lsn - own;
    struct ft_spool_stats ss;
    ft_spool_get_stats(d->outbox, &ss);
    uint64_t min_gain = ss.max_backlog / 16;
    min_gain = min_gain < (16u << 10) ? 16u << 10 : min_gain > (4u << 20) ? 4u << 20 : min_gain;
    if (held < min_gain || held < 4 * own) return;
    int64_t now_us = ft_clock_now_us(), now_mono = ft_clock_mono_ns() / 1000;
    for (size_t i = 0; i < n; i++) {
        int rc = append_retry(d, run[i], now_us, now_mono);
        if (rc) {
            int64_t now = ft_clock_mono_ns();
            if (now - d->rotate_logged_ns >= LOG_EVERY_NS) {
                ft_log(FT_LOG_WARN, "dispatch.rotate_failed", "error", ft_strerror(rc), NULL);
                d->rotate_logged_ns = now;
            }
            return;
        }
        heap_remove(d, run[i]);
        finish(d, run[i]);
        bump(d, &d->stats.rotated);
    }
}

/* --- the loop --- */

static uint64_t checkpoint(const ft_dispatcher *d)
{
    return d->head.next != &d->head ? d->head.next->lsn : ft_spool_reader_pos(d->reader);
}

static void save(ft_dispatcher *d, bool force)
{
    uint64_t cp = checkpoint(d);
    int64_t now = ft_clock_mono_ns();
    if (cp == d->saved_checkpoint || (!force && now - d->saved_at_ns < 200000000)) return;
    if (d->rotated_unsynced) { /* the moved copies first, or a power loss could take both */
        struct ft_spool_stats ss;
        ft_spool_get_stats(d->outbox, &ss);
        if (ss.durable_lsn <= d->rotated_lsn && (!force || ft_spool_sync(d->outbox))) return;
        d->rotated_unsynced = false;
    }
    if (save_checkpoint(d->checkpoint_path, cp)) {
        ft_log(FT_LOG_ERROR, "dispatch.checkpoint_failed", "path", d->checkpoint_path, NULL);
        return;
    }
    d->saved_checkpoint = cp;
    d->saved_at_ns = now;
    ft_spool_release(d->outbox, cp);
    pthread_mutex_lock(&d->lock);
    d->stats.checkpoint = cp;
    pthread_mutex_unlock(&d->lock);
}

static void update_gauges(ft_dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    d->stats.pending = d->npending;
    d->stats.unread = d->unread;
    d->stats.in_flight = ft_http_client_in_flight(d->client);
    pthread_mutex_unlock(&d->lock);
}

/* One turn of the loop; false when there is nothing left to do in drain mode. When stopping,
 * what was durable at the stop gets its first try (retries wait for the next start), and the
 * turn is false once nothing is in flight. */
static bool turn(ft_dispatcher *d, bool stopping)
{
    read_more(d);
    count_unread(d);
    int64_t now = ft_clock_mono_ns() / 1000;
    while (d->nheap && d->heap[0]->due_us <= now && !stopping)
        enqueue(d, heap_pop(d));
    start_ready(d);
    rotate_waiting(d);
    int timeout = 100;
    if (d->nheap && !stopping) {
        int64_t wait = (d->heap[0]->due_us - now) / 1000;
        if (wait < timeout) timeout = wait < 1 ? 1 : (int)wait;
    }
    /* what is still ready waits for its endpoint's calls in flight, whose ends wake the poll */
    if (ft_http_client_in_flight(d->client)) {
        ft_http_client_poll(d->client, timeout);
    } else if (stopping) {
        return false; /* all read was tried; what is unread has no room until the next start */
    } else if (!d->nready) {
        if (d->opt.drain && d->reader_done && !d->nheap) return false;
        if (!d->reader_done && room(d) && !d->read_failing)
            ft_spool_reader_wait(d->reader, (int64_t)timeout * 1000);
        else {
            struct timespec ts = {0, (long)timeout * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    save(d, false);
    update_gauges(d);
    return true;
}

static void *dispatcher_main(void *arg)
{
    ft_dispatcher *d = arg;
    while (!atomic_load(&d->stop))
        turn(d, false);
    /* stopping: the outbox up to its durable end at this moment, then calls in flight, until
     * the deadline */
    struct ft_spool_stats ss;
    ft_spool_get_stats(d->outbox, &ss);
    d->drain_end = ss.durable_lsn;
    d->stopping = true;
    while (ft_clock_mono_ns() / 1000 < d->deadline_us && turn(d, true)) {
    }
    save(d, true);
    update_gauges(d);
    return NULL;
}

int ft_dispatcher_run(ft_dispatcher *d)
{
    while (turn(d, false)) {
    }
    save(d, true);
    update_gauges(d);
    return FT_OK;
}

/* --- lifecycle --- */

int ft_dispatcher_new(ft_spool *outbox, const struct ft_dispatcher_options *opt,
                      ft_dispatcher **out, char *err, size_t errlen)
{
    ft_dispatcher *d = ft_xcalloc(1, sizeof(*d));
    d->outbox = outbox;
    d->opt = *opt;
    if (!d->opt.max_age_us) d->opt.max_age_us = FT_DISPATCH_MAX_AGE_US;
    if (!d->opt.timeout_ms) d->opt.timeout_ms = 10000;
    if (!d->opt.per_endpoint) d->opt.per_endpoint = 32;
    if (!d->opt.max_pending) d->opt.max_pending = 100000;
    if (!d->opt.max_pending_bytes) d->opt.max_pending_bytes = 256u << 20;
    if (opt->schedule_us && opt->nschedule) {
        d->nschedule = opt->nschedule < MAX_SCHEDULE ? opt->nschedule : MAX_SCHEDULE;
        memcpy(d->schedule, opt->schedule_us, sizeof(*d->schedule) * d->nschedule);
    } else {
        ft_dispatch_parse_schedule(FT_DISPATCH_SCHEDULE, d->schedule, MAX_SCHEDULE, &d->nschedule);
    }
    d->checkpoint_path = ft_xstrdup(opt->checkpoint_path);
    d->head.next = d->head.prev = &d->head;
    d->generation = UINT32_MAX;
    pthread_mutex_init(&d->lock, NULL);
    struct ft_http_client_options co = {.max_per_host = d->opt.per_endpoint,
                                        .timeout_ms = d->opt.timeout_ms,
                                        .user_agent = d->opt.user_agent};
    d->client = ft_http_client_new(&co);
    struct ft_spool_stats ss;
    ft_spool_get_stats(outbox, &ss);
    uint64_t cp = load_checkpoint(d->checkpoint_path, ss.durable_lsn);
    d->saved_checkpoint = cp;
    d->stats.checkpoint = cp;
    ft_spool_release(outbox, cp);
    ft_spool_reader_open(outbox, cp, &d->reader);
    d->drain_end = ss.durable_lsn;
    (void)err;
    (void)errlen;
    *out = d;
    return FT_OK;
}

int ft_dispatcher_start(ft_dispatcher *d)
{
    if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0) return FT_EIO;
    d->running = true;
    return FT_OK;
}

void ft_dispatcher_stop(ft_dispatcher *d, int64_t deadline_us)
{
    if (!d->running) return;
    d->deadline_us = deadline_us;
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    d->running = false;
}

void ft_dispatcher_get_stats(ft_dispatcher *d, struct ft_dispatcher_stats *out)
{
    pthread_mutex_lock(&d->lock);
    *out = d->stats;
    pthread_mutex_unlock(&d->lock);
}

void ft_dispatcher_free(ft_dispatcher *d)
{
    if (!d) return;
    ft_http_client_free(d->client); /* before the pending entries its calls point at */
    while (d->head.next != &d->head)
        finish(d, d->head.next);
    for (size_t i = 0; i < d->nendpoints; i++) {
        free(d->endpoints[i]->url);
        free(d->endpoints[i]);
    }
    free(d->endpoints);
    for (size_t i = 0; i < d->nsigners; i++) {
        free(d->signers[i].environment);
        ft_signer_free(d->signers[i].signer);
    }
    free(d->signers);
    free(d->heap);
    ft_spool_reader_close(d->counter);
    ft_spool_reader_close(d->reader);
    pthread_mutex_destroy(&d->lock);
    free(d->checkpoint_path);
    free(d);
}
