/*
 * The spool's segment files (src/spool/spool_int.h): naming, listing and scanning them,
 * recovery at open (the segment list, the active segment, a torn tail cut), creating new
 * segments, and recycling released ones as "recycle-N" files.
 */
#include "flagtrail/error.h"
#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ft__spool_errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    int e = errno;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ": %s", strerror(e));
    }
    return code;
}

ssize_t ft__spool_pread(int fd, void *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

void ft__spool_push_segment(ft_spool *s, uint64_t base, uint64_t end, unsigned version)
{
    if (s->nsegs == s->segs_cap) {
        s->segs_cap = s->segs_cap ? s->segs_cap * 2 : 16;
        s->segs = ft_xrealloc(s->segs, sizeof(*s->segs) * s->segs_cap);
    }
    s->segs[s->nsegs++] = (struct segment){base, end, version};
}

/* The record format of the segment file `fd` at `base`, from its header; 0 when the header is
 * missing, of another segment, or not a spool's. */
static unsigned segment_version(int fd, uint64_t base)
{
    unsigned char head[SEG_HEADER];
    if (ft__spool_pread(fd, head, SEG_HEADER, 0) != SEG_HEADER || ft__get_le64(head + 8) != base)
        return 0;
    if (memcmp(head, SEG_MAGIC_V2, 8) == 0) return 2;
    if (memcmp(head, SEG_MAGIC_V1, 8) == 0) return 1;
    return 0;
}

/* --- recycling: released segment files are renamed "recycle-N" and reused --- */

static void spare_name(char *out, size_t cap, int i)
{
    snprintf(out, cap, "recycle-%d", i);
}

static void find_spares(ft_spool *s)
{
    for (int i = 0; i < MAX_SPARES; i++) {
        char name[32];
        spare_name(name, sizeof(name), i);
        s->has_spare[i] = faccessat(s->dir_fd, name, F_OK, 0) == 0;
    }
}

/* Keeps a released segment file for reuse when there is room among the spares, else deletes
 * it. Lock held. FT_OK or FT_EIO. */
int ft__spool_retire_segment(ft_spool *s, uint64_t base)
{
    char name[32], spare[32];
    ft__seg_name(name, sizeof(name), base);
    for (int i = 0; i < MAX_SPARES; i++) {
        if (s->has_spare[i]) continue;
        spare_name(spare, sizeof(spare), i);
        if (renameat(s->dir_fd, name, s->dir_fd, spare) == 0) {
            s->has_spare[i] = true;
            return FT_OK;
        }
        break;
    }
    return unlinkat(s->dir_fd, name, 0) != 0 && errno != ENOENT ? FT_EIO : FT_OK;
}

/* Opens a spare file renamed to `name`, or -1 when there is none. Its old records stay until
 * overwritten: format 2 seals each record's position into its CRC, so none of them can pass
 * for a record of the new segment. */
static int take_spare(ft_spool *s, const char *name)
{
    for (int i = 0; i < MAX_SPARES; i++) {
        if (!s->has_spare[i]) continue;
        char spare[32];
        spare_name(spare, sizeof(spare), i);
        s->has_spare[i] = false;
        if (renameat(s->dir_fd, spare, s->dir_fd, name) != 0) continue;
        int fd = openat(s->dir_fd, name, O_RDWR | O_CLOEXEC);
        if (fd >= 0) return fd;
        unlinkat(s->dir_fd, name, 0);
    }
    return -1;
}

/* --- opening and recovery --- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the segment files' base LSNs, sorted. */
static int list_segments(ft_spool *s, uint64_t **out, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    if (!d) return ft__spool_errorf(err, errlen, FT_EIO, "cannot read spool %s", s->dir);
    uint64_t *bases = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 24 || strcmp(e->d_name + 20, ".seg") != 0) continue;
        if (strspn(e->d_name, "0123456789") != 20) continue; /* not a name ft__seg_name made */
        errno = 0;
        uint64_t base = strtoull(e->d_name, NULL, 10);
        if (errno) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            bases = ft_xrealloc(bases, sizeof(*bases) * cap);
        }
        bases[count++] = base;
    }
    closedir(d);
    if (count) qsort(bases, count, sizeof(*bases), cmp_u64);
    *out = bases;
    *n = count;
    return FT_OK;
}

/*
 * Scans the segment whose descriptor is `fd` and returns the file offset just past its last
 * valid record; sets *torn when bytes after that offset exist (they are cut by the caller:
 * a torn record, or the old records of a recycled file).
 */
static int scan_segment(int fd, uint64_t base, off_t *valid_end, bool *torn)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return FT_EIO;
    unsigned version = st.st_size < SEG_HEADER ? 0 : segment_version(fd, base);
    if (!version) {
        *valid_end = 0;
        *torn = true;
        return FT_OK;
    }
    size_t cap = 1 << 20;
    unsigned char *buf = ft_xmalloc(cap);
    off_t off = SEG_HEADER;
    int rc = FT_OK;
    for (;;) {
        unsigned char rh[REC_HEADER];
        if (st.st_size - off < REC_HEADER) break;
        if (ft__spool_pread(fd, rh, REC_HEADER, off) != REC_HEADER) {
            rc = FT_EIO;
            break;
        }
        uint32_t len = ft__get_le32(rh), crc = ft__get_le32(rh + 4);
        if ((off_t)len > st.st_size - off - REC_HEADER) break;
        if (len > cap) {
            cap = len;
            buf = ft_xrealloc(buf, cap);
        }
        if (ft__spool_pread(fd, buf, len, off + REC_HEADER) != (ssize_t)len) {
            rc = FT_EIO;
            break;
        }
        struct iovec iov = {buf, len};
        if (ft__crc_seal(ft__crc_body(rh, &iov, 1), version, base + (uint64_t)off) != crc) break;
        off += REC_HEADER + (off_t)len;
    }
    free(buf);
    *valid_end = off;
    *torn = off < st.st_size;
    return rc;
}

