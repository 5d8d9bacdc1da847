/*
 * The identity store in PostgreSQL (src/serve/identities_int.h), so that several serve
 * instances share identities and traits: `serve --identities postgres://...`.
 *
 * Tables ft_serve_identities and ft_serve_traits (prefixed: the database may hold other
 * things, the warehouse among them), created under an advisory lock when missing. Statements
 * are prepared once per connection; a broken connection is reset on the next call, whose
 * answer is then a 503 while the database is away. Two instances creating one identity at
 * once both end with the same row (ON CONFLICT DO NOTHING, then read again).
 */
#include "serve/identities_int.h"
#include "flagtrail/error.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_LOCK 0x73657276 /* "serv" */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS ft_serve_identities ("
    "  id BIGSERIAL PRIMARY KEY, environment TEXT NOT NULL, identifier TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL, UNIQUE (environment, identifier));"
    "CREATE TABLE IF NOT EXISTS ft_serve_traits ("
    "  id BIGSERIAL PRIMARY KEY, identity_id BIGINT NOT NULL, trait_key TEXT NOT NULL,"
    "  value_type TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (identity_id, trait_key))";

enum { Q_LOAD, Q_CREATE, Q_INSERT, Q_UPDATE, Q_DELETE, Q_COUNT };

static const char *const names[Q_COUNT] = {"load", "create", "insert", "update", "delete"};
static const char *const sql[Q_COUNT] = {
    [Q_LOAD] = "SELECT i.id, t.id, t.trait_key, t.value_type, t.value FROM ft_serve_identities i"
               " LEFT JOIN ft_serve_traits t ON t.identity_id = i.id"
               " WHERE i.environment = $1 AND i.identifier = $2 ORDER BY t.id",
    [Q_CREATE] = "INSERT INTO ft_serve_identities (environment, identifier, created_at)"
                 " VALUES ($1, $2, $3) ON CONFLICT (environment, identifier) DO NOTHING"
                 " RETURNING id",
    [Q_INSERT] = "INSERT INTO ft_serve_traits (identity_id, trait_key, value_type, value)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT (identity_id, trait_key) DO UPDATE"
                 " SET value_type = excluded.value_type, value = excluded.value RETURNING id",
    [Q_UPDATE] = "UPDATE ft_serve_traits SET value_type = $1, value = $2 WHERE id = $3",
    [Q_DELETE] = "DELETE FROM ft_serve_traits WHERE id = $1",
};

struct pg {
    struct ft_idb base;
    PGconn *conn;
    bool prepared; /* the schema and statements are ready on this connection */
};

/* libpq's message on one line. */
static int fail(struct pg *p, const char *what, char *err, size_t errlen)
{
    char raw[512];
    snprintf(raw, sizeof(raw), "identity store: %s: %s", what, PQerrorMessage(p->conn));
    ft_one_line(raw, err, errlen);
    return FT_ESTORE;
}

static int exec(struct pg *p, const char *text, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(p->conn, text);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? FT_OK : fail(p, what, err, errlen);
}

