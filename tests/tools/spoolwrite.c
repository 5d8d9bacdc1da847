/*
 * A test tool: writes webhooks with chosen receive times into a spool, as the receiver's
 * endpoint would (validated, with the summary), so that `flagtrail replay` loads them through
 * the real loader. Lets tests build warehouses spanning days.
 *
 *   spoolwrite SPOOL_DIR < lines      each line: RECEIVED_AT_US <TAB> BODY
 *   spoolwrite --events SPOOL_DIR     each line: RECEIVED_AT_US <TAB> EVENTS BODY
 */
#include "flagtrail/error.h"
#include "flagtrail/payload.h"
#include "receive/events.h"
#include "receive/record.h"
#include "spool/spool.h"
#include "store/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    bool events = argc == 3 && strcmp(argv[1], "--events") == 0;
    if (argc != 2 && !events) {
        fprintf(stderr, "usage: spoolwrite [--events] SPOOL_DIR < lines\n");
        return 2;
    }
    ft_spool *s;
    char err[256];
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC};
    if (ft_spool_open(argv[argc - 1], &so, &s, err, sizeof(err))) {
        fprintf(stderr, "spoolwrite: %s\n", err);
        return 1;
    }
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_model model;
    ft_model_init(&model);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        const char *body = tab + 1;
        size_t len = (size_t)(line + n - body);
        struct ft_record rec = {.type = events ? FT_RECORD_EVENTS : FT_RECORD_WEBHOOK,
                                .received_at = strtoll(line, NULL, 10)};
        ft_arena_reset(&arena);
        if (events) {
            struct ft_event *ev;
            size_t count;
            struct ft_events_error eerr;
            if (ft_events_parse(doc, body, len, &arena, &ev, &count, &eerr)) {
                fprintf(stderr, "spoolwrite: line %ld: %s\n", lineno, eerr.detail);
                rc = 1;
                break;
            }
        } else {
            struct ft_payload p;
            struct ft_payload_error perr;
            if (ft_payload_parse(doc, body, len, &arena, &p, &perr)) {
                fprintf(stderr, "spoolwrite: line %ld: %s\n", lineno, perr.detail);
                rc = 1;
                break;
            }
            rec.has_summary = true;
            rec.environment = (struct ft_nint){p.nflags == 0, p.nflags ? p.flags[0].environment : 0};
            rec.identity = p.identity;
            ft_model_canonicalize(&model, &p, &rec.sets[0], &rec.sets[1], &rec.sets[2]);
        }
        unsigned char *head = ft_arena_alloc(&arena, ft_record_header_size(&rec));
        size_t hlen = ft_record_header(head, &rec);
        struct iovec iov[2] = {{head, hlen}, {(void *)body, len}};
        uint64_t lsn;
        bool durable;
        if (ft_spool_append(s, iov, 2, NULL, NULL, &lsn, &durable)) {
            fprintf(stderr, "spoolwrite: cannot append line %ld\n", lineno);
            rc = 1;
            break;
        }
    }
    if (rc == 0 && ft_spool_sync(s)) rc = 1;
    free(line);
    ft_model_free(&model);
    ft_arena_free(&arena);
    ft_json_doc_free(doc);
    ft_spool_close(s);
    return rc;
}
