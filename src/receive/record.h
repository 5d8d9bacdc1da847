/*
 * The receiver's spool records: what the endpoint appends and the loader reads back.
 *
 *   byte 0        type (1: webhook, 2: metric events)
 *   byte 1        flags: bit 0 a delivery id follows, bit 1 a summary follows
 *   bytes 2-9     received_at, µs since the epoch, little-endian
 *   [u8 n, n bytes]                       the delivery id (Standard Webhooks webhook-id)
 *   [3 x i64, u8 + i64, u32 n, n bytes]   the summary: flag, trait and segment set ids,
 *                                         environment id (null flag, value), identity
 *   the rest      the request body, exactly as received
 *
 * The summary is what the endpoint learned while validating the body; with it, the loader
 * only parses the body again when one of the sets is new to it. The body is always kept raw,
 * so the warehouse can be rebuilt from the spool and the digest is the body's.
 */
#ifndef FT_RECEIVE_RECORD_H
#define FT_RECEIVE_RECORD_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FT_RECORD_WEBHOOK = 1, FT_RECORD_EVENTS = 2 };

#define FT_DELIVERY_ID_MAX 255

struct ft_record {
    unsigned type;
    int64_t received_at;
    struct ft_str delivery_id; /* ptr NULL when absent */
    bool has_summary;
    int64_t sets[3];           /* flags, traits, segments */
    struct ft_nint environment;
    struct ft_str identity;
    struct ft_str body;
};

/* Bytes the header of `r` needs (everything but the body). */
size_t ft_record_header_size(const struct ft_record *r);

/* Writes the header of `r` (everything but the body, which follows it in the spool) into
 * `out`, which holds ft_record_header_size(r) bytes; returns the length. */
size_t ft_record_header(unsigned char *out, const struct ft_record *r);

/* Reads a record; FT_OK or FT_ECORRUPT when it is malformed. Views point into `data`. */
int ft_record_decode(const void *data, size_t len, struct ft_record *out);

#endif
