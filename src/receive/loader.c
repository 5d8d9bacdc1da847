/*
 * The loader (src/receive/loader.h): spool records in, warehouse batches out.
 */
#include "receive/loader.h"
#include "base/clock.h"
#include "base/log.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "receive/events.h"
#include "receive/record.h"
#include "store/model.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- a bounded set of set ids --- */

/* Open addressing over 64-bit ids; emptied when 70% full, which bounds it. Id 0 is tracked
 * apart because 0 marks an empty slot. */
struct idset {
    uint64_t *slots;
    size_t cap, count;
    bool has_zero;
};

static void idset_init(struct idset *s, size_t cap)
{
    size_t c = 16;
    while (c < cap)
        c *= 2;
    s->slots = ft_xcalloc(c, sizeof(*s->slots));
    s->cap = c;
    s->count = 0;
    s->has_zero = false;
}

static void idset_clear(struct idset *s)
{
    if (s->count) memset(s->slots, 0, s->cap * sizeof(*s->slots));
    s->count = 0;
    s->has_zero = false;
}

static size_t idset_slot(const struct idset *s, uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 17) & (s->cap - 1);
    while (s->slots[i] && s->slots[i] != id)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool idset_has(const struct idset *s, uint64_t id)
{
    if (id == 0) return s->has_zero;
    return s->slots[idset_slot(s, id)] == id;
}

static void idset_add(struct idset *s, uint64_t id)
{
    if (id == 0) {
        s->has_zero = true;
        return;
    }
    if (s->count + 1 > s->cap / 10 * 7) idset_clear(s);
    size_t i = idset_slot(s, id);
    if (!s->slots[i]) {
        s->slots[i] = id;
        s->count++;
    }
}

/* --- the loader --- */

/*
 * Two threads: the reader parses records into the batch it is building while the writer
 * commits the previous one. Two batch slots circulate between them. The reader adds new set
 * ids to the cache as it puts their members in a batch: batches commit in order and a failed
 * batch is retried until it commits (or the process stops), so a set the cache knows is always
 * in the warehouse or in a batch ahead.
 */
struct batch {
    struct ft_arena arena;
    struct ft_store_set *sets;
    size_t nsets, sets_cap;
    struct ft_store_delivery *dels;
    size_t ndels, dels_cap;
    struct ft_store_event *events;
    size_t nevents, events_cap;
    uint64_t end;   /* checkpoint once this batch commits */
    size_t records; /* spool records it covers, skipped ones included */
    int64_t first_ns;
    uint64_t rows;
};

struct ft_loader {
    ft_spool *spool;
    ft_store *store;
    struct ft_loader_options opt;
    char *source;

    /* the reader's */
    ft_spool_reader *reader;
    ft_json_doc *doc;
    struct ft_arena scratch;
    struct ft_model model;
    struct idset cache;
    EVP_MD_CTX *md;
    EVP_MD *sha256; /* fetched once: an implicit fetch per digest takes locks */
    struct batch *building;
    uint64_t position; /* end of what the reader has taken in */

    /* the hand-over */
    struct batch slots[2];
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct batch *ready; /* built, waiting for the writer */
    struct batch *free;  /* committed, waiting for the reader */
    bool reader_done;
    bool writer_failed;

    pthread_t reader_thread, writer_thread;
    bool running;
    bool drain;          /* stop at the first moment nothing durable is left */
    atomic_bool stop;
    int64_t deadline_us;

    pthread_mutex_t lock; /* guards stats and last_error */
    struct ft_loader_stats stats;
    char last_error[512];
};

static void set_error(ft_loader *l, const char *msg)
{
    pthread_mutex_lock(&l->lock);
    snprintf(l->last_error, sizeof(l->last_error), "%s", msg);
    pthread_mutex_unlock(&l->lock);
}

