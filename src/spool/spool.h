/*
 * The spool: an append-only, checksummed, durable log, shared by receive (its ingest log) and
 * serve (its outbox).
 *
 * A spool is a directory of segment files named by their first position (LSN, a byte position
 * in the log: it only grows). Each segment starts with a 16-byte header (a format magic and
 * its base LSN) followed by records: a 4-byte little-endian length, a 4-byte CRC-32C, then
 * the payload (spool_int.h has the formats). A writer that waits for durability has its record
 * buffered and written with its group; one syncer thread makes everything appended so far
 * durable with a single write and fdatasync (group commit) and then reports to each writer
 * through its callback, so no writer thread waits for a sync (a rotation, once per segment,
 * does). At open the last segment is scanned and cut at the first incomplete or corrupt record
 * (a torn tail). A consumer reads durable records in order and releases what it has
 * processed; segments wholly below the release point are retired (kept for reuse, or
 * deleted). A bound on unreleased bytes, and a full disk, make appends fail with FT_ENOSPC
 * (the caller answers 503), never corrupting the log.
 *
 * Thread safety: appends, release, stats and sync from any thread; a reader from one thread.
 */
#ifndef FT_SPOOL_H
#define FT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct ft_spool ft_spool;
typedef struct ft_spool_reader ft_spool_reader;

enum ft_spool_durability {
    FT_SPOOL_FSYNC, /* a record is durable once fdatasync returned */
    FT_SPOOL_NONE,  /* a record is "durable" once written to the kernel (survives a crash of
                       the process, not of the machine) */
};

struct ft_spool_options {
    enum ft_spool_durability durability;
    uint64_t segment_bytes;   /* start a new segment past this size (default 64 MiB) */
    uint64_t max_backlog;     /* unreleased bytes before appends fail (default 1 GiB) */
    uint32_t max_record;      /* largest payload appended (default 64 MiB); reading and
                               * recovery take any record that fits in its segment */
    int64_t sync_interval_us; /* FSYNC: gather writes this long before syncing (default 0) */
};

/* Called once per append with FT_OK when the record is durable, or an error when it never
 * will be (FT_ENOSPC: no room on the disk for its group, retry later; FT_EIO: the disk failed
 * it; FT_ECLOSED: the spool closed first). Runs on the syncer thread, or on an appending
 * thread that had to write a group: keep it short and do not call back into the spool. */
typedef void (*ft_spool_done_fn)(void *arg, int status);

/*
 * Opens (creating if needed) the spool in `dir`, recovers its tail, takes an exclusive lock
 * on the directory and starts the syncer. `opt` may be NULL for defaults. Returns FT_OK,
 * FT_EBUSY when another process holds the spool, FT_EIO otherwise; `err` gets the reason.
 */
int ft_spool_open(const char *dir, const struct ft_spool_options *opt, ft_spool **out, char *err,
                  size_t errlen);

/* Syncs what was written, stops the syncer, fails waiters not yet durable (FT_ECLOSED), and
 * frees the spool. NULL is fine. */
void ft_spool_close(ft_spool *s);

/*
 * Appends one record made of `iovcnt` pieces. On FT_OK, *lsn is its position. When the record
 * is already durable on return (durability none), *durable is set to true and `done` is not
 * called; otherwise *durable is false and `done(arg, status)` is called once, later, from the
 * syncer. `done` may be NULL (fire and forget). Errors (nothing is written, `done` not called):
 * FT_ENOSPC when the backlog bound or the disk is full (retry later), FT_ETOOBIG past
 * max_record, FT_EIO after a disk failure, FT_ECLOSED.
 */
int ft_spool_append(ft_spool *s, const struct iovec *iov, int iovcnt, ft_spool_done_fn done,
                    void *arg, uint64_t *lsn, bool *durable);

/*
 * Appends, fire and forget, a record the consumer has read but not finished, to release the
 * original (a webhook waiting for a retry, moved out of the way of the release point). The
 * backlog bound does not apply: the move frees more than it takes, and a full spool is just
 * when it is needed; the disk's limit does. *epoch gets the spool's cut epoch at the append
 * (ft_spool_stats.epoch): the record is durable once durable_lsn passes *lsn while the epoch is
 * unchanged; a cut in between may have taken it. Errors as ft_spool_append.
 */
int ft_spool_append_moved(ft_spool *s, const struct iovec *iov, int iovcnt, uint64_t *lsn,
                          unsigned *epoch);

/* Blocks until everything appended before the call is durable. FT_OK or FT_EIO. */
int ft_spool_sync(ft_spool *s);

/* Refuses every later append (FT_ECLOSED), for a shutdown: once ft_spool_sync returns after
 * this, no callback will run again. */
void ft_spool_seal(ft_spool *s);

/* The consumer has processed every record before `lsn`: deletes segments wholly below it and
 * frees their bytes from the backlog. */
int ft_spool_release(ft_spool *s, uint64_t lsn);

struct ft_spool_stats {
    uint64_t first_lsn;    /* position of the oldest segment */
    uint64_t released_lsn; /* consumer's release point */
    uint64_t write_lsn;    /* end of what was written */
    uint64_t durable_lsn;  /* end of what is durable */
    uint64_t segments;     /* segment files */
    uint64_t backlog;      /* bytes written and not yet released */
    uint64_t max_backlog;  /* the bound on it: appends past it fail */
    unsigned epoch;        /* bumped whenever records not yet durable are cut (a failed write
                              or sync): positions past the cut are written again */
    bool failed;           /* a disk failure stopped appends until reopened */
};

void ft_spool_get_stats(ft_spool *s, struct ft_spool_stats *out);

/* --- reading --- */

struct ft_spool_record {
    uint64_t lsn;      /* position of this record */
    uint64_t next_lsn; /* position just after it: release or checkpoint this */
    const void *data;  /* payload, valid until the next ft_spool_next or close */
    size_t len;
};

/* A cursor over durable records from `from_lsn` (or the oldest, if that is gone). */
int ft_spool_reader_open(ft_spool *s, uint64_t from_lsn, ft_spool_reader **out);
void ft_spool_reader_close(ft_spool_reader *r);

/*
 * Reads the next durable record. FT_OK; FT_ENOENT when none is durable yet (wait with
 * ft_spool_wait and call again); FT_ECORRUPT when a record fails its checksum (the reader
 * then skips to the next segment; `rec->lsn` and `rec->next_lsn` say what was skipped);
 * FT_EIO when a segment cannot be opened or read (out of file descriptors, a disk error): the
 * position stays, so a later call tries the same record again.
 */
int ft_spool_next(ft_spool_reader *r, struct ft_spool_record *rec);

/* Blocks until something durable follows the reader's position, or `timeout_us` passes (or
 * the spool closes). True when ft_spool_next may have a record. */
bool ft_spool_reader_wait(ft_spool_reader *r, int64_t timeout_us);

/* The LSN the reader will read next (a checkpoint when everything before it is processed). */
uint64_t ft_spool_reader_pos(const ft_spool_reader *r);

#endif
