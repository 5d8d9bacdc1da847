/*
 * The PostgreSQL warehouse (src/store/store.h), through libpq.
 *
 * The same content-addressed model as SQLite, with PostgreSQL's types (BOOLEAN, BYTEA, DOUBLE
 * PRECISION). A batch is one transaction: each table's rows are streamed with COPY into a
 * temporary staging table, then moved with INSERT ... SELECT ... ON CONFLICT DO NOTHING, so
 * sets shared with other receivers and deliveries loaded twice are written once; the source's
 * checkpoint is upserted in the same transaction. Sets go in (set_id, ord) order, which keeps
 * concurrent receivers from deadlocking on each other's rows.
 *
 * When the connection breaks, the write fails (the loader retries with backoff while the spool
 * absorbs the backlog) and the next call reconnects. Migrations run under an advisory lock, so
 * receivers starting together apply each one once.
 */
#include "flagtrail/error.h"
#include "store/store.h"
#include "store/tsv.h"
#include "store/views.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK 0x666c6167 /* "flag": the advisory lock key of migrations */
#define MAX_PARAMS     128

/* Migrations, applied in order; ft_schema.version counts those applied. */
static const char *const migrations[] = {
    /* 1: the content-addressed model */
    "CREATE TABLE ft_delivery ("
    "  source TEXT NOT NULL, lsn BIGINT NOT NULL, received_at BIGINT NOT NULL,"
    "  environment_id BIGINT, identity TEXT NOT NULL, flags_set BIGINT NOT NULL,"
    "  traits_set BIGINT NOT NULL, segments_set BIGINT NOT NULL, body_sha256 BYTEA NOT NULL,"
    "  delivery_id TEXT, PRIMARY KEY (source, lsn));"
    "CREATE UNIQUE INDEX ft_delivery_by_id ON ft_delivery (delivery_id)"
    "  WHERE delivery_id IS NOT NULL;"
    "CREATE TABLE ft_flag_set ("
    "  set_id BIGINT NOT NULL, ord INTEGER NOT NULL, feature_id BIGINT NOT NULL,"
    "  feature_name TEXT NOT NULL, feature_type TEXT NOT NULL, enabled BOOLEAN NOT NULL,"
    "  value_type TEXT NOT NULL, value TEXT, percentage_allocation DOUBLE PRECISION,"
    "  identity_override BIGINT, feature_segment BIGINT, feature_state_id BIGINT NOT NULL,"
    "  PRIMARY KEY (set_id, ord));"
    "CREATE TABLE ft_trait_set ("
    "  set_id BIGINT NOT NULL, ord INTEGER NOT NULL, trait_id BIGINT, trait_key TEXT NOT NULL,"
    "  value_type TEXT NOT NULL, value TEXT, transient BOOLEAN, PRIMARY KEY (set_id, ord));"
    "CREATE TABLE ft_segment_set ("
    "  set_id BIGINT NOT NULL, ord INTEGER NOT NULL, segment_id BIGINT NOT NULL,"
    "  segment_name TEXT NOT NULL, member BOOLEAN NOT NULL, PRIMARY KEY (set_id, ord));"
    "CREATE TABLE ft_event ("
    "  source TEXT NOT NULL, lsn BIGINT NOT NULL, idx INTEGER NOT NULL, identity TEXT NOT NULL,"
    "  event TEXT NOT NULL, value DOUBLE PRECISION, occurred_at BIGINT NOT NULL,"
    "  received_at BIGINT NOT NULL, PRIMARY KEY (source, lsn, idx));"
    "CREATE TABLE ft_checkpoint (source TEXT PRIMARY KEY, lsn BIGINT NOT NULL);" FT_STORE_VIEWS,
    /* 2: experiments look up each identity's events from its first exposure on */
    "CREATE INDEX ft_event_by_identity ON ft_event (identity, event, occurred_at);",
    /* 3: ... with the value, so sums and means read the index alone */
    "DROP INDEX ft_event_by_identity;"
    "CREATE INDEX ft_event_by_identity ON ft_event (identity, event, occurred_at, value);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The key order of each table of a batch (src/store/tsv.h), for INSERT ... ORDER BY. */
static const char *const table_order[FT_TSV_TABLES] = {"set_id, ord", "set_id, ord", "set_id, ord",
                                                       "source, lsn", "source, lsn, idx"};

/* PostgreSQL's COPY text format: booleans t/f, bytea as \x and hex (the backslash escaped). */
static const struct ft_tsv_style copy_style = {"t", "f", "\\\\x"};

struct pg_store {
    struct ft_store base;
    PGconn *conn;
    bool staged; /* the staging tables exist on this connection */
    struct ft_buf copy[FT_TSV_TABLES];
    char err[512];
};

static int failf(struct pg_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(struct pg_store *s, const char *fmt, ...)
{
    va_list ap;
    char raw[sizeof(s->err)];
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    ft_one_line(raw, s->err, sizeof(s->err)); /* libpq's "...\n\tHINT...\n" */
    return FT_ESTORE;
}

static int fail(struct pg_store *s, const char *what)
{
    return failf(s, "%s: %s", what, PQerrorMessage(s->conn));
}

/*
 * A failed statement's error. The data itself refused (SQLSTATE class 22, a data exception;
 * 23, a constraint; 54, a limit such as an index row's size) is FT_EREFUSED: the same rows
 * would be refused again. Anything else (no connection, a shutdown, a lock timeout) may pass.
 */
static int fail_result(struct pg_store *s, const PGresult *r, const char *what)
{
    fail(s, what);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    bool refused = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
                             strncmp(state, "54", 2) == 0);
    return refused ? FT_EREFUSED : FT_ESTORE;
}

/* Runs a statement without parameters; a result of `ok` status is success. */
static int exec(struct pg_store *s, const char *sql, const char *what)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? FT_OK : fail_result(s, r, what);
    PQclear(r);
    return rc;
}

