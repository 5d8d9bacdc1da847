/*
 * serve's identity store: identities and their traits, per environment, in SQLite (one
 * serve) or PostgreSQL (several serves sharing them).
 *
 * As Flagsmith core does, an identity is created the first time it is asked for, each trait
 * keeps its id for life (an update changes the value, not the id), a trait sent with a null
 * value is deleted, and traits sent as transient (or all traits of a transient identity) are
 * used for that call only: never stored, reported with a null id. One connection serves every
 * thread. A call runs at once on its caller's thread, inside the transaction open at that
 * moment; the store's thread commits it the commit interval after it began, so calls share
 * commits and none waits for one: a crash may lose the trait changes of that last interval
 * (counted and logged when a commit fails). SQLite runs in WAL mode with synchronous=NORMAL (a
 * power cut may lose the last trait updates, never the file). PostgreSQL, which several
 * serves share, commits each call in its own transaction.
 */
#ifndef FT_SERVE_IDENTITIES_H
#define FT_SERVE_IDENTITIES_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_identities ft_identities;

struct ft_trait_change {
    struct ft_str key;
    struct ft_value value; /* FT_VALUE_NULL: delete the trait */
    bool transient;
};

struct ft_identity_state {
    bool persisted;          /* false for a transient identity */
    int64_t id;              /* the identity's id when persisted */
    struct ft_trait *traits; /* current traits, stored ones by id, then this call's transient */
    size_t ntraits;
};

/*
 * Opens (creating the tables) the store at `location`: a SQLite file path ("sqlite:PATH" or
 * PATH) or a PostgreSQL URL ("postgres://USER@HOST:PORT/DB"). A transaction is committed
 * `commit_interval_us` after it began (0: each call commits before it returns). FT_OK or
 * FT_ESTORE with `err` (never a password).
 */
int ft_identities_open(const char *location, int64_t commit_interval_us, ft_identities **out,
                       char *err, size_t errlen);
/* Commits what is open and closes. */
void ft_identities_close(ft_identities *s);

/* A transient identity's state: its traits are this call's, never stored, with null ids. No
 * store is needed. Strings in `out` are those of `changes` or live in `arena`. */
void ft_identities_transient(const struct ft_trait_change *changes, size_t nchanges,
                             struct ft_arena *arena, struct ft_identity_state *out);

/*
 * A persisted identity's call: finds the identity (creating it the first time), stores the
 * changes that alter its traits, and gives its traits as they now are, this call's transient
 * ones last. Runs at once, under the store's lock, in a savepoint of the open transaction: a
 * call the database refuses is undone alone. Strings in `out` are those of `changes` or live
 * in `arena`. Thread-safe. FT_OK; FT_ESTORE with `err`; FT_ECLOSED after
 * ft_identities_shutdown.
 */
int ft_identities_resolve(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          struct ft_arena *arena, struct ft_identity_state *out, char *err,
                          size_t errlen);

/* Refuses later calls (FT_ECLOSED) and commits the open transaction. */
void ft_identities_shutdown(ft_identities *s);

struct ft_identity_counts {
    uint64_t calls;   /* calls resolved */
    uint64_t commits; /* transactions committed: calls close together share one */
    uint64_t lost;    /* calls whose changes were answered, then lost with their transaction */
};
void ft_identities_counts(ft_identities *s, struct ft_identity_counts *out);

#endif
