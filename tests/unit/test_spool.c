/*
 * Unit tests of the spool (src/spool/spool.c): appends and reads, group commit across threads,
 * buffered groups beside direct writes, the reader's read-ahead, torn tails cut at every
 * byte, corrupt records, rotation, release and recycled segment files, format 1 segments of
 * earlier versions, the backlog bound, a full disk (through
 * RLIMIT_FSIZE) for direct and buffered writes, the directory lock.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "base/crc32c.h"
#include "flagtrail/error.h"
#include "spool/spool.h"
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ft-spool-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(spool, .init = make_dir, .fini = remove_dir);

static ft_spool *open_spool(const struct ft_spool_options *opt)
{
    ft_spool *s = NULL;
    char err[256] = "";
    int rc = ft_spool_open(dir, opt, &s, err, sizeof(err));
    cr_assert(eq(int, rc, FT_OK), "open: %s", err);
    return s;
}

static int append_str(ft_spool *s, const char *text, uint64_t *lsn)
{
    struct iovec iov = {(void *)text, strlen(text)};
    bool durable;
    uint64_t tmp;
    int rc = ft_spool_append(s, &iov, 1, NULL, NULL, lsn ? lsn : &tmp, &durable);
    return rc;
}

/* Reads every durable record from `from`; returns how many, checking they read "rec-<i>". */
static int read_all(ft_spool *s, uint64_t from, int first_index)
{
    ft_spool_reader *r;
    cr_assert(eq(int, ft_spool_reader_open(s, from, &r), FT_OK));
    struct ft_spool_record rec;
    int n = 0, rc;
    while ((rc = ft_spool_next(r, &rec)) == FT_OK) {
        char want[32];
        snprintf(want, sizeof(want), "rec-%d", first_index + n);
        cr_expect(eq(sz, rec.len, strlen(want)), "record %d", n);
        cr_expect(memcmp(rec.data, want, rec.len) == 0, "record %d", n);
        n++;
    }
    cr_expect(eq(int, rc, FT_ENOENT));
    ft_spool_reader_close(r);
    return n;
}

static void append_n(ft_spool *s, int from, int count)
{
    for (int i = from; i < from + count; i++) {
        char text[32];
        snprintf(text, sizeof(text), "rec-%d", i);
        cr_assert(eq(int, append_str(s, text, NULL), FT_OK));
    }
}

Test(spool, append_then_read_in_order)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 100);
    cr_expect(eq(int, read_all(s, 0, 0), 100));
    ft_spool_close(s);
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, 0, 0), 100), "records survive a reopen");
    ft_spool_close(s);
}

/* Files with a segment's suffix but not a segment's name (a sign, a space, past 2^64) are not
 * segments: the spool opens, and reads, as if they were not there. */
Test(spool, odd_file_names_are_not_segments)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 10);
    ft_spool_close(s);
    const char *odd[] = {"-0000000000000000001.seg", "99999999999999999999.seg",
                         " 0000000000000000001.seg", "+0000000000000000001.seg"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, odd[i]);
        write_file(path, "FTSPOOL2", 8);
    }
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, 0, 0), 10));
    append_n(s, 10, 5);
    cr_expect(eq(int, read_all(s, 0, 0), 15));
    ft_spool_close(s);
}

Test(spool, reader_resumes_from_a_checkpoint)
{
    ft_spool *s = open_spool(NULL);
    append_n(s, 0, 10);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    for (int i = 0; i < 4; i++)
        cr_assert(eq(int, ft_spool_next(r, &rec), FT_OK));
    uint64_t checkpoint = ft_spool_reader_pos(r);
    cr_expect(eq(u64, checkpoint, rec.next_lsn));
    ft_spool_reader_close(r);
    cr_expect(eq(int, read_all(s, checkpoint, 4), 6));
    ft_spool_close(s);
}

/* --- group commit --- */

struct writer_ctx {
    ft_spool *s;
    int id;
    atomic_int *acked;
};

static void on_durable(void *arg, int status)
{
    atomic_int *acked = arg;
    if (status == FT_OK) atomic_fetch_add(acked, 1);
}

static void *writer(void *arg)
{
    struct writer_ctx *w = arg;
    for (int i = 0; i < 500; i++) {
        char text[64];
        int n = snprintf(text, sizeof(text), "w%d-%d", w->id, i);
        struct iovec iov = {text, (size_t)n};
        uint64_t lsn;
        bool durable;
        cr_assert(eq(int, ft_spool_append(w->s, &iov, 1, on_durable, w->acked, &lsn, &durable),
                     FT_OK));
        cr_assert_not(durable);
    }
    return NULL;
}

