/*
 * serve's identity store: identities and their traits, per environment, in SQLite (one
 * serve) or PostgreSQL (several serves sharing them).
 *
 * As Flagsmith core does, an identity is created the first time it is asked for, each trait
 * keeps its id for life (an update changes the value, not the id), a trait sent with a null
 * value is deleted, and traits sent as transient (or all traits of a transient identity) are
 * used for that call only: never stored, reported with a null id. One connection serves every
 * thread, a call at a time, each call one transaction. SQLite runs in WAL mode with
 * synchronous=NORMAL (a power cut may lose the last trait updates, never the file).
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
 * PATH) or a PostgreSQL URL ("postgres://USER@HOST:PORT/DB"). FT_OK or FT_ESTORE with `err`
 * (never a password).
 */
int ft_identities_open(const char *location, ft_identities **out, char *err, size_t errlen);
void ft_identities_close(ft_identities *s);

/*
 * Finds or creates the identity (unless `transient`), applies `changes` (in one transaction
 * when any is stored), and returns its traits. Strings in `out` live in `arena`. FT_OK or
 * FT_ESTORE with `err`. Thread-safe.
 */
int ft_identities_resolve(ft_identities *s, struct ft_str environment, struct ft_str identifier,
                          bool transient, const struct ft_trait_change *changes, size_t nchanges,
                          struct ft_arena *arena, struct ft_identity_state *out, char *err,
                          size_t errlen);

#endif
