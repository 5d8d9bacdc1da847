/*
 * Unit tests of src/base: errors, buffers, arenas, hex, clock, logging, display escapes.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/redirect.h>

#include "base/clock.h"
#include "base/display.h"
#include "base/hex.h"
#include "base/log.h"
#include "flagtrail/base.h"
#include "flagtrail/error.h"

#include <string.h>

Test(error, every_code_has_a_name_and_message)
{
#define CHECK(name, code, msg)                               \
    cr_expect(eq(str, (char *)ft_strerror(FT_##name), msg)); \
    cr_expect(eq(str, (char *)ft_error_name(FT_##name), #name));
    FT_ERROR_MAP(CHECK)
#undef CHECK
    cr_expect(eq(str, (char *)ft_strerror(FT_OK), "success"));
    cr_expect(eq(str, (char *)ft_strerror(12345), "unknown error"));
}

Test(buf, appends_and_respects_its_limit)
{
    struct ft_buf b;
    ft_buf_init(&b, 10);
    cr_expect(eq(int, ft_buf_append_str(&b, "hello"), FT_OK));
    cr_expect(eq(int, ft_buf_printf(&b, "%d", 12345), FT_OK));
    cr_expect(eq(str, b.data, "hello12345"));
    cr_expect(eq(int, ft_buf_append_char(&b, 'x'), FT_ETOOBIG));
    cr_expect(eq(int, ft_buf_printf(&b, "y"), FT_ETOOBIG));
    cr_expect(eq(sz, b.len, 10), "a failed append changes nothing");
    ft_buf_reset(&b);
    cr_expect(eq(sz, b.len, 0));
    cr_expect(eq(str, b.data, ""));
    ft_buf_free(&b);
    cr_expect(eq(sz, b.limit, 10), "free keeps the limit");
}

Test(buf, grows_without_limit)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++)
        cr_assert(eq(int, ft_buf_append(&b, "abc", 3), FT_OK));
    cr_expect(eq(sz, b.len, 300000));
    cr_expect(b.data[b.len] == '\0');
    ft_buf_free(&b);
}

Test(arena, aligned_allocations_and_reset)
{
    struct ft_arena a;
    ft_arena_init(&a, 64);
    for (int i = 1; i < 200; i++) {
        char *p = ft_arena_alloc(&a, (size_t)i);
        cr_expect(eq(u64, (uintptr_t)p % 16, 0));
        memset(p, 0xab, (size_t)i);
    }
    char *big = ft_arena_zalloc(&a, 10000);
    cr_expect(big[9999] == 0);
    char *s = ft_arena_strndup(&a, "hello world", 5);
    cr_expect(eq(str, s, "hello"));
    ft_arena_reset(&a);
    cr_expect(eq(sz, a.used, 0));
    cr_expect(ft_arena_alloc(&a, 8) != NULL);
    ft_arena_free(&a);
}

Test(hex, encode_and_decode_both_cases)
{
    uint8_t in[4] = {0x00, 0x9f, 0xab, 0xff}, out[4];
    char hex[9];
    ft_hex_encode(in, 4, hex);
    cr_expect(eq(str, hex, "009fabff"));
    cr_expect(ft_hex_decode("009FABff", 8, out, 4));
    cr_expect(memcmp(in, out, 4) == 0);
    cr_expect_not(ft_hex_decode("009fab", 6, out, 4), "short");
    cr_expect_not(ft_hex_decode("009fabfg", 8, out, 4), "g is not hex");
    cr_expect_not(ft_hex_decode("009fab:f", 8, out, 4));
    cr_expect_not(ft_hex_decode("009fab f", 8, out, 4));
    cr_expect_not(ft_hex_decode("009fab/f", 8, out, 4), "the byte before '0'");
    cr_expect_not(ft_hex_decode("009fab@f", 8, out, 4), "the byte before 'A'");
    cr_expect_not(ft_hex_decode("009fab`f", 8, out, 4), "the byte before 'a'");
}

Test(clock, iso_format_and_parse)
{
    char s[FT_CLOCK_ISO_SIZE];
    ft_clock_format_iso(0, s);
    cr_expect(eq(str, s, "1970-01-01T00:00:00.000000Z"));
    ft_clock_format_iso(1795411552123456LL, s);
    cr_expect(eq(str, s, "2026-11-23T05:25:52.123456Z"));
    ft_clock_format_iso(-1, s);
    cr_expect(eq(str, s, "1969-12-31T23:59:59.999999Z"));
    int64_t us;
    cr_assert(ft_clock_parse_iso(s, strlen(s), &us));
    cr_expect(eq(i64, us, -1));
    const char *t = "2026-11-23T05:25:52.123456Z";
    cr_assert(ft_clock_parse_iso(t, strlen(t), &us));
    cr_expect(eq(i64, us, 1795411552123456LL));
    t = "2026-11-23";
    cr_assert(ft_clock_parse_iso(t, strlen(t), &us));
    cr_expect(eq(i64, us, 1795392000000000LL));
    t = "2026-11-23 07:25+02:00";
    cr_assert(ft_clock_parse_iso(t, strlen(t), &us));
    cr_expect(eq(i64, us, 1795411500000000LL));
    t = "@1795411552";
    cr_assert(ft_clock_parse_iso(t, strlen(t), &us));
    cr_expect(eq(i64, us, 1795411552000000LL));
    static const char *const bad[] = {"",
                                      "2026",
                                      "2026-13-01",
                                      "2026-02-30",
                                      "2025-02-29",
                                      "2026-11-23T25:00",
                                      "2026-11-23T10:00:00.",
                                      "2026-11-23X",
                                      "2026-11-23T10:00+2",
                                      "@",
                                      "@12x",
                                      "2026-1-01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_not(ft_clock_parse_iso(bad[i], strlen(bad[i]), &us), "'%s'", bad[i]);
    t = "2024-02-29";
    cr_expect(ft_clock_parse_iso(t, strlen(t), &us), "leap day");
}

Test(clock, monotonic_moves_forward)
{
    int64_t a = ft_clock_mono_ns(), b = ft_clock_mono_ns();
    cr_expect(b >= a);
    cr_expect(ft_clock_now_us() > 1700000000000000LL);
}

Test(log, text_and_json_lines, .init = cr_redirect_stderr)
{
    ft_log_setup(FT_LOG_TEXT, FT_LOG_INFO);
    ft_log(FT_LOG_DEBUG, "hidden.event", "k", "v", NULL);
    ft_log(FT_LOG_INFO, "receive.start", "listen", "127.0.0.1:8080", "note", "two words", NULL);
    ft_log_setup(FT_LOG_JSON, FT_LOG_DEBUG);
    ft_log(FT_LOG_WARN, "x.y", "quote", "a\"b\n", "none", NULL, NULL);
    fflush(stderr);
    char out[1024] = "";
    FILE *f = cr_get_redirected_stderr();
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    cr_expect(strstr(out, "hidden") == NULL, "below the level");
    cr_expect(strstr(out, " info receive.start listen=127.0.0.1:8080 note=\"two words\"\n") != NULL,
              "%s", out);
    cr_expect(strstr(out, "\"level\":\"warn\",\"event\":\"x.y\",\"quote\":\"a\\\"b\\u000a\","
                          "\"none\":null}\n") != NULL,
              "%s", out);
}

Test(log, parse_names)
{
    enum ft_log_format f;
    enum ft_log_level l;
    cr_expect(ft_log_parse_format("json", &f) && f == FT_LOG_JSON);
    cr_expect_not(ft_log_parse_format("xml", &f));
    cr_expect(ft_log_parse_level("warn", &l) && l == FT_LOG_WARN);
    cr_expect_not(ft_log_parse_level("loud", &l));
}

Test(str, one_line_folds_line_breaks)
{
    char out[64];
    ft_one_line("connection refused\n\tIs the server running?\n", out, sizeof(out));
    cr_expect_str_eq(out, "connection refused; Is the server running?");
    ft_one_line("Code: 60 \r\n\r\n  table missing  ", out, sizeof(out));
    cr_expect_str_eq(out, "Code: 60; table missing");
    ft_one_line("one line", out, sizeof(out));
    cr_expect_str_eq(out, "one line");
    ft_one_line("abcdefgh\nijkl", out, 10); /* cut at the capacity, never past it */
    cr_expect_str_eq(out, "abcdefgh");
    ft_one_line("\n\n", out, sizeof(out));
    cr_expect_str_eq(out, "");
}

