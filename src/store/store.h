/*
 * The warehouse: where accepted webhooks end up, in the content-addressed model of
 * docs/receive.md ("Warehouse schema").
 *
 * A webhook repeats the same flags for most identities and the same identity's traits on
 * every call, so each distinct set of flags, traits or segment memberships is stored once,
 * under an id derived from its canonical content (src/store/model.c), and each delivery is one
 * small row pointing at its three sets. Inserting a set is idempotent, so loaders never
 * coordinate. A batch of deliveries and the consumer's new checkpoint commit in one
 * transaction: loading is exactly once.
 *
 * The interface is one vtable per backend (sqlite.c, postgres.c; ClickHouse will follow the
 * same shape). A store handle is used by one thread at a time.
 */
#ifndef FT_STORE_H
#define FT_STORE_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_store ft_store;

enum ft_set_kind { FT_SET_FLAGS, FT_SET_TRAITS, FT_SET_SEGMENTS };

/* A distinct set, new to this loader: its members are written with the batch. */
struct ft_store_set {
    enum ft_set_kind kind;
    int64_t id;
    size_t n;
    union {
        const struct ft_flag *flags;
        const struct ft_trait *traits;
        const struct ft_segment *segments;
    } m;
};

struct ft_store_delivery {
    uint64_t lsn;               /* spool position: unique per source */
    int64_t received_at;        /* µs since the epoch, UTC */
    struct ft_nint environment; /* the flags' environment id, null without flags */
    struct ft_str identity;
    int64_t flags_set, traits_set, segments_set;
    uint8_t body_sha256[32];
    struct ft_str delivery_id;  /* Standard Webhooks webhook-id, nullable (ptr NULL) */
};

/* A metric event (ft_event); (source, lsn, idx) identifies it, so loading it twice is once. */
struct ft_store_event {
    uint64_t lsn;
    uint32_t idx;               /* position among the events of one record */
    struct ft_str identity;
    struct ft_str event;
    bool has_value;
    double value;
    int64_t occurred_at;        /* µs since the epoch */
    int64_t received_at;
};

struct ft_store_batch {
    const char *source;         /* the receiver's name; checkpoints are per source */
    const struct ft_store_set *sets;
    size_t nsets;
    const struct ft_store_delivery *deliveries;
    size_t ndeliveries;
    const struct ft_store_event *events;
    size_t nevents;
    bool keep_checkpoint;       /* true: leave the source's checkpoint as it is */
    uint64_t checkpoint;        /* the source's new checkpoint, stored in the same transaction */
};

/* A bound parameter or a result cell of a query. */
enum ft_cell_type { FT_CELL_NULL, FT_CELL_INT, FT_CELL_REAL, FT_CELL_TEXT };

struct ft_cell {
    enum ft_cell_type type;
    int64_t i;
    double d;
    struct ft_str s; /* valid during the row callback only */
};

#define FT_CELL_I(v) ((struct ft_cell){.type = FT_CELL_INT, .i = (v)})
#define FT_CELL_D(v) ((struct ft_cell){.type = FT_CELL_REAL, .d = (v)})
#define FT_CELL_S(v) ((struct ft_cell){.type = FT_CELL_TEXT, .s = (v)})

/* Called for each result row; a non-zero return stops the query and is returned by it. */
typedef int (*ft_store_row_fn)(void *arg, const struct ft_cell *cells, size_t ncells);

struct ft_store_ops {
    const char *scheme;
    int (*open)(const char *location, unsigned flags, ft_store **out, char *err, size_t errlen);
    int (*checkpoint)(ft_store *st, const char *source, uint64_t *lsn);
    int (*write)(ft_store *st, const struct ft_store_batch *b);
    int (*ping)(ft_store *st);
    int (*query)(ft_store *st, const char *sql, const struct ft_cell *params, size_t nparams,
                 ft_store_row_fn row, void *arg);
    const char *(*errmsg)(ft_store *st);
    void (*close)(ft_store *st);
};

/* Every backend's handle starts with this. */
struct ft_store {
    const struct ft_store_ops *ops;
};

/*
 * Opens a store from its URL: "sqlite:PATH" (the file is created with its schema when
 * missing) or "postgres://USER@HOST:PORT/DB" (libpq's URL; the schema is created in the
 * database when missing); older schemas are migrated. Returns FT_OK; FT_EINVAL for an unknown
 * scheme; FT_ESTORE when the store cannot be opened. `err` gets the reason (never a password).
 */
int ft_store_open(const char *url, ft_store **out, char *err, size_t errlen);

/* ft_store_open with flags: FT_STORE_EXISTING refuses to create a warehouse that is not there
 * (the analyses use it, so a mistyped path is an error rather than an empty answer). */
#define FT_STORE_EXISTING 1u
int ft_store_open_flags(const char *url, unsigned flags, ft_store **out, char *err,
                        size_t errlen);

/* The URL for logs and messages: a password in it ("scheme://user:secret@host") becomes
 * "***". Writes at most `cap` bytes (NUL included) and returns `out`. */
const char *ft_store_redact(const char *url, char *out, size_t cap);

/* The checkpoint of `source` (0 when it never loaded). FT_OK or FT_ESTORE. */
int ft_store_checkpoint(ft_store *st, const char *source, uint64_t *lsn);

/*
 * Writes sets (idempotently), deliveries (a repeated (source, lsn) or delivery id is ignored),
 * events (a repeated (source, lsn, idx) is ignored) and the checkpoint in one transaction
 * (ClickHouse: table by table, each repeat merged away). FT_OK; FT_EREFUSED when the warehouse
 * refused the rows themselves (a constraint, a value's type or size: writing them again would
 * fail again); FT_ESTORE for any other failure (the connection, a lock, the disk), which may
 * pass. Nothing is written on failure (ClickHouse: the tables before the failing one may be).
 */
int ft_store_write(ft_store *st, const struct ft_store_batch *b);

/*
 * Runs one read-only statement of the store's dialect with positional parameters ("?", which
 * the PostgreSQL backend numbers $1, $2, ...), calling `row` for each result row (streamed;
 * PostgreSQL booleans arrive as 0/1 integers). FT_OK; FT_ESTORE with the error in
 * ft_store_errmsg; or what `row` returned to stop it.
 */
int ft_store_query(ft_store *st, const char *sql, const struct ft_cell *params, size_t nparams,
                   ft_store_row_fn row, void *arg);

/* The URL scheme of the store's backend ("sqlite", "postgres"): which SQL dialect it speaks. */
const char *ft_store_dialect(const ft_store *st);

/* Checks the store answers (for /readyz). FT_OK or FT_ESTORE. */
int ft_store_ping(ft_store *st);

/* The last error's message. */
const char *ft_store_errmsg(ft_store *st);

void ft_store_close(ft_store *st);

#endif
