/*
 * Fuzz driver for signature header checking.
 *
 * Input layout: one byte n, then n bytes of secret, then the header candidate up to the first
 * newline, then the body. Any header must give one of the documented answers; the true
 * signature (either case) must verify, and a header that verifies must be that signature.
 */
#include "fuzz_check.h"
#include "flagtrail/error.h"
#include "flagtrail/signature.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t n = data[0];
    if (n == 0 || 1 + n > size) return 0;
    const uint8_t *secret = data + 1, *rest = data + 1 + n;
    size_t rest_len = size - 1 - n;
    const uint8_t *nl = memchr(rest, '\n', rest_len);
    size_t header_len = nl ? (size_t)(nl - rest) : rest_len;
    const uint8_t *body = nl ? nl + 1 : rest + rest_len;
    size_t body_len = (size_t)(rest + rest_len - body);

    ft_verifier *v = ft_verifier_new();
    CHECK(ft_verifier_add(v, secret, n) == FT_OK);
    ft_signer *s = ft_signer_new(secret, n);
    CHECK(s != NULL);
    char hex[65];
    CHECK(ft_signer_hex(s, body, body_len, hex) == FT_OK);

    int rc = ft_verifier_check(v, body, body_len, (const char *)rest, header_len);
    CHECK(rc == FT_OK || rc == FT_ESIGMISSING || rc == FT_ESIGMALFORMED || rc == FT_ESIGMISMATCH);
    if (rc == FT_OK) {
        CHECK(header_len == 64);
        for (size_t i = 0; i < 64; i++)
            CHECK(tolower(rest[i]) == hex[i]);
    }
    CHECK(ft_verifier_check(v, body, body_len, hex, 64) == FT_OK);
    for (size_t i = 0; i < 64; i++)
        hex[i] = (char)toupper((unsigned char)hex[i]);
    CHECK(ft_verifier_check(v, body, body_len, hex, 64) == FT_OK);
    ft_signer_free(s);
    ft_verifier_free(v);
    return 0;
}
