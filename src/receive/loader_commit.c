/*
 * The loader's writer (src/receive/loader_int.h): commits each batch, retrying what may pass,
 * and moves what the warehouse refuses for good into the quarantine.
 */
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "flagtrail/error.h"
#include "receive/loader_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool should_stop(ft_loader *l)
{
    return atomic_load(&l->stop) && ft_clock_mono_ns() / 1000 >= l->deadline_us;
}

/* Sleeps up to `us`, waking early when asked to stop. */
static void backoff_sleep(ft_loader *l, int64_t us)
{
    int64_t until = ft_clock_mono_ns() / 1000 + us;
    while (ft_clock_mono_ns() / 1000 < until && !should_stop(l)) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Writes one store batch, retrying failures that may pass with backoff. FT_OK; FT_EREFUSED at
 * once when the warehouse refused the rows and there is a quarantine to put them in; FT_ESTORE
 * when it gives up (max_attempts, or stopping). */
static int write_retrying(ft_loader *l, const struct ft_store_batch *sb)
{
    int64_t delay = 100000;
    for (int attempt = 1;; attempt++) {
        int rc = ft_store_write(l->store, sb);
        if (rc == FT_OK) break;
        const char *msg = ft_store_errmsg(l->store);
        ft__loader_set_error(l, msg);
        if (rc == FT_EREFUSED && l->opt.quarantine_dir) return FT_EREFUSED;
        pthread_mutex_lock(&l->lock);
        bool first = l->stats.store_ok;
        l->stats.store_errors++;
        l->stats.store_ok = false;
        pthread_mutex_unlock(&l->lock);
        if (first || attempt % 10 == 0) {
            char n[16];
            snprintf(n, sizeof(n), "%d", attempt);
            ft_log(FT_LOG_ERROR, "loader.store_failed", "attempt", n, "error", msg, NULL);
        }
        if ((l->opt.max_attempts && attempt >= l->opt.max_attempts) || should_stop(l))
            return FT_ESTORE;
        backoff_sleep(l, delay);
        delay = delay * 2 > 5000000 ? 5000000 : delay * 2;
    }
    pthread_mutex_lock(&l->lock);
    if (!l->stats.store_ok) ft_log(FT_LOG_INFO, "loader.store_recovered", NULL);
    l->stats.store_ok = true;
    pthread_mutex_unlock(&l->lock);
    return FT_OK;
}

/* After a store batch committed: releases the spool behind it and counts it. */
static void committed(ft_loader *l, const struct ft_store_batch *sb)
{
    uint64_t rows = sb->ndeliveries + sb->nevents;
    for (size_t i = 0; i < sb->nsets; i++)
        rows += sb->sets[i].n;
    ft_spool_release(l->spool, sb->checkpoint);
    pthread_mutex_lock(&l->lock);
    l->stats.deliveries += sb->ndeliveries;
    l->stats.events += sb->nevents;
    l->stats.rows += rows;
    l->stats.batches++;
    l->stats.checkpoint = sb->checkpoint;
    l->stats.last_commit_us = ft_clock_now_us();
    pthread_mutex_unlock(&l->lock);
    if (l->opt.progress) {
        struct ft_spool_stats ss;
        ft_spool_get_stats(l->spool, &ss);
        l->opt.progress(l->opt.progress_arg, sb->checkpoint, ss.durable_lsn);
    }
}

/* Records [lo, hi) of a batch as one store batch: their rows are contiguous. */
static struct ft_store_batch slice(const ft_loader *l, const struct batch *b, size_t lo, size_t hi)
{
    const struct mark *m = &b->marks[lo];
    const struct mark *e = hi < b->nmarks ? &b->marks[hi] : NULL;
    return (struct ft_store_batch){
        .source = l->source,
        .sets = b->sets + m->sets,
        .nsets = (e ? e->sets : b->nsets) - m->sets,
        .deliveries = b->dels + m->dels,
        .ndeliveries = (e ? e->dels : b->ndels) - m->dels,
        .events = b->events + m->events,
        .nevents = (e ? e->events : b->nevents) - m->events,
        .checkpoint = b->marks[hi - 1].next,
    };
}

#define REFUSALS_TO_CONFIRM 3

/*
 * Commits records [lo, hi) of a batch; when the warehouse refuses them, their two halves in
 * turn, the first half first, so that everything before the first record it refuses alone
 * (*bad) is committed. A record refused alone is tried again before it counts as refused.
 * The sets a record brings are in its own slice, and every set it uses from an earlier record
 * was committed with that record's slice: no slice lacks a set it needs.
 */
static int settle(ft_loader *l, const struct batch *b, size_t lo, size_t hi, size_t *bad)
{
    struct ft_store_batch sb = slice(l, b, lo, hi);
    int rc = write_retrying(l, &sb);
    for (int again = 1; rc == FT_EREFUSED && hi - lo == 1 && again < REFUSALS_TO_CONFIRM; again++) {
        backoff_sleep(l, 50000 * again);
        rc = write_retrying(l, &sb);
    }
    if (rc == FT_OK) committed(l, &sb);
    if (rc != FT_EREFUSED) return rc;
    if (hi - lo == 1) {
        *bad = lo;
        return rc;
    }
    size_t mid = lo + (hi - lo) / 2;
    rc = settle(l, b, lo, mid, bad);
    return rc ? rc : settle(l, b, mid, hi, bad);
}

/*
 * The quarantine keeps each record once, though the loader may be stopped between copying a
 * record and committing the checkpoint past it, and then read and keep the record again. A
 * record is kept only when the checkpoint is at it (everything before it committed), so only
 * that one record can be kept and not passed. Before appending it, `last-kept` in the
 * quarantine names it with the quarantine's end: once the end has moved past that, it is in.
 * A loader that starts with its checkpoint at the record named sends it to the quarantine
 * again (loader.c, chosen_lsn), even if the warehouse would now take it: it is there once,
 * and never also in the warehouse.
 */
static void marker_path(char *path, size_t cap, const char *dir)
{
    snprintf(path, cap, "%s/last-kept", dir);
}

/* Reads `last-kept` in `dir`: the record's position and the quarantine's end before it. */
static bool read_marker(const char *dir, uint64_t *src, uint64_t *qend)
{
    char path[4200], text[64], extra;
    unsigned long long a, b;
    marker_path(path, sizeof(path), dir);
    if (ft_file_read_small(path, text, sizeof(text)) < 0 ||
        sscanf(text, "%llu %llu%c", &a, &b, &extra) != 3 || extra != '\n')
        return false;
    *src = a, *qend = b;
    return true;
}

uint64_t ft__loader_marked(const char *dir)
{
    uint64_t src, qend;
    return read_marker(dir, &src, &qend) ? src : UINT64_MAX;
}

static bool kept_already(const char *dir, uint64_t lsn, uint64_t end)
{
    uint64_t src, qend;
    return read_marker(dir, &src, &qend) && src == lsn && end > qend;
}

/* Appends one record to the quarantine spool at `dir`, durably, unless it is in already. */
static int append_once(const char *dir, uint64_t lsn, const struct ft_spool_record *rec, char *err,
                       size_t errlen)
{
    char path[4200];
    marker_path(path, sizeof(path), dir);
    ft_spool *q;
    /* any record of a spool fits, whatever --max-body wrote it */
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC, .max_record = UINT32_MAX};
    int rc = ft_spool_open(dir, &so, &q, err, errlen);
    if (rc) return rc;
    struct ft_spool_stats ss;
    ft_spool_get_stats(q, &ss);
    if (!kept_already(dir, lsn, ss.durable_lsn)) {
        char text[64];
        int n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", lsn, ss.durable_lsn);
        rc = ft_file_replace(path, text, (size_t)n);
        uint64_t qlsn;
        bool durable;
        struct iovec iov = {(void *)rec->data, rec->len};
        if (rc == FT_OK) rc = ft_spool_append(q, &iov, 1, NULL, NULL, &qlsn, &durable);
        if (rc == FT_OK && !durable) rc = ft_spool_sync(q);
    }
    ft_spool_close(q);
    return rc;
}

