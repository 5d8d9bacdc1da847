/*
 * bench/analyse_data: builds the warehouse of the analysis benchmark (bench/analyse.py) through
 * the receiver's own path: Flagsmith-formatted webhooks and event batches are appended to a
 * spool as the endpoint writes them, and the loader drains it into SQLite, in chunks so the
 * spool stays small.
 *
 *   bench/analyse_data DB DELIVERIES IDENTITIES EVENTS
 *
 * Deliveries go to identities drawn at random over four days, each carrying five flags:
 * new_checkout (on/off), banner (control/blue/green), dark_mode, limit (10/20/30) and
 * search_v2, a plan trait and a beta segment. An identity's state comes from a hash of its
 * name, so it repeats across its webhooks; one in 200 identities sees new_checkout flip in the
 * second half (the experiment quarantines them). Events are purchases with a value, at random
 * times over five days, 20% more likely for identities with new_checkout on.
 */
#include "base/clock.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "receive/events.h"
#include "receive/loader.h"
#include "receive/record.h"
#include "spool/spool.h"
#include "store/model.h"
#include "store/store.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0               1795392000000000LL /* 2026-11-23T00:00:00Z */
#define DAY_US           86400000000LL
#define CHUNK            250000
#define EVENTS_PER_BATCH 1000

static void die(const char *what)
{
    fprintf(stderr, "bench/analyse_data: %s\n", what);
    exit(1);
}

/* Removes the chunk spool (its segment files, then the directory). */
static void remove_spool(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child[4500];
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        unlink(child);
    }
    closedir(d);
    rmdir(path);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t hash_id(long id)
{
    uint64_t z = (uint64_t)id * 0x9e3779b97f4a7c15u + 0x632be59bd9b4e019u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    return z ^ (z >> 31);
}

static bool checkout_on(long id, bool second_half)
{
    uint64_t h = hash_id(id);
    bool on = h & 1;
    return (h >> 8) % 200 == 0 && second_half ? !on : on;
}

static int flag_json(char *out, size_t cap, int id, const char *name, const char *type,
                     bool enabled, const char *value)
{
    return snprintf(out, cap,
                    "{\"enabled\": %s, \"environment\": 7, \"feature\": {\"created_date\": "
                    "\"2026-01-02T03:04:05.000000Z\", \"default_enabled\": false, "
                    "\"description\": null, \"id\": %d, \"initial_value\": null, \"name\": "
                    "\"%s\", \"type\": \"%s\"}, \"feature_segment\": null, "
                    "\"feature_state_value\": %s, \"id\": %d, \"identity\": null}",
                    enabled ? "true" : "false", id, name, type, value, 100 + id);
}

static size_t make_webhook(char *out, size_t cap, long id, bool second_half)
{
    static const char *const banners[] = {"\"control\"", "\"blue\"", "\"green\""};
    static const char *const limits[] = {"10", "20", "30"};
    uint64_t h = hash_id(id);
    char f[5][512];
    flag_json(f[0], sizeof(f[0]), 1, "new_checkout", "STANDARD", checkout_on(id, second_half),
              "null");
    flag_json(f[1], sizeof(f[1]), 2, "banner", "MULTIVARIATE", true, banners[(h >> 1) % 3]);
    flag_json(f[2], sizeof(f[2]), 3, "dark_mode", "STANDARD", (h >> 3) & 1, "null");
    flag_json(f[3], sizeof(f[3]), 4, "limit", "STANDARD", true, limits[(h >> 4) % 3]);
    flag_json(f[4], sizeof(f[4]), 5, "search_v2", "STANDARD", (h >> 6) & 1, "null");
    return (size_t)snprintf(out, cap,
                            "{\"flags\": [%s, %s, %s, %s, %s], \"identity\": \"user-%07ld\", "
                            "\"segments\": [{\"id\": 1, \"member\": %s, \"name\": \"beta\"}], "
                            "\"traits\": [{\"id\": 1, \"trait_key\": \"plan\", \"trait_value\": "
                            "\"%s\", \"transient\": false}]}",
                            f[0], f[1], f[2], f[3], f[4], id, (h >> 9) & 1 ? "true" : "false",
                            (h >> 10) % 4 == 0 ? "pro" : "free");
}

struct writer {
    ft_spool *spool;
    ft_loader *loader;
    ft_json_doc *doc;
    struct ft_arena arena;
    struct ft_model model;
    long pending;
};

static void append(struct writer *w, struct ft_record *rec, const char *body, size_t len)
{
    unsigned char *head = ft_arena_alloc(&w->arena, ft_record_header_size(rec));
    size_t hlen = ft_record_header(head, rec);
    struct iovec iov[2] = {{head, hlen}, {(void *)body, len}};
    uint64_t lsn;
    bool durable;
    if (ft_spool_append(w->spool, iov, 2, NULL, NULL, &lsn, &durable)) die("spool append");
    if (++w->pending == CHUNK) {
        if (ft_spool_sync(w->spool) || ft_loader_drain(w->loader)) die("loading a chunk");
        w->pending = 0;
    }
}

