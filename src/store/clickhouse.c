/*
 * The ClickHouse warehouse (src/store/store.h), over its HTTP interface with libcurl.
 *
 * Written for what both Debian's ClickHouse (18.16) and current releases accept: tables are
 * ReplacingMergeTree ordered by their keys, rows arrive as TabSeparated (src/store/tsv.h), and
 * the views read them with FINAL, so a batch inserted twice (a receiver killed between its rows
 * and its checkpoint, then loading the batch again) counts once: duplicates are removed on
 * (source, lsn), and sets on (set_id, ord). ClickHouse has no transactions: a batch's sets go
 * first, then deliveries and events, then the checkpoint, so a checkpoint never points past
 * rows that are missing.
 *
 * ClickHouse 18.16 has no bound query parameters; the one place that puts values into a
 * statement is quote() below, which escapes every byte ClickHouse's string literals treat
 * specially. Errors come from the status code and the first line of the body.
 *
 * URL: clickhouse://[USER@]HOST:PORT/DB; the password, when there is one, comes from
 * FLAGTRAIL_CLICKHOUSE_PASSWORD (never the command line).
 */
#include "flagtrail/error.h"
#include "store/store.h"
#include "store/tsv.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define MAX_ERROR_BODY 2048
#define MAX_LINE       (16u << 20) /* a result row longer than this is an error, not memory growth */

/* Migration 1, statement by statement (the HTTP interface takes one at a time). */
static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS ft_delivery (source String, lsn UInt64, received_at Int64,"
    " environment_id Nullable(Int64), identity String, flags_set Int64, traits_set Int64,"
    " segments_set Int64, body_sha256 String, delivery_id Nullable(String))"
    " ENGINE = ReplacingMergeTree ORDER BY (source, lsn)",
    "CREATE TABLE IF NOT EXISTS ft_flag_set (set_id Int64, ord UInt32, feature_id Int64,"
    " feature_name String, feature_type String, enabled UInt8, value_type String,"
    " value Nullable(String), percentage_allocation Nullable(Float64),"
    " identity_override Nullable(Int64), feature_segment Nullable(Int64),"
    " feature_state_id Int64) ENGINE = ReplacingMergeTree ORDER BY (set_id, ord)",
    "CREATE TABLE IF NOT EXISTS ft_trait_set (set_id Int64, ord UInt32,"
    " trait_id Nullable(Int64), trait_key String, value_type String, value Nullable(String),"
    " transient Nullable(UInt8)) ENGINE = ReplacingMergeTree ORDER BY (set_id, ord)",
    "CREATE TABLE IF NOT EXISTS ft_segment_set (set_id Int64, ord UInt32, segment_id Int64,"
    " segment_name String, member UInt8) ENGINE = ReplacingMergeTree ORDER BY (set_id, ord)",
    "CREATE TABLE IF NOT EXISTS ft_event (source String, lsn UInt64, idx UInt32,"
    " identity String, event String, value Nullable(Float64), occurred_at Int64,"
    " received_at Int64) ENGINE = ReplacingMergeTree ORDER BY (source, lsn, idx)",
    "CREATE TABLE IF NOT EXISTS ft_checkpoint (source String, lsn UInt64)"
    " ENGINE = ReplacingMergeTree(lsn) ORDER BY source",
    "CREATE VIEW IF NOT EXISTS ft_evaluations AS"
    " SELECT source, lsn, received_at, identity, environment_id, delivery_id, feature_id,"
    " feature_name, feature_type, enabled, value_type, value, percentage_allocation,"
    " identity_override, feature_segment, feature_state_id"
    " FROM ft_delivery FINAL ALL INNER JOIN"
    " (SELECT set_id AS flags_set, feature_id, feature_name, feature_type, enabled, value_type,"
    " value, percentage_allocation, identity_override, feature_segment, feature_state_id"
    " FROM ft_flag_set FINAL) USING flags_set",
    "CREATE VIEW IF NOT EXISTS ft_exposures AS"
    " SELECT identity, feature_id, feature_name, enabled, value_type, value,"
    " min(received_at) AS first_seen, max(received_at) AS last_seen, count() AS times_seen"
    " FROM ft_evaluations"
    " GROUP BY identity, feature_id, feature_name, enabled, value_type, value",
    /* the inner names differ from the outer ones: ClickHouse reads a column named like an
     * alias in the same SELECT as that alias */
    "CREATE VIEW IF NOT EXISTS ft_identity_latest AS"
    " SELECT identity, argMax(s, k) AS source, argMax(l, k) AS lsn, max(r) AS received_at,"
    " argMax(e, k) AS environment_id, argMax(f, k) AS flags_set, argMax(t, k) AS traits_set,"
    " argMax(g, k) AS segments_set"
    " FROM (SELECT identity, source AS s, lsn AS l, received_at AS r, environment_id AS e,"
    " flags_set AS f, traits_set AS t, segments_set AS g, (received_at, source, lsn) AS k"
    " FROM ft_delivery FINAL) GROUP BY identity",
    "CREATE VIEW IF NOT EXISTS ft_identity_traits AS"
    " SELECT identity, trait_key, trait_id, value_type, value, transient,"
    " received_at AS as_of FROM ft_identity_latest ALL INNER JOIN"
    " (SELECT set_id AS traits_set, trait_key, trait_id, value_type, value, transient"
    " FROM ft_trait_set FINAL) USING traits_set",
    "CREATE VIEW IF NOT EXISTS ft_segment_members AS"
    " SELECT identity, segment_id, segment_name, received_at AS as_of"
    " FROM ft_identity_latest ALL INNER JOIN"
    " (SELECT set_id AS segments_set, segment_id, segment_name FROM ft_segment_set FINAL"
    " WHERE member = 1) USING segments_set",
    "CREATE TABLE IF NOT EXISTS ft_schema (version UInt32) ENGINE = TinyLog",
};