/* Copies the spool record at `lsn` into the quarantine; logs the first failure and every 60th. */
static int keep_record(ft_loader *l, uint64_t lsn, int attempt)
{
    ft_spool_reader *r;
    struct ft_spool_record rec;
    char err[256] = "";
    ft_spool_reader_open(l->spool, lsn, &r);
    int rc = ft_spool_next(r, &rec);
    if (rc == FT_OK && rec.lsn != lsn) rc = FT_ECORRUPT;
    if (rc == FT_OK) rc = append_once(l->opt.quarantine_dir, lsn, &rec, err, sizeof(err));
    ft_spool_reader_close(r);
    if (rc && attempt % 60 == 1) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err[0] ? err : ft_strerror(rc));
        ft_log(FT_LOG_ERROR, "loader.quarantine_failed", "dir", l->opt.quarantine_dir, "error", msg,
               NULL);
    }
    return rc;
}

/* Keeps the record of `m` in the quarantine, trying again each second until it is in, or the
 * loader stops or has tried max_attempts times (FT_ESTORE); counts and logs it. */
static int keep(ft_loader *l, const struct mark *m, const char *why)
{
    for (int attempt = 1; keep_record(l, m->lsn, attempt) != FT_OK; attempt++) {
        if (should_stop(l) || (l->opt.max_attempts && attempt >= l->opt.max_attempts))
            return FT_ESTORE;
        backoff_sleep(l, 1000000);
    }
    pthread_mutex_lock(&l->lock);
    l->stats.quarantined++;
    pthread_mutex_unlock(&l->lock);
    char pos[24];
    snprintf(pos, sizeof(pos), "%" PRIu64, m->lsn);
    ft_log(FT_LOG_WARN, "loader.record_quarantined", "lsn", pos, "error", why, "dir",
           l->opt.quarantine_dir, NULL);
    return FT_OK;
}

