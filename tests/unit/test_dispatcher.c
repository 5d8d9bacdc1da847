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
#include <stdio.h>
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
}

TestSuite(dispatcher, .init = make_dir, .fini = remove_dir);

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
    const char *bad[] = {"nans", "infs", "-1s", "1e13s", "527041m", "2562047000h", "8785h", "5s,", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(ft_dispatch_parse_schedule(bad[i], out, 4, &n) == false, "%s", bad[i]);
    cr_expect(ft_dispatch_parse_schedule("100ms,1.5s,2m,8784h", out, 4, &n));
    cr_expect_eq(n, 4);
    cr_expect_eq(out[0], 100000);
    cr_expect_eq(out[1], 1500000);
    cr_expect_eq(out[2], 120000000);
    cr_expect_eq(out[3], FT_DISPATCH_DURATION_MAX_US);
}
