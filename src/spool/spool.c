/*
 * The spool (src/spool/spool.h), its writer side: group commit, rotation and release; the
 * segment files (recovery, creation, recycling) are in spool_segment.c, the reader in
 * spool_read.c, the on-disk format in spool_int.h.
 *
 * State under `lock`: the segment list (base LSN, end and format of each, oldest first; the
 * last is active), write_lsn (end of appended data), durable_lsn, the FIFO of waiters (appends
 * are serialized, so waiters are queued in LSN order), and the group buffer.
 *
 * Group commit: a record whose writer waits for durability (it passed a callback) is copied
 * into the group buffer instead of being written: nobody has been told it is stored, so
 * keeping it in memory until the sync costs no guarantee, and one pwrite per group replaces
 * one per record. A fire-and-forget record (no callback) is written to the file at once, so
 * a crash of the process never loses it. The syncer thread claims everything appended so
 * far, writes the group buffer and runs fdatasync on its own duplicate of the active
 * segment's descriptor (so a rotation can close the original under it), and on success moves
 * durable_lsn to its claim; whatever was appended meanwhile waits for the next sync. There is
 * one syncer (one group buffer in flight at a time): more syncers measured slower, since every
 * fdatasync costs CPU and more syncers mean smaller groups (docs/ARCHITECTURE.md). A rotation
 * writes and syncs the segment it closes before the next one opens, so a claim is always
 * within the active segment. A failed group write cuts that group alone (and what was appended
 * after it); a failed fdatasync cuts everything not durable. Either way the cut's position is
 * remembered, so a sync finishing later never declares durable what was cut.
 *
 * Segments the consumer has passed are kept (at most MAX_SPARES) as "recycle-N" files and
 * reused by later rotations: syncs into an allocated file write no metadata.
 */
#include "base/clock.h"
#include "base/file.h"
#include "flagtrail/error.h"
#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Past this many buffered bytes, appends that would wait are refused (the disk is not keeping
 * up); a record larger than a quarter of it is written directly. */
#define GROUP_MAX ((size_t)32 << 20)

enum { LOOK_AGAIN = 1 }; /* admit(): the lock was released, look at the state again */

static const struct ft_spool_options default_options = {
    .durability = FT_SPOOL_FSYNC,
    .segment_bytes = 64u << 20,
    .max_backlog = 1u << 30,
    .max_record = 64u << 20,
    .sync_interval_us = 0,
};

static void *syncer_main(void *arg);

int ft_spool_open(const char *dir, const struct ft_spool_options *opt, ft_spool **out, char *err,
                  size_t errlen)
{
    ft_spool *s = ft_xcalloc(1, sizeof(*s));
    s->opt = opt ? *opt : default_options;
    if (!s->opt.segment_bytes) s->opt.segment_bytes = default_options.segment_bytes;
    if (!s->opt.max_backlog) s->opt.max_backlog = default_options.max_backlog;
    if (!s->opt.max_record) s->opt.max_record = default_options.max_record;
    s->dir = ft_xstrdup(dir);
    s->dir_fd = s->lock_fd = s->active_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->dirty, NULL);
    pthread_cond_init(&s->synced, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->hurry, &ca);
    pthread_condattr_destroy(&ca);
    int rc;
    bool created = mkdir(dir, 0700) == 0;
    if (!created && errno != EEXIST) {
        rc = ft__spool_errorf(err, errlen, FT_EIO, "cannot create spool %s", dir);
        goto fail;
    }
    /* its name made durable; when it existed, at best effort (a crash may have come between
     * its mkdir and this sync, but a parent we may not read must not stop an old spool) */
    if (s->opt.durability == FT_SPOOL_FSYNC && !ft_file_sync_parent(dir) && created) {
        rc = ft__spool_errorf(err, errlen, FT_EIO, "cannot sync the directory holding %s", dir);
        goto fail;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        rc = ft__spool_errorf(err, errlen, FT_EIO, "cannot open spool %s", dir);
        goto fail;
    }
    s->lock_fd = openat(s->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        rc = ft__spool_errorf(err, errlen, FT_EIO, "cannot create %s/LOCK", dir);
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = ft__spool_errorf(err, errlen, FT_EBUSY, "spool %s is in use by another process", dir);
        goto fail;
    }
    if ((rc = ft__spool_recover(s, err, errlen))) goto fail;
    s->claimed_lsn = s->durable_lsn;
    s->min_cut = UINT64_MAX;
    if (s->opt.durability == FT_SPOOL_FSYNC) {
        if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0) {
            rc = ft__spool_errorf(err, errlen, FT_EIO, "cannot start the spool syncer for %s", dir);
            goto fail;
        }
        s->has_syncer = true;
    }
    *out = s;
    return FT_OK;
