/*
 * Cohorts: the identities whose state satisfies every predicate.
 *
 * An identity's state is its latest delivery in the window (--since, --until; --at T is the
 * window ending at T): the flags, traits and segment memberships Flagsmith reported for it
 * then. Predicates combine with AND. A cohort is counted, listed, or sized per day, where a
 * day's size counts the identities seen that day whose latest state of the day matches.
 */
#ifndef FT_ANALYSE_COHORT_H
#define FT_ANALYSE_COHORT_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ft_pred_kind {
    FT_PRED_FLAG_ON,      /* --flag NAME=on: enabled */
    FT_PRED_FLAG_OFF,     /* --flag NAME=off: disabled */
    FT_PRED_FLAG_VALUE,   /* --flag NAME=VALUE: the value's text (a variant, "42", "true") */
    FT_PRED_SEGMENT,      /* --segment NAME */
    FT_PRED_NOT_SEGMENT,  /* --not-segment NAME */
    FT_PRED_TRAIT_EQ,     /* --trait KEY=VALUE: the value's text */
    FT_PRED_TRAIT_GT,     /* --trait KEY>N: a number greater than N */
    FT_PRED_TRAIT_LT,     /* --trait KEY<N */
};

struct ft_pred {
    enum ft_pred_kind kind;
    struct ft_str name;
    struct ft_str value;
    double number;
};

enum ft_cohort_output { FT_COHORT_COUNT, FT_COHORT_LIST, FT_COHORT_BY_DAY };

struct ft_cohort_query {
    const struct ft_pred *preds;
    size_t npreds;
    bool has_since, has_until;
    int64_t since_us, until_us; /* inclusive bounds on received_at */
    bool has_environment;       /* only the webhooks of this Flagsmith environment */
    int64_t environment_id;
    enum ft_cohort_output output;
};

/* Parses "NAME=on|off|VALUE" (flag) or "KEY=VALUE", "KEY>N", "KEY<N" (trait) into `out`,
 * whose views point into `arg`. False with `err` set when malformed. */
bool ft_pred_parse_flag(const char *arg, struct ft_pred *out, char *err, size_t errlen);
bool ft_pred_parse_trait(const char *arg, struct ft_pred *out, char *err, size_t errlen);

/*
 * Runs the cohort query on the store, calling `row` with (identity) rows for a list, one
 * (count) row for a count, or (day "YYYY-MM-DD", count) rows per day. FT_OK; FT_EINVAL with
 * `err` for a store whose dialect has no cohort SQL, or a window holding webhooks of several
 * environments when the query chose none (sql.h, ft__sql_one_environment); FT_ESTORE.
 */
int ft_cohort_run(ft_store *st, const struct ft_cohort_query *q, ft_store_row_fn row, void *arg,
                  char *err, size_t errlen);

/* Calls `fn` for each name of a flag, segment or trait the query asks for that no webhook in
 * the warehouse carries (most likely a typo: the cohort is then empty for that reason). */
typedef void (*ft_cohort_unknown_fn)(void *arg, const char *what, struct ft_str name);
int ft_cohort_check_names(ft_store *st, const struct ft_cohort_query *c, ft_cohort_unknown_fn fn,
                          void *arg);

#endif
