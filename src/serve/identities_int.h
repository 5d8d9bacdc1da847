/*
 * The identity store's backends (src/serve/identities.h): SQLite (identities_sqlite.c) and
 * PostgreSQL (identities_pg.c) behind the few operations the shared logic in identities.c
 * needs. A backend handle is used under the store's mutex, one call at a time.
 */
#ifndef FT_SERVE_IDENTITIES_INT_H
#define FT_SERVE_IDENTITIES_INT_H

#include "serve/identities.h"

struct ft_idb;

struct ft_idb_ops {
    int (*begin)(struct ft_idb *db, char *err, size_t errlen);
    int (*commit)(struct ft_idb *db, char *err, size_t errlen);
    void (*rollback)(struct ft_idb *db);
    /* calls sharing a transaction (not for a shared backend, whose calls commit alone) */
    int (*savepoint)(struct ft_idb *db, char *err, size_t errlen); /* a call begins */
    int (*release)(struct ft_idb *db, char *err, size_t errlen);   /* it succeeded */
    int (*undo)(struct ft_idb *db, char *err, size_t errlen);      /* it failed: undone */
    bool (*broken)(struct ft_idb *db); /* a failure ended the open transaction */
    /* The identity's id (0 when there is none) and its stored traits by id, into `arena`, with
     * room for `extra` more. */
    int (*load)(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                struct ft_arena *arena, size_t extra, int64_t *id, struct ft_trait **traits,
                size_t *n, char *err, size_t errlen);
    /* Creates it; *id is 0 when it exists already (another serve made it meanwhile). */
    int (*create)(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                  int64_t created_at_us, int64_t *id, char *err, size_t errlen);
    /* Stores a key the identity has no trait for (or updates it if another serve just added
     * it); *trait_id is the trait's id. */
    int (*insert)(struct ft_idb *db, int64_t id, struct ft_str key, const struct ft_value *value,
                  int64_t *trait_id, char *err, size_t errlen);
    /* Sets a stored trait's value; *found is false when the trait is gone (another serve). */
    int (*update)(struct ft_idb *db, int64_t trait_id, const struct ft_value *value, bool *found,
                  char *err, size_t errlen);
    int (*remove)(struct ft_idb *db, int64_t trait_id, char *err, size_t errlen);
    /* Optional: moves committed changes into the main file (SQLite's WAL checkpoint). Called
     * without the store's lock, from one thread at a time, while calls go on. */
    void (*checkpoint)(struct ft_idb *db);
    void (*close)(struct ft_idb *db);
};

struct ft_idb {
    const struct ft_idb_ops *ops;
    bool shared; /* other processes write it too: commit each call, hold no rows longer */
};

int ft__idb_sqlite_open(const char *path, struct ft_idb **out, char *err, size_t errlen);
int ft__idb_pg_open(const char *url, struct ft_idb **out, char *err, size_t errlen);

/* "null", "bool", ... back to the type (unknown names read as strings). */
enum ft_value_type ft__idb_type_named(const char *name);

#endif
