/*
 * serve's identity store: identities and their traits, per environment, in SQLite (one
 * serve) or PostgreSQL (several serves sharing them).
 *
 * As Flagsmith core does (api/environments/sdk/services.py), an identity is created the first
 * time it is asked for, each trait keeps its id for life (an update changes the value, not the
 * id), a trait sent with a null value is deleted, and traits sent as transient are used for
 * that call only: never stored, reported with a null id, in the place of a stored trait of the
 * same key. A transient call reads the identity if it is stored and stores nothing; an
 * organisation that does not persist traits gets its identities created, never their traits.
 * Each call also gives the traits the store holds after it: Flagsmith's webhook computes
 * segment membership from those.
 *
 * One connection serves every thread. A call runs at once on its caller's thread, inside the
 * transaction open at that moment; the store's thread commits it the commit interval after it
 * began, so calls share commits and none waits for one: a crash may lose the trait changes of
 * that last interval (counted and logged when a commit fails). SQLite runs in WAL mode with
 * synchronous=NORMAL (a power cut may lose the last trait updates, never the file).
 * PostgreSQL, which several serves share, commits each call in its own transaction.
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

/* How a call treats the identity and its traits: Flagsmith's three ways. */
enum ft_identity_mode {
    /* get_persisted_identity_and_traits: create the identity, store the changes not marked
     * transient */
    FT_IDENTITY_PERSIST,
    /* the same for an organisation with persist_trait_data false: the identity is created,
     * its traits are this call's over the stored ones and nothing is stored */
    FT_IDENTITY_NO_PERSIST,
    /* get_identified_transient_identity_and_traits ("transient": true): read the identity if
     * it is stored, every change transient, nothing created or stored */
    FT_IDENTITY_TRANSIENT,
};

struct ft_identity_state {
    bool persisted;          /* the identity is in the store (created by this call, maybe) */
    int64_t id;              /* its id then */
    struct ft_trait *traits; /* the call's traits: stored ones by id with this call's unstored
                              * ones in the place of a stored key, or after them */
    size_t ntraits;
    const struct ft_trait *stored; /* the traits the store holds after the call */
    size_t nstored;
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

/* The state of an identity no store holds (sent without identifier): its traits are this
 * call's with a value, in their order (a repeated key listed again, as generate_traits does),
 * all transient, with null ids; it has no stored traits. Strings in `out` are those of
 * `changes` or live in `arena`. */
void ft_identities_transient(const struct ft_trait_change *changes, size_t nchanges,
                             struct ft_arena *arena, struct ft_identity_state *out);

/*
 * An identified call, as `mode` says: finds the identity (creating it the first time, unless
 * transient), stores the changes that alter its traits (FT_IDENTITY_PERSIST), and gives the
 * call's traits and the stored ones. Runs at once, under the store's lock, in a savepoint of
 * the open transaction: a call the database refuses is undone alone. Strings in `out` are
 * those of `changes` or live in `arena`. Thread-safe. FT_OK; FT_ESTORE with `err`;
 * FT_ECLOSED after ft_identities_shutdown.
 */
int ft_identities_resolve(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          const struct ft_trait_change *changes, size_t nchanges,
                          enum ft_identity_mode mode, struct ft_arena *arena,
                          struct ft_identity_state *out, char *err, size_t errlen);

/* Refuses later calls (FT_ECLOSED) and commits the open transaction. */
void ft_identities_shutdown(ft_identities *s);

struct ft_identity_counts {
    uint64_t calls;   /* calls resolved */
    uint64_t commits; /* transactions committed: calls close together share one */
    uint64_t lost;    /* calls whose changes were answered, then lost with their transaction */
};
void ft_identities_counts(ft_identities *s, struct ft_identity_counts *out);

#endif
