/*
 * Statement building shared by the analyses, and each dialect's differences (src/analyse/sql.h).
 */
#include "analyse/sql.h"
#include "flagtrail/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ft_sql_dialect dialects[] = {
    {
        .name = "sqlite",
        .st = &ft__sql_shared,
        .day = {"date((", ") / 1000000, 'unixepoch')"},
        .real = "REAL",
        .temp_schema = "temp",
        .bytewise = "", /* BINARY, the default */
    },
    {
        .name = "postgres",
        .st = &ft__sql_shared,
        .day = {"to_char(to_timestamp((", ") / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"},
        .real = "DOUBLE PRECISION",
        .temp_schema = "pg_temp",
        .bytewise = " COLLATE \"C\"",
    },
    {
        .name = "clickhouse",
        .st = &ft__sql_clickhouse,
        .day = {"toString(toDate(intDiv(", ", 86400000000)))"}, /* days since the epoch */
        .real = "Float64",
        .temp_schema = "",
        .bytewise = "", /* String compares bytes */
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

void ft__sql_bytewise(struct ft_sql *q, const char *expr)
{
    ft__sql_add(q, expr);
    ft__sql_add(q, q->d->bytewise);
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

void ft__sql_environment(struct ft_sql *q, const char *column, bool has, int64_t id)
{
    if (!has) return;
    ft_buf_printf(&q->text, " AND %s = ?", column);
    ft__sql_param(q, FT_CELL_I(id));
}

struct environments {
    int64_t ids[4];
    size_t n;
};

static int on_environment(void *arg, const struct ft_cell *c, size_t n)
{
    struct environments *e = arg;
    if (n && c[0].type == FT_CELL_INT && e->n < sizeof(e->ids) / sizeof(e->ids[0]))
        e->ids[e->n++] = c[0].i;
    return 0;
}

int ft__sql_one_environment(ft_store *st, const struct ft_sql_dialect *d, bool has_since,
                            int64_t since, bool has_until, int64_t until, char *err,
                            size_t errlen)
{
    struct ft_sql q;
    ft__sql_init(&q, d);
    ft__sql_add(&q, "SELECT DISTINCT environment_id FROM ft_delivery"
                    " WHERE environment_id IS NOT NULL");
    ft__sql_window(&q, "received_at", has_since, since, has_until, until);
    ft__sql_add(&q, " LIMIT 4");
    struct environments e = {.n = 0};
    int rc = ft_store_query(st, q.text.data, q.params, q.nparams, on_environment, &e);
    ft__sql_free(&q);
    if (rc) {
        snprintf(err, errlen, "%s", ft_store_errmsg(st));
        return rc;
    }
    if (e.n < 2) return FT_OK;
    char ids[96];
    size_t len = 0;
    for (size_t i = 0; i < e.n && i < 3; i++)
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%" PRId64, i ? ", " : "",
                                e.ids[i]);
    snprintf(err, errlen,
             "the warehouse holds webhooks of several environments (%s%s) and an identifier "
             "names a different identity in each: choose one with --environment-id",
             ids, e.n > 3 ? ", ..." : "");
    return FT_EINVAL;
}
