/*
 * The experiment report as one self-contained HTML page (src/analyse/report.h): inline CSS and
 * SVG, no script, nothing fetched. It shows the header facts, the sample-ratio test (a red box
 * when the split is off), exposures per arm per day as grouped bars, and per metric the arms'
 * numbers with a forest plot of each treatment's lift and interval against control.
 */
#include "analyse/report.h"
#include "base/clock.h"
#include "base/display.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W 760
#define CHART_H 240
#define PAD_L   56
#define PAD_R   16
#define PAD_T   16
#define PAD_B   40

static const char *const palette[] = {"#4c6ef5", "#f08c00", "#2b8a3e", "#c2255c",
                                      "#7048e8", "#1098ad", "#e8590c", "#5c940d"};
#define NCOLORS (sizeof(palette) / sizeof(palette[0]))

static const char css[] =
    "body{font:14px/1.45 system-ui,sans-serif;color:#1d2125;max-width:920px;margin:24px auto;"
    "padding:0 16px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}"
    ".meta{color:#555}table{border-collapse:collapse;margin:8px 0}"
    "th,td{padding:4px 10px;border-bottom:1px solid #dee2e6;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f1f3f5}"
    ".box{border-radius:6px;padding:10px 14px;margin:12px 0}"
    ".srm-bad{background:#fff0f0;border:2px solid #e03131;color:#a01515;font-weight:600}"
    ".srm-ok{background:#ebfbee;border:1px solid #8ce99a}"
    ".warn{background:#fff9db;border:1px solid #ffd43b}.warn li{margin:2px 0}"
    ".key span{display:inline-block;margin-right:14px}"
    ".key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}"
    "svg text{font:11px system-ui,sans-serif;fill:#495057}";

/* Writes s with &, <, >, " escaped, and control characters, which neither HTML nor the SVG's
 * XML may hold, as visible escapes (base/display.h). */
static void esc(FILE *f, const char *s)
{
    char *shown = ft_display_dup(s);
    for (const char *p = shown; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*p, f);
        }
    }
    free(shown);
}

static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("&ndash;", f);
}

static const char *color(size_t arm)
{
    return palette[arm % NCOLORS];
}

static void legend(FILE *f, const struct ft_experiment_result *r)
{
    fputs("<p class=\"key\">", f);
    for (size_t a = 0; a < r->narms; a++) {
        fprintf(f, "<span><i style=\"background:%s\"></i>", color(a));
        esc(f, r->arms[a]);
        fputs("</span>", f);
    }
    fputs("</p>\n", f);
}

static void head(FILE *f, const struct ft_experiment_query *q, const struct ft_experiment_result *r,
                 int64_t total)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>",
          f);
    esc(f, q->flag);
    fprintf(f, ": experiment report</title>\n<style>%s</style></head><body>\n<h1>Flag ", css);
    esc(f, q->flag);
    char a[FT_CLOCK_ISO_SIZE], b[FT_CLOCK_ISO_SIZE];
    ft_clock_format_iso(r->first_exposure_us, a);
    ft_clock_format_iso(r->last_exposure_us, b);
    fputs("</h1>\n<p class=\"meta\">", f);
    esc(f, r->flag_type);
    fprintf(f,
            ", arms by %s, %s method, alpha %g. First exposures from %s to %s: %" PRId64
            " identities, %" PRId64 " quarantined.</p>\n",
            r->arm_by == FT_ARM_VALUE ? "value" : "enabled", ft_report_method_name(q->method),
            q->alpha, a, b, total, r->quarantined);
}

static void srm_box(FILE *f, const struct ft_experiment_result *r)
{
    if (r->srm_status) {
        fputs("<div class=\"box warn\" id=\"srm\">Sample ratio not tested: ", f);
        esc(f, r->srm_why);
        fputs("</div>\n", f);
        return;
    }
    fprintf(f, "<div class=\"box %s\" id=\"srm\">%s chi-square %.6g, df %d, p = %.6g%s</div>\n",
            r->srm_mismatch ? "srm-bad" : "srm-ok",
            r->srm_mismatch ? "&#9888; Sample ratio mismatch:" : "Sample ratio as expected:",
            r->srm.statistic, r->srm.df, r->srm.p_value,
            r->srm_mismatch ? ". The arms' sizes are unlikely under the expected split; do not "
                              "trust the lifts until it is explained."
                            : ".");
}

static void arms_table(FILE *f, const struct ft_experiment_result *r, int64_t total)
{
    fputs("<table><tr><th>arm</th><th>units</th><th>share</th><th>expected</th></tr>\n", f);
    for (size_t a = 0; a < r->narms; a++) {
        fputs("<tr><td>", f);
        esc(f, r->arms[a]);
        fprintf(f, "%s</td><td>%" PRId64 "</td><td>%.2f%%</td><td>%.2f%%</td></tr>\n",
                a || strcmp(r->arms[a], "control") == 0 ? "" : " (control)", r->units[a],
                total ? 100.0 * (double)r->units[a] / (double)total : 0, 100 * r->weights[a]);
    }
    fputs("</table>\n", f);
}