#define NSCHEMA (sizeof(schema) / sizeof(schema[0]))

static const struct ft_tsv_style tsv_style = {"1", "0", ""};

struct ch_store {
    struct ft_store base;
    CURL *curl;
    char *server_url; /* http://HOST:PORT/?default_format=TabSeparated */
    char *base_url;   /* ... &database=DB */
    char *database;
    struct ft_buf rows[FT_TSV_TABLES];
    char err[512];
};

/* --- errors --- */

static int failf(struct ch_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(struct ch_store *s, const char *fmt, ...)
{
    va_list ap;
    char raw[sizeof(s->err)];
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    ft_one_line(raw, s->err, sizeof(s->err));
    return FT_ESTORE;
}

/*
 * Whether an error body ("Code: 27, e.displayText() = ..." before 19.x, "Code: 27. DB::..."
 * since) refuses the data itself, so that the same rows would be refused again: a value that
 * does not parse or fit its column (6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321), a
 * throwIf() in a MATERIALIZED column (395), a CHECK constraint (469).
 */
static bool refusal(const struct ft_buf *body)
{
    static const long codes[] = {6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 395, 469};
    if (!body->data || body->len < 7 || memcmp(body->data, "Code: ", 6) != 0) return false;
    long code = strtol(body->data + 6, NULL, 10);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (code == codes[i]) return true;
    return false;
}

/* --- one HTTP exchange --- */

/* What a response body is read into: a capped error text, or rows handed to a callback. */
struct reply {
    CURL *curl;
    long status;         /* read with the first bytes of the body */
    struct ft_buf error; /* the body when the status is not 200 (capped) */
    struct ft_buf line;  /* the partial line of a streamed result */
    int (*on_line)(void *arg, char *line, size_t len);
    void *arg;
    int stopped; /* what on_line returned, once non-zero */
    bool too_long;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    size_t len = size * n;
    if (r->status == 0) curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->on_line || r->stopped || r->status != 200) {
        size_t room = MAX_ERROR_BODY - r->error.len;
        ft_buf_append(&r->error, data, len < room ? len : room);
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (r->line.len == MAX_LINE) {
                r->too_long = true;
                return 0;
            }
            ft_buf_append_char(&r->line, data[i]);
            continue;
        }
        r->stopped = r->on_line(r->arg, r->line.data ? r->line.data : (char *)"", r->line.len);
        ft_buf_reset(&r->line);
        if (r->stopped) {
            ft_buf_reset(&r->error);
            return len;
        }
    }
    return len;
}

/*
 * POSTs `body` to `base` (the server or its database), with `query` (NULL: the body is the
 * query) as the URL's query parameter. A 200's body goes to `on_line` line by line, when
 * given. FT_OK or FT_ESTORE with the reason.
 */
