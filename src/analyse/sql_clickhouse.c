/*
 * The analysis SQL for ClickHouse (src/analyse/sql.h), in what its 18.16 release reads: no
 * window functions, no correlated subqueries, no temporary tables over HTTP. So each
 * identity's latest state is argMax over (received_at, source, lsn), set predicates are IN
 * subqueries, the experiment's units are a subquery repeated in every statement (ClickHouse
 * scans fast), and a metric is a LEFT JOIN of the units to the event's rows with conditional
 * aggregates per unit. Tables are ReplacingMergeTree: events, whose duplicates would count,
 * are read FINAL; deliveries and sets, read through min/max/argMax and IN, need not be.
 */
#include "analyse/sql.h"
#include "flagtrail/error.h"

/* --- cohorts --- */

static void predicate(struct ft_sql *q, const struct ft_pred *p)
{
    switch (p->kind) {
    case FT_PRED_FLAG_ON:
    case FT_PRED_FLAG_OFF:
        ft__sql_add(q, " AND fs IN (SELECT set_id FROM ft_flag_set WHERE feature_name = ?");
        ft__sql_add(q, p->kind == FT_PRED_FLAG_ON ? " AND enabled = 1)" : " AND enabled = 0)");
        ft__sql_param(q, FT_CELL_S(p->name));
        break;
    case FT_PRED_FLAG_VALUE:
        ft__sql_add(q, " AND fs IN (SELECT set_id FROM ft_flag_set WHERE feature_name = ?"
                       " AND value = ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_S(p->value));
        break;
    case FT_PRED_SEGMENT:
    case FT_PRED_NOT_SEGMENT:
        ft__sql_add(q, p->kind == FT_PRED_SEGMENT ? " AND gs IN" : " AND gs NOT IN");
        ft__sql_add(q, " (SELECT set_id FROM ft_segment_set WHERE segment_name = ?"
                       " AND member = 1)");
        ft__sql_param(q, FT_CELL_S(p->name));
        break;
    case FT_PRED_TRAIT_EQ:
        ft__sql_add(q, " AND ts IN (SELECT set_id FROM ft_trait_set WHERE trait_key = ?"
                       " AND value = ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_S(p->value));
        break;
    case FT_PRED_TRAIT_GT:
    case FT_PRED_TRAIT_LT:
        ft__sql_add(q, " AND ts IN (SELECT set_id FROM ft_trait_set WHERE trait_key = ?"
                       " AND value_type IN ('int', 'float') AND toFloat64OrNull(value)");
        ft__sql_add(q, p->kind == FT_PRED_TRAIT_GT ? " > ?)" : " < ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_D(p->number));
        break;
    }
}

static int cohort(struct ft_sql *q, const struct ft_cohort_query *c)
{
    bool by_day = c->output == FT_COHORT_BY_DAY;
    ft__sql_add(q, "SELECT ");
    switch (c->output) {
    case FT_COHORT_COUNT: ft__sql_add(q, "count()"); break;
    case FT_COHORT_LIST: ft__sql_add(q, "identity"); break;
    case FT_COHORT_BY_DAY: ft__sql_add(q, "day, count() AS n"); break;
    }
    ft__sql_add(q, " FROM (SELECT identity");
    if (by_day) ft__sql_add(q, ", day");
    ft__sql_add(q, ", argMax(flags_set, k) AS fs, argMax(traits_set, k) AS ts,"
                   " argMax(segments_set, k) AS gs FROM (SELECT identity, flags_set,"
                   " traits_set, segments_set, (received_at, source, lsn) AS k");
    if (by_day) {
        ft__sql_add(q, ", ");
        ft__sql_day(q, "received_at");
        ft__sql_add(q, " AS day");
    }
    ft__sql_add(q, " FROM ft_delivery WHERE 1 = 1");
    ft__sql_window(q, "received_at", c->has_since, c->since_us, c->has_until, c->until_us);
    ft__sql_environment(q, "environment_id", c->has_environment, c->environment_id);
    ft__sql_add(q, by_day ? ") GROUP BY identity, day) WHERE 1 = 1"
                          : ") GROUP BY identity) WHERE 1 = 1");
    for (size_t i = 0; i < c->npreds; i++)
        predicate(q, &c->preds[i]);
    if (c->output == FT_COHORT_LIST) ft__sql_add(q, " ORDER BY identity");
    if (by_day) ft__sql_add(q, " GROUP BY day ORDER BY day");
    return FT_OK;
}

/* --- experiments --- */

static void flag_type(struct ft_sql *q, const struct ft_experiment_query *x)
{
    ft__sql_add(q, "SELECT feature_type, count() AS n FROM ft_flag_set WHERE feature_name = ?"
                   " GROUP BY feature_type ORDER BY n DESC, feature_type");
    ft__sql_param(q, FT_CELL_S(ft_str_c(x->flag)));
}

/* Nothing to create: the units are a subquery (units_from). */
static void no_statement(struct ft_sql *q)
{
    (void)q;
}

static void no_units(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    (void)q, (void)x, (void)by_value;
}

/* "(units) AS u": identity, arm, mixed, first_seen of each exposed identity. */
static void units_from(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    /* inner names differ from the aliases: ClickHouse reads a name in its SELECT as the alias */
    ft__sql_add(q, "(SELECT identity, min(a) AS arm, min(a) != max(a) AS mixed,"
                   " min(received_at) AS first_seen FROM (SELECT identity, received_at,"
                   " flags_set FROM ft_delivery WHERE 1 = 1");
    ft__sql_window(q, "received_at", x->has_since, x->since_us, x->has_until, x->until_us);
    ft__sql_environment(q, "environment_id", x->has_environment, x->environment_id);
    ft__sql_add(q, ") ALL INNER JOIN (SELECT set_id AS flags_set, ");
    ft__sql_add(q, by_value ? "ifNull(value, 'null')"
                            : "CASE WHEN enabled = 1 THEN 'on' ELSE 'off' END");
    ft__sql_add(q, " AS a FROM ft_flag_set WHERE feature_name = ?) USING flags_set"
                   " GROUP BY identity) AS u");
    ft__sql_param(q, FT_CELL_S(ft_str_c(x->flag)));
}

static void arms(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    ft__sql_add(q, "SELECT arm, count(), min(first_seen), max(first_seen) FROM ");
    units_from(q, x, by_value);
    ft__sql_add(q, " WHERE NOT mixed GROUP BY arm ORDER BY arm");
}

static void quarantined(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    ft__sql_add(q, "SELECT count() FROM ");
    units_from(q, x, by_value);
    ft__sql_add(q, " WHERE mixed");
}

static void days(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    ft__sql_add(q, "SELECT ");
    ft__sql_day(q, "first_seen");
    ft__sql_add(q, " AS day, arm, count() AS n FROM ");
    units_from(q, x, by_value);
    ft__sql_add(q, " WHERE NOT mixed GROUP BY day, arm ORDER BY day, arm");
}

static void events(struct ft_sql *q, const struct ft_metric *m)
{
    ft__sql_add(q, "SELECT count() FROM ft_event FINAL WHERE event = ?");
    ft__sql_param(q, FT_CELL_S(ft_str_c(m->event)));
}

/* x per unit, over the joined event rows: `has` is 0 on the row of a unit without events. */
static const char *const per_unit[] = {
    [FT_METRIC_CONVERSION] = "max(has = 1 AND occurred_at >= first_seen)",
    [FT_METRIC_COUNT] = "countIf(has = 1 AND occurred_at >= first_seen)",
    [FT_METRIC_SUM] = "sumIf(ifNull(value, 0), has = 1 AND occurred_at >= first_seen)",
    [FT_METRIC_MEAN] = "if(countIf(has = 1 AND occurred_at >= first_seen AND isNotNull(value))"
                       " = 0, NULL, sumIf(ifNull(value, 0), has = 1 AND occurred_at >="
                       " first_seen AND isNotNull(value)) / countIf(has = 1 AND occurred_at >="
                       " first_seen AND isNotNull(value)))",
};

static void metric(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value,
                   const struct ft_metric *m)
{
    ft__sql_add(q, "SELECT arm, count(x), sum(x), sum(x * x) FROM (SELECT identity,"
                   " any(unit_arm) AS arm, ");
    ft__sql_add(q, per_unit[m->kind]);
    ft__sql_add(q, " AS x FROM (SELECT identity, arm AS unit_arm, first_seen FROM ");
    units_from(q, x, by_value);
    ft__sql_add(q, " WHERE NOT mixed) ALL LEFT JOIN (SELECT identity, occurred_at, value,"
                   " 1 AS has FROM ft_event FINAL WHERE event = ?");
    ft__sql_param(q, FT_CELL_S(ft_str_c(m->event)));
    if (x->has_until) {
        ft__sql_add(q, " AND occurred_at <= ?");
        ft__sql_param(q, FT_CELL_I(x->until_us));
    }
    ft__sql_add(q, ") USING identity GROUP BY identity) GROUP BY arm ORDER BY arm");
}

const struct ft_sql_statements ft__sql_clickhouse = {
    .cohort = cohort,
    .flag_type = flag_type,
    .drop_units = no_statement,
    .units = no_units,
    .arms = arms,
    .quarantined = quarantined,
    .days = days,
    .events = events,
    .metric = metric,
};
