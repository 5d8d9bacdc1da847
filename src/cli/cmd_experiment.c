/*
 * flagtrail experiment: a flag's arms compared on metric events (src/analyse/experiment.h),
 * printed as a table, JSON or a self-contained HTML page (src/analyse/report.h).
 */
#include "analyse/experiment.h"
#include "analyse/report.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "flagtrail/engine.h"
#include "flagtrail/error.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void help_experiment(void)
{
    puts("Usage: flagtrail experiment --flag NAME [--metric EVENT[:AGGREGATION]]... [OPTIONS]\n"
         "\n"
         "Compares the arms of a flag on metric events. An identity's arm is the flag's state\n"
         "in its first webhook (its first exposure): the value of a multivariate flag, on or\n"
         "off for any other. Identities seen in several arms are quarantined. Only events at\n"
         "or after an identity's first exposure count.\n"
         "\n"
         "  --flag NAME           the flag (required)\n"
         "  --metric EVENT[:AGG]  an event of ft_event, aggregated per identity as conversion\n"
         "                        (default: 1 if any event), count, sum (of values) or mean\n"
         "                        (of values, over identities with one); repeatable\n"
         "  --control VALUE       the control arm (default: off for on/off arms, the\n"
         "                        environment's default value with --environment)\n"
         "  --weights A=W,B=W     the expected split for the sample-ratio test (default:\n"
         "                        --environment's allocations, else equal)\n"
         "  --environment FILE    an environment document: control and weights from the\n"
         "                        flag's variants and their percentage allocations, and\n"
         "                        only the webhooks of that environment\n"
         "  --environment-id N    only the webhooks of Flagsmith environment N (needed when\n"
         "                        the warehouse holds several, unless --environment)\n"
         "  --arms-by value|enabled  override how arms are told apart\n"
         "  --since T, --until T  exposures (and events) in [T, T]; ISO-8601 or @unix-seconds\n"
         "  --method M            frequentist (default), bayesian or sequential\n"
         "  --alpha A             significance level, 0 < A < 1 (default 0.05)\n"
         "  --format F            table (default), json or html\n"
         "  --out FILE            write the report there (default: standard output)\n"
         "  --store URL           the warehouse (default sqlite:./flagtrail.db)\n"
         "\n"
         "Example: flagtrail experiment --flag checkout_flow --metric purchase \\\n"
         "             --metric purchase:sum --format html --out report.html");
}

enum format { F_TABLE, F_JSON, F_HTML };

struct options {
    struct ft_experiment_query q;
    struct ft_metric metrics[FT_EXPERIMENT_MAX_METRICS];
    struct ft_arm_weight weights[FT_EXPERIMENT_MAX_ARMS];
    char *weights_text;
    char *labels[FT_EXPERIMENT_MAX_ARMS]; /* of --environment's split */
    const char *store, *environment, *out;
    enum format format;
};

/* "A=W,B=W": labels point into `text`, which is modified. */
static bool parse_weights(char *text, struct options *o)
{
    for (char *item; (item = strsep(&text, ","));) {
        if (!*item) continue; /* "a=1,,b=2", a trailing comma */
        char *eq = strrchr(item, '=');
        if (!eq || eq == item || o->q.nweights == FT_EXPERIMENT_MAX_ARMS) return false;
        *eq = '\0';
        char *end;
        errno = 0;
        double w = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || errno || !isfinite(w) || w < 0) return false;
        o->weights[o->q.nweights++] = (struct ft_arm_weight){item, w};
    }
    return o->q.nweights > 0;
}

static bool parse_time(const char *opt, const char *s, int64_t *out)
{
    if (ft_clock_parse_iso(s, strlen(s), out)) return true;
    cli_usage("experiment", "%s: not a time: %s (try 2026-11-24 or 2026-11-24T05:00:00Z)", opt, s);
    return false;
}

/* The label of a value of the environment's split, as the warehouse stores values; kept in
 * `o` (whole: a cut label would name no arm). */
static const char *label_of(struct options *o, size_t i, struct ft_value v)
{
    free(o->labels[i]);
    o->labels[i] = v.type == FT_VALUE_NULL ? ft_xstrdup("null") : ft_xstrndup(v.text.ptr, v.text.len);
    return o->labels[i];
}

