/*
 * flagtrail replay: loads what a spool holds into a store (a stopped receiver's backlog, or a
 * copied spool into another warehouse), with a progress bar on a terminal.
 */
#include "cli/cli.h"
#include "cli/progress.h"
#include "flagtrail/error.h"
#include "receive/loader.h"
#include "serve/dispatcher.h"
#include "flagtrail/version.h"

#include <getopt.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void help_replay(void)
{
    puts("Usage: flagtrail replay [--quarantine] [--skip-unreadable] --spool DIR --store URL\n"
         "                        [--source NAME]\n"
         "       flagtrail replay --dead-letters [--data DIR] [--webhook-secret-file F]\n"
         "                        [--standard-webhooks] [--retry-schedule LIST]\n"
         "                        [--retry-max-age DURATION]\n"
         "\n"
         "Loads every webhook in the spool DIR that the store has not loaded for this\n"
         "source, exactly as the receiver's loader does (the receiver must not be running on\n"
         "that spool). Segments are released once loaded. There is no quarantine here (it\n"
         "belongs to the receiver's warehouse): a record the warehouse refuses for good\n"
         "fails the replay after five attempts, and one this version cannot read stops it\n"
         "before that record; either stays in the spool.\n"
         "\n"
         "  --spool DIR     the spool (default ./flagtrail-spool)\n"
         "  --store URL     the warehouse (default sqlite:./flagtrail.db)\n"
         "  --source NAME   whose checkpoint to continue (default the host name, as receive)\n"
         "  --quarantine    load DIR/quarantine instead: the records the warehouse refused,\n"
         "                  once the cause is fixed, as source NAME/quarantine (receive may\n"
         "                  be running)\n"
         "  --skip-unreadable  skip records this version cannot read (they are lost)\n"
         "\n"
         "With --dead-letters, sends serve's dead letters (in DIR/dead-letters, default\n"
         "./flagtrail-serve) again to their URLs, signed with --webhook-secret-file (or\n"
         "FLAGTRAIL_WEBHOOK_SECRET); serve must be stopped. Each is retried on the schedule\n"
         "(default 1s,5s,30s) for --retry-max-age (default 2m) from now; what fails again\n"
         "stays a dead letter. --standard-webhooks sends the Standard Webhooks headers with\n"
         "each webhook's original webhook-id, so a receiver that saw it before stores it\n"
         "once: give it when serve ran with it.\n"
         "  -h, --help      this help");
}

struct replay_progress {
    struct cli_progress bar;
    uint64_t start;
    ft_loader *loader;
};

static void on_progress(void *arg, uint64_t checkpoint, uint64_t end)
{
    struct replay_progress *p = arg;
    struct ft_loader_stats ls;
    ft_loader_get_stats(p->loader, &ls);
    cli_progress_update(&p->bar, checkpoint - p->start, end - p->start, ls.deliveries);
}

struct replay_secret {
    char *secret;
    size_t len;
};

static ft_signer *replay_signer(void *arg, struct ft_str environment)
{
    struct replay_secret *s = arg;
    (void)environment;
    return s->secret ? ft_signer_new(s->secret, s->len) : NULL;
}

/* A directory the user named must be there: replaying a mistyped path would create it, find
 * nothing and report success. */
