/*
 * Experiments (src/analyse/experiment.h): the statements of the store's dialect, then the
 * statistics of src/analyse/stats.c over what they return.
 */
#include "analyse/experiment.h"
#include "analyse/sql.h"
#include "flagtrail/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [FT_METRIC_CONVERSION] = "conversion",
    [FT_METRIC_COUNT] = "count",
    [FT_METRIC_SUM] = "sum",
    [FT_METRIC_MEAN] = "mean",
};

const char *ft_metric_kind_name(enum ft_metric_kind k)
{
    return kind_names[k];
}

bool ft_metric_parse(char *arg, struct ft_metric *out, char *err, size_t errlen)
{
    char *colon = strrchr(arg, ':');
    out->kind = FT_METRIC_CONVERSION;
    if (colon) {
        size_t k = 0;
        while (k < 4 && strcmp(colon + 1, kind_names[k]) != 0)
            k++;
        if (k == 4) {
            snprintf(err, errlen, "--metric %s: the aggregation is conversion, count, sum or mean",
                     arg);
            return false;
        }
        out->kind = (enum ft_metric_kind)k;
        *colon = '\0';
    }
    if (!*arg) {
        snprintf(err, errlen, "--metric: an event name is required");
        return false;
    }
    out->event = arg;
    return true;
}

static int failf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* --- running statements --- */

static int ignore_rows(void *arg, const struct ft_cell *cells, size_t n)
{
    (void)arg, (void)cells, (void)n;
    return 0;
}

static int first_int(void *arg, const struct ft_cell *cells, size_t n)
{
    *(int64_t *)arg = n && cells[0].type == FT_CELL_INT ? cells[0].i : 0;
    return 0;
}

/* Runs the statement built in `q`, if any (and resets it for the next one). */
static int run(ft_store *st, struct ft_sql *q, ft_store_row_fn row, void *arg, char *err,
               size_t errlen)
{
    if (q->text.len == 0) return FT_OK;
    int rc = ft_store_query(st, q->text.data, q->params, q->nparams, row, arg);
    if (rc == FT_ESTORE) snprintf(err, errlen, "%s", ft_store_errmsg(st));
    ft__sql_reset(q);
    return rc;
}

/* --- arms --- */

static size_t arm_index(const struct ft_experiment_result *r, struct ft_str label)
{
    for (size_t i = 0; i < r->narms; i++)
        if (ft_str_eq_c(label, r->arms[i])) return i;
    return SIZE_MAX;
}

/* The arm's index, added when new; SIZE_MAX when there are too many. */
static size_t add_arm(struct ft_experiment_result *r, struct ft_str label)
{
    size_t i = arm_index(r, label);
    if (i != SIZE_MAX || r->narms == FT_EXPERIMENT_MAX_ARMS) return i;
    r->arms[r->narms] = ft_xstrndup(label.ptr, label.len);
    return r->narms++;
}

struct arms_ctx {
    struct ft_experiment_result *r;
    bool overflow;
};

static int on_arm(void *arg, const struct ft_cell *c, size_t n)
{
    struct arms_ctx *a = arg;
    if (n < 4) return 0;
    size_t i = add_arm(a->r, c[0].s);
    if (i == SIZE_MAX) {
        a->overflow = true;
        return 1;
    }
    a->r->units[i] = c[1].i;
    if (!a->r->first_exposure_us || c[2].i < a->r->first_exposure_us)
        a->r->first_exposure_us = c[2].i;
    if (c[3].i > a->r->last_exposure_us) a->r->last_exposure_us = c[3].i;
    return 0;
}

static int on_day(void *arg, const struct ft_cell *c, size_t n)
{
    struct ft_experiment_result *r = arg;
    if (n < 3) return 0;
    r->days = ft_xrealloc(r->days, sizeof(*r->days) * (r->ndays + 1));
    struct ft_day_count *d = &r->days[r->ndays++];
    snprintf(d->day, sizeof(d->day), "%.*s", (int)c[0].s.len, c[0].s.ptr);
    d->arm = arm_index(r, c[1].s);
    d->units = c[2].i;
    return 0;
}

