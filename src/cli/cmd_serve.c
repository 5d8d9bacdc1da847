/*
 * flagtrail serve: options into a serve config (src/serve/serve.h).
 */
#include "cli/cli.h"
#include "flagtrail/error.h"
#include "serve/dispatcher.h"
#include "serve/serve.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void help_serve(void)
{
    puts(
        "Usage: flagtrail serve --environment FILE [--environment FILE]... [OPTIONS]\n"
        "\n"
        "A Flagsmith-compatible flags API for SDKs (GET /api/v1/flags/, GET and POST\n"
        "/api/v1/identities/, GET /api/v1/environment-document/), evaluated locally from\n"
        "environment documents. On every identity call it emits the identity webhook\n"
        "Flagsmith would send, byte for byte and signed, into a durable outbox that is\n"
        "delivered with retries for up to a day. SIGHUP reloads the documents.\n"
        "\n"
        "  --listen ADDR              default 127.0.0.1:8000\n"
        "  --environment FILE         an environment document; repeat for several\n"
        "  --environment-url URL      poll this environment-document endpoint instead\n"
        "  --environment-key-file F   its server key (or FLAGTRAIL_ENVIRONMENT_KEY)\n"
        "  --poll-interval SEC        default 10\n"
        "  --key KEY[=API_KEY]        accept another key (server keys start with ser.);\n"
        "  --key-file FILE            ... or one a line, keeping server keys off the command line\n"
        "  --data DIR                 identities, outbox and dead letters (default\n"
        "                             ./flagtrail-serve)\n"
        "  --identities URL           where identities and traits live: sqlite:PATH (default\n"
        "                             DATA/identities.db) or postgres://USER@HOST:PORT/DB,\n"
        "                             which several serve instances can share\n"
        "  --webhook-url URL          where webhooks go (default: the document's webhook_config)\n"
        "  --webhook-secret-file F    their secret (or FLAGTRAIL_WEBHOOK_SECRET; default: the\n"
        "                             document's)\n"
        "  --standard-webhooks        add webhook-id, webhook-timestamp, webhook-signature\n"
        "  --retry-schedule LIST      delays between attempts (default " FT_DISPATCH_SCHEDULE ",\n"
        "                             the last repeating)\n"
        "  --retry-max-age DURATION   give up after this long (default 24h)\n"
        "  --outbox-max-bytes SIZE    outbox bound; past it webhooks are lost, flags still\n"
        "                             served (default 1G)\n"
        "  --sync-interval MS         the outbox syncs and the identity store commits this often\n"
        "                             (default 10)\n"
        "  --webhook-timeout SEC      per attempt (default 10)\n"
        "  --endpoint-concurrency N   calls in flight to one endpoint (default 32)\n"
        "  --threads N, --max-connections N, --drain-timeout SEC\n"
        "  --log-format text|json, --log-level LEVEL\n"
        "  -h, --help                 this help");
}

enum {
    O_LISTEN = 256,
    O_ENV,
    O_ENV_URL,
    O_ENV_KEY_FILE,
    O_POLL,
    O_KEY,
    O_KEY_FILE,
    O_DATA,
    O_IDENTITIES,
    O_WEBHOOK_URL,
    O_WEBHOOK_SECRET_FILE,
    O_STANDARD,
    O_SCHEDULE,
    O_MAX_AGE,
    O_OUTBOX_MAX,
    O_SYNC,
    O_TIMEOUT,
    O_CONCURRENCY,
    O_THREADS,
    O_MAX_CONN,
    O_DRAIN,
    O_LOG_FORMAT,
    O_LOG_LEVEL,
};

struct settings {
    struct ft_serve_config cfg;
    enum ft_log_format log_format;
    enum ft_log_level log_level;
    char *secret;
    size_t secret_len;
    char *env_key;
    size_t env_key_len;
    char *key_lines; /* the key file's text, split in place */
};

#define WHOLE "expected a whole number from 1 to 1000000, got %s" /* what positive() takes */

static bool positive(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v == 0 || v > 1000000) return false;
    *out = (unsigned)v;
    return true;
}

