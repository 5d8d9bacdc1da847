/*
 * The loader's internals, shared by its reader side (loader.c: reading the spool into batches,
 * the threads' lifecycle) and its writer (loader_commit.c: committing batches, the
 * quarantine). Nothing outside src/receive includes this.
 */
#ifndef FT_RECEIVE_LOADER_INT_H
#define FT_RECEIVE_LOADER_INT_H

#include "flagtrail/json.h"
#include "receive/loader.h"
#include "store/model.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Open addressing over 64-bit ids; emptied when 70% full, which bounds it. Id 0 is tracked
 * apart because 0 marks an empty slot. */
struct idset {
    uint64_t *slots;
    size_t cap, count;
    bool has_zero;
};

/* Where one record's rows begin in its batch (they are contiguous: sets it brought, its
 * delivery or its events), so that a batch can be written in slices. `unreadable`: why this
 * version could not read the record (it has no rows and goes to the quarantine), or NULL. */
struct mark {
    uint64_t lsn, next;
    size_t sets, dels, events;
    const char *unreadable;
};

/*
 * Two threads: the reader parses records into the batch it is building while the writer
 * commits the previous one. Two batch slots circulate between them. The reader adds new set
 * ids to the cache as it puts their members in a batch: batches commit in order and a failed
 * batch is retried until it commits (or the process stops), so a set the cache knows is always
 * in the warehouse or in a batch ahead. The one exception, a record the warehouse refused and
 * the writer quarantined, has the reader empty its cache and read again after the record.
 */
struct batch {
    struct ft_arena arena;
    struct mark *marks; /* one per spool record it covers, skipped ones included */
    size_t nmarks, marks_cap;
    struct ft_store_set *sets;
    size_t nsets, sets_cap;
    struct ft_store_delivery *dels;
    size_t ndels, dels_cap;
    struct ft_store_event *events;
    size_t nevents, events_cap;
    uint64_t end; /* checkpoint once this batch commits */
    int64_t first_ns;
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
    /* what `last-kept` names, until the first record is read: when that record is the one
     * named (a stop came while it was being kept), it goes to the quarantine again, where it
     * is kept once; UINT64_MAX: nothing to compare */
    uint64_t chosen_lsn;
    int64_t read_logged_ns; /* a spool that cannot be read is logged once a minute */
    bool read_failed;       /* in a drain: it ends, and reports FT_EIO */

    /* the hand-over */
    struct batch slots[2];
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct batch *ready; /* built, waiting for the writer */
    struct batch *free;  /* committed, waiting for the reader */
    bool reader_done;
    bool writer_failed;
    int writer_rc; /* why: FT_ESTORE, or FT_ECORRUPT at a record it may not skip */
    atomic_bool rewind; /* the writer quarantined a record: read again from rewind_lsn */
    uint64_t rewind_lsn;

    pthread_t reader_thread, writer_thread;
    bool running;
    bool drain; /* stop at the first moment nothing durable is left */
    atomic_bool stop;
    int64_t deadline_us;

    pthread_mutex_t lock; /* guards stats and last_error */
    struct ft_loader_stats stats;
    char last_error[512];
};

/* Sets the error ft_loader_last_error reports. */
void ft__loader_set_error(ft_loader *l, const char *msg);

/* The position `last-kept` in the quarantine `dir` names, or UINT64_MAX. */
uint64_t ft__loader_marked(const char *dir);

/* Empties a batch for reuse. */
void ft__loader_reset_batch(struct batch *b);

/* The writer thread: commits the batches the reader hands over, in order. */
void *ft__loader_writer_main(void *arg);

#endif
