/*
 * flagtrail demo: the whole system on one machine, in one command. Starts `flagtrail receive`
 * and `flagtrail serve` (this same program) on free loopback ports with a fresh secret, makes
 * identity calls with traits as an SDK would, waits until every webhook is in the warehouse,
 * and prints a short cohort summary with the commands to explore further.
 */
#include "base/clock.h"
#include "cli/cli.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"
#include "http/client.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEMO_KEY_DEFAULT "tests/data/engine/v1/environment_n9fbf9h3v4fFgH3U3ngWhb.json"

void help_demo(void)
{
    puts("Usage: flagtrail demo [--identities N] [--dir DIR] [--environment FILE]\n"
         "\n"
         "Runs serve and receive on free loopback ports, sends N identity calls with traits\n"
         "(default 2000) through serve, waits until every webhook is in the warehouse, and\n"
         "prints a cohort summary. The data stays in DIR (default: a new directory under\n"
         "/tmp), so the commands it prints can be tried afterwards.\n"
         "\n"
         "  --environment FILE  the environment document (default: Flagsmith's v1 test\n"
         "                      environment, from the source tree or\n"
         "                      <prefix>/share/flagtrail/demo-environment.json)\n"
         "  -h, --help          this help");
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static pid_t spawn(const char *self, char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? -1 : pid;
}

static bool healthy(int port)
{
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    struct ft_buf body;
    int status = 0;
    int rc = ft_http_get(url, NULL, 0, 1000, NULL, 4096, &body, &status, NULL, 0, err, sizeof(err));
    ft_buf_free(&body);
    return rc == FT_OK && status == 200;
}

struct driver {
    uint64_t ok, failed;
};

static void on_answer(void *arg, const struct ft_http_result *r)
{
    struct driver *d = arg;
    if (r->status == 200) d->ok++;
    else d->failed++;
}

/* Sends `n` identify calls with traits, 32 at a time. */
static void drive(int port, const char *key, long n, struct driver *d)
{
    char url[96], header[320];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/identities/", port);
    snprintf(header, sizeof(header), "X-Environment-Key: %s", key);
    const char *headers[2] = {"Content-Type: application/json", header};
    struct ft_http_client_options co = {.max_per_host = 32, .timeout_ms = 10000};
    ft_http_client *c = ft_http_client_new(&co);
    static const char *const colours[] = {"green", "blue", "red", "yellow"};
    char (*bodies)[256] = ft_xmalloc(sizeof(*bodies) * 64);
    long sent = 0;
    size_t slot = 0;
    while (sent < n || ft_http_client_in_flight(c)) {
        while (sent < n && ft_http_client_in_flight(c) < 32) {
            uint32_t r[2];
            if (getrandom(r, sizeof(r), 0) != sizeof(r)) r[0] = r[1] = (uint32_t)sent;
            char *b = bodies[slot++ % 64];
            snprintf(b, 256,
                     "{\"identifier\": \"demo-user-%05ld\", \"traits\": [{\"trait_key\": \"age\","
                     " \"trait_value\": %u}, {\"trait_key\": \"favourite_colour\","
                     " \"trait_value\": \"%s\"}, {\"trait_key\": \"plan\", \"trait_value\": \"%s\"}]}",
                     sent, 16 + r[0] % 50, colours[r[1] % 4], r[1] % 3 ? "free" : "pro");
            struct ft_http_call call = {url, b, strlen(b), headers, 2, on_answer, d};
            if (ft_http_client_submit(c, &call)) d->failed++;
            sent++;
        }
        ft_http_client_poll(c, 100);
    }
    ft_http_client_free(c);
    free(bodies);
}

static int count_row(void *arg, const struct ft_cell *cells, size_t n)
{
    *(int64_t *)arg = n && cells[0].type == FT_CELL_INT ? cells[0].i : 0;
    return 0;
}

static int print_row(void *arg, const struct ft_cell *cells, size_t n)
{
    (void)arg;
    if (n < 2) return 0;
    printf("    %-28.*s %6" PRId64 "\n", (int)cells[0].s.len, cells[0].s.ptr, cells[1].i);
    return 0;
}

/* The document: given, from FLAGTRAIL_DEMO_ENVIRONMENT, from the source tree (the working
 * directory, or the one this program was built in: build/<kind>/flagtrail), or installed
 * beside this program (<prefix>/bin/flagtrail). */
static const char *find_environment(const char *given, const char *self)
{
    static char path[8300];
    if (given) return given;
    const char *env = getenv("FLAGTRAIL_DEMO_ENVIRONMENT");
    if (env && *env) return env;
    if (access(DEMO_KEY_DEFAULT, R_OK) == 0) return DEMO_KEY_DEFAULT;
    int dir = (int)(strrchr(self, '/') - self);
    snprintf(path, sizeof(path), "%.*s/../../%s", dir, self, DEMO_KEY_DEFAULT);
    if (access(path, R_OK) == 0) return path;
    snprintf(path, sizeof(path), "%.*s/../share/flagtrail/demo-environment.json", dir, self);
    return access(path, R_OK) == 0 ? path : NULL;
}

/* The environment's client key, from the document itself. */
static int client_key(const char *path, char *key, size_t cap)
{
    struct ft_buf text;
    char msg[512];
    if (cli_read_input(path, 64u << 20, &text, msg, sizeof(msg)))
        return cli_fail("demo", "%s", msg);
    ft_engine *e;
    struct ft_engine_error err;
    int rc = ft_engine_load(text.data, text.len, NULL, &e, &err);
    ft_buf_free(&text);
    if (rc) return cli_fail("demo", "%s: %s", path, err.detail);
    struct ft_str k = ft_engine_environment(e)->api_key;
    rc = k.len && k.len < cap ? CLI_OK : cli_fail("demo", "%s has no usable api_key", path);
    if (rc == CLI_OK) snprintf(key, cap, "%.*s", (int)k.len, k.ptr);
    ft_engine_free(e);
    return rc;
}

static void stop_child(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The webhooks in the warehouse; -1 when it cannot be read. */
static int64_t count_deliveries(const char *url)
{
    char err[512];
    ft_store *st;
    int64_t have = -1;
    if (ft_store_open(url, &st, err, sizeof(err)) == FT_OK) {
        have = 0;
        ft_store_query(st, "SELECT COUNT(*) FROM ft_delivery", NULL, 0, count_row, &have);
        ft_store_close(st);
    }
    return have;
}

/* `before`: the webhooks an earlier demo left in the same --dir. */
static int summary(const char *dir, long n, int64_t before, int64_t elapsed_ms)
{
    char url[4200], err[512];
    snprintf(url, sizeof(url), "sqlite:%s/flagtrail.db", dir);
    ft_store *st;
    if (ft_store_open(url, &st, err, sizeof(err))) return cli_fail("demo", "%s", err);
    int64_t deliveries = 0, identities = 0;
    ft_store_query(st, "SELECT COUNT(*) FROM ft_delivery", NULL, 0, count_row, &deliveries);
    ft_store_query(st, "SELECT COUNT(DISTINCT identity) FROM ft_delivery", NULL, 0, count_row,
                   &identities);
    printf("\n%ld identity calls through serve -> %" PRId64 " signed webhooks in the warehouse,"
           " %.1f s end to end\n",
           n, deliveries - before, (double)elapsed_ms / 1000);
    if (before > 0)
        printf("(the warehouse in %s also holds %" PRId64 " webhooks of earlier runs;"
               " the numbers below count them too)\n",
               dir, before);
    printf("%" PRId64 " identities in the warehouse\n\n", identities);
    printf("  mv_feature, identities per variant:\n");
    ft_store_query(st,
                   "SELECT COALESCE(value, 'null'), COUNT(DISTINCT identity) FROM ft_evaluations"
                   " WHERE feature_name = 'mv_feature' GROUP BY 1 ORDER BY 1",
                   NULL, 0, print_row, NULL);
    printf("  segment members:\n");
    ft_store_query(st,
                   "SELECT segment_name, COUNT(*) FROM ft_segment_members GROUP BY 1 ORDER BY 1",
                   NULL, 0, print_row, NULL);
    ft_store_close(st);
    printf("\nExplore it:\n"
           "  flagtrail cohort --store %s --flag mv_feature=baz --list\n"
           "  flagtrail cohort --store %s --segment regular_segment --trait 'age>30' --by day\n"
           "  sqlite3 %s/flagtrail.db 'SELECT * FROM ft_exposures LIMIT 5'\n",
           url, url, dir);
    return deliveries - before >= n ? CLI_OK : CLI_FAIL;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"identities", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'},
        {"environment", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long n = 2000;
    const char *dir_opt = NULL, *env_opt = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 10000000) return cli_usage("demo", "--identities: 1 to 10000000");
            break;
        }
        case 'd': dir_opt = optarg; break;
        case 'e': env_opt = optarg; break;
        case 'h': help_demo(); return CLI_OK;
        default: return cli_bad_option("demo", c, argv);
        }
    }
    char dir[4096], self[4096], key[256];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) return cli_fail("demo", "cannot find this program's path");
    self[sl] = '\0';
    const char *environment = find_environment(env_opt, self);
    if (!environment)
        return cli_fail("demo", "no environment document: give --environment FILE (or install "
                                "flagtrail, which installs one)");
    if (client_key(environment, key, sizeof(key)) != CLI_OK) return CLI_FAIL;
    if (dir_opt) {
        snprintf(dir, sizeof(dir), "%s", dir_opt);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return cli_fail("demo", "cannot create %s: %s", dir, strerror(errno));
    } else {
        snprintf(dir, sizeof(dir), "/tmp/flagtrail-demo-XXXXXX");
        if (!mkdtemp(dir)) return cli_fail("demo", "cannot create a directory: %s", strerror(errno));
    }
    char secret[4200], store[4200], spool[4200], data[4200], rlog[4200], slog[4200];
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    snprintf(store, sizeof(store), "sqlite:%s/flagtrail.db", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(data, sizeof(data), "%s/serve", dir);
    snprintf(rlog, sizeof(rlog), "%s/receive.log", dir);
    snprintf(slog, sizeof(slog), "%s/serve.log", dir);
    FILE *f = fopen(secret, "w");
    if (!f) return cli_fail("demo", "cannot write %s", secret);
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) memset(rnd, 7, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        fprintf(f, "%02x", rnd[i]);
    fclose(f);
    chmod(secret, 0600);
    int rport = free_port(), sport = free_port();
    char rlisten[32], slisten[32], hook[64];
    snprintf(rlisten, sizeof(rlisten), "127.0.0.1:%d", rport);
    snprintf(slisten, sizeof(slisten), "127.0.0.1:%d", sport);
    snprintf(hook, sizeof(hook), "http://127.0.0.1:%d/webhook", rport);
    char *rargv[] = {self, "receive", "--listen", rlisten, "--secret-file", secret, "--store", store,
                     "--spool", spool, "--standard-webhooks", "--source", "demo", NULL};
    char *sargv[] = {self, "serve", "--listen", slisten, "--environment", (char *)environment,
                     "--data", data, "--webhook-url", hook, "--webhook-secret-file", secret,
                     "--standard-webhooks", "--retry-schedule", "200ms,1s,5s", NULL};
    printf("flagtrail demo in %s\n  receive on %s, serve on %s, environment %s\n", dir, rlisten,
           slisten, environment);
    fflush(stdout);
    pid_t rpid = spawn(self, rargv, rlog), spid = spawn(self, sargv, slog);
    int rc = CLI_FAIL;
    for (int i = 0; i < 200 && !(healthy(rport) && healthy(sport)); i++)
        usleep(50000);
    if (!healthy(rport) || !healthy(sport)) {
        cli_fail("demo", "serve or receive did not start; see %s and %s", rlog, slog);
        goto out;
    }
    int64_t before = count_deliveries(store);
    if (before < 0) before = 0;
    int64_t t0 = ft_clock_mono_ns();
    struct driver d = {0};
    printf("  sending %ld identity calls...\n", n);
    fflush(stdout);
    drive(sport, key, n, &d);
    if (d.failed) {
        cli_fail("demo", "%" PRIu64 " identity calls failed; see %s", d.failed, slog);
        goto out;
    }
    for (int i = 0; i < 600 && count_deliveries(store) < before + n; i++) /* 30 s at most */
        usleep(50000);
    rc = summary(dir, n, before, (ft_clock_mono_ns() - t0) / 1000000);
out:
    stop_child(spid);
    stop_child(rpid);
    return rc;
}
