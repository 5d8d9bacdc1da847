/*
 * Statement building shared by the analyses, and each dialect's differences (src/analyse/sql.h).
 */
#include "analyse/sql.h"

#include <stdlib.h>
#include <string.h>

static const struct ft_sql_dialect dialects[] = {
    {
        .name = "sqlite",
        .st = &ft__sql_shared,
        .day = {"date((", ") / 1000000, 'unixepoch')"},
        .real = "REAL",
        .temp_schema = "temp",
    },
    {
        .name = "postgres",
        .st = &ft__sql_shared,
        .day = {"to_char(to_timestamp((", ") / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"},
        .real = "DOUBLE PRECISION",
        .temp_schema = "pg_temp",
    },
    {
        .name = "clickhouse",
        .st = &ft__sql_clickhouse,
        .day = {"toString(toDate(intDiv(", ", 86400000000)))"}, /* days since the epoch */
        .real = "Float64",
        .temp_schema = "",
    },
};

const struct ft_sql_dialect *ft__sql_dialect(const char *name)
{
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
        if (strcmp(dialects[i].name, name) == 0) return &dialects[i];
    return NULL;
}

void ft__sql_init(struct ft_sql *q, const struct ft_sql_dialect *d)
{
    q->d = d;
    ft_buf_init(&q->text, 0);
    q->nparams = 0;
}

void ft__sql_free(struct ft_sql *q)
{
    ft_buf_free(&q->text);
}

void ft__sql_reset(struct ft_sql *q)
{
    ft_buf_reset(&q->text);
    q->nparams = 0;
}

void ft__sql_add(struct ft_sql *q, const char *text)
{
    ft_buf_append_str(&q->text, text);
}

void ft__sql_day(struct ft_sql *q, const char *expr)
{
    ft__sql_add(q, q->d->day[0]);
    ft__sql_add(q, expr);
    ft__sql_add(q, q->d->day[1]);
}

void ft__sql_param(struct ft_sql *q, struct ft_cell value)
{
    if (q->nparams == FT_SQL_MAX_PARAMS) abort(); /* callers bound predicates well below */
    q->params[q->nparams++] = value;
}

void ft__sql_window(struct ft_sql *q, const char *column, bool has_since, int64_t since,
                    bool has_until, int64_t until)
{
    if (has_since) {
        ft_buf_printf(&q->text, " AND %s >= ?", column);
        ft__sql_param(q, FT_CELL_I(since));
    }
    if (has_until) {
        ft_buf_printf(&q->text, " AND %s <= ?", column);
        ft__sql_param(q, FT_CELL_I(until));
    }
}
