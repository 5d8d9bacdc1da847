/*
 * Unit tests of the warehouse (src/store): the SQLite backend's schema, batches, idempotence,
 * checkpoints and errors, and the canonical set model (src/store/model.c).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "store/model.h"
#include "store/store.h"
#include "helpers.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static char path[64], url[80];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/ft-store-XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    snprintf(url, sizeof(url), "sqlite:%s", path);
}

static void teardown(void)
{
    char p[100];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

TestSuite(store, .init = setup, .fini = teardown);

static ft_store *open_store(void)
{
    ft_store *st = NULL;
    char err[512] = "";
    cr_assert(eq(int, ft_store_open(url, &st, err, sizeof(err)), FT_OK), "%s", err);
    return st;
}

static long long scalar(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    cr_assert(sqlite3_open(path, &db) == SQLITE_OK);
    cr_assert(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert(sqlite3_step(q) == SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static struct ft_flag test_flags[2];
static struct ft_trait test_traits[1];
static struct ft_segment test_segments[1];

static void make_sets(struct ft_store_set sets[3])
{
    test_flags[0] = (struct ft_flag){.enabled = true,
                                     .feature = {.id = 1, .name = FT_STR("a"), .type = FT_STR("STANDARD")},
                                     .value = {FT_VALUE_INT, FT_STR("9007199254740993")},
                                     .id = 11,
                                     .feature_segment = {.null = true},
                                     .identity = {.null = false, .value = 77},
                                     .has_percentage_allocation = true,
                                     .percentage_allocation = {FT_VALUE_FLOAT, FT_STR("33.3")}};
    test_flags[1] = (struct ft_flag){.enabled = false,
                                     .feature = {.id = 2, .name = FT_STR("b"), .type = FT_STR("MULTIVARIATE")},
                                     .value = {FT_VALUE_NULL, FT_STR("")},
                                     .id = 12,
                                     .feature_segment = {.null = false, .value = 5},
                                     .identity = {.null = true}};
    test_traits[0] = (struct ft_trait){.id = {.null = true}, .key = FT_STR("city"),
                                       .value = {FT_VALUE_STRING, FT_STR("Z\xc3\xbcrich")},
                                       .has_transient = true, .transient = true};
    test_segments[0] = (struct ft_segment){.id = 9, .name = FT_STR("beta"), .member = true};
    sets[0] = (struct ft_store_set){FT_SET_FLAGS, 100, 2, {.flags = test_flags}};
    sets[1] = (struct ft_store_set){FT_SET_TRAITS, 200, 1, {.traits = test_traits}};
    sets[2] = (struct ft_store_set){FT_SET_SEGMENTS, 300, 1, {.segments = test_segments}};
}

static struct ft_store_delivery delivery(uint64_t lsn, const char *identity)
{
    return (struct ft_store_delivery){.lsn = lsn,
                                      .received_at = 1795500000000000LL + (int64_t)lsn,
                                      .environment = {.null = false, .value = 7},
                                      .identity = ft_str_c(identity),
                                      .flags_set = 100,
                                      .traits_set = 200,
                                      .segments_set = 300};
}

Test(store, a_new_file_gets_the_schema_and_a_zero_checkpoint)
{
    ft_store *st = open_store();
    uint64_t lsn = 99;
    cr_expect(eq(int, ft_store_checkpoint(st, "r1", &lsn), FT_OK));
    cr_expect(eq(u64, lsn, 0));
    cr_expect(eq(int, ft_store_ping(st), FT_OK));
    ft_store_close(st);
    cr_expect(eq(i64, scalar("PRAGMA user_version"), 3));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('ft_evaluations',"
                             " 'ft_exposures', 'ft_identity_traits', 'ft_segment_members',"
                             " 'ft_event_by_identity')"),
                 5));
    st = open_store(); /* reopening migrates nothing */
    ft_store_close(st);
    cr_expect(eq(i64, scalar("PRAGMA user_version"), 3));
}