fail:
    ft_spool_close(s);
    return rc;
}

/* --- group commit --- */

static void pop_waiters(ft_spool *s, uint64_t upto, struct waiter **out, size_t *n)
{
    size_t k = 0;
    while (k < s->wcount && s->waiters[(s->whead + k) % s->wcap].end <= upto)
        k++;
    *n = k;
    if (!k) return;
    *out = ft_xmalloc(sizeof(**out) * k);
    for (size_t i = 0; i < k; i++)
        (*out)[i] = s->waiters[(s->whead + i) % s->wcap];
    s->whead = (s->whead + k) % s->wcap;
    s->wcount -= k;
}

static void push_waiter(ft_spool *s, uint64_t end, ft_spool_done_fn done, void *arg)
{
    if (s->wcount == s->wcap) {
        size_t cap = s->wcap ? s->wcap * 2 : 256;
        struct waiter *w = ft_xmalloc(sizeof(*w) * cap);
        for (size_t i = 0; i < s->wcount; i++)
            w[i] = s->waiters[(s->whead + i) % s->wcap];
        free(s->waiters);
        s->waiters = w;
        s->wcap = cap;
        s->whead = 0;
    }
    s->waiters[(s->whead + s->wcount++) % s->wcap] = (struct waiter){end, done, arg};
}

/*
 * Drops every record from `lsn` on (at or past the durable end, within the active segment): the
 * group buffer, and the file's bytes. The in-memory ends move back even when the truncation
 * fails (the spool is then failed and takes no more appends), so nothing past `lsn` is ever
 * read or declared durable. Lock held; the caller tells the writers.
 */
static void cut(ft_spool *s, uint64_t lsn)
{
    struct segment *act = &s->segs[s->nsegs - 1];
    ft_buf_reset(&s->group);
    if (ftruncate(s->active_fd, (off_t)(lsn - act->base)) != 0) s->failed = true;
    act->end = s->write_lsn = lsn;
    s->claimed_lsn = s->durable_lsn; /* what stays and is not durable yet needs a sync again */
    if (s->durable_lsn < lsn && lsn == act->base + SEG_HEADER) s->durable_lsn = lsn;
    if (s->min_cut > lsn) s->min_cut = lsn;
    s->epoch++;
}

/* After a failed fdatasync: the kernel may have dropped any page not yet durable, so all of it
 * goes, and its writers (who got no answer yet) are failed by the caller. */
static void discard_undurable(ft_spool *s)
{
    struct segment *act = &s->segs[s->nsegs - 1];
    cut(s, s->durable_lsn > act->base + SEG_HEADER ? s->durable_lsn : act->base + SEG_HEADER);
}

/* Writes `len` bytes of `iov` at `off`, whole. FT_OK; FT_ENOSPC when out of room (ENOSPC,
 * EDQUOT, EFBIG: retry later); FT_EIO. The caller undoes a partial write. */
