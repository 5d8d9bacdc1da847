/*
 * flagtrail receive: options and FLAGTRAIL_* environment variables into a receiver config.
 */
#include "cli/cli.h"
#include "receive/receive.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void help_receive(void)
{
    puts("Usage: flagtrail receive [OPTIONS]\n"
         "\n"
         "Runs the webhook endpoint: verifies X-Flagsmith-Signature, checks the payload,\n"
         "stores it durably in the spool (200 only once it is on disk) and loads it into\n"
         "the warehouse. SIGTERM/SIGINT drain and stop; SIGHUP reloads the secrets.\n"
         "Every option can also be set as FLAGTRAIL_<NAME> (e.g. FLAGTRAIL_STORE).\n"
         "\n"
         "  --listen ADDR          HOST:PORT, [V6]:PORT or :PORT (default 127.0.0.1:8080)\n"
         "  --path PATH            the webhook path (default /webhook)\n"
         "  --secret-file FILE     an accepted secret; repeat for rotation (FLAGTRAIL_SECRET\n"
         "                         is accepted too; FLAGTRAIL_SECRET_FILE takes FILE[:FILE])\n"
         "  --allow-unsigned       accept webhooks without a signature when no secret is set\n"
         "  --standard-webhooks    honour webhook-id (deduplication), webhook-timestamp and\n"
         "                         webhook-signature (Standard Webhooks, same secrets)\n"
         "  --webhook-tolerance S  how far webhook-timestamp may be from now (default 300)\n"
         "  --store URL            warehouse: sqlite:PATH (default sqlite:./flagtrail.db) or\n"
         "                         postgres://USER@HOST:PORT/DB or clickhouse://HOST:8123/DB\n"
         "  --spool DIR            durable log (default ./flagtrail-spool)\n"
         "  --spool-max-bytes SIZE backlog bound before 503 (default 1G)\n"
         "  --max-body SIZE        largest body (default 1M)\n"
         "  --durability MODE      fsync (default) or none\n"
         "  --source NAME          this receiver's name in the warehouse (default host name)\n"
         "  --tls-cert FILE        serve HTTPS with this PEM certificate ...\n"
         "  --tls-key FILE         ... and this PEM key\n"
         "  --threads N            HTTP threads (default one per core)\n"
         "  --max-connections N    concurrent connections (default 1024)\n"
         "  --idle-timeout SEC     close connections idle this long (default 15)\n"
         "  --request-timeout SEC  cut requests slower than this (default 30)\n"
         "  --drain-timeout SEC    on stop, wait this long for requests and loader (default 10)\n"
         "  --log-format FORMAT    text (default) or json\n"
         "  --log-level LEVEL      debug, info (default), warn, error\n"
         "  -h, --help             this help");
}

enum {
    O_LISTEN = 256, O_PATH, O_SECRET_FILE, O_ALLOW_UNSIGNED, O_STORE, O_SPOOL, O_SPOOL_MAX,
    O_MAX_BODY, O_DURABILITY, O_SOURCE, O_TLS_CERT, O_TLS_KEY, O_THREADS, O_MAX_CONN,
    O_IDLE, O_REQUEST, O_DRAIN, O_LOG_FORMAT, O_LOG_LEVEL, O_STANDARD, O_TOLERANCE,
};

static const struct option opts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"path", required_argument, NULL, O_PATH},
    {"secret-file", required_argument, NULL, O_SECRET_FILE},
    {"allow-unsigned", no_argument, NULL, O_ALLOW_UNSIGNED},
    {"store", required_argument, NULL, O_STORE},
    {"spool", required_argument, NULL, O_SPOOL},
    {"spool-max-bytes", required_argument, NULL, O_SPOOL_MAX},
    {"max-body", required_argument, NULL, O_MAX_BODY},
    {"durability", required_argument, NULL, O_DURABILITY},
    {"source", required_argument, NULL, O_SOURCE},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"threads", required_argument, NULL, O_THREADS},
    {"max-connections", required_argument, NULL, O_MAX_CONN},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"request-timeout", required_argument, NULL, O_REQUEST},
    {"drain-timeout", required_argument, NULL, O_DRAIN},
    {"log-format", required_argument, NULL, O_LOG_FORMAT},
    {"log-level", required_argument, NULL, O_LOG_LEVEL},
    {"standard-webhooks", no_argument, NULL, O_STANDARD},
    {"webhook-tolerance", required_argument, NULL, O_TOLERANCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct settings {
    struct ft_receive_config cfg;
    enum ft_log_format log_format;
    enum ft_log_level log_level;
    char *secret_list; /* FLAGTRAIL_SECRET_FILE's copy, split in place */
};

static bool parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max) return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_bool(const char *s)
{
    return strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0;
}

