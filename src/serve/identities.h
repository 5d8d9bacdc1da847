/*
 * serve's identity store: identities and their traits, per environment, in SQLite (one
 * serve) or PostgreSQL (several serves sharing them).
 *
 * As Flagsmith core does, an identity is created the first time it is asked for, each trait
 * keeps its id for life (an update changes the value, not the id), a trait sent with a null
 * value is deleted, and traits sent as transient (or all traits of a transient identity) are
 * used for that call only: never stored, reported with a null id. One connection serves every
 * thread. The HTTP handlers submit calls to the store's own thread, which runs the calls
 * waiting at that moment in one transaction and answers each after the commit (group
 * commit). SQLite runs in WAL mode with
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

/* A transient identity's state: its traits are this call's, never stored, with null ids. No
 * store is needed. Strings in `out` are those of `changes` or live in `arena`. */
void ft_identities_transient(const struct ft_trait_change *changes, size_t nchanges,
                             struct ft_arena *arena, struct ft_identity_state *out);

/* A persisted identity's call, answered by the store's thread (ft_identities_submit). */
struct ft_identity_call {
    /* filled by the caller; the strings must live until `done` runs */
    struct ft_str environment, identifier;
    const struct ft_trait_change *changes;
    size_t nchanges;
    struct ft_arena *arena; /* the answer's strings go here */
    void (*done)(struct ft_identity_call *call); /* on the store's thread; may free the call */
    /* filled by the store before `done` */
    int status; /* FT_OK or FT_ESTORE */
    char err[256];
    struct ft_identity_state state;
    struct ft_identity_call *next; /* the store's queue */
};

/*
 * Queues a call: the store's thread resolves every call waiting when it turns to them in one
 * transaction, commits once, then calls each one's `done`. When a call fails inside a group,
 * the group is rolled back and its calls are run again one transaction each, so a failure
 * (a bad call, or the database going away) fails only the calls it touches. No HTTP thread
 * waits for the database and many calls share a commit. Thread-safe. FT_OK, or FT_ECLOSED
 * after ft_identities_shutdown (the call was not taken and `done` will not run).
 */
int ft_identities_submit(ft_identities *s, struct ft_identity_call *call);

/* Refuses later calls and waits until every call taken is done: after it, no `done` runs. */
void ft_identities_shutdown(ft_identities *s);

/* Submitted calls answered so far, and the transactions that answered them. */
void ft_identities_counts(ft_identities *s, uint64_t *calls, uint64_t *commits);

#endif
