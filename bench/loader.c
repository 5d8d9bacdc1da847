/*
 * bench/loader: the loader from a full spool into SQLite, beside a naive loader.
 *
 * A spool is filled with N seed-size webhooks (2 flags, 2 traits, 1 segment, about 800 bytes
 * as Flagsmith prints them): every identity is distinct, flag sets repeat from a pool of 8
 * and trait sets from a pool of 1000, as in a real environment. Then:
 *
 *   flagtrail   ft_loader_drain into a fresh warehouse (the receiver's loader, exactly)
 *   naive       the same payloads parsed with the same parser, one row per flag, trait and
 *               segment (with the delivery's columns repeated) in a table each, same SQLite
 *               settings and batch size
 *
 * Reports webhooks/s, rows/s and bytes on disk per webhook (database file after a WAL
 * checkpoint), with ratios.
 *
 *   bench/loader [N]    (default 500000)
 *
 * With --stores, the same spool is loaded by the same loader into each store URL instead
 * (bench/store.py runs it against SQLite and the PostgreSQL and ClickHouse servers it
 * starts), and the table
 * compares the stores: webhooks/s, rows/s and bytes on disk per webhook.
 *
 *   bench/loader --stores N URL...
 */
#include "base/clock.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "receive/loader.h"
#include "receive/record.h"
#include "spool/spool.h"
#include "store/model.h"
#include "store/store.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void die(const char *what)
{
    fprintf(stderr, "bench/loader: %s\n", what);
    exit(1);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child[512];
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(child);
        else
            unlink(child);
    }
    closedir(d);
    rmdir(path);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* One seed-size webhook, as Flagsmith prints it. */
static size_t make_body(char *out, size_t cap, long i)
{
    int fset = (int)(i % 8), tset = (int)(i % 1000);
    return (size_t)snprintf(
        out, cap,
        "{\"flags\": [{\"enabled\": %s, \"environment\": 2, \"feature\": {\"created_date\": "
        "\"2022-02-04T14:57:39.200798Z\", \"default_enabled\": false, \"description\": null, "
        "\"id\": 1, \"initial_value\": null, \"name\": \"12e12e\", \"type\": \"STANDARD\"}, "
        "\"feature_segment\": null, \"feature_state_value\": null, \"id\": 2, \"identity\": null}, "
        "{\"enabled\": true, \"environment\": 2, \"feature\": {\"created_date\": "
        "\"2022-02-04T14:57:44.244575Z\", \"default_enabled\": true, \"description\": null, "
        "\"id\": 2, \"initial_value\": null, \"name\": \"gggg\", \"type\": \"MULTIVARIATE\"}, "
        "\"feature_segment\": null, \"feature_state_value\": \"variant_%d\", \"id\": 4, "
        "\"identity\": null, \"percentage_allocation\": 25.0}], \"identity\": \"user_%08ld\", "
        "\"segments\": [{\"id\": 1, \"member\": %s, \"name\": \"test_segment\"}], \"traits\": "
        "[{\"id\": 4, \"trait_key\": \"plan\", \"trait_value\": \"plan_%d\", \"transient\": "
        "false}, {\"id\": 5, \"trait_key\": \"age\", \"trait_value\": %d, \"transient\": false}]}",
        fset & 1 ? "true" : "false", fset / 2, i, fset & 1 ? "true" : "false", tset % 7,
        tset / 7);
}