static int pwritev_full(int fd, struct iovec *iov, int n, off_t off, size_t len)
{
    size_t done = 0;
    int first = 0;
    while (done < len) {
        ssize_t w = pwritev(fd, iov + first, n - first, off + (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return (w < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)) ? FT_ENOSPC
                                                                                     : FT_EIO;
        done += (size_t)w;
        size_t skip = (size_t)w; /* advance the iovec array past what was written */
        while (first < n && skip >= iov[first].iov_len)
            skip -= iov[first++].iov_len;
        if (first < n) {
            iov[first].iov_base = (char *)iov[first].iov_base + skip;
            iov[first].iov_len -= skip;
        }
    }
    return FT_OK;
}

/* The file offset in the active segment where the group buffer's bytes belong. Lock held. */
static off_t group_offset(const ft_spool *s)
{
    const struct segment *act = &s->segs[s->nsegs - 1];
    return (off_t)(s->write_lsn - s->group.len - act->base);
}

static void fail_after(ft_spool *s, uint64_t lsn, int status);

/* Writes the group buffer now (a rotation or a direct write must not pass it). Lock held. On
 * failure the group alone is dropped and its writers are failed (the lock is released while
 * their callbacks run); records before it stay. */
static int flush_group(ft_spool *s)
{
    if (!s->group.len) return FT_OK;
    uint64_t from = s->write_lsn - s->group.len;
    struct iovec iov = {s->group.data, s->group.len};
    int rc = pwritev_full(s->active_fd, &iov, 1, group_offset(s), s->group.len);
    if (rc) {
        cut(s, from);
        fail_after(s, from, rc);
        return rc;
    }
    ft_buf_reset(&s->group);
    return FT_OK;
}

/* Calls the callbacks of `n` popped writers with the lock released. Lock held on entry and
 * exit. */
static void run_callbacks(ft_spool *s, struct waiter *done, size_t ndone, int status)
{
    s->notifying++;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < ndone; i++)
        if (done[i].done) done[i].done(done[i].arg, status);
    free(done);
    pthread_mutex_lock(&s->lock);
    s->notifying--;
    pthread_cond_broadcast(&s->synced);
}

/* Tells the writers of records up to `upto` (all of them, for an error) how they fared. Lock
 * held; released while the callbacks run. */
static void notify(ft_spool *s, uint64_t upto, int status)
{
    struct waiter *done = NULL;
    size_t ndone = 0;
    pop_waiters(s, upto, &done, &ndone);
    if (ndone) run_callbacks(s, done, ndone, status);
}

/* Fails the writers of the records past `lsn` (the tail of the FIFO), which were cut. Lock
 * held; released while the callbacks run. */
static void fail_after(ft_spool *s, uint64_t lsn, int status)
{
    size_t k = 0;
    while (k < s->wcount && s->waiters[(s->whead + s->wcount - 1 - k) % s->wcap].end > lsn)
        k++;
    if (!k) return;
    struct waiter *done = ft_xmalloc(sizeof(*done) * k);
    for (size_t i = 0; i < k; i++)
        done[i] = s->waiters[(s->whead + s->wcount - k + i) % s->wcap];
    s->wcount -= k;
    run_callbacks(s, done, k, status);
}

/* Takes the group buffer for the syncer to write outside the lock: its bytes, and where they
 * go. Lock held. */
static struct ft_buf take_group(ft_spool *s, off_t *off)
{
    *off = group_offset(s);
    struct ft_buf chunk = s->group;
    s->group = s->spare;
    ft_buf_reset(&s->group);
    s->spare = (struct ft_buf){0};
    s->group_in_flight = chunk.len > 0;
    return chunk;
}

/* Returns a written group buffer as the spare, dropping it when a burst made it large. */
static void return_group(ft_spool *s, struct ft_buf *chunk)
{
    if (chunk->cap > (4u << 20)) ft_buf_free(chunk);
    ft_buf_reset(chunk);
    s->spare = *chunk;
    s->group_in_flight = false;
}

