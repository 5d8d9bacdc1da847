/*
 * Unit tests of the receiver's spool records (src/receive/record.c) and of the loader
 * (src/receive/loader.c) over a real spool and SQLite store.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "base/clock.h"
#include "flagtrail/error.h"
#include "receive/loader.h"
#include "receive/record.h"
#include "store/model.h"
#include "helpers.h"

#include <dirent.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- records --- */

Test(record, round_trip_with_and_without_the_optional_parts)
{
    struct ft_record in = {.type = FT_RECORD_WEBHOOK, .received_at = -5};
    for (int variant = 0; variant < 4; variant++) {
        in.delivery_id = variant & 1 ? FT_STR("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W") : (struct ft_str){0};
        in.has_summary = variant & 2;
        in.sets[0] = INT64_MIN, in.sets[1] = -1, in.sets[2] = INT64_MAX;
        in.environment = (struct ft_nint){.null = false, .value = 12561};
        in.identity = FT_STR("us\xc3\xa9r");
        unsigned char buf[512];
        size_t n = ft_record_header(buf, &in);
        cr_assert(eq(sz, n, ft_record_header_size(&in)));
        memcpy(buf + n, "{body}", 6);
        struct ft_record out;
        cr_assert(eq(int, ft_record_decode(buf, n + 6, &out), FT_OK));
        cr_expect(eq(u32, out.type, FT_RECORD_WEBHOOK));
        cr_expect(eq(i64, out.received_at, -5));
        cr_expect(ft_str_eq(out.body, FT_STR("{body}")));
        cr_expect(eq(int, out.delivery_id.ptr != NULL, variant & 1));
        if (variant & 1) cr_expect(ft_str_eq(out.delivery_id, in.delivery_id));
        cr_expect(eq(int, out.has_summary, (variant & 2) != 0));
        if (variant & 2) {
            cr_expect(eq(i64, out.sets[0], INT64_MIN));
            cr_expect(eq(i64, out.sets[2], INT64_MAX));
            cr_expect(eq(i64, out.environment.value, 12561));
            cr_expect(ft_str_eq(out.identity, in.identity));
        }
        /* every cut inside the header is refused, none crashes */
        for (size_t cut = 0; cut < n; cut++) {
            int rc = ft_record_decode(buf, cut, &out);
            if (rc == FT_OK) cr_expect(le(sz, out.body.len, cut));
        }
        cr_expect(eq(int, ft_record_decode(buf, 9, &out), FT_ECORRUPT));
    }
}

/* --- the loader --- */

static char dir[64], spool_dir[96], db[96], url[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ft-loader-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
    snprintf(db, sizeof(db), "%s/w.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", db);
}

static void teardown(void)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect(system(cmd) == 0);
}

TestSuite(loader, .init = setup, .fini = teardown);

static const char *body_fmt =
    "{\"flags\": [{\"enabled\": true, \"environment\": 3, \"feature\": {\"created_date\": \"d\", "
    "\"default_enabled\": true, \"description\": null, \"id\": 1, \"initial_value\": null, "
    "\"name\": \"f\", \"type\": \"STANDARD\"}, \"feature_segment\": null, "
    "\"feature_state_value\": %d, \"id\": 2, \"identity\": null}], \"identity\": \"%s\", "
    "\"segments\": [], \"traits\": []}";