/* Days are sorted; each distinct day is one group of bars. */
static size_t count_days(const struct ft_experiment_result *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ndays; i++)
        if (i == 0 || strcmp(r->days[i].day, r->days[i - 1].day)) n++;
    return n;
}

static void exposures_chart(FILE *f, const struct ft_experiment_result *r)
{
    fputs("<h2>Exposures per arm per day</h2>\n", f);
    legend(f, r);
    size_t ndays = count_days(r);
    int64_t top = 1;
    for (size_t i = 0; i < r->ndays; i++)
        if (r->days[i].units > top) top = r->days[i].units;
    double plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double group = ndays ? plot_w / (double)ndays : plot_w;
    double bar = group * 0.8 / (double)(r->narms ? r->narms : 1);
    fprintf(f,
            "<svg id=\"exposures\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\" aria-label=\"first exposures per arm per day\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    for (int k = 0; k <= 4; k++) {
        double y = PAD_T + plot_h * (1 - k / 4.0);
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e9ecef\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
                PAD_L, CHART_W - PAD_R, y, y, PAD_L - 6, y + 4, (double)top * k / 4.0);
    }
    size_t day = 0;
    size_t label_every = ndays > 12 ? (ndays + 11) / 12 : 1;
    for (size_t i = 0; i < r->ndays; i++) {
        const struct ft_day_count *d = &r->days[i];
        if (i && strcmp(d->day, r->days[i - 1].day)) day++;
        double x0 = PAD_L + group * (double)day + group * 0.1;
        double h = plot_h * (double)d->units / (double)top;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>%s ",
                x0 + bar * (double)d->arm, PAD_T + plot_h - h, bar > 1 ? bar - 0.5 : bar, h,
                color(d->arm), d->day);
        esc(f, d->arm < r->narms ? r->arms[d->arm] : "");
        fprintf(f, ": %" PRId64 "</title></rect>\n", d->units);
        if ((i == 0 || strcmp(d->day, r->days[i - 1].day)) && day % label_every == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                    PAD_L + group * ((double)day + 0.5), CHART_H - PAD_B + 16, d->day + 5);
    }
    fputs("</svg>\n", f);
}

/* The interval the chosen method reports for one comparison, on the plotted scale. */
struct effect {
    double est, lo, hi;
};

static struct effect chosen_effect(const struct ft_experiment_query *q,
                                   const struct ft_comparison *c, bool relative)
{
    switch (q->method) {
    case FT_METHOD_BAYESIAN: {
        const struct ft_stats_bayes *b = relative ? &c->bayes_rel : &c->bayes_abs;
        return (struct effect){b->mean, b->ci_low, b->ci_high};
    }
    case FT_METHOD_SEQUENTIAL: {
        const struct ft_stats_sequential *s = relative ? &c->seq_rel : &c->seq_abs;
        return (struct effect){s->estimate, s->ci_low, s->ci_high};
    }
    case FT_METHOD_FREQUENTIST: break;
    }
    const struct ft_stats_welch *w = relative ? &c->rel : &c->abs;
    return (struct effect){w->estimate, w->ci_low, w->ci_high};
}

/* Relative lift when every compared arm has one, else absolute. */
static bool plot_relative(const struct ft_experiment_result *r, const struct ft_metric_result *m)
{
    for (size_t a = 1; a < r->narms; a++)
        if (m->cmp[a].status == 0 && m->cmp[a].rel_status) return false;
    return true;
}

