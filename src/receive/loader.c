/*
 * The loader (src/receive/loader.h): spool records in, warehouse batches out.
 */
#include "receive/loader.h"
#include "receive/loader_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "receive/events.h"
#include "receive/record.h"
#include "store/model.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- a bounded set of set ids --- */

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

void ft__loader_set_error(ft_loader *l, const char *msg)
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
    /* compared with the first record read: the checkpoint can be a segment's base, 16 bytes
     * before its first record */
    l->chosen_lsn = opt->quarantine_dir ? ft__loader_marked(opt->quarantine_dir) : UINT64_MAX;
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

/* A record this version cannot read (a newer format, or a body it does not parse): kept in
 * the quarantine by the writer, where a version that reads it can load it. Without a
 * quarantine, skipped when the options say so, else the writer stops there. */
static void unreadable(ft_loader *l, uint64_t lsn, const char *why)
{
    if (!l->opt.quarantine_dir && l->opt.skip_unreadable) {
        reject(l, lsn, why);
        return;
    }
    struct batch *b = l->building;
    b->marks[b->nmarks - 1].unreadable = ft_arena_strndup(&b->arena, why, strlen(why));
}

/* Counts a record (read or skipped) into the batch being built, before its rows. */
static void take(ft_loader *l, uint64_t lsn, uint64_t next_lsn)
{
    struct batch *b = l->building;
    if (b->nmarks == 0) b->first_ns = ft_clock_mono_ns();
    b->end = l->position = next_lsn;
    if (b->nmarks == b->marks_cap) {
        b->marks_cap = b->marks_cap ? b->marks_cap * 2 : 1024;
        b->marks = ft_xrealloc(b->marks, sizeof(*b->marks) * b->marks_cap);
    }
    b->marks[b->nmarks++] = (struct mark){lsn, next_lsn, b->nsets, b->ndels, b->nevents, NULL};
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
        unreadable(l, lsn, perr.detail);
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
        unreadable(l, rec->lsn, err.detail);
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
}