/* Appends a webhook record; with `summary` as the endpoint writes it. */
static void append(ft_spool *s, const char *identity, int value, bool summary)
{
    char body[1024];
    int n = snprintf(body, sizeof(body), body_fmt, value, identity);
    struct ft_record rec = {.type = FT_RECORD_WEBHOOK, .received_at = ft_clock_now_us()};
    if (summary) {
        ft_json_doc *doc = ft_json_doc_new(NULL);
        struct ft_arena a;
        ft_arena_init(&a, 0);
        struct ft_payload p;
        cr_assert(eq(int, ft_payload_parse(doc, body, (size_t)n, &a, &p, NULL), FT_OK));
        struct ft_model m;
        ft_model_init(&m);
        ft_model_canonicalize(&m, &p, &rec.sets[0], &rec.sets[1], &rec.sets[2]);
        ft_model_free(&m);
        rec.has_summary = true;
        rec.environment = (struct ft_nint){false, 3};
        rec.identity = ft_str_c(identity);
        unsigned char head[512];
        size_t hlen = ft_record_header(head, &rec);
        struct iovec iov[2] = {{head, hlen}, {body, (size_t)n}};
        uint64_t lsn;
        bool durable;
        cr_assert(eq(int, ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable), FT_OK));
        ft_arena_free(&a);
        ft_json_doc_free(doc);
        return;
    }
    unsigned char head[64];
    size_t hlen = ft_record_header(head, &rec);
    struct iovec iov[2] = {{head, hlen}, {body, (size_t)n}};
    uint64_t lsn;
    bool durable;
    cr_assert(eq(int, ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable), FT_OK));
}

static void append_raw(ft_spool *s, const void *data, size_t len)
{
    struct iovec iov = {(void *)data, len};
    uint64_t lsn;
    bool durable;
    cr_assert(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_OK));
}

static long long scalar(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    cr_assert(sqlite3_open(db, &h) == SQLITE_OK);
    cr_assert(sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert(sqlite3_step(q) == SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    return v;
}

static ft_spool *open_spool(void)
{
    ft_spool *s;
    char err[256];
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE};
    cr_assert(eq(int, ft_spool_open(spool_dir, &so, &s, err, sizeof(err)), FT_OK), "%s", err);
    return s;
}

static ft_loader *new_loader(ft_spool *s, ft_store *st, int attempts)
{
    ft_loader *l;
    char err[256];
    struct ft_loader_options lo = {.source = "t", .max_attempts = attempts, .batch_records = 7};
    cr_assert(eq(int, ft_loader_new(s, st, &lo, &l, err, sizeof(err)), FT_OK), "%s", err);
    return l;
}

static ft_store *open_store(void)
{
    ft_store *st;
    char err[256];
    cr_assert(eq(int, ft_store_open(url, &st, err, sizeof(err)), FT_OK), "%s", err);
    return st;
}

Test(loader, loads_records_with_and_without_summaries_exactly_once)
{
    ft_spool *s = open_spool();
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof(id), "u%d", i);
        append(s, id, i % 3, i % 2 == 0);
    }
    ft_store *st = open_store();
    ft_loader *l = new_loader(s, st, 1);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 20));
    cr_expect(ge(u64, ls.batches, 3), "batches of 7");
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 20));
    cr_expect(eq(i64, scalar("SELECT COUNT(DISTINCT flags_set) FROM ft_delivery"), 3));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_flag_set"), 3));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery WHERE environment_id = 3"), 20));
    /* again, and after a restart: the checkpoint stops a second load */
    l = new_loader(s, st, 1);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 0));
    ft_loader_free(l);
    append(s, "late", 9, true);
    l = new_loader(s, st, 1);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 21));
    ft_store_close(st);
    ft_spool_close(s);
}

/* Three records this version cannot read; their bytes, as spool_records gives them (each its
 * 32-bit length, then its bytes), go to `out`. Returns how many bytes. */
static size_t append_unreadable(ft_spool *s, unsigned char out[256])
{
    unsigned char head[64], body[64];
    struct ft_record rec = {.type = 9};
    size_t n = ft_record_header(head, &rec); /* an unknown type */
    rec.type = FT_RECORD_WEBHOOK;
    size_t m = ft_record_header(body, &rec);
    memcpy(body + m, "[]", 2); /* not a payload */
    const struct {
        const void *p;
        size_t len;
    } recs[] = {{"short", 5}, {head, n}, {body, m + 2}};
    size_t used = 0;
    for (size_t i = 0; i < 3; i++) {
        append_raw(s, recs[i].p, recs[i].len);
        uint32_t len = (uint32_t)recs[i].len;
        memcpy(out + used, &len, sizeof(len));
        memcpy(out + used + sizeof(len), recs[i].p, len);
        used += sizeof(len) + len;
    }
    return used;
}

