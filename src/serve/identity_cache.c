/*
 * The identity store's cache (identity_cache.h): a chained hash table of entries, each one
 * allocation (the entry, its traits, then every string they point to), and a list from oldest
 * to newest for eviction. A put replaces the entry, so an identity's entry is as new as its
 * last call.
 */
#include "serve/identity_cache.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS (1u << 16)

struct entry {
    struct entry *chain;         /* the bucket's next */
    struct entry *older, *newer; /* eviction order */
    uint64_t hash;
    int64_t id;
    size_t bytes;
    struct ft_str env, identifier;
    size_t n;
    struct ft_trait traits[]; /* then the strings */
};

struct ft_icache {
    struct entry *buckets[NBUCKETS];
    struct entry *oldest, *newest;
    size_t entries, bytes, max_entries, max_bytes;
};

ft_icache *ft__icache_new(size_t max_entries, size_t max_bytes)
{
    ft_icache *c = ft_xcalloc(1, sizeof(*c));
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    return c;
}

void ft__icache_free(ft_icache *c)
{
    if (!c) return;
    ft__icache_clear(c);
    free(c);
}

static uint64_t hash_of(struct ft_str env, struct ft_str identifier)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < env.len; i++)
        h = (h ^ (unsigned char)env.ptr[i]) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull; /* no byte of UTF-8 text: env and identifier stay apart */
    for (size_t i = 0; i < identifier.len; i++)
        h = (h ^ (unsigned char)identifier.ptr[i]) * 1099511628211ull;
    return h;
}

/* The bucket link that points at the identity's entry (or at NULL, where it would go). */
static struct entry **find(ft_icache *c, uint64_t h, struct ft_str env, struct ft_str identifier)
{
    struct entry **at = &c->buckets[h % NBUCKETS];
    while (*at && !((*at)->hash == h && ft_str_eq((*at)->identifier, identifier) &&
                    ft_str_eq((*at)->env, env)))
        at = &(*at)->chain;
    return at;
}

static void unlink_entry(ft_icache *c, struct entry **at)
{
    struct entry *e = *at;
    *at = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->entries--;
    c->bytes -= e->bytes;
    free(e);
}

bool ft__icache_get(ft_icache *c, struct ft_str env, struct ft_str identifier,
                    struct ft_arena *arena, size_t extra, int64_t *id, struct ft_trait **traits,
                    size_t *n)
{
    struct entry *e = *find(c, hash_of(env, identifier), env, identifier);
    if (!e) return false;
    struct ft_trait *t = ft_arena_alloc(arena, sizeof(*t) * (e->n + extra + 1));
    for (size_t i = 0; i < e->n; i++) { /* copies: the entry may go before the caller is done */
        t[i] = e->traits[i];
        t[i].key.ptr = ft_arena_strndup(arena, e->traits[i].key.ptr, e->traits[i].key.len);
        t[i].value.text.ptr =
            ft_arena_strndup(arena, e->traits[i].value.text.ptr, e->traits[i].value.text.len);
    }
    *id = e->id;
    *traits = t;
    *n = e->n;
    return true;
}

/* Copies `s` to *pos, returning the copy. */
static struct ft_str place(char **pos, struct ft_str s)
{
    struct ft_str out = {*pos, s.len};
    if (s.len) memcpy(*pos, s.ptr, s.len);
    *pos += s.len;
    return out;
}

void ft__icache_put(ft_icache *c, struct ft_str env, struct ft_str identifier, int64_t id,
                    const struct ft_trait *traits, size_t n)
{
    uint64_t h = hash_of(env, identifier);
    struct entry **at = find(c, h, env, identifier);
    if (*at) unlink_entry(c, at);
    size_t strings = env.len + identifier.len;
    for (size_t i = 0; i < n; i++)
        strings += traits[i].key.len + traits[i].value.text.len;
    size_t bytes = sizeof(struct entry) + sizeof(struct ft_trait) * n + strings;
    if (bytes > c->max_bytes / 64) return; /* an identity that large is read from the database */
    while (c->oldest && (c->entries + 1 > c->max_entries || c->bytes + bytes > c->max_bytes))
        unlink_entry(c, find(c, c->oldest->hash, c->oldest->env, c->oldest->identifier));
    struct entry *e = ft_xmalloc(bytes);
    char *pos = (char *)&e->traits[n];
    *e = (struct entry){.hash = h, .id = id, .bytes = bytes, .n = n, .older = c->newest};
    e->env = place(&pos, env);
    e->identifier = place(&pos, identifier);
    for (size_t i = 0; i < n; i++) {
        e->traits[i] = traits[i];
        e->traits[i].key = place(&pos, traits[i].key);
        e->traits[i].value.text = place(&pos, traits[i].value.text);
    }
    at = find(c, h, env, identifier); /* evictions may have moved the link */
    e->chain = *at;
    *at = e;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->entries++;
    c->bytes += bytes;
}

void ft__icache_clear(ft_icache *c)
{
    for (struct entry *e = c->oldest, *next; e; e = next) {
        next = e->newer;
        free(e);
    }
    memset(c->buckets, 0, sizeof(c->buckets));
    c->oldest = c->newest = NULL;
    c->entries = c->bytes = 0;
}

void ft__icache_size(const ft_icache *c, size_t *entries, size_t *bytes)
{
    *entries = c->entries;
    *bytes = c->bytes;
}
