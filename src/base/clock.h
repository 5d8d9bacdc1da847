/*
 * Time: wall-clock and monotonic readings, and UTC timestamps in ISO-8601.
 */
#ifndef FT_BASE_CLOCK_H
#define FT_BASE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Microseconds since the Unix epoch (UTC). */
int64_t ft_clock_now_us(void);

/* Nanoseconds from a monotonic clock (for intervals only). */
int64_t ft_clock_mono_ns(void);

#define FT_CLOCK_ISO_SIZE 48

/* Formats `us` (µs since the epoch) as "2026-11-24T05:25:52.123456Z". */
void ft_clock_format_iso(int64_t us, char out[FT_CLOCK_ISO_SIZE]);

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.ffffff]]" with an optional "Z" or "+HH:MM" /
 * "-HH:MM" offset (a space may stand for "T"), or "@<unix seconds>". Without an offset the
 * time is UTC. Returns false on anything else.
 */
bool ft_clock_parse_iso(const char *s, size_t len, int64_t *out_us);

#endif
