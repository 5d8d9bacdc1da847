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

struct ft_sql {
    struct ft_buf text;
    struct ft_cell params[FT_SQL_MAX_PARAMS];
    size_t nparams;
};

void ft__sql_init(struct ft_sql *q);
void ft__sql_free(struct ft_sql *q);
/* Appends text; `?` placeholders in it take the next parameters. */
void ft__sql_add(struct ft_sql *q, const char *text);
void ft__sql_param(struct ft_sql *q, struct ft_cell value);

/* SQLite: the cohort statement. */
int ft__sql_sqlite_cohort(struct ft_sql *q, const struct ft_cohort_query *c);

/*
 * SQLite, the experiment's statements, in the order they run:
 *   flag_type   (feature_type, rows) of the flag's webhooks, most common first; none: unknown
 *   units       creates temp.ft_x_units (identity, arm, narms, first_seen), one row per
 *               identity exposed in the window
 *   arms        (arm, units, first exposure, last exposure) for units in one arm
 *   quarantined (count) of units seen in several arms
 *   days        (day, arm, units) by day of first exposure
 *   events      (count) of the metric's events
 *   metric      (arm, n, Σx, Σx²) of the metric per arm
 */
void ft__sql_sqlite_flag_type(struct ft_sql *q, const struct ft_experiment_query *x);
void ft__sql_sqlite_units(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
extern const char ft__sql_sqlite_drop_units[], ft__sql_sqlite_arms[],
    ft__sql_sqlite_quarantined[], ft__sql_sqlite_days[];
void ft__sql_sqlite_events(struct ft_sql *q, const struct ft_metric *m);
void ft__sql_sqlite_metric(struct ft_sql *q, const struct ft_experiment_query *x,
                           const struct ft_metric *m);

#endif