/* Applies one option; `from` names its origin for messages. Returns CLI_OK or CLI_USAGE. */
static int apply(struct settings *st, int opt, const char *val, const char *from)
{
    struct ft_receive_config *c = &st->cfg;
    size_t size;
    unsigned n;
    switch (opt) {
    case O_LISTEN: c->listen = val; break;
    case O_PATH:
        if (val[0] != '/') return cli_usage("receive", "%s: the path must start with '/'", from);
        for (const char *const *p = (const char *const[]){"/events", "/healthz", "/readyz",
                                                           "/metrics", NULL};
             *p; p++)
            if (strcmp(val, *p) == 0)
                return cli_usage("receive", "%s: %s is taken by another route", from, val);
        c->path = val;
        break;
    case O_SECRET_FILE:
        if (c->nsecret_files == FT_RECEIVE_MAX_SECRET_FILES)
            return cli_usage("receive", "at most %d secret files", FT_RECEIVE_MAX_SECRET_FILES);
        c->secret_files[c->nsecret_files++] = val;
        break;
    case O_ALLOW_UNSIGNED: c->allow_unsigned = val ? parse_bool(val) : true; break;
    case O_STANDARD: c->standard_webhooks = val ? parse_bool(val) : true; break;
    case O_TOLERANCE:
        if (!parse_uint(val, 86400, &n) || n == 0)
            return cli_usage("receive", "%s: expected seconds, got %s", from, val);
        c->tolerance_s = n;
        break;
    case O_STORE: c->store_url = val; break;
    case O_SPOOL: c->spool_dir = val; break;
    case O_SPOOL_MAX:
        if (!cli_parse_size(val, &size) || size < 1024)
            return cli_usage("receive", "%s: not a size of at least 1K: %s", from, val);
        c->spool_max_bytes = size;
        break;
    case O_MAX_BODY:
        if (!cli_parse_size(val, &size) || size == 0 || size > (1u << 30))
            return cli_usage("receive", "%s: not a size between 1 and 1G: %s", from, val);
        c->max_body = size;
        break;
    case O_DURABILITY:
        if (strcmp(val, "fsync") == 0) c->durability = FT_SPOOL_FSYNC;
        else if (strcmp(val, "none") == 0) c->durability = FT_SPOOL_NONE;
        else return cli_usage("receive", "%s: expected fsync or none, got %s", from, val);
        break;
    case O_SOURCE:
        if (!*val || strlen(val) > 200)
            return cli_usage("receive", "%s: a name of 1 to 200 characters", from);
        c->source = val;
        break;
    case O_TLS_CERT: c->tls_cert = val; break;
    case O_TLS_KEY: c->tls_key = val; break;
    case O_THREADS:
    case O_MAX_CONN:
    case O_IDLE:
    case O_REQUEST:
    case O_DRAIN:
        if (!parse_uint(val, 1000000, &n) || n == 0)
            return cli_usage("receive", "%s: expected a positive number, got %s", from, val);
        if (opt == O_THREADS) c->threads = n;
        else if (opt == O_MAX_CONN) c->max_connections = n;
        else if (opt == O_IDLE) c->idle_timeout_s = n;
        else if (opt == O_REQUEST) c->request_timeout_s = n;
        else c->drain_timeout_s = n;
        break;
    case O_LOG_FORMAT:
        if (!ft_log_parse_format(val, &st->log_format))
            return cli_usage("receive", "%s: expected text or json, got %s", from, val);
        break;
    case O_LOG_LEVEL:
        if (!ft_log_parse_level(val, &st->log_level))
            return cli_usage("receive", "%s: expected debug, info, warn or error", from);
        break;
    default: return CLI_USAGE;
    }
    return CLI_OK;
}

/* FLAGTRAIL_<OPTION NAME> for every option, before the command line. */
static int apply_environment(struct settings *st)
{
    for (const struct option *o = opts; o->name; o++) {
        if (o->val == 'h') continue;
        char name[64] = "FLAGTRAIL_";
        size_t n = strlen(name);
        for (const char *p = o->name; *p && n + 1 < sizeof(name); p++)
            name[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        name[n] = '\0';
        const char *val = getenv(name);
        if (!val || !*val) continue;
        if (o->val == O_SECRET_FILE) {
            /* FILE[:FILE...] */
            st->secret_list = ft_xstrdup(val);
            for (char *p = st->secret_list, *next; p; p = next) {
                next = strchr(p, ':');
                if (next) *next++ = '\0';
                if (*p && apply(st, O_SECRET_FILE, p, name)) return CLI_USAGE;
            }
            continue;
        }
        int rc = apply(st, o->val, val, name);
        if (rc) return rc;
    }
    return CLI_OK;
}

int cmd_receive(int argc, char **argv)
{
    struct settings st = {.log_format = FT_LOG_TEXT, .log_level = FT_LOG_INFO};
    ft_receive_config_init(&st.cfg);
    int rc = apply_environment(&st);
    int c, li = -1;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        if (c == 'h') {
            help_receive();
            free(st.secret_list);
            return CLI_OK;
        }
        if (c == '?' || c == ':') {
            rc = cli_bad_option("receive", c, argv);
            break;
        }
        char from[64]; /* the option's name, for messages */
        snprintf(from, sizeof(from), "--%s", li >= 0 ? opts[li].name : "?");
        li = -1;
        rc = apply(&st, c, optarg, from);
    }
    if (rc == CLI_OK && optind < argc) rc = cli_usage("receive", "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK && (st.cfg.tls_cert == NULL) != (st.cfg.tls_key == NULL))
        rc = cli_usage("receive", "--tls-cert and --tls-key go together");
    if (rc == CLI_OK) {
        ft_log_setup(st.log_format, st.log_level);
        rc = ft_receive_run(&st.cfg) ? CLI_FAIL : CLI_OK;
    }
    free(st.secret_list);
    return rc;
}