Test(store, a_batch_lands_with_types_and_checkpoint)
{
    ft_store *st = open_store();
    struct ft_store_set sets[3];
    make_sets(sets);
    struct ft_store_delivery d[2] = {delivery(16, "u1"), delivery(900, "u2")};
    d[1].delivery_id = FT_STR("msg_1");
    struct ft_store_batch b = {.source = "r1", .sets = sets, .nsets = 3, .deliveries = d,
                               .ndeliveries = 2, .checkpoint = 1200};
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK), "%s", ft_store_errmsg(st));
    uint64_t lsn;
    cr_assert(eq(int, ft_store_checkpoint(st, "r1", &lsn), FT_OK));
    cr_expect(eq(u64, lsn, 1200));
    cr_expect(eq(int, ft_store_checkpoint(st, "r2", &lsn), FT_OK));
    cr_expect(eq(u64, lsn, 0), "checkpoints are per source");
    ft_store_close(st);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_evaluations"), 4));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_evaluations WHERE value_type = 'int' AND "
                             "value = '9007199254740993' AND percentage_allocation = 33.3 AND "
                             "identity_override = 77"),
                 2));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_flag_set WHERE value_type = 'null' AND "
                             "value IS NULL AND feature_segment = 5"),
                 1));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_identity_traits WHERE trait_key = 'city' "
                             "AND trait_id IS NULL AND transient = 1 AND value = 'Z\xc3\xbcrich'"),
                 2));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_segment_members WHERE segment_name = 'beta'"),
                 2));
    cr_expect(eq(i64, scalar("SELECT times_seen FROM ft_exposures WHERE identity = 'u1' AND "
                             "feature_id = 1"),
                 1));
}

Test(store, writing_the_same_rows_again_changes_nothing)
{
    ft_store *st = open_store();
    struct ft_store_set sets[3];
    make_sets(sets);
    struct ft_store_delivery d[2] = {delivery(16, "u1"), delivery(900, "u2")};
    d[0].delivery_id = FT_STR("msg_1");
    struct ft_store_batch b = {.source = "r1", .sets = sets, .nsets = 3, .deliveries = d,
                               .ndeliveries = 2, .checkpoint = 1200};
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK));
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK));
    /* a retried delivery with the same id from another position is one delivery */
    struct ft_store_delivery again = delivery(2000, "u1");
    again.delivery_id = FT_STR("msg_1");
    struct ft_store_batch b2 = {.source = "r1", .deliveries = &again, .ndeliveries = 1,
                                .checkpoint = 2100};
    cr_assert(eq(int, ft_store_write(st, &b2), FT_OK));
    ft_store_close(st);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 2));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_flag_set"), 2));
    cr_expect(eq(i64, scalar("SELECT lsn FROM ft_checkpoint WHERE source = 'r1'"), 2100));
}

Test(store, a_failed_batch_writes_nothing)
{
    ft_store *st = open_store();
    sqlite3 *db;
    cr_assert(sqlite3_open(path, &db) == SQLITE_OK);
    cr_assert(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
    struct ft_store_set sets[3];
    make_sets(sets);
    struct ft_store_delivery d = delivery(16, "u1");
    struct ft_store_batch b = {.source = "r1", .sets = sets, .nsets = 3, .deliveries = &d,
                               .ndeliveries = 1, .checkpoint = 100};
    cr_expect(eq(int, ft_store_write(st, &b), FT_ESTORE));
    cr_expect(strstr(ft_store_errmsg(st), "locked") != NULL, "%s", ft_store_errmsg(st));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    uint64_t lsn;
    cr_assert(eq(int, ft_store_checkpoint(st, "r1", &lsn), FT_OK));
    cr_expect(eq(u64, lsn, 0));
    cr_expect(eq(int, ft_store_write(st, &b), FT_OK), "the same batch succeeds later");
    ft_store_close(st);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 1));
}

Test(store, an_older_schema_is_migrated_and_keeps_its_rows)
{
    ft_store *st = open_store();
    struct ft_store_set sets[3];
    make_sets(sets);
    struct ft_store_delivery d = delivery(16, "u1");
    struct ft_store_batch b = {.source = "r1", .sets = sets, .nsets = 3, .deliveries = &d,
                               .ndeliveries = 1, .checkpoint = 100};
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK));
    ft_store_close(st);
    sqlite3 *db; /* back to version 1 */
    sqlite3_open(path, &db);
    sqlite3_exec(db, "DROP INDEX ft_event_by_identity; PRAGMA user_version = 1", NULL, NULL, NULL);
    sqlite3_close(db);
    cr_expect(eq(i64, scalar("PRAGMA user_version"), 1));
    st = open_store();
    ft_store_close(st);
    cr_expect(eq(i64, scalar("PRAGMA user_version"), 3));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ft_event_by_identity'"
                             " AND sql LIKE '%occurred_at, value)'"),
                 1));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_delivery"), 1));
}