static int post_to(struct ch_store *s, const char *base, const char *query, const char *body,
                   size_t len, int (*on_line)(void *, char *, size_t), void *arg, const char *what)
{
    struct ft_buf url;
    ft_buf_init(&url, 0);
    ft_buf_append_str(&url, base);
    if (query) {
        char *q = curl_easy_escape(s->curl, query, 0);
        ft_buf_printf(&url, "&query=%s", q);
        curl_free(q);
    }
    struct reply r = {.curl = s->curl, .on_line = on_line, .arg = arg};
    ft_buf_init(&r.error, MAX_ERROR_BODY + 1);
    ft_buf_init(&r.line, 0);
    curl_easy_setopt(s->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &r);
    CURLcode cc = curl_easy_perform(s->curl);
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r.status);
    int rc = FT_OK;
    if (r.too_long)
        rc = failf(s, "%s: a result row is longer than %u bytes", what, MAX_LINE);
    else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r.stopped))
        rc = failf(s, "%s: %s", what, curl_easy_strerror(cc));
    else if (r.status != 200) {
        failf(s, "%s: HTTP %ld: %.*s", what, r.status, (int)r.error.len,
              r.error.data ? r.error.data : "");
        rc = refusal(&r.error) ? FT_EREFUSED : FT_ESTORE;
    } else if (r.stopped) {
        rc = r.stopped;
    }
    ft_buf_free(&url);
    ft_buf_free(&r.error);
    ft_buf_free(&r.line);
    return rc;
}

static int post(struct ch_store *s, const char *query, const char *body, size_t len,
                int (*on_line)(void *, char *, size_t), void *arg, const char *what)
{
    return post_to(s, s->base_url, query, body, len, on_line, arg, what);
}

static int exec(struct ch_store *s, const char *sql, const char *what)
{
    return post(s, NULL, sql, strlen(sql), NULL, NULL, what);
}

/* --- values in statements --- */

/* Appends `v` as a ClickHouse string literal: quoted, with ' and \ and control bytes escaped. */
static void quote(struct ft_buf *b, struct ft_str v)
{
    ft_buf_append_char(b, '\'');
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c == '\'' || c == '\\') {
            ft_buf_append_char(b, '\\');
            ft_buf_append_char(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            ft_buf_printf(b, "\\x%02x", c);
        } else {
            ft_buf_append_char(b, (char)c);
        }
    }
    ft_buf_append_char(b, '\'');
}

/* The statement with each "?" outside literals replaced by its parameter, written as a literal. */
static void inline_params(const char *sql, const struct ft_cell *params, size_t nparams,
                          struct ft_buf *out)
{
    size_t next = 0;
    char in = 0;
    for (const char *p = sql; *p; p++) {
        if (in) {
            if (*p == '\\' && p[1]) {
                ft_buf_append_char(out, *p++);
            } else if (*p == in) {
                in = 0;
            }
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            in = *p;
        } else if (*p == '?' && next < nparams) {
            const struct ft_cell *c = &params[next++];
            switch (c->type) {
            case FT_CELL_NULL: ft_buf_append_str(out, "NULL"); break;
            case FT_CELL_INT: ft_buf_printf(out, "%lld", (long long)c->i); break;
            case FT_CELL_REAL: ft_buf_printf(out, "%.17g", c->d); break;
            case FT_CELL_TEXT: quote(out, c->s); break;
            }
            continue;
        }
        ft_buf_append_char(out, *p);
    }
}

/* --- results: TabSeparatedWithNamesAndTypes --- */

/* Undoes TabSeparated escaping in place; returns the new length. */
static size_t unescape(char *f, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (f[i] != '\\' || i + 1 == len) {
            f[o++] = f[i];
            continue;
        }
        char c = f[++i];
        f[o++] = c == 't'   ? '\t'
                 : c == 'n' ? '\n'
                 : c == 'r' ? '\r'
                 : c == '0' ? '\0'
                 : c == 'b' ? '\b'
                 : c == 'f' ? '\f'
                            : c;
    }
    return o;
}

enum { COL_TEXT, COL_INT, COL_REAL };

struct result {
    ft_store_row_fn row;
    void *arg;
    int line; /* 0: names, 1: types, then rows */
    int ncols;
    int kind[32];
};

static int column_kind(const char *type, size_t len)
{
    if (len > 9 && strncmp(type, "Nullable(", 9) == 0) type += 9, len -= 9;
    if ((len >= 3 && strncmp(type, "Int", 3) == 0) || (len >= 4 && strncmp(type, "UInt", 4) == 0))
        return COL_INT;
    if ((len >= 5 && strncmp(type, "Float", 5) == 0) ||
        (len >= 7 && strncmp(type, "Decimal", 7) == 0))
        return COL_REAL;
    return COL_TEXT;
}

