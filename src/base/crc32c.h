/*
 * CRC-32C (Castagnoli), the checksum of spool records. Uses the SSE4.2 instruction when the
 * CPU has it, a table otherwise; both give the same values.
 */
#ifndef FT_BASE_CRC32C_H
#define FT_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over `len` bytes. */
uint32_t ft_crc32c(uint32_t crc, const void *data, size_t len);

#endif
