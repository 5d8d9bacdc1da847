/*
 * Unit tests of the identity store's three ways of treating a call (src/serve/identities.c),
 * as Flagsmith's api/environments/sdk/services.py and Identity.update_traits /
 * generate_traits do: a persisted call stores what is not transient; a transient call reads
 * the stored identity and lays its traits over the stored ones, storing and creating nothing;
 * an organisation that does not persist traits gets identities without traits. Each call also
 * gives the stored traits, which the webhook's segment members come from. SQLite in a
 * temporary directory, each call committed at once.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "serve/identities.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[96];
static ft_identities *store;
static struct ft_arena arena;

static void open_store(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ft-identities-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/identities.db", dir);
    char err[256];
    cr_assert_eq(ft_identities_open(path, 0, &store, err, sizeof(err)), FT_OK, "%s", err);
    ft_arena_init(&arena, 0);
}

static void close_store(void)
{
    ft_identities_close(store);
    ft_arena_free(&arena);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(identities, .init = open_store, .fini = close_store);

static struct ft_trait_change change(const char *key, const char *value, bool transient)
{
    struct ft_value v = value ? (struct ft_value){FT_VALUE_STRING, ft_str_c(value)}
                              : (struct ft_value){FT_VALUE_NULL, {"", 0}};
    return (struct ft_trait_change){ft_str_c(key), v, transient};
}

static struct ft_identity_state call(const char *identifier, const struct ft_trait_change *ch,
                                     size_t n, enum ft_identity_mode mode)
{
    struct ft_identity_state st;
    char err[256] = "";
    int rc = ft_identities_resolve(store, ft_str_c("env"), ft_str_c(identifier), ch, n, mode,
                                   &arena, &st, err, sizeof(err));
    cr_assert_eq(rc, FT_OK, "%s", err);
    return st;
}

/* "key=value~" for each trait (~ when transient, # when it has no id), in order. */
static const char *list(const struct ft_trait *t, size_t n)
{
    static char out[512];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%.*s=%.*s%s%s", i ? " " : "",
                                (int)t[i].key.len, t[i].key.ptr, (int)t[i].value.text.len,
                                t[i].value.text.ptr, t[i].transient ? "~" : "",
                                t[i].id.null ? "#" : "");
    return out;
}

Test(identities, a_persisted_call_stores_what_is_not_transient)
{
    struct ft_trait_change ch[] = {change("a", "1", false), change("t", "x", true),
                                   change("b", "2", false)};
    struct ft_identity_state st = call("u", ch, 3, FT_IDENTITY_PERSIST);
    cr_expect(st.persisted && st.id > 0);
    cr_expect_str_eq(list(st.traits, st.ntraits), "a=1 b=2 t=x~#");
    cr_expect_str_eq(list(st.stored, st.nstored), "a=1 b=2");
    /* a transient value of a stored key takes its place, for the call only */
    struct ft_trait_change again[] = {change("a", "9", true)};
    st = call("u", again, 1, FT_IDENTITY_PERSIST);
    cr_expect_str_eq(list(st.traits, st.ntraits), "a=9~# b=2");
    cr_expect_str_eq(list(st.stored, st.nstored), "a=1 b=2");
}

Test(identities, a_transient_call_lays_its_traits_over_the_stored_ones)
{
    struct ft_trait_change ch[] = {change("a", "1", false), change("b", "2", false)};
    struct ft_identity_state first = call("u", ch, 2, FT_IDENTITY_PERSIST);
    struct ft_trait_change over[] = {change("b", "20", false), change("c", "3", false),
                                     change("c", "4", false), change("a", NULL, false)};
    struct ft_identity_state st = call("u", over, 4, FT_IDENTITY_TRANSIENT);
    cr_expect(st.persisted && st.id == first.id);
    cr_expect_str_eq(list(st.traits, st.ntraits), "a=1 b=20~# c=4~#", "update_traits");
    cr_expect_str_eq(list(st.stored, st.nstored), "a=1 b=2");
    st = call("u", NULL, 0, FT_IDENTITY_PERSIST);
    cr_expect_str_eq(list(st.traits, st.ntraits), "a=1 b=2", "nothing was stored");
}

Test(identities, a_transient_call_creates_nothing)
{
    struct ft_trait_change ch[] = {change("c", "3", false), change("c", "4", false),
                                   change("n", NULL, false)};
    struct ft_identity_state st = call("ghost", ch, 3, FT_IDENTITY_TRANSIENT);
    cr_expect(st.persisted == false && st.id == 0 && st.nstored == 0);
    cr_expect_str_eq(list(st.traits, st.ntraits), "c=3~# c=4~#", "generate_traits");
    st = call("ghost", NULL, 0, FT_IDENTITY_TRANSIENT);
    cr_expect(st.persisted == false, "still not stored");
}

Test(identities, an_organisation_without_persistence_stores_identities_only)
{
    struct ft_trait_change ch[] = {change("a", "1", false), change("t", "x", true),
                                   change("a", "2", false), change("n", NULL, false)};
    struct ft_identity_state st = call("p", ch, 4, FT_IDENTITY_NO_PERSIST);
    cr_expect(st.persisted && st.id > 0 && st.nstored == 0);
    cr_expect_str_eq(list(st.traits, st.ntraits), "a=1# t=x~# a=2#", "a new identity");
    struct ft_trait_change later[] = {change("b", "1", false), change("b", "3", false)};
    st = call("p", later, 2, FT_IDENTITY_NO_PERSIST);
    cr_expect_str_eq(list(st.traits, st.ntraits), "b=3#", "a stored one: update_traits's way");
    cr_expect_eq(st.nstored, 0);
}

Test(identities, an_identity_without_identifier_keeps_its_traits_in_order)
{
    struct ft_trait_change ch[] = {change("b", "1", false), change("a", NULL, false),
                                   change("b", "2", true)};
    struct ft_identity_state st;
    ft_identities_transient(ch, 3, &arena, &st);
    cr_expect(st.persisted == false && st.nstored == 0);
    cr_expect_str_eq(list(st.traits, st.ntraits), "b=1~# b=2~#");
}