Test(store, events_land_once_and_may_leave_the_checkpoint)
{
    ft_store *st = open_store();
    struct ft_store_event ev[2] = {
        {.lsn = 3, .idx = 0, .identity = FT_STR("u"), .event = FT_STR("buy"), .has_value = true,
         .value = 2.5, .occurred_at = 10, .received_at = 20},
        {.lsn = 3, .idx = 1, .identity = FT_STR("u"), .event = FT_STR("signup"), .occurred_at = 11,
         .received_at = 20},
    };
    struct ft_store_batch b = {.source = "import:x", .events = ev, .nevents = 2,
                               .keep_checkpoint = true};
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK));
    cr_assert(eq(int, ft_store_write(st, &b), FT_OK));
    ft_store_close(st);
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_event"), 2));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_event WHERE value IS NULL"), 1));
    cr_expect(eq(i64, scalar("SELECT COUNT(*) FROM ft_checkpoint"), 0));
}

Test(store, urls_and_versions)
{
    ft_store *st;
    char err[512];
    cr_expect(eq(int, ft_store_open("mysql://x", &st, err, sizeof(err)), FT_EINVAL));
    cr_expect(strstr(err, "unknown store") != NULL);
    cr_expect(eq(int, ft_store_open("sqlite:", &st, err, sizeof(err)), FT_EINVAL));
    cr_expect(eq(int, ft_store_open("sqlite:/no/such/dir/x.db", &st, err, sizeof(err)),
                 FT_ESTORE));
    cr_expect(strstr(err, "sqlite:/no/such/dir/x.db") != NULL, "%s", err);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    cr_expect(eq(int, ft_store_open(url, &st, err, sizeof(err)), FT_ESTORE));
    cr_expect(strstr(err, "newer than this flagtrail") != NULL, "%s", err);
    char url2[100];
    snprintf(url2, sizeof(url2), "sqlite://%s", path);
    cr_expect(eq(int, ft_store_open(url2, &st, err, sizeof(err)), FT_ESTORE),
              "sqlite:// is the same file");
}

/* --- the canonical model --- */

static void parse(ft_json_doc *doc, struct ft_arena *a, const char *s, struct ft_payload *p)
{
    struct ft_payload_error err;
    cr_assert(eq(int, ft_payload_parse(doc, s, strlen(s), a, p, &err), FT_OK), "%s", err.detail);
}

#define F(id, name, v)                                                                         \
    "{\"enabled\": true, \"environment\": 1, \"feature\": {\"created_date\": \"d\", "          \
    "\"default_enabled\": true, \"description\": null, \"id\": " #id ", \"initial_value\": "   \
    "null, \"name\": \"" name "\", \"type\": \"STANDARD\"}, \"feature_segment\": null, "       \
    "\"feature_state_value\": " v ", \"id\": 2, \"identity\": null}"

Test(model, order_does_not_change_a_set_but_content_does)
{
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena a;
    ft_arena_init(&a, 0);
    struct ft_model m;
    ft_model_init(&m);
    struct ft_payload p1, p2, p3, p4;
    parse(doc, &a, "{\"identity\": \"u\", \"flags\": [" F(2, "b", "1") ", " F(1, "a", "\"x\"") "],"
                   " \"traits\": [{\"id\": 1, \"trait_key\": \"k\", \"trait_value\": 1}],"
                   " \"segments\": [{\"id\": 5, \"name\": \"s\", \"member\": true}]}", &p1);
    int64_t a1, b1, c1, a2, b2, c2, a3, b3, c3, a4, b4, c4;
    ft_model_canonicalize(&m, &p1, &a1, &b1, &c1);
    cr_expect(eq(i64, p1.flags[0].feature.id, 1), "flags sorted by feature id");
    parse(doc, &a, "{\"identity\": \"other\", \"flags\": [" F(1, "a", "\"x\"") ", " F(2, "b", "1")
                   "], \"traits\": [{\"id\": 1, \"trait_key\": \"k\", \"trait_value\": 1}],"
                   " \"segments\": [{\"id\": 5, \"name\": \"s\", \"member\": true}]}", &p2);
    ft_model_canonicalize(&m, &p2, &a2, &b2, &c2);
    cr_expect(eq(i64, a1, a2));
    cr_expect(eq(i64, b1, b2));
    cr_expect(eq(i64, c1, c2));
    /* 1 and "1" are different values; a member flip is a different set */
    parse(doc, &a, "{\"identity\": \"u\", \"flags\": [" F(1, "a", "\"x\"") ", " F(2, "b", "\"1\"")
                   "], \"traits\": [{\"id\": 1, \"trait_key\": \"k\", \"trait_value\": \"1\"}],"
                   " \"segments\": [{\"id\": 5, \"name\": \"s\", \"member\": false}]}", &p3);
    ft_model_canonicalize(&m, &p3, &a3, &b3, &c3);
    cr_expect(ne(i64, a1, a3));
    cr_expect(ne(i64, b1, b3));
    cr_expect(ne(i64, c1, c3));
    /* empty sets of different kinds differ */
    parse(doc, &a, "{\"identity\": \"u\", \"flags\": [], \"traits\": [], \"segments\": []}", &p4);
    ft_model_canonicalize(&m, &p4, &a4, &b4, &c4);
    cr_expect(ne(i64, a4, b4));
    cr_expect(ne(i64, b4, c4));
    ft_model_free(&m);
    ft_arena_free(&a);
    ft_json_doc_free(doc);
}

