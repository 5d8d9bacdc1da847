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

struct ft_sql;

/*
 * The statements of a family of dialects. The experiment's run in this order:
 *   flag_type   (feature_type, rows) of the flag's webhooks, most common first; none: unknown
 *   drop_units  drops the temporary table ft_x_units if a run left it  } may write nothing:
 *   units       creates ft_x_units (identity, arm, mixed, first_seen)   } then nothing runs
 *   arms        (arm, units, first exposure, last exposure) for units in one arm
 *   quarantined (count) of units seen in several arms (mixed)
 *   days        (day, arm, units) by day of first exposure
 *   events      (count) of the metric's events
 *   metric      (arm, n, Σx, Σx²) of the metric per arm
 * Units are the identities exposed in the window, one row each; mixed: seen in more than one
 * arm (MIN <> MAX, which sorts less than COUNT(DISTINCT): 9 s against 12 s over 10M
 * deliveries in SQLite).
 */
struct ft_sql_statements {
    int (*cohort)(struct ft_sql *q, const struct ft_cohort_query *c);
    void (*flag_type)(struct ft_sql *q, const struct ft_experiment_query *x);
    void (*drop_units)(struct ft_sql *q);
    void (*units)(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
    void (*arms)(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
    void (*quarantined)(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
    void (*days)(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value);
    void (*events)(struct ft_sql *q, const struct ft_metric *m);
    void (*metric)(struct ft_sql *q, const struct ft_experiment_query *x, bool by_value,
                   const struct ft_metric *m);
};

/* SQLite and PostgreSQL: one text for both (sql_queries.c). */
extern const struct ft_sql_statements ft__sql_shared;
/* ClickHouse: argMax for the latest state, joins for the metrics (sql_clickhouse.c). */
extern const struct ft_sql_statements ft__sql_clickhouse;

/*
 * What differs between the SQL dialects the analyses speak: the statement family and, for the
 * shared one, the few fragments SQLite and PostgreSQL spell differently (sql.c).
 */
struct ft_sql_dialect {
    const char *name;        /* the store's dialect (ft_store_dialect) */
    const struct ft_sql_statements *st;
    const char *day[2];      /* around a µs-since-epoch expression: its 'YYYY-MM-DD' (UTC) */
    const char *real;        /* the floating-point type of CAST */
    const char *temp_schema; /* the schema of temporary tables */
    const char *bytewise;    /* after a text expression: compare it by bytes (code points),
                              * whatever the database's collation, so that every store sorts
                              * arms and identities alike */
};

/* The dialect of a store, or NULL when the analyses do not speak it. */
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
/* Appends the text expression `expr` compared by bytes (ORDER BY, MIN, MAX). */
void ft__sql_bytewise(struct ft_sql *q, const char *expr);
/* Appends the dialect's day of a µs-since-epoch expression. */
void ft__sql_day(struct ft_sql *q, const char *expr);
void ft__sql_param(struct ft_sql *q, struct ft_cell value);
/* Appends " AND column >= ?" and " AND column <= ?" for the bounds that are set. */
void ft__sql_window(struct ft_sql *q, const char *column, bool has_since, int64_t since,
                    bool has_until, int64_t until);
/* Empties the statement for the next one (the dialect stays). */
void ft__sql_reset(struct ft_sql *q);

/* Appends " AND column = ?" with the environment id when one is chosen. */
void ft__sql_environment(struct ft_sql *q, const char *column, bool has, int64_t id);

/*
 * Identities belong to one Flagsmith environment, and one warehouse may hold the webhooks of
 * several (production and staging sending to one receiver, or serve with several documents),
 * where one identifier names different identities. An analysis over deliveries of the window
 * from more than one environment would mix them, so it must choose one: FT_OK when at most one
 * is there; FT_EINVAL with `err` naming them when there are several; FT_ESTORE.
 */
int ft__sql_one_environment(ft_store *st, const struct ft_sql_dialect *d, bool has_since,
                            int64_t since, bool has_until, int64_t until, char *err,
                            size_t errlen);

#endif
