/*
 * Unit tests for the HTTP client's Retry-After reader: delta-seconds, HTTP dates, and values
 * too large to honour, which are capped instead of overflowing the dispatcher's arithmetic.
 */
#include "http/client.h"

#include <criterion/criterion.h>
#include <string.h>

static int64_t ra(const char *v, int64_t now)
{
    return ft_http_retry_after(v, strlen(v), now);
}

Test(retry_after, reads_delta_seconds)
{
    cr_expect_eq(ra("0", 0), 0);
    cr_expect_eq(ra("120", 0), 120);
    cr_expect_eq(ra("007", 0), 7);
}

Test(retry_after, reads_http_dates_from_now)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
    cr_expect_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), 30);
    cr_expect_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30), 0, "a date in the past");
}

Test(retry_after, caps_what_it_cannot_honour)
{
    cr_expect_eq(ra("99999999999999999999", 0), FT_HTTP_RETRY_AFTER_MAX);
    cr_expect_eq(ra("9223372036854775807", 0), FT_HTTP_RETRY_AFTER_MAX);
    cr_expect_eq(ra("31622401", 0), FT_HTTP_RETRY_AFTER_MAX);
    cr_expect_eq(ra("31622399", 0), 31622399);
    cr_expect_eq(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0), FT_HTTP_RETRY_AFTER_MAX);
}

Test(retry_after, refuses_what_is_neither)
{
    const char *bad[] = {"", "-5", "12a", "1.5", "soon", "+3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(ra(bad[i], 0), -1, "%s", bad[i]);
    char big[100];
    memset(big, '1', sizeof(big));
    cr_expect_eq(ft_http_retry_after(big, sizeof(big), 0), -1, "longer than any date");
}