static void forest_plot(FILE *f, const struct ft_experiment_query *q,
                        const struct ft_experiment_result *r, const struct ft_metric_result *m,
                        size_t index)
{
    bool rel = plot_relative(r, m);
    double lo = 0, hi = 0, scale = rel ? 100 : 1;
    for (size_t a = 1; a < r->narms; a++) {
        if (m->cmp[a].status) continue;
        struct effect e = chosen_effect(q, &m->cmp[a], rel);
        if (isfinite(e.lo) && e.lo * scale < lo) lo = e.lo * scale;
        if (isfinite(e.hi) && e.hi * scale > hi) hi = e.hi * scale;
    }
    double span = hi - lo > 0 ? hi - lo : 1;
    lo -= span * 0.08;
    hi += span * 0.08;
    int rows = (int)(r->narms > 1 ? r->narms - 1 : 1);
    int h = PAD_T + 28 * rows + 48, x0 = 140, w = CHART_W - x0 - PAD_R - 40;
#define XPOS(v) (x0 + (double)w * ((v)-lo) / (hi - lo))
    fprintf(f,
            "<svg id=\"lift-%zu\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\" aria-label=\"%s lift against control\">\n",
            index, CHART_W, h, CHART_W, h, rel ? "relative" : "absolute");
    fprintf(f,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#868e96\" "
            "stroke-dasharray=\"4 3\"/>\n",
            XPOS(0.0), XPOS(0.0), PAD_T - 6, h - 40);
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%+.3g%s</text>\n", XPOS(v),
                h - 26, v, rel ? "%" : "");
    }
    char level[FT_REPORT_LEVEL_SIZE];
    fprintf(f,
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s lift against control, "
            "%s interval (%s)</text>\n",
            x0 + w / 2.0, h - 6, rel ? "relative" : "absolute", ft_report_level(q->alpha, level),
            ft_report_method_name(q->method));
    for (size_t a = 1; a < r->narms; a++) {
        int y = PAD_T + 28 * (int)(a - 1) + 10;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", x0 - 10, y + 4);
        esc(f, r->arms[a]);
        fputs("</text>\n", f);
        if (m->cmp[a].status) continue;
        struct effect e = chosen_effect(q, &m->cmp[a], rel);
        if (!isfinite(e.est) || !isfinite(e.lo) || !isfinite(e.hi)) continue;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"3\"/><circle cx=\"%.1f\" cy=\"%d\" r=\"5\" fill=\"%s\">"
                "<title>%+.6g%s [%+.6g, %+.6g]</title></circle>\n",
                XPOS(e.lo * scale), XPOS(e.hi * scale), y, y, color(a), XPOS(e.est * scale), y,
                color(a), e.est * scale, rel ? "%" : "", e.lo * scale, e.hi * scale);
    }
#undef XPOS
    fputs("</svg>\n", f);
}

static void metric_section(FILE *f, const struct ft_experiment_query *q,
                           const struct ft_experiment_result *r, const struct ft_metric_result *m,
                           size_t index)
{
    fputs("<h2>Metric ", f);
    esc(f, m->metric.event);
    fprintf(f, " <small>(%s, %" PRId64 " events)</small></h2>\n",
            ft_metric_kind_name(m->metric.kind), m->events);
    char level[FT_REPORT_LEVEL_SIZE];
    bool bayes = q->method == FT_METHOD_BAYESIAN;
    fprintf(f,
            "<table><tr><th>arm</th><th>n</th><th>mean</th><th>variance</th><th>lift</th>"
            "<th>%s interval</th><th>%s</th><th>relative lift</th></tr>\n",
            ft_report_level(q->alpha, level), bayes ? "chance to beat" : "p (Holm)");
    for (size_t a = 0; a < r->narms; a++) {
        fputs("<tr><td>", f);
        esc(f, r->arms[a]);
        fprintf(f, "</td><td>%" PRId64 "</td><td>", m->arms[a].n);
        num(f, m->arms[a].n ? m->arms[a].mean : NAN); /* an empty arm has no mean */
        fputs("</td><td>", f);
        num(f, m->arms[a].n ? m->arms[a].variance : NAN);
        const struct ft_comparison *c = &m->cmp[a];
        if (a == 0 || c->status) {
            fprintf(f, "</td><td colspan=\"4\">%s</td></tr>\n", a ? "not compared" : "control");
            continue;
        }
        struct effect e = chosen_effect(q, c, false);
        fprintf(f, "</td><td>%+.6g</td><td>[%+.6g, %+.6g]</td><td>", e.est, e.lo, e.hi);
        num(f, bayes ? c->bayes_abs.chance_to_beat : c->abs_p_holm);
        fputs("</td><td>", f);
        if (c->rel_status)
            fputs("&ndash;", f);
        else
            fprintf(f, "%+.4g%%", 100 * chosen_effect(q, c, true).est);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (r->narms > 1) forest_plot(f, q, r, m, index);
}

static void warnings(FILE *f, const struct ft_experiment_query *q,
                     const struct ft_experiment_result *r)
{
    size_t nw;
    char **w = ft_report_warnings(q, r, &nw);
    if (nw) {
        fputs("<h2>Warnings</h2>\n<div class=\"box warn\" id=\"warnings\"><ul>\n", f);
        for (size_t i = 0; i < nw; i++) {
            fputs("<li>", f);
            esc(f, w[i]);
            fputs("</li>\n", f);
        }
        fputs("</ul></div>\n", f);
    }
    ft_report_warnings_free(w, nw);
}

void ft_report_html(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r)
{
    int64_t total = 0;
    for (size_t a = 0; a < r->narms; a++)
        total += r->units[a];
    head(f, q, r, total);
    srm_box(f, r);
    arms_table(f, r, total);
    exposures_chart(f, r);
    for (size_t m = 0; m < r->nmetrics; m++)
        metric_section(f, q, r, &r->metrics[m], m);
    warnings(f, q, r);
    fputs("<p class=\"meta\">Generated by flagtrail experiment.</p>\n</body></html>\n", f);
}
