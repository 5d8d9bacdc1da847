/*
 * Fuzz driver for the display escapes (src/base/display.c), which every text from a webhook
 * goes through before a terminal or a page shows it.
 *
 * Input: any bytes. The output must be valid UTF-8 with no control character (C0, DEL, C1)
 * left, its width must count its code points, and bytes that needed no escape must come out
 * unchanged.
 */
#include "fuzz_check.h"
#include "base/display.h"
#include "flagtrail/json.h"

#include <string.h>

static bool controls_left(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) return true;
        if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] < 0xa0) return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    size_t width = ft_display_append(&b, (const char *)data, size);
    const char *out = b.data ? b.data : "";
    CHECK(ft_utf8_valid(out, b.len));
    CHECK(!controls_left((const unsigned char *)out, b.len));
    CHECK(width == ft_display_width(out));
    CHECK(strlen(out) == b.len); /* a NUL became \x00 */
    bool clean = ft_utf8_valid((const char *)data, size) && !controls_left(data, size);
    if (clean) CHECK(b.len == size && memcmp(out, data, size) == 0);
    ft_buf_free(&b);
    return 0;
}
