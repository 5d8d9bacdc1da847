/*
 * Fuzz driver for spool recovery and reading, and for the receiver's records: the input is
 * written as the last segment of a spool (its first byte picks the mode: a format 1 or a
 * format 2 segment header before the rest, or the rest raw), the spool is opened (recovery
 * cuts what is not a valid record),
 * every record is read back and decoded as a receiver record, and a new record must then
 * append and read back. Nothing may crash, and recovery must leave a log that reads cleanly.
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "receive/record.h"
#include "spool/spool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[64] = "/tmp/ft-fuzz-spool-XXXXXX", seg[128];
    if (!mkdtemp(dir)) return 0;
    snprintf(seg, sizeof(seg), "%s/%020d.seg", dir, 0);
    FILE *f = fopen(seg, "wb");
    if (size > 0) { /* the first byte picks the mode; the rest is the segment's content */
        if (data[0] % 3 == 0) fwrite("FTSPOOL1\0\0\0\0\0\0\0\0", 1, 16, f);
        if (data[0] % 3 == 1) fwrite("FTSPOOL2\0\0\0\0\0\0\0\0", 1, 16, f);
        fwrite(data + 1, 1, size - 1, f);
    }
    fclose(f);
    ft_spool *s;
    char err[256];
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE, .max_record = 1 << 16};
    int rc = ft_spool_open(dir, &so, &s, err, sizeof(err));
    CHECK(rc == FT_OK);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    while ((rc = ft_spool_next(r, &rec)) == FT_OK) {
        struct ft_record out;
        if (ft_record_decode(rec.data, rec.len, &out) == FT_OK)
            CHECK(out.body.ptr + out.body.len == (const char *)rec.data + rec.len);
    }
    CHECK(rc == FT_ENOENT); /* after recovery every record is whole */
    struct iovec iov = {"after", 5};
    uint64_t lsn;
    bool durable;
    CHECK(ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable) == FT_OK);
    CHECK(ft_spool_next(r, &rec) == FT_OK && rec.len == 5 && memcmp(rec.data, "after", 5) == 0);
    ft_spool_reader_close(r);
    ft_spool_close(s);
    unlink(seg);
    char lock[128];
    snprintf(lock, sizeof(lock), "%s/LOCK", dir);
    unlink(lock);
    rmdir(dir);
    return 0;
}
