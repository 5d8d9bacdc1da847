/*
 * Experiment reports (src/analyse/report.h): the warnings every format shares, and JSON.
 */
#include "analyse/report.h"
#include "base/clock.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *ft_report_method_name(enum ft_experiment_method m)
{
    switch (m) {
    case FT_METHOD_FREQUENTIST: return "frequentist";
    case FT_METHOD_BAYESIAN: return "bayesian";
    case FT_METHOD_SEQUENTIAL: return "sequential";
    }
    return "frequentist";
}

const char *ft_report_level(double alpha, char buf[FT_REPORT_LEVEL_SIZE])
{
    snprintf(buf, FT_REPORT_LEVEL_SIZE, "%.6g%%", 100 * (1 - alpha));
    return buf;
}

const char *ft_report_warning_name(unsigned bit)
{
    switch (bit) {
    case FT_STATS_WARN_FEW_UNITS: return "few_units";
    case FT_STATS_WARN_FEW_CONVERSIONS: return "few_conversions";
    case FT_STATS_WARN_NO_VARIANCE: return "no_variance";
    case FT_STATS_WARN_FEW_EXPECTED: return "few_expected";
    }
    return "unknown";
}

/* --- warnings --- */

struct warnings {
    char **w;
    size_t n;
};

static void add(struct warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct warnings *w, const char *fmt, ...)
{
    char *line; /* whole: a cut could split a character or hide which arm it names */
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    w->w = ft_xrealloc(w->w, sizeof(*w->w) * (w->n + 1));
    w->w[w->n++] = line;
}

static void srm_warnings(struct warnings *w, const struct ft_experiment_result *r)
{
    if (r->srm_status) {
        add(w, "The sample-ratio test could not run: %s.", r->srm_why);
        return;
    }
    if (r->srm_mismatch) {
        struct ft_buf split;
        ft_buf_init(&split, 0);
        for (size_t i = 0; i < r->narms; i++)
            ft_buf_printf(&split, "%s%s %" PRId64 " (%.1f%% expected)", i ? ", " : "", r->arms[i],
                          r->units[i], 100 * r->weights[i]);
        add(w,
            "Sample ratio mismatch: the arms' sizes are unlikely under the expected split "
            "(chi-square p = %.3g < %g): %s. Assignment or data collection is suspect; do not "
            "trust the lifts until it is explained.",
            r->srm.p_value, FT_STATS_SRM_ALPHA, split.data ? split.data : "");
        ft_buf_free(&split);
    }
    if (r->srm.warnings & FT_STATS_WARN_FEW_EXPECTED)
        add(w, "An arm expects fewer than %d units: the sample-ratio test is approximate.",
            FT_STATS_MIN_EXPECTED);
}

char **ft_report_warnings(const struct ft_experiment_query *q, const struct ft_experiment_result *r,
                          size_t *n)
{
    (void)q;
    struct warnings w = {0};
    srm_warnings(&w, r);
    if (r->quarantined)
        add(&w, "%" PRId64 " identit%s seen in more than one arm %s quarantined (left out).",
            r->quarantined, r->quarantined == 1 ? "y" : "ies",
            r->quarantined == 1 ? "was" : "were");
    for (size_t m = 0; m < r->nmetrics; m++) {
        const struct ft_metric_result *mr = &r->metrics[m];
        for (size_t a = 0; a < r->narms; a++) {
            unsigned bits = mr->warnings[a];
            if (bits & FT_STATS_WARN_FEW_UNITS)
                add(&w, "%s: arm %s has %" PRId64 " units, fewer than %d: its numbers are rough.",
                    mr->metric.event, r->arms[a], mr->arms[a].n, FT_STATS_MIN_UNITS);
            if (bits & FT_STATS_WARN_FEW_CONVERSIONS)
                add(&w, "%s: arm %s has fewer than %d conversions or non-conversions.",
                    mr->metric.event, r->arms[a], FT_STATS_MIN_CONVERSIONS);
            if ((bits & FT_STATS_WARN_NO_VARIANCE) && mr->arms[a].n > 0)
                add(&w, "%s: every unit of arm %s has the same value.", mr->metric.event,
                    r->arms[a]);
            if (a && mr->cmp[a].status)
                add(&w, "%s: arm %s was not compared: %s.", mr->metric.event, r->arms[a],
                    mr->cmp[a].why);
        }
    }
    *n = w.n;
    return w.w;
}

