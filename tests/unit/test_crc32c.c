/*
 * Unit tests of CRC-32C (src/base/crc32c.c): both the table and the SSE4.2 paths against the
 * RFC 3720 test vectors and against each other, on the three-way path's blocks and tails.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "../../src/base/crc32c.c"

static uint32_t both(const void *p, size_t n)
{
    pthread_once(&once, init);
    uint32_t sw = ~crc_sw(~0u, p, n);
#if defined(__x86_64__)
    if (use_hw) cr_expect(eq(u32, ~crc_hw(~0u, p, n), sw), "hardware and table agree");
#endif
    cr_expect(eq(u32, ft_crc32c(0, p, n), sw));
    return sw;
}

Test(crc32c, rfc3720_vectors)
{
    unsigned char buf[32];
    memset(buf, 0, sizeof(buf));
    cr_expect(eq(u32, both(buf, 32), 0x8a9136aa));
    memset(buf, 0xff, sizeof(buf));
    cr_expect(eq(u32, both(buf, 32), 0x62a8ab43));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    cr_expect(eq(u32, both(buf, 32), 0x46dd794e));
    cr_expect(eq(u32, both("123456789", 9), 0xe3069283));
    cr_expect(eq(u32, both("", 0), 0));
}

Test(crc32c, incremental_equals_one_shot_at_every_split)
{
    unsigned char buf[2500]; /* three-way blocks and tails of every length */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    uint32_t whole = both(buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 7)
        cr_expect(eq(u32, ft_crc32c(ft_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut), whole));
}

Test(crc32c, three_streams_agree_with_one_at_every_length)
{
    static unsigned char buf[3 * 3 * BLOCK + 64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    for (size_t n = 0; n <= sizeof(buf); n++)
        both(buf, n); /* both() expects the hardware path to equal the table's */
    /* an unaligned start */
    both(buf + 3, sizeof(buf) - 3);
}

Test(crc32c, shift_tables_move_a_register_past_zero_bytes)
{
    pthread_once(&once, init);
    static const unsigned char zero[2 * BLOCK];
    uint32_t c = 1;
    for (int i = 0; i < 1000; i++, c = c * 69069u + 1) {
        cr_assert(eq(u32, shift(shift_1, c), crc_sw(c, zero, BLOCK)));
        cr_assert(eq(u32, shift(shift_2, c), crc_sw(c, zero, 2 * BLOCK)));
    }
}
