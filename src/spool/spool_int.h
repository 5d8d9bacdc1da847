/*
 * The spool's internals, shared by its writer side (spool.c: group commit, rotation, release),
 * its segment files (spool_segment.c: recovery, creation, recycling) and its reader
 * (spool_read.c). Nothing outside src/spool includes this.
 *
 * On disk a segment starts with a 16-byte header: a magic naming its format and its base LSN.
 * A record is a 4-byte little-endian length, a 4-byte CRC-32C, and the payload. In format 1
 * the CRC covers the length bytes and the payload; format 2 (every segment written now) also
 * seals the record's LSN into it, so that the old records in a recycled segment file can never
 * pass for records at their new position. Format 1 segments are still read and appended to.
 */
#ifndef FT_SPOOL_INT_H
#define FT_SPOOL_INT_H

#include "base/crc32c.h"
#include "flagtrail/base.h"
#include "spool/spool.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#define SEG_HEADER 16
#define REC_HEADER 8
#define SEG_MAGIC_V1 "FTSPOOL1"
#define SEG_MAGIC_V2 "FTSPOOL2"
#define MAX_SPARES 2 /* released segment files kept for reuse */

struct segment {
    uint64_t base;    /* LSN of the segment file's first byte */
    uint64_t end;     /* LSN just past its last record */
    unsigned version; /* record format (1 or 2) */
};

struct waiter {
    uint64_t end; /* durable once durable_lsn reaches this */
    ft_spool_done_fn done;
    void *arg;
};

struct ft_spool {
    char *dir;
    int dir_fd;
    int lock_fd;
    struct ft_spool_options opt;

    pthread_mutex_t lock;
    pthread_cond_t dirty;  /* syncers: there is something to sync, or stop */
    pthread_cond_t synced; /* durable_lsn moved, callbacks ran, or failure */
    pthread_cond_t hurry;  /* the syncer, lingering for sync_interval_us: sync now (or stop) */
    bool hurried;          /* ft_spool_sync asked for a sync without the linger */
    pthread_t syncer; /* one: a single group buffer is in flight at a time (spool.c) */
    bool has_syncer;
    bool stopping;
    bool sealed; /* ft_spool_seal: appends are refused */
    bool failed;

    struct segment *segs;
    size_t nsegs, segs_cap;
    int active_fd;
    uint64_t write_lsn, durable_lsn, released_lsn;
    uint64_t claimed_lsn; /* highest position a sync in flight (or done) covers */
    unsigned epoch;       /* bumped whenever records are cut (a failed write or sync) */
    uint64_t min_cut;     /* lowest cut since the sync in flight claimed (UINT64_MAX: none) */
    int notifying;        /* syncers calling writers' callbacks */

    struct waiter *waiters; /* ring buffer */
    size_t wcap, whead, wcount;

    /* The group buffer: appended records not yet written, the last `group.len` bytes before
     * write_lsn. The syncer swaps it with `spare` and writes it outside the lock. */
    struct ft_buf group, spare;
    bool group_in_flight; /* the syncer is writing a taken group buffer */

    bool has_spare[MAX_SPARES]; /* "recycle-N" files: released segments waiting for reuse */
};

static inline void ft__put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t ft__get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void ft__put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t ft__get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void ft__seg_name(char *out, size_t cap, uint64_t base)
{
    snprintf(out, cap, "%020" PRIu64 ".seg", base);
}

/* The CRC of a record's length bytes and payload: the part computed without the lock. */
static inline uint32_t ft__crc_body(const unsigned char len_bytes[4], const struct iovec *iov, int n)
{
    uint32_t crc = ft_crc32c(0, len_bytes, 4);
    for (int i = 0; i < n; i++)
        crc = ft_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
    return crc;
}

/* Completes a record's CRC once its position is known (format 2 seals the LSN in). */
static inline uint32_t ft__crc_seal(uint32_t crc, unsigned version, uint64_t lsn)
{
    if (version < 2) return crc;
    unsigned char b[8];
    ft__put_le64(b, lsn);
    return ft_crc32c(crc, b, 8);
}

/* pread until `len` bytes, end of file or an error (-1). */
ssize_t ft__spool_pread(int fd, void *buf, size_t len, off_t off);

/* --- segment files (spool_segment.c); the lock is held, or the spool is not shared yet --- */

/* Formats "<message>: <strerror(errno)>" into err; returns code. */
__attribute__((format(printf, 4, 5))) int ft__spool_errorf(char *err, size_t errlen, int code,
                                                           const char *fmt, ...);

/* Appends a segment to the list. */
void ft__spool_push_segment(ft_spool *s, uint64_t base, uint64_t end, unsigned version);

/* Finds the spares, the segments and the active one at open; cuts a torn tail. */
int ft__spool_recover(ft_spool *s, char *err, size_t errlen);

/* Creates a segment at `base` (in a spare file when `recycle` and there is one) with its
 * header, durable with FT_SPOOL_FSYNC. FT_OK, FT_ENOSPC or FT_EIO. */
int ft__spool_create_segment(ft_spool *s, uint64_t base, bool recycle, int *fd_out);

/* Keeps a released segment file as a spare when there is room, else deletes it. */
int ft__spool_retire_segment(ft_spool *s, uint64_t base);

#endif