static int on_flag_type(void *arg, const struct ft_cell *c, size_t n)
{
    struct ft_experiment_result *r = arg;
    if (!n || r->flag_type[0]) return 0;
    size_t len = c[0].s.len < sizeof(r->flag_type) - 1 ? c[0].s.len : sizeof(r->flag_type) - 1;
    if (len < c[0].s.len) /* cut a type no Flagsmith sends at a character, not inside one */
        while (len && ((unsigned char)c[0].s.ptr[len] & 0xc0) == 0x80)
            len--;
    memcpy(r->flag_type, c[0].s.ptr, len);
    r->flag_type[len] = '\0';
    return 0;
}

/* The control's label: --control; else off for on/off arms; else the first weight (the
 * environment's default value, or the first of --weights). NULL after writing `err`. */
static const char *control_of(const struct ft_experiment_result *r,
                              const struct ft_experiment_query *q, char *err, size_t errlen)
{
    if (q->control) return q->control;
    if (r->arm_by == FT_ARM_ENABLED) return "off";
    if (q->nweights && q->weights_add_arms && q->weights[0].weight <= 0 &&
        arm_index(r, ft_str_c(q->weights[0].arm)) == SIZE_MAX) {
        failf(err, errlen, FT_ENOENT,
              "flag %s: the environment gives its default value (%s), the usual control, 0%% of "
              "identities and nobody saw it: name the control with --control",
              q->flag, q->weights[0].arm);
        return NULL;
    }
    if (q->nweights) return q->weights[0].arm;
    failf(err, errlen, FT_ENOENT,
          "flag %s has several values: name the control with --control (arms: %s%s%s%s)", q->flag,
          r->arms[0], r->narms > 1 ? ", " : "", r->narms > 1 ? r->arms[1] : "",
          r->narms > 2 ? ", ..." : "");
    return NULL;
}

/* Moves the control to the front, with its units and weight; the rest keep their order
 * (sorted by label as SQL returned them, then the weighted arms nobody saw). */
static int order_arms(struct ft_experiment_result *r, const struct ft_experiment_query *q,
                      char *err, size_t errlen)
{
    const char *control = control_of(r, q, err, errlen);
    if (!control) return FT_ENOENT;
    size_t c = arm_index(r, ft_str_c(control));
    if (c == SIZE_MAX)
        return failf(err, errlen, FT_ENOENT, "--control %s: no identity was exposed to it",
                     control);
    char *label = r->arms[c];
    int64_t units = r->units[c];
    double weight = r->weights[c];
    memmove(&r->arms[1], &r->arms[0], sizeof(r->arms[0]) * c);
    memmove(&r->units[1], &r->units[0], sizeof(r->units[0]) * c);
    memmove(&r->weights[1], &r->weights[0], sizeof(r->weights[0]) * c);
    r->arms[0] = label;
    r->units[0] = units;
    r->weights[0] = weight;
    return FT_OK;
}

/* Expected shares and the sample-ratio test. */
static int weigh_arms(struct ft_experiment_result *r, const struct ft_experiment_query *q,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < q->nweights; i++) {
        struct ft_str label = ft_str_c(q->weights[i].arm);
        bool add = q->weights_add_arms && q->weights[i].weight > 0;
        size_t a = add ? add_arm(r, label) : arm_index(r, label);
        if (a == SIZE_MAX && q->weights_add_arms && !add) continue; /* weight 0, nobody saw it */
        if (a == SIZE_MAX && add)
            return failf(err, errlen, FT_EINVAL, "flag %s has more than %d arms", q->flag,
                         FT_EXPERIMENT_MAX_ARMS);
        if (a == SIZE_MAX)
            return failf(err, errlen, FT_ENOENT, "weight for %s: no identity was exposed to it",
                         q->weights[i].arm);
        r->weights[a] += q->weights[i].weight;
    }
    double total = 0;
    for (size_t i = 0; i < r->narms; i++) {
        if (!q->nweights) r->weights[i] = 1;
        total += r->weights[i];
    }
    for (size_t i = 0; i < r->narms && total > 0; i++)
        r->weights[i] /= total;
    struct ft_stats_error e = {{0}};
    r->srm_status = ft_stats_srm_test(r->units, r->weights, r->narms, &r->srm, &e);
    if (r->srm_status == FT_OK)
        r->srm_mismatch = r->srm.p_value < FT_STATS_SRM_ALPHA;
    else
        snprintf(r->srm_why, sizeof(r->srm_why), "%s", e.detail);
    return FT_OK;
}

/* --- metrics --- */

