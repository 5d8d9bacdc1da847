/*
 * CRC-32C (polynomial 0x1EDC6F41, reflected 0x82F63B78) with runtime dispatch between the
 * SSE4.2 crc32 instruction and a slicing-by-8 table.
 *
 * The instruction takes three cycles but can start one every cycle, so one chain of it runs at
 * a third of its speed. Inputs of at least three blocks are therefore cut into three streams
 * computed side by side, and the three CRCs are joined: a CRC register moved past n zero bytes
 * is a linear map of its 32 bits, which `shift_1` and `shift_2` (one and two blocks) hold as
 * four 256-entry tables each.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define POLY  0x82f63b78u
#define BLOCK 256 /* bytes of each of the three streams */

static uint32_t table[8][256];
static uint32_t shift_1[4][256], shift_2[4][256];
static bool use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The register after `n` zero bytes: the linear map the shift tables hold. */
static uint32_t past_zeros(uint32_t crc, size_t n)
{
    while (n--)
        crc = (crc >> 8) ^ table[0][crc & 0xff];
    return crc;
}

/* Fills `t` so that shift(t, c) == past_zeros(c, n), one table per byte of the register. */
static void shift_init(uint32_t t[4][256], size_t n)
{
    uint32_t bit[32];
    for (int i = 0; i < 32; i++)
        bit[i] = past_zeros(1u << i, n);
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1) v ^= bit[8 * k + j];
            t[k][b] = v;
        }
}

static uint32_t shift(uint32_t t[4][256], uint32_t crc)
{
    return t[0][crc & 0xff] ^ t[1][crc >> 8 & 0xff] ^ t[2][crc >> 16 & 0xff] ^ t[3][crc >> 24];
}

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    shift_init(shift_1, BLOCK);
    shift_init(shift_2, 2 * BLOCK);
#if defined(__x86_64__)
    use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint64_t crc_hw_word(uint64_t crc, const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return __builtin_ia32_crc32di(crc, w);
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t len)
{
    uint64_t c = crc;
    for (; len >= 3 * BLOCK; p += 3 * BLOCK, len -= 3 * BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < BLOCK; i += 8) {
            c = crc_hw_word(c, p + i);
            c1 = crc_hw_word(c1, p + BLOCK + i);
            c2 = crc_hw_word(c2, p + 2 * BLOCK + i);
        }
        c = shift(shift_2, (uint32_t)c) ^ shift(shift_1, (uint32_t)c1) ^ (uint32_t)c2;
    }
    for (; len >= 8; p += 8, len -= 8)
        c = crc_hw_word(c, p);
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t ft_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&once, init);
    crc = ~crc;
#if defined(__x86_64__)
    if (use_hw) return ~crc_hw(crc, data, len);
#endif
    return ~crc_sw(crc, data, len);
}