Test(loader, unreadable_records_are_skipped_and_counted)
{
    ft_spool *s = open_spool();
    unsigned char bytes[256];
    append(s, "a", 1, false);
    append_unreadable(s, bytes);
    append(s, "b", 1, true);
    ft_store *st = open_store();
    ft_loader *l;
    char err[256];
    struct ft_loader_options lo = {.source = "t", .max_attempts = 1, .skip_unreadable = true};
    cr_assert(eq(int, ft_loader_new(s, st, &lo, &l, err, sizeof(err)), FT_OK), "%s", err);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 2));
    cr_expect(eq(u64, ls.rejected, 3));
    ft_loader_free(l);
    ft_store_close(st);
    ft_spool_close(s);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 2));
}

/* Without a quarantine or skip_unreadable, loading stops before a record it cannot read. */
Test(loader, unreadable_records_stop_loading_when_they_cannot_be_kept)
{
    ft_spool *s = open_spool();
    append(s, "a", 1, true);
    append(s, "b", 2, false);
    uint64_t lsn;
    bool durable;
    struct iovec iov = {"short", 5};
    cr_assert(eq(int, ft_spool_append(s, &iov, 1, NULL, NULL, &lsn, &durable), FT_OK));
    append(s, "c", 1, true);
    ft_store *st = open_store();
    for (int run = 0; run < 2; run++) { /* and again: it stays */
        ft_loader *l = new_loader(s, st, 1);
        cr_expect(eq(int, ft_loader_drain(l), FT_ECORRUPT));
        struct ft_loader_stats ls;
        ft_loader_get_stats(l, &ls);
        cr_expect(eq(u64, ls.checkpoint, lsn));
        cr_expect(eq(u64, ls.rejected, 0));
        char err[256];
        ft_loader_last_error(l, err, sizeof(err));
        cr_expect(strstr(err, "cannot read") != NULL, "%s", err);
        ft_loader_free(l);
    }
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 2));
    ft_store_close(st);
    ft_spool_close(s);
}

Test(loader, a_failing_store_keeps_the_checkpoint_and_the_spool)
{
    ft_spool *s = open_spool();
    append(s, "a", 1, true);
    ft_store *st = open_store();
    sqlite3 *h;
    cr_assert(sqlite3_open(db, &h) == SQLITE_OK);
    cr_assert(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
    ft_loader *l = new_loader(s, st, 2);
    cr_expect(eq(int, ft_loader_drain(l), FT_ESTORE));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.store_errors, 2));
    cr_expect_not(ls.store_ok);
    char err[256];
    ft_loader_last_error(l, err, sizeof(err));
    cr_expect(strstr(err, "locked") != NULL, "%s", err);
    ft_loader_free(l);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    l = new_loader(s, st, 2);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_free(l);
    ft_store_close(st);
    ft_spool_close(s);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 1));
}

Test(loader, the_thread_loads_while_records_arrive_and_drains_on_stop)
{
    ft_spool *s = open_spool();
    ft_store *st = open_store();
    ft_loader *l = new_loader(s, st, 0);
    cr_assert(eq(int, ft_loader_start(l), FT_OK));
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof(id), "t%d", i);
        append(s, id, i, true);
        if (i % 10 == 0) usleep(20000);
    }
    ft_loader_stop(l, ft_clock_mono_ns() / 1000 + 10000000);
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 50));
    ft_loader_free(l);
    ft_store_close(st);
    ft_spool_close(s);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 50));
}