Test(spool, group_commit_acknowledges_every_writer)
{
    ft_spool *s = open_spool(NULL);
    atomic_int acked = 0;
    pthread_t t[8];
    struct writer_ctx w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct writer_ctx){s, i, &acked};
        pthread_create(&t[i], NULL, writer, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, atomic_load(&acked), 4000));
    struct ft_spool_stats st;
    ft_spool_get_stats(s, &st);
    cr_expect(eq(u64, st.durable_lsn, st.write_lsn));
    /* every writer's records are present and in its own order */
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    int next[8] = {0}, total = 0;
    struct ft_spool_record rec;
    while (ft_spool_next(r, &rec) == FT_OK) {
        int id, i;
        char text[64];
        snprintf(text, sizeof(text), "%.*s", (int)rec.len, (const char *)rec.data);
        cr_assert(eq(int, sscanf(text, "w%d-%d", &id, &i), 2));
        cr_expect(eq(int, i, next[id]), "writer %d", id);
        next[id] = i + 1;
        total++;
    }
    cr_expect(eq(int, total, 4000));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

Test(spool, sync_interval_batches_and_still_acknowledges)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC, .sync_interval_us = 5000};
    ft_spool *s = open_spool(&opt);
    atomic_int acked = 0;
    for (int i = 0; i < 50; i++) {
        struct iovec iov = {"x", 1};
        uint64_t lsn;
        bool durable;
        cr_assert(eq(int, ft_spool_append(s, &iov, 1, on_durable, &acked, &lsn, &durable), FT_OK));
    }
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, atomic_load(&acked), 50));
    ft_spool_close(s);
}

/* A sync or a close does not wait out the syncer's linger (a minute here): the test's timeout
 * fails it if either does. */
Test(spool, sync_and_close_cut_a_long_sync_interval, .timeout = 20)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC, .sync_interval_us = 60000000};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 3);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, read_all(s, 0, 0), 3));
    append_n(s, 3, 1);
    ft_spool_close(s);
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, 0, 0), 4), "close synced the last record");
    ft_spool_close(s);
}

/* The callback's status, for tests that need more than a count. */
static void on_status(void *arg, int status)
{
    atomic_store((atomic_int *)arg, status);
}

static int append_waiting(ft_spool *s, const char *text, atomic_int *status)
{
    struct iovec iov = {(void *)text, strlen(text)};
    uint64_t lsn;
    bool durable;
    atomic_store(status, 1);
    return ft_spool_append(s, &iov, 1, on_status, status, &lsn, &durable);
}

/* Waits (bounded) for a waiting append's callback; returns its status (1: it never ran). */
static int wait_status(atomic_int *status)
{
    for (int i = 0; i < 1000 && atomic_load(status) == 1; i++)
        usleep(1000);
    return atomic_load(status);
}

/* Caps the size of files this process writes (a full disk, through RLIMIT_FSIZE); *old gets
 * the limit to restore. */
static void limit_file_size(struct rlimit *old, rlim_t bytes)
{
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, old);
    struct rlimit lim = *old;
    lim.rlim_cur = bytes;
    cr_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
}

Test(spool, waiting_and_fire_and_forget_appends_keep_their_order)
{
    ft_spool *s = open_spool(NULL);
    atomic_int st[20];
    for (int i = 0; i < 40; i++) {
        char text[16];
        snprintf(text, sizeof(text), "r%d", i);
        if (i % 2) /* buffered until the group is written */
            cr_assert(eq(int, append_waiting(s, text, &st[i / 2]), FT_OK));
        else /* written at once, so the buffered ones before it are written first */
            cr_assert(eq(int, append_str(s, text, NULL), FT_OK));
    }
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    for (int i = 0; i < 20; i++)
        cr_expect(eq(int, atomic_load(&st[i]), FT_OK));
    ft_spool_close(s);
    s = open_spool(NULL);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    for (int i = 0; i < 40; i++) {
        char want[16];
        snprintf(want, sizeof(want), "r%d", i);
        cr_assert(eq(int, ft_spool_next(r, &rec), FT_OK));
        cr_expect(eq(int, (int)rec.len, (int)strlen(want)));
        cr_expect(memcmp(rec.data, want, rec.len) == 0, "record %d", i);
    }
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_ENOENT));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

