/*
 * The analysis SQL of each warehouse dialect. Every statement the analyses run is built here,
 * one file per dialect (sql_<dialect>.c), with values always bound as parameters, never
 * spliced into the text.
 */
#ifndef FT_ANALYSE_SQL_H
#define FT_ANALYSE_SQL_H

#include "analyse/cohort.h"
#include "analyse/experiment.h"
#include "flagtrail/base.h"
#include "store/store.h"

#define FT_SQL_MAX_PARAMS 128

/*
 * What differs between the SQL dialects the analyses speak. The statements themselves
 * (sql_queries.c) are written once, in SQL that SQLite and PostgreSQL read alike (booleans
 * tested by truth, CASE for 0/1, COALESCE(SUM(..), 0), MATERIALIZED CTEs); each dialect's
 * differences are its entry in sql.c.
 */
struct ft_sql_dialect {
    const char *name;        /* the store's dialect (ft_store_dialect) */
    const char *day[2];      /* around a µs-since-epoch expression: its 'YYYY-MM-DD' (UTC) */
    const char *real;        /* the floating-point type of CAST */
    const char *temp_schema; /* the schema of temporary tables */
};

/* The dialect of a store, or NULL when the analyses do not speak it yet. */
const struct ft_sql_dialect *ft__sql_dialect(const char *name);

struct ft_sql {
    const struct ft_sql_dialect *d;
    struct ft_buf text;
    struct ft_cell params[FT_SQL_MAX_PARAMS];
    size_t nparams;
};

void ft__sql_init(struct ft_sql *q, const struct ft_sql_dialect *d);
void ft__sql_free(struct ft_sql *q);
/* Appends text; `?` placeholders in it take the next parameters. */
void ft__sql_add(struct ft_sql *q, const char *text);
/* Appends the dialect's day of a µs-since-epoch expression. */
void ft__sql_day(struct ft_sql *q, const char *expr);
void ft__sql_param(struct ft_sql *q, struct ft_cell value);
/* Empties the statement for the next one (the dialect stays). */
void ft__sql_reset(struct ft_sql *q);

/* The cohort statement. */
int ft__sql_cohort(struct ft_sql *q, const struct ft_cohort_query *c);

/*
 * The experiment's statements, in the order they run:
 *   flag_type   (feature_type, rows) of the flag's webhooks, most common first; none: unknown
 *   drop_units  drops the temporary table ft_x_units if a run left it
 *   units       creates ft_x_units (identity, arm, mixed, first_seen), one row per identity
 *               exposed in the window; mixed: seen in more than one arm (MIN <> MAX, which
 *               sorts less than COUNT(DISTINCT): 9 s against 12 s over 10M deliveries)
 *   arms        (arm, units, first exposure, last exposure) for units in one arm
 *   quarantined (count) of units seen in several arms
 *   days        (day, arm, units) by day of first exposure
 *   events      (count) of the metric's events
 *   metric      (arm, n, Σx, Σx²) of the metric per arm
 */
void ft__sql_flag_type(struct ft_sql *q, const struct ft_experiment_query *x);
void ft__sql_drop_units(struct ft_sql *q);
void ft__sql_units(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
void ft__sql_arms(struct ft_sql *q);
void ft__sql_quarantined(struct ft_sql *q);
void ft__sql_days(struct ft_sql *q);
void ft__sql_events(struct ft_sql *q, const struct ft_metric *m);
void ft__sql_metric(struct ft_sql *q, const struct ft_experiment_query *x,
                    const struct ft_metric *m);

#endif
