/*
 * The identity store (src/serve/identities.h): Flagsmith's rules for identities and traits,
 * over a backend (identities_int.h).
 *
 * One connection behind a mutex. Measured with bench/serve, this beat a connection per HTTP
 * thread by far: with one connection no thread sleeps in SQLite's busy handler waiting for
 * another's write lock (p99 fell from 77 ms), and SQLite's file locks are taken once per
 * transaction instead of once per statement. A call runs on its HTTP thread, at once, in the
 * transaction open at that moment (a savepoint each, so a refused call is undone alone); the
 * store's thread commits that transaction a commit interval after it began. No call waits for
 * a commit and many share one (docs/ARCHITECTURE.md, serve). A shared backend (PostgreSQL)
 * commits each call instead (that call waits for its commit): other serves wait on the rows a
 * transaction holds. A call waits at most LOCK_WAIT_MS for the store, so one stuck in the
 * database cannot hold every HTTP thread.
 */
#include "serve/identities_int.h"
#include "serve/identity_cache.h"
#include "base/clock.h"
#include "base/log.h"
#include "flagtrail/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ft_identities {
    pthread_mutex_t lock; /* the backend and the open transaction */
    pthread_cond_t cond;  /* the committer waits for a transaction to open */
    struct ft_idb *db;
    ft_icache *cache;     /* the identities as the database holds them; NULL when shared */
    int64_t interval_ns;  /* 0: each call commits itself */
    bool in_tx;           /* a transaction is open */
    int64_t tx_began_ns;
    uint64_t tx_writers;  /* calls in the open transaction that wrote */
    int64_t checkpoint_ns; /* the last checkpoint began */
    bool catch_up;         /* a checkpoint ran without the lock: finish it after a commit */
    bool stopping, closed, started;
    pthread_t thread;
    atomic_uint_least64_t calls, commits, lost; /* read without the lock (metrics) */
};

static void *store_main(void *arg);

#define CACHE_ENTRIES 100000      /* identities */
#define CACHE_BYTES (64u << 20)   /* and their traits */

enum ft_value_type ft__idb_type_named(const char *t)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string"};
    for (int i = 0; i < 5; i++)
        if (strcmp(t, names[i]) == 0) return (enum ft_value_type)i;
    return FT_VALUE_STRING;
}

int ft_identities_open(const char *location, int64_t commit_interval_us, ft_identities **out,
                       char *err, size_t errlen)
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->db = db;
    s->interval_ns = db->shared ? 0 : commit_interval_us * 1000;
    /* a cached identity costs no query; another writer would make the cache wrong */
    if (!db->shared) s->cache = ft__icache_new(CACHE_ENTRIES, CACHE_BYTES);
    if (s->interval_ns > 0 && pthread_create(&s->thread, NULL, store_main, s) != 0) {
        snprintf(err, errlen, "cannot start the identity store's thread");
        ft_identities_close(s);
        return FT_ESTORE;
    }
    s->started = s->interval_ns > 0;
    *out = s;
    return FT_OK;
}

