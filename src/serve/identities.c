/*
 * The identity store (src/serve/identities.h).
 *
 * One connection behind a mutex, each call one transaction. Measured with bench/serve, this
 * beat a connection per HTTP thread by far: with one connection no thread sleeps in SQLite's
 * busy handler waiting for another's write lock (p99 fell from 77 ms), and SQLite's file locks
 * are taken once per call instead of once per statement.
 */
#include "serve/identities.h"
#include "base/clock.h"
#include "flagtrail/error.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "CREATE TABLE IF NOT EXISTS identities ("
    "  id INTEGER PRIMARY KEY,"
    "  environment TEXT NOT NULL,"
    "  identifier TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (environment, identifier)"
    ");"
    "CREATE TABLE IF NOT EXISTS traits ("
    "  id INTEGER PRIMARY KEY,"
    "  identity_id INTEGER NOT NULL,"
    "  trait_key TEXT NOT NULL,"
    "  value_type TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  UNIQUE (identity_id, trait_key)"
    ");";

enum { Q_FIND, Q_CREATE, Q_TRAITS, Q_UPSERT, Q_DELETE, Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_COUNT };


static const char *const sql[Q_COUNT] = {
    [Q_FIND] = "SELECT id FROM identities WHERE environment = ? AND identifier = ?",
    [Q_CREATE] = "INSERT INTO identities (environment, identifier, created_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (environment, identifier) DO NOTHING",
    [Q_TRAITS] = "SELECT id, trait_key, value_type, value FROM traits WHERE identity_id = ?"
                 " ORDER BY id",
    [Q_UPSERT] = "INSERT INTO traits (identity_id, trait_key, value_type, value)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (identity_id, trait_key) DO UPDATE"
                 " SET value_type = excluded.value_type, value = excluded.value",
    [Q_DELETE] = "DELETE FROM traits WHERE identity_id = ? AND trait_key = ?",
    [Q_BEGIN] = "BEGIN",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
};

struct ft_identities {
    char *path;
    pthread_mutex_t lock; /* the connection is used under it */
    struct conn conn;
};

static void conn_close(struct conn *c)
{
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(c->q[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof(*c));
}

static int conn_open(ft_identities *s, struct conn *c, char *err, size_t errlen)
{
    if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                             SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(c->db, 5000); /* another process reading the file */
    if (sqlite3_exec(c->db, schema, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->q[i], NULL) !=
            SQLITE_OK)
            goto fail;
    return FT_OK;
fail:
    snprintf(err, errlen, "identity store %s: %s", s->path,
             c->db ? sqlite3_errmsg(c->db) : "cannot open");
    conn_close(c);
    return FT_ESTORE;
}

int ft_identities_open(const char *path, ft_identities **out, char *err, size_t errlen)
{
    ft_identities *s = ft_xcalloc(1, sizeof(*s));
    s->path = ft_xstrdup(path);
    pthread_mutex_init(&s->lock, NULL);
    int rc = conn_open(s, &s->conn, err, errlen);
    if (rc) {
        ft_identities_close(s);
        return rc;
    }
    *out = s;
    return FT_OK;
}

void ft_identities_close(ft_identities *s)
{
    if (!s) return;
    conn_close(&s->conn);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

/* --- resolving --- */

static int fail(struct conn *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "identity store: %s: %s", what, sqlite3_errmsg(c->db));
    return FT_ESTORE;
}

static int done(struct conn *c, sqlite3_stmt *q, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? FT_OK : fail(c, what, err, errlen);
}

static void bind_text(sqlite3_stmt *q, int i, struct ft_str s)
{
    sqlite3_bind_text64(q, i, s.ptr ? s.ptr : "", s.len, SQLITE_STATIC, SQLITE_UTF8);
}

static enum ft_value_type type_named(const char *t)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string"};
    for (int i = 0; i < 5; i++)
        if (strcmp(t, names[i]) == 0) return (enum ft_value_type)i;
    return FT_VALUE_STRING;
}

static int find_identity(struct conn *c, struct ft_str env, struct ft_str identifier, bool create,
                         int64_t *id, char *err, size_t errlen)
{
    *id = 0;
    for (int pass = 0; pass < 2; pass++) {
        sqlite3_stmt *q = c->q[Q_FIND];
        bind_text(q, 1, env);
        bind_text(q, 2, identifier);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) *id = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(c, "finding an identity", err, errlen);
        if (*id || !create || pass) break;
        q = c->q[Q_CREATE];
        bind_text(q, 1, env);
        bind_text(q, 2, identifier);
        sqlite3_bind_int64(q, 3, ft_clock_now_us());
        if ((rc = done(c, q, "creating an identity", err, errlen))) return rc;
    }
    return FT_OK;
}