/* What PostgreSQL's double precision accepts: overflow and a nonzero value that underflows to 0
 * are refused; subnormals, zeros and the largest double are fine. */
Test(number, in_range_as_a_double_column_takes_it)
{
    const char *fine[] = {"0", "-0", "1.5", "1e308", "1.7976931348623157e308", "4.9e-324",
                          "1e-320", "0e-999", "-2.5E-10", "12345678901234567890"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
        cr_expect(ft_str_number_in_range(ft_str_c(fine[i])), "%s", fine[i]);
    const char *bad[] = {"1e309", "-1.8e308", "1e-400", "-2E-999", "1e99999999999999999999",
                         "inf", "-infinity", "nan", "0x1p99999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(ft_str_number_in_range(ft_str_c(bad[i])) == false, "%s", bad[i]);
    char digits[400];
    memset(digits, '9', sizeof(digits) - 1);
    digits[sizeof(digits) - 1] = '\0';
    cr_expect(ft_str_number_in_range(ft_str_c(digits)) == false, "399 digits overflow");
    digits[299] = '\0';
    cr_expect(ft_str_number_in_range(ft_str_c(digits)), "299 digits fit");
    cr_expect(ft_str_double(ft_str_c(digits)) > 9.9e298);
    char tiny[400] = "0.";
    memset(tiny + 2, '0', 330);
    strcpy(tiny + 332, "1");
    cr_expect(ft_str_number_in_range(ft_str_c(tiny)) == false, "0.(330 zeros)1 underflows");
}

static void expect_display(const char *in, size_t len, const char *shown, size_t width)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    size_t w = ft_display_append(&b, in, len);
    cr_expect(eq(str, b.data ? b.data : "", (char *)shown));
    cr_expect(eq(sz, w, width), "width of %s", shown);
    cr_expect(eq(sz, ft_display_width(b.data ? b.data : ""), width));
    ft_buf_free(&b);
}

Test(display, control_characters_become_visible_escapes)
{
    expect_display("plain", 5, "plain", 5);
    expect_display("\x1b[2Jx\x07", 6, "\\x1b[2Jx\\x07", 12);
    expect_display("a\nb\tc\rd", 7, "a\\nb\\tc\\rd", 10);
    expect_display("nul\0in", 6, "nul\\x00in", 9);
    expect_display("del\x7f", 4, "del\\x7f", 7);
    expect_display("c1\xc2\x85\xc2\x9f", 6, "c1\\u0085\\u009f", 14);
    expect_display("\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 11,
                   "\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 4); /* kept: nbsp, é, €, emoji */
}

Test(display, bytes_outside_utf8_are_shown_as_hex)
{
    expect_display("\xff", 1, "\\xff", 4);
    expect_display("\xc3", 1, "\\xc3", 4);                 /* cut character */
    expect_display("\xc3(", 2, "\\xc3(", 5);               /* bad continuation */
    expect_display("\xc0\xaf", 2, "\\xc0\\xaf", 8);         /* overlong */
    expect_display("\xed\xa0\x80", 3, "\\xed\\xa0\\x80", 12); /* surrogate */
    expect_display("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80", 16); /* past U+10FFFF */
    expect_display("\xe0\x80\x80", 3, "\\xe0\\x80\\x80", 12);     /* overlong */
}

Test(display, dup_of_null_is_empty)
{
    char *s = ft_display_dup(NULL);
    cr_expect(eq(str, s, ""));
    free(s);
    s = ft_display_dup("x\x1by");
    cr_expect(eq(str, s, "x\\x1by"));
    free(s);
}
