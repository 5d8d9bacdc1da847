/*
 * The identity store (src/serve/identities.h): Flagsmith's rules for identities and traits,
 * over a backend (identities_int.h).
 *
 * One connection behind a mutex. Measured with bench/serve, this beat a connection per HTTP
 * thread by far: with one connection no thread sleeps in SQLite's busy handler waiting for
 * another's write lock (p99 fell from 77 ms), and SQLite's file locks are taken once per
 * transaction instead of once per statement. Submitted calls go further: the store's thread
 * takes every call waiting, runs them in one transaction and commits once, so HTTP threads
 * neither wait for the mutex nor pay a commit per call (docs/ARCHITECTURE.md, serve).
 */
#include "serve/identities_int.h"
#include "base/clock.h"
#include "flagtrail/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 512 /* calls in one transaction */

struct ft_identities {
    pthread_mutex_t lock; /* the backend is used under it */
    struct ft_idb *db;

    pthread_mutex_t q_lock; /* guards the queue and the thread's state */
    pthread_cond_t q_cond;
    struct ft_identity_call *head, *tail;
    bool busy, stopping, started;
    bool closed; /* ft_identities_shutdown: calls are refused */
    pthread_t thread;
    uint64_t calls, commits; /* under q_lock */
};

static void *store_main(void *arg);

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
    pthread_mutex_init(&s->q_lock, NULL);
    pthread_cond_init(&s->q_cond, NULL);
    s->db = db;
    if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
        snprintf(err, errlen, "cannot start the identity store's thread");
        ft_identities_close(s);
        return FT_ESTORE;
    }
    s->started = true;
    *out = s;
    return FT_OK;
}

void ft_identities_close(ft_identities *s)
{
    if (!s) return;
    if (s->started) { /* the thread finishes the calls queued before it stops */
        pthread_mutex_lock(&s->q_lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->q_cond);
        pthread_mutex_unlock(&s->q_lock);
        pthread_join(s->thread, NULL);
    }
    s->db->ops->close(s->db);
    pthread_cond_destroy(&s->q_cond);
    pthread_mutex_destroy(&s->q_lock);
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

/* Applies one stored change to the traits in memory, as the database now holds them: a new
 * key goes last (its id is the largest), a removed one leaves the order of the rest. */
static void apply_change(const struct ft_trait_change *ch, int64_t trait_id, struct ft_trait *cur,
                         size_t *ncur)
{
    struct ft_trait *t = (struct ft_trait *)find_trait(cur, *ncur, ch->key);
    if (ch->value.type == FT_VALUE_NULL) {
        size_t k = (size_t)(t - cur);
        memmove(t, t + 1, sizeof(*t) * (*ncur - k - 1));
        (*ncur)--;
    } else if (t) {
        t->value = ch->value;
    } else {
        cur[(*ncur)++] = (struct ft_trait){.id = {.null = false, .value = trait_id},
                                           .key = ch->key,
                                           .value = ch->value,
                                           .has_transient = true,
                                           .transient = false};
    }
}

/* Stores the changes that alter something, inside the caller's transaction, and applies them
 * to `cur` (which has room for n more). */
static int store_changes(struct ft_idb *db, int64_t id, const struct ft_trait_change *ch, size_t n,
                         struct ft_trait *cur, size_t *ncur, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!alters(&ch[i], cur, *ncur)) continue;
        int64_t trait_id = 0;
        int rc = ch[i].value.type == FT_VALUE_NULL
                     ? db->ops->remove(db, id, ch[i].key, err, errlen)
                     : db->ops->upsert(db, id, ch[i].key, &ch[i].value, &trait_id, err, errlen);
        if (rc) return rc;
        apply_change(&ch[i], trait_id, cur, ncur);
    }
    return FT_OK;
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

/* A persisted identity's call, in the caller's transaction. */
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
    if ((rc = store_changes(db, out->id, changes, nchanges, cur, &ncur, err, errlen))) return rc;
    add_transient(changes, nchanges, false, cur, &ncur);
    out->traits = cur;
    out->ntraits = ncur;
    return FT_OK;
}

void ft_identities_transient(const struct ft_trait_change *changes, size_t nchanges,
                             struct ft_arena *arena, struct ft_identity_state *out)
{
    *out = (struct ft_identity_state){.persisted = false};
    out->traits = ft_arena_alloc(arena, sizeof(*out->traits) * (nchanges ? nchanges : 1));
    add_transient(changes, nchanges, true, out->traits, &out->ntraits);
}