/* Regression: the reader's read-ahead once cached bytes past the durable end, so a record
 * written over them later read as corrupt and the rest of its segment was skipped. */
Test(spool, reader_never_caches_past_the_durable_end)
{
    ft_spool *s = open_spool(NULL);
    cr_assert(eq(int, append_str(s, "first", NULL), FT_OK));
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    /* bytes past the last record (as a preallocating filesystem may leave) */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    int fd = open(path, O_RDWR);
    cr_assert(fd >= 0);
    struct stat stt;
    cr_assert(fstat(fd, &stt) == 0);
    cr_assert(ftruncate(fd, stt.st_size + 4096) == 0);
    close(fd);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    cr_assert(eq(int, ft_spool_next(r, &rec), FT_OK));
    cr_assert(eq(int, ft_spool_next(r, &rec), FT_ENOENT));
    cr_assert(eq(int, append_str(s, "second", NULL), FT_OK));
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_assert(eq(int, ft_spool_next(r, &rec), FT_OK));
    cr_expect(eq(int, (int)rec.len, 6));
    cr_expect(memcmp(rec.data, "second", 6) == 0);
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

/* --- recovery --- */

/* The path of the newest segment (names sort by position). */
static void segment_path(char *out, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".seg") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    snprintf(out, cap, "%s/%s", dir, best);
}

Test(spool, torn_tail_is_cut_at_every_byte)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 3);
    uint64_t last;
    cr_assert(eq(int, append_str(s, "rec-3 with a longer payload", &last), FT_OK));
    ft_spool_close(s);
    char path[512];
    segment_path(path, sizeof(path));
    struct stat st;
    cr_assert(stat(path, &st) == 0);
    size_t len;
    char *orig = NULL;
    {
        FILE *f = fopen(path, "rb");
        orig = malloc((size_t)st.st_size);
        len = fread(orig, 1, (size_t)st.st_size, f);
        fclose(f);
    }
    uint64_t rec_start = last; /* base 0: LSN is the file offset */
    for (size_t cut = rec_start; cut < len; cut++) {
        write_file(path, orig, cut);
        s = open_spool(&opt);
        cr_expect(eq(int, read_all(s, 0, 0), 3), "cut at %zu", cut);
        struct ft_spool_stats stats;
        ft_spool_get_stats(s, &stats);
        cr_expect(eq(u64, stats.write_lsn, rec_start), "cut at %zu", cut);
        /* the log takes new records where the torn one was */
        append_n(s, 3, 1);
        cr_expect(eq(int, read_all(s, 0, 0), 4), "cut at %zu", cut);
        ft_spool_close(s);
    }
    free(orig);
}

Test(spool, corrupt_last_record_is_cut)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 5);
    ft_spool_close(s);
    char path[512];
    segment_path(path, sizeof(path));
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    char c;
    cr_assert(pread(fd, &c, 1, st.st_size - 1) == 1);
    c ^= 1;
    cr_assert(pwrite(fd, &c, 1, st.st_size - 1) == 1);
    close(fd);
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, 0, 0), 4));
    ft_spool_close(s);
}

Test(spool, garbage_segment_header_is_rewritten)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE};
    ft_spool *s = open_spool(&opt);
    ft_spool_close(s);
    char path[512];
    segment_path(path, sizeof(path));
    write_file(path, "garbage", 7);
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, 0, 0), 0));
    append_n(s, 0, 2);
    cr_expect(eq(int, read_all(s, 0, 0), 2));
    ft_spool_close(s);
}

/* --- segments --- */

static int count_segments(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

Test(spool, rotation_and_release_delete_passed_segments)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC, .segment_bytes = 256};
    ft_spool *s = open_spool(&opt);
    for (int i = 0; i < 60; i++) {
        append_n(s, i, 1);
        cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    }
    int segs = count_segments();
    cr_expect(ge(int, segs, 3));
    cr_expect(eq(int, read_all(s, 0, 0), 60));
    /* release half: earlier segments go, the rest still reads */
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    for (int i = 0; i < 30; i++)
        cr_assert(eq(int, ft_spool_next(r, &rec), FT_OK));
    uint64_t pos = ft_spool_reader_pos(r);
    ft_spool_reader_close(r);
    cr_assert(eq(int, ft_spool_release(s, pos), FT_OK));
    cr_expect(lt(int, count_segments(), segs));
    cr_expect(eq(int, read_all(s, pos, 30), 30));
    ft_spool_close(s);
    /* and after a reopen the same holds */
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, pos, 30), 30));
    ft_spool_release(s, UINT64_MAX);
    cr_expect(eq(int, count_segments(), 1), "the active segment stays");
    ft_spool_close(s);
}

