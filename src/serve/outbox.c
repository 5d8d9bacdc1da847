/*
 * Outbox records (src/serve/outbox.h).
 */
#include "serve/outbox.h"
#include "flagtrail/error.h"

#include <string.h>
#include <sys/random.h>

void ft_outbox_new_id(char out[FT_OUTBOX_ID_SIZE])
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford base32 */
    unsigned char rnd[26];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n > 0) got += (size_t)n;
    }
    memcpy(out, "msg_", 4);
    for (size_t i = 0; i < sizeof(rnd); i++)
        out[4 + i] = alphabet[rnd[i] & 31];
    out[4 + sizeof(rnd)] = '\0';
}

static size_t clamp(size_t n, size_t max)
{
    return n > max ? max : n;
}

/* The fixed part: type, attempts, created_at and, for a retry, due_at. */
static size_t fixed_size(unsigned type)
{
    return type == FT_OUTBOX_RETRY ? 18 : 10;
}

size_t ft_outbox_header_size(const struct ft_outbox_record *r)
{
    return fixed_size(r->type) + 1 + clamp(r->id.len, 255) + 2 + clamp(r->url.len, 65535) + 1 +
           clamp(r->environment.len, 255) + 2 + clamp(r->reason.len, 65535);
}

static void put64(unsigned char *out, int64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get64(const unsigned char *p)
{
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | p[i];
    return (int64_t)t;
}

static size_t put(unsigned char *out, struct ft_str s, size_t width, size_t max)
{
    size_t n = clamp(s.len, max);
    for (size_t i = 0; i < width; i++)
        out[i] = (unsigned char)(n >> (8 * i));
    if (n) memcpy(out + width, s.ptr, n);
    return width + n;
}

size_t ft_outbox_header(unsigned char *out, const struct ft_outbox_record *r)
{
    size_t n = 0;
    out[n++] = (unsigned char)r->type;
    out[n++] = (unsigned char)(r->attempts > 255 ? 255 : r->attempts);
    put64(out + n, r->created_at);
    n += 8;
    if (r->type == FT_OUTBOX_RETRY) {
        put64(out + n, r->due_at);
        n += 8;
    }
    n += put(out + n, r->id, 1, 255);
    n += put(out + n, r->url, 2, 65535);
    n += put(out + n, r->environment, 1, 255);
    n += put(out + n, r->reason, 2, 65535);
    return n;
}

static bool get(const unsigned char *p, size_t len, size_t *at, size_t width, struct ft_str *out)
{
    if (len - *at < width) return false;
    size_t n = 0;
    for (size_t i = 0; i < width; i++)
        n |= (size_t)p[*at + i] << (8 * i);
    *at += width;
    if (len - *at < n) return false;
    *out = (struct ft_str){(const char *)p + *at, n};
    *at += n;
    return true;
}

int ft_outbox_decode(const void *data, size_t len, struct ft_outbox_record *out)
{
    const unsigned char *p = data;
    *out = (struct ft_outbox_record){0};
    if (len < 1 || (p[0] != FT_OUTBOX_WEBHOOK && p[0] != FT_OUTBOX_DEAD &&
                    p[0] != FT_OUTBOX_RETRY))
        return FT_ECORRUPT;
    size_t at = fixed_size(p[0]);
    if (len < at) return FT_ECORRUPT;
    out->type = p[0];
    out->attempts = p[1];
    out->created_at = get64(p + 2);
    if (out->type == FT_OUTBOX_RETRY) out->due_at = get64(p + 10);
    if (!get(p, len, &at, 1, &out->id) || !get(p, len, &at, 2, &out->url) ||
        !get(p, len, &at, 1, &out->environment) || !get(p, len, &at, 2, &out->reason))
        return FT_ECORRUPT;
    out->body = (struct ft_str){(const char *)p + at, len - at};
    return FT_OK;
}
