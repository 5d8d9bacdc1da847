/*
 * The identity store in SQLite (src/serve/identities_int.h): one file, WAL, synchronous=NORMAL
 * (a power cut may lose the last trait updates, never the file), prepared statements.
 */
#include "serve/identities_int.h"
#include "flagtrail/error.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] = "PRAGMA journal_mode = WAL;"
                             "PRAGMA synchronous = NORMAL;"
                             /* checkpoints are run by lite_checkpoint, outside the lock */
                             "PRAGMA wal_autocheckpoint = 0;"
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

enum {
    Q_LOAD,
    Q_CREATE,
    Q_INSERT,
    Q_UPDATE,
    Q_DELETE,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_UNDO,
    Q_COUNT
};

static const char *const sql[Q_COUNT] = {
    /* one statement for the identity and its traits (in the unique index's order: sorted by id
     * here, cheaper than SQLite's sorter); an identity without traits is one row of NULLs */
    [Q_LOAD] = "SELECT i.id, t.id, t.trait_key, t.value_type, t.value FROM identities i"
               " LEFT JOIN traits t ON t.identity_id = i.id"
               " WHERE i.environment = ? AND i.identifier = ?",
    [Q_CREATE] = "INSERT INTO identities (environment, identifier, created_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (environment, identifier) DO NOTHING RETURNING id",
    /* the id comes from lite->next_trait_id, never from SQLite (see there) */
    [Q_INSERT] = "INSERT INTO traits (id, identity_id, trait_key, value_type, value)"
                 " VALUES (?, ?, ?, ?, ?) ON CONFLICT (identity_id, trait_key) DO UPDATE"
                 " SET value_type = excluded.value_type, value = excluded.value RETURNING id",
    [Q_UPDATE] = "UPDATE traits SET value_type = ?, value = ? WHERE id = ?",
    [Q_DELETE] = "DELETE FROM traits WHERE id = ?",
    /* the write lock from the start: a transaction stays open for the commit interval, and a
     * deferred one would fail with SQLITE_BUSY_SNAPSHOT if another process wrote meanwhile */
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT call",
    [Q_RELEASE] = "RELEASE call",
    [Q_UNDO] = "ROLLBACK TO call",
};

struct lite {
    struct ft_idb base;
    sqlite3 *db;
    sqlite3 *ckpt; /* a second connection, for checkpoints only */
    /* The next trait's id. SQLite would give max(id) + 1, and after a transaction is lost
     * (its calls already answered, their new trait ids published in webhooks) the same ids
     * would go to other traits; this counter never goes back. serve is the file's only
     * writer while it runs. */
    int64_t next_trait_id;
    sqlite3_stmt *q[Q_COUNT];
};

static int fail(struct lite *l, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "identity store: %s: %s", what, sqlite3_errmsg(l->db));
    return FT_ESTORE;
}

static int done(struct lite *l, int which, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(l->q[which]);
    sqlite3_reset(l->q[which]);
    return rc == SQLITE_DONE ? FT_OK : fail(l, what, err, errlen);
}

static void bind_text(sqlite3_stmt *q, int i, struct ft_str s)
{
    sqlite3_bind_text64(q, i, s.ptr ? s.ptr : "", s.len, SQLITE_STATIC, SQLITE_UTF8);
}

static int lite_begin(struct ft_idb *db, char *err, size_t errlen)
{
    return done((struct lite *)db, Q_BEGIN, "starting a transaction", err, errlen);
}

static int lite_commit(struct ft_idb *db, char *err, size_t errlen)
{
    return done((struct lite *)db, Q_COMMIT, "committing", err, errlen);
}

static void lite_rollback(struct ft_idb *db)
{
    struct lite *l = (struct lite *)db;
    if (sqlite3_get_autocommit(l->db)) return;
    sqlite3_step(l->q[Q_ROLLBACK]);
    sqlite3_reset(l->q[Q_ROLLBACK]);
}

static bool lite_broken(struct ft_idb *db)
{
    return sqlite3_get_autocommit(((struct lite *)db)->db) != 0;
}

static int lite_savepoint(struct ft_idb *db, char *err, size_t errlen)
{
    return done((struct lite *)db, Q_SAVEPOINT, "starting a call", err, errlen);
}

static int lite_release(struct ft_idb *db, char *err, size_t errlen)
{
    return done((struct lite *)db, Q_RELEASE, "ending a call", err, errlen);
}

static int lite_undo(struct ft_idb *db, char *err, size_t errlen)
{
    int rc = done((struct lite *)db, Q_UNDO, "undoing a call", err, errlen);
    return rc ? rc : lite_release(db, err, errlen);
}

/* Steps a statement that returns at most one id: *id is 0 without a row. */
static int step_id(struct lite *l, int which, int64_t *id, const char *what, char *err,
                   size_t errlen)
{
    sqlite3_stmt *q = l->q[which];
    int rc = sqlite3_step(q);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (rc == SQLITE_ROW) rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? FT_OK : fail(l, what, err, errlen);
}

static struct ft_str column_str(sqlite3_stmt *q, int col, struct ft_arena *arena)
{
    const char *text = (const char *)sqlite3_column_text(q, col);
    size_t len = (size_t)sqlite3_column_bytes(q, col);
    return (struct ft_str){ft_arena_strndup(arena, text ? text : "", len), len};
}

static void sort_by_id(struct ft_trait *t, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* an identity has few traits */
        struct ft_trait cur = t[i];
        size_t k = i;
        for (; k > 0 && t[k - 1].id.value > cur.id.value; k--)
            t[k] = t[k - 1];
        t[k] = cur;
    }
}