/* Control and weights from the environment document's variants of the flag. */
static int environment_split(struct options *o)
{
    struct ft_buf text;
    char msg[512];
    if (cli_read_input(o->environment, 256u << 20, &text, msg, sizeof(msg)))
        return cli_fail("experiment", "%s", msg);
    ft_engine *e;
    struct ft_engine_error err;
    int rc = ft_engine_load(text.data, text.len, NULL, &e, &err);
    ft_buf_free(&text);
    if (rc) return cli_fail("experiment", "%s: %s", o->environment, err.detail);
    struct ft_value control;
    struct ft_engine_variant v[FT_EXPERIMENT_MAX_ARMS - 1];
    double control_weight;
    size_t n;
    rc = ft_engine_feature_split(e, ft_str_c(o->q.flag), &control, &control_weight, v,
                                 FT_EXPERIMENT_MAX_ARMS - 1, &n);
    if (rc == FT_OK && n >= FT_EXPERIMENT_MAX_ARMS) rc = FT_EINVAL;
    if (rc == FT_OK && n > 0) {
        o->weights[0] = (struct ft_arm_weight){label_of(o, 0, control), control_weight};
        for (size_t i = 0; i < n; i++)
            o->weights[i + 1] =
                (struct ft_arm_weight){label_of(o, i + 1, v[i].value), v[i].weight};
        o->q.nweights = n + 1;
        o->q.weights_add_arms = true;
    }
    const struct ft_engine_environment *env = ft_engine_environment(e);
    bool env_differs = o->q.has_environment && !env->id.null && env->id.value != o->q.environment_id;
    if (!o->q.has_environment && !env->id.null) {
        o->q.has_environment = true;
        o->q.environment_id = env->id.value;
    }
    ft_engine_free(e);
    if (env_differs)
        return cli_fail("experiment", "--environment-id %" PRId64 ": %s is another environment's",
                        o->q.environment_id, o->environment);
    if (rc == FT_ENOENT)
        return cli_fail("experiment", "%s has no feature named %s", o->environment, o->q.flag);
    if (rc) return cli_fail("experiment", "flag %s has too many variants", o->q.flag);
    if (n == 0)
        return cli_fail("experiment",
                        "%s: feature %s has no variants to take weights from "
                        "(give --weights)",
                        o->environment, o->q.flag);
    return CLI_OK;
}