static void exec_sql(const char *sql)
{
    sqlite3 *h;
    cr_assert(sqlite3_open(db, &h) == SQLITE_OK);
    cr_assert(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
}

/* Webhooks in batches of 64, every 37th refused by a trigger; each refused one brings a flag
 * set of its own that the webhook after it shares. */
Test(loader, refused_records_go_to_the_quarantine_and_loading_goes_on)
{
    enum { N = 300, EVERY = 37 };
    ft_spool *s = open_spool();
    ft_store *st = open_store();
    exec_sql("CREATE TRIGGER refuse BEFORE INSERT ON ft_delivery WHEN NEW.identity LIKE 'bad%'"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END");
    int refused = 0;
    for (int i = 0; i < N; i++) {
        char id[16];
        bool bad = i % EVERY == 5;
        snprintf(id, sizeof(id), "%s%d", bad ? "bad" : "ok", i);
        int value = bad || (i % EVERY == 6) ? 1000 + i / EVERY : i % 3;
        append(s, id, value, i % 2 == 0);
        refused += bad;
    }
    char qdir[128];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
    struct ft_loader_options lo = {
        .source = "t", .max_attempts = 1, .batch_records = 64, .quarantine_dir = qdir};
    ft_loader *l;
    char err[256];
    cr_assert(eq(int, ft_loader_new(s, st, &lo, &l, err, sizeof(err)), FT_OK), "%s", err);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    struct ft_spool_stats ss;
    ft_spool_get_stats(s, &ss);
    cr_expect(eq(u64, ls.quarantined, (uint64_t)refused));
    cr_expect(eq(u64, ls.deliveries, (uint64_t)(N - refused)));
    cr_expect(eq(u64, ls.checkpoint, ss.durable_lsn));
    cr_expect(eq(u64, ls.store_errors, 0));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), N - refused));
    /* the sets only refused records brought are there for the webhooks that share them */
    cr_expect(eq(i64,
                 scalar("SELECT COUNT(*) FROM ft_evaluations WHERE CAST(value AS INTEGER) >= 1000"),
                 refused));
    cr_expect(eq(i64, scalar("SELECT MAX(lsn) FROM ft_checkpoint"), (long long)ss.durable_lsn));

    /* the quarantine holds the refused records, byte for byte, in order */
    ft_spool *q;
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE};
    cr_assert(eq(int, ft_spool_open(qdir, &so, &q, err, sizeof(err)), FT_OK), "%s", err);
    ft_spool_reader *qr, *sr;
    ft_spool_reader_open(q, 0, &qr);
    ft_spool_reader_open(s, 0, &sr);
    struct ft_spool_record qrec, srec;
    int found = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(eq(int, ft_spool_next(sr, &srec), FT_OK));
        if (i % EVERY != 5) continue;
        cr_assert(eq(int, ft_spool_next(qr, &qrec), FT_OK), "record %d", i);
        cr_expect(eq(sz, qrec.len, srec.len));
        cr_expect(memcmp(qrec.data, srec.data, srec.len) == 0, "record %d", i);
        found++;
    }
    cr_expect(eq(int, ft_spool_next(qr, &qrec), FT_ENOENT));
    cr_expect(eq(int, found, refused));
    ft_spool_reader_close(qr);
    ft_spool_reader_close(sr);

    /* fixed: the quarantine loads as a spool of its own */
    exec_sql("DROP TRIGGER refuse");
    lo = (struct ft_loader_options){.source = "t/quarantine", .max_attempts = 1};
    cr_assert(eq(int, ft_loader_new(q, st, &lo, &l, err, sizeof(err)), FT_OK), "%s", err);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_free(l);
    cr_expect(
        eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery WHERE identity LIKE 'bad%'"), refused));
    ft_spool_close(q);
    ft_store_close(st);
    ft_spool_close(s);
}

/* Without a quarantine a refused batch is a failure like any other: retried, then given up. */
Test(loader, without_a_quarantine_a_refusal_is_retried)
{
    ft_spool *s = open_spool();
    ft_store *st = open_store();
    exec_sql("CREATE TRIGGER refuse BEFORE INSERT ON ft_delivery"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END");
    append(s, "a", 1, true);
    ft_loader *l = new_loader(s, st, 2);
    cr_expect(eq(int, ft_loader_drain(l), FT_ESTORE));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.store_errors, 2));
    cr_expect(eq(u64, ls.quarantined, 0));
    ft_loader_free(l);
    ft_store_close(st);
    ft_spool_close(s);
}

static void open_quarantine_loader(ft_spool *s, ft_store *st, const char *qdir, ft_loader **l)
{
    char err[256];
    struct ft_loader_options lo = {
        .source = "t", .max_attempts = 1, .batch_records = 7, .quarantine_dir = qdir};
    cr_assert(eq(int, ft_loader_new(s, st, &lo, l, err, sizeof(err)), FT_OK), "%s", err);
}

