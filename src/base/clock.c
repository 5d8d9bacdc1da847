/*
 * Clock readings and ISO-8601 conversion, without locale or time zone state (UTC only).
 */
#include "base/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t ft_clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ft_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void ft_clock_format_iso(int64_t us, char out[FT_CLOCK_ISO_SIZE])
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, FT_CLOCK_ISO_SIZE, "%04d-%02d-%02dT%02u:%02u:%02u.%06uZ", y, m, d,
             (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
             (unsigned)frac);
}

/* Reads exactly `n` digits at s[*i]; false if they are not all digits. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') return false;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return true;
}

static bool parse_epoch(const char *s, size_t len, int64_t *out_us)
{
    int64_t v = 0;
    if (len < 2 || len > 13) return false;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out_us = v * 1000000;
    return true;
}

static bool parse_offset(const char *s, size_t len, size_t *i, int64_t *offset_s)
{
    *offset_s = 0;
    if (*i == len) return true;
    if (s[*i] == 'Z' || s[*i] == 'z') return ++*i == len;
    if (s[*i] != '+' && s[*i] != '-') return false;
    int sign = s[(*i)++] == '-' ? -1 : 1, hh, mm;
    if (!digits(s, len, i, 2, &hh)) return false;
    if (*i < len && s[*i] == ':') ++*i;
    if (!digits(s, len, i, 2, &mm) || hh > 23 || mm > 59) return false;
    *offset_s = sign * (hh * 3600 + mm * 60);
    return *i == len;
}

static bool parse_clock_part(const char *s, size_t len, size_t *i, int64_t *secs, int64_t *us)
{
    int hh, mi, ss = 0;
    if (!digits(s, len, i, 2, &hh) || *i >= len || s[(*i)++] != ':') return false;
    if (!digits(s, len, i, 2, &mi)) return false;
    if (*i < len && s[*i] == ':') {
        ++*i;
        if (!digits(s, len, i, 2, &ss)) return false;
        if (*i < len && s[*i] == '.') {
            ++*i;
            int64_t scale = 100000;
            size_t start = *i;
            while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
                if (scale) *us += (s[*i] - '0') * scale;
                scale /= 10;
                ++*i;
            }
            if (*i == start) return false;
        }
    }
    if (hh > 23 || mi > 59 || ss > 60) return false;
    *secs = hh * 3600 + mi * 60 + ss;
    return true;
}

bool ft_clock_parse_iso(const char *s, size_t len, int64_t *out_us)
{
    if (len > 0 && s[0] == '@') return parse_epoch(s, len, out_us);
    size_t i = 0;
    int y, mo, d;
    if (!digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-') return false;
    if (!digits(s, len, &i, 2, &mo) || i >= len || s[i++] != '-') return false;
    if (!digits(s, len, &i, 2, &d)) return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    int64_t secs = 0, us = 0, offset = 0;
    if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if (!parse_clock_part(s, len, &i, &secs, &us)) return false;
    }
    if (!parse_offset(s, len, &i, &offset)) return false;
    int64_t total = days_from_civil(y, mo, d) * 86400 + secs - offset;
    *out_us = total * 1000000 + us;
    return true;
}
