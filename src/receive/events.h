/*
 * Metric events for experiments: what POST /events and `flagtrail events import` accept.
 *
 * An event is {"identity": "...", "event": "...", "value": 12.5, "timestamp": ...}: identity
 * and event are non-empty strings; value is an optional number (null or absent: no value,
 * e.g. a conversion); timestamp is optional, an ISO-8601 string ("2026-11-24T05:25:52Z",
 * offsets allowed) or a number of seconds since the epoch (fractions allowed), and defaults to
 * when the event was received. A body is one event or an array of them. Unknown keys are
 * ignored; wrong types are reported with their path ("[3].value: expected number, got
 * string").
 */
#ifndef FT_RECEIVE_EVENTS_H
#define FT_RECEIVE_EVENTS_H

#include "flagtrail/base.h"
#include "flagtrail/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Limits, in bytes of UTF-8, so that PostgreSQL's index on (identity, event, occurred_at,
 * value), at most 2704 bytes a row, holds every event: an identity is a Flagsmith identifier
 * (at most 2000 characters; serve's byte limit too), an event is a short name.
 */
#define FT_EVENT_IDENTITY_MAX_BYTES 2400
#define FT_EVENT_NAME_MAX_BYTES     200

struct ft_event {
    struct ft_str identity;
    struct ft_str event;
    bool has_value;
    double value;
    bool has_time;
    int64_t occurred_at; /* µs since the epoch, when has_time */
};

struct ft_events_error {
    size_t offset;
    char detail[384];
};

/*
 * Parses a body of one event or an array of events into an arena array. Strings point into
 * `body` or `doc` (both must outlive the events). Returns FT_OK; FT_EJSON, FT_EDEPTH or
 * FT_ETOOBIG for bad JSON; FT_EPAYLOAD for a schema error (also for an empty array).
 */
int ft_events_parse(ft_json_doc *doc, const char *body, size_t len, struct ft_arena *arena,
                    struct ft_event **out, size_t *count, struct ft_events_error *err);

/*
 * What is wrong with the strings of an event, or NULL: empty, not UTF-8, a U+0000, or past
 * the limits above. POST /events and both import formats apply it.
 */
const char *ft_event_check_strings(struct ft_str identity, struct ft_str event,
                                   const char **field);

/* Reads one event object (a value of a parsed document); `path` prefixes error messages. */
int ft_event_read(ft_json_doc *doc, const struct ft_json *v, const char *path,
                  struct ft_event *out, struct ft_events_error *err);

#endif
