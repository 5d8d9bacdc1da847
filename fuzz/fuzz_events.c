/*
 * Fuzz driver for the metric-event inputs: the POST /events body parser and the CSV reader
 * of `flagtrail events import`. Any input must parse or fail with a message; parsed events
 * must have non-empty identity and event and a finite value; the CSV reader must always move
 * forward and stay inside its input.
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "receive/csv.h"
#include "receive/events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ft_json_doc *doc;
    if (!doc) doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_event *ev;
    size_t n;
    struct ft_events_error err;
    int rc = ft_events_parse(doc, (const char *)data, size, &arena, &ev, &n, &err);
    if (rc == FT_OK) {
        CHECK(n > 0);
        for (size_t i = 0; i < n; i++) {
            CHECK(ev[i].identity.len > 0 && ev[i].event.len > 0);
            CHECK(!ev[i].has_value || isfinite(ev[i].value));
        }
    } else {
        CHECK(err.detail[0] != '\0');
    }
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        struct ft_str f[FT_CSV_MAX_FIELDS];
        const char *next = NULL;
        struct ft_csv_error cerr;
        if (ft_csv_row(p, end, &arena, f, FT_CSV_MAX_FIELDS, &n, &next, &cerr) != FT_OK) break;
        CHECK(next > p && next <= end);
        for (size_t i = 0; i < n; i++)
            CHECK(f[i].len <= size);
        p = next;
    }
    ft_arena_free(&arena);
    return 0;
}