static int lite_load(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                     struct ft_arena *arena, size_t extra, int64_t *id, struct ft_trait **out,
                     size_t *n, char *err, size_t errlen)
{
    struct lite *l = (struct lite *)db;
    size_t cap = 16 + extra, count = 0;
    struct ft_trait *t = ft_arena_alloc(arena, sizeof(*t) * cap);
    sqlite3_stmt *q = l->q[Q_LOAD];
    bind_text(q, 1, env);
    bind_text(q, 2, identifier);
    *id = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        if (sqlite3_column_type(q, 1) == SQLITE_NULL) continue; /* no traits */
        if (count + extra == cap) {
            struct ft_trait *bigger = ft_arena_alloc(arena, sizeof(*t) * cap * 2);
            memcpy(bigger, t, sizeof(*t) * count);
            t = bigger;
            cap *= 2;
        }
        t[count++] = (struct ft_trait){
            .id = {.null = false, .value = sqlite3_column_int64(q, 1)},
            .key = column_str(q, 2, arena),
            .value = {ft__idb_type_named((const char *)sqlite3_column_text(q, 3)),
                      column_str(q, 4, arena)},
            .has_transient = true,
            .transient = false,
        };
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) return fail(l, "reading an identity", err, errlen);
    sort_by_id(t, count);
    *out = t;
    *n = count;
    return FT_OK;
}

static int lite_create(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                       int64_t created_at, int64_t *id, char *err, size_t errlen)
{
    struct lite *l = (struct lite *)db;
    sqlite3_stmt *q = l->q[Q_CREATE];
    bind_text(q, 1, env);
    bind_text(q, 2, identifier);
    sqlite3_bind_int64(q, 3, created_at);
    return step_id(l, Q_CREATE, id, "creating an identity", err, errlen);
}

static int lite_insert(struct ft_idb *db, int64_t id, struct ft_str key,
                       const struct ft_value *value, int64_t *trait_id, char *err, size_t errlen)
{
    struct lite *l = (struct lite *)db;
    sqlite3_stmt *q = l->q[Q_INSERT];
    sqlite3_bind_int64(q, 1, l->next_trait_id++);
    sqlite3_bind_int64(q, 2, id);
    bind_text(q, 3, key);
    sqlite3_bind_text(q, 4, ft_value_type_name(value->type), -1, SQLITE_STATIC);
    bind_text(q, 5, value->text);
    return step_id(l, Q_INSERT, trait_id, "storing a trait", err, errlen);
}

static int lite_update(struct ft_idb *db, int64_t trait_id, const struct ft_value *value,
                       bool *found, char *err, size_t errlen)
{
    struct lite *l = (struct lite *)db;
    sqlite3_stmt *q = l->q[Q_UPDATE];
    sqlite3_bind_text(q, 1, ft_value_type_name(value->type), -1, SQLITE_STATIC);
    bind_text(q, 2, value->text);
    sqlite3_bind_int64(q, 3, trait_id);
    int rc = done(l, Q_UPDATE, "storing a trait", err, errlen);
    *found = sqlite3_changes(l->db) == 1;
    return rc;
}

static int lite_remove(struct ft_idb *db, int64_t trait_id, char *err, size_t errlen)
{
    struct lite *l = (struct lite *)db;
    sqlite3_bind_int64(l->q[Q_DELETE], 1, trait_id);
    return done(l, Q_DELETE, "deleting a trait", err, errlen);
}

/* Copies committed WAL frames into the database on the second connection, without waiting for
 * the writer (PASSIVE): the identity calls' connection never pays for it, and the WAL restarts
 * from its beginning once everything in it is copied. */
static void lite_checkpoint(struct ft_idb *db)
{
    struct lite *l = (struct lite *)db;
    sqlite3_wal_checkpoint_v2(l->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void lite_close(struct ft_idb *db)
{
    struct lite *l = (struct lite *)db;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(l->q[i]);
    sqlite3_close(l->ckpt);
    sqlite3_close(l->db);
    free(l);
}

static const struct ft_idb_ops lite_ops = {
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .savepoint = lite_savepoint,
    .release = lite_release,
    .undo = lite_undo,
    .broken = lite_broken,
    .load = lite_load,
    .create = lite_create,
    .insert = lite_insert,
    .update = lite_update,
    .remove = lite_remove,
    .checkpoint = lite_checkpoint,
    .close = lite_close,
};

int ft__idb_sqlite_open(const char *path, struct ft_idb **out, char *err, size_t errlen)
{
    struct lite *l = ft_xcalloc(1, sizeof(*l));
    l->base.ops = &lite_ops;
    if (sqlite3_open_v2(path, &l->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(l->db, 5000); /* another process reading the file */
    if (sqlite3_exec(l->db, schema, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(l->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->q[i], NULL) !=
            SQLITE_OK)
            goto fail;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(l->db, "SELECT coalesce(max(id), 0) + 1 FROM traits", -1, &q, NULL) !=
        SQLITE_OK)
        goto fail;
    l->next_trait_id = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 1;
    sqlite3_finalize(q);
    /* the second connection reads once, so that it knows the file is in WAL mode */
    if (sqlite3_open_v2(path, &l->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(l->ckpt, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "identity store %s: %s", path,
                 l->ckpt ? sqlite3_errmsg(l->ckpt) : "cannot open");
        lite_close(&l->base);
        return FT_ESTORE;
    }
    *out = &l->base;
    return FT_OK;
fail:
    snprintf(err, errlen, "identity store %s: %s", path,
             l->db ? sqlite3_errmsg(l->db) : "cannot open");
    lite_close(&l->base);
    return FT_ESTORE;
}
