/*
 * Unit tests of the dispatcher's depth (src/serve/dispatcher.c): when it holds all it may, the
 * webhooks waiting unread after them are counted, across segments and as more arrive, and the
 * count goes back to zero as they are read. The endpoint is a closed loopback port, so every
 * attempt fails at once.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "helpers.h"
#include "serve/dispatcher.h"
#include "serve/outbox.h"
#include "spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

static char dir[64];
static char checkpoint[96];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ft-dispatch-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(checkpoint, sizeof(checkpoint), "%s.checkpoint", dir);
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    unlink(checkpoint);
    char aside[96];
    snprintf(aside, sizeof(aside), "%s.aside", dir);
    unlink(aside); /* a segment a failed test left aside */
}

TestSuite(dispatcher, .init = make_dir, .fini = remove_dir);

/* Where a segment made unreadable waits: beside the spool, which remove_dir empties. */
static const char *aside_path(void)
{
    static char path[96];
    snprintf(path, sizeof(path), "%s.aside", dir);
    return path;
}

static ft_spool *open_outbox(void)
{
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE, .segment_bytes = 16 << 10};
    ft_spool *s;
    char err[256];
    cr_assert_eq(ft_spool_open(dir, &so, &s, err, sizeof(err)), FT_OK, "%s", err);
    return s;
}

/* Appends `n` webhooks for a port nothing listens on. */
static void append(ft_spool *s, int n)
{
    static const char body[] = "{\"flags\": [], \"identity\": \"u\", \"segments\": [], "
                               "\"traits\": []}";
    for (int i = 0; i < n; i++) {
        char id[FT_OUTBOX_ID_SIZE];
        ft_outbox_new_id(id);
        struct ft_outbox_record r = {.type = FT_OUTBOX_WEBHOOK,
                                     .created_at = ft_clock_now_us(),
                                     .id = ft_str_c(id),
                                     .url = FT_STR("http://127.0.0.1:1/webhook"),
                                     .environment = FT_STR("env")};
        unsigned char head[512];
        size_t hlen = ft_outbox_header(head, &r);
        struct iovec iov[2] = {{head, hlen}, {(void *)body, sizeof(body) - 1}};
        uint64_t lsn;
        bool durable;
        cr_assert_eq(ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable), FT_OK);
    }
}

/* Waits up to 10 s for the stats to show `pending` held, `unread` after them and `dead` given
 * up on (without a dead-letter spool, each is counted as a dead letter lost). */
static bool wait_depth(ft_dispatcher *d, size_t pending, size_t unread, uint64_t dead)
{
    struct ft_dispatcher_stats st = {0};
    for (int i = 0; i < 1000; i++) {
        ft_dispatcher_get_stats(d, &st);
        if (st.pending == pending && st.unread == unread && st.dead + st.dead_lost == dead)
            return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_log_error("pending %zu unread %zu dead %llu", st.pending, st.unread,
                 (unsigned long long)(st.dead + st.dead_lost));
    return false;
}

static ft_dispatcher *start(ft_spool *outbox, int64_t max_age_us)
{
    static const int64_t hour[] = {3600LL * 1000000};
    struct ft_dispatcher_options o = {.checkpoint_path = checkpoint,
                                      .schedule_us = hour,
                                      .nschedule = 1,
                                      .max_age_us = max_age_us,
                                      .timeout_ms = 2000,
                                      .max_pending = 50};
    ft_dispatcher *d;
    char err[256];
    cr_assert_eq(ft_dispatcher_new(outbox, &o, &d, err, sizeof(err)), FT_OK, "%s", err);
    cr_assert_eq(ft_dispatcher_start(d), FT_OK);
    return d;
}

Test(dispatcher, a_full_dispatcher_counts_what_waits_unread)
{
    ft_spool *s = open_outbox();
    append(s, 300);
    ft_dispatcher *d = start(s, 0);
    cr_expect(wait_depth(d, 50, 250, 0), "the 250 it cannot hold are counted");
    append(s, 120);
    cr_expect(wait_depth(d, 50, 370, 0), "and those that arrive later");
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    ft_dispatcher_free(d);
    ft_spool_close(s);
}

Test(dispatcher, the_count_falls_to_zero_as_room_returns)
{
    ft_spool *s = open_outbox();
    append(s, 300);
    /* every webhook is too old for a retry: its first failure makes it dead, freeing room */
    ft_dispatcher *d = start(s, 1);
    cr_expect(wait_depth(d, 0, 0, 300), "all read, none counted twice, none left");
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    ft_dispatcher_free(d);
    ft_spool_close(s);
}

/* A checkpoint file that is not a position in the outbox (damaged: not a number, or past its
 * end) is read as 0: every webhook is sent again, none is released unsent. */
Test(dispatcher, a_damaged_checkpoint_sends_the_outbox_again)
{
    const char *damaged[] = {"-1\n", "99999999999999999999\n", "12abc\n", "", "999999999\n"};
    for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
        ft_spool *s = open_outbox();
        if (i == 0) append(s, 30);
        write_file(checkpoint, damaged[i], strlen(damaged[i]));
        ft_dispatcher *d = start(s, 0);
        struct ft_dispatcher_stats st;
        ft_dispatcher_get_stats(d, &st);
        cr_expect_eq(st.checkpoint, 0, "checkpoint \"%s\" is read as 0", damaged[i]);
        cr_expect(wait_depth(d, 30, 0, 0), "all 30 webhooks are held, for \"%s\"", damaged[i]);
        ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
        ft_dispatcher_free(d);
        ft_spool_close(s);
    }
}