static void add_record(ft_loader *l, const struct ft_spool_record *rec)
{
    take(l, rec->lsn, rec->next_lsn);
    if (l->chosen_lsn != UINT64_MAX) { /* the first record since the loader started */
        bool chosen = rec->lsn == l->chosen_lsn;
        l->chosen_lsn = UINT64_MAX;
        if (chosen) {
            unreadable(l, rec->lsn, "chosen for the quarantine before a stop");
            return;
        }
    }
    struct ft_record r;
    if (ft_record_decode(rec->data, rec->len, &r)) {
        unreadable(l, rec->lsn, "not a receiver record this version reads");
        return;
    }
    if (r.type == FT_RECORD_EVENTS) {
        add_events(l, rec, &r);
        return;
    }
    if (r.type != FT_RECORD_WEBHOOK) {
        unreadable(l, rec->lsn, "a record type this version does not know");
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
}

/* The spool could not be read at the reader's position (a segment that cannot be opened or
 * read). Nothing is skipped: the reader stays there and tries again after a pause (a drain
 * ends instead, reporting the error); the failure is counted and logged once a minute. */
static void read_failed(ft_loader *l)
{
    char pos[24], why[160];
    uint64_t at = ft_spool_reader_pos(l->reader);
    snprintf(pos, sizeof(pos), "%" PRIu64, at);
    snprintf(why, sizeof(why), "the spool cannot be read at %" PRIu64 ": %s", at,
             strerror(errno));
    int64_t now = ft_clock_mono_ns();
    if (!l->read_logged_ns || now - l->read_logged_ns >= 60000000000LL) {
        ft_log(FT_LOG_ERROR, "loader.spool_unreadable", "lsn", pos, "error", strerror(errno),
               NULL);
        l->read_logged_ns = now;
    }
    pthread_mutex_lock(&l->lock);
    l->stats.read_errors++;
    pthread_mutex_unlock(&l->lock);
    if (l->drain) {
        ft__loader_set_error(l, why);
        l->read_failed = true;
        return;
    }
    struct timespec pause = {0, 200 * 1000000};
    nanosleep(&pause, NULL);
}

/*
 * Reads one record into the batch. FT_OK when one was read (or skipped as corrupt), FT_ENOENT
 * when nothing durable follows, or the spool could not be read (read_failed).
 */
static int read_one(ft_loader *l)
{
    struct ft_spool_record rec;
    int rc = ft_spool_next(l->reader, &rec);
    if (rc == FT_OK) {
        add_record(l, &rec);
    } else if (rc == FT_ECORRUPT) {
        reject(l, rec.lsn, "corrupt spool record; the rest of its segment is skipped");
        take(l, rec.lsn, rec.next_lsn);
        rc = FT_OK;
    } else if (rc != FT_ENOENT) {
        read_failed(l);
        return FT_ENOENT;
    }
    return rc;
}

void ft__loader_reset_batch(struct batch *b)
{
    ft_arena_reset(&b->arena);
    b->nsets = b->ndels = b->nevents = b->nmarks = 0;
}

enum hand_over { HANDED, REWIND, WRITER_FAILED };

/* Waits until the writer is done with what it has; then, when `give`, gives it the batch
 * being built and takes a free one. Not when a rewind is due (the batch was built on what the
 * writer has since quarantined). */
static enum hand_over hand_over(ft_loader *l, bool give)
{
    pthread_mutex_lock(&l->q_lock);
    while ((l->ready || !l->free) && !l->writer_failed && !atomic_load(&l->rewind))
        pthread_cond_wait(&l->q_cond, &l->q_lock);
    enum hand_over out = l->writer_failed          ? WRITER_FAILED
                         : atomic_load(&l->rewind) ? REWIND
                                                   : HANDED;
    if (out == HANDED && give) {
        l->ready = l->building;
        l->building = l->free;
        l->free = NULL;
        pthread_cond_broadcast(&l->q_cond);
    }
    pthread_mutex_unlock(&l->q_lock);
    return out;
}

/*
 * After a quarantine: drops the batch being built and the set cache (both may hold sets of the
 * quarantined record, which never reached the warehouse) and reads again from after it.
 */
static void rewind_reader(ft_loader *l)
{
    pthread_mutex_lock(&l->q_lock);
    uint64_t lsn = l->rewind_lsn;
    atomic_store(&l->rewind, false);
    pthread_mutex_unlock(&l->q_lock);
    ft__loader_reset_batch(l->building);
    idset_clear(&l->cache);
    ft_spool_reader_close(l->reader);
    ft_spool_reader_open(l->spool, lsn, &l->reader);
    l->position = lsn;
}

#define GATHER_US 5000

static void *reader_main(void *arg)
{
    ft_loader *l = arg;
    for (;;) {
        if (atomic_load(&l->rewind)) rewind_reader(l);
        int rc = read_one(l);
        struct batch *b = l->building;
        bool stopping = atomic_load(&l->stop);
        bool late = stopping && ft_clock_mono_ns() / 1000 >= l->deadline_us;
        bool idle = rc == FT_ENOENT;
        bool finish = (stopping && (idle || late)) || (l->drain && idle);
        int64_t age_us = b->nmarks ? (ft_clock_mono_ns() - b->first_ns) / 1000 : 0;
        if (b->nmarks &&
            (b->nmarks >= l->opt.batch_records || age_us >= l->opt.batch_wait_us || finish)) {
            enum hand_over h = hand_over(l, true);
            if (h == WRITER_FAILED) break;
            if (h == REWIND) continue;
        }
        /* the writer may still quarantine a record of the last batch and want it read again */
        if (finish && hand_over(l, false) != REWIND) break;
        if (finish) continue;
        if (!idle) continue;
        if (!b->nmarks) {
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

/* --- running --- */

static int start_threads(ft_loader *l)
{
    l->reader_done = l->writer_failed = false;
    if (pthread_create(&l->writer_thread, NULL, ft__loader_writer_main, l) != 0) return FT_EIO;
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
    ft__loader_reset_batch(l->building);
    if (l->ready) {
        ft__loader_reset_batch(l->ready);
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
    if (l->writer_failed) return l->writer_rc;
    return l->read_failed ? FT_EIO : FT_OK;
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
        free(l->slots[i].marks);
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