static void *syncer_main(void *arg)
{
    ft_spool *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stopping && s->write_lsn == s->claimed_lsn)
            pthread_cond_wait(&s->dirty, &s->lock);
        if (s->write_lsn == s->claimed_lsn) break; /* stopping, and everything is claimed */
        if (s->opt.sync_interval_us > 0) { /* linger to gather writes; a sync or stop cuts it */
            int64_t until = ft_clock_mono_ns() + s->opt.sync_interval_us * 1000;
            struct timespec ts = {until / 1000000000, until % 1000000000};
            while (!s->stopping && !s->hurried &&
                   pthread_cond_timedwait(&s->hurry, &s->lock, &ts) != ETIMEDOUT) {
            }
            s->hurried = false;
            if (s->write_lsn == s->claimed_lsn) continue; /* a cut took it back */
        }
        uint64_t target = s->claimed_lsn = s->write_lsn;
        s->min_cut = UINT64_MAX;
        off_t off;
        struct ft_buf chunk = take_group(s, &off);
        int fd = dup(s->active_fd);
        pthread_mutex_unlock(&s->lock);

        int wrc = fd < 0 ? FT_EIO : FT_OK;
        struct iovec iov = {chunk.data, chunk.len};
        if (wrc == FT_OK && chunk.len) wrc = pwritev_full(fd, &iov, 1, off, chunk.len);
        int rc = wrc;
        if (rc == FT_OK && fdatasync(fd) != 0) rc = FT_EIO;
        if (fd >= 0) close(fd);

        pthread_mutex_lock(&s->lock);
        size_t wrote = chunk.len;
        return_group(s, &chunk);
        if (rc == FT_OK) {
            /* unless a cut went below the claim meanwhile, everything up to it is durable */
            if (target <= s->min_cut && target > s->durable_lsn) s->durable_lsn = target;
            notify(s, s->durable_lsn, FT_OK);
        } else if (wrc != FT_OK && wrote) {
            /* the group could not be written (a full disk): it goes, with what came after it;
             * the records before it stay and are synced next time */
            cut(s, target - wrote);
            fail_after(s, target - wrote, wrc);
        } else {
            discard_undurable(s);
            notify(s, UINT64_MAX, rc);
        }
        pthread_cond_broadcast(&s->synced);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/*
 * Starts a new segment at write_lsn, after writing the group buffer and syncing the active
 * segment (a rotation happens once per segment, so this wait is rare). Lock held, and no group
 * write in flight. On a failed write or sync nothing rotates and what failed is dropped, its
 * writers told (the lock is released meanwhile); the writers of what the sync made durable are
 * told by the caller's notify().
 */
static int rotate(ft_spool *s)
{
    int rc = flush_group(s);
    if (rc) return rc;
    if (s->opt.durability == FT_SPOOL_FSYNC && fdatasync(s->active_fd) != 0) {
        discard_undurable(s);
        notify(s, UINT64_MAX, FT_EIO);
        return FT_EIO;
    }
    if (s->opt.durability == FT_SPOOL_FSYNC && s->write_lsn > s->durable_lsn)
        s->durable_lsn = s->write_lsn;
    int fd;
    rc = ft__spool_create_segment(s, s->write_lsn, true, &fd);
    if (rc) return rc;
    close(s->active_fd);
    s->active_fd = fd;
    ft__spool_push_segment(s, s->write_lsn, s->write_lsn + SEG_HEADER, 2);
    bool was_durable = s->durable_lsn == s->write_lsn;
    s->write_lsn += SEG_HEADER;
    if (was_durable) s->durable_lsn = s->write_lsn;
    if (s->claimed_lsn < s->durable_lsn) s->claimed_lsn = s->durable_lsn;
    return FT_OK;
}

/* Writes a record to the file now. Lock held; the group buffer was flushed. A failed write is
 * undone, so the log never holds a partial record. */
static int write_record(ft_spool *s, unsigned char *rh, const struct iovec *iov, int iovcnt,
                        size_t total)
{
    struct iovec all[1 + 16];
    all[0] = (struct iovec){rh, REC_HEADER};
    for (int i = 0; i < iovcnt; i++)
        all[1 + i] = iov[i];
    struct segment *act = &s->segs[s->nsegs - 1];
    off_t off = (off_t)(act->end - act->base);
    int rc = pwritev_full(s->active_fd, all, iovcnt + 1, off, total);
    if (rc && ftruncate(s->active_fd, off) != 0) s->failed = true;
    return rc;
}

