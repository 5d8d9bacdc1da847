/*
 * The analysis SQL (src/analyse/sql.h), in the SQL that SQLite and PostgreSQL share; the
 * dialect (q->d) supplies the rest. Cohorts: window functions pick each
 * identity's latest delivery; EXISTS subqueries test its sets. Experiments: the flag's few
 * distinct flag sets become a small table of arms joined to the deliveries, the units land in
 * a temp table, and each metric is a correlated subquery per unit over ft_event's
 * (identity, event, occurred_at) index.
 */
#include "analyse/sql.h"
#include "flagtrail/error.h"

static void predicate(struct ft_sql *q, const struct ft_pred *p)
{
    switch (p->kind) {
    case FT_PRED_FLAG_ON:
    case FT_PRED_FLAG_OFF:
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_flag_set f WHERE f.set_id = s.flags_set"
                       " AND f.feature_name = ? AND ");
        ft__sql_add(q, p->kind == FT_PRED_FLAG_ON ? "f.enabled)" : "NOT f.enabled)");
        ft__sql_param(q, FT_CELL_S(p->name));
        break;
    case FT_PRED_FLAG_VALUE:
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_flag_set f WHERE f.set_id = s.flags_set"
                       " AND f.feature_name = ? AND f.value = ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_S(p->value));
        break;
    case FT_PRED_SEGMENT:
    case FT_PRED_NOT_SEGMENT:
        ft__sql_add(q, p->kind == FT_PRED_SEGMENT ? " AND EXISTS" : " AND NOT EXISTS");
        ft__sql_add(q, " (SELECT 1 FROM ft_segment_set g WHERE g.set_id = s.segments_set"
                       " AND g.segment_name = ? AND g.member)");
        ft__sql_param(q, FT_CELL_S(p->name));
        break;
    case FT_PRED_TRAIT_EQ:
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_trait_set t WHERE t.set_id = s.traits_set"
                       " AND t.trait_key = ? AND t.value = ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_S(p->value));
        break;
    case FT_PRED_TRAIT_GT:
    case FT_PRED_TRAIT_LT:
        /* CASE: the cast only ever sees numbers, whatever order the planner picks */
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_trait_set t WHERE t.set_id = s.traits_set"
                       " AND t.trait_key = ? AND CASE WHEN t.value_type IN ('int', 'float')"
                       " THEN CAST(t.value AS ");
        ft__sql_add(q, q->d->real);
        ft__sql_add(q, p->kind == FT_PRED_TRAIT_GT ? ") END > ?)" : ") END < ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_D(p->number));
        break;
    }
}

static int cohort(struct ft_sql *q, const struct ft_cohort_query *c)
{
    bool by_day = c->output == FT_COHORT_BY_DAY;
    ft__sql_add(q, "WITH state AS (SELECT d.identity, d.flags_set, d.traits_set,"
                   " d.segments_set");
    if (by_day) {
        ft__sql_add(q, ", ");
        ft__sql_day(q, "d.received_at");
        ft__sql_add(q, " AS day");
    }
    ft__sql_add(q, ", ROW_NUMBER() OVER (PARTITION BY d.identity");
    if (by_day) {
        ft__sql_add(q, ", ");
        ft__sql_day(q, "d.received_at");
    }
    ft__sql_add(q, " ORDER BY d.received_at DESC, ");
    ft__sql_bytewise(q, "d.source");
    ft__sql_add(q, " DESC, d.lsn DESC) AS rn FROM ft_delivery d");
    ft__sql_add(q, " WHERE 1 = 1");
    ft__sql_window(q, "d.received_at", c->has_since, c->since_us, c->has_until, c->until_us);
    ft__sql_environment(q, "d.environment_id", c->has_environment, c->environment_id);
    ft__sql_add(q, ") SELECT ");
    switch (c->output) {
    case FT_COHORT_COUNT: ft__sql_add(q, "COUNT(*)"); break;
    case FT_COHORT_LIST: ft__sql_add(q, "s.identity"); break;
    case FT_COHORT_BY_DAY: ft__sql_add(q, "s.day, COUNT(*)"); break;
    }
    ft__sql_add(q, " FROM state s WHERE s.rn = 1");
    for (size_t i = 0; i < c->npreds; i++)
        predicate(q, &c->preds[i]);
    if (c->output == FT_COHORT_LIST) {
        ft__sql_add(q, " ORDER BY ");
        ft__sql_bytewise(q, "s.identity");
    }
    if (by_day) ft__sql_add(q, " GROUP BY s.day ORDER BY s.day");
    return FT_OK;
}

/* --- experiments --- */