static int exec_params(struct pg_store *s, const char *sql, int n, const char *const *values,
                       const char *what, PGresult **out)
{
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = fail_result(s, r, what);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return FT_OK;
}

/* --- schema --- */

static int schema_version(struct pg_store *s, int *version)
{
    PGresult *r;
    int rc = exec_params(s, "SELECT to_regclass('ft_schema') IS NOT NULL", 0, NULL,
                         "reading the schema version", &r);
    if (rc) return rc;
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    *version = -1;
    if (!exists) return FT_OK;
    if ((rc = exec_params(s, "SELECT version FROM ft_schema", 0, NULL, "reading the schema version",
                          &r)))
        return rc;
    *version = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return FT_OK;
}

static int migrate_locked(struct pg_store *s)
{
    int version, rc;
    if ((rc = exec(s, "CREATE TABLE IF NOT EXISTS ft_schema (version INTEGER NOT NULL)",
                   "creating ft_schema")) ||
        (rc = schema_version(s, &version)))
        return rc;
    if (version > SCHEMA_VERSION)
        return failf(s, "the database has schema version %d, newer than this flagtrail's %d",
                     version, SCHEMA_VERSION);
    for (int v = version; v < SCHEMA_VERSION; v++)
        if ((rc = exec(s, migrations[v], "migrating the schema"))) return rc;
    char bump[96];
    snprintf(bump, sizeof(bump), "DELETE FROM ft_schema; INSERT INTO ft_schema VALUES (%d)",
             SCHEMA_VERSION);
    return version == SCHEMA_VERSION ? FT_OK : exec(s, bump, "recording the schema version");
}

/* Brings the schema to SCHEMA_VERSION in one transaction, under the migration lock. */
static int migrate(struct pg_store *s)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "BEGIN; SELECT pg_advisory_xact_lock(%d)", MIGRATION_LOCK);
    int rc = exec(s, lock, "locking the schema");
    if (rc == FT_OK) rc = migrate_locked(s);
    if (rc == FT_OK) return exec(s, "COMMIT", "committing the migration");
    char keep[sizeof(s->err)];
    memcpy(keep, s->err, sizeof(keep));
    PQclear(PQexec(s->conn, "ROLLBACK"));
    memcpy(s->err, keep, sizeof(keep));
    return rc;
}

/* The staging tables: temporary, emptied by each commit. */
static int stage(struct pg_store *s)
{
    if (s->staged) return FT_OK;
    for (int t = 0; t < FT_TSV_TABLES; t++) {
        char sql[1024];
        /* only the columns written, without constraints: a column a newer schema adds (an
         * identity, NOT NULL with a default) gets its value from the real table's INSERT */
        snprintf(sql, sizeof(sql),
                 "CREATE TEMP TABLE IF NOT EXISTS stage_%s ON COMMIT DELETE ROWS AS SELECT %s"
                 " FROM %s WITH NO DATA",
                 ft__tsv_table[t], ft__tsv_columns[t], ft__tsv_table[t]);
        int rc = exec(s, sql, "creating the staging tables");
        if (rc) return rc;
    }
    s->staged = true;
    return FT_OK;
}

