/*
 * The flagtrail program: dispatches to one subcommand per file in src/cli/.
 */
#include "cli/cli.h"
#include "flagtrail/version.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const struct cli_command commands[] = {
    {"receive", "run the webhook endpoint and load the warehouse", cmd_receive, help_receive},
    {"demo", "run serve and receive together and watch webhooks reach the warehouse", cmd_demo,
     help_demo},
    {"serve", "a Flagsmith-compatible flags API that emits the webhooks", cmd_serve, help_serve},
    {"replay", "load a spool into a store", cmd_replay, help_replay},
    {"events", "import metric events (CSV, JSON lines)", cmd_events, help_events},
    {"cohort", "count, list or size per day the identities matching predicates", cmd_cohort,
     help_cohort},
    {"experiment", "compare a flag's arms on metric events (table, JSON or HTML report)",
     cmd_experiment, help_experiment},
    {"sign", "print the X-Flagsmith-Signature of a body", cmd_sign, help_sign},
    {"verify", "check a signature against a body and secrets", cmd_verify, help_verify},
    {"validate", "check a webhook body against the payload schema", cmd_validate, help_validate},
    {"eval", "evaluate an identity's flags from an environment document", cmd_eval, help_eval},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: flagtrail COMMAND [OPTIONS]\n"
                 "\n"
                 "flagtrail receives Flagsmith's identity webhooks, verifies and stores them,\n"
                 "and analyses them.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n"
                 "Run 'flagtrail COMMAND --help' for a command's options.\n"
                 "  --version  print the version\n"
                 "  --help     this help\n");
}

static const struct cli_command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    /* SQLite's memory statistics, which flagtrail never reads, take a process-wide mutex on
     * every allocation SQLite makes (a tenth of the identity store's thread under bench/serve);
     * they can only be turned off before SQLite starts. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("flagtrail %s\n", FT_VERSION);
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        const struct cli_command *cmd = argc > 2 ? find(argv[2]) : NULL;
        if (!cmd) {
            usage(argc > 2 ? stderr : stdout);
            return argc > 2 ? CLI_USAGE : CLI_OK;
        }
        cmd->help();
        return CLI_OK;
    }
    const struct cli_command *cmd = find(name);
    opterr = 0; /* the commands word their own option errors */
    if (!cmd) {
        fprintf(stderr, "flagtrail: unknown command '%s'\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}