static void flag_type(struct ft_sql *q, const struct ft_experiment_query *x)
{
    ft__sql_add(q, "SELECT feature_type, COUNT(*) AS n FROM ft_flag_set WHERE feature_name = ?"
                   " GROUP BY feature_type ORDER BY n DESC, ");
    ft__sql_bytewise(q, "feature_type");
    ft__sql_param(q, FT_CELL_S(ft_str_c(x->flag)));
}

static void drop_units(struct ft_sql *q)
{
    ft__sql_add(q, "DROP TABLE IF EXISTS ");
    ft__sql_add(q, q->d->temp_schema);
    ft__sql_add(q, ".ft_x_units");
}

static void units(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    ft__sql_add(q, "CREATE TEMP TABLE ft_x_units AS"
                   " WITH arms AS MATERIALIZED (SELECT set_id, ");
    ft__sql_add(q, by_value ? "COALESCE(value, 'null')"
                            : "CASE WHEN enabled THEN 'on' ELSE 'off' END");
    ft__sql_add(q, " AS arm FROM ft_flag_set WHERE feature_name = ?)"
                   " SELECT d.identity AS identity, MIN(a.arm) AS arm,"
                   " MIN(a.arm) <> MAX(a.arm) AS mixed, MIN(d.received_at) AS first_seen"
                   " FROM ft_delivery d JOIN arms a ON a.set_id = d.flags_set WHERE 1 = 1");
    ft__sql_param(q, FT_CELL_S(ft_str_c(x->flag)));
    ft__sql_window(q, "d.received_at", x->has_since, x->since_us, x->has_until, x->until_us);
    ft__sql_environment(q, "d.environment_id", x->has_environment, x->environment_id);
    ft__sql_add(q, " GROUP BY d.identity");
}

/* ft_x_units unqualified: both dialects look in the temporary schema first */
static void arms(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    (void)x, (void)by_value;
    ft__sql_add(q, "SELECT arm, COUNT(*), MIN(first_seen), MAX(first_seen) FROM ft_x_units"
                   " WHERE NOT mixed GROUP BY arm ORDER BY ");
    ft__sql_bytewise(q, "arm");
}

static void quarantined(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    (void)x, (void)by_value;
    ft__sql_add(q, "SELECT COUNT(*) FROM ft_x_units WHERE mixed");
}

static void days(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value)
{
    (void)x, (void)by_value;
    ft__sql_add(q, "SELECT ");
    ft__sql_day(q, "first_seen");
    ft__sql_add(q, ", arm, COUNT(*) FROM ft_x_units WHERE NOT mixed GROUP BY 1, 2 ORDER BY 1, ");
    ft__sql_bytewise(q, "arm");
}

static void events(struct ft_sql *q, const struct ft_metric *m)
{
    ft__sql_add(q, "SELECT COUNT(*) FROM ft_event WHERE event = ?");
    ft__sql_param(q, FT_CELL_S(ft_str_c(m->event)));
}

static void metric(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value,
                   const struct ft_metric *m)
{
    (void)by_value;
    static const char *const per_unit[] = {
        [FT_METRIC_CONVERSION] = "CASE WHEN EXISTS (SELECT 1",
        [FT_METRIC_COUNT] = "(SELECT COUNT(*)",
        [FT_METRIC_SUM] = "(SELECT COALESCE(SUM(e.value), 0)",
        [FT_METRIC_MEAN] = "(SELECT AVG(e.value)",
    };
    ft__sql_add(q, "SELECT arm, COUNT(x), COALESCE(SUM(x), 0), COALESCE(SUM(x * x), 0)"
                   " FROM (SELECT u.arm AS arm, ");
    ft__sql_add(q, per_unit[m->kind]);
    ft__sql_add(q, " FROM ft_event e WHERE e.identity = u.identity AND e.event = ?"
                   " AND e.occurred_at >= u.first_seen");
    ft__sql_param(q, FT_CELL_S(ft_str_c(m->event)));
    if (x->has_until) {
        ft__sql_add(q, " AND e.occurred_at <= ?");
        ft__sql_param(q, FT_CELL_I(x->until_us));
    }
    ft__sql_add(q, m->kind == FT_METRIC_CONVERSION ? ") THEN 1 ELSE 0 END" : ")");
    ft__sql_add(q, " AS x FROM ft_x_units u WHERE NOT u.mixed) units GROUP BY arm ORDER BY arm");
}

const struct ft_sql_statements ft__sql_shared = {
    .cohort = cohort,
    .flag_type = flag_type,
    .drop_units = drop_units,
    .units = units,
    .arms = arms,
    .quarantined = quarantined,
    .days = days,
    .events = events,
    .metric = metric,
};
