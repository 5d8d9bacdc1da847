/*
 * Hexadecimal encoding for digests and signatures.
 */
#ifndef FT_BASE_HEX_H
#define FT_BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex digits and a NUL to `out` (which holds 2*len+1 bytes). */
void ft_hex_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decodes exactly 2*out_len hex digits (either case) into `out`. Returns false when `hex_len`
 * differs or a character is not a hex digit. Runs in time independent of the digits' values.
 */
bool ft_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);

#endif