/* The records of the spool at `path`, in order, into `out`: each its 32-bit length, then its
 * bytes. */
static size_t spool_records(const char *path, unsigned char *out, size_t cap, int *count)
{
    ft_spool *q;
    char err[256];
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE};
    cr_assert(eq(int, ft_spool_open(path, &so, &q, err, sizeof(err)), FT_OK), "%s", err);
    ft_spool_reader *r;
    ft_spool_reader_open(q, 0, &r);
    struct ft_spool_record rec;
    size_t used = 0;
    *count = 0;
    while (ft_spool_next(r, &rec) == FT_OK) {
        uint32_t len = (uint32_t)rec.len;
        cr_assert(le(sz, used + sizeof(len) + len, cap));
        memcpy(out + used, &len, sizeof(len));
        memcpy(out + used + sizeof(len), rec.data, len);
        used += sizeof(len) + len;
        (*count)++;
    }
    ft_spool_reader_close(r);
    ft_spool_close(q);
    return used;
}

/* With a quarantine, records this version cannot read are kept there, not skipped. */
Test(loader, unreadable_records_go_to_the_quarantine_when_there_is_one)
{
    ft_spool *s = open_spool();
    unsigned char want[256], got[256];
    append(s, "a", 1, false);
    size_t wn = append_unreadable(s, want);
    append(s, "b", 1, true);
    ft_store *st = open_store();
    char qdir[128];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
    ft_loader *l;
    open_quarantine_loader(s, st, qdir, &l);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    struct ft_spool_stats ss;
    ft_spool_get_stats(s, &ss);
    cr_expect(eq(u64, ls.deliveries, 2));
    cr_expect(eq(u64, ls.rejected, 0));
    cr_expect(eq(u64, ls.quarantined, 3));
    cr_expect(eq(u64, ls.checkpoint, ss.durable_lsn));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 2));

    int count;
    size_t gn = spool_records(qdir, got, sizeof(got), &count);
    cr_expect(eq(int, count, 3));
    cr_assert(eq(sz, gn, wn));
    cr_expect(memcmp(got, want, wn) == 0, "the quarantine holds them byte for byte, in order");

    /* loading again passes nothing to the quarantine a second time */
    open_quarantine_loader(s, st, qdir, &l);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_free(l);
    spool_records(qdir, got, sizeof(got), &count);
    cr_expect(eq(int, count, 3));
    ft_store_close(st);
    ft_spool_close(s);
}

/*
 * Stopped after naming the record in `last-kept` and, when `appended`, after copying it, but
 * before the checkpoint passed it: loading again leaves exactly one copy in the quarantine, and
 * none in the warehouse, also when the record is a webhook the warehouse now takes (`webhook`;
 * else a record this version cannot read), and when it is the spool's first (`first`: the
 * checkpoint is then 0, the record's position 16).
 */