/* The secret in `file` (named by option `opt`), or else in the environment variable `env`. */
static int read_secret(const char *opt, const char *file, const char *env, char **out, size_t *len)
{
    char err[256];
    if (file) {
        if (ft_secret_read_file(file, out, len, err, sizeof(err)))
            return cli_fail("serve", "%s: %s", opt, err);
        return CLI_OK;
    }
    const char *v = env ? getenv(env) : NULL;
    if (v && *v && ft_secret_from_string(v, strlen(v), out, len))
        return cli_fail("serve", "%s is longer than %d bytes", env, FT_SECRET_MAX);
    return CLI_OK;
}

static int read_key_file(struct settings *st, const char *file)
{
    struct ft_buf b;
    char err[256];
    if (cli_read_input(file, 1u << 20, &b, err, sizeof(err))) {
        ft_buf_free(&b);
        return cli_fail("serve", "--key-file: %s", err);
    }
    st->key_lines = b.data ? b.data : ft_xcalloc(1, 1);
    for (char *p = st->key_lines, *nl; p && *p; p = nl) {
        nl = strchr(p, '\n');
        if (nl) *nl++ = '\0';
        size_t n = strlen(p);
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
            p[--n] = '\0';
        if (!n || *p == '#') continue;
        if (st->cfg.nkeys == sizeof(st->cfg.keys) / sizeof(st->cfg.keys[0]))
            return cli_usage("serve", "too many keys");
        st->cfg.keys[st->cfg.nkeys++] = p;
    }
    return CLI_OK;
}

