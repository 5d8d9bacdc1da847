/*
 * The loader: moves accepted webhooks from the spool into the warehouse, exactly once.
 *
 * It reads durable records from its source's checkpoint, parses each body again, puts its sets
 * in canonical form, and gathers a batch (up to `batch_records` records or `batch_wait_us`
 * after the first). Only sets it has not written before (a bounded cache of set ids) carry
 * their members. The batch's rows and the new checkpoint commit in one transaction; only then
 * does the loader release the spool behind it. When the warehouse fails, the same batch is
 * retried with exponential backoff while the spool keeps absorbing new webhooks, so the
 * endpoint never waits for the warehouse. A batch the warehouse refuses (a constraint, a value
 * it cannot hold: FT_EREFUSED) is committed in halves until the one record it refuses alone is
 * found; that record is copied to the quarantine spool and loading goes on after it. A record
 * this version cannot read (a newer record type, a body it does not parse) goes there too.
 */
#ifndef FT_RECEIVE_LOADER_H
#define FT_RECEIVE_LOADER_H

#include "spool/spool.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_loader ft_loader;

struct ft_loader_options {
    const char *source;       /* checkpoints and rows are per source (required) */
    size_t batch_records;     /* default 10000 */
    int64_t batch_wait_us;    /* default 50000 */
    size_t cache_entries;     /* set ids remembered (default 1 Mi, 8 MiB) */
    int max_attempts;         /* per batch, for ft_loader_drain; 0: retry until stopped */
    /* where records the warehouse refuses go (a spool, created when first needed), so that
     * loading goes on past them; NULL: a refused batch is retried like any failure */
    const char *quarantine_dir;
    /* without a quarantine: skip (and count) records this version cannot read; false: loading
     * stops before the first one (ft_loader_drain: FT_ECORRUPT), which stays in the spool */
    bool skip_unreadable;
    /* called after each committed batch with the checkpoint and the durable end */
    void (*progress)(void *arg, uint64_t checkpoint, uint64_t end);
    void *progress_arg;
};

struct ft_loader_stats {
    uint64_t deliveries;    /* webhooks loaded */
    uint64_t events;        /* metric events loaded */
    uint64_t rows;          /* rows written: deliveries, new set members, events */
    uint64_t batches;
    uint64_t store_errors;  /* failed batch attempts */
    uint64_t rejected;      /* records skipped: corrupt, or unreadable with no quarantine */
    uint64_t quarantined;   /* records refused or unreadable, moved to the quarantine */
    uint64_t read_errors;   /* failed reads of the spool (the record is tried again) */
    uint64_t checkpoint;    /* committed position */
    int64_t last_commit_us; /* when the last batch committed (µs since the epoch), 0: never */
    bool store_ok;          /* the last attempt succeeded (or none failed yet) */
};

/*
 * Prepares a loader over `spool` into `store` (both borrowed): reads the source's checkpoint
 * and releases the spool up to it. FT_OK or FT_ESTORE (with `err`).
 */
int ft_loader_new(ft_spool *spool, ft_store *store, const struct ft_loader_options *opt,
                  ft_loader **out, char *err, size_t errlen);

/* Runs the loader on its own thread until ft_loader_stop. */
int ft_loader_start(ft_loader *l);

/* Asks the thread to load what is durable until `deadline_us` (monotonic, from
 * ft_clock_mono_ns()/1000), commits, and joins it. */
void ft_loader_stop(ft_loader *l, int64_t deadline_us);

/* Loads everything durable now, on the calling thread (replay, tests). FT_OK; FT_ESTORE
 * after max_attempts failed attempts of one batch; FT_ECORRUPT at a record this version cannot
 * read, with no quarantine and no skip_unreadable. */
int ft_loader_drain(ft_loader *l);

void ft_loader_get_stats(ft_loader *l, struct ft_loader_stats *out);

/* The last warehouse error (empty when none). Copies into `out`. */
void ft_loader_last_error(ft_loader *l, char *out, size_t cap);

void ft_loader_free(ft_loader *l);

#endif
