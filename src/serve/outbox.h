/*
 * The outbox's records: a webhook waiting for delivery, the same webhook moved to the outbox's
 * tail while it waits for a retry (src/serve/dispatcher.c, "rotation"), and the same webhook
 * as a dead letter.
 *
 *   byte 0       type (3: webhook to deliver, 5: webhook waiting to retry, 4: dead letter)
 *   byte 1       attempts made (retries and dead letters)
 *   bytes 2-9    created_at, µs since the epoch, little-endian
 *   bytes 10-17  due_at, µs since the epoch, little-endian: when to try again (type 5 only)
 *   u8 n, n      the delivery id (Standard Webhooks webhook-id, stable across retries)
 *   u16 n, n     the URL
 *   u8 n, n      the environment's api key (the signing secret is looked up when sending, so a
 *                secret never rests on disk in the outbox)
 *   u16 n, n     why it is dead (dead letters; empty otherwise)
 *   the rest     the body, Flagsmith's bytes
 */
#ifndef FT_SERVE_OUTBOX_H
#define FT_SERVE_OUTBOX_H

#include "flagtrail/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FT_OUTBOX_WEBHOOK = 3, FT_OUTBOX_DEAD = 4, FT_OUTBOX_RETRY = 5 };

#define FT_OUTBOX_ID_SIZE 32 /* "msg_" + 26 base32 characters + NUL, with room to spare */

struct ft_outbox_record {
    unsigned type;
    unsigned attempts;
    int64_t created_at;
    int64_t due_at; /* FT_OUTBOX_RETRY */
    struct ft_str id;
    struct ft_str url;
    struct ft_str environment;
    struct ft_str reason;
    struct ft_str body;
};

/* A new random delivery id, "msg_" and 26 base32 characters. */
void ft_outbox_new_id(char out[FT_OUTBOX_ID_SIZE]);

size_t ft_outbox_header_size(const struct ft_outbox_record *r);
/* Writes everything but the body (which follows in the spool); returns the length. Fields
 * longer than their length prefix allows are cut. */
size_t ft_outbox_header(unsigned char *out, const struct ft_outbox_record *r);
/* FT_OK or FT_ECORRUPT. Views point into `data`. */
int ft_outbox_decode(const void *data, size_t len, struct ft_outbox_record *out);

#endif
