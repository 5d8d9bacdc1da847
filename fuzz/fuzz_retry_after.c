/*
 * Fuzz driver for the Retry-After reader of the HTTP client (src/http/client.c), which reads a
 * header of the endpoint's answer: any value gives -1 or a wait within 0..FT_HTTP_RETRY_AFTER_MAX,
 * and a run of digits gives its value, saturated at the cap.
 */
#include "fuzz_check.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>

/* The digits' value saturated at the cap, or -1 when they are not all digits. */
static int64_t digits(const uint8_t *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
        if (v > FT_HTTP_RETRY_AFTER_MAX) v = FT_HTTP_RETRY_AFTER_MAX;
    }
    return n ? v : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t got = ft_http_retry_after((const char *)data, size, 1700000000);
    CHECK(got >= -1 && got <= FT_HTTP_RETRY_AFTER_MAX);
    int64_t want = digits(data, size);
    if (want >= 0 && size < 64) CHECK(got == want);
    return 0;
}