void ft_report_warnings_free(char **w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i]);
    free(w);
}

/* --- JSON --- */

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void jtime(FILE *f, bool has, int64_t us)
{
    if (!has) {
        fputs("null", f);
        return;
    }
    char iso[FT_CLOCK_ISO_SIZE];
    ft_clock_format_iso(us, iso);
    jstr(f, iso);
}

static void jwelch(FILE *f, const struct ft_stats_welch *w, bool holm, double p_holm)
{
    fputs("{\"estimate\": ", f);
    jnum(f, w->estimate);
    fputs(", \"std_error\": ", f);
    jnum(f, w->std_error);
    fputs(", \"statistic\": ", f);
    jnum(f, w->statistic);
    fputs(", \"df\": ", f);
    jnum(f, w->df);
    fputs(", \"p_value\": ", f);
    jnum(f, w->p_value);
    if (holm) {
        fputs(", \"p_value_holm\": ", f);
        jnum(f, p_holm);
    }
    fputs(", \"ci_low\": ", f);
    jnum(f, w->ci_low);
    fputs(", \"ci_high\": ", f);
    jnum(f, w->ci_high);
    fputc('}', f);
}

static void jbayes(FILE *f, const struct ft_stats_bayes *b)
{
    fputs("{\"mean\": ", f);
    jnum(f, b->mean);
    fputs(", \"std_dev\": ", f);
    jnum(f, b->std_dev);
    fputs(", \"chance_to_beat\": ", f);
    jnum(f, b->chance_to_beat);
    fputs(", \"risk_control\": ", f);
    jnum(f, b->risk_control);
    fputs(", \"risk_treatment\": ", f);
    jnum(f, b->risk_treatment);
    fputs(", \"ci_low\": ", f);
    jnum(f, b->ci_low);
    fputs(", \"ci_high\": ", f);
    jnum(f, b->ci_high);
    fputc('}', f);
}

static void jseq(FILE *f, const struct ft_stats_sequential *s, bool holm, double p_holm)
{
    fputs("{\"estimate\": ", f);
    jnum(f, s->estimate);
    fputs(", \"std_error\": ", f);
    jnum(f, s->std_error);
    fputs(", \"p_value\": ", f);
    jnum(f, s->p_value);
    if (holm) {
        fputs(", \"p_value_holm\": ", f);
        jnum(f, p_holm);
    }
    fputs(", \"ci_low\": ", f);
    jnum(f, s->ci_low);
    fputs(", \"ci_high\": ", f);
    jnum(f, s->ci_high);
    fputc('}', f);
}

static void jcomparison(FILE *f, const struct ft_experiment_query *q, const char *arm,
                        const struct ft_comparison *c)
{
    fputs("{\"arm\": ", f);
    jstr(f, arm);
    if (c->status) {
        fputs(", \"error\": ", f);
        jstr(f, c->why);
        fputc('}', f);
        return;
    }
    bool rel = c->rel_status == 0;
    bool freq = q->method == FT_METHOD_FREQUENTIST, seq = q->method == FT_METHOD_SEQUENTIAL;
    fputs(", \"frequentist\": {\"absolute\": ", f);
    jwelch(f, &c->abs, freq, c->abs_p_holm);
    fputs(", \"relative\": ", f);
    if (rel)
        jwelch(f, &c->rel, freq, c->rel_p_holm);
    else
        fputs("null", f);
    fputs("}, \"bayesian\": {\"absolute\": ", f);
    jbayes(f, &c->bayes_abs);
    fputs(", \"relative\": ", f);
    if (rel)
        jbayes(f, &c->bayes_rel);
    else
        fputs("null", f);
    fputs("}, \"sequential\": {\"absolute\": ", f);
    jseq(f, &c->seq_abs, seq, c->abs_p_holm);
    fputs(", \"relative\": ", f);
    if (rel)
        jseq(f, &c->seq_rel, seq, c->rel_p_holm);
    else
        fputs("null", f);
    fputs("}}", f);
}

