/*
 * The receiver's spool records: what the endpoint appends and the loader reads back.
 *
 *   byte 0      type (1: webhook body)
 *   byte 1      flags (bit 0: a delivery id follows)
 *   bytes 2-9   received_at, µs since the epoch, little-endian
 *   [u8 n, n bytes: delivery id]  when flag bit 0 is set
 *   the rest    the request body, exactly as received
 *
 * The body is kept raw, so the warehouse can always be rebuilt from the spool (replay) and
 * its digest is the body's.
 */
#ifndef FT_RECEIVE_RECORD_H
#define FT_RECEIVE_RECORD_H

#include "flagtrail/base.h"

#include <stddef.h>
#include <stdint.h>

enum { FT_RECORD_WEBHOOK = 1 };

#define FT_RECORD_HEADER_MAX (10 + 1 + 255)
#define FT_DELIVERY_ID_MAX 255

struct ft_record {
    unsigned type;
    int64_t received_at;
    struct ft_str delivery_id; /* ptr NULL when absent */
    struct ft_str body;
};

/* Writes the header for a record into `out` (FT_RECORD_HEADER_MAX bytes); returns its length.
 * The body follows it in the spool (a second iovec). */
size_t ft_record_header(unsigned char *out, unsigned type, int64_t received_at,
                        struct ft_str delivery_id);

/* Reads a record; FT_OK or FT_ECORRUPT when it is malformed. Views point into `data`. */
int ft_record_decode(const void *data, size_t len, struct ft_record *out);

#endif
