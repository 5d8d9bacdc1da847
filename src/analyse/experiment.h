/*
 * Experiments: a flag's arms compared on metric events, from the warehouse.
 *
 * Units are identities. An identity's arm is the flag's state in its first webhook in the
 * window that carries the flag (its first exposure): the value for a multivariate flag, on or
 * off for any other (ft_experiment_query.arm_by overrides). Identities seen in more than one
 * arm in the window are quarantined: counted, left out. A metric is an event name from
 * ft_event and an aggregation per unit over that unit's events at or after its first exposure
 * (and not after --until):
 *
 *   conversion  1 if the unit has any such event, else 0   (every unit)
 *   count       the number of events                       (every unit)
 *   sum         the sum of the events' values (null: 0)    (every unit)
 *   mean        the mean of the events' values             (units with a valued event)
 *
 * SQL returns n, Σx and Σx² per arm (src/analyse/sql_<dialect>.c); src/analyse/stats.c turns
 * them into the statistics. The result is plain data for the renderers (report.h).
 */
#ifndef FT_ANALYSE_EXPERIMENT_H
#define FT_ANALYSE_EXPERIMENT_H

#include "analyse/stats.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FT_EXPERIMENT_MAX_ARMS 32
#define FT_EXPERIMENT_MAX_METRICS 16

enum ft_metric_kind { FT_METRIC_CONVERSION, FT_METRIC_COUNT, FT_METRIC_SUM, FT_METRIC_MEAN };
enum ft_arm_by { FT_ARM_AUTO, FT_ARM_VALUE, FT_ARM_ENABLED };
enum ft_experiment_method { FT_METHOD_FREQUENTIST, FT_METHOD_BAYESIAN, FT_METHOD_SEQUENTIAL };

struct ft_metric {
    const char *event;
    enum ft_metric_kind kind;
};

/* Expected share of one arm, for the sample-ratio test (any scale; normalized). */
struct ft_arm_weight {
    const char *arm;
    double weight;
};

struct ft_experiment_query {
    const char *flag;
    enum ft_arm_by arm_by;
    const struct ft_metric *metrics;
    size_t nmetrics;
    const char *control; /* NULL: "off" for on/off arms, else the weights' first */
    const struct ft_arm_weight *weights; /* NULL: equal shares */
    size_t nweights;
    bool weights_add_arms; /* an arm with a positive weight nobody was exposed to joins with
                            * 0 units, one with weight 0 is left out (the environment's
                            * variants); else either is an error (--weights) */
    bool has_since, has_until;
    int64_t since_us, until_us; /* inclusive, on received_at (exposures) and occurred_at */
    bool has_environment;       /* only the webhooks of this Flagsmith environment; without
                                 * one, a window of several environments is refused */
    int64_t environment_id;
    enum ft_experiment_method method;
    double alpha;
};

/* One comparison of a treatment arm against control on one metric. */
struct ft_comparison {
    int status;                    /* FT_OK, or FT_EINVAL: `why` says why nothing was computed */
    char why[128];
    struct ft_stats_welch abs, rel; /* frequentist */
    int rel_status;                /* FT_EINVAL when the control mean is 0 */
    double abs_p_holm, rel_p_holm; /* Holm-adjusted across the treatment arms */
    struct ft_stats_bayes bayes_abs, bayes_rel;
    struct ft_stats_sequential seq_abs, seq_rel;
};

struct ft_metric_result {
    struct ft_metric metric;
    int64_t events; /* events of that name in the warehouse, all times */
    struct ft_stats_arm arms[FT_EXPERIMENT_MAX_ARMS];
    unsigned warnings[FT_EXPERIMENT_MAX_ARMS]; /* FT_STATS_WARN_* */
    struct ft_comparison cmp[FT_EXPERIMENT_MAX_ARMS]; /* by arm; the control's is unused */
};

struct ft_day_count {
    char day[11]; /* YYYY-MM-DD, of the units' first exposure */
    size_t arm;
    int64_t units;
};

struct ft_experiment_result {
    char flag_type[32]; /* feature_type of the flag, as the webhooks report it */
    enum ft_arm_by arm_by;
    char *arms[FT_EXPERIMENT_MAX_ARMS]; /* labels, control first, then by label */
    size_t narms;
    int64_t units[FT_EXPERIMENT_MAX_ARMS];
    double weights[FT_EXPERIMENT_MAX_ARMS]; /* expected shares, summing to 1 */
    int64_t quarantined;
    int64_t first_exposure_us, last_exposure_us;
    int srm_status; /* FT_OK, or FT_EINVAL with srm_why */
    char srm_why[128];
    struct ft_stats_srm srm;
    bool srm_mismatch; /* srm.p_value < FT_STATS_SRM_ALPHA */
    struct ft_metric_result *metrics;
    size_t nmetrics;
    struct ft_day_count *days;
    size_t ndays;
};

/*
 * Runs the experiment. FT_OK; FT_ENOENT with `err` for what makes a report meaningless (no
 * exposures of the flag, one arm only, a control or weight naming no arm, a metric with no
 * events); FT_EINVAL for too many arms or a store without experiment SQL; FT_ESTORE.
 * Free the result with ft_experiment_result_free, also after a failure.
 */
int ft_experiment_run(ft_store *st, const struct ft_experiment_query *q,
                      struct ft_experiment_result *out, char *err, size_t errlen);
void ft_experiment_result_free(struct ft_experiment_result *r);

const char *ft_metric_kind_name(enum ft_metric_kind k);
/* "EVENT" or "EVENT:conversion|count|sum|mean"; the event name points into `arg`. */
bool ft_metric_parse(char *arg, struct ft_metric *out, char *err, size_t errlen);

#endif