static void fill_spool(ft_spool *s, long n, size_t *bytes)
{
    char body[2048];
    unsigned char head[512];
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_model model;
    ft_model_init(&model);
    *bytes = 0;
    for (long i = 0; i < n; i++) {
        /* as the endpoint writes them: body and summary */
        size_t len = make_body(body, sizeof(body), i);
        struct ft_payload p;
        ft_arena_reset(&arena);
        if (ft_payload_parse(doc, body, len, &arena, &p, NULL)) die("payload");
        struct ft_record rec = {.type = FT_RECORD_WEBHOOK,
                                .received_at = 1795500000000000LL + i,
                                .has_summary = true,
                                .environment = {false, p.flags[0].environment},
                                .identity = p.identity};
        ft_model_canonicalize(&model, &p, &rec.sets[0], &rec.sets[1], &rec.sets[2]);
        size_t hlen = ft_record_header(head, &rec);
        struct iovec iov[2] = {{head, hlen}, {body, len}};
        uint64_t lsn;
        bool durable;
        if (ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable)) die("spool append");
        *bytes += len;
    }
    if (ft_spool_sync(s)) die("spool sync");
    ft_model_free(&model);
    ft_arena_free(&arena);
    ft_json_doc_free(doc);
}

/* --- the naive peer --- */

static const char naive_schema[] =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
    "CREATE TABLE naive_flag (source TEXT, lsn INTEGER, received_at INTEGER, identity TEXT,"
    " feature_id INTEGER, feature_name TEXT, feature_type TEXT, enabled INTEGER,"
    " value_type TEXT, value TEXT, percentage_allocation REAL, identity_override INTEGER,"
    " feature_segment INTEGER, feature_state_id INTEGER);"
    "CREATE TABLE naive_trait (source TEXT, lsn INTEGER, received_at INTEGER, identity TEXT,"
    " trait_id INTEGER, trait_key TEXT, value_type TEXT, value TEXT, transient INTEGER);"
    "CREATE TABLE naive_segment (source TEXT, lsn INTEGER, received_at INTEGER, identity TEXT,"
    " segment_id INTEGER, segment_name TEXT, member INTEGER);";