static int count_spares(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "recycle-", 8) == 0;
    closedir(d);
    return n;
}

/* Records of one size: in a recycled file the new records end exactly where an old one
 * begins, which only the LSN sealed into each CRC tells apart. */
Test(spool, recycled_segment_never_reads_its_old_records)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC, .segment_bytes = 256};
    ft_spool *s = open_spool(&opt);
    append_n(s, 100, 40); /* "rec-100".."rec-139": one size, three segments and more */
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    struct ft_spool_stats st;
    ft_spool_get_stats(s, &st);
    cr_assert(ge(u64, st.segments, 3));
    cr_assert(eq(int, ft_spool_release(s, st.write_lsn), FT_OK));
    cr_expect(eq(int, count_spares(), 2), "released segments are kept for reuse");
    uint64_t from = st.write_lsn;
    ft_spool_get_stats(s, &st);
    cr_assert(eq(u64, st.segments, 1));
    /* fill the active segment, then two records in the next one: a recycled file */
    int n = 0;
    while (st.segments == 1) {
        append_n(s, 200 + n++, 1);
        ft_spool_get_stats(s, &st);
    }
    append_n(s, 200 + n, 1);
    n += 1;
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, count_spares(), 1), "the new segment took a spare");
    cr_expect(eq(int, read_all(s, from, 200), n));
    ft_spool_close(s);
    s = open_spool(&opt);
    cr_expect(eq(int, read_all(s, from, 200), n), "recovery stops where the new records end");
    ft_spool_get_stats(s, &st);
    append_n(s, 200 + n, 1);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, read_all(s, from, 200), n + 1));
    ft_spool_close(s);
}

/* A spool written by an earlier flagtrail: format 1 segments, whose CRCs do not cover the
 * position, still read, recover and take new records. */
Test(spool, format_1_segment_reads_and_appends)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    fwrite("FTSPOOL1\0\0\0\0\0\0\0\0", 1, 16, f);
    for (int i = 0; i < 5; i++) {
        char text[32];
        int len = snprintf(text, sizeof(text), "rec-%d", i);
        unsigned char rh[8] = {(unsigned char)len, 0, 0, 0};
        uint32_t crc = ft_crc32c(ft_crc32c(0, rh, 4), text, (size_t)len);
        for (int k = 0; k < 4; k++)
            rh[4 + k] = (unsigned char)(crc >> (8 * k));
        fwrite(rh, 1, 8, f);
        fwrite(text, 1, (size_t)len, f);
    }
    fwrite("torn", 1, 4, f); /* and a torn tail */
    fclose(f);
    ft_spool *s = open_spool(NULL);
    cr_expect(eq(int, read_all(s, 0, 0), 5));
    append_n(s, 5, 3);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, read_all(s, 0, 0), 8));
    ft_spool_close(s);
    s = open_spool(NULL);
    cr_expect(eq(int, read_all(s, 0, 0), 8), "and after a reopen");
    ft_spool_close(s);
}

Test(spool, corrupt_record_in_an_old_segment_is_skipped)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE, .segment_bytes = 128};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 20);
    ft_spool_close(s);
    /* flip a payload byte in the first segment */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    int fd = open(path, O_RDWR);
    cr_assert(fd >= 0);
    char c;
    cr_assert(pread(fd, &c, 1, 16 + 8) == 1);
    c ^= 0x20;
    cr_assert(pwrite(fd, &c, 1, 16 + 8) == 1);
    close(fd);
    s = open_spool(&opt);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_ECORRUPT));
    int n = 0;
    while (ft_spool_next(r, &rec) == FT_OK)
        n++;
    cr_expect(gt(int, n, 10), "the other segments still read");
    cr_expect(lt(int, n, 20));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

/* --- limits --- */

Test(spool, backlog_bound_refuses_until_released)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE, .max_backlog = 200};
    ft_spool *s = open_spool(&opt);
    int ok = 0, rc;
    while ((rc = append_str(s, "rec-x0123456789", NULL)) == FT_OK)
        ok++;
    cr_expect(eq(int, rc, FT_ENOSPC));
    cr_expect(gt(int, ok, 3));
    struct ft_spool_stats st;
    ft_spool_get_stats(s, &st);
    ft_spool_release(s, st.write_lsn);
    cr_expect(eq(int, append_str(s, "rec-x0123456789", NULL), FT_OK));
    ft_spool_close(s);
}

