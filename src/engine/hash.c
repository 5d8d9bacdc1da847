/*
 * Flagsmith's hashed percentage, which places an identity in a PERCENTAGE_SPLIT segment and in
 * a multivariate feature's variants: MD5 of the comma-joined ids, read as a 128-bit integer.
 *
 * MD5 is implemented here (RFC 1321) rather than taken from OpenSSL: the inputs are a few dozen
 * bytes, where OpenSSL 3's EVP layer costs more than the hash itself, and the engine depends on
 * nothing but the base module and PCRE2.
 */
#include "engine/engine_int.h"

#include <string.h>

/* --- MD5 (RFC 1321) --- */

/* The four rounds, unrolled: a step is a = b + ((a + f(b, c, d) + m + k) <<< r). MD5 is a chain
 * of dependent steps, so each f is written to leave the fewest operations after b (the
 * newest word) is known: G as a sum of disjoint terms, H with c ^ d first, and a + m + k is
 * added before f. */
#define F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define H(x, y, z) ((x) ^ ((y) ^ (z)))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))
#define STEP(f, a, b, c, d, m, k, r)                   \
    do {                                               \
        (a) += (m) + (uint32_t)(k);                    \
        (a) += f((b), (c), (d));                       \
        (a) = ((a) << (r)) | ((a) >> (32 - (r)));      \
        (a) += (b);                                    \
    } while (0)
/* G(x, y, z) = (x & z) | (y & ~z), and the two terms never share a bit */
#define STEP_G(a, b, c, d, m, k, r)                    \
    do {                                               \
        (a) += (m) + (uint32_t)(k) + ((c) & ~(d));     \
        (a) += (b) & (d);                              \
        (a) = ((a) << (r)) | ((a) >> (32 - (r)));      \
        (a) += (b);                                    \
    } while (0)

/* The 64 steps: S(f, a, b, c, d, message word, constant, rotation). */
#define MD5_STEPS(S) \
    S(F, a, b, c, d, 0, 0xd76aa478, 7) \
    S(F, d, a, b, c, 1, 0xe8c7b756, 12) \
    S(F, c, d, a, b, 2, 0x242070db, 17) \
    S(F, b, c, d, a, 3, 0xc1bdceee, 22) \
    S(F, a, b, c, d, 4, 0xf57c0faf, 7) \
    S(F, d, a, b, c, 5, 0x4787c62a, 12) \
    S(F, c, d, a, b, 6, 0xa8304613, 17) \
    S(F, b, c, d, a, 7, 0xfd469501, 22) \
    S(F, a, b, c, d, 8, 0x698098d8, 7) \
    S(F, d, a, b, c, 9, 0x8b44f7af, 12) \
    S(F, c, d, a, b, 10, 0xffff5bb1, 17) \
    S(F, b, c, d, a, 11, 0x895cd7be, 22) \
    S(F, a, b, c, d, 12, 0x6b901122, 7) \
    S(F, d, a, b, c, 13, 0xfd987193, 12) \
    S(F, c, d, a, b, 14, 0xa679438e, 17) \
    S(F, b, c, d, a, 15, 0x49b40821, 22) \
    S(G, a, b, c, d, 1, 0xf61e2562, 5) \
    S(G, d, a, b, c, 6, 0xc040b340, 9) \
    S(G, c, d, a, b, 11, 0x265e5a51, 14) \
    S(G, b, c, d, a, 0, 0xe9b6c7aa, 20) \
    S(G, a, b, c, d, 5, 0xd62f105d, 5) \
    S(G, d, a, b, c, 10, 0x02441453, 9) \
    S(G, c, d, a, b, 15, 0xd8a1e681, 14) \
    S(G, b, c, d, a, 4, 0xe7d3fbc8, 20) \
    S(G, a, b, c, d, 9, 0x21e1cde6, 5) \
    S(G, d, a, b, c, 14, 0xc33707d6, 9) \
    S(G, c, d, a, b, 3, 0xf4d50d87, 14) \
    S(G, b, c, d, a, 8, 0x455a14ed, 20) \
    S(G, a, b, c, d, 13, 0xa9e3e905, 5) \
    S(G, d, a, b, c, 2, 0xfcefa3f8, 9) \
    S(G, c, d, a, b, 7, 0x676f02d9, 14) \
    S(G, b, c, d, a, 12, 0x8d2a4c8a, 20) \
    S(H, a, b, c, d, 5, 0xfffa3942, 4) \
    S(H, d, a, b, c, 8, 0x8771f681, 11) \
    S(H, c, d, a, b, 11, 0x6d9d6122, 16) \
    S(H, b, c, d, a, 14, 0xfde5380c, 23) \
    S(H, a, b, c, d, 1, 0xa4beea44, 4) \
    S(H, d, a, b, c, 4, 0x4bdecfa9, 11) \
    S(H, c, d, a, b, 7, 0xf6bb4b60, 16) \
    S(H, b, c, d, a, 10, 0xbebfbc70, 23) \
    S(H, a, b, c, d, 13, 0x289b7ec6, 4) \
    S(H, d, a, b, c, 0, 0xeaa127fa, 11) \
    S(H, c, d, a, b, 3, 0xd4ef3085, 16) \
    S(H, b, c, d, a, 6, 0x04881d05, 23) \
    S(H, a, b, c, d, 9, 0xd9d4d039, 4) \
    S(H, d, a, b, c, 12, 0xe6db99e5, 11) \
    S(H, c, d, a, b, 15, 0x1fa27cf8, 16) \
    S(H, b, c, d, a, 2, 0xc4ac5665, 23) \
    S(I, a, b, c, d, 0, 0xf4292244, 6) \
    S(I, d, a, b, c, 7, 0x432aff97, 10) \
    S(I, c, d, a, b, 14, 0xab9423a7, 15) \
    S(I, b, c, d, a, 5, 0xfc93a039, 21) \
    S(I, a, b, c, d, 12, 0x655b59c3, 6) \
    S(I, d, a, b, c, 3, 0x8f0ccc92, 10) \
    S(I, c, d, a, b, 10, 0xffeff47d, 15) \
    S(I, b, c, d, a, 1, 0x85845dd1, 21) \
    S(I, a, b, c, d, 8, 0x6fa87e4f, 6) \
    S(I, d, a, b, c, 15, 0xfe2ce6e0, 10) \
    S(I, c, d, a, b, 6, 0xa3014314, 15) \
    S(I, b, c, d, a, 13, 0x4e0811a1, 21) \
    S(I, a, b, c, d, 4, 0xf7537e82, 6) \
    S(I, d, a, b, c, 11, 0xbd3af235, 10) \
    S(I, c, d, a, b, 2, 0x2ad7d2bb, 15) \
    S(I, b, c, d, a, 9, 0xeb86d391, 21)