int ft_loader_new(ft_spool *spool, ft_store *store, const struct ft_loader_options *opt,
                  ft_loader **out, char *err, size_t errlen)
{
    ft_loader *l = ft_xcalloc(1, sizeof(*l));
    l->spool = spool;
    l->store = store;
    l->opt = *opt;
    if (!l->opt.batch_records) l->opt.batch_records = 10000;
    if (!l->opt.batch_wait_us) l->opt.batch_wait_us = 50000;
    if (!l->opt.cache_entries) l->opt.cache_entries = 1u << 20;
    l->source = ft_xstrdup(opt->source);
    l->opt.source = l->source;
    l->doc = ft_json_doc_new(NULL);
    ft_arena_init(&l->scratch, 0);
    ft_model_init(&l->model);
    idset_init(&l->cache, l->opt.cache_entries);
    for (int i = 0; i < 2; i++)
        ft_arena_init(&l->slots[i].arena, 1 << 20);
    l->building = &l->slots[0];
    l->free = &l->slots[1];
    l->md = EVP_MD_CTX_new();
    l->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->q_lock, NULL);
    pthread_cond_init(&l->q_cond, NULL);
    l->stats.store_ok = true;
    uint64_t checkpoint;
    if (ft_store_checkpoint(store, l->source, &checkpoint)) {
        snprintf(err, errlen, "%s", ft_store_errmsg(store));
        ft_loader_free(l);
        return FT_ESTORE;
    }
    l->stats.checkpoint = l->position = checkpoint;
    ft_spool_release(spool, checkpoint);
    ft_spool_reader_open(spool, checkpoint, &l->reader);
    *out = l;
    return FT_OK;
}

/* --- building a batch (reader thread) --- */

static struct ft_str copy_str(struct ft_arena *a, struct ft_str s)
{
    if (!s.ptr) return s;
    return (struct ft_str){ft_arena_strndup(a, s.ptr, s.len), s.len};
}

static struct ft_store_set *new_set(ft_loader *l, enum ft_set_kind kind, int64_t id, size_t n)
{
    struct batch *b = l->building;
    if (b->nsets == b->sets_cap) {
        b->sets_cap = b->sets_cap ? b->sets_cap * 2 : 256;
        b->sets = ft_xrealloc(b->sets, sizeof(*b->sets) * b->sets_cap);
    }
    struct ft_store_set *s = &b->sets[b->nsets++];
    *s = (struct ft_store_set){.kind = kind, .id = id, .n = n};
    idset_add(&l->cache, (uint64_t)id);
    b->rows += n;
    return s;
}

static void copy_flags(ft_loader *l, int64_t id, const struct ft_flag *src, size_t n)
{
    struct ft_arena *a = &l->building->arena;
    struct ft_flag *dst = ft_arena_alloc(a, sizeof(*dst) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].feature.name = copy_str(a, src[i].feature.name);
        dst[i].feature.type = copy_str(a, src[i].feature.type);
        dst[i].feature.created_date = (struct ft_str){NULL, 0};
        dst[i].feature.description = (struct ft_str){NULL, 0};
        dst[i].feature.initial_value = (struct ft_str){NULL, 0};
        dst[i].feature.json = (struct ft_str){NULL, 0};
        dst[i].value.text = copy_str(a, src[i].value.text);
        if (src[i].has_percentage_allocation)
            dst[i].percentage_allocation.text = copy_str(a, src[i].percentage_allocation.text);
    }
    new_set(l, FT_SET_FLAGS, id, n)->m.flags = dst;
}

static void copy_traits(ft_loader *l, int64_t id, const struct ft_trait *src, size_t n)
{
    struct ft_arena *a = &l->building->arena;
    struct ft_trait *dst = ft_arena_alloc(a, sizeof(*dst) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].key = copy_str(a, src[i].key);
        dst[i].value.text = copy_str(a, src[i].value.text);
    }
    new_set(l, FT_SET_TRAITS, id, n)->m.traits = dst;
}

static void copy_segments(ft_loader *l, int64_t id, const struct ft_segment *src, size_t n)
{
    struct ft_arena *a = &l->building->arena;
    struct ft_segment *dst = ft_arena_alloc(a, sizeof(*dst) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].name = copy_str(a, src[i].name);
    }
    new_set(l, FT_SET_SEGMENTS, id, n)->m.segments = dst;
}

static void reject(ft_loader *l, uint64_t lsn, const char *why)
{
    char pos[24];
    snprintf(pos, sizeof(pos), "%" PRIu64, lsn);
    ft_log(FT_LOG_WARN, "loader.record_skipped", "lsn", pos, "reason", why, NULL);
    pthread_mutex_lock(&l->lock);
    l->stats.rejected++;
    pthread_mutex_unlock(&l->lock);
}

/* Counts a record (read or skipped) into the batch being built. */
static void take(ft_loader *l, uint64_t next_lsn)
{
    struct batch *b = l->building;
    if (b->records++ == 0) b->first_ns = ft_clock_mono_ns();
    b->end = l->position = next_lsn;
}

static bool known(ft_loader *l, const int64_t ids[3])
{
    for (int i = 0; i < 3; i++)
        if (!idset_has(&l->cache, (uint64_t)ids[i])) return false;
    return true;
}

