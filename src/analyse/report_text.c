/*
 * The experiment report as text tables for a terminal (src/analyse/report.h). Numbers keep six
 * significant digits; the JSON report has them all.
 */
#include "analyse/report.h"
#include "base/clock.h"
#include "base/display.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 12
#define CELL     64 /* numbers and labels this file formats; cells themselves are not cut */

/* A table whose columns are as wide as their widest cell: the first left-aligned, the rest
 * right. Cells are copied with their control characters escaped (base/display.h). */
struct table {
    char *(*cells)[MAX_COLS];
    size_t rows, cols;
};

static void row(struct table *t, ...)
{
    t->cells = ft_xrealloc(t->cells, sizeof(*t->cells) * (t->rows + 1));
    va_list ap;
    va_start(ap, t);
    for (size_t c = 0; c < t->cols; c++)
        t->cells[t->rows][c] = ft_display_dup(va_arg(ap, const char *));
    va_end(ap);
    t->rows++;
}

static void pad(FILE *f, size_t n)
{
    while (n--)
        fputc(' ', f);
}

static void print_table(FILE *f, struct table *t)
{
    size_t width[MAX_COLS] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->cols; c++) {
            size_t w = ft_display_width(t->cells[r][c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r < t->rows; r++) {
        size_t last = t->cols; /* trailing empty cells print nothing, not blanks */
        while (last > 1 && !t->cells[r][last - 1][0])
            last--;
        for (size_t c = 0; c < last; c++) {
            size_t w = ft_display_width(t->cells[r][c]);
            if (c) {
                pad(f, 2 + width[c] - w);
                fputs(t->cells[r][c], f);
            } else {
                fputs(t->cells[r][c], f);
                if (last > 1) pad(f, width[c] - w);
            }
        }
        fputc('\n', f);
        for (size_t c = 0; c < t->cols; c++)
            free(t->cells[r][c]);
    }
    free(t->cells);
    t->cells = NULL;
    t->rows = 0;
}

/* One line of free text, with the control characters of the names in it escaped. */
static void line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(FILE *f, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    struct ft_buf shown;
    ft_buf_init(&shown, 0);
    ft_display_append(&shown, text, (size_t)n);
    ft_buf_append_char(&shown, '\n');
    fwrite(shown.data, 1, shown.len, f);
    ft_buf_free(&shown);
    free(text);
}

static const char *num(char *buf, double v)
{
    if (!isfinite(v))
        snprintf(buf, CELL, "%s", isnan(v) ? "-" : v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, CELL, "%.6g", v);
    return buf;
}

static const char *signed_num(char *buf, double v, bool percent)
{
    snprintf(buf, CELL, percent ? "%+.4g%%" : "%+.6g", percent ? 100 * v : v);
    return buf;
}

static const char *interval(char *buf, double lo, double hi, bool percent)
{
    if (percent)
        snprintf(buf, CELL, "[%+.4g%%, %+.4g%%]", 100 * lo, 100 * hi);
    else
        snprintf(buf, CELL, "[%+.6g, %+.6g]", lo, hi);
    return buf;
}

static void header(FILE *f, const struct ft_experiment_query *q,
                   const struct ft_experiment_result *r, int64_t total)
{
    char a[FT_CLOCK_ISO_SIZE], b[FT_CLOCK_ISO_SIZE];
    ft_clock_format_iso(r->first_exposure_us, a);
    ft_clock_format_iso(r->last_exposure_us, b);
    line(f, "Experiment on flag %s (%s, arms by %s), %s, alpha %g", q->flag, r->flag_type,
         r->arm_by == FT_ARM_VALUE ? "value" : "enabled", ft_report_method_name(q->method),
         q->alpha);
    line(f, "First exposures from %s to %s: %" PRId64 " identities, %" PRId64 " quarantined", a, b,
         total, r->quarantined);
    fputc('\n', f);
}

static void arms_table(FILE *f, const struct ft_experiment_result *r, int64_t total)
{
    struct table t = {.cols = 4};
    row(&t, "arm", "units", "share", "expected");
    for (size_t i = 0; i < r->narms; i++) {
        char *label, units[CELL], share[CELL], expected[CELL];
        bool named = strcmp(r->arms[i], "control") == 0;
        if (asprintf(&label, "%s%s", r->arms[i], i || named ? "" : " (control)") < 0) abort();
        snprintf(units, sizeof(units), "%" PRId64, r->units[i]);
        snprintf(share, sizeof(share), "%.2f%%",
                 total ? 100.0 * (double)r->units[i] / (double)total : 0);
        snprintf(expected, sizeof(expected), "%.2f%%", 100 * r->weights[i]);
        row(&t, label, units, share, expected);
        free(label);
    }
    print_table(f, &t);
    if (r->srm_status)
        line(f, "Sample ratio: not tested (%s)", r->srm_why);
    else
        line(f, "Sample ratio: chi-square %.6g, df %d, p %.6g: %s", r->srm.statistic, r->srm.df,
             r->srm.p_value, r->srm_mismatch ? "MISMATCH" : "no mismatch");
}

static void arm_columns(const struct ft_metric_result *m, size_t a, char cells[3][CELL])
{
    snprintf(cells[0], CELL, "%" PRId64, m->arms[a].n);
    num(cells[1], m->arms[a].n ? m->arms[a].mean : NAN); /* an empty arm has no mean */
    num(cells[2], m->arms[a].n ? m->arms[a].variance : NAN);
}

static void metric_table(FILE *f, const struct ft_experiment_query *q,
                         const struct ft_experiment_result *r, const struct ft_metric_result *m)
{
    fputc('\n', f);
    line(f, "Metric %s (%s, %" PRId64 " events in the warehouse)", m->metric.event,
         ft_metric_kind_name(m->metric.kind), m->events);
    char ci[CELL];
    char level[FT_REPORT_LEVEL_SIZE];
    snprintf(ci, sizeof(ci), "%s interval", ft_report_level(q->alpha, level));
    struct table t = {.cols = 10};
    if (q->method == FT_METHOD_BAYESIAN)
        row(&t, "arm", "n", "mean", "variance", "lift", ci, "chance to beat", "risk (control)",
            "risk (treatment)", "relative lift");
    else
        row(&t, "arm", "n", "mean", "variance", "lift", ci, "p", "p (Holm)", "relative lift", ci);
    for (size_t a = 0; a < r->narms; a++) {
        char c[3][CELL], v[6][CELL];
        arm_columns(m, a, c);
        const struct ft_comparison *cmp = &m->cmp[a];
        if (a == 0 || cmp->status) {
            row(&t, r->arms[a], c[0], c[1], c[2], a ? "-" : "", "", "", "", "", "");
            continue;
        }
        bool rel = cmp->rel_status == 0;
        if (q->method == FT_METHOD_BAYESIAN) {
            const struct ft_stats_bayes *b = &cmp->bayes_abs;
            row(&t, r->arms[a], c[0], c[1], c[2], signed_num(v[0], b->mean, false),
                interval(v[1], b->ci_low, b->ci_high, false), num(v[2], b->chance_to_beat),
                num(v[3], b->risk_control), num(v[4], b->risk_treatment),
                rel ? signed_num(v[5], cmp->bayes_rel.mean, true) : "-");
            continue;
        }
        bool seq = q->method == FT_METHOD_SEQUENTIAL;
        double est = seq ? cmp->seq_abs.estimate : cmp->abs.estimate;
        double lo = seq ? cmp->seq_abs.ci_low : cmp->abs.ci_low;
        double hi = seq ? cmp->seq_abs.ci_high : cmp->abs.ci_high;
        double p = seq ? cmp->seq_abs.p_value : cmp->abs.p_value;
        double rest = seq ? cmp->seq_rel.estimate : cmp->rel.estimate;
        double rlo = seq ? cmp->seq_rel.ci_low : cmp->rel.ci_low;
        double rhi = seq ? cmp->seq_rel.ci_high : cmp->rel.ci_high;
        char rv[2][CELL];
        row(&t, r->arms[a], c[0], c[1], c[2], signed_num(v[0], est, false),
            interval(v[1], lo, hi, false), num(v[2], p), num(v[3], cmp->abs_p_holm),
            rel ? signed_num(rv[0], rest, true) : "-", rel ? interval(rv[1], rlo, rhi, true) : "-");
    }
    print_table(f, &t);
}

void ft_report_text(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r)
{
    int64_t total = 0;
    for (size_t a = 0; a < r->narms; a++)
        total += r->units[a];
    header(f, q, r, total);
    arms_table(f, r, total);
    for (size_t m = 0; m < r->nmetrics; m++)
        metric_table(f, q, r, &r->metrics[m]);
    size_t nw;
    char **w = ft_report_warnings(q, r, &nw);
    if (nw) fputs("\nWarnings:\n", f);
    for (size_t i = 0; i < nw; i++)
        line(f, "  - %s", w[i]);
    ft_report_warnings_free(w, nw);
}