static void jmetric(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r, const struct ft_metric_result *m)
{
    fputs("{\"event\": ", f);
    jstr(f, m->metric.event);
    fprintf(f, ", \"type\": \"%s\", \"events\": %" PRId64 ", \"arms\": [",
            ft_metric_kind_name(m->metric.kind), m->events);
    for (size_t a = 0; a < r->narms; a++) {
        fputs(a ? ", {\"arm\": " : "{\"arm\": ", f);
        jstr(f, r->arms[a]);
        fprintf(f, ", \"n\": %" PRId64 ", \"mean\": ", m->arms[a].n);
        jnum(f, m->arms[a].n ? m->arms[a].mean : NAN); /* an empty arm has none: null */
        fputs(", \"variance\": ", f);
        jnum(f, m->arms[a].n ? m->arms[a].variance : NAN);
        fputs(", \"warnings\": [", f);
        int k = 0;
        for (unsigned bit = 1; bit <= FT_STATS_WARN_FEW_EXPECTED; bit <<= 1)
            if (m->warnings[a] & bit)
                fprintf(f, "%s\"%s\"", k++ ? ", " : "", ft_report_warning_name(bit));
        fputs("]}", f);
    }
    fputs("], \"comparisons\": [", f);
    for (size_t a = 1; a < r->narms; a++) {
        if (a > 1) fputs(", ", f);
        jcomparison(f, q, r->arms[a], &m->cmp[a]);
    }
    fputs("]}", f);
}

void ft_report_json(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r)
{
    fputs("{\"flag\": ", f);
    jstr(f, q->flag);
    fputs(", \"flag_type\": ", f);
    jstr(f, r->flag_type);
    fprintf(f, ", \"arm_by\": \"%s\", \"method\": \"%s\", \"alpha\": ",
            r->arm_by == FT_ARM_VALUE ? "value" : "enabled", ft_report_method_name(q->method));
    jnum(f, q->alpha);
    fputs(", \"control\": ", f);
    jstr(f, r->arms[0]);
    fputs(", \"window\": {\"since\": ", f);
    jtime(f, q->has_since, q->since_us);
    fputs(", \"until\": ", f);
    jtime(f, q->has_until, q->until_us);
    int64_t total = 0;
    for (size_t a = 0; a < r->narms; a++)
        total += r->units[a];
    fputs("}, \"exposures\": {\"first\": ", f);
    jtime(f, total > 0, r->first_exposure_us);
    fputs(", \"last\": ", f);
    jtime(f, total > 0, r->last_exposure_us);
    fprintf(f, ", \"units\": %" PRId64 ", \"quarantined\": %" PRId64 "}, \"arms\": [", total,
            r->quarantined);
    for (size_t a = 0; a < r->narms; a++) {
        fputs(a ? ", {\"arm\": " : "{\"arm\": ", f);
        jstr(f, r->arms[a]);
        fprintf(f, ", \"units\": %" PRId64 ", \"observed_share\": ", r->units[a]);
        jnum(f, total ? (double)r->units[a] / (double)total : 0);
        fputs(", \"expected_share\": ", f);
        jnum(f, r->weights[a]);
        fputc('}', f);
    }
    fputs("], \"srm\": ", f);
    if (r->srm_status) {
        fputs("{\"error\": ", f);
        jstr(f, r->srm_why);
        fputc('}', f);
    } else {
        fputs("{\"statistic\": ", f);
        jnum(f, r->srm.statistic);
        fprintf(f, ", \"df\": %d, \"p_value\": ", r->srm.df);
        jnum(f, r->srm.p_value);
        fprintf(f, ", \"mismatch\": %s}", r->srm_mismatch ? "true" : "false");
    }
    fputs(", \"metrics\": [", f);
    for (size_t m = 0; m < r->nmetrics; m++) {
        if (m) fputs(", ", f);
        jmetric(f, q, r, &r->metrics[m]);
    }
    fputs("], \"exposures_by_day\": [", f);
    for (size_t i = 0; i < r->ndays; i++) {
        const struct ft_day_count *d = &r->days[i];
        fprintf(f, "%s{\"day\": \"%s\", \"arm\": ", i ? ", " : "", d->day);
        jstr(f, d->arm < r->narms ? r->arms[d->arm] : "");
        fprintf(f, ", \"units\": %" PRId64 "}", d->units);
    }
    fputs("], \"warnings\": [", f);
    size_t nw;
    char **w = ft_report_warnings(q, r, &nw);
    for (size_t i = 0; i < nw; i++) {
        if (i) fputs(", ", f);
        jstr(f, w[i]);
    }
    ft_report_warnings_free(w, nw);
    fputs("]}\n", f);
}
