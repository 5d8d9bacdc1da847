/*
 * The spool's reader (src/spool/spool.h): a cursor over durable records, in order, from a
 * checkpoint. It reads each segment through its own descriptor with a read-ahead buffer that
 * never holds bytes past the durable end, checks every record's CRC (format 1 or 2, see
 * spool_int.h), and skips the rest of a segment at a corrupt record.
 */
#include "flagtrail/error.h"
#include "spool/spool_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool wait_durable(ft_spool *s, uint64_t lsn, int64_t timeout_us)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_us / 1000000;
    deadline.tv_nsec += (timeout_us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    while (s->durable_lsn <= lsn && !s->stopping) {
        if (pthread_cond_timedwait(&s->synced, &s->lock, &deadline) != 0) break;
    }
    bool ready = s->durable_lsn > lsn;
    pthread_mutex_unlock(&s->lock);
    return ready;
}


struct ft_spool_reader {
    ft_spool *s;
    uint64_t pos;      /* LSN of the next record */
    struct segment seg; /* the segment pos is in, and how far it is durable: */
    uint64_t limit;     /* records below this are readable without asking the spool again */
    uint64_t seg_base; /* segment the descriptor is open on */
    uint64_t seg_size; /* its file's size when last looked at: no record is longer */
    int fd;
    unsigned char *buf; /* read-ahead: bytes [buf_lsn, buf_lsn + buf_len) */
    size_t buf_cap, buf_len;
    uint64_t buf_lsn;
};

int ft_spool_reader_open(ft_spool *s, uint64_t from_lsn, ft_spool_reader **out)
{
    ft_spool_reader *r = ft_xcalloc(1, sizeof(*r));
    r->s = s;
    r->fd = -1;
    r->pos = from_lsn;
    r->buf_cap = 1 << 20;
    r->buf = ft_xmalloc(r->buf_cap);
    *out = r;
    return FT_OK;
}

void ft_spool_reader_close(ft_spool_reader *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r);
}

/*
 * Finds the segment holding r->pos (moving pos forward over gaps and deleted segments) and
 * returns the durable end within it, or 0 when nothing durable lies at or after pos.
 */
static uint64_t locate(ft_spool_reader *r, struct segment *seg)
{
    ft_spool *s = r->s;
    uint64_t limit = 0;
    pthread_mutex_lock(&s->lock);
    size_t i = 0;
    while (i < s->nsegs && s->segs[i].end <= r->pos && !(i + 1 == s->nsegs))
        i++;
    if (i < s->nsegs) {
        *seg = s->segs[i];
        if (r->pos < seg->base + SEG_HEADER) r->pos = seg->base + SEG_HEADER;
        uint64_t end = seg->end < s->durable_lsn ? seg->end : s->durable_lsn;
        if (end > r->pos) limit = end;
    }
    pthread_mutex_unlock(&s->lock);
    return limit;
}

/*
 * Makes [lsn, lsn + len) available in the buffer: 1, or 0 when the file is shorter (corrupt),
 * or -1 on a read error (the disk's: worth trying again, never a reason to skip records). It
 * reads ahead only up to `limit`, the durable end: bytes past it may still change (a group
 * being written, records a failed sync discards), and the buffer must never hold them.
 */
static int fill(ft_spool_reader *r, uint64_t lsn, size_t len, uint64_t limit)
{
    if (lsn >= r->buf_lsn && lsn + len <= r->buf_lsn + r->buf_len) return 1;
    if (len > r->buf_cap) {
        r->buf_cap = len;
        r->buf = ft_xrealloc(r->buf, r->buf_cap);
    }
    size_t want = limit - lsn < r->buf_cap ? (size_t)(limit - lsn) : r->buf_cap;
    ssize_t got = ft__spool_pread(r->fd, r->buf, want, (off_t)(lsn - r->seg_base));
    if (got < 0) return -1;
    r->buf_lsn = lsn;
    r->buf_len = (size_t)got;
    return (size_t)got >= len;
}

/* Whether the open segment's file holds `end` bytes (looked at again when the last size does
 * not: the active segment grows). */
static bool file_holds(ft_spool_reader *r, uint64_t end)
{
    if (end <= r->seg_size) return true;
    struct stat st;
    if (fstat(r->fd, &st) != 0) return false;
    r->seg_size = (uint64_t)st.st_size;
    return end <= r->seg_size;
}

static int open_segment(ft_spool_reader *r, uint64_t base)
{
    if (r->fd >= 0 && r->seg_base == base) return FT_OK;
    if (r->fd >= 0) close(r->fd);
    char name[32];
    ft__seg_name(name, sizeof(name), base);
    r->fd = openat(r->s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    r->seg_base = base;
    r->buf_len = 0;
    r->seg_size = 0;
    return r->fd >= 0 ? FT_OK : FT_EIO;
}

int ft_spool_next(ft_spool_reader *r, struct ft_spool_record *rec)
{
    if (r->pos >= r->limit) r->limit = locate(r, &r->seg);
    uint64_t limit = r->limit;
    struct segment seg = r->seg;
    if (!limit) return FT_ENOENT;
    if (open_segment(r, seg.base)) return FT_EIO;
    if (limit - r->pos < REC_HEADER) goto corrupt;
    int got = fill(r, r->pos, REC_HEADER, limit);
    if (got < 0) goto read_error;
    if (!got) goto corrupt;
    const unsigned char *rh = r->buf + (r->pos - r->buf_lsn);
    uint32_t len = ft__get_le32(rh), crc = ft__get_le32(rh + 4);
    /* a bad length reads as corrupt before it sizes the buffer: bounded by the durable end
     * and by the file (a segment's span may be larger when a file was removed by hand) */
    if (REC_HEADER + (uint64_t)len > limit - r->pos ||
        !file_holds(r, r->pos - seg.base + REC_HEADER + len))
        goto corrupt;
    if ((got = fill(r, r->pos, REC_HEADER + len, limit)) < 0) goto read_error;
    if (!got) goto corrupt;
    rh = r->buf + (r->pos - r->buf_lsn);
    struct iovec iov = {(void *)(rh + REC_HEADER), len};
    if (ft__crc_seal(ft__crc_body(rh, &iov, 1), seg.version, r->pos) != crc) goto corrupt;
    *rec = (struct ft_spool_record){r->pos, r->pos + REC_HEADER + len, rh + REC_HEADER, len};
    r->pos = rec->next_lsn;
    return FT_OK;
read_error:
    /* the file is opened again next time: the one open may be what failed */
    close(r->fd);
    r->fd = -1;
    return FT_EIO;
corrupt:
    /* skip the rest of this segment */
    *rec = (struct ft_spool_record){r->pos, seg.end, NULL, 0};
    r->pos = seg.end;
    r->limit = 0;
    return FT_ECORRUPT;
}

bool ft_spool_reader_wait(ft_spool_reader *r, int64_t timeout_us)
{
    return wait_durable(r->s, r->pos, timeout_us);
}

uint64_t ft_spool_reader_pos(const ft_spool_reader *r)
{
    return r->pos;
}
