/*
 * Fuzz driver for the engine's loaders (environment document, evaluation context) and the
 * evaluator behind them.
 *
 * Any input must load or fail with one of the documented codes and a detail. What loads is
 * evaluated without an identity, with the context's own identity, and with identities whose
 * traits use every name the conditions read, with values of each type; every evaluation must
 * be repeatable (the same answer twice) and keep the result's invariants.
 */
#include "fuzz_check.h"
#include "engine/engine_int.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ft_value samples[] = {
    {FT_VALUE_STRING, {"pro", 3}},
    {FT_VALUE_INT, {"30", 2}},
    {FT_VALUE_FLOAT, {"2.5", 3}},
    {FT_VALUE_BOOL, {"true", 4}},
    {FT_VALUE_NULL, {"", 0}},
    {FT_VALUE_STRING, {"1.2.3-rc.1", 10}},
    {FT_VALUE_INT, {"-99999999999999999999999", 24}},
    {FT_VALUE_STRING, {"", 0}},
    {FT_VALUE_FLOAT, {"1e400", 5}},
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static void check_result(const ft_engine *e, const struct ft_engine_result *r)
{
    const struct ft_engine_environment *env = ft_engine_environment(e);
    CHECK(r->nflags <= env->nfeatures);
    CHECK(r->nsegments == env->nsegments);
    for (size_t i = 0; i < r->nflags; i++) {
        const struct ft_engine_flag *f = &r->flags[i];
        CHECK(f->reason.ptr && f->reason.len > 0);
        CHECK(f->feature_name.ptr);
        if (i) CHECK(ft_str_cmp(r->flags[i - 1].feature_name, f->feature_name) < 0);
        CHECK(f->source != FT_ENGINE_SEGMENT_OVERRIDE || f->segment.ptr);
    }
}

/* Evaluates twice into two results and compares the answers. */
static void evaluate(const ft_engine *e, const struct ft_engine_identity *id, unsigned flags,
                     struct ft_engine_result *a, struct ft_engine_result *b)
{
    CHECK(ft_engine_evaluate(e, id, flags, a) == FT_OK);
    CHECK(ft_engine_evaluate(e, id, flags, b) == FT_OK);
    check_result(e, a);
    CHECK(a->nflags == b->nflags && a->nsegments == b->nsegments);
    for (size_t i = 0; i < a->nflags; i++) {
        CHECK(a->flags[i].enabled == b->flags[i].enabled);
        CHECK(a->flags[i].value.type == b->flags[i].value.type);
        CHECK(ft_str_eq(a->flags[i].value.text, b->flags[i].value.text));
        CHECK(ft_str_eq(a->flags[i].reason, b->flags[i].reason));
    }
    for (size_t i = 0; i < a->nsegments; i++)
        CHECK(a->segments[i].member == b->segments[i].member);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ft_engine_load_options opts = {.max_size = 1 << 20,
                                          .allow_comments = size > 0 && (data[0] & 1)};
    ft_engine *e;
    struct ft_engine_error err;
    int rc = ft_engine_load((const char *)data, size, &opts, &e, &err);
    if (rc != FT_OK) {
        CHECK(rc == FT_EJSON || rc == FT_EDEPTH || rc == FT_ETOOBIG || rc == FT_EDOCUMENT);
        CHECK(err.detail[0] != '\0');
        return 0;
    }
    CHECK(err.warnings == 0 || err.warning[0] != '\0');
    struct ft_engine_result a, b;
    ft_engine_result_init(&a);
    ft_engine_result_init(&b);
    evaluate(e, NULL, 0, &a, &b);
    if (ft_engine_context_identity(e)) evaluate(e, ft_engine_context_identity(e), 0, &a, &b);

    /* identities with a trait for every name conditions read, of each type in turn */
    uint32_t n = e->nslots < 64 ? e->nslots : 64;
    struct ft_engine_trait traits[64];
    for (unsigned round = 0; round < NSAMPLES; round++) {
        for (uint32_t i = 0; i < n; i++)
            traits[i] = (struct ft_engine_trait){e->slots[i], samples[(i + round) % NSAMPLES]};
        struct ft_engine_identity id = {.identifier = FT_STR("fuzz-user"),
                                        .traits = traits,
                                        .ntraits = n,
                                        .has_id = round & 1,
                                        .id = 42};
        evaluate(e, &id, round % 3 == 0 ? FT_ENGINE_CLIENT_VIEW : FT_ENGINE_ALL_FLAGS, &a, &b);
    }
    for (uint32_t i = 0; i < e->noverrides && i < 4; i++) {
        struct ft_engine_identity id = {.identifier = e->overrides[i].identifier};
        evaluate(e, &id, 0, &a, &b);
    }
    ft_engine_result_free(&a);
    ft_engine_result_free(&b);
    ft_engine_free(e);
    return 0;
}