static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int replay_dead_letters(const char *data, const char *secret_file, const char *schedule,
                               const char *max_age, bool standard_webhooks)
{
    struct replay_secret sec = {0};
    char err[512];
    if (!is_dir(data)) return cli_fail("replay", "--data %s: no such directory", data);
    if (secret_file) {
        if (ft_secret_read_file(secret_file, &sec.secret, &sec.len, err, sizeof(err)))
            return cli_fail("replay", "%s", err);
    } else if (getenv("FLAGTRAIL_WEBHOOK_SECRET") && *getenv("FLAGTRAIL_WEBHOOK_SECRET")) {
        const char *v = getenv("FLAGTRAIL_WEBHOOK_SECRET");
        if (ft_secret_from_string(v, strlen(v), &sec.secret, &sec.len))
            return cli_fail("replay", "FLAGTRAIL_WEBHOOK_SECRET is too long");
    } else {
        fprintf(stderr, "flagtrail replay: no --webhook-secret-file or FLAGTRAIL_WEBHOOK_SECRET: "
                        "the dead letters are sent unsigned\n");
    }
    int64_t sched[32], age[1];
    size_t nsched = 0, nage = 0;
    int rc = CLI_OK;
    if (!ft_dispatch_parse_schedule(schedule ? schedule : "1s,5s,30s", sched, 32, &nsched))
        rc = cli_usage("replay",
                       "--retry-schedule: expected delays like 1s,5s,30s (each at most 366 days)");
    else if (!ft_dispatch_parse_schedule(max_age ? max_age : "2m", age, 1, &nage))
        rc = cli_usage("replay", "--retry-max-age: expected a duration like 2m (at most 366 days)");
    char path[4096], cp[4096];
    snprintf(path, sizeof(path), "%s/dead-letters", data);
    snprintf(cp, sizeof(cp), "%s/dead-letters.checkpoint", data);
    ft_spool *dead = NULL;
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC};
    if (rc == CLI_OK && ft_spool_open(path, &so, &dead, err, sizeof(err)))
        rc = cli_fail("replay", "%s", err);
    ft_dispatcher *d = NULL;
    if (rc == CLI_OK) {
        /* what fails again is appended to the same spool, after the end this run stops at */
        struct ft_dispatcher_options o = {.checkpoint_path = cp, .dead = dead,
                                          .schedule_us = sched, .nschedule = nsched,
                                          .max_age_us = age[0], .drain = true,
                                          .standard_webhooks = standard_webhooks,
                                          .user_agent = "flagtrail/" FT_VERSION,
                                          .signer = replay_signer, .signer_arg = &sec};
        ft_dispatcher_new(dead, &o, &d, err, sizeof(err));
        int drc = ft_dispatcher_run(d);
        struct ft_dispatcher_stats ds;
        ft_dispatcher_get_stats(d, &ds);
        printf("delivered %llu dead letters, %llu failed again and stay dead letters\n",
               (unsigned long long)ds.delivered, (unsigned long long)(ds.dead + ds.dead_lost));
        rc = ds.dead + ds.dead_lost ? CLI_FAIL : CLI_OK;
        if (drc)
            rc = cli_fail("replay", "the dead letters cannot be read at %" PRIu64
                                    "; those from there on stay for a later replay",
                          ds.checkpoint);
    }
    ft_dispatcher_free(d);
    ft_spool_close(dead);
    ft_free_secure(sec.secret, sec.len);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"spool", required_argument, NULL, 'p'},
        {"store", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'n'},
        {"dead-letters", no_argument, NULL, 'D'},
        {"quarantine", no_argument, NULL, 'q'},
        {"skip-unreadable", no_argument, NULL, 'S'},
        {"data", required_argument, NULL, 'd'},
        {"webhook-secret-file", required_argument, NULL, 'w'},
        {"retry-schedule", required_argument, NULL, 'r'},
        {"retry-max-age", required_argument, NULL, 'a'},
        {"standard-webhooks", no_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *spool_dir = "./flagtrail-spool", *store_url = "sqlite:./flagtrail.db";
    const char *data = "./flagtrail-serve", *secret_file = NULL, *schedule = NULL, *max_age = NULL;
    bool dead_letters = false, quarantine = false, skip_unreadable = false, standard = false;
    char source[256] = "";
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': spool_dir = optarg; break;
        case 's': store_url = optarg; break;
        case 'n': snprintf(source, sizeof(source), "%s", optarg); break;
        case 'D': dead_letters = true; break;
        case 'q': quarantine = true; break;
        case 'S': skip_unreadable = true; break;
        case 'd': data = optarg; break;
        case 'w': secret_file = optarg; break;
        case 'r': schedule = optarg; break;
        case 'a': max_age = optarg; break;
        case 'W': standard = true; break;
        case 'h': help_replay(); return CLI_OK;
        default: return cli_bad_option("replay", c, argv);
        }
    }
    if (optind < argc) return cli_usage("replay", "unexpected argument '%s'", argv[optind]);
    if (standard && !dead_letters)
        return cli_usage("replay", "--standard-webhooks goes with --dead-letters");
    if (dead_letters) return replay_dead_letters(data, secret_file, schedule, max_age, standard);
    if (!source[0] && gethostname(source, sizeof(source) - 1) != 0)
        snprintf(source, sizeof(source), "flagtrail");
    char quarantine_dir[4096];
    if (quarantine) {
        /* its own source: the quarantine's positions are not the spool's */
        size_t n = strlen(source);
        if (n + sizeof("/quarantine") > sizeof(source))
            return cli_usage("replay", "--source is too long");
        memcpy(source + n, "/quarantine", sizeof("/quarantine"));
        snprintf(quarantine_dir, sizeof(quarantine_dir), "%s/quarantine", spool_dir);
    }
    const char *spool_arg = spool_dir;
    if (quarantine) spool_dir = quarantine_dir;
    char err[512];
    ft_spool *spool = NULL;
    ft_store *store = NULL;
    ft_loader *loader = NULL;
    int rc = CLI_FAIL;
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC};
    if (!is_dir(spool_arg)) {
        cli_fail("replay", "--spool %s: no such directory", spool_arg);
        goto done;
    }
    if (!is_dir(spool_dir)) { /* --quarantine, and nothing was refused */
        printf("nothing quarantined: %s does not exist\n", spool_dir);
        rc = CLI_OK;
        goto done;
    }
    if (ft_spool_open(spool_dir, &so, &spool, err, sizeof(err))) {
        cli_fail("replay", "%s", err);
        goto done;
    }
    if (ft_store_open(store_url, &store, err, sizeof(err))) {
        cli_fail("replay", "%s", err);
        goto done;
    }
    struct replay_progress prog = {0};
    /* no quarantine: a spool copied to load another warehouse would share the receiver's */
    struct ft_loader_options lo = {.source = source,
                                   .max_attempts = 5,
                                   .skip_unreadable = skip_unreadable,
                                   .progress = on_progress,
                                   .progress_arg = &prog};
    if (ft_loader_new(spool, store, &lo, &loader, err, sizeof(err))) {
        cli_fail("replay", "%s", err);
        goto done;
    }
    prog.loader = loader;
    struct ft_loader_stats ls;
    ft_loader_get_stats(loader, &ls);
    prog.start = ls.checkpoint;
    cli_progress_start(&prog.bar, "replay");
    int drc = ft_loader_drain(loader);
    ft_loader_get_stats(loader, &ls);
    struct ft_spool_stats ss;
    ft_spool_get_stats(spool, &ss);
    cli_progress_finish(&prog.bar, ss.durable_lsn - prog.start, ss.durable_lsn - prog.start,
                        ls.deliveries);
    if (drc) {
        ft_loader_last_error(loader, err, sizeof(err));
        if (drc == FT_ECORRUPT)
            cli_fail("replay",
                     "%s (loaded %" PRIu64 " before it; it stays in %s, --skip-unreadable "
                     "skips it)",
                     err, ls.deliveries, spool_dir);
        else if (drc == FT_EIO)
            cli_fail("replay", "%s (loaded %" PRIu64 " before it; the rest stays)", err,
                     ls.deliveries);
        else
            cli_fail("replay", "the warehouse failed: %s", err);
        goto done;
    }
    printf("loaded %" PRIu64 " webhooks (%" PRIu64 " skipped) into %s as source %s\n",
           ls.deliveries, ls.rejected, store_url, source);
    rc = CLI_OK;
done:
    ft_loader_free(loader);
    ft_store_close(store);
    ft_spool_close(spool);
    return rc;
}