static int on_result_line(void *arg, char *line, size_t len)
{
    struct result *r = arg;
    struct ft_cell cells[32];
    int n = 0;
    char *p = line, *end = line + len;
    while (n < 32) {
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *stop = tab ? tab : end;
        size_t flen = (size_t)(stop - p);
        if (r->line == 1) {
            r->kind[n] = column_kind(p, flen);
        } else if (r->line > 1) {
            if (flen == 2 && p[0] == '\\' && p[1] == 'N') {
                cells[n] = (struct ft_cell){.type = FT_CELL_NULL};
            } else {
                flen = unescape(p, flen);
                char save = p[flen];
                p[flen] = '\0';
                if (r->kind[n] == COL_INT)
                    cells[n] = FT_CELL_I(strtoll(p, NULL, 10));
                else if (r->kind[n] == COL_REAL)
                    cells[n] = FT_CELL_D(strtod(p, NULL));
                else
                    cells[n] = FT_CELL_S(((struct ft_str){p, flen}));
                p[flen] = save;
            }
        }
        n++;
        if (!tab) break;
        p = tab + 1;
    }
    if (r->line++ == 0) r->ncols = n;
    if (r->line <= 2) return 0;
    return r->row(r->arg, cells, (size_t)(n < r->ncols ? n : r->ncols));
}

/* --- the store --- */

/* The first column of a one-row answer, as an int. */
static int version_line(void *arg, char *line, size_t len)
{
    (void)len;
    *(int *)arg = atoi(line);
    return 0;
}

static int schema_version(struct ch_store *s, int *version)
{
    *version = 0;
    static const char sql[] = "SELECT max(version) FROM ft_schema";
    return post(s, NULL, sql, sizeof(sql) - 1, version_line, version, "reading the schema version");
}

/* Creates the schema when missing (every statement is IF NOT EXISTS: receivers starting
 * together may run them at once). */
static int migrate(struct ch_store *s)
{
    for (size_t i = 0; i < NSCHEMA; i++) {
        int rc = exec(s, schema[i], "creating the schema");
        if (rc) return rc;
    }
    int version;
    int rc = schema_version(s, &version);
    if (rc) return rc;
    if (version > SCHEMA_VERSION)
        return failf(s, "the database has schema version %d, newer than this flagtrail's %d",
                     version, SCHEMA_VERSION);
    if (version == SCHEMA_VERSION) return FT_OK;
    char sql[64];
    snprintf(sql, sizeof(sql), "INSERT INTO ft_schema VALUES (%d)", SCHEMA_VERSION);
    return exec(s, sql, "recording the schema version");
}

static void ch_close(ft_store *st)
{
    struct ch_store *s = (struct ch_store *)st;
    if (s->curl) curl_easy_cleanup(s->curl);
    free(s->server_url);
    free(s->base_url);
    free(s->database);
    for (int t = 0; t < FT_TSV_TABLES; t++)
        ft_buf_free(&s->rows[t]);
    free(s);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

const struct ft_store_ops ft__store_clickhouse; /* defined at the end */

/* "[USER@]HOST:PORT/DB" into the base URL and credentials. */
static int parse_location(struct ch_store *s, const char *location, char *user, size_t ulen)
{
    const char *at = strchr(location, '@');
    const char *host = at ? at + 1 : location;
    snprintf(user, ulen, "%.*s", at ? (int)(at - location) : 0, location);
    const char *slash = strchr(host, '/');
    if (!slash || slash == host || !slash[1] || strpbrk(slash + 1, "/?#&"))
        return failf(s, "expected clickhouse://[USER@]HOST:PORT/DB");
    s->database = ft_xstrdup(slash + 1);
    struct ft_buf url;
    ft_buf_init(&url, 0);
    char *db = curl_easy_escape(s->curl, s->database, 0);
    ft_buf_printf(&url, "http://%.*s/?default_format=TabSeparated", (int)(slash - host), host);
    s->server_url = ft_xstrdup(url.data);
    ft_buf_printf(&url, "&database=%s", db);
    curl_free(db);
    s->base_url = ft_xstrdup(url.data);
    ft_buf_free(&url);
    return FT_OK;
}

static int database_exists(struct ch_store *s, bool *exists)
{
    struct ft_buf sql;
    ft_buf_init(&sql, 0);
    ft_buf_append_str(&sql, "SELECT count() FROM system.tables WHERE database = ");
    quote(&sql, ft_str_c(s->database));
    ft_buf_append_str(&sql, " AND name = 'ft_schema'");
    int n = 0;
    int rc = post_to(s, s->server_url, NULL, sql.data, sql.len, version_line, &n,
                     "looking for the schema");
    ft_buf_free(&sql);
    *exists = n > 0;
    return rc;
}

static int ch_open(const char *location, unsigned flags, ft_store **out, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    struct ch_store *s = ft_xcalloc(1, sizeof(*s));
    s->base.ops = &ft__store_clickhouse;
    for (int t = 0; t < FT_TSV_TABLES; t++)
        ft_buf_init(&s->rows[t], 0);
    s->curl = curl_easy_init();
    char user[128];
    int rc = s->curl ? parse_location(s, location, user, sizeof(user))
                     : failf(s, "cannot start libcurl");
    if (rc == FT_OK) {
        curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  /* a stalled server, not a */
        curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_TIME, 120L); /* long query, fails */
        curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
        const char *password = getenv("FLAGTRAIL_CLICKHOUSE_PASSWORD");
        if (user[0]) curl_easy_setopt(s->curl, CURLOPT_USERNAME, user);
        if (password) curl_easy_setopt(s->curl, CURLOPT_PASSWORD, password);
        bool exists = true;
        if (flags & FT_STORE_EXISTING) rc = database_exists(s, &exists);
        if (rc == FT_OK && !exists) {
            snprintf(s->err, sizeof(s->err), "no warehouse in database %s", s->database);
            rc = FT_ENOENT;
        } else if (rc == FT_OK) {
            struct ft_buf sql;
            ft_buf_init(&sql, 0);
            ft_buf_printf(&sql, "CREATE DATABASE IF NOT EXISTS `%s`", s->database);
            rc = strchr(s->database, '`') ? failf(s, "a database name without backquotes")
                                          : post_to(s, s->server_url, NULL, sql.data, sql.len, NULL,
                                                    NULL, "creating the database");
            ft_buf_free(&sql);
            if (rc == FT_OK) rc = migrate(s);
        }
    }
    if (rc) {
        snprintf(err, errlen, "clickhouse: %s", s->err);
        ch_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return FT_OK;
}

static int insert(struct ch_store *s, const char *table, const char *columns,
                  const struct ft_buf *rows)
{
    if (rows->len == 0) return FT_OK;
    char sql[1024];
    snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) FORMAT TabSeparated", table, columns);
    return post(s, sql, rows->data, rows->len, NULL, NULL, "inserting rows");
}