/*
 * Creates a new segment at `base`, in a recycled file when there is one (already allocated and
 * sized, so the syncs that follow write data, not file metadata: 1.5x faster here), and makes
 * its name durable. `recycle` false: a new, empty file.
 */
int ft__spool_create_segment(ft_spool *s, uint64_t base, bool recycle, int *fd_out)
{
    char name[32];
    ft__seg_name(name, sizeof(name), base);
    int fd = recycle ? take_spare(s, name) : -1;
    if (fd < 0) fd = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno == ENOSPC ? FT_ENOSPC : FT_EIO;
    unsigned char head[SEG_HEADER];
    memcpy(head, SEG_MAGIC_V2, 8);
    ft__put_le64(head + 8, base);
    if (pwrite(fd, head, SEG_HEADER, 0) != SEG_HEADER ||
        (s->opt.durability == FT_SPOOL_FSYNC && (fdatasync(fd) != 0 || fsync(s->dir_fd) != 0))) {
        int rc = errno == ENOSPC ? FT_ENOSPC : FT_EIO;
        close(fd);
        unlinkat(s->dir_fd, name, 0);
        return rc;
    }
    *fd_out = fd;
    return FT_OK;
}

/* Recovers the segment list and the active segment; cuts a torn tail. */
int ft__spool_recover(ft_spool *s, char *err, size_t errlen)
{
    find_spares(s);
    uint64_t *bases = NULL;
    size_t n = 0;
    int rc = list_segments(s, &bases, &n, err, errlen);
    if (rc) return rc;
    if (n == 0) {
        /* a new log: spares left from an earlier one (its segments deleted by hand) could hold
         * records sealed at the very positions the new log will use, so they go */
        free(bases);
        for (int i = 0; i < MAX_SPARES; i++) {
            char name[32];
            spare_name(name, sizeof(name), i);
            if (s->has_spare[i]) unlinkat(s->dir_fd, name, 0);
            s->has_spare[i] = false;
        }
        ft__spool_push_segment(s, 0, SEG_HEADER, 2);
        s->write_lsn = s->durable_lsn = s->released_lsn = SEG_HEADER;
        rc = ft__spool_create_segment(s, 0, false, &s->active_fd);
        if (rc) return ft__spool_errorf(err, errlen, rc, "cannot create a segment in %s", s->dir);
        return FT_OK;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        /* a closed segment ends where the next begins; its records were synced before it
         * closed, and the reader checks every checksum anyway (an unreadable header reads as
         * format 2, whose checks then fail) */
        char name[32];
        ft__seg_name(name, sizeof(name), bases[i]);
        int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
        unsigned version = fd >= 0 ? segment_version(fd, bases[i]) : 0;
        if (fd >= 0) close(fd);
        ft__spool_push_segment(s, bases[i], bases[i + 1], version ? version : 2);
    }
    uint64_t last = bases[n - 1];
    free(bases);
    char name[32];
    ft__seg_name(name, sizeof(name), last);
    int fd = openat(s->dir_fd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return ft__spool_errorf(err, errlen, FT_EIO, "cannot open spool segment in %s", s->dir);
    off_t valid;
    bool torn;
    if ((rc = scan_segment(fd, last, &valid, &torn))) {
        close(fd);
        return ft__spool_errorf(err, errlen, rc, "cannot read spool segment in %s", s->dir);
    }
    unsigned version = segment_version(fd, last);
    if (valid < SEG_HEADER) {
        /* not even a header survived: rewrite the segment empty */
        close(fd);
        version = 2;
        if ((rc = ft__spool_create_segment(s, last, false, &fd)))
            return ft__spool_errorf(err, errlen, rc, "cannot rewrite a segment in %s", s->dir);
        valid = SEG_HEADER;
    } else if (torn && (ftruncate(fd, valid) != 0 ||
                        (s->opt.durability == FT_SPOOL_FSYNC && fdatasync(fd) != 0))) {
        close(fd);
        return ft__spool_errorf(err, errlen, FT_EIO, "cannot cut the torn tail in %s", s->dir);
    } else if (!torn && s->opt.durability == FT_SPOOL_FSYNC && fdatasync(fd) != 0) {
        close(fd);
        return ft__spool_errorf(err, errlen, FT_EIO, "cannot sync spool segment in %s", s->dir);
    }
    ft__spool_push_segment(s, last, last + (uint64_t)valid, version);
    s->active_fd = fd;
    s->write_lsn = s->durable_lsn = last + (uint64_t)valid;
    s->released_lsn = s->segs[0].base;
    return FT_OK;
}