void ft_identities_close(ft_identities *s)
{
    if (!s) return;
    ft_identities_shutdown(s); /* commits what is open */
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    s->db->ops->close(s->db);
    ft__icache_free(s->cache);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* --- resolving --- */

/* Called before each write of a call: its first takes the call's savepoint (when calls share
 * the transaction). */
static int will_write(ft_identities *s, bool *wrote, char *err, size_t errlen)
{
    if (*wrote) return FT_OK;
    int rc = s->interval_ns ? s->db->ops->savepoint(s->db, err, errlen) : FT_OK;
    *wrote = rc == FT_OK; /* without its savepoint, a call has nothing to undo */
    return rc;
}

/* Where a call's identity and stored traits came from. */
struct loaded {
    int64_t id;           /* 0: not stored (a transient call creates nothing) */
    struct ft_trait *cur; /* stored traits by id, with room for the call's changes */
    size_t ncur;
    bool cached;  /* from the cache */
    bool created; /* by this call */
};

/* The identity and its stored traits, creating it the first time when `create`. */
static int load_identity(ft_identities *s, struct ft_str env, struct ft_str identifier,
                         struct ft_arena *arena, size_t extra, bool create, struct loaded *l,
                         bool *wrote, char *err, size_t errlen)
{
    struct ft_idb *db = s->db;
    *l = (struct loaded){0};
    l->cached = s->cache && ft__icache_get(s->cache, env, identifier, arena, extra, &l->id,
                                           &l->cur, &l->ncur);
    if (l->cached) return FT_OK;
    int rc = db->ops->load(db, env, identifier, arena, extra, &l->id, &l->cur, &l->ncur, err,
                           errlen);
    if (rc || l->id || !create) return rc;
    if ((rc = will_write(s, wrote, err, errlen))) return rc;
    if ((rc = db->ops->create(db, env, identifier, ft_clock_now_us(), &l->id, err, errlen)))
        return rc;
    l->created = l->id != 0;
    if (l->created) return FT_OK; /* new: no traits */
    /* another serve created it meanwhile */
    return db->ops->load(db, env, identifier, arena, extra, &l->id, &l->cur, &l->ncur, err,
                         errlen);
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
 * trait goes last (its id is the largest), a removed one leaves the order of the rest. */
static void apply_change(const struct ft_trait_change *ch, int64_t trait_id, struct ft_trait *cur,
                         size_t *ncur)
{
    struct ft_trait *t = (struct ft_trait *)find_trait(cur, *ncur, ch->key);
    if (t && ch->value.type != FT_VALUE_NULL && t->id.value == trait_id) {
        t->value = ch->value;
        return;
    }
    if (t) { /* deleted, or gone and stored again under a new id */
        memmove(t, t + 1, sizeof(*t) * (*ncur - (size_t)(t - cur) - 1));
        (*ncur)--;
    }
    if (ch->value.type == FT_VALUE_NULL) return;
    cur[(*ncur)++] = (struct ft_trait){.id = {.null = false, .value = trait_id},
                                       .key = ch->key,
                                       .value = ch->value,
                                       .has_transient = true,
                                       .transient = false};
}

/* Stores one change that alters the traits; *trait_id is the id it now has. */
static int store_change(struct ft_idb *db, int64_t id, const struct ft_trait_change *ch,
                        const struct ft_trait *t, int64_t *trait_id, char *err, size_t errlen)
{
    if (ch->value.type == FT_VALUE_NULL) return db->ops->remove(db, t->id.value, err, errlen);
    if (t) {
        bool found;
        int rc = db->ops->update(db, t->id.value, &ch->value, &found, err, errlen);
        *trait_id = t->id.value;
        if (rc || found) return rc;
    }
    return db->ops->insert(db, id, ch->key, &ch->value, trait_id, err, errlen);
}

/* Stores the changes that alter something, inside the open transaction, and applies them to
 * `cur` (which has room for n more). */
static int store_changes(ft_identities *s, int64_t id, const struct ft_trait_change *ch, size_t n,
                         struct ft_trait *cur, size_t *ncur, bool *wrote, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!alters(&ch[i], cur, *ncur)) continue;
        int64_t trait_id = 0;
        int rc = will_write(s, wrote, err, errlen);
        if (rc == FT_OK)
            rc = store_change(s->db, id, &ch[i], find_trait(cur, *ncur, ch[i].key), &trait_id,
                              err, errlen);
        if (rc) return rc;
        apply_change(&ch[i], trait_id, cur, ncur);
    }
    return FT_OK;
}

/* How a call's unstored traits join the stored ones (the modes of Flagsmith's services). */
enum {
    ONLY_TRANSIENT = 1, /* only the changes marked transient: the others were stored */
    ALL_TRANSIENT = 2,  /* every change is transient (a transient call or identity) */
    REPEATS = 4,        /* a repeated key is listed again (generate_traits), rather than taking
                         * the place of the trait of that key (update_traits) */
};

/* Adds the call's unstored changes that have a value to `t` (which has room for them), with
 * null ids. */
static void overlay(const struct ft_trait_change *ch, size_t n, unsigned how, struct ft_trait *t,
                    size_t *count)
{
    for (size_t i = 0; i < n; i++) {
        if (ch[i].value.type == FT_VALUE_NULL || ((how & ONLY_TRANSIENT) && !ch[i].transient))
            continue;
        size_t k = *count;
        if (!(how & REPEATS))
            for (k = 0; k < *count && !ft_str_eq(t[k].key, ch[i].key); k++)
                ;
        if (k == *count) (*count)++;
        t[k] = (struct ft_trait){.id = {.null = true},
                                 .key = ch[i].key,
                                 .value = ch[i].value,
                                 .has_transient = true,
                                 .transient = (how & ALL_TRANSIENT) || ch[i].transient};
    }
}