/* Reconnects a broken connection (the server restarted, the network dropped). */
static int ensure_connected(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK) return FT_OK;
    PQreset(s->conn);
    s->staged = false;
    if (PQstatus(s->conn) != CONNECTION_OK) return fail(s, "reconnecting");
    return FT_OK;
}

/* --- open and close --- */

static void pg_close(ft_store *st)
{
    struct pg_store *s = (struct pg_store *)st;
    PQfinish(s->conn);
    for (int t = 0; t < FT_TSV_TABLES; t++)
        ft_buf_free(&s->copy[t]);
    free(s);
}

const struct ft_store_ops ft__store_postgres; /* defined at the end */

/* The server's notices ("relation already exists, skipping") are not errors: not printed. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static int pg_open(const char *location, unsigned flags, ft_store **out, char *err, size_t errlen)
{
    struct pg_store *s = ft_xcalloc(1, sizeof(*s));
    s->base.ops = &ft__store_postgres;
    for (int t = 0; t < FT_TSV_TABLES; t++)
        ft_buf_init(&s->copy[t], 0);
    struct ft_buf url;
    ft_buf_init(&url, 0);
    ft_buf_printf(&url, "postgresql://%s", location);
    s->conn = PQconnectdb(url.data);
    ft_buf_free(&url);
    int rc = FT_OK, version;
    PQsetNoticeProcessor(s->conn, ignore_notice, NULL);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        rc = fail(s, "connecting");
    } else if ((flags & FT_STORE_EXISTING) && (rc = schema_version(s, &version)) == FT_OK &&
               version < 0) {
        snprintf(s->err, sizeof(s->err), "no warehouse in database %s", PQdb(s->conn));
        rc = FT_ENOENT;
    } else if (rc == FT_OK) {
        rc = migrate(s);
    }
    if (rc) {
        /* the location may hold a password: name only the database */
        snprintf(err, errlen, "postgres: %s", s->err);
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return FT_OK;
}

/* Streams one staging buffer with COPY, then moves its rows into the table. */
static int flush(struct pg_store *s, int t)
{
    struct ft_buf *b = &s->copy[t];
    if (b->len == 0) return FT_OK;
    char sql[1024];
    snprintf(sql, sizeof(sql), "COPY stage_%s (%s) FROM STDIN", ft__tsv_table[t],
             ft__tsv_columns[t]);
    PGresult *r = PQexec(s->conn, sql);
    bool ready = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ready) return fail(s, "starting COPY");
    if (PQputCopyData(s->conn, b->data, (int)b->len) != 1 || PQputCopyEnd(s->conn, NULL) != 1)
        return fail(s, "sending COPY data");
    int rc = FT_OK;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == FT_OK)
            rc = fail_result(s, r, "copying rows");
        PQclear(r);
    }
    if (rc) return rc;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (%s) SELECT %s FROM stage_%s ORDER BY %s ON CONFLICT DO NOTHING",
             ft__tsv_table[t], ft__tsv_columns[t], ft__tsv_columns[t], ft__tsv_table[t],
             table_order[t]);
    return exec(s, sql, "inserting rows");
}

static int write_batch(struct pg_store *s, const struct ft_store_batch *b)
{
    int rc = exec(s, "BEGIN", "starting a transaction");
    for (int t = 0; t < FT_TSV_TABLES && rc == FT_OK; t++)
        rc = flush(s, t);
    if (rc == FT_OK && !b->keep_checkpoint) {
        char lsn[24];
        snprintf(lsn, sizeof(lsn), "%llu", (unsigned long long)b->checkpoint);
        const char *values[2] = {b->source, lsn};
        rc = exec_params(s,
                         "INSERT INTO ft_checkpoint (source, lsn) VALUES ($1, $2)"
                         " ON CONFLICT (source) DO UPDATE SET lsn = excluded.lsn",
                         2, values, "saving the checkpoint", NULL);
    }
    if (rc == FT_OK) return exec(s, "COMMIT", "committing");
    char keep[sizeof(s->err)];
    memcpy(keep, s->err, sizeof(keep));
    if (PQstatus(s->conn) == CONNECTION_OK) PQclear(PQexec(s->conn, "ROLLBACK"));
    memcpy(s->err, keep, sizeof(keep));
    return rc;
}

static int pg_write(ft_store *st, const struct ft_store_batch *b)
{
    struct pg_store *s = (struct pg_store *)st;
    int rc = ensure_connected(s);
    if (rc == FT_OK) rc = stage(s);
    if (rc) return rc;
    ft__tsv_batch(b, &copy_style, s->copy);
    return write_batch(s, b);
}