static int ch_write(ft_store *st, const struct ft_store_batch *b)
{
    struct ch_store *s = (struct ch_store *)st;
    ft__tsv_batch(b, &tsv_style, s->rows);
    int rc = FT_OK;
    for (int t = 0; t < FT_TSV_TABLES && rc == FT_OK; t++)
        rc = insert(s, ft__tsv_table[t], ft__tsv_columns[t], &s->rows[t]);
    if (rc || b->keep_checkpoint) return rc;
    struct ft_buf row;
    ft_buf_init(&row, 0);
    ft__tsv_str(&row, ft_str_c(b->source));
    ft_buf_printf(&row, "\t%llu\n", (unsigned long long)b->checkpoint);
    rc = insert(s, "ft_checkpoint", "source, lsn", &row);
    ft_buf_free(&row);
    return rc;
}

static int checkpoint_line(void *arg, char *line, size_t len)
{
    (void)len;
    *(uint64_t *)arg = strtoull(line, NULL, 10);
    return 0;
}

static int ch_checkpoint(ft_store *st, const char *source, uint64_t *lsn)
{
    struct ch_store *s = (struct ch_store *)st;
    struct ft_buf sql;
    ft_buf_init(&sql, 0);
    ft_buf_append_str(&sql, "SELECT max(lsn) FROM ft_checkpoint WHERE source = ");
    quote(&sql, ft_str_c(source));
    *lsn = 0;
    int rc = post(s, NULL, sql.data, sql.len, checkpoint_line, lsn, "reading the checkpoint");
    ft_buf_free(&sql);
    return rc;
}

static int ch_ping(ft_store *st)
{
    return exec((struct ch_store *)st, "SELECT 1 FROM ft_checkpoint LIMIT 1",
                "checking the database");
}

static int ch_query(ft_store *st, const char *sql, const struct ft_cell *params, size_t nparams,
                    ft_store_row_fn row, void *arg)
{
    struct ch_store *s = (struct ch_store *)st;
    struct ft_buf text;
    ft_buf_init(&text, 0);
    inline_params(sql, params, nparams, &text);
    ft_buf_append_str(&text, " FORMAT TabSeparatedWithNamesAndTypes");
    struct result r = {.row = row, .arg = arg};
    int rc = post(s, NULL, text.data, text.len, on_result_line, &r, "running a query");
    ft_buf_free(&text);
    return rc;
}

static const char *ch_errmsg(ft_store *st)
{
    return ((struct ch_store *)st)->err;
}

const struct ft_store_ops ft__store_clickhouse = {
    .scheme = "clickhouse",
    .open = ch_open,
    .checkpoint = ch_checkpoint,
    .write = ch_write,
    .ping = ch_ping,
    .query = ch_query,
    .errmsg = ch_errmsg,
    .close = ch_close,
};