Test(spool, oversized_record_is_refused)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_NONE, .max_record = 8};
    ft_spool *s = open_spool(&opt);
    cr_expect(eq(int, append_str(s, "123456789", NULL), FT_ETOOBIG));
    cr_expect(eq(int, append_str(s, "12345678", NULL), FT_OK));
    ft_spool_close(s);
}

/* max_record caps appends only: a spool written with a larger cap (a receiver restarted with
 * a smaller --max-body, replay with the default) keeps and reads every record. */
Test(spool, a_smaller_max_record_on_open_keeps_larger_records)
{
    enum { BIG = 100000 };
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC, .max_record = 1 << 20};
    ft_spool *s = open_spool(&opt);
    char *big = malloc(BIG);
    cr_assert(big != NULL);
    memset(big, 'b', BIG);
    struct iovec iov = {big, BIG};
    uint64_t lsn;
    bool durable;
    append_n(s, 0, 1);
    cr_assert(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_OK));
    append_n(s, 1, 1);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    ft_spool_close(s);
    opt.max_record = 8;
    s = open_spool(&opt);
    ft_spool_reader *r;
    cr_assert(eq(int, ft_spool_reader_open(s, 0, &r), FT_OK));
    struct ft_spool_record rec;
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_OK));
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_OK));
    cr_expect(eq(sz, rec.len, BIG));
    cr_expect(rec.len == BIG && memcmp(rec.data, big, BIG) == 0);
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_OK));
    cr_expect(eq(sz, rec.len, 5));
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_ENOENT));
    ft_spool_reader_close(r);
    cr_expect(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_ETOOBIG));
    ft_spool_close(s);
    free(big);
}

Test(spool, full_disk_fails_cleanly_and_recovers)
{
    struct ft_spool_options opt = {.durability = FT_SPOOL_FSYNC};
    ft_spool *s = open_spool(&opt);
    append_n(s, 0, 10);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    struct rlimit old;
    limit_file_size(&old, 16 + 10 * (8 + 5) + 30); /* room for a record or two more */
    char big[64];
    memset(big, 'z', sizeof(big));
    struct iovec iov = {big, sizeof(big)};
    uint64_t lsn;
    bool durable;
    cr_expect(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_ENOSPC));
    append_n(s, 10, 1); /* a small record still fits */
    cr_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    cr_expect(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_OK));
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    ft_spool_close(s);
    /* nothing corrupt: the 11 small records and the big one read back */
    s = open_spool(&opt);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    int n = 0, rc;
    while ((rc = ft_spool_next(r, &rec)) == FT_OK)
        n++;
    cr_expect(eq(int, rc, FT_ENOENT));
    cr_expect(eq(int, n, 12));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

Test(spool, full_disk_fails_a_waiting_group_then_resumes)
{
    ft_spool *s = open_spool(NULL);
    append_n(s, 0, 10);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    struct rlimit old;
    limit_file_size(&old, 16 + 10 * (8 + 5) + 30); /* room for a small record, not a big one */
    char big[65];
    memset(big, 'z', 64);
    big[64] = '\0';
    atomic_int st_big, st_small;
    /* a waiting writer's record waits for its group: the failure comes through the callback */
    cr_assert(eq(int, append_waiting(s, big, &st_big), FT_OK));
    ft_spool_sync(s); /* FT_EIO, or FT_OK when the failed group was discarded before it */
    cr_expect(eq(int, wait_status(&st_big), FT_ENOSPC));
    cr_assert(eq(int, append_waiting(s, "small", &st_small), FT_OK));
    cr_expect(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, atomic_load(&st_small), FT_OK));
    cr_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    cr_assert(eq(int, append_waiting(s, big, &st_big), FT_OK));
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, atomic_load(&st_big), FT_OK));
    ft_spool_close(s);
    /* nothing corrupt: the 10 records, the small one and the big one read back, in order */
    s = open_spool(NULL);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    int n = 0, rc;
    size_t last = 0;
    while ((rc = ft_spool_next(r, &rec)) == FT_OK) {
        n++;
        last = rec.len;
    }
    cr_expect(eq(int, rc, FT_ENOENT));
    cr_expect(eq(int, n, 12));
    cr_expect(eq(int, (int)last, 64));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