static int apply(struct settings *st, int c, const char *v)
{
    struct ft_serve_config *cfg = &st->cfg;
    size_t size;
    switch (c) {
    case O_LISTEN: cfg->listen = v; break;
    case O_ENV:
        if (cfg->nenvironments == FT_SERVE_MAX_FILES)
            return cli_usage("serve", "at most %d environments", FT_SERVE_MAX_FILES);
        cfg->environments[cfg->nenvironments++] = v;
        break;
    case O_ENV_URL: cfg->environment_url = v; break;
    case O_ENV_KEY_FILE:
        return read_secret("--environment-key-file", v, NULL, &st->env_key, &st->env_key_len);
    case O_POLL:
        if (!positive(v, &cfg->poll_interval_s))
            return cli_usage("serve", "--poll-interval: " WHOLE, v);
        break;
    case O_KEY:
        if (cfg->nkeys == sizeof(cfg->keys) / sizeof(cfg->keys[0]))
            return cli_usage("serve", "too many keys");
        cfg->keys[cfg->nkeys++] = v;
        break;
    case O_KEY_FILE: return read_key_file(st, v);
    case O_DATA: cfg->data_dir = v; break;
    case O_IDENTITIES: cfg->identities = v; break;
    case O_WEBHOOK_URL:
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return cli_usage("serve", "--webhook-url: an http:// or https:// URL");
        cfg->webhook_url = v;
        break;
    case O_WEBHOOK_SECRET_FILE:
        return read_secret("--webhook-secret-file", v, NULL, &st->secret, &st->secret_len);
    case O_STANDARD: cfg->standard_webhooks = true; break;
    case O_SCHEDULE:
        if (!ft_dispatch_parse_schedule(v, cfg->schedule_us, 32, &cfg->nschedule))
            return cli_usage(
                "serve",
                "--retry-schedule: expected delays like 5s,30s,2m,1h (each at most 366 days)");
        break;
    case O_MAX_AGE: {
        int64_t age[1];
        size_t n;
        if (!ft_dispatch_parse_schedule(v, age, 1, &n) || age[0] <= 0)
            return cli_usage("serve",
                             "--retry-max-age: expected a duration like 24h (at most 366 days)");
        cfg->max_age_us = age[0];
        break;
    }
    case O_OUTBOX_MAX:
        if (!cli_parse_size(v, &size) || size < 65536)
            return cli_usage("serve", "--outbox-max-bytes: a size of at least 64K");
        cfg->outbox_max_bytes = size;
        break;
    case O_SYNC:
        if (!positive(v, &cfg->sync_interval_ms))
            return cli_usage("serve", "--sync-interval: " WHOLE, v);
        break;
    case O_TIMEOUT:
        if (!positive(v, &cfg->webhook_timeout_s))
            return cli_usage("serve", "--webhook-timeout: " WHOLE, v);
        break;
    case O_CONCURRENCY:
        if (!positive(v, &cfg->endpoint_concurrency))
            return cli_usage("serve", "--endpoint-concurrency: " WHOLE, v);
        break;
    case O_THREADS:
        if (!positive(v, &cfg->threads)) return cli_usage("serve", "--threads: " WHOLE, v);
        break;
    case O_MAX_CONN:
        if (!positive(v, &cfg->max_connections))
            return cli_usage("serve", "--max-connections: " WHOLE, v);
        break;
    case O_DRAIN:
        if (!positive(v, &cfg->drain_timeout_s))
            return cli_usage("serve", "--drain-timeout: " WHOLE, v);
        break;
    case O_LOG_FORMAT:
        if (!ft_log_parse_format(v, &st->log_format))
            return cli_usage("serve", "--log-format: expected text or json, got %s", v);
        break;
    case O_LOG_LEVEL:
        if (!ft_log_parse_level(v, &st->log_level))
            return cli_usage("serve", "--log-level: expected debug, info, warn or error, got %s",
                             v);
        break;
    default: return CLI_USAGE;
    }
    return CLI_OK;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"environment", required_argument, NULL, O_ENV},
        {"environment-url", required_argument, NULL, O_ENV_URL},
        {"environment-key-file", required_argument, NULL, O_ENV_KEY_FILE},
        {"poll-interval", required_argument, NULL, O_POLL},
        {"key", required_argument, NULL, O_KEY},
        {"key-file", required_argument, NULL, O_KEY_FILE},
        {"data", required_argument, NULL, O_DATA},
        {"identities", required_argument, NULL, O_IDENTITIES},
        {"webhook-url", required_argument, NULL, O_WEBHOOK_URL},
        {"webhook-secret-file", required_argument, NULL, O_WEBHOOK_SECRET_FILE},
        {"standard-webhooks", no_argument, NULL, O_STANDARD},
        {"retry-schedule", required_argument, NULL, O_SCHEDULE},
        {"retry-max-age", required_argument, NULL, O_MAX_AGE},
        {"outbox-max-bytes", required_argument, NULL, O_OUTBOX_MAX},
        {"sync-interval", required_argument, NULL, O_SYNC},
        {"webhook-timeout", required_argument, NULL, O_TIMEOUT},
        {"endpoint-concurrency", required_argument, NULL, O_CONCURRENCY},
        {"threads", required_argument, NULL, O_THREADS},
        {"max-connections", required_argument, NULL, O_MAX_CONN},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct settings st = {.log_format = FT_LOG_TEXT, .log_level = FT_LOG_INFO};
    ft_serve_config_init(&st.cfg);
    int rc = CLI_OK, c;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            help_serve();
            goto done;
        }
        rc = (c == '?' || c == ':') ? cli_bad_option("serve", c, argv) : apply(&st, c, optarg);
    }
    if (rc == CLI_OK && optind < argc)
        rc = cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK && !st.secret)
        rc = read_secret(NULL, NULL, "FLAGTRAIL_WEBHOOK_SECRET", &st.secret, &st.secret_len);
    if (rc == CLI_OK && !st.env_key)
        rc = read_secret(NULL, NULL, "FLAGTRAIL_ENVIRONMENT_KEY", &st.env_key, &st.env_key_len);
    if (rc == CLI_OK && !st.cfg.nenvironments && !st.cfg.environment_url)
        rc = cli_usage("serve", "give --environment FILE or --environment-url URL");
    if (rc == CLI_OK && st.cfg.environment_url && !st.env_key)
        rc = cli_usage("serve", "--environment-url needs its server key: --environment-key-file "
                                "FILE or FLAGTRAIL_ENVIRONMENT_KEY");
    if (rc == CLI_OK) {
        st.cfg.webhook_secret = st.secret;
        st.cfg.webhook_secret_len = st.secret_len;
        st.cfg.environment_key = st.env_key;
        ft_log_setup(st.log_format, st.log_level);
        rc = ft_serve_run(&st.cfg) ? CLI_FAIL : CLI_OK;
    }
done:
    ft_free_secure(st.secret, st.secret_len);
    ft_free_secure(st.env_key, st.env_key_len);
    if (st.key_lines) ft_free_secure(st.key_lines, strlen(st.key_lines));
    return rc;
}
