/*
 * When a webhook is tried again (src/serve/dispatcher_int.h): the schedule, the retry heap,
 * and the moving of waiting webhooks to the outbox's tail, out of the checkpoint's way.
 */
#include "serve/dispatcher_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "flagtrail/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

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
        if (strncmp(end, "ms", 2) == 0)
            unit = 1000, end += 2;
        else if (*end == 's')
            unit = 1000000, end++;
        else if (*end == 'm')
            unit = 60000000, end++;
        else if (*end == 'h')
            unit = 3600000000LL, end++;
        else
            return false;
        if (v * (double)unit > (double)FT_DISPATCH_DURATION_MAX_US) return false; /* and inf */
        if (v * (double)unit < 1000) return false; /* under 1 ms rounds to nothing */
        out[(*n)++] = (int64_t)(v * (double)unit);
        if (*end == ',' && end[1])
            end++;
        else if (*end)
            return false;
        s = end;
    }
    return *n > 0;
}

/* --- the retry heap --- */

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

void ft__retry_push(ft_dispatcher *d, struct pending *p)
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
void ft__retry_remove(ft_dispatcher *d, struct pending *p)
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

struct pending *ft__retry_pop(ft_dispatcher *d)
{
    struct pending *top = d->heap[0];
    ft__retry_remove(d, top);
    return top;
}

static int64_t jitter(int64_t us)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) r = (uint32_t)ft_clock_mono_ns();
    double f = 0.8 + 0.4 * ((double)r / 4294967296.0);
    return (int64_t)((double)us * f);
}

void ft__retry_later(ft_dispatcher *d, struct pending *p, int64_t retry_after_s)
{
    size_t i = p->attempts - 1 < d->nschedule ? p->attempts - 1 : d->nschedule - 1;
    int64_t delay = jitter(d->schedule[i]);
    if (retry_after_s >= 0 && retry_after_s * 1000000 > delay) delay = retry_after_s * 1000000;
    int64_t now = ft_clock_now_us();
    if (now + delay > p->age_from + d->opt.max_age_us) {
        char why[300];
        snprintf(why, sizeof(why), "gave up (%s)", p->status_line);
        ft__dispatch_dead(d, p, why);
        return;
    }
    p->due_us = ft_clock_mono_ns() / 1000 + delay;
    ft__retry_push(d, p);
    ft__dispatch_bump(d, &d->stats.retried);
}

/* A webhook waiting for a retry when it was moved to the tail waits in the heap again. */
void ft__retry_schedule_read(ft_dispatcher *d, struct pending *p, const struct ft_outbox_record *r)
{
    int64_t wait = r->type == FT_OUTBOX_RETRY ? r->due_at - ft_clock_now_us() : 0;
    if (wait <= 0) {
        ft__dispatch_enqueue(d, p);
        return;
    }
    if (wait > FT_DISPATCH_DURATION_MAX_US) wait = FT_DISPATCH_DURATION_MAX_US; /* a bad clock */
    p->due_us = ft_clock_mono_ns() / 1000 + wait;
    ft__retry_push(d, p);
}

/* --- moving waiting webhooks --- */

/* Appends `p` at the outbox's tail as a retry record that keeps its id, attempts, creation
 * and due time. */
static int append_retry(ft_dispatcher *d, const struct pending *p, int64_t now_us,
                        int64_t now_mono, uint64_t *lsn, unsigned *epoch)
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
    int rc = ft_spool_append_moved(d->outbox, iov, 2, lsn, epoch);
    free(head);
    return rc;
}

/* Whether moving the run (`own` bytes of waiting webhooks at the head, holding `held` bytes of
 * finished ones among them) is worth it. Normally when the finished come to a sixteenth of the
 * bound (16 KiB to 4 MiB) and to four times the copies: they then cost a quarter of what they
 * free at most, and a restart sends again at most about that much. Once the outbox is half
 * full, whenever anything after the head is finished (`finished`), even behind more waiting
 * webhooks than one run holds: a lost webhook is lost for good, a copy only costs a write.
 * With most webhooks waiting (one endpoint of several down) the copies then cost more than
 * they free, and moved copies come back to the head as one long run of waiting webhooks, which
 * the first rule alone never moved past. */
