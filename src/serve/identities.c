/*
 * The identity store (src/serve/identities.h): Flagsmith's rules for identities and traits,
 * over a backend (identities_int.h).
 *
 * One connection behind a mutex, each call one transaction. Measured with bench/serve, this
 * beat a connection per HTTP thread by far: with one connection no thread sleeps in SQLite's
 * busy handler waiting for another's write lock (p99 fell from 77 ms), and SQLite's file locks
 * are taken once per call instead of once per statement.
 */
#include "serve/identities_int.h"
#include "base/clock.h"
#include "flagtrail/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ft_identities {
    pthread_mutex_t lock; /* the backend is used under it */
    struct ft_idb *db;
};

enum ft_value_type ft__idb_type_named(const char *t)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string"};
    for (int i = 0; i < 5; i++)
        if (strcmp(t, names[i]) == 0) return (enum ft_value_type)i;
    return FT_VALUE_STRING;
}

int ft_identities_open(const char *location, ft_identities **out, char *err, size_t errlen)
{
    struct ft_idb *db;
    int rc;
    if (strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0)
        rc = ft__idb_pg_open(location, &db, err, errlen);
    else
        rc = ft__idb_sqlite_open(strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location,
                                 &db, err, errlen);
    if (rc) return rc;
    ft_identities *s = ft_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->db = db;
    *out = s;
    return FT_OK;
}

void ft_identities_close(ft_identities *s)
{
    if (!s) return;
    s->db->ops->close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* --- resolving --- */

static int find_identity(struct ft_idb *db, struct ft_str env, struct ft_str identifier,
                         int64_t *id, char *err, size_t errlen)
{
    int rc = db->ops->find(db, env, identifier, id, err, errlen);
    if (rc || *id) return rc;
    if ((rc = db->ops->create(db, env, identifier, ft_clock_now_us(), err, errlen))) return rc;
    return db->ops->find(db, env, identifier, id, err, errlen);
}

static bool same_value(const struct ft_value *a, const struct ft_value *b)
{
    return a->type == b->type && ft_str_eq(a->text, b->text);
}

static const struct ft_trait *find_trait(const struct ft_trait *t, size_t n, struct ft_str key)
{
    for (size_t k = 0; k < n; k++)
        if (ft_str_eq(t[k].key, key)) return &t[k];
    return NULL;
}

/* Whether the stored (non-transient) change alters the traits. */
static bool alters(const struct ft_trait_change *ch, const struct ft_trait *cur, size_t ncur)
{
    if (ch->transient) return false;
    const struct ft_trait *t = find_trait(cur, ncur, ch->key);
    if (ch->value.type == FT_VALUE_NULL) return t != NULL;
    return !t || !same_value(&t->value, &ch->value);
}

/* Stores the changes that alter something, inside the caller's transaction. */
static int store_changes(struct ft_idb *db, int64_t id, const struct ft_trait_change *ch, size_t n,
                         const struct ft_trait *cur, size_t ncur, char *err, size_t errlen)
{
    int rc = FT_OK;
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        if (!alters(&ch[i], cur, ncur)) continue;
        rc = ch[i].value.type == FT_VALUE_NULL
                 ? db->ops->remove(db, id, ch[i].key, err, errlen)
                 : db->ops->upsert(db, id, ch[i].key, &ch[i].value, err, errlen);
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
        t[k] = (struct ft_trait){.id = {.null = true},
                                 .key = ch[i].key,
                                 .value = ch[i].value,
                                 .has_transient = true,
                                 .transient = true};
    }
}

/* The persisted part of ft_identities_resolve, in the caller's transaction. */
static int resolve_stored(struct ft_idb *db, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          struct ft_arena *arena, struct ft_identity_state *out, char *err,
                          size_t errlen)
{
    int rc;
    if ((rc = find_identity(db, environment, identifier, &out->id, err, errlen))) return rc;
    struct ft_trait *cur;
    size_t ncur;
    if ((rc = db->ops->traits(db, out->id, arena, &cur, &ncur, nchanges, err, errlen))) return rc;
    bool changed = false;
    for (size_t i = 0; i < nchanges && !changed; i++)
        changed = alters(&changes[i], cur, ncur);
    if (changed) {
        if ((rc = store_changes(db, out->id, changes, nchanges, cur, ncur, err, errlen))) return rc;
        if ((rc = db->ops->traits(db, out->id, arena, &cur, &ncur, nchanges, err, errlen)))
            return rc;
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
    struct ft_idb *db = s->db;
    pthread_mutex_lock(&s->lock);
    int rc = db->ops->begin(db, err, errlen);
    if (rc == FT_OK)
        rc =
            resolve_stored(db, environment, identifier, changes, nchanges, arena, out, err, errlen);
    if (rc == FT_OK) rc = db->ops->commit(db, err, errlen);
    if (rc != FT_OK) db->ops->rollback(db);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