static void buffer_record(ft_spool *s, const unsigned char *rh, const struct iovec *iov, int iovcnt,
                          size_t total)
{
    ft_buf_reserve(&s->group, total);
    ft_buf_append(&s->group, rh, REC_HEADER);
    for (int i = 0; i < iovcnt; i++)
        ft_buf_append(&s->group, iov[i].iov_base, iov[i].iov_len);
}

/* Whether an append of `total` bytes may go ahead now: FT_OK, an error to return, or
 * LOOK_AGAIN after rotating, flushing or waiting. Lock held. */
static int admit(ft_spool *s, size_t total, bool buffered, bool bounded)
{
    if (s->stopping || s->sealed) return FT_ECLOSED;
    if (s->failed) return FT_EIO;
    if (bounded && s->write_lsn - s->released_lsn + total > s->opt.max_backlog) return FT_ENOSPC;
    if (buffered && s->group.len + total > GROUP_MAX) return FT_ENOSPC; /* the disk lags */
    struct segment *act = &s->segs[s->nsegs - 1];
    bool full =
        act->end - act->base + total > s->opt.segment_bytes && act->end - act->base > SEG_HEADER;
    if (!full && buffered) return FT_OK;
    if (!full && !s->group.len && !s->group_in_flight) return FT_OK;
    if (s->group_in_flight) { /* a rotation or a direct write must not pass the syncer's write */
        pthread_cond_wait(&s->synced, &s->lock);
        return LOOK_AGAIN;
    }
    int rc = full ? rotate(s) : flush_group(s);
    notify(s, s->durable_lsn, FT_OK); /* what a rotation's sync made durable */
    return rc ? rc : LOOK_AGAIN;
}