/* The ids of ft_model_canonicalize, from a model that has not seen the payload. */
static void fresh_ids(ft_json_doc *doc, struct ft_arena *a, const char *s, int64_t ids[3])
{
    struct ft_model fresh;
    ft_model_init(&fresh);
    struct ft_payload p;
    parse(doc, a, s, &p);
    ft_model_canonicalize(&fresh, &p, &ids[0], &ids[1], &ids[2]);
    ft_model_free(&fresh);
}

#define BODY(trait_value, member)                                                          \
    "{\"identity\": \"u\", \"flags\": [" F(2, "b", "1") ", " F(1, "a", "\"x\"") "],"        \
    " \"traits\": [{\"id\": 1, \"trait_key\": \"k\", \"trait_value\": " trait_value "}],"   \
    " \"segments\": [{\"id\": 5, \"name\": \"s\", \"member\": " member "}]}"

Test(model, remembered_ids_are_the_canonical_ones)
{
    /* bodies whose lists have equal lengths but other text, then the first again, more times
     * than the memo holds: every id must equal a fresh model's */
    const char *bodies[] = {BODY("1", "true"), BODY("2", "true"), BODY("1", "false"),
                            BODY("3", "false")};
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena a;
    ft_arena_init(&a, 0);
    struct ft_model m;
    ft_model_init(&m);
    for (int round = 0; round < 3 * FT_MODEL_MEMO; round++) {
        const char *s = bodies[round % 4];
        int64_t want[3], got[3];
        fresh_ids(doc, &a, s, want);
        struct ft_payload p;
        parse(doc, &a, s, &p);
        ft_model_set_ids(&m, &p, got);
        for (int k = 0; k < 3; k++)
            cr_expect(eq(i64, got[k], want[k]), "round %d, kind %d", round, k);
    }
    int64_t x[3], y[3];
    fresh_ids(doc, &a, bodies[0], x);
    fresh_ids(doc, &a, bodies[1], y);
    cr_expect(eq(i64, x[0], y[0]), "the same flags");
    cr_expect(ne(i64, x[1], y[1]), "other traits");
    ft_model_free(&m);
    ft_arena_free(&a);
    ft_json_doc_free(doc);
}

Test(store, redact_hides_a_url_password)
{
    char out[128];
    cr_expect_str_eq(ft_store_redact("postgres://u:pw@h:5432/db", out, sizeof(out)),
                     "postgres://u:***@h:5432/db");
    cr_expect_str_eq(ft_store_redact("postgres://u@h:5432/db", out, sizeof(out)),
                     "postgres://u@h:5432/db");
    cr_expect_str_eq(ft_store_redact("postgres://h:5432/db", out, sizeof(out)),
                     "postgres://h:5432/db");
    cr_expect_str_eq(ft_store_redact("sqlite:./a:b@c.db", out, sizeof(out)), "sqlite:./a:b@c.db");
    cr_expect_str_eq(ft_store_redact("postgres://u:p@ss@h/db", out, sizeof(out)),
                     "postgres://u:***@h/db");
}
