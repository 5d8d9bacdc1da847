/*
 * The analysis SQL of each warehouse dialect. Every statement the analyses run is built here,
 * one file per dialect (sql_<dialect>.c), with values always bound as parameters, never
 * spliced into the text.
 */
#ifndef FT_ANALYSE_SQL_H
#define FT_ANALYSE_SQL_H

#include "analyse/cohort.h"
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

#endif