static int parse(int argc, char **argv, struct options *o)
{
    enum {
        O_FLAG = 256,
        O_METRIC,
        O_CONTROL,
        O_WEIGHTS,
        O_ENV,
        O_ARMS,
        O_SINCE,
        O_UNTIL,
        O_METHOD,
        O_ALPHA,
        O_FORMAT,
        O_OUT,
        O_STORE,
        O_ENV_ID
    };
    static const struct option opts[] = {
        {"flag", required_argument, NULL, O_FLAG},
        {"metric", required_argument, NULL, O_METRIC},
        {"control", required_argument, NULL, O_CONTROL},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"environment", required_argument, NULL, O_ENV},
        {"arms-by", required_argument, NULL, O_ARMS},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"method", required_argument, NULL, O_METHOD},
        {"alpha", required_argument, NULL, O_ALPHA},
        {"format", required_argument, NULL, O_FORMAT},
        {"out", required_argument, NULL, O_OUT},
        {"store", required_argument, NULL, O_STORE},
        {"environment-id", required_argument, NULL, O_ENV_ID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[256], *end;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_FLAG: o->q.flag = optarg; break;
        case O_METRIC:
            if (o->q.nmetrics == FT_EXPERIMENT_MAX_METRICS)
                return cli_usage("experiment", "at most %d metrics", FT_EXPERIMENT_MAX_METRICS);
            if (!ft_metric_parse(optarg, &o->metrics[o->q.nmetrics], err, sizeof(err)))
                return cli_usage("experiment", "%s", err);
            o->q.nmetrics++;
            break;
        case O_CONTROL: o->q.control = optarg; break;
        case O_WEIGHTS: o->weights_text = optarg; break;
        case O_ENV: o->environment = optarg; break;
        case O_ARMS:
            if (strcmp(optarg, "value") == 0)
                o->q.arm_by = FT_ARM_VALUE;
            else if (strcmp(optarg, "enabled") == 0)
                o->q.arm_by = FT_ARM_ENABLED;
            else
                return cli_usage("experiment", "--arms-by: value or enabled, got %s", optarg);
            break;
        case O_SINCE:
            if (!parse_time("--since", optarg, &o->q.since_us)) return CLI_USAGE;
            o->q.has_since = true;
            break;
        case O_UNTIL:
            if (!parse_time("--until", optarg, &o->q.until_us)) return CLI_USAGE;
            o->q.has_until = true;
            break;
        case O_METHOD:
            if (strcmp(optarg, "frequentist") == 0)
                o->q.method = FT_METHOD_FREQUENTIST;
            else if (strcmp(optarg, "bayesian") == 0)
                o->q.method = FT_METHOD_BAYESIAN;
            else if (strcmp(optarg, "sequential") == 0)
                o->q.method = FT_METHOD_SEQUENTIAL;
            else
                return cli_usage("experiment",
                                 "--method: frequentist, bayesian or sequential, got %s", optarg);
            break;
        case O_ALPHA:
            errno = 0;
            o->q.alpha = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(o->q.alpha > 0 && o->q.alpha < 1))
                return cli_usage("experiment", "--alpha: a number between 0 and 1, got %s", optarg);
            break;
        case O_FORMAT:
            if (strcmp(optarg, "table") == 0)
                o->format = F_TABLE;
            else if (strcmp(optarg, "json") == 0)
                o->format = F_JSON;
            else if (strcmp(optarg, "html") == 0)
                o->format = F_HTML;
            else
                return cli_usage("experiment", "--format: table, json or html, got %s", optarg);
            break;
        case O_OUT: o->out = optarg; break;
        case O_STORE: o->store = optarg; break;
        case O_ENV_ID:
            if (!cli_parse_int64(optarg, &o->q.environment_id))
                return cli_usage("experiment", "--environment-id: an integer, got %s", optarg);
            o->q.has_environment = true;
            break;
        case 'h': help_experiment(); return -1;
        default: return cli_bad_option("experiment", c, argv);
        }
    }
    if (optind < argc) return cli_usage("experiment", "unexpected argument '%s'", argv[optind]);
    if (!o->q.flag || !*o->q.flag) return cli_usage("experiment", "--flag NAME is required");
    if (o->q.has_since && o->q.has_until && o->q.since_us > o->q.until_us)
        return cli_usage("experiment", "--since is after --until");
    if (o->weights_text && o->environment)
        return cli_usage("experiment", "give --weights or --environment, not both");
    if (o->weights_text && !parse_weights(o->weights_text, o))
        return cli_usage("experiment", "--weights: expected ARM=WEIGHT,... with weights >= 0");
    return CLI_OK;
}

static int write_report(const struct options *o, const struct ft_experiment_result *r)
{
    char tmp[4200];
    FILE *f = stdout;
    if (o->out) {
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", o->out) >= sizeof(tmp))
            return cli_fail("experiment", "--out: the path is too long");
        if (!(f = fopen(tmp, "w")))
            return cli_fail("experiment", "cannot write %s: %s", tmp, strerror(errno));
    }
    if (o->format == F_JSON)
        ft_report_json(f, &o->q, r);
    else if (o->format == F_HTML)
        ft_report_html(f, &o->q, r);
    else
        ft_report_text(f, &o->q, r);
    if (!o->out) return fflush(f) == 0 ? CLI_OK : cli_fail("experiment", "cannot write the report");
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, o->out) == 0) return CLI_OK;
    int e = errno;
    unlink(tmp);
    return cli_fail("experiment", "cannot write %s: %s", o->out, strerror(e));
}

static int run_experiment(struct options *o)
{
    ft_store *st;
    char err[512];
    if (ft_store_open_flags(o->store, FT_STORE_EXISTING, &st, err, sizeof(err)))
        return cli_fail("experiment", "%s", err);
    struct ft_experiment_result r;
    int rc = ft_experiment_run(st, &o->q, &r, err, sizeof(err));
    ft_store_close(st);
    rc = rc ? cli_fail("experiment", "%s", err) : write_report(o, &r);
    ft_experiment_result_free(&r);
    return rc;
}

int cmd_experiment(int argc, char **argv)
{
    struct options o = {.q = {.alpha = 0.05}, .store = "sqlite:./flagtrail.db"};
    o.q.metrics = o.metrics;
    o.q.weights = o.weights;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!o.environment || (rc = environment_split(&o)) == CLI_OK) rc = run_experiment(&o);
    for (size_t i = 0; i < FT_EXPERIMENT_MAX_ARMS; i++)
        free(o.labels[i]);
    return rc;
}