static int append(ft_spool *s, const struct iovec *iov, int iovcnt, ft_spool_done_fn done,
                  void *arg, uint64_t *lsn, bool *durable, bool bounded, unsigned *epoch)
{
    if (iovcnt < 0 || iovcnt > 16) return FT_EINVAL;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (len > s->opt.max_record) return FT_ETOOBIG;
    unsigned char rh[REC_HEADER];
    ft__put_le32(rh, (uint32_t)len);
    uint32_t crc = ft__crc_body(rh, iov, iovcnt);
    size_t total = REC_HEADER + len;
    /* a writer that waits for durability has been promised nothing yet: its record can wait
     * in memory for the group's write */
    bool buffered = s->opt.durability == FT_SPOOL_FSYNC && done && total <= GROUP_MAX / 4;

    pthread_mutex_lock(&s->lock);
    int rc;
    while ((rc = admit(s, total, buffered, bounded)) == LOOK_AGAIN)
        ;
    if (rc == FT_OK) { /* the record's place is known now: seal it into the CRC */
        const struct segment *act = &s->segs[s->nsegs - 1];
        ft__put_le32(rh + 4, ft__crc_seal(crc, act->version, act->end));
    }
    if (rc == FT_OK && buffered)
        buffer_record(s, rh, iov, iovcnt, total);
    else if (rc == FT_OK)
        rc = write_record(s, rh, iov, iovcnt, total);
    if (rc == FT_OK) {
        struct segment *act = &s->segs[s->nsegs - 1];
        *lsn = act->end;
        if (epoch) *epoch = s->epoch;
        act->end += total;
        s->write_lsn = act->end;
        if (s->opt.durability == FT_SPOOL_NONE) {
            s->durable_lsn = s->claimed_lsn = s->write_lsn;
            *durable = true;
        } else {
            *durable = false;
            push_waiter(s, s->write_lsn, done, arg);
            pthread_cond_signal(&s->dirty);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int ft_spool_append(ft_spool *s, const struct iovec *iov, int iovcnt, ft_spool_done_fn done,
                    void *arg, uint64_t *lsn, bool *durable)
{
    return append(s, iov, iovcnt, done, arg, lsn, durable, true, NULL);
}

int ft_spool_append_moved(ft_spool *s, const struct iovec *iov, int iovcnt, uint64_t *lsn,
                          unsigned *epoch)
{
    bool durable;
    return append(s, iov, iovcnt, NULL, NULL, lsn, &durable, false, epoch);
}

void ft_spool_seal(ft_spool *s)
{
    pthread_mutex_lock(&s->lock);
    s->sealed = true;
    pthread_mutex_unlock(&s->lock);
}

int ft_spool_sync(ft_spool *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t target = s->write_lsn;
    unsigned epoch = s->epoch;
    s->hurried = true;
    pthread_cond_signal(&s->hurry);
    while ((s->durable_lsn < target || s->notifying > 0) && s->epoch == epoch && !s->failed &&
           s->has_syncer)
        pthread_cond_wait(&s->synced, &s->lock);
    int rc = s->durable_lsn >= target && s->epoch == epoch ? FT_OK : FT_EIO;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Past this much data, a fully released active segment is swapped for a new one (a recycled
 * file when there is one), so that a caught-up consumer keeps the spool small: the active
 * segment and at most MAX_SPARES files kept for reuse. */
#define RECLAIM_BYTES (1u << 20)

int ft_spool_release(ft_spool *s, uint64_t lsn)
{
    pthread_mutex_lock(&s->lock);
    if (lsn > s->released_lsn) s->released_lsn = lsn < s->write_lsn ? lsn : s->write_lsn;
    struct segment *act = &s->segs[s->nsegs - 1];
    /* everything released was read, so it is durable: the rotation's sync has nothing to wait
     * for and no writer to notify */
    if (s->released_lsn == s->write_lsn && act->end - act->base > RECLAIM_BYTES && !s->failed &&
        !s->stopping && !s->group_in_flight && rotate(s) == FT_OK)
        s->released_lsn = s->write_lsn;
    size_t drop = 0;
    while (drop + 1 < s->nsegs && s->segs[drop].end <= s->released_lsn &&
           s->segs[drop + 1].base <= s->released_lsn)
        drop++;
    int rc = FT_OK;
    for (size_t i = 0; i < drop; i++)
        if (ft__spool_retire_segment(s, s->segs[i].base)) rc = FT_EIO;
    if (drop) {
        memmove(s->segs, s->segs + drop, sizeof(*s->segs) * (s->nsegs - drop));
        s->nsegs -= drop;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void ft_spool_get_stats(ft_spool *s, struct ft_spool_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = (struct ft_spool_stats){
        .first_lsn = s->segs[0].base,
        .released_lsn = s->released_lsn,
        .write_lsn = s->write_lsn,
        .durable_lsn = s->durable_lsn,
        .segments = s->nsegs,
        .backlog = s->write_lsn - s->released_lsn,
        .max_backlog = s->opt.max_backlog,
        .epoch = s->epoch,
        .failed = s->failed,
    };
    pthread_mutex_unlock(&s->lock);
}

void ft_spool_close(ft_spool *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->dirty);
    pthread_cond_broadcast(&s->synced);
    pthread_cond_broadcast(&s->hurry);
    pthread_mutex_unlock(&s->lock);
    if (s->has_syncer) pthread_join(s->syncer, NULL);
    /* the syncers claimed and synced everything; a writer left now waits in vain */
    struct waiter *left = NULL;
    size_t nleft = 0;
    pop_waiters(s, UINT64_MAX, &left, &nleft);
    for (size_t i = 0; i < nleft; i++)
        if (left[i].done) left[i].done(left[i].arg, FT_ECLOSED);
    free(left);
    if (s->active_fd >= 0) close(s->active_fd);
    if (s->lock_fd >= 0) close(s->lock_fd);
    if (s->dir_fd >= 0) close(s->dir_fd);
    pthread_cond_destroy(&s->dirty);
    pthread_cond_destroy(&s->synced);
    pthread_cond_destroy(&s->hurry);
    pthread_mutex_destroy(&s->lock);
    free(s->waiters);
    ft_buf_free(&s->group);
    ft_buf_free(&s->spare);
    free(s->segs);
    free(s->dir);
    free(s);
}
