/*
 * Unit tests for src/analyse/report*.c and the metric syntax of src/analyse/experiment.c: the
 * three renderers over a hand-built result, with labels that need escaping.
 */
#include "analyse/experiment.h"
#include "analyse/report.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "helpers.h"

#include <string.h>

Test(metric, parses_event_and_aggregation)
{
    char a[] = "purchase", b[] = "purchase:sum", c[] = "a:b:mean", d[] = "x:median", e[] = ":count";
    struct ft_metric m;
    char err[128];
    cr_assert(ft_metric_parse(a, &m, err, sizeof(err)));
    cr_expect_str_eq(m.event, "purchase");
    cr_expect_eq(m.kind, FT_METRIC_CONVERSION);
    cr_assert(ft_metric_parse(b, &m, err, sizeof(err)));
    cr_expect_str_eq(m.event, "purchase");
    cr_expect_eq(m.kind, FT_METRIC_SUM);
    cr_assert(ft_metric_parse(c, &m, err, sizeof(err)));
    cr_expect_str_eq(m.event, "a:b");
    cr_expect_eq(m.kind, FT_METRIC_MEAN);
    cr_expect_not(ft_metric_parse(d, &m, err, sizeof(err)));
    cr_expect(strstr(err, "conversion, count, sum or mean") != NULL, "%s", err);
    cr_expect_not(ft_metric_parse(e, &m, err, sizeof(err)));
    cr_expect(strstr(err, "event name is required") != NULL, "%s", err);
}

static char label_control[] = "off", label_odd[] = "<b>\"on\"</b> & \\";

/* Two arms, one metric, an SRM mismatch, quarantined units, one day. */
static void build(struct ft_experiment_query *q, struct ft_experiment_result *r,
                  struct ft_metric *metric, struct ft_day_count *day)
{
    *metric = (struct ft_metric){"buy", FT_METRIC_CONVERSION};
    *q = (struct ft_experiment_query){.flag = "f<1>", .metrics = metric, .nmetrics = 1,
                                      .alpha = 0.05};
    memset(r, 0, sizeof(*r));
    strcpy(r->flag_type, "STANDARD");
    r->arm_by = FT_ARM_ENABLED;
    r->arms[0] = label_control;
    r->arms[1] = label_odd;
    r->narms = 2;
    r->units[0] = 4000, r->units[1] = 6000;
    r->weights[0] = r->weights[1] = 0.5;
    r->quarantined = 3;
    r->first_exposure_us = 1795392000000000, r->last_exposure_us = 1795392000000000 + 1;
    int64_t counts[2] = {4000, 6000};
    cr_assert_eq(ft_stats_srm_test(counts, r->weights, 2, &r->srm, NULL), FT_OK);
    r->srm_mismatch = r->srm.p_value < FT_STATS_SRM_ALPHA;
    static struct ft_metric_result m;
    memset(&m, 0, sizeof(m));
    m.metric = *metric;
    m.events = 900;
    struct ft_stats_sums s0 = {4000, 400, 400}, s1 = {6000, 720, 720};
    cr_assert_eq(ft_stats_arm_summarize(&s0, &m.arms[0], NULL), FT_OK);
    cr_assert_eq(ft_stats_arm_summarize(&s1, &m.arms[1], NULL), FT_OK);
    cr_assert_eq(ft_stats_welch_test(&m.arms[0], &m.arms[1], FT_STATS_ABSOLUTE, 0.05, &m.cmp[1].abs,
                                     NULL),
                 FT_OK);
    cr_assert_eq(ft_stats_welch_test(&m.arms[0], &m.arms[1], FT_STATS_RELATIVE, 0.05, &m.cmp[1].rel,
                                     NULL),
                 FT_OK);
    m.cmp[1].abs_p_holm = m.cmp[1].abs.p_value;
    r->metrics = &m;
    r->nmetrics = 1;
    *day = (struct ft_day_count){"2026-11-23", 1, 6000};
    r->days = day;
    r->ndays = 1;
}

static char *render(void (*fn)(FILE *, const struct ft_experiment_query *,
                               const struct ft_experiment_result *),
                    size_t *len)
{
    struct ft_experiment_query q;
    struct ft_experiment_result r;
    struct ft_metric metric;
    struct ft_day_count day;
    build(&q, &r, &metric, &day);
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    fn(f, &q, &r);
    fclose(f);
    return text;
}

Test(report, json_is_valid_and_escapes_labels)
{
    size_t len;
    char *text = render(ft_report_json, &len);
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_json_error err;
    cr_assert_eq(ft_json_parse(doc, text, len, &err), FT_OK, "%s at %zu", err.message, err.offset);
    const struct ft_json *root = ft_json_root(doc);
    cr_expect(ft_json_str_eq(doc, ft_json_get(doc, root, "flag"), "f<1>"));
    const struct ft_json *arms = ft_json_get(doc, root, "arms");
    cr_assert(arms != NULL);
    const struct ft_json *arm, *labels[2] = {NULL, NULL};
    size_t i = 0;
    FT_JSON_EACH(arm, arms)
    {
        if (i < 2) labels[i] = ft_json_get(doc, arm, "arm");
        i++;
    }
    cr_assert_eq(i, 2);
    cr_expect(ft_json_str_eq(doc, labels[0], label_control));
    cr_expect(ft_json_str_eq(doc, labels[1], label_odd), "%s", text);
    const struct ft_json *srm = ft_json_get(doc, root, "srm");
    cr_expect_eq(ft_json_get(doc, srm, "mismatch")->type, FT_JSON_TRUE);
    cr_expect(strstr(text, "\"quarantined\": 3") != NULL);
    ft_json_doc_free(doc);
    free(text);
}

Test(report, html_escapes_labels_and_shows_the_srm_box)
{
    size_t len;
    char *text = render(ft_report_html, &len);
    cr_expect(strstr(text, "<b>") == NULL, "a label reached the page unescaped");
    cr_expect(strstr(text, "&lt;b&gt;&quot;on&quot;&lt;/b&gt; &amp; \\") != NULL);
    cr_expect(strstr(text, "f&lt;1&gt;") != NULL);
    cr_expect(strstr(text, "class=\"box srm-bad\"") != NULL);
    cr_expect(strstr(text, "<script") == NULL);
    cr_expect(strstr(text, "3 identities seen in more than one arm were quarantined") != NULL);
    cr_expect(strstr(text, "</html>\n") != NULL);
    free(text);
}

Test(report, text_has_aligned_rows_without_trailing_spaces)
{
    size_t len;
    char *text = render(ft_report_text, &len);
    cr_expect(strstr(text, "MISMATCH") != NULL);
    cr_expect(strstr(text, "off (control)") != NULL);
    cr_expect(strstr(text, " \n") == NULL, "trailing space in:\n%s", text);
    cr_expect(strstr(text, "Sample ratio mismatch") != NULL);
    free(text);
}

Test(report, warnings_name_each_problem)
{
    struct ft_experiment_query q;
    struct ft_experiment_result r;
    struct ft_metric metric;
    struct ft_day_count day;
    build(&q, &r, &metric, &day);
    r.metrics[0].warnings[1] = FT_STATS_WARN_FEW_UNITS;
    size_t n;
    char **w = ft_report_warnings(&q, &r, &n);
    cr_assert_eq(n, 3);
    cr_expect(strncmp(w[0], "Sample ratio mismatch", 21) == 0, "%s", w[0]);
    cr_expect(strstr(w[1], "3 identities") != NULL, "%s", w[1]);
    cr_expect(strstr(w[2], "fewer than 30") != NULL, "%s", w[2]);
    ft_report_warnings_free(w, n);
}