static void stopped_while_keeping(bool appended, bool webhook, bool first)
{
    ft_spool *s = open_spool();
    ft_store *st = open_store();
    ft_loader *l;
    if (!first) {
        append(s, "a", 1, true);
        l = new_loader(s, st, 1);
        cr_assert(eq(int, ft_loader_drain(l), FT_OK));
        ft_loader_free(l);
    }
    struct ft_spool_stats ss;
    ft_spool_get_stats(s, &ss);
    uint64_t lsn = ss.write_lsn;
    if (webhook) append(s, "kept", 2, true);
    else append_raw(s, "short", 5);
    append(s, "b", 1, true);
    unsigned char kept[1024];
    ft_spool_reader *sr;
    struct ft_spool_record rec;
    ft_spool_reader_open(s, lsn, &sr);
    cr_assert(eq(int, ft_spool_next(sr, &rec), FT_OK));
    cr_assert(eq(u64, rec.lsn, lsn));
    cr_assert(le(sz, rec.len, sizeof(kept)));
    size_t klen = rec.len;
    memcpy(kept, rec.data, klen);
    ft_spool_reader_close(sr);

    char qdir[128], marker[160], err[256];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
    snprintf(marker, sizeof(marker), "%s/last-kept", qdir);
    ft_spool *q;
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE};
    cr_assert(eq(int, ft_spool_open(qdir, &so, &q, err, sizeof(err)), FT_OK), "%s", err);
    struct ft_spool_stats qs;
    ft_spool_get_stats(q, &qs);
    FILE *f = fopen(marker, "w");
    cr_assert(f != NULL);
    fprintf(f, "%llu %llu\n", (unsigned long long)lsn, (unsigned long long)qs.durable_lsn);
    fclose(f);
    struct iovec iov = {kept, klen};
    uint64_t qlsn;
    bool durable;
    if (appended) cr_assert(eq(int, ft_spool_append(q, &iov, 1, NULL, NULL, &qlsn, &durable), 0));
    ft_spool_close(q);

    open_quarantine_loader(s, st, qdir, &l);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 1));
    cr_expect(eq(u64, ls.quarantined, 1));
    ft_loader_free(l);
    unsigned char got[1100];
    int count;
    size_t gn = spool_records(qdir, got, sizeof(got), &count);
    cr_expect(eq(int, count, 1));
    cr_expect(eq(sz, gn, sizeof(uint32_t) + klen));
    cr_expect(memcmp(got + sizeof(uint32_t), kept, klen) == 0);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), first ? 1 : 2));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery WHERE identity = 'kept'"), 0));
    ft_store_close(st);
    ft_spool_close(s);
}

Test(loader, a_record_kept_but_not_passed_is_not_kept_twice)
{
    stopped_while_keeping(true, false, false);
}

Test(loader, a_record_named_but_not_kept_is_kept_once)
{
    stopped_while_keeping(false, false, false);
}

Test(loader, a_webhook_kept_but_not_passed_is_not_also_loaded)
{
    stopped_while_keeping(true, true, false);
}

Test(loader, a_webhook_named_but_not_kept_is_kept_not_loaded)
{
    stopped_while_keeping(false, true, false);
}

Test(loader, the_first_webhook_of_a_spool_kept_but_not_passed_is_not_also_loaded)
{
    stopped_while_keeping(true, true, true);
}

/* A refused record and an unreadable one in the same batch: both quarantined, in order, and
 * every other record loaded once. */
Test(loader, a_refused_and_an_unreadable_record_in_one_batch)
{
    ft_spool *s = open_spool();
    ft_store *st = open_store();
    exec_sql("CREATE TRIGGER refuse BEFORE INSERT ON ft_delivery WHEN NEW.identity LIKE 'bad%'"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END");
    append(s, "ok0", 1, true);
    append(s, "bad1", 1001, true);
    append(s, "ok2", 1001, true); /* shares the set only the refused record brought */
    append(s, "ok3", 2, false);
    append_raw(s, "short", 5);
    append(s, "ok5", 3, true);
    append(s, "ok6", 1001, false);
    char qdir[128];
    snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
    ft_loader *l;
    char err[256];
    struct ft_loader_options lo = {
        .source = "t", .max_attempts = 1, .batch_records = 64, .quarantine_dir = qdir};
    cr_assert(eq(int, ft_loader_new(s, st, &lo, &l, err, sizeof(err)), FT_OK), "%s", err);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    struct ft_spool_stats ss;
    ft_spool_get_stats(s, &ss);
    cr_expect(eq(u64, ls.deliveries, 5));
    cr_expect(eq(u64, ls.quarantined, 2));
    cr_expect(eq(u64, ls.checkpoint, ss.durable_lsn));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 5));
    cr_expect(eq(i64, scalar("SELECT COUNT(DISTINCT identity) FROM ft_delivery"), 5));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery d JOIN ft_flag_set f"
                             " ON f.set_id = d.flags_set"),
                 5));
    unsigned char got[2048];
    int count;
    spool_records(qdir, got, sizeof(got), &count);
    cr_expect(eq(int, count, 2));
    uint32_t second;
    memcpy(&second, got, sizeof(second));
    memcpy(&second, got + sizeof(second) + second, sizeof(second));
    cr_expect(eq(u32, second, 5), "the unreadable record comes second");
    ft_store_close(st);
    ft_spool_close(s);
}