static int pg_checkpoint(ft_store *st, const char *source, uint64_t *lsn)
{
    struct pg_store *s = (struct pg_store *)st;
    int rc = ensure_connected(s);
    if (rc) return rc;
    PGresult *r;
    const char *values[1] = {source};
    if ((rc = exec_params(s, "SELECT lsn FROM ft_checkpoint WHERE source = $1", 1, values,
                          "reading the checkpoint", &r)))
        return rc;
    *lsn = PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return FT_OK;
}

static int pg_ping(ft_store *st)
{
    struct pg_store *s = (struct pg_store *)st;
    int rc = ensure_connected(s);
    return rc ? rc : exec(s, "SELECT 1 FROM ft_checkpoint LIMIT 1", "checking the database");
}

/* --- queries --- */

/* The statement with SQLite's "?" placeholders numbered "$1", "$2", ... (outside literals). */
static void number_placeholders(const char *sql, struct ft_buf *out)
{
    int n = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote) quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            ft_buf_printf(out, "$%d", ++n);
            continue;
        }
        ft_buf_append_char(out, *p);
    }
}

static struct ft_cell cell(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return (struct ft_cell){.type = FT_CELL_NULL};
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 16: return FT_CELL_I(v[0] == 't'); /* bool */
    case 20:
    case 21:
    case 23: return FT_CELL_I(strtoll(v, NULL, 10)); /* int8, int2, int4 */
    case 700:
    case 701:
    case 1700: return FT_CELL_D(strtod(v, NULL)); /* float4/8, numeric */
    default: return FT_CELL_S(((struct ft_str){v, (size_t)PQgetlength(r, row, col)}));
    }
}

static int pg_query(ft_store *st, const char *sql, const struct ft_cell *params, size_t nparams,
                    ft_store_row_fn row, void *arg)
{
    struct pg_store *s = (struct pg_store *)st;
    int rc = ensure_connected(s);
    if (rc) return rc;
    struct ft_buf text, values;
    ft_buf_init(&text, 0);
    ft_buf_init(&values, 0);
    number_placeholders(sql, &text);
    size_t offsets[MAX_PARAMS];
    const char *pv[MAX_PARAMS];
    if (nparams > MAX_PARAMS) nparams = MAX_PARAMS;
    for (size_t i = 0; i < nparams; i++) {
        offsets[i] = values.len;
        switch (params[i].type) {
        case FT_CELL_NULL: break;
        case FT_CELL_INT: ft_buf_printf(&values, "%lld", (long long)params[i].i); break;
        case FT_CELL_REAL: ft_buf_printf(&values, "%.17g", params[i].d); break;
        case FT_CELL_TEXT: ft_buf_append(&values, params[i].s.ptr, params[i].s.len); break;
        }
        ft_buf_append_char(&values, '\0');
    }
    for (size_t i = 0; i < nparams; i++)
        pv[i] = params[i].type == FT_CELL_NULL ? NULL : values.data + offsets[i];
    if (!PQsendQueryParams(s->conn, text.data, (int)nparams, NULL, pv, NULL, NULL, 0) ||
        !PQsetSingleRowMode(s->conn))
        rc = fail(s, "sending a query");
    PGresult *r;
    bool sent = rc == FT_OK;
    while (sent && (r = PQgetResult(s->conn)) != NULL) { /* every result, even after a stop */
        ExecStatusType status = PQresultStatus(r);
        if (status == PGRES_SINGLE_TUPLE && rc == FT_OK) {
            struct ft_cell cells[32];
            int n = PQnfields(r) < 32 ? PQnfields(r) : 32;
            for (int c = 0; c < n; c++)
                cells[c] = cell(r, 0, c);
            rc = row(arg, cells, (size_t)n);
        } else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK &&
                   status != PGRES_COMMAND_OK && rc == FT_OK) {
            rc = fail(s, "running a query");
        }
        PQclear(r);
    }
    ft_buf_free(&text);
    ft_buf_free(&values);
    return rc;
}

static const char *pg_errmsg(ft_store *st)
{
    return ((struct pg_store *)st)->err;
}

const struct ft_store_ops ft__store_postgres = {
    .scheme = "postgres",
    .open = pg_open,
    .checkpoint = pg_checkpoint,
    .write = pg_write,
    .ping = pg_ping,
    .query = pg_query,
    .errmsg = pg_errmsg,
    .close = pg_close,
};