/* A mode's overlay: update_traits for a stored identity, generate_traits for one this call
 * created or did not find. */
static unsigned overlay_of(enum ft_identity_mode mode, const struct loaded *l)
{
    switch (mode) {
    case FT_IDENTITY_PERSIST: return ONLY_TRANSIENT;
    case FT_IDENTITY_NO_PERSIST: return l->created ? REPEATS : 0;
    case FT_IDENTITY_TRANSIENT: return l->id ? ALL_TRANSIENT : ALL_TRANSIENT | REPEATS;
    }
    return 0;
}

/* An identified call, in the open transaction; *wrote once it wrote (or tried). */
static int resolve_stored(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          enum ft_identity_mode mode, struct ft_arena *arena,
                          struct ft_identity_state *out, bool *wrote, char *err, size_t errlen)
{
    struct loaded l;
    int rc = load_identity(s, environment, identifier, arena, nchanges,
                           mode != FT_IDENTITY_TRANSIENT, &l, wrote, err, errlen);
    if (rc == FT_OK && mode == FT_IDENTITY_PERSIST)
        rc = store_changes(s, l.id, changes, nchanges, l.cur, &l.ncur, wrote, err, errlen);
    if (rc) return rc;
    if (s->cache && l.id && (!l.cached || *wrote)) /* run_call forgets it if the call is undone */
        ft__icache_put(s->cache, environment, identifier, l.id, l.cur, l.ncur);
    struct ft_trait *stored = ft_arena_alloc(arena, sizeof(*stored) * (l.ncur ? l.ncur : 1));
    if (l.ncur) memcpy(stored, l.cur, sizeof(*stored) * l.ncur);
    *out = (struct ft_identity_state){
        .persisted = l.id != 0, .id = l.id, .stored = stored, .nstored = l.ncur};
    overlay(changes, nchanges, overlay_of(mode, &l), l.cur, &l.ncur);
    out->traits = l.cur;
    out->ntraits = l.ncur;
    return FT_OK;
}

void ft_identities_transient(const struct ft_trait_change *changes, size_t nchanges,
                             struct ft_arena *arena, struct ft_identity_state *out)
{
    *out = (struct ft_identity_state){.persisted = false};
    out->traits = ft_arena_alloc(arena, sizeof(*out->traits) * (nchanges ? nchanges : 1));
    overlay(changes, nchanges, ALL_TRANSIENT | REPEATS, out->traits, &out->ntraits);
}

/* --- transactions: calls at once, commits on an interval --- */

/*
 * Checkpoints (backends with a WAL). SQLite starts its WAL over only when a write transaction
 * begins with every frame already copied into the database, which back-to-back transactions
 * never allow: the WAL grew by 10 MB/s under bench/serve. So the committer checkpoints in two
 * steps: most frames without the lock while calls go on, then, under the lock right after the
 * next commit, the few frames since; the transaction after that starts the WAL over. SQLite's
 * own checkpoints, inside a commit, held every call for milliseconds (p99 9 ms against 6).
 */
#define CHECKPOINT_NS (1000 * 1000000LL) /* at most this often (p99 6 ms; 7 ms at 100 ms) */

/* Right after a commit, lock held: whether a checkpoint is due (and then it is noted). */
static bool checkpoint_due(ft_identities *s)
{
    int64_t now = ft_clock_mono_ns();
    if (!s->db->ops->checkpoint || now - s->checkpoint_ns < CHECKPOINT_NS) return false;
    s->checkpoint_ns = now;
    return true;
}

/* Ends the open transaction: commits it, or rolls it back when `commit` is false (`err` says
 * why) or the commit fails. The changes of calls already answered in it are then lost:
 * counted, logged. Lock held. */