struct sums_ctx {
    struct ft_experiment_result *r;
    struct ft_stats_sums sums[FT_EXPERIMENT_MAX_ARMS];
};

static int on_sums(void *arg, const struct ft_cell *c, size_t n)
{
    struct sums_ctx *s = arg;
    if (n < 4) return 0;
    size_t a = arm_index(s->r, c[0].s);
    if (a == SIZE_MAX) return 0;
    s->sums[a] = (struct ft_stats_sums){c[1].i, c[2].type == FT_CELL_REAL ? c[2].d : (double)c[2].i,
                                        c[3].type == FT_CELL_REAL ? c[3].d : (double)c[3].i};
    return 0;
}

static void compare(const struct ft_stats_arm *ctl, const struct ft_stats_arm *trt, double alpha,
                    struct ft_comparison *c)
{
    struct ft_stats_error e = {{0}};
    c->status = ft_stats_welch_test(ctl, trt, FT_STATS_ABSOLUTE, alpha, &c->abs, &e);
    if (c->status) {
        snprintf(c->why, sizeof(c->why), "%s", e.detail);
        return;
    }
    ft_stats_bayes_test(ctl, trt, FT_STATS_ABSOLUTE, NULL, alpha, &c->bayes_abs, NULL);
    ft_stats_sequential_test(ctl, trt, FT_STATS_ABSOLUTE, alpha, FT_STATS_SEQUENTIAL_TUNING,
                             &c->seq_abs, NULL);
    c->rel_status = ft_stats_welch_test(ctl, trt, FT_STATS_RELATIVE, alpha, &c->rel, NULL);
    if (c->rel_status == FT_OK) {
        ft_stats_bayes_test(ctl, trt, FT_STATS_RELATIVE, NULL, alpha, &c->bayes_rel, NULL);
        ft_stats_sequential_test(ctl, trt, FT_STATS_RELATIVE, alpha, FT_STATS_SEQUENTIAL_TUNING,
                                 &c->seq_rel, NULL);
    }
}

/* Holm's adjustment across the treatment arms of one metric, for the method's p-values. */
static void holm(struct ft_metric_result *m, size_t narms, enum ft_experiment_method method)
{
    for (int scale = 0; scale < 2; scale++) {
        double p[FT_EXPERIMENT_MAX_ARMS], adj[FT_EXPERIMENT_MAX_ARMS];
        size_t idx[FT_EXPERIMENT_MAX_ARMS], k = 0;
        for (size_t a = 1; a < narms; a++) {
            const struct ft_comparison *c = &m->cmp[a];
            if (c->status || (scale && c->rel_status)) continue;
            const double seq = scale ? c->seq_rel.p_value : c->seq_abs.p_value;
            const double welch = scale ? c->rel.p_value : c->abs.p_value;
            p[k] = method == FT_METHOD_SEQUENTIAL ? seq : welch;
            idx[k++] = a;
        }
        if (!k || ft_stats_holm(p, k, adj)) continue;
        for (size_t i = 0; i < k; i++)
            *(scale ? &m->cmp[idx[i]].rel_p_holm : &m->cmp[idx[i]].abs_p_holm) = adj[i];
    }
}

static int run_metric(ft_store *st, struct ft_sql *q, const struct ft_experiment_query *x,
                      struct ft_experiment_result *r, struct ft_metric_result *m, char *err,
                      size_t errlen)
{
    q->d->st->events(q, &m->metric);
    int rc = run(st, q, first_int, &m->events, err, errlen);
    if (rc) return rc;
    if (m->events == 0)
        return failf(err, errlen, FT_ENOENT, "--metric %s: the warehouse has no events named %s",
                     m->metric.event, m->metric.event);
    struct sums_ctx s = {.r = r};
    q->d->st->metric(q, x, r->arm_by == FT_ARM_VALUE, &m->metric);
    if ((rc = run(st, q, on_sums, &s, err, errlen))) return rc;
    bool conversion = m->metric.kind == FT_METRIC_CONVERSION;
    for (size_t a = 0; a < r->narms; a++) {
        struct ft_stats_error e = {{0}};
        if (ft_stats_arm_summarize(&s.sums[a], &m->arms[a], &e))
            return failf(err, errlen, FT_EINVAL, "%s: arm %s: %s", m->metric.event, r->arms[a],
                         e.detail);
        m->warnings[a] = ft_stats_arm_warnings(&m->arms[a], conversion);
    }
    for (size_t a = 1; a < r->narms; a++)
        compare(&m->arms[0], &m->arms[a], x->alpha, &m->cmp[a]);
    holm(m, r->narms, x->method);
    return FT_OK;
}

