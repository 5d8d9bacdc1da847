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
 * outbox's tail (dispatcher_retry.c). Everything runs on the dispatcher's thread; only the
 * statistics are shared, under a mutex.
 */
#include "serve/dispatcher_int.h"
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
#include <unistd.h>

#define READAHEAD 1024 /* ready webhooks, all endpoints together */
#define READ_BACKOFF_MIN_NS 100000000LL   /* an unreadable outbox: first wait, 100 ms */
#define READ_BACKOFF_MAX_NS 5000000000LL  /* doubling up to 5 s */

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

void ft__dispatch_enqueue(ft_dispatcher *d, struct pending *p)
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

void ft__dispatch_finish(ft_dispatcher *d, struct pending *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    d->npending--;
    d->pending_bytes -= p->mem_len;
    d->pending_span -= p->next_lsn - p->lsn;
    free(p->mem);
    free(p);
}

void ft__dispatch_bump(ft_dispatcher *d, uint64_t *counter)
{
    pthread_mutex_lock(&d->lock);
    (*counter)++;
    pthread_mutex_unlock(&d->lock);
}

void ft__dispatch_dead(ft_dispatcher *d, struct pending *p, const char *why)
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
    ft__dispatch_bump(d, rc ? &d->stats.dead_lost : &d->stats.dead);
    ft__dispatch_finish(d, p);
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
    ft__dispatch_bump(d, &d->stats.read_errors);
    if (!d->read_failing || now - d->read_logged_ns >= LOG_EVERY_NS) {
        char pos[24];
        snprintf(pos, sizeof(pos), "%" PRIu64, ft_spool_reader_pos(d->reader));
        ft_log(FT_LOG_ERROR, "dispatch.outbox_unreadable", "lsn", pos, "error", strerror(errno),
               NULL);
        d->read_logged_ns = now;
    }
    d->read_failing = true;
    if (d->opt.drain) { /* a replay ends here, and says so; what follows stays for the next */
        d->reader_done = true;
        d->drain_failed = true;
    }
}

static void read_recovered(ft_dispatcher *d)
{
    if (!d->read_failing) return;
    ft_log(FT_LOG_INFO, "dispatch.outbox_readable", NULL);
    d->read_failing = false;
    d->read_backoff_ns = 0;
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
        d->pending_span += p->next_lsn - p->lsn;
        ft__retry_schedule_read(d, p, &r);
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
        ft__dispatch_dead(d, p, "signing failed");
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
        ft__dispatch_dead(d, p, p->status_line);
    }
}

static void start_ready(ft_dispatcher *d)
{
    for (size_t i = 0; i < d->nendpoints; i++) {
        struct endpoint *ep = d->endpoints[i];
        struct pending *p;
        if (ep->disabled) {
            while ((p = dequeue(d, ep)))
                ft__dispatch_dead(d, p, "the endpoint answered 410 Gone and was disabled");
            continue;
        }
        if (ep->failing) continue;
        while (ep->in_flight < d->opt.per_endpoint && (p = dequeue(d, ep)))
            send(d, p);
    }
}

static void on_result(void *arg, const struct ft_http_result *r)
{
    struct pending *p = arg;
    ft_dispatcher *d = p->d;
    p->ep->in_flight--;
    p->attempts++;
    if (r->status >= 200 && r->status < 300) {
        ft__dispatch_bump(d, &d->stats.delivered);
        ft__dispatch_finish(d, p);
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
        ft__dispatch_dead(d, p, "the endpoint answered 410 Gone and was disabled");
    } else if (retryable) {
        if (d->stopping) p->ep->failing = true;
        ft__retry_later(d, p, r->retry_after);
    } else {
        ft__dispatch_dead(d, p, p->status_line);
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
    if (cp == d->saved_checkpoint || (!force && !d->save_soon && now - d->saved_at_ns < 200000000))
        return;
    d->save_soon = false;
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
        ft__dispatch_enqueue(d, ft__retry_pop(d));
    start_ready(d);
    ft__retry_settle_moved(d, false);
    ft__retry_move_waiting(d);
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
    ft__retry_settle_moved(d, true);
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
    return d->drain_failed ? FT_EIO : FT_OK;
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
        ft__dispatch_finish(d, d->head.next);
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