static void webhooks(struct writer *w, long deliveries, long identities)
{
    char body[4096];
    for (long k = 0; k < deliveries; k++) {
        long id = (long)(next_random() % (uint64_t)identities);
        int64_t t = T0 + (int64_t)((double)k / (double)deliveries * 4 * DAY_US);
        size_t len = make_webhook(body, sizeof(body), id, k >= deliveries / 2);
        struct ft_payload p;
        ft_arena_reset(&w->arena);
        if (ft_payload_parse(w->doc, body, len, &w->arena, &p, NULL)) die("webhook payload");
        struct ft_record rec = {.type = FT_RECORD_WEBHOOK,
                                .received_at = t,
                                .has_summary = true,
                                .environment = {false, p.flags[0].environment},
                                .identity = p.identity};
        ft_model_canonicalize(&w->model, &p, &rec.sets[0], &rec.sets[1], &rec.sets[2]);
        append(w, &rec, body, len);
    }
}

static void events(struct writer *w, long count, long identities)
{
    size_t cap = EVENTS_PER_BATCH * 160;
    char *body = malloc(cap);
    if (!body) die("out of memory");
    for (long done = 0; done < count;) {
        size_t len = 0;
        int64_t last = 0;
        body[len++] = '[';
        for (int i = 0; i < EVENTS_PER_BATCH && done < count;) {
            long id = (long)(next_random() % (uint64_t)identities);
            if (!checkout_on(id, false) && next_random() % 6 == 0) continue; /* on: 1.2x */
            int64_t t = T0 + (int64_t)(next_random() % (uint64_t)(5 * DAY_US));
            double value = exp(3 + 0.8 * ((double)(next_random() % 2000) / 1000.0 - 1));
            char iso[FT_CLOCK_ISO_SIZE];
            ft_clock_format_iso(t, iso);
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s{\"identity\": \"user-%07ld\", \"event\": \"purchase\", "
                                    "\"value\": %.2f, \"timestamp\": \"%s\"}",
                                    i ? ", " : "", id, value, iso);
            if (t > last) last = t;
            i++, done++;
        }
        body[len++] = ']';
        struct ft_event *ev;
        size_t n;
        ft_arena_reset(&w->arena);
        if (ft_events_parse(w->doc, body, len, &w->arena, &ev, &n, NULL)) die("events payload");
        struct ft_record rec = {.type = FT_RECORD_EVENTS, .received_at = last};
        append(w, &rec, body, len);
    }
    free(body);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench/analyse_data DB DELIVERIES IDENTITIES EVENTS\n");
        return 2;
    }
    const char *db = argv[1];
    long deliveries = atol(argv[2]), identities = atol(argv[3]), nevents = atol(argv[4]);
    if (deliveries <= 0 || identities <= 0 || nevents < 0) die("counts must be positive");
    char spool_dir[4200], url[4200], err[512];
    snprintf(spool_dir, sizeof(spool_dir), "%s.spool", db);
    snprintf(url, sizeof(url), "sqlite:%s", db);
    unlink(db);
    struct ft_spool_options so = {.durability = FT_SPOOL_NONE};
    struct writer w = {.doc = ft_json_doc_new(NULL)};
    ft_store *st;
    if (ft_spool_open(spool_dir, &so, &w.spool, err, sizeof(err))) die(err);
    if (ft_store_open(url, &st, err, sizeof(err))) die(err);
    struct ft_loader_options lo = {.source = "bench", .max_attempts = 1};
    if (ft_loader_new(w.spool, st, &lo, &w.loader, err, sizeof(err))) die(err);
    ft_arena_init(&w.arena, 0);
    ft_model_init(&w.model);
    int64_t t0 = ft_clock_mono_ns();
    webhooks(&w, deliveries, identities);
    events(&w, nevents, identities);
    if (ft_spool_sync(w.spool) || ft_loader_drain(w.loader)) die("loading the last chunk");
    struct ft_loader_stats ls;
    ft_loader_get_stats(w.loader, &ls);
    if ((long)ls.deliveries != deliveries || (long)ls.events != nevents) die("rows missing");
    fprintf(stderr, "bench/analyse_data: %ld deliveries, %ld events in %.1f s\n", deliveries,
            nevents, (double)(ft_clock_mono_ns() - t0) / 1e9);
    ft_loader_free(w.loader);
    ft_store_close(st);
    ft_spool_close(w.spool);
    ft_model_free(&w.model);
    ft_arena_free(&w.arena);
    ft_json_doc_free(w.doc);
    remove_spool(spool_dir);
    return 0;
}
