/*
 * Text and JSON-lines logging to stderr (src/base/log.h). Each line is assembled in a local
 * buffer and written with a single write(2), so lines from threads never interleave.
 */
#include "base/log.h"
#include "base/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum ft_log_format log_format = FT_LOG_TEXT;
static enum ft_log_level log_min = FT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ft_log_setup(enum ft_log_format format, enum ft_log_level min_level)
{
    log_format = format;
    log_min = min_level;
}

bool ft_log_parse_format(const char *s, enum ft_log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = FT_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = FT_LOG_JSON;
    else
        return false;
    return true;
}

bool ft_log_parse_level(const char *s, enum ft_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ft_log_level)i;
            return true;
        }
    }
    return false;
}

struct line {
    char buf[2048];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 2 - l->len; /* keep room for "}\n" */
    if (n > room) n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_raw(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Appends `s` escaped for a JSON string, or quoted when text and it holds spaces. */
static void put_value(struct line *l, const char *s, bool json)
{
    if (!s) {
        puts_raw(l, json ? "null" : "-");
        return;
    }
    bool quote = json || strpbrk(s, " \t\"=") != NULL || *s == '\0';
    if (quote) put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put(l, esc, 6);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    if (quote) put(l, "\"", 1);
}

void ft_log(enum ft_log_level level, const char *event, ...)
{
    if (level < log_min) return;
    bool json = log_format == FT_LOG_JSON;
    struct line l = {.len = 0};
    char ts[FT_CLOCK_ISO_SIZE];
    ft_clock_format_iso(ft_clock_now_us(), ts);
    if (json) {
        puts_raw(&l, "{\"ts\":\"");
        puts_raw(&l, ts);
        puts_raw(&l, "\",\"level\":\"");
        puts_raw(&l, level_names[level]);
        puts_raw(&l, "\",\"event\":");
        put_value(&l, event, true);
    } else {
        puts_raw(&l, ts);
        puts_raw(&l, " ");
        puts_raw(&l, level_names[level]);
        puts_raw(&l, " ");
        puts_raw(&l, event);
    }
    va_list ap;
    va_start(ap, event);
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
        const char *value = va_arg(ap, const char *);
        puts_raw(&l, json ? "," : " ");
        if (json)
            put_value(&l, key, true);
        else
            puts_raw(&l, key);
        puts_raw(&l, json ? ":" : "=");
        put_value(&l, value, json);
    }
    va_end(ap);
    if (json) l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, l.buf, l.len);
    (void)rc;
}