/* Parses the body for the members of the sets that are new; fills the summary when the
 * record had none. False (after a reject) when the body is not a valid payload. */
static bool load_sets(ft_loader *l, uint64_t lsn, struct ft_record *r)
{
    ft_arena_reset(&l->scratch);
    struct ft_payload p;
    struct ft_payload_error perr;
    if (ft_payload_parse(l->doc, r->body.ptr, r->body.len, &l->scratch, &p, &perr)) {
        reject(l, lsn, perr.detail);
        return false;
    }
    int64_t *ids = r->sets;
    ft_model_canonicalize(&l->model, &p, &ids[0], &ids[1], &ids[2]);
    if (!idset_has(&l->cache, (uint64_t)ids[0])) copy_flags(l, ids[0], p.flags, p.nflags);
    if (!idset_has(&l->cache, (uint64_t)ids[1])) copy_traits(l, ids[1], p.traits, p.ntraits);
    if (!idset_has(&l->cache, (uint64_t)ids[2]))
        copy_segments(l, ids[2], p.segments, p.nsegments);
    if (!r->has_summary) {
        r->environment = (struct ft_nint){.null = p.nflags == 0,
                                          .value = p.nflags ? p.flags[0].environment : 0};
        r->identity = p.identity;
    }
    return true;
}

static void add_events(ft_loader *l, const struct ft_spool_record *rec, const struct ft_record *r)
{
    ft_arena_reset(&l->scratch);
    struct ft_event *ev;
    size_t n;
    struct ft_events_error err;
    if (ft_events_parse(l->doc, r->body.ptr, r->body.len, &l->scratch, &ev, &n, &err)) {
        reject(l, rec->lsn, err.detail);
        return;
    }
    struct batch *b = l->building;
    if (b->nevents + n > b->events_cap) {
        while (b->nevents + n > b->events_cap)
            b->events_cap = b->events_cap ? b->events_cap * 2 : 1024;
        b->events = ft_xrealloc(b->events, sizeof(*b->events) * b->events_cap);
    }
    for (size_t i = 0; i < n; i++) {
        b->events[b->nevents++] = (struct ft_store_event){
            .lsn = rec->lsn,
            .idx = (uint32_t)i,
            .identity = copy_str(&b->arena, ev[i].identity),
            .event = copy_str(&b->arena, ev[i].event),
            .has_value = ev[i].has_value,
            .value = ev[i].value,
            .occurred_at = ev[i].has_time ? ev[i].occurred_at : r->received_at,
            .received_at = r->received_at,
        };
    }
    b->rows += n;
}

static void add_record(ft_loader *l, const struct ft_spool_record *rec)
{
    take(l, rec->next_lsn);
    struct ft_record r;
    if (ft_record_decode(rec->data, rec->len, &r)) {
        reject(l, rec->lsn, "not a receiver record");
        return;
    }
    if (r.type == FT_RECORD_EVENTS) {
        add_events(l, rec, &r);
        return;
    }
    if (r.type != FT_RECORD_WEBHOOK) {
        reject(l, rec->lsn, "unknown record type");
        return;
    }
    if (!(r.has_summary && known(l, r.sets)) && !load_sets(l, rec->lsn, &r)) return;
    struct batch *b = l->building;
    if (b->ndels == b->dels_cap) {
        b->dels_cap = b->dels_cap ? b->dels_cap * 2 : 1024;
        b->dels = ft_xrealloc(b->dels, sizeof(*b->dels) * b->dels_cap);
    }
    struct ft_store_delivery *d = &b->dels[b->ndels++];
    *d = (struct ft_store_delivery){
        .lsn = rec->lsn,
        .received_at = r.received_at,
        .environment = r.environment,
        .identity = copy_str(&b->arena, r.identity),
        .flags_set = r.sets[0],
        .traits_set = r.sets[1],
        .segments_set = r.sets[2],
        .delivery_id = copy_str(&b->arena, r.delivery_id),
    };
    unsigned dlen;
    EVP_DigestInit_ex(l->md, l->sha256, NULL);
    EVP_DigestUpdate(l->md, r.body.ptr, r.body.len);
    EVP_DigestFinal_ex(l->md, d->body_sha256, &dlen);
    b->rows++;
}

/*
 * Reads one record into the batch. FT_OK when one was read (or skipped as corrupt), FT_ENOENT
 * when nothing durable follows.
 */
