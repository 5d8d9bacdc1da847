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
    /* The identity's id, or 0 when there is none. */
    int (*find)(struct ft_idb *db, struct ft_str env, struct ft_str identifier, int64_t *id,
                char *err, size_t errlen);
    /* Creates it unless it exists (another call or another serve may have). */
    int (*create)(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                  int64_t created_at_us, char *err, size_t errlen);
    /* The stored traits by id, into `arena`, with room for `extra` more. */
    int (*traits)(struct ft_idb *db, int64_t id, struct ft_arena *arena, struct ft_trait **out,
                  size_t *n, size_t extra, char *err, size_t errlen);
    /* Stores the trait (a key the identity has keeps its id); *trait_id is the trait's id. */
    int (*upsert)(struct ft_idb *db, int64_t id, struct ft_str key, const struct ft_value *value,
                  int64_t *trait_id, char *err, size_t errlen);
    int (*remove)(struct ft_idb *db, int64_t id, struct ft_str key, char *err, size_t errlen);
    void (*close)(struct ft_idb *db);
};

struct ft_idb {
    const struct ft_idb_ops *ops;
};

int ft__idb_sqlite_open(const char *path, struct ft_idb **out, char *err, size_t errlen);
int ft__idb_pg_open(const char *url, struct ft_idb **out, char *err, size_t errlen);

/* "null", "bool", ... back to the type (unknown names read as strings). */
enum ft_value_type ft__idb_type_named(const char *name);

#endif
