/*
 * The identity store's cache (identities.c): each recently seen identity's id and stored
 * traits, exactly as the database holds them, so that a call reads them without a query. Only
 * for a store no other process writes (SQLite: serve owns the file while it runs). Bounded in
 * entries and bytes; the oldest entries go first. Not thread-safe: used under the store's lock.
 */
#ifndef FT_SERVE_IDENTITY_CACHE_H
#define FT_SERVE_IDENTITY_CACHE_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_icache ft_icache;

ft_icache *ft__icache_new(size_t max_entries, size_t max_bytes);
void ft__icache_free(ft_icache *c);

/* The identity's id and a copy of its traits in `arena`, with room for `extra` more; false
 * when it is not cached. */
bool ft__icache_get(ft_icache *c, struct ft_str env, struct ft_str identifier,
                    struct ft_arena *arena, size_t extra, int64_t *id, struct ft_trait **traits,
                    size_t *n);

/* Records the identity as the database now holds it (replacing what was cached). */
void ft__icache_put(ft_icache *c, struct ft_str env, struct ft_str identifier, int64_t id,
                    const struct ft_trait *traits, size_t n);

/* Forgets everything: the database went back to an earlier state. */
void ft__icache_clear(ft_icache *c);

/* Entries and bytes held. */
void ft__icache_size(const ft_icache *c, size_t *entries, size_t *bytes);

#endif
