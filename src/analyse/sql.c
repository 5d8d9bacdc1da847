/*
 * Statement building shared by the dialects (src/analyse/sql.h).
 */
#include "analyse/sql.h"

#include <stdlib.h>

void ft__sql_init(struct ft_sql *q)
{
    ft_buf_init(&q->text, 0);
    q->nparams = 0;
}

void ft__sql_free(struct ft_sql *q)
{
    ft_buf_free(&q->text);
}

void ft__sql_add(struct ft_sql *q, const char *text)
{
    ft_buf_append_str(&q->text, text);
}

void ft__sql_param(struct ft_sql *q, struct ft_cell value)
{
    if (q->nparams == FT_SQL_MAX_PARAMS) abort(); /* callers bound predicates well below */
    q->params[q->nparams++] = value;
}