/* --- the store's thread: group commit --- */

int ft_identities_submit(ft_identities *s, struct ft_identity_call *call)
{
    call->next = NULL;
    pthread_mutex_lock(&s->q_lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->q_lock);
        return FT_ECLOSED;
    }
    if (s->tail) s->tail->next = call;
    else s->head = call;
    s->tail = call;
    pthread_cond_broadcast(&s->q_cond);
    pthread_mutex_unlock(&s->q_lock);
    return FT_OK;
}

void ft_identities_shutdown(ft_identities *s)
{
    pthread_mutex_lock(&s->q_lock);
    s->closed = true;
    while (s->head || s->busy)
        pthread_cond_wait(&s->q_cond, &s->q_lock);
    pthread_mutex_unlock(&s->q_lock);
}

/* Takes up to BATCH_MAX waiting calls, in order. q_lock held. */
static struct ft_identity_call *take_batch(ft_identities *s)
{
    struct ft_identity_call *batch = s->head, *last = batch;
    for (int n = 1; n < BATCH_MAX && last->next; n++)
        last = last->next;
    s->head = last->next;
    if (!s->head) s->tail = NULL;
    last->next = NULL;
    return batch;
}

/* Resolves the calls from `first` up to `end` (exclusive) in one transaction; each call's
 * status is set. FT_OK when it committed. Store lock held. */
static int run_group(struct ft_idb *db, struct ft_identity_call *first,
                     struct ft_identity_call *end, bool *began)
{
    char err[sizeof(first->err)] = "";
    int rc = db->ops->begin(db, err, sizeof(err));
    *began = rc == FT_OK;
    for (struct ft_identity_call *c = first; c != end && rc == FT_OK; c = c->next) {
        c->state = (struct ft_identity_state){.persisted = true};
        rc = resolve_stored(db, c->environment, c->identifier, c->changes, c->nchanges, c->arena,
                            &c->state, err, sizeof(err));
    }
    if (rc == FT_OK) rc = db->ops->commit(db, err, sizeof(err));
    if (rc != FT_OK) db->ops->rollback(db);
    for (struct ft_identity_call *c = first; c != end; c = c->next) {
        c->status = rc;
        snprintf(c->err, sizeof(c->err), "%s", rc ? err : "");
    }
    return rc;
}

/* Resolves a batch in one transaction or, when that fails, each call in its own, then answers
 * every call; returns the number of calls and adds the transactions to *commits. */
static uint64_t run_batch(ft_identities *s, struct ft_identity_call *batch, uint64_t *commits)
{
    pthread_mutex_lock(&s->lock);
    *commits += 1;
    bool began;
    if (run_group(s->db, batch, NULL, &began) != FT_OK && began && batch->next) {
        /* one call failed the group (a database that is away fails at BEGIN, and then every
         * call has its answer): find out which, one transaction each */
        for (struct ft_identity_call *c = batch; c && began; c = c->next, *commits += 1)
            run_group(s->db, c, c->next, &began);
    }
    pthread_mutex_unlock(&s->lock);
    uint64_t n = 0;
    for (struct ft_identity_call *c = batch, *next; c; c = next, n++) {
        next = c->next; /* done() may free the call */
        c->done(c);
    }
    return n;
}

void ft_identities_counts(ft_identities *s, uint64_t *calls, uint64_t *commits)
{
    pthread_mutex_lock(&s->q_lock);
    *calls = s->calls;
    *commits = s->commits;
    pthread_mutex_unlock(&s->q_lock);
}

static void *store_main(void *arg)
{
    ft_identities *s = arg;
    pthread_mutex_lock(&s->q_lock);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->q_cond, &s->q_lock);
        if (!s->head) break; /* stopping, and nothing is left */
        struct ft_identity_call *batch = take_batch(s);
        s->busy = true;
        pthread_mutex_unlock(&s->q_lock);
        uint64_t commits = 0, n = run_batch(s, batch, &commits);
        pthread_mutex_lock(&s->q_lock);
        s->calls += n;
        s->commits += commits;
        s->busy = false;
        pthread_cond_broadcast(&s->q_cond);
    }
    pthread_mutex_unlock(&s->q_lock);
    return NULL;
}