static int read_one(ft_loader *l)
{
    struct ft_spool_record rec;
    int rc = ft_spool_next(l->reader, &rec);
    if (rc == FT_OK) {
        add_record(l, &rec);
    } else if (rc == FT_ECORRUPT) {
        reject(l, rec.lsn, "corrupt spool record; the rest of its segment is skipped");
        take(l, rec.next_lsn);
        rc = FT_OK;
    } else if (rc != FT_ENOENT) {
        reject(l, ft_spool_reader_pos(l->reader), "spool read error");
        return FT_ENOENT;
    }
    return rc;
}

static void reset_batch(struct batch *b)
{
    ft_arena_reset(&b->arena);
    b->nsets = b->ndels = b->nevents = b->records = 0;
    b->rows = 0;
}

/* Gives the batch being built to the writer and takes a free one. False when the writer has
 * given up. */
static bool hand_over(ft_loader *l)
{
    pthread_mutex_lock(&l->q_lock);
    while ((l->ready || !l->free) && !l->writer_failed)
        pthread_cond_wait(&l->q_cond, &l->q_lock);
    bool ok = !l->writer_failed;
    if (ok) {
        l->ready = l->building;
        l->building = l->free;
        l->free = NULL;
        pthread_cond_broadcast(&l->q_cond);
    }
    pthread_mutex_unlock(&l->q_lock);
    return ok;
}

#define GATHER_US 5000