/* --- the experiment --- */

static int exposures(ft_store *st, struct ft_sql *q, const struct ft_experiment_query *x,
                     struct ft_experiment_result *r, char *err, size_t errlen)
{
    q->d->st->flag_type(q, x);
    int rc = run(st, q, on_flag_type, r, err, errlen);
    if (rc) return rc;
    if (!r->flag_type[0])
        return failf(err, errlen, FT_ENOENT, "no webhook in the warehouse has a flag named %s",
                     x->flag);
    r->arm_by = x->arm_by != FT_ARM_AUTO                    ? x->arm_by
                : strcmp(r->flag_type, "MULTIVARIATE") == 0 ? FT_ARM_VALUE
                                                            : FT_ARM_ENABLED;
    bool by_value = r->arm_by == FT_ARM_VALUE;
    q->d->st->drop_units(q);
    if ((rc = run(st, q, ignore_rows, NULL, err, errlen))) return rc;
    q->d->st->units(q, x, by_value);
    if ((rc = run(st, q, ignore_rows, NULL, err, errlen))) return rc;
    struct arms_ctx a = {.r = r};
    q->d->st->arms(q, x, by_value);
    if ((rc = run(st, q, on_arm, &a, err, errlen)) && !a.overflow) return rc;
    if (a.overflow)
        return failf(err, errlen, FT_EINVAL, "flag %s has more than %d arms", x->flag,
                     FT_EXPERIMENT_MAX_ARMS);
    q->d->st->quarantined(q, x, by_value);
    if ((rc = run(st, q, first_int, &r->quarantined, err, errlen))) return rc;
    if (r->narms == 0) {
        char where[64] = "";
        if (x->has_environment)
            snprintf(where, sizeof(where), " in environment %" PRId64, x->environment_id);
        return failf(err, errlen, FT_ENOENT, "no identity was exposed to flag %s%s%s", x->flag,
                     where, x->has_since || x->has_until ? " in the time window" : "");
    }
    return FT_OK;
}

int ft_experiment_run(ft_store *st, const struct ft_experiment_query *x,
                      struct ft_experiment_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    const struct ft_sql_dialect *d = ft__sql_dialect(ft_store_dialect(st));
    if (!d)
        return failf(err, errlen, FT_EINVAL, "experiments are not yet written for %s stores",
                     ft_store_dialect(st));
    if (!x->has_environment) {
        int rc = ft__sql_one_environment(st, d, x->has_since, x->since_us, x->has_until,
                                         x->until_us, err, errlen);
        if (rc) return rc;
    }
    struct ft_sql q;
    ft__sql_init(&q, d);
    int rc = exposures(st, &q, x, r, err, errlen);
    if (rc == FT_OK && r->narms < 2)
        rc = failf(err, errlen, FT_ENOENT, "flag %s: every exposed identity is in arm %s", x->flag,
                   r->arms[0]);
    if (rc == FT_OK) rc = weigh_arms(r, x, err, errlen); /* first: it adds unseen variants */
    if (rc == FT_OK) rc = order_arms(r, x, err, errlen);
    if (rc == FT_OK) {
        q.d->st->days(&q, x, r->arm_by == FT_ARM_VALUE);
        rc = run(st, &q, on_day, r, err, errlen);
    }
    if (rc == FT_OK) {
        r->metrics = ft_xcalloc(x->nmetrics ? x->nmetrics : 1, sizeof(*r->metrics));
        for (size_t i = 0; i < x->nmetrics && rc == FT_OK; i++) {
            r->metrics[i].metric = x->metrics[i];
            r->nmetrics = i + 1;
            rc = run_metric(st, &q, x, r, &r->metrics[i], err, errlen);
        }
    }
    ft__sql_reset(&q);
    d->st->drop_units(&q);
    run(st, &q, ignore_rows, NULL, err, rc ? 0 : errlen);
    ft__sql_free(&q);
    return rc;
}

void ft_experiment_result_free(struct ft_experiment_result *r)
{
    for (size_t i = 0; i < r->narms; i++)
        free(r->arms[i]);
    free(r->metrics);
    free(r->days);
    memset(r, 0, sizeof(*r));
}