static void bind_text(sqlite3_stmt *q, int i, struct ft_str s)
{
    if (s.ptr)
        sqlite3_bind_text(q, i, s.ptr, (int)s.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static void step(sqlite3_stmt *q)
{
    if (sqlite3_step(q) != SQLITE_DONE) die("naive insert");
    sqlite3_reset(q);
}

static long naive_load(ft_spool *s, const char *path, long *rows_out)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) die("naive open");
    if (sqlite3_exec(db, naive_schema, NULL, NULL, NULL) != SQLITE_OK) die("naive schema");
    sqlite3_stmt *qf, *qt, *qs;
    sqlite3_prepare_v2(db, "INSERT INTO naive_flag VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &qf,
                       NULL);
    sqlite3_prepare_v2(db, "INSERT INTO naive_trait VALUES (?,?,?,?,?,?,?,?,?)", -1, &qt, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO naive_segment VALUES (?,?,?,?,?,?,?)", -1, &qs, NULL);
    ft_spool_reader *r;
    ft_spool_reader_open(s, 0, &r);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_spool_record rec;
    long n = 0, rows = 0;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    while (ft_spool_next(r, &rec) == FT_OK) {
        struct ft_record rr;
        struct ft_payload p;
        ft_arena_reset(&arena);
        if (ft_record_decode(rec.data, rec.len, &rr) ||
            ft_payload_parse(doc, rr.body.ptr, rr.body.len, &arena, &p, NULL))
            die("naive parse");
        for (size_t i = 0; i < p.nflags; i++) {
            const struct ft_flag *f = &p.flags[i];
            sqlite3_bind_text(qf, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_int64(qf, 2, (sqlite3_int64)rec.lsn);
            sqlite3_bind_int64(qf, 3, rr.received_at);
            bind_text(qf, 4, p.identity);
            sqlite3_bind_int64(qf, 5, f->feature.id);
            bind_text(qf, 6, f->feature.name);
            bind_text(qf, 7, f->feature.type);
            sqlite3_bind_int(qf, 8, f->enabled);
            sqlite3_bind_text(qf, 9, ft_value_type_name(f->value.type), -1, SQLITE_STATIC);
            bind_text(qf, 10, f->value.type == FT_VALUE_NULL ? (struct ft_str){NULL, 0} : f->value.text);
            if (f->has_percentage_allocation && f->percentage_allocation.type != FT_VALUE_NULL)
                sqlite3_bind_double(qf, 11, strtod(f->percentage_allocation.text.ptr, NULL));
            else
                sqlite3_bind_null(qf, 11);
            sqlite3_bind_null(qf, 12);
            sqlite3_bind_null(qf, 13);
            sqlite3_bind_int64(qf, 14, f->id);
            step(qf);
            rows++;
        }
        for (size_t i = 0; i < p.ntraits; i++) {
            const struct ft_trait *t = &p.traits[i];
            sqlite3_bind_text(qt, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_int64(qt, 2, (sqlite3_int64)rec.lsn);
            sqlite3_bind_int64(qt, 3, rr.received_at);
            bind_text(qt, 4, p.identity);
            sqlite3_bind_int64(qt, 5, t->id.value);
            bind_text(qt, 6, t->key);
            sqlite3_bind_text(qt, 7, ft_value_type_name(t->value.type), -1, SQLITE_STATIC);
            bind_text(qt, 8, t->value.text);
            sqlite3_bind_int(qt, 9, t->transient);
            step(qt);
            rows++;
        }
        for (size_t i = 0; i < p.nsegments; i++) {
            const struct ft_segment *g = &p.segments[i];
            sqlite3_bind_text(qs, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_int64(qs, 2, (sqlite3_int64)rec.lsn);
            sqlite3_bind_int64(qs, 3, rr.received_at);
            bind_text(qs, 4, p.identity);
            sqlite3_bind_int64(qs, 5, g->id);
            bind_text(qs, 6, g->name);
            sqlite3_bind_int(qs, 7, g->member);
            step(qs);
            rows++;
        }
        if (++n % 10000 == 0) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_finalize(qf);
    sqlite3_finalize(qt);
    sqlite3_finalize(qs);
    sqlite3_close(db);
    ft_spool_reader_close(r);
    ft_json_doc_free(doc);
    ft_arena_free(&arena);
    *rows_out = rows;
    return n;
}

static int first_long(void *arg, const struct ft_cell *cells, size_t n)
{
    if (n && cells[0].type == FT_CELL_INT) *(long *)arg = (long)cells[0].i;
    return 0;
}

static void checkpoint(const char *path)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
}

/* Bytes the store's data takes: the SQLite file, PostgreSQL's ft_ tables with their indexes,
 * ClickHouse's active parts. */
static long store_bytes(ft_store *st, const char *url)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        checkpoint(url + 7);
        return file_size(url + 7);
    }
    long bytes = 0;
    const char *sql =
        strncmp(url, "clickhouse:", 11) == 0
            /* after merges: a part inserted twice is counted once, as it will be stored */
            ? "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts"
              " WHERE database = currentDatabase() AND active"
            : "SELECT CAST(SUM(pg_total_relation_size(c.oid)) AS BIGINT) FROM pg_class c"
              " JOIN pg_namespace n ON n.oid = c.relnamespace"
              " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'ft%'";
    if (ft_store_query(st, sql, NULL, 0, first_long, &bytes)) die(ft_store_errmsg(st));
    return bytes;
}

struct store_result {
    double seconds;
    uint64_t rows;
    long bytes;
};

/* A new spool at `spool_dir` holding the n webhooks (each load uses its spool up). */
static ft_spool *fresh_spool(const char *spool_dir, long n, size_t *body_bytes)
{
    char err[512];
    remove_tree(spool_dir);
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC};
    ft_spool *s;
    if (ft_spool_open(spool_dir, &so, &s, err, sizeof(err))) die(err);
    fill_spool(s, n, body_bytes);
    return s;
}

static struct store_result load_into(const char *spool_dir, long n, const char *url)
{
    char err[512];
    size_t body_bytes;
    ft_spool *s = fresh_spool(spool_dir, n, &body_bytes);
    ft_store *st;
    if (ft_store_open(url, &st, err, sizeof(err))) die(err);
    ft_loader *l;
    struct ft_loader_options lo = {.source = "bench", .max_attempts = 1};
    if (ft_loader_new(s, st, &lo, &l, err, sizeof(err))) die(err);
    int64_t t0 = ft_clock_mono_ns();
    if (ft_loader_drain(l)) die("loader");
    int64_t t1 = ft_clock_mono_ns();
    struct ft_loader_stats ls;
    ft_loader_get_stats(l, &ls);
    if ((long)ls.deliveries != n) die("not every webhook loaded");
    ft_loader_free(l);
    ft_spool_close(s);
    struct store_result r = {(double)(t1 - t0) / 1e9, ls.rows, store_bytes(st, url)};
    ft_store_close(st);
    return r;
}

static int compare_stores(long n, char **urls, int nurls)
{
    char spool_dir[128];
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
    printf("%ld seed-size webhooks from one full spool, the receiver's loader, batches of "
           "10000\n\n",
           n);
    printf("| store | webhooks/s | rows/s | bytes on disk per webhook | speed vs first |\n");
    printf("|---|---:|---:|---:|---:|\n");
    double first = 0;
    for (int i = 0; i < nurls; i++) {
        struct store_result r = load_into(spool_dir, n, urls[i]);
        double rate = (double)n / r.seconds;
        if (i == 0) first = rate;
        printf("| %.*s | %.0f | %.0f | %.1f | %.2fx |\n", (int)strcspn(urls[i], ":"), urls[i],
               rate, (double)r.rows / r.seconds,
               (double)r.bytes / (double)n, rate / first);
    }
    remove_tree(dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--stores") == 0) {
        snprintf(dir, sizeof(dir), "/tmp/ft-bench-store-XXXXXX");
        if (!mkdtemp(dir)) die("mkdtemp");
        return compare_stores(strtol(argv[2], NULL, 10), argv + 3, argc - 3);
    }
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 500000;
    snprintf(dir, sizeof(dir), "/tmp/ft-bench-loader-XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp");
    char spool_dir[128], db[128], naive_db[128], url[160];
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
    snprintf(db, sizeof(db), "%s/flagtrail.db", dir);
    snprintf(naive_db, sizeof(naive_db), "%s/naive.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", db);
    struct store_result ft = load_into(spool_dir, n, url); /* flagtrail's loader */

    /* the naive peer reads the same webhooks from a spool of its own */
    size_t body_bytes;
    ft_spool *s = fresh_spool(spool_dir, n, &body_bytes);
    long naive_rows;
    int64_t t2 = ft_clock_mono_ns();
    long naive_n = naive_load(s, naive_db, &naive_rows);
    int64_t t3 = ft_clock_mono_ns();
    ft_spool_close(s);
    if (naive_n != n) die("naive did not load everything");

    double ft_s = ft.seconds, nv_s = (double)(t3 - t2) / 1e9;
    double ft_rate = (double)n / ft_s, nv_rate = (double)n / nv_s;
    long ft_bytes = ft.bytes, nv_bytes = file_size(naive_db);
    printf("%ld seed-size webhooks (%.0f bytes of JSON each on average), one spool, SQLite WAL "
           "synchronous=FULL, batches of 10000\n\n",
           n, (double)body_bytes / (double)n);
    printf("| loader | webhooks/s | rows/s | rows | bytes on disk per webhook | vs naive |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    printf("| flagtrail (content-addressed sets) | %.0f | %.0f | %llu | %.1f | %.2fx speed, %.2fx "
           "smaller |\n",
           ft_rate, (double)ft.rows / ft_s, (unsigned long long)ft.rows,
           (double)ft_bytes / (double)n, ft_rate / nv_rate, (double)nv_bytes / (double)ft_bytes);
    printf("| naive (one row per flag, trait, segment) | %.0f | %.0f | %ld | %.1f | 1.00x |\n",
           nv_rate, (double)naive_rows / nv_s, naive_rows, (double)nv_bytes / (double)n);
    remove_tree(dir);
    return 0;
}
