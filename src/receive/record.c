/*
 * Encoding and decoding of the receiver's spool records (src/receive/record.h).
 */
#include "receive/record.h"
#include "flagtrail/error.h"

#include <string.h>

size_t ft_record_header(unsigned char *out, unsigned type, int64_t received_at,
                        struct ft_str delivery_id)
{
    size_t n = 0;
    out[n++] = (unsigned char)type;
    bool has_id = delivery_id.ptr != NULL;
    out[n++] = has_id ? 1 : 0;
    for (int i = 0; i < 8; i++)
        out[n++] = (unsigned char)((uint64_t)received_at >> (8 * i));
    if (has_id) {
        size_t len = delivery_id.len > FT_DELIVERY_ID_MAX ? FT_DELIVERY_ID_MAX : delivery_id.len;
        out[n++] = (unsigned char)len;
        memcpy(out + n, delivery_id.ptr, len);
        n += len;
    }
    return n;
}

int ft_record_decode(const void *data, size_t len, struct ft_record *out)
{
    const unsigned char *p = data;
    if (len < 10) return FT_ECORRUPT;
    out->type = p[0];
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | p[2 + i];
    out->received_at = (int64_t)t;
    size_t n = 10;
    out->delivery_id = (struct ft_str){NULL, 0};
    if (p[1] & 1) {
        if (len < 11 || len < 11 + (size_t)p[10]) return FT_ECORRUPT;
        out->delivery_id = (struct ft_str){(const char *)p + 11, p[10]};
        n = 11 + p[10];
    }
    out->body = (struct ft_str){(const char *)p + n, len - n};
    return FT_OK;
}