/* Schema (under the lock) and prepared statements for a fresh connection. */
static int prepare(struct pg *p, char *err, size_t errlen)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "BEGIN; SELECT pg_advisory_xact_lock(%d)", SCHEMA_LOCK);
    int rc = exec(p, lock, "locking the schema", err, errlen);
    if (rc == FT_OK) rc = exec(p, schema, "creating the schema", err, errlen);
    if (rc == FT_OK) rc = exec(p, "COMMIT", "creating the schema", err, errlen);
    if (rc) {
        PQclear(PQexec(p->conn, "ROLLBACK"));
        return rc;
    }
    for (int i = 0; i < Q_COUNT && rc == FT_OK; i++) {
        PGresult *r = PQprepare(p->conn, names[i], sql[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = fail(p, "preparing", err, errlen);
        PQclear(r);
    }
    return rc;
}

/* A connection with its statements: re-made when broken, prepared again when a prepare failed
 * (a server still starting up, say). */
static int ensure_connected(struct pg *p, char *err, size_t errlen)
{
    if (PQstatus(p->conn) == CONNECTION_OK && p->prepared) return FT_OK;
    if (PQstatus(p->conn) != CONNECTION_OK) {
        PQreset(p->conn);
        if (PQstatus(p->conn) != CONNECTION_OK) return fail(p, "reconnecting", err, errlen);
    } else {
        PQclear(PQexec(p->conn, "DEALLOCATE ALL")); /* what a failed prepare left */
    }
    int rc = prepare(p, err, errlen);
    p->prepared = rc == FT_OK;
    return rc;
}

/* Runs a prepared statement; *out keeps its rows when not NULL. */
static int run(struct pg *p, int which, int n, const char *const *values, PGresult **out,
               const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecPrepared(p->conn, names[which], n, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = fail(p, what, err, errlen);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return FT_OK;
}

/* A string view as a NUL-terminated parameter, in `arena`. */
static const char *param(struct ft_arena *arena, struct ft_str s)
{
    return ft_arena_strndup(arena, s.ptr ? s.ptr : "", s.len);
}

static int pg_begin(struct ft_idb *db, char *err, size_t errlen)
{
    struct pg *p = (struct pg *)db;
    int rc = ensure_connected(p, err, errlen);
    return rc ? rc : exec(p, "BEGIN", "starting a transaction", err, errlen);
}

static int pg_commit(struct ft_idb *db, char *err, size_t errlen)
{
    return exec((struct pg *)db, "COMMIT", "committing", err, errlen);
}

static void pg_rollback(struct ft_idb *db)
{
    struct pg *p = (struct pg *)db;
    if (PQstatus(p->conn) == CONNECTION_OK) PQclear(PQexec(p->conn, "ROLLBACK"));
}

/* The first column of a one-row result as an id; 0 without a row. */
static int64_t first_id(PGresult *r)
{
    return PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
}

static struct ft_str value_str(PGresult *r, int row, int col, struct ft_arena *arena)
{
    size_t len = (size_t)PQgetlength(r, row, col);
    return (struct ft_str){ft_arena_strndup(arena, PQgetvalue(r, row, col), len), len};
}

static int pg_load(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                   struct ft_arena *arena, size_t extra, int64_t *id, struct ft_trait **out,
                   size_t *n, char *err, size_t errlen)
{
    const char *v[2] = {param(arena, env), param(arena, identifier)};
    PGresult *r;
    int rc = run((struct pg *)db, Q_LOAD, 2, v, &r, "reading an identity", err, errlen);
    if (rc) return rc;
    int rows = PQntuples(r);
    struct ft_trait *t = ft_arena_alloc(arena, sizeof(*t) * ((size_t)rows + extra + 1));
    size_t count = 0;
    *id = rows ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    for (int row = 0; row < rows; row++) {
        if (PQgetisnull(r, row, 1)) continue; /* an identity without traits */
        t[count++] = (struct ft_trait){
            .id = {.null = false, .value = strtoll(PQgetvalue(r, row, 1), NULL, 10)},
            .key = value_str(r, row, 2, arena),
            .value = {ft__idb_type_named(PQgetvalue(r, row, 3)), value_str(r, row, 4, arena)},
            .has_transient = true,
            .transient = false,
        };
    }
    PQclear(r);
    *out = t;
    *n = count;
    return FT_OK;
}

static int pg_create(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                     int64_t created_at, int64_t *id, char *err, size_t errlen)
{
    struct ft_arena a;
    ft_arena_init(&a, 0);
    char when[24];
    snprintf(when, sizeof(when), "%lld", (long long)created_at);
    const char *v[3] = {param(&a, env), param(&a, identifier), when};
    PGresult *r;
    int rc = run((struct pg *)db, Q_CREATE, 3, v, &r, "creating an identity", err, errlen);
    ft_arena_free(&a);
    if (rc) return rc;
    *id = first_id(r);
    PQclear(r);
    return FT_OK;
}

static int pg_insert(struct ft_idb *db, int64_t id, struct ft_str key, const struct ft_value *value,
                     int64_t *trait_id, char *err, size_t errlen)
{
    struct ft_arena a;
    ft_arena_init(&a, 0);
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    const char *v[4] = {idtext, param(&a, key), ft_value_type_name(value->type),
                        param(&a, value->text)};
    PGresult *r;
    int rc = run((struct pg *)db, Q_INSERT, 4, v, &r, "storing a trait", err, errlen);
    ft_arena_free(&a);
    if (rc) return rc;
    *trait_id = first_id(r);
    PQclear(r);
    return FT_OK;
}

static int pg_update(struct ft_idb *db, int64_t trait_id, const struct ft_value *value,
                     bool *found, char *err, size_t errlen)
{
    struct ft_arena a;
    ft_arena_init(&a, 0);
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)trait_id);
    const char *v[3] = {ft_value_type_name(value->type), param(&a, value->text), idtext};
    PGresult *r;
    int rc = run((struct pg *)db, Q_UPDATE, 3, v, &r, "storing a trait", err, errlen);
    ft_arena_free(&a);
    if (rc) return rc;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return FT_OK;
}

static int pg_remove(struct ft_idb *db, int64_t trait_id, char *err, size_t errlen)
{
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)trait_id);
    const char *v[1] = {idtext};
    return run((struct pg *)db, Q_DELETE, 1, v, NULL, "deleting a trait", err, errlen);
}

static void pg_close(struct ft_idb *db)
{
    struct pg *p = (struct pg *)db;
    PQfinish(p->conn);
    free(p);
}

static const struct ft_idb_ops pg_ops = {
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .load = pg_load,
    .create = pg_create,
    .insert = pg_insert,
    .update = pg_update,
    .remove = pg_remove,
    .close = pg_close,
};

/* The server's notices are not errors: not printed. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

int ft__idb_pg_open(const char *url, struct ft_idb **out, char *err, size_t errlen)
{
    struct pg *p = ft_xcalloc(1, sizeof(*p));
    p->base.ops = &pg_ops;
    p->base.shared = true; /* each call commits alone: no savepoints */
    /* a database that stops answering fails a call in seconds, not in the kernel's minutes,
     * and one that holds a statement (a lock another session keeps) cancels it after 2 s: a
     * call runs on an HTTP thread, whose other connections wait with it. The URL's own
     * settings, given after these, win. */
    const char *const keys[] = {"connect_timeout", "tcp_user_timeout", "options", "dbname", NULL};
    const char *const values[] = {"5", "10000", "-c statement_timeout=2000", url, NULL};
    p->conn = PQconnectdbParams(keys, values, 1);
    PQsetNoticeProcessor(p->conn, ignore_notice, NULL);
    int rc = PQstatus(p->conn) == CONNECTION_OK ? prepare(p, err, errlen)
                                                : fail(p, "connecting", err, errlen);
    p->prepared = rc == FT_OK;
    if (rc) {
        pg_close(&p->base);
        return rc;
    }
    *out = &p->base;
    return FT_OK;
}