/* A quarantine that cannot be written holds loading at the record (nothing passes it): the
 * thread until it stops, a drain for max_attempts; loading goes on once it can be written. */
Test(loader, an_unwritable_quarantine_holds_loading_at_the_record)
{
    ft_spool *s = open_spool();
    append(s, "a", 1, true);
    struct ft_spool_stats ss;
    ft_spool_get_stats(s, &ss);
    uint64_t lsn = ss.write_lsn;
    append_raw(s, "short", 5);
    append(s, "b", 1, true);
    ft_store *st = open_store();
    char blocker[96], qdir[128];
    snprintf(blocker, sizeof(blocker), "%s/blocker", dir);
    snprintf(qdir, sizeof(qdir), "%s/quarantine", blocker);
    FILE *f = fopen(blocker, "w"); /* a file where the quarantine's parent should be */
    cr_assert(f != NULL);
    fclose(f);
    ft_loader *l;
    open_quarantine_loader(s, st, qdir, &l);
    cr_assert(eq(int, ft_loader_start(l), FT_OK));
    struct ft_loader_stats ls = {0};
    for (int i = 0; i < 500 && ls.deliveries < 1; i++) {
        usleep(10000);
        ft_loader_get_stats(l, &ls);
    }
    ft_loader_stop(l, ft_clock_mono_ns() / 1000 + 100000);
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.deliveries, 1));
    cr_expect(eq(u64, ls.quarantined, 0));
    cr_expect(eq(u64, ls.checkpoint, lsn), "the checkpoint stays at the record");
    ft_loader_free(l);
    open_quarantine_loader(s, st, qdir, &l); /* max_attempts 1 */
    cr_expect(eq(int, ft_loader_drain(l), FT_ESTORE));
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.checkpoint, lsn));
    ft_loader_free(l);
    cr_assert(unlink(blocker) == 0 && mkdir(blocker, 0700) == 0);
    open_quarantine_loader(s, st, qdir, &l);
    cr_assert(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_get_stats(l, &ls);
    cr_expect(eq(u64, ls.quarantined, 1));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 2));
    ft_store_close(st);
    ft_spool_close(s);
}

/* A spool segment that cannot be read (a directory where its file was: it opens, and reads
 * fail) is not skipped as corrupt: a drain stops before it with FT_EIO and the error, nothing
 * after it is lost, and once it can be read the rest loads. */
Test(loader, an_unreadable_segment_stops_a_drain_before_it_and_loses_nothing)
{
    ft_spool *s;
    char err[256];
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE, .segment_bytes = 2 << 10};
    cr_assert(eq(int, ft_spool_open(spool_dir, &so, &s, err, sizeof(err)), FT_OK), "%s", err);
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof(id), "u%d", i);
        append(s, id, i % 3, true);
    }
    char aside[200];
    snprintf(aside, sizeof(aside), "%s/aside", dir);
    struct broken_segment b;
    break_segment(spool_dir, 1, aside, &b); /* the second: the first loads */
    ft_store *st = open_store();
    ft_loader *l = new_loader(s, st, 1);
    cr_expect(eq(int, ft_loader_drain(l), FT_EIO));
    ft_loader_last_error(l, err, sizeof(err));
    cr_expect(strstr(err, "the spool cannot be read at") != NULL, "%s", err);
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    cr_expect(gt(u64, ls.deliveries, 0));
    cr_expect(lt(u64, ls.deliveries, 60));
    cr_expect(eq(u64, ls.rejected, 0), "nothing skipped");
    cr_expect(eq(u64, ls.read_errors, 1));
    ft_loader_free(l);
    mend_segment(&b);
    l = new_loader(s, st, 1);
    cr_expect(eq(int, ft_loader_drain(l), FT_OK));
    ft_loader_free(l);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 60));
    ft_store_close(st);
    ft_spool_close(s);
}