static void load_words(uint32_t m[16], const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(m, p, 16 * sizeof(uint32_t));
#else
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 | (uint32_t)p[i * 4 + 2] << 16 |
               (uint32_t)p[i * 4 + 3] << 24;
#endif
}

#define STEP_F(a, b, c, d, m, k, r) STEP(F, a, b, c, d, m, k, r)
#define STEP_H(a, b, c, d, m, k, r) STEP(H, a, b, c, d, m, k, r)
#define STEP_I(a, b, c, d, m, k, r) STEP(I, a, b, c, d, m, k, r)
#define ONE(f, a, b, c, d, i, k, r) STEP_##f(a, b, c, d, m[i], k, r);

static void md5_block(uint32_t h[4], const unsigned char *p)
{
    uint32_t m[16];
    load_words(m, p);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    MD5_STEPS(ONE)
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

/* Two independent blocks at once: MD5 is one long dependency chain, so a second chain
 * interleaved with it runs in the first one's stalls, nearly for free. */
#define TWO(f, a, b, c, d, i, k, r) \
    STEP_##f(a, b, c, d, m[i], k, r); \
    STEP_##f(a##2, b##2, c##2, d##2, m2[i], k, r);

static void md5_block_pair(uint32_t h[4], const unsigned char *p, uint32_t h2[4],
                           const unsigned char *p2)
{
    uint32_t m[16], m2[16];
    load_words(m, p);
    load_words(m2, p2);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    uint32_t a2 = h2[0], b2 = h2[1], c2 = h2[2], d2 = h2[3];
    MD5_STEPS(TWO)
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h2[0] += a2, h2[1] += b2, h2[2] += c2, h2[3] += d2;
}

/* MD5 of `len` bytes, as the four state words (the digest is their little-endian bytes). The
 * last one or two blocks are padded in `tail`, which the caller may already have filled with
 * the message when it is short (then data == tail). */
static void md5_words(const unsigned char *data, size_t len, unsigned char tail[128],
                      uint32_t h[4])
{
    h[0] = 0x67452301, h[1] = 0xefcdab89, h[2] = 0x98badcfe, h[3] = 0x10325476;
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        md5_block(h, p);
    /* the tail, 0x80, zeros, and the length in bits: one block, or two past 55 bytes */
    size_t tail_len = left < 56 ? 64 : 128;
    if (left && p != tail) memmove(tail, p, left);
    tail[left] = 0x80;
    memset(tail + left + 1, 0, tail_len - 8 - left - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(h, tail);
    if (tail_len == 128) md5_block(h, tail + 64);
}

void ft__md5(const void *data, size_t len, unsigned char digest[16])
{
    unsigned char tail[128];
    uint32_t h[4];
    md5_words(data, len, tail, h);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            digest[i * 4 + j] = (unsigned char)(h[i] >> (8 * j));
}

/* --- hashed percentage --- */

/* Appends ",".join(ids * iterations) to `out` (capacity `cap`); false when it does not fit. */
static bool join(char *out, size_t cap, size_t *len, const struct ft_str *ids, size_t nids,
                 unsigned iterations)
{
    size_t n = 0;
    for (unsigned it = 0; it < iterations; it++) {
        for (size_t i = 0; i < nids; i++) {
            if (n + ids[i].len + 1 > cap) return false;
            if (it || i) out[n++] = ',';
            memcpy(out + n, ids[i].ptr, ids[i].len);
            n += ids[i].len;
        }
    }
    *len = n;
    return true;
}

/* The digest as a big-endian 128-bit integer hi * 2^64 + lo, modulo 9999, scaled to [0, 100]. The
 * digest's bytes are the words' little-endian bytes, so each word reads byte-swapped. */
static double percentage_of(const uint32_t h[4])
{
    uint64_t hi = (uint64_t)__builtin_bswap32(h[0]) << 32 | __builtin_bswap32(h[1]);
    uint64_t lo = (uint64_t)__builtin_bswap32(h[2]) << 32 | __builtin_bswap32(h[3]);
    const uint64_t two64_mod = 18446744073709551615u % 9999 + 1; /* 2^64 mod 9999 */
    uint32_t r = (uint32_t)(((hi % 9999) * two64_mod + lo % 9999) % 9999);
    return (double)r / 9998.0 * 100.0;
}

double ft__hash_percentage(const struct ft_str *ids, size_t nids, struct ft_buf *scratch)
{
    for (unsigned iterations = 1;; iterations++) {
        /* a short text is joined straight into the block MD5 pads in place */
        unsigned char small[128];
        const unsigned char *text = small;
        size_t len;
        if (!join((char *)small, 64, &len, ids, nids, iterations)) {
            ft_buf_reset(scratch);
            for (unsigned it = 0; it < iterations; it++) {
                for (size_t i = 0; i < nids; i++) {
                    if (it || i) ft_buf_append_char(scratch, ',');
                    ft_buf_append(scratch, ids[i].ptr, ids[i].len);
                }
            }
            text = (const unsigned char *)scratch->data;
            len = scratch->len;
        }
        uint32_t h[4];
        md5_words(text, len, small, h);
        double value = percentage_of(h);
        if (value != 100.0) return value;
    }
}

/* "<key>,<identity>" padded into one MD5 block; false when it needs more than one. */
static bool one_block(unsigned char block[64], struct ft_str key, struct ft_str identity)
{
    size_t len = key.len + 1 + identity.len;
    if (key.len > 55 || len > 55) return false;
    memcpy(block, key.ptr, key.len);
    block[key.len] = ',';
    memcpy(block + key.len + 1, identity.ptr, identity.len);
    block[len] = 0x80;
    memset(block + len + 1, 0, 56 - len - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        block[56 + i] = (unsigned char)(bits >> (8 * i));
    return true;
}

void ft__hash_percentages(const struct ft_str *keys, uint32_t n, struct ft_str identity,
                          double *out, struct ft_buf *scratch)
{
    uint32_t i = 0;
    for (; i + 1 < n; i += 2) {
        unsigned char b1[64], b2[64];
        if (!one_block(b1, keys[i], identity) || !one_block(b2, keys[i + 1], identity)) {
            for (uint32_t j = i; j < i + 2; j++)
                out[j] = ft__hash_percentage((struct ft_str[]){keys[j], identity}, 2, scratch);
            continue;
        }
        uint32_t h1[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
        uint32_t h2[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
        md5_block_pair(h1, b1, h2, b2);
        out[i] = percentage_of(h1);
        out[i + 1] = percentage_of(h2);
        /* exactly 100 rehashes the doubled text: rare, and done one at a time */
        for (uint32_t j = i; j < i + 2; j++)
            if (out[j] == 100.0)
                out[j] = ft__hash_percentage((struct ft_str[]){keys[j], identity}, 2, scratch);
    }
    if (i < n) out[i] = ft__hash_percentage((struct ft_str[]){keys[i], identity}, 2, scratch);
}