static int end_tx(ft_identities *s, bool commit, char *err, size_t errlen)
{
    int rc = commit ? s->db->ops->commit(s->db, err, errlen) : FT_ESTORE;
    if (rc) s->db->ops->rollback(s->db);
    if (rc && s->cache) ft__icache_clear(s->cache); /* it held what was rolled back */
    if (rc == FT_OK) {
        atomic_fetch_add(&s->commits, 1);
    } else if (s->tx_writers) {
        char n[24];
        snprintf(n, sizeof(n), "%llu", (unsigned long long)s->tx_writers);
        ft_log(FT_LOG_ERROR, "serve.identity_changes_lost", "calls", n, "error", err, NULL);
        atomic_fetch_add(&s->lost, s->tx_writers);
    }
    s->in_tx = false;
    s->tx_writers = 0;
    return rc;
}

/* One call inside the open transaction (begun here when none is). Lock held. */
static int run_call(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                    const struct ft_trait_change *changes, size_t nchanges,
                    enum ft_identity_mode mode, struct ft_arena *arena,
                    struct ft_identity_state *out, char *err, size_t errlen)
{
    struct ft_idb *db = s->db;
    int rc;
    if (!s->in_tx) {
        if ((rc = db->ops->begin(db, err, errlen))) return rc;
        s->in_tx = true;
        s->tx_began_ns = ft_clock_mono_ns();
        if (s->interval_ns) pthread_cond_signal(&s->cond);
    }
    bool wrote = false;
    rc = resolve_stored(s, environment, identifier, changes, nchanges, mode, arena, out, &wrote,
                        err, errlen);
    if (s->interval_ns == 0) { /* its own transaction; no committer thread */
        rc = end_tx(s, rc == FT_OK, err, errlen);
        if (checkpoint_due(s)) db->ops->checkpoint(db);
        return rc;
    }
    if (rc == FT_OK && wrote && (rc = db->ops->release(db, err, errlen)) == FT_OK)
        s->tx_writers++;
    if (rc != FT_OK) {
        char ignored[128];
        if (s->cache && wrote) ft__icache_clear(s->cache); /* it may hold what is undone */
        if (db->ops->broken(db) || (wrote && db->ops->undo(db, ignored, sizeof(ignored))))
            end_tx(s, false, err, errlen); /* the transaction is gone: its calls' changes too */
    }
    return rc;
}

#define LOCK_WAIT_MS 2000 /* a call waits this long for the store (one stuck in a database) */

int ft_identities_resolve(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          enum ft_identity_mode mode, struct ft_arena *arena,
                          struct ft_identity_state *out, char *err, size_t errlen)
{
    int64_t until = ft_clock_mono_ns() + LOCK_WAIT_MS * 1000000LL;
    struct timespec ts = {until / 1000000000, until % 1000000000};
    if (pthread_mutex_clocklock(&s->lock, CLOCK_MONOTONIC, &ts) != 0) {
        snprintf(err, errlen, "identity store: busy for %d ms", LOCK_WAIT_MS);
        return FT_ESTORE;
    }
    int rc = FT_ECLOSED;
    if (!s->closed) {
        rc = run_call(s, environment, identifier, changes, nchanges, mode, arena, out, err,
                      errlen);
        atomic_fetch_add(&s->calls, 1);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void ft_identities_shutdown(ft_identities *s)
{
    char err[256];
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    if (s->in_tx) end_tx(s, true, err, sizeof(err));
    pthread_mutex_unlock(&s->lock);
}

void ft_identities_counts(ft_identities *s, struct ft_identity_counts *out)
{
    *out = (struct ft_identity_counts){.calls = atomic_load(&s->calls),
                                       .commits = atomic_load(&s->commits),
                                       .lost = atomic_load(&s->lost)};
}

/* The committer: each transaction is committed the interval after it began, and checkpoints
 * run between commits, without the lock. */
static void *store_main(void *arg)
{
    ft_identities *s = arg;
    char err[256];
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        if (!s->in_tx) {
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        int64_t due = s->tx_began_ns + s->interval_ns;
        if (ft_clock_mono_ns() < due) {
            struct timespec ts = {due / 1000000000, due % 1000000000};
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            continue; /* the transaction may have ended meanwhile (shutdown, a broken call) */
        }
        end_tx(s, true, err, sizeof(err));
        if (s->catch_up) { /* the frames since, so that the next transaction restarts the WAL */
            s->db->ops->checkpoint(s->db);
            s->catch_up = false;
        } else if (checkpoint_due(s)) {
            pthread_mutex_unlock(&s->lock);
            s->db->ops->checkpoint(s->db);
            pthread_mutex_lock(&s->lock);
            s->catch_up = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}