/*
 * Puts the record the warehouse refused into the quarantine, moves the checkpoint past it, and
 * has the reader read again from there: the records after it in this batch, and the batch the
 * reader is building, may count on sets that only the refused record carried.
 */
static int quarantine(ft_loader *l, const struct mark *m)
{
    char why[512];
    ft_loader_last_error(l, why, sizeof(why));
    if (keep(l, m, why)) return FT_ESTORE;
    struct ft_store_batch sb = {.source = l->source, .checkpoint = m->next};
    if (write_retrying(l, &sb)) return FT_ESTORE; /* read and found kept again after a restart */
    ft_spool_release(l->spool, m->next);
    pthread_mutex_lock(&l->lock);
    l->stats.checkpoint = m->next;
    pthread_mutex_unlock(&l->lock);
    pthread_mutex_lock(&l->q_lock);
    l->rewind_lsn = m->next;
    atomic_store(&l->rewind, true);
    pthread_cond_broadcast(&l->q_cond);
    pthread_mutex_unlock(&l->q_lock);
    return FT_OK;
}

/* Commits records [lo, hi) of a batch, or quarantines the one the warehouse refuses and sets
 * *rewound: the rest of the batch is then read again, not committed from here. */
static int settle_or_quarantine(ft_loader *l, const struct batch *b, size_t lo, size_t hi,
                                bool *rewound)
{
    size_t bad;
    int rc = settle(l, b, lo, hi, &bad);
    if (rc != FT_EREFUSED) return rc;
    *rewound = true;
    return quarantine(l, &b->marks[bad]);
}

/* A record this version cannot read, with nowhere to keep it: loading stops before it, and
 * the record stays in the spool. */
static int stop_at(ft_loader *l, const struct mark *m)
{
    char msg[512], pos[24];
    snprintf(pos, sizeof(pos), "%" PRIu64, m->lsn);
    snprintf(msg, sizeof(msg), "the record at %s: %s; this version cannot read it", pos,
             m->unreadable);
    ft__loader_set_error(l, msg);
    ft_log(FT_LOG_ERROR, "loader.record_unreadable", "lsn", pos, "error", m->unreadable, NULL);
    return FT_ECORRUPT;
}

/*
 * Commits a batch. A record the reader could not read is kept in the quarantine once what
 * precedes it is committed (so the checkpoint is at it), and passed by the next commit.
 * FT_OK (after a quarantine, the rest of the batch is read again), FT_ESTORE, or FT_ECORRUPT
 * (stop_at).
 */
static int commit(ft_loader *l, struct batch *b)
{
    bool rewound = false; /* not l->rewind: the reader clears that as soon as it sees it */
    size_t lo = 0;
    for (size_t i = 0; i < b->nmarks; i++) {
        if (!b->marks[i].unreadable) continue;
        int rc = i > lo ? settle_or_quarantine(l, b, lo, i, &rewound) : FT_OK;
        if (rc || rewound) return rc;
        if (!l->opt.quarantine_dir) return stop_at(l, &b->marks[i]);
        if (keep(l, &b->marks[i], b->marks[i].unreadable)) return FT_ESTORE;
        lo = i; /* its empty slice carries the checkpoint past it */
    }
    return settle_or_quarantine(l, b, lo, b->nmarks, &rewound);
}

void *ft__loader_writer_main(void *arg)
{
    ft_loader *l = arg;
    pthread_mutex_lock(&l->q_lock);
    for (;;) {
        while (!l->ready && !l->reader_done)
            pthread_cond_wait(&l->q_cond, &l->q_lock);
        if (!l->ready) break; /* the reader is done and everything is committed */
        struct batch *b = l->ready;
        l->ready = NULL;
        pthread_cond_broadcast(&l->q_cond);
        pthread_mutex_unlock(&l->q_lock);
        int rc = commit(l, b);
        ft__loader_reset_batch(b);
        pthread_mutex_lock(&l->q_lock);
        l->free = b;
        if (rc) {
            l->writer_failed = true;
            l->writer_rc = rc;
            pthread_cond_broadcast(&l->q_cond);
            break;
        }
        pthread_cond_broadcast(&l->q_cond);
    }
    pthread_mutex_unlock(&l->q_lock);
    return NULL;
}
