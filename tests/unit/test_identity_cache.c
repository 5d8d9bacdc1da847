/*
 * serve's identity cache (src/serve/identity_cache.h): what is put comes back as copies, a put
 * replaces, the bounds evict the oldest, a clear forgets everything.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "serve/identity_cache.h"

#include <stdio.h>
#include <string.h>

static struct ft_trait trait(int64_t id, const char *key, const char *value)
{
    return (struct ft_trait){.id = {.null = false, .value = id},
                             .key = ft_str_c(key),
                             .value = {FT_VALUE_STRING, ft_str_c(value)},
                             .has_transient = true};
}

static bool get(ft_icache *c, const char *env, const char *identifier, struct ft_arena *a,
                int64_t *id, struct ft_trait **t, size_t *n)
{
    return ft__icache_get(c, ft_str_c(env), ft_str_c(identifier), a, 2, id, t, n);
}

static bool missing(ft_icache *c, const char *env, const char *identifier, struct ft_arena *a)
{
    int64_t id;
    struct ft_trait *t;
    size_t n;
    return !get(c, env, identifier, a, &id, &t, &n);
}

/* Puts user-0 .. user-(n-1), each with one trait of `value`, their ids their numbers. */
static void put_users(ft_icache *c, int n, const char *value)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "user-%d", i);
        struct ft_trait t = trait(i, "k", value);
        ft__icache_put(c, ft_str_c("e"), ft_str_c(name), i, &t, 1);
    }
}

Test(identity_cache, put_then_get_copies)
{
    ft_icache *c = ft__icache_new(100, 1 << 20);
    char key[] = "plan", value[] = "pro";
    struct ft_trait in[2] = {trait(7, "age", "42"), trait(9, key, value)};
    ft__icache_put(c, ft_str_c("env"), ft_str_c("alice"), 3, in, 2);
    memcpy(key, "xxxx", 4); /* the cache holds its own bytes */
    struct ft_arena a;
    ft_arena_init(&a, 0);
    int64_t id;
    struct ft_trait *t;
    size_t n;
    cr_assert(get(c, "env", "alice", &a, &id, &t, &n));
    cr_expect(eq(i64, id, 3));
    cr_assert(eq(sz, n, 2));
    cr_expect(t[1].id.value == 9 && ft_str_eq(t[1].key, ft_str_c("plan")) &&
              ft_str_eq(t[1].value.text, ft_str_c("pro")));
    cr_expect(missing(c, "env", "bob", &a));
    cr_expect(missing(c, "other", "alice", &a), "environments are apart");
    ft__icache_clear(c); /* the copies outlive the entry */
    cr_expect(ft_str_eq(t[0].value.text, ft_str_c("42")));
    cr_expect(missing(c, "env", "alice", &a));
    ft_arena_free(&a);
    ft__icache_free(c);
}

Test(identity_cache, a_put_replaces)
{
    ft_icache *c = ft__icache_new(100, 1 << 20);
    struct ft_trait one = trait(1, "k", "v1"), two[2] = {trait(1, "k", "v2"), trait(2, "j", "x")};
    ft__icache_put(c, ft_str_c("e"), ft_str_c("id"), 5, &one, 1);
    ft__icache_put(c, ft_str_c("e"), ft_str_c("id"), 5, two, 2);
    size_t entries, bytes;
    ft__icache_size(c, &entries, &bytes);
    cr_expect(eq(sz, entries, 1));
    struct ft_arena a;
    ft_arena_init(&a, 0);
    int64_t id;
    struct ft_trait *t;
    size_t n;
    cr_assert(get(c, "e", "id", &a, &id, &t, &n));
    cr_expect(eq(sz, n, 2));
    cr_expect(ft_str_eq(t[0].value.text, ft_str_c("v2")));
    ft_arena_free(&a);
    ft__icache_free(c);
}

Test(identity_cache, bounds_evict_the_oldest)
{
    ft_icache *c = ft__icache_new(10, 1 << 20);
    put_users(c, 25, "v");
    size_t entries, bytes;
    ft__icache_size(c, &entries, &bytes);
    cr_expect(eq(sz, entries, 10));
    struct ft_arena a;
    ft_arena_init(&a, 0);
    int64_t id;
    struct ft_trait *t;
    size_t n;
    cr_expect(missing(c, "e", "user-14", &a));
    cr_expect(get(c, "e", "user-15", &a, &id, &t, &n) && id == 15);
    cr_expect(get(c, "e", "user-24", &a, &id, &t, &n) && id == 24);
    ft__icache_free(c);

    /* bytes: entries of about 1 KiB each in 8 KiB */
    c = ft__icache_new(1000, 8192);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put_users(c, 20, big);
    ft__icache_size(c, &entries, &bytes);
    cr_expect(bytes == 0, "an entry over a 64th of the bound is not kept");
    ft__icache_free(c);
    c = ft__icache_new(1000, 64 * 8192);
    put_users(c, 1000, big);
    ft__icache_size(c, &entries, &bytes);
    cr_expect(bytes <= 64 * 8192 && entries < 1000 && entries > 100, "%zu entries, %zu bytes",
              entries, bytes);
    cr_expect(get(c, "e", "user-999", &a, &id, &t, &n), "the newest stays");
    ft_arena_free(&a);
    ft__icache_free(c);
}
