/*
 * flagtrail cohort: counts, lists or sizes per day the identities whose latest state matches
 * every predicate (src/analyse/cohort.h).
 */
#include "analyse/cohort.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "flagtrail/error.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define MAX_PREDICATES 32

void help_cohort(void)
{
    puts("Usage: flagtrail cohort [--store URL] [PREDICATES] [--count|--list|--by day]\n"
         "                        [--format table|csv|json]\n"
         "\n"
         "The identities whose state matches every predicate. An identity's state is its\n"
         "latest webhook in the time window: its flags, traits and segments then.\n"
         "\n"
         "Predicates (combined with AND, each may repeat):\n"
         "  --flag NAME=on|off      the flag is enabled / disabled\n"
         "  --flag NAME=VALUE       the flag's value is VALUE (a variant, \"42\", \"true\")\n"
         "  --segment NAME          a member of the segment\n"
         "  --not-segment NAME      not a member of the segment\n"
         "  --trait KEY=VALUE       the trait's value is VALUE\n"
         "  --trait 'KEY>N'         a numeric trait above N (also 'KEY<N')\n"
         "Time (ISO-8601 dates or times, UTC unless an offset is given, or @unix-seconds):\n"
         "  --since T, --until T    only webhooks received in [T, T]\n"
         "  --at T                  each identity's state as of T (same as --until T)\n"
         "Environment (needed when the warehouse holds webhooks of several):\n"
         "  --environment-id N      only webhooks of Flagsmith environment N (the flags'\n"
         "                          \"environment\" field)\n"
         "Output:\n"
         "  --count                 the number of identities (default)\n"
         "  --list                  the identities\n"
         "  --by day                per day, identities seen that day whose latest state of\n"
         "                          the day matches\n"
         "  --format F              table (default), csv or json\n"
         "  --store URL             the warehouse (default sqlite:./flagtrail.db)\n"
         "\n"
         "Example: flagtrail cohort --flag checkout_flow=variant_b --segment beta_testers \\\n"
         "             --trait 'age>30' --since 2026-11-01 --by day");
}

struct printer {
    struct cli_out out;
    enum ft_cohort_output kind;
    enum cli_format format;
    int64_t count;
};

static int on_row(void *arg, const struct ft_cell *cells, size_t n)
{
    struct printer *p = arg;
    char num[32];
    if (p->kind == FT_COHORT_COUNT) {
        p->count = n && cells[0].type == FT_CELL_INT ? cells[0].i : 0;
        return 0;
    }
    if (p->kind == FT_COHORT_LIST) {
        char *id = ft_xstrndup(cells[0].s.ptr, cells[0].s.len);
        const char *row[1] = {id};
        cli_out_row(&p->out, row);
        free(id);
        return 0;
    }
    char day[16];
    snprintf(day, sizeof(day), "%.*s", (int)cells[0].s.len, cells[0].s.ptr);
    snprintf(num, sizeof(num), "%" PRId64, cells[1].i);
    const char *row[2] = {day, num};
    cli_out_row(&p->out, row);
    return 0;
}

static bool parse_time(const char *opt, const char *s, int64_t *out)
{
    if (ft_clock_parse_iso(s, strlen(s), out)) return true;
    cli_usage("cohort", "%s: not a time: %s (try 2026-11-24 or 2026-11-24T05:00:00Z)", opt, s);
    return false;
}

static void warn_unknown(void *arg, const char *what, struct ft_str name)
{
    (void)arg;
    fprintf(stderr, "flagtrail cohort: warning: no webhook in the warehouse has a %s named %.*s\n",
            what, (int)name.len, name.ptr);
}

