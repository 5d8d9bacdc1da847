/*
 * Hex encoding and a decoder without data-dependent branches, so that decoding a signature
 * header reveals nothing through timing.
 */
#include "base/hex.h"

void ft_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/*
 * Value of a hex digit, or a negative number when `c` is not one; computed with masks
 * rather than branches.
 */
static int hex_value(unsigned char c)
{
    int ch = c;
    int digit = ch - '0';
    int lower = (ch | 0x20) - 'a' + 10;
    /* mask is -1 when the test holds, 0 otherwise */
    int is_digit = ((digit >= 0) & (digit <= 9)) * -1;
    int is_alpha = ((lower >= 10) & (lower <= 15)) * -1;
    return (digit & is_digit) | (lower & is_alpha) | ~(is_digit | is_alpha);
}

bool ft_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex_len != 2 * out_len) return false;
    int bad = 0;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_value((unsigned char)hex[2 * i]);
        int lo = hex_value((unsigned char)hex[2 * i + 1]);
        bad |= (hi | lo) & 0x100;
        out[i] = (uint8_t)(((hi & 15) << 4) | (lo & 15));
    }
    return bad == 0;
}