/* A group that cannot be written takes nothing else with it: a record written directly before
 * it stays, is synced, and reads back. */
Test(spool, a_failed_group_write_cuts_that_group_alone)
{
    ft_spool *s = open_spool(NULL);
    append_n(s, 0, 10);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    struct rlimit old;
    limit_file_size(&old, 16 + 10 * (8 + 5) + 8 + 6 + 20); /* room for "rec-10", not the group */
    append_n(s, 10, 1); /* fire and forget: written at once */
    char big[65];
    memset(big, 'z', 64);
    big[64] = '\0';
    atomic_int st;
    cr_assert(eq(int, append_waiting(s, big, &st), FT_OK));
    ft_spool_sync(s);
    cr_expect(eq(int, wait_status(&st), FT_ENOSPC));
    cr_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    cr_expect(eq(int, ft_spool_sync(s), FT_OK), "what stayed gets synced");
    struct ft_spool_stats stats;
    ft_spool_get_stats(s, &stats);
    cr_expect(eq(u64, stats.durable_lsn, stats.write_lsn));
    cr_expect(eq(int, read_all(s, 0, 0), 11));
    append_n(s, 11, 1);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    ft_spool_close(s);
    s = open_spool(NULL);
    cr_expect(eq(int, read_all(s, 0, 0), 12), "rec-10 survived the failed group");
    ft_spool_close(s);
}

Test(spool, a_sealed_spool_refuses_appends)
{
    ft_spool *s = open_spool(NULL);
    append_n(s, 0, 2);
    ft_spool_seal(s);
    cr_expect(eq(int, append_str(s, "late", NULL), FT_ECLOSED));
    cr_expect(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(eq(int, read_all(s, 0, 0), 2));
    ft_spool_close(s);
}

Test(spool, a_second_opener_is_refused)
{
    ft_spool *s = open_spool(NULL), *t = NULL;
    char err[256];
    cr_expect(eq(int, ft_spool_open(dir, NULL, &t, err, sizeof(err)), FT_EBUSY));
    cr_expect(strstr(err, "in use by another process") != NULL, "%s", err);
    ft_spool_close(s);
    t = open_spool(NULL);
    ft_spool_close(t);
}

Test(spool, reader_wait_times_out_then_sees_new_records)
{
    ft_spool *s = open_spool(NULL);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    struct ft_spool_record rec;
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_ENOENT));
    cr_expect_not(ft_spool_reader_wait(r, 20000));
    append_n(s, 0, 1);
    cr_expect(ft_spool_reader_wait(r, 5000000));
    cr_expect(eq(int, ft_spool_next(r, &rec), FT_OK));
    ft_spool_reader_close(r);
    ft_spool_close(s);
}

Test(spool, unwritable_directory_is_an_error)
{
    ft_spool *s = NULL;
    char err[256];
    cr_expect(eq(int, ft_spool_open("/proc/ft-no-such/spool", NULL, &s, err, sizeof(err)), FT_EIO));
    cr_expect(strstr(err, "cannot create spool") != NULL, "%s", err);
}

static long dir_bytes(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long total = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".seg")) continue;
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0) total += st.st_size;
    }
    closedir(d);
    return total;
}

Test(spool, caught_up_consumer_returns_the_space_of_the_active_segment)
{
    ft_spool *s = open_spool(NULL);
    char chunk[4096];
    memset(chunk, 'q', sizeof(chunk));
    for (int i = 0; i < 400; i++) { /* 1.6 MB in one segment */
        struct iovec iov = {chunk, sizeof(chunk)};
        uint64_t lsn;
        bool durable;
        cr_assert(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_OK));
    }
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    cr_expect(gt(long, dir_bytes(), 1500000));
    struct ft_spool_stats st;
    ft_spool_get_stats(s, &st);
    cr_assert(eq(int, ft_spool_release(s, st.write_lsn), FT_OK));
    cr_expect(lt(long, dir_bytes(), 1024), "the released segment is gone");
    cr_expect(eq(int, count_segments(), 1));
    append_n(s, 0, 3);
    cr_assert(eq(int, ft_spool_sync(s), FT_OK));
    ft_spool_get_stats(s, &st);
    cr_expect(eq(int, read_all(s, st.released_lsn, 0), 3), "new records follow the swap");
    ft_spool_close(s);
}