static void *reader_main(void *arg)
{
    ft_loader *l = arg;
    for (;;) {
        int rc = read_one(l);
        struct batch *b = l->building;
        bool stopping = atomic_load(&l->stop);
        bool late = stopping && ft_clock_mono_ns() / 1000 >= l->deadline_us;
        bool idle = rc == FT_ENOENT;
        bool finish = (stopping && (idle || late)) || (l->drain && idle);
        int64_t age_us = b->records ? (ft_clock_mono_ns() - b->first_ns) / 1000 : 0;
        if (b->records && (b->records >= l->opt.batch_records || age_us >= l->opt.batch_wait_us ||
                           finish)) {
            if (!hand_over(l)) break;
        }
        if (finish) break;
        if (!idle) continue;
        if (!b->records) {
            ft_spool_reader_wait(l->reader, 100000);
            continue;
        }
        /* A batch is open: gather for a few milliseconds instead of waking at every group
         * commit, which would take the spool's lock and a context switch per sync. */
        int64_t wait = l->opt.batch_wait_us - age_us;
        if (wait > GATHER_US) wait = GATHER_US;
        struct timespec ts = {0, (wait > 100 ? wait : 100) * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&l->q_lock);
    l->reader_done = true;
    pthread_cond_broadcast(&l->q_cond);
    pthread_mutex_unlock(&l->q_lock);
    return NULL;
}

/* --- committing (writer thread) --- */

static bool should_stop(ft_loader *l)
{
    return atomic_load(&l->stop) && ft_clock_mono_ns() / 1000 >= l->deadline_us;
}

/* Sleeps up to `us`, waking early when asked to stop. */
static void backoff_sleep(ft_loader *l, int64_t us)
{
    int64_t until = ft_clock_mono_ns() / 1000 + us;
    while (ft_clock_mono_ns() / 1000 < until && !should_stop(l)) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Commits a batch, retrying with backoff. FT_OK, or FT_ESTORE when it gives up. */
static int commit(ft_loader *l, struct batch *b)
{
    struct ft_store_batch sb = {
        .source = l->source,
        .sets = b->sets,
        .nsets = b->nsets,
        .deliveries = b->dels,
        .ndeliveries = b->ndels,
        .events = b->events,
        .nevents = b->nevents,
        .checkpoint = b->end,
    };
    int64_t delay = 100000;
    for (int attempt = 1;; attempt++) {
        if (ft_store_write(l->store, &sb) == FT_OK) break;
        const char *msg = ft_store_errmsg(l->store);
        set_error(l, msg);
        pthread_mutex_lock(&l->lock);
        bool first = l->stats.store_ok;
        l->stats.store_errors++;
        l->stats.store_ok = false;
        pthread_mutex_unlock(&l->lock);
        if (first || attempt % 10 == 0) {
            char n[16];
            snprintf(n, sizeof(n), "%d", attempt);
            ft_log(FT_LOG_ERROR, "loader.store_failed", "attempt", n, "error", msg, NULL);
        }
        if ((l->opt.max_attempts && attempt >= l->opt.max_attempts) || should_stop(l))
            return FT_ESTORE;
        backoff_sleep(l, delay);
        delay = delay * 2 > 5000000 ? 5000000 : delay * 2;
    }
    ft_spool_release(l->spool, b->end);
    pthread_mutex_lock(&l->lock);
    if (!l->stats.store_ok) ft_log(FT_LOG_INFO, "loader.store_recovered", NULL);
    l->stats.store_ok = true;
    l->stats.deliveries += b->ndels;
    l->stats.events += b->nevents;
    l->stats.rows += b->rows;
    l->stats.batches++;
    l->stats.checkpoint = b->end;
    l->stats.last_commit_us = ft_clock_now_us();
    pthread_mutex_unlock(&l->lock);
    if (l->opt.progress) {
        struct ft_spool_stats ss;
        ft_spool_get_stats(l->spool, &ss);
        l->opt.progress(l->opt.progress_arg, b->end, ss.durable_lsn);
    }
    return FT_OK;
}

static void *writer_main(void *arg)
{
    ft_loader *l = arg;
    pthread_mutex_lock(&l->q_lock);
    for (;;) {
        while (!l->ready && !l->reader_done)
            pthread_cond_wait(&l->q_cond, &l->q_lock);
        if (!l->ready) break; /* the reader is done and everything is committed */
        struct batch *b = l->ready;
        l->ready = NULL;
        pthread_cond_broadcast(&l->q_cond);
        pthread_mutex_unlock(&l->q_lock);
        int rc = commit(l, b);
        reset_batch(b);
        pthread_mutex_lock(&l->q_lock);
        l->free = b;
        if (rc) {
            l->writer_failed = true;
            pthread_cond_broadcast(&l->q_cond);
            break;
        }
        pthread_cond_broadcast(&l->q_cond);
    }
    pthread_mutex_unlock(&l->q_lock);
    return NULL;
}

/* --- running --- */

static int start_threads(ft_loader *l)
{
    l->reader_done = l->writer_failed = false;
    if (pthread_create(&l->writer_thread, NULL, writer_main, l) != 0) return FT_EIO;
    if (pthread_create(&l->reader_thread, NULL, reader_main, l) != 0) {
        pthread_mutex_lock(&l->q_lock);
        l->reader_done = true;
        pthread_cond_broadcast(&l->q_cond);
        pthread_mutex_unlock(&l->q_lock);
        pthread_join(l->writer_thread, NULL);
        return FT_EIO;
    }
    l->running = true;
    return FT_OK;
}

static void join_threads(ft_loader *l)
{
    pthread_join(l->reader_thread, NULL);
    pthread_join(l->writer_thread, NULL);
    l->running = false;
    /* what the reader took in but did not commit is read again next time */
    reset_batch(l->building);
    if (l->ready) {
        reset_batch(l->ready);
        l->free = l->ready;
        l->ready = NULL;
    }
}

int ft_loader_start(ft_loader *l)
{
    return start_threads(l);
}

void ft_loader_stop(ft_loader *l, int64_t deadline_us)
{
    if (!l->running) return;
    l->deadline_us = deadline_us;
    atomic_store(&l->stop, true);
    join_threads(l);
}

int ft_loader_drain(ft_loader *l)
{
    l->drain = true;
    int rc = start_threads(l);
    if (rc) return rc;
    join_threads(l);
    l->drain = false;
    return l->writer_failed ? FT_ESTORE : FT_OK;
}

void ft_loader_get_stats(ft_loader *l, struct ft_loader_stats *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->stats;
    pthread_mutex_unlock(&l->lock);
}

void ft_loader_last_error(ft_loader *l, char *out, size_t cap)
{
    pthread_mutex_lock(&l->lock);
    snprintf(out, cap, "%s", l->last_error);
    pthread_mutex_unlock(&l->lock);
}

void ft_loader_free(ft_loader *l)
{
    if (!l) return;
    ft_spool_reader_close(l->reader);
    ft_json_doc_free(l->doc);
    ft_arena_free(&l->scratch);
    ft_model_free(&l->model);
    free(l->cache.slots);
    for (int i = 0; i < 2; i++) {
        ft_arena_free(&l->slots[i].arena);
        free(l->slots[i].sets);
        free(l->slots[i].dels);
        free(l->slots[i].events);
    }
    EVP_MD_CTX_free(l->md);
    EVP_MD_free(l->sha256);
    pthread_cond_destroy(&l->q_cond);
    pthread_mutex_destroy(&l->q_lock);
    pthread_mutex_destroy(&l->lock);
    free(l->source);
    free(l);
}