static int load_traits(struct conn *c, int64_t id, struct ft_arena *arena, struct ft_trait **out,
                       size_t *n, size_t extra, char *err, size_t errlen)
{
    size_t cap = 16 + extra, count = 0;
    struct ft_trait *t = ft_arena_alloc(arena, sizeof(*t) * cap);
    sqlite3_stmt *q = c->q[Q_TRAITS];
    sqlite3_bind_int64(q, 1, id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count + extra == cap) {
            struct ft_trait *bigger = ft_arena_alloc(arena, sizeof(*t) * cap * 2);
            memcpy(bigger, t, sizeof(*t) * count);
            t = bigger;
            cap *= 2;
        }
        const char *key = (const char *)sqlite3_column_text(q, 1);
        const char *val = (const char *)sqlite3_column_text(q, 3);
        size_t klen = (size_t)sqlite3_column_bytes(q, 1), vlen = (size_t)sqlite3_column_bytes(q, 3);
        t[count++] = (struct ft_trait){
            .id = {.null = false, .value = sqlite3_column_int64(q, 0)},
            .key = {ft_arena_strndup(arena, key ? key : "", klen), klen},
            .value = {type_named((const char *)sqlite3_column_text(q, 2)),
                      {ft_arena_strndup(arena, val ? val : "", vlen), vlen}},
            .has_transient = true,
            .transient = false,
        };
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) return fail(c, "reading traits", err, errlen);
    *out = t;
    *n = count;
    return FT_OK;
}

static bool same_value(const struct ft_value *a, const struct ft_value *b)
{
    return a->type == b->type && ft_str_eq(a->text, b->text);
}

/* Stores the non-transient changes that alter something, inside the caller's transaction. */
static int store_changes(struct conn *c, int64_t id, const struct ft_trait_change *ch, size_t n,
                         const struct ft_trait *current, size_t ncur, char *err, size_t errlen)
{
    int rc = FT_OK;
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        if (ch[i].transient) continue;
        const struct ft_trait *cur = NULL;
        for (size_t k = 0; k < ncur && !cur; k++)
            if (ft_str_eq(current[k].key, ch[i].key)) cur = &current[k];
        bool remove = ch[i].value.type == FT_VALUE_NULL;
        if ((remove && !cur) || (!remove && cur && same_value(&cur->value, &ch[i].value)))
            continue; /* nothing to write */
        sqlite3_stmt *q = c->q[remove ? Q_DELETE : Q_UPSERT];
        sqlite3_bind_int64(q, 1, id);
        bind_text(q, 2, ch[i].key);
        if (!remove) {
            sqlite3_bind_text(q, 3, ft_value_type_name(ch[i].value.type), -1, SQLITE_STATIC);
            bind_text(q, 4, ch[i].value.text);
        }
        rc = done(c, q, remove ? "deleting a trait" : "storing a trait", err, errlen);
    }
    return rc;
}

/* Adds this call's transient traits (replacing stored ones of the same key). */
static void add_transient(const struct ft_trait_change *ch, size_t n, bool all, struct ft_trait *t,
                          size_t *count)
{
    for (size_t i = 0; i < n; i++) {
        if (!(all || ch[i].transient) || ch[i].value.type == FT_VALUE_NULL) continue;
        size_t k = 0;
        while (k < *count && !ft_str_eq(t[k].key, ch[i].key))
            k++;
        if (k == *count) (*count)++;
        t[k] = (struct ft_trait){.id = {.null = true}, .key = ch[i].key, .value = ch[i].value,
                                 .has_transient = true, .transient = true};
    }
}

/* The persisted part of ft_identities_resolve, in the caller's transaction. */
static int resolve_stored(struct conn *c, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          struct ft_arena *arena, struct ft_identity_state *out, char *err,
                          size_t errlen)
{
    int rc;
    if ((rc = find_identity(c, environment, identifier, true, &out->id, err, errlen))) return rc;
    struct ft_trait *cur;
    size_t ncur;
    if ((rc = load_traits(c, out->id, arena, &cur, &ncur, nchanges, err, errlen))) return rc;
    bool changed = false;
    for (size_t i = 0; i < nchanges && !changed; i++) {
        if (changes[i].transient) continue;
        const struct ft_trait *t = NULL;
        for (size_t k = 0; k < ncur && !t; k++)
            if (ft_str_eq(cur[k].key, changes[i].key)) t = &cur[k];
        changed = changes[i].value.type == FT_VALUE_NULL ? t != NULL
                                                          : !t || !same_value(&t->value, &changes[i].value);
    }
    if (changed) {
        if ((rc = store_changes(c, out->id, changes, nchanges, cur, ncur, err, errlen))) return rc;
        if ((rc = load_traits(c, out->id, arena, &cur, &ncur, nchanges, err, errlen))) return rc;
    }
    add_transient(changes, nchanges, false, cur, &ncur);
    out->traits = cur;
    out->ntraits = ncur;
    return FT_OK;
}

int ft_identities_resolve(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          bool transient, const struct ft_trait_change *changes, size_t nchanges,
                          struct ft_arena *arena, struct ft_identity_state *out, char *err,
                          size_t errlen)
{
    *out = (struct ft_identity_state){.persisted = !transient};
    if (transient) {
        out->traits = ft_arena_alloc(arena, sizeof(*out->traits) * (nchanges ? nchanges : 1));
        add_transient(changes, nchanges, true, out->traits, &out->ntraits);
        return FT_OK;
    }
    struct conn *c = &s->conn;
    pthread_mutex_lock(&s->lock);
    int rc = done(c, c->q[Q_BEGIN], "starting a transaction", err, errlen);
    if (rc == FT_OK) rc = resolve_stored(c, environment, identifier, changes, nchanges, arena, out,
                                         err, errlen);
    if (rc == FT_OK) rc = done(c, c->q[Q_COMMIT], "committing", err, errlen);
    if (rc != FT_OK && !sqlite3_get_autocommit(c->db)) {
        sqlite3_step(c->q[Q_ROLLBACK]);
        sqlite3_reset(c->q[Q_ROLLBACK]);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
