/*
 * flagtrail replay: loads what a spool holds into a store (a stopped receiver's backlog, or a
 * copied spool into another warehouse), with a progress bar on a terminal.
 */
#include "cli/cli.h"
#include "cli/progress.h"
#include "flagtrail/error.h"
#include "receive/loader.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void help_replay(void)
{
    puts("Usage: flagtrail replay --spool DIR --store URL [--source NAME]\n"
         "\n"
         "Loads every webhook in the spool DIR that the store has not loaded for this\n"
         "source, exactly as the receiver's loader does (the receiver must not be running on\n"
         "that spool). Segments are released once loaded.\n"
         "\n"
         "  --spool DIR     the spool (default ./flagtrail-spool)\n"
         "  --store URL     the warehouse (default sqlite:./flagtrail.db)\n"
         "  --source NAME   whose checkpoint to continue (default the host name, as receive)\n"
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

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"spool", required_argument, NULL, 'p'},
        {"store", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *spool_dir = "./flagtrail-spool", *store_url = "sqlite:./flagtrail.db";
    char source[256] = "";
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': spool_dir = optarg; break;
        case 's': store_url = optarg; break;
        case 'n': snprintf(source, sizeof(source), "%s", optarg); break;
        case 'h': help_replay(); return CLI_OK;
        default: return cli_bad_option("replay", c, argv);
        }
    }
    if (optind < argc) return cli_usage("replay", "unexpected argument '%s'", argv[optind]);
    if (!source[0] && gethostname(source, sizeof(source) - 1) != 0)
        snprintf(source, sizeof(source), "flagtrail");
    char err[512];
    ft_spool *spool = NULL;
    ft_store *store = NULL;
    ft_loader *loader = NULL;
    int rc = CLI_FAIL;
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC};
    if (ft_spool_open(spool_dir, &so, &spool, err, sizeof(err))) {
        cli_fail("replay", "%s", err);
        goto done;
    }
    if (ft_store_open(store_url, &store, err, sizeof(err))) {
        cli_fail("replay", "%s", err);
        goto done;
    }
    struct replay_progress prog = {0};
    struct ft_loader_options lo = {.source = source, .max_attempts = 5, .progress = on_progress,
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
