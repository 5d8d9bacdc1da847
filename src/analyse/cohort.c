/*
 * Cohorts (src/analyse/cohort.h): predicate parsing and the dialect dispatch.
 */
#include "analyse/cohort.h"
#include "analyse/sql.h"
#include "flagtrail/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ft_pred_parse_flag(const char *arg, struct ft_pred *out, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        snprintf(err, errlen, "--flag %s: expected NAME=on, NAME=off or NAME=VALUE", arg);
        return false;
    }
    out->name = (struct ft_str){arg, (size_t)(eq - arg)};
    out->value = ft_str_c(eq + 1);
    if (ft_str_eq_c(out->value, "on")) out->kind = FT_PRED_FLAG_ON;
    else if (ft_str_eq_c(out->value, "off")) out->kind = FT_PRED_FLAG_OFF;
    else out->kind = FT_PRED_FLAG_VALUE;
    return true;
}

bool ft_pred_parse_trait(const char *arg, struct ft_pred *out, char *err, size_t errlen)
{
    const char *op = strpbrk(arg, "=<>");
    if (!op || op == arg) {
        snprintf(err, errlen, "--trait %s: expected KEY=VALUE, KEY>N or KEY<N", arg);
        return false;
    }
    out->name = (struct ft_str){arg, (size_t)(op - arg)};
    out->value = ft_str_c(op + 1);
    if (*op == '=') {
        out->kind = FT_PRED_TRAIT_EQ;
        return true;
    }
    out->kind = *op == '>' ? FT_PRED_TRAIT_GT : FT_PRED_TRAIT_LT;
    char *end;
    errno = 0;
    out->number = strtod(op + 1, &end);
    if (!op[1] || *end || errno || !isfinite(out->number)) {
        snprintf(err, errlen, "--trait %s: %s needs a number", arg, *op == '>' ? ">" : "<");
        return false;
    }
    return true;
}

int ft_cohort_run(ft_store *st, const struct ft_cohort_query *c, ft_store_row_fn row, void *arg,
                  char *err, size_t errlen)
{
    const struct ft_sql_dialect *d = ft__sql_dialect(ft_store_dialect(st));
    if (!d) {
        snprintf(err, errlen, "cohorts are not written for %s stores", ft_store_dialect(st));
        return FT_EINVAL;
    }
    if (!c->has_environment) {
        int rc = ft__sql_one_environment(st, d, c->has_since, c->since_us, c->has_until,
                                         c->until_us, err, errlen);
        if (rc) return rc;
    }
    struct ft_sql q;
    ft__sql_init(&q, d);
    int rc = d->st->cohort(&q, c);
    if (rc == FT_OK) rc = ft_store_query(st, q.text.data, q.params, q.nparams, row, arg);
    if (rc == FT_ESTORE) snprintf(err, errlen, "%s", ft_store_errmsg(st));
    ft__sql_free(&q);
    return rc;
}

/* Where a predicate's name lives: the table and column that list every name webhooks carried. */
static void name_source(enum ft_pred_kind kind, const char **table, const char **column,
                        const char **what)
{
    if (kind <= FT_PRED_FLAG_VALUE) {
        *table = "ft_flag_set", *column = "feature_name", *what = "flag";
    } else if (kind <= FT_PRED_NOT_SEGMENT) {
        *table = "ft_segment_set", *column = "segment_name", *what = "segment";
    } else {
        *table = "ft_trait_set", *column = "trait_key", *what = "trait";
    }
}

static int found_row(void *arg, const struct ft_cell *cells, size_t n)
{
    (void)cells;
    (void)n;
    *(bool *)arg = true;
    return 0;
}

int ft_cohort_check_names(ft_store *st, const struct ft_cohort_query *c, ft_cohort_unknown_fn fn,
                          void *arg)
{
    const struct ft_sql_dialect *d = ft__sql_dialect(ft_store_dialect(st));
    if (!d) return FT_EINVAL;
    int rc = FT_OK;
    for (size_t i = 0; i < c->npreds && rc == FT_OK; i++) {
        const char *table, *column, *what;
        name_source(c->preds[i].kind, &table, &column, &what);
        struct ft_sql q;
        ft__sql_init(&q, d);
        ft__sql_add(&q, "SELECT 1 FROM ");
        ft__sql_add(&q, table);
        ft__sql_add(&q, " WHERE ");
        ft__sql_add(&q, column);
        ft__sql_add(&q, " = ? LIMIT 1");
        ft__sql_param(&q, FT_CELL_S(c->preds[i].name));
        bool found = false;
        rc = ft_store_query(st, q.text.data, q.params, q.nparams, found_row, &found);
        ft__sql_free(&q);
        if (rc == FT_OK && !found) fn(arg, what, c->preds[i].name);
    }
    return rc;
}
