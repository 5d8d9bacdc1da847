/*
 * Shared helpers of the subcommands (src/cli/cli.h).
 */
#include "cli/cli.h"
#include "base/display.h"
#include "flagtrail/error.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line on stderr; a name or value from a webhook in it shows its control characters as
 * escapes (base/display.h) instead of acting on the terminal. */
static void vmessage(const char *cmd, const char *fmt, va_list ap)
{
    char *msg = NULL;
    struct ft_buf shown;
    ft_buf_init(&shown, 0);
    if (vasprintf(&msg, fmt, ap) >= 0) ft_display_append(&shown, msg, strlen(msg));
    free(msg);
    fprintf(stderr, "flagtrail%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "",
            shown.data ? shown.data : "");
    ft_buf_free(&shown);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'flagtrail %s --help'.\n", cmd ? cmd : "");
    return CLI_USAGE;
}

int cli_read_input(const char *path, size_t cap, struct ft_buf *out, char *errbuf, size_t errlen)
{
    bool use_stdin = path == NULL || strcmp(path, "-") == 0;
    const char *name = use_stdin ? "standard input" : path;
    int fd = use_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    ft_buf_init(out, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot open %s: %s", name, strerror(errno));
        return FT_EIO;
    }
    int rc = FT_OK;
    for (;;) {
        if ((rc = ft_buf_reserve(out, 65536))) break;
        size_t want = out->cap - out->len - 1;
        if (want > cap + 1 - out->len) want = cap + 1 - out->len;
        ssize_t r = read(fd, out->data + out->len, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(errbuf, errlen, "cannot read %s: %s", name, strerror(errno));
            rc = FT_EIO;
            break;
        }
        if (r == 0) break;
        out->len += (size_t)r;
        out->data[out->len] = '\0';
        if (out->len > cap) {
            snprintf(errbuf, errlen, "%s is larger than %zu bytes", name, cap);
            rc = FT_ETOOBIG;
            break;
        }
    }
    if (!use_stdin) close(fd);
    return rc;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') return cli_usage(cmd, "option '%s' needs a value", opt);
    return cli_usage(cmd, "unknown option '%s'", opt);
}

bool cli_parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

bool cli_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default: return false;
    }
    if (*end == 'i' || *end == 'B') end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0' || v > (CLI_SIZE_MAX >> shift)) return false;
    *out = (size_t)(v << shift);
    return true;
}

static int add_secret(const char *cmd, ft_verifier *v, char *secret, size_t len)
{
    int rc = ft_verifier_add(v, secret, len);
    ft_free_secure(secret, len);
    if (rc) {
        cli_fail(cmd, "cannot use secret: %s", ft_strerror(rc));
        return -1;
    }
    return 1;
}

int cli_load_secrets(const char *cmd, const char *const *files, size_t n, ft_verifier *v)
{
    char *secret, err[256];
    size_t len;
    for (size_t i = 0; i < n; i++) {
        if (ft_secret_read_file(files[i], &secret, &len, err, sizeof(err))) {
            cli_fail(cmd, "%s", err);
            return -1;
        }
        if (add_secret(cmd, v, secret, len) < 0) return -1;
    }
    if (n > 0) return (int)n;
    const char *env = getenv("FLAGTRAIL_SECRET");
    if (!env || !*env) return 0;
    if (ft_secret_from_string(env, strlen(env), &secret, &len)) {
        cli_fail(cmd, "FLAGTRAIL_SECRET is empty or longer than %d bytes", FT_SECRET_MAX);
        return -1;
    }
    return add_secret(cmd, v, secret, len);
}

int cli_load_signer(const char *cmd, const char *file, ft_signer **out)
{
    char *secret, err[256];
    size_t len;
    if (file) {
        if (ft_secret_read_file(file, &secret, &len, err, sizeof(err)))
            return cli_fail(cmd, "%s", err);
    } else {
        const char *env = getenv("FLAGTRAIL_SECRET");
        if (!env || !*env)
            return cli_usage(cmd, "no secret: give --secret-file FILE or set FLAGTRAIL_SECRET");
        if (ft_secret_from_string(env, strlen(env), &secret, &len))
            return cli_fail(cmd, "FLAGTRAIL_SECRET is longer than %d bytes", FT_SECRET_MAX);
    }
    *out = ft_signer_new(secret, len);
    ft_free_secure(secret, len);
    if (!*out) return cli_fail(cmd, "cannot set up HMAC-SHA256: %s", ft_strerror(FT_ECRYPTO));
    return CLI_OK;
}