int cmd_cohort(int argc, char **argv)
{
    enum { O_FLAG = 256, O_SEGMENT, O_NOT_SEGMENT, O_TRAIT, O_SINCE, O_UNTIL, O_AT, O_COUNT,
           O_LIST, O_BY, O_FORMAT, O_STORE, O_ENV_ID };
    static const struct option opts[] = {
        {"flag", required_argument, NULL, O_FLAG},
        {"segment", required_argument, NULL, O_SEGMENT},
        {"not-segment", required_argument, NULL, O_NOT_SEGMENT},
        {"trait", required_argument, NULL, O_TRAIT},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"at", required_argument, NULL, O_AT},
        {"count", no_argument, NULL, O_COUNT},
        {"list", no_argument, NULL, O_LIST},
        {"by", required_argument, NULL, O_BY},
        {"format", required_argument, NULL, O_FORMAT},
        {"store", required_argument, NULL, O_STORE},
        {"environment-id", required_argument, NULL, O_ENV_ID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ft_pred preds[MAX_PREDICATES];
    struct ft_cohort_query q = {.preds = preds, .output = FT_COHORT_COUNT};
    const char *store_url = "sqlite:./flagtrail.db";
    enum cli_format format = CLI_TABLE;
    int outputs = 0, c;
    char err[256];
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((c == O_FLAG || c == O_SEGMENT || c == O_NOT_SEGMENT || c == O_TRAIT) &&
            q.npreds == MAX_PREDICATES)
            return cli_usage("cohort", "at most %d predicates", MAX_PREDICATES);
        struct ft_pred *p = &preds[q.npreds];
        switch (c) {
        case O_FLAG:
            if (!ft_pred_parse_flag(optarg, p, err, sizeof(err)))
                return cli_usage("cohort", "%s", err);
            q.npreds++;
            break;
        case O_TRAIT:
            if (!ft_pred_parse_trait(optarg, p, err, sizeof(err)))
                return cli_usage("cohort", "%s", err);
            q.npreds++;
            break;
        case O_SEGMENT:
        case O_NOT_SEGMENT:
            if (!*optarg) return cli_usage("cohort", "a segment name is required");
            *p = (struct ft_pred){c == O_SEGMENT ? FT_PRED_SEGMENT : FT_PRED_NOT_SEGMENT,
                                  ft_str_c(optarg), {NULL, 0}, 0};
            q.npreds++;
            break;
        case O_SINCE:
            if (!parse_time("--since", optarg, &q.since_us)) return CLI_USAGE;
            q.has_since = true;
            break;
        case O_UNTIL:
        case O_AT:
            if (!parse_time(c == O_AT ? "--at" : "--until", optarg, &q.until_us)) return CLI_USAGE;
            q.has_until = true;
            break;
        case O_COUNT: q.output = FT_COHORT_COUNT; outputs++; break;
        case O_LIST: q.output = FT_COHORT_LIST; outputs++; break;
        case O_BY:
            if (strcmp(optarg, "day") != 0)
                return cli_usage("cohort", "--by: only 'day' is supported, got %s", optarg);
            q.output = FT_COHORT_BY_DAY;
            outputs++;
            break;
        case O_FORMAT:
            if (!cli_parse_format(optarg, &format))
                return cli_usage("cohort", "--format: expected table, csv or json, got %s", optarg);
            break;
        case O_STORE: store_url = optarg; break;
        case O_ENV_ID:
            if (!cli_parse_int64(optarg, &q.environment_id))
                return cli_usage("cohort", "--environment-id: an integer, got %s", optarg);
            q.has_environment = true;
            break;
        case 'h': help_cohort(); return CLI_OK;
        default: return cli_bad_option("cohort", c, argv);
        }
    }
    if (optind < argc) return cli_usage("cohort", "unexpected argument '%s'", argv[optind]);
    if (outputs > 1) return cli_usage("cohort", "choose one of --count, --list, --by day");
    if (q.has_since && q.has_until && q.since_us > q.until_us)
        return cli_usage("cohort", "--since is after --until");
    ft_store *st;
    if (ft_store_open_flags(store_url, FT_STORE_EXISTING, &st, err, sizeof(err)))
        return cli_fail("cohort", "%s", err);
    struct printer p = {.kind = q.output, .format = format};
    static const char *const list_h[] = {"identity"}, *const day_h[] = {"day", "identities"};
    static const bool day_num[] = {false, true};
    if (q.output == FT_COHORT_LIST) cli_out_begin(&p.out, stdout, format, 1, list_h, NULL);
    if (q.output == FT_COHORT_BY_DAY) cli_out_begin(&p.out, stdout, format, 2, day_h, day_num);
    int rc = ft_cohort_check_names(st, &q, warn_unknown, NULL);
    if (rc == FT_OK) rc = ft_cohort_run(st, &q, on_row, &p, err, sizeof(err));
    else snprintf(err, sizeof(err), "%s", ft_store_errmsg(st));
    if (q.output != FT_COHORT_COUNT) cli_out_end(&p.out);
    if (rc == FT_OK && q.output == FT_COHORT_COUNT) {
        if (format == CLI_JSON) printf("{\"count\": %" PRId64 "}\n", p.count);
        else if (format == CLI_CSV) printf("count\n%" PRId64 "\n", p.count);
        else printf("%" PRId64 "\n", p.count);
    }
    if (rc) rc = cli_fail("cohort", "%s", err);
    ft_store_close(st);
    return rc ? CLI_FAIL : CLI_OK;
}
