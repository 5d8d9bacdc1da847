/*
 * Encoding and decoding of the receiver's spool records (src/receive/record.h).
 */
#include "receive/record.h"
#include "flagtrail/error.h"

#include <string.h>

#define SUMMARY_FIXED (3 * 8 + 1 + 8 + 4)

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static size_t id_len(const struct ft_record *r)
{
    return r->delivery_id.len > FT_DELIVERY_ID_MAX ? FT_DELIVERY_ID_MAX : r->delivery_id.len;
}

size_t ft_record_header_size(const struct ft_record *r)
{
    size_t n = 10;
    if (r->delivery_id.ptr) n += 1 + id_len(r);
    if (r->has_summary) n += SUMMARY_FIXED + r->identity.len;
    return n;
}

size_t ft_record_header(unsigned char *out, const struct ft_record *r)
{
    size_t n = 0;
    out[n++] = (unsigned char)r->type;
    out[n++] = (unsigned char)((r->delivery_id.ptr ? 1 : 0) | (r->has_summary ? 2 : 0));
    put64(out + n, (uint64_t)r->received_at);
    n += 8;
    if (r->delivery_id.ptr) {
        size_t len = id_len(r);
        out[n++] = (unsigned char)len;
        memcpy(out + n, r->delivery_id.ptr, len);
        n += len;
    }
    if (r->has_summary) {
        for (int i = 0; i < 3; i++, n += 8)
            put64(out + n, (uint64_t)r->sets[i]);
        out[n++] = r->environment.null ? 0 : 1;
        put64(out + n, (uint64_t)r->environment.value);
        n += 8;
        uint32_t len = (uint32_t)r->identity.len;
        for (int i = 0; i < 4; i++)
            out[n++] = (unsigned char)(len >> (8 * i));
        memcpy(out + n, r->identity.ptr, r->identity.len);
        n += r->identity.len;
    }
    return n;
}

int ft_record_decode(const void *data, size_t len, struct ft_record *out)
{
    const unsigned char *p = data;
    *out = (struct ft_record){0};
    if (len < 10) return FT_ECORRUPT;
    out->type = p[0];
    out->received_at = (int64_t)get64(p + 2);
    size_t n = 10;
    if (p[1] & 1) {
        if (len < n + 1 || len - n - 1 < p[n]) return FT_ECORRUPT;
        out->delivery_id = (struct ft_str){(const char *)p + n + 1, p[n]};
        n += 1 + (size_t)p[n];
    }
    if (p[1] & 2) {
        if (len - n < SUMMARY_FIXED) return FT_ECORRUPT;
        out->has_summary = true;
        for (int i = 0; i < 3; i++, n += 8)
            out->sets[i] = (int64_t)get64(p + n);
        out->environment.null = p[n++] == 0;
        out->environment.value = (int64_t)get64(p + n);
        n += 8;
        uint32_t ilen = (uint32_t)p[n] | (uint32_t)p[n + 1] << 8 | (uint32_t)p[n + 2] << 16 |
                        (uint32_t)p[n + 3] << 24;
        n += 4;
        if (len - n < ilen) return FT_ECORRUPT;
        out->identity = (struct ft_str){(const char *)p + n, ilen};
        n += ilen;
    }
    out->body = (struct ft_str){(const char *)p + n, len - n};
    return FT_OK;
}