Test(dispatcher, schedules_refuse_what_no_clock_holds)
{
    int64_t out[4];
    size_t n;
    const char *bad[] = {"nans", "infs", "-1s", "1e13s", "527041m", "2562047000h", "8785h", "5s,", "",
                         "0s", "0", "1s,0ms", "0.0001s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(ft_dispatch_parse_schedule(bad[i], out, 4, &n) == false, "%s", bad[i]);
    cr_expect(ft_dispatch_parse_schedule("100ms,1.5s,2m,8784h", out, 4, &n));
    cr_expect_eq(n, 4);
    cr_expect_eq(out[0], 100000);
    cr_expect_eq(out[1], 1500000);
    cr_expect_eq(out[2], 120000000);
    cr_expect_eq(out[3], FT_DISPATCH_DURATION_MAX_US);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t dead_now(ft_dispatcher *d, uint64_t *read_errors)
{
    struct ft_dispatcher_stats st;
    ft_dispatcher_get_stats(d, &st);
    if (read_errors) *read_errors = st.read_errors;
    return st.dead + st.dead_lost;
}

/* A segment that cannot be read (here a directory where the file was: it opens, and every
 * read fails) stops reading at its first record: nothing after it is skipped or lost, the
 * dispatcher waits between tries instead of spinning, stops when told, and goes on once the
 * segment can be read again. */
Test(dispatcher, an_unreadable_segment_is_waited_for_not_skipped_or_spun_on)
{
    ft_spool *s = open_outbox();
    append(s, 300);
    struct broken_segment b;
    break_segment(dir, 1, aside_path(), &b); /* the second: the first is read */

    ft_dispatcher *d = start(s, 1); /* every first failure is final: reading goes on */
    uint64_t before = 0, errors = 0;
    for (int i = 0; i < 300; i++) { /* the first segment's webhooks, then a plateau */
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        uint64_t now = dead_now(d, &errors);
        if (now == before && errors > 0) break;
        before = now;
    }
    cr_expect(before > 0 && before < 300, "stopped at the unreadable segment (%llu read)",
              (unsigned long long)before);
    double cpu = cpu_seconds();
    struct timespec pause = {1, 500 * 1000000};
    nanosleep(&pause, NULL);
    cpu = cpu_seconds() - cpu;
    uint64_t after = dead_now(d, &errors);
    cr_expect_eq(after, before, "nothing after it was skipped");
    cr_expect(errors >= 2 && errors <= 12, "tried again after pauses, not spun (%llu tries)",
              (unsigned long long)errors);
    cr_expect(cpu < 0.5, "%.3f s of CPU in 1.5 s", cpu);

    mend_segment(&b);
    cr_expect(wait_depth(d, 0, 0, 300), "every webhook read once the segment is back");
    int64_t t0 = ft_clock_mono_ns();
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    cr_expect(ft_clock_mono_ns() - t0 < 3000000000LL, "stops at once");
    ft_dispatcher_free(d);
    ft_spool_close(s);
}

/* While the segment is unreadable, a stop still stops. */
Test(dispatcher, a_stop_while_the_outbox_is_unreadable_returns)
{
    ft_spool *s = open_outbox();
    append(s, 300);
    struct broken_segment b;
    break_segment(dir, 0, aside_path(), &b);
    ft_dispatcher *d = start(s, 1);
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    int64_t t0 = ft_clock_mono_ns();
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    cr_expect(ft_clock_mono_ns() - t0 < 3000000000LL, "stopped within its deadline");
    ft_dispatcher_free(d);
    ft_spool_close(s);
    mend_segment(&b);
}

/* Outbox records (src/serve/outbox.c): each type round-trips, a retry keeps its due time, and
 * every cut inside a header is refused without reading past it. */
Test(outbox, records_round_trip_and_cuts_are_refused)
{
    const unsigned types[] = {FT_OUTBOX_WEBHOOK, FT_OUTBOX_RETRY, FT_OUTBOX_DEAD};
    for (size_t t = 0; t < 3; t++) {
        struct ft_outbox_record in = {.type = types[t],
                                      .attempts = 7,
                                      .created_at = -3,
                                      .due_at = INT64_MAX - 5,
                                      .id = FT_STR("msg_x"),
                                      .url = FT_STR("https://example.com/hook"),
                                      .environment = FT_STR("env"),
                                      .reason = ft_str_c(types[t] == FT_OUTBOX_DEAD ? "HTTP 400" : "")};
        unsigned char buf[256];
        size_t n = ft_outbox_header(buf, &in);
        cr_assert_eq(n, ft_outbox_header_size(&in));
        memcpy(buf + n, "{}", 2);
        struct ft_outbox_record out;
        cr_assert_eq(ft_outbox_decode(buf, n + 2, &out), FT_OK);
        cr_expect_eq(out.type, types[t]);
        cr_expect_eq(out.attempts, 7);
        cr_expect_eq(out.created_at, -3);
        cr_expect_eq(out.due_at, types[t] == FT_OUTBOX_RETRY ? INT64_MAX - 5 : 0);
        cr_expect(ft_str_eq(out.url, in.url) && ft_str_eq(out.id, in.id));
        cr_expect(ft_str_eq(out.reason, in.reason) && ft_str_eq(out.body, FT_STR("{}")));
        for (size_t cut = 0; cut < n; cut++)
            cr_expect_eq(ft_outbox_decode(buf, cut, &out), FT_ECORRUPT, "cut at %zu", cut);
    }
    unsigned char other[20] = {9};
    struct ft_outbox_record out;
    cr_expect_eq(ft_outbox_decode(other, sizeof(other), &out), FT_ECORRUPT, "unknown type");
}

/* --- a failed sync under a moved webhook --- */

/* fdatasync, failing the next `fail_syncs` calls on spool segments (this definition takes
 * the place of libc's for the statically linked library; other files sync as usual). */
static atomic_int fail_syncs;

static bool is_segment(int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 4) return false;
    path[n] = '\0';
    return strcmp(path + n - 4, ".seg") == 0;
}

int fdatasync(int fd)
{
    if (atomic_load(&fail_syncs) > 0 && is_segment(fd)) {
        atomic_fetch_sub(&fail_syncs, 1);
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* Appends one webhook for a closed port, created `age_s` seconds ago, with a body of 1 KiB. */
static void append_aged(ft_spool *s, const char *identity, int64_t age_s)
{
    char body[1100];
    int n = snprintf(body, sizeof(body), "{\"identity\": \"%s\", \"pad\": \"%01000d\"}", identity, 0);
    char id[FT_OUTBOX_ID_SIZE];
    ft_outbox_new_id(id);
    struct ft_outbox_record r = {.type = FT_OUTBOX_WEBHOOK,
                                 .created_at = ft_clock_now_us() - age_s * 1000000,
                                 .id = ft_str_c(id),
                                 .url = FT_STR("http://127.0.0.1:1/webhook"),
                                 .environment = FT_STR("env")};
    unsigned char head[512];
    size_t hlen = ft_outbox_header(head, &r);
    struct iovec iov[2] = {{head, hlen}, {body, (size_t)n}};
    uint64_t lsn;
    bool durable;
    cr_assert_eq(ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable), FT_OK);
    cr_assert_eq(ft_spool_sync(s), FT_OK);
}

static bool wait_stats(ft_dispatcher *d, bool (*done)(const struct ft_dispatcher_stats *))
{
    struct ft_dispatcher_stats st;
    for (int i = 0; i < 1000; i++) {
        ft_dispatcher_get_stats(d, &st);
        if (done(&st)) return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_log_error("pending %zu retried %llu rotated %llu dead %llu", st.pending,
                 (unsigned long long)st.retried, (unsigned long long)st.rotated,
                 (unsigned long long)(st.dead + st.dead_lost));
    return false;
}

static bool one_retried(const struct ft_dispatcher_stats *st)
{
    return st->retried == 1;
}

static bool moved_and_read_back(const struct ft_dispatcher_stats *st)
{
    return st->dead + st->dead_lost == 40 && st->rotated >= 1 && st->pending == 1 &&
           st->unread == 0;
}

static bool one_held(const struct ft_dispatcher_stats *st)
{
    return st->pending == 1;
}

static ft_dispatcher *start_waiting(ft_spool *outbox)
{
    static const int64_t half_hour[] = {1800LL * 1000000};
    struct ft_dispatcher_options o = {.checkpoint_path = checkpoint,
                                      .schedule_us = half_hour,
                                      .nschedule = 1,
                                      .max_age_us = 3600LL * 1000000,
                                      .timeout_ms = 2000};
    ft_dispatcher *d;
    char err[256];
    cr_assert_eq(ft_dispatcher_new(outbox, &o, &d, err, sizeof(err)), FT_OK, "%s", err);
    cr_assert_eq(ft_dispatcher_start(d), FT_OK);
    return d;
}

/* A webhook waiting for its retry (due in half an hour) is moved to the outbox's tail once
 * forty finished webhooks (too old to retry: dead at their first failure) wait behind it. The
 * first sync after the move fails and cuts the copy: the original must not have been let go,
 * so it waits again and is moved again; after a restart it is there, once. */
Test(dispatcher, a_moved_webhook_whose_copy_a_failed_sync_cut_is_not_lost, .timeout = 60)
{
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC,
                                  .segment_bytes = 1 << 20,
                                  .max_backlog = 256 << 10,
                                  .sync_interval_us = 200000};
    ft_spool *s;
    char err[256];
    cr_assert_eq(ft_spool_open(dir, &so, &s, err, sizeof(err)), FT_OK, "%s", err);
    append_aged(s, "poison", 0);
    for (int i = 0; i < 40; i++)
        append_aged(s, "old", 7200);
    atomic_store(&fail_syncs, 1); /* the outbox's next sync: the one after the move */
    ft_dispatcher *d = start_waiting(s);
    cr_assert(wait_stats(d, one_retried), "the first webhook waits for its retry");
    cr_assert(wait_stats(d, moved_and_read_back), "moved, and its copy read back");
    cr_expect_eq(atomic_load(&fail_syncs), 0, "the sync after the first move failed");
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    ft_dispatcher_free(d);
    d = start_waiting(s);
    cr_expect(wait_stats(d, one_held), "after a restart the webhook is there, once");
    ft_dispatcher_stop(d, ft_clock_mono_ns() / 1000 + 1000000);
    ft_dispatcher_free(d);
    ft_spool_close(s);
}

/* A drain (replay) that meets a segment it cannot read ends there with FT_EIO instead of
 * waiting for it forever; what follows stays. */
Test(dispatcher, a_drain_stops_at_an_unreadable_segment, .timeout = 30)
{
    ft_spool *s = open_outbox();
    append(s, 300);
    struct broken_segment b;
    break_segment(dir, 1, aside_path(), &b); /* the second: the first is read */
    struct ft_dispatcher_options o = {.checkpoint_path = checkpoint, .max_age_us = 1, .drain = true};
    ft_dispatcher *d;
    char err[256];
    cr_assert_eq(ft_dispatcher_new(s, &o, &d, err, sizeof(err)), FT_OK, "%s", err);
    cr_expect_eq(ft_dispatcher_run(d), FT_EIO);
    struct ft_dispatcher_stats st;
    ft_dispatcher_get_stats(d, &st);
    cr_expect(st.dead + st.dead_lost > 0 && st.dead + st.dead_lost < 300, "%llu tried",
              (unsigned long long)(st.dead + st.dead_lost));
    ft_dispatcher_free(d);
    ft_spool_close(s);
    mend_segment(&b);
}
