/*
 * The analysis SQL for SQLite (src/analyse/sql.h): window functions pick each identity's
 * latest delivery; EXISTS subqueries test its sets.
 */
#include "analyse/sql.h"
#include "flagtrail/error.h"

static void window(struct ft_sql *q, const struct ft_cohort_query *c)
{
    ft__sql_add(q, " WHERE 1 = 1");
    if (c->has_since) {
        ft__sql_add(q, " AND d.received_at >= ?");
        ft__sql_param(q, FT_CELL_I(c->since_us));
    }
    if (c->has_until) {
        ft__sql_add(q, " AND d.received_at <= ?");
        ft__sql_param(q, FT_CELL_I(c->until_us));
    }
}

static void predicate(struct ft_sql *q, const struct ft_pred *p)
{
    switch (p->kind) {
    case FT_PRED_FLAG_ON:
    case FT_PRED_FLAG_OFF:
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_flag_set f WHERE f.set_id = s.flags_set"
                       " AND f.feature_name = ? AND f.enabled = ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_I(p->kind == FT_PRED_FLAG_ON));
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
                       " AND g.segment_name = ? AND g.member = 1)");
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
        ft__sql_add(q, " AND EXISTS (SELECT 1 FROM ft_trait_set t WHERE t.set_id = s.traits_set"
                       " AND t.trait_key = ? AND t.value_type IN ('int', 'float')"
                       " AND CAST(t.value AS REAL)");
        ft__sql_add(q, p->kind == FT_PRED_TRAIT_GT ? " > ?)" : " < ?)");
        ft__sql_param(q, FT_CELL_S(p->name));
        ft__sql_param(q, FT_CELL_D(p->number));
        break;
    }
}

int ft__sql_sqlite_cohort(struct ft_sql *q, const struct ft_cohort_query *c)
{
    bool by_day = c->output == FT_COHORT_BY_DAY;
    ft__sql_add(q, "WITH state AS (SELECT d.identity, d.flags_set, d.traits_set,"
                   " d.segments_set");
    if (by_day) ft__sql_add(q, ", date(d.received_at / 1000000, 'unixepoch') AS day");
    ft__sql_add(q, ", ROW_NUMBER() OVER (PARTITION BY d.identity");
    if (by_day) ft__sql_add(q, ", date(d.received_at / 1000000, 'unixepoch')");
    ft__sql_add(q, " ORDER BY d.received_at DESC, d.source DESC, d.lsn DESC) AS rn"
                   " FROM ft_delivery d");
    window(q, c);
    ft__sql_add(q, ") SELECT ");
    switch (c->output) {
    case FT_COHORT_COUNT: ft__sql_add(q, "COUNT(*)"); break;
    case FT_COHORT_LIST: ft__sql_add(q, "s.identity"); break;
    case FT_COHORT_BY_DAY: ft__sql_add(q, "s.day, COUNT(*)"); break;
    }
    ft__sql_add(q, " FROM state s WHERE s.rn = 1");
    for (size_t i = 0; i < c->npreds; i++)
        predicate(q, &c->preds[i]);
    if (c->output == FT_COHORT_LIST) ft__sql_add(q, " ORDER BY s.identity");
    if (by_day) ft__sql_add(q, " GROUP BY s.day ORDER BY s.day");
    return FT_OK;
}