static bool worth_moving(const struct ft_spool_stats *ss, uint64_t held, uint64_t own,
                         uint64_t finished)
{
    if (ss->backlog >= ss->max_backlog / 2) return finished > 0;
    uint64_t min_gain = ss->max_backlog / 16;
    min_gain = min_gain < (16u << 10) ? 16u << 10 : min_gain > (4u << 20) ? 4u << 20 : min_gain;
    return held >= min_gain && held >= 4 * own;
}

/*
 * Webhooks waiting for a retry at the head of the pending list hold the checkpoint: every
 * record after them stays on disk, counts against the outbox's bound (one webhook an endpoint
 * refused for an hour filled it, and every new webhook was lost), and is sent again after a
 * restart. When worth_moving says so, the waiting webhooks at the head are appended again at
 * the tail; their originals stay, inert, until the copies are durable (settle_moved), so a
 * failed sync that cuts the copies loses nothing. While nothing behind them is finished (an
 * endpoint down for everything) nothing moves.
 */
void ft__retry_move_waiting(ft_dispatcher *d)
{
    if (d->opt.drain || d->stopping || d->nmoved) return; /* one move settles at a time */
    struct pending *p = d->head.next, *run[ROTATE_RUN];
    if (p == &d->head || !p->waiting) return;
    struct ft_spool_stats ss;
    ft_spool_get_stats(d->outbox, &ss);
    /* a run of at most a sixteenth of the bound: the copies take room until the originals are
     * released, so a run must never crowd out new webhooks */
    size_t n = 0;
    uint64_t own = 0;
    for (; p != &d->head && p->waiting && n < ROTATE_RUN; p = p->next) {
        if (n && own + (p->next_lsn - p->lsn) > ss.max_backlog / 16) break;
        run[n++] = p;
        own += p->next_lsn - p->lsn;
    }
    uint64_t read = ft_spool_reader_pos(d->reader);
    uint64_t end = p != &d->head ? p->lsn : read;
    uint64_t span = read - run[0]->lsn; /* everything after the head, finished or pending */
    uint64_t finished = span > d->pending_span ? span - d->pending_span : 0;
    if (!worth_moving(&ss, end - run[0]->lsn - own, own, finished)) return;
    int64_t now_us = ft_clock_now_us(), now_mono = ft_clock_mono_ns() / 1000;
    for (size_t i = 0; i < n; i++) {
        unsigned epoch;
        int rc = append_retry(d, run[i], now_us, now_mono, &d->moved_lsn, &epoch);
        if (rc) {
            int64_t now = ft_clock_mono_ns();
            if (now - d->move_logged_ns >= LOG_EVERY_NS) {
                ft_log(FT_LOG_WARN, "dispatch.move_failed", "error", ft_strerror(rc), NULL);
                d->move_logged_ns = now;
            }
            break;
        }
        if (i == 0) d->moved_epoch = epoch;
        else if (epoch != d->moved_epoch) d->moved_epoch = epoch - 1; /* a cut came between */
        ft__retry_remove(d, run[i]);
        d->moved[d->nmoved++] = run[i];
    }
}

void ft__retry_settle_moved(ft_dispatcher *d, bool stopping)
{
    if (!d->nmoved) return;
    if (stopping) ft_spool_sync(d->outbox);
    struct ft_spool_stats ss;
    ft_spool_get_stats(d->outbox, &ss);
    /* Durable past the copies with no cut since they were appended. (The reader's position
     * proves nothing: after a cut, new records take the copies' positions and it reads those.)
     * A cut after they became durable puts the originals back too, and the webhook may go
     * out twice: at least once. */
    bool durable = ss.epoch == d->moved_epoch && ss.durable_lsn > d->moved_lsn;
    if (!durable && ss.epoch == d->moved_epoch && !stopping) return; /* not synced yet */
    for (size_t i = 0; i < d->nmoved; i++) {
        struct pending *p = d->moved[i];
        if (durable) {
            ft__dispatch_finish(d, p);
            ft__dispatch_bump(d, &d->stats.rotated);
            d->save_soon = true; /* release the originals' room now, not in up to 200 ms */
        } else { /* a cut may have taken the copy: the original waits again, and stays */
            ft__retry_push(d, p);
        }
    }
    if (!durable)
        ft_log(FT_LOG_WARN, "dispatch.move_undone", "reason",
               stopping ? "the outbox could not be synced" : "a failed write or sync cut the copies",
               NULL);
    d->nmoved = 0;
}
