/*
 * Unit tests of the experiment statistics (src/analyse/stats.c, src/analyse/distributions.c).
 *
 * The reference values come from SciPy through tests/data/stats/generate.py and are read from
 * tests/data/stats/reference.json, so SciPy is not needed here. Tolerances (relative):
 * DIST_TOL for the distributions, which agree with SciPy to a few 1e-13 except where SciPy
 * itself drifts (chi-square at df = 1e4, 1e-12); ARM_TOL for the tests of two arms, whose
 * references come from the raw samples while the C code sees only their sums. Each reference
 * test logs its largest error. The rest checks edge cases, errors and identities that hold
 * whatever the reference says.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "analyse/stats.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "helpers.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define DIST_TOL 2e-12
#define ARM_TOL  5e-12

static ft_json_doc *doc;
static char *text;
static const struct ft_json *root;

static void setup(void)
{
    size_t len;
    text = read_data("stats/reference.json", &len);
    doc = ft_json_doc_new(NULL);
    cr_assert(eq(int, ft_json_parse(doc, text, len, NULL), FT_OK), "reference.json is not JSON");
    root = ft_json_root(doc);
}

static void teardown(void)
{
    ft_json_doc_free(doc);
    free(text);
}

TestSuite(stats, .init = setup, .fini = teardown);

/* --- reading the reference --- */

static const struct ft_json *section(const char *name)
{
    const struct ft_json *s = ft_json_get(doc, root, name);
    cr_assert(s != NULL, "reference.json has no section %s", name);
    cr_assert(eq(int, s->type, FT_JSON_ARRAY));
    return s;
}

static const struct ft_json *item(const struct ft_json *arr, unsigned i)
{
    const struct ft_json *e;
    unsigned k = 0;
    FT_JSON_EACH(e, arr)
    {
        if (k++ == i) return e;
    }
    cr_fatal("index %u past the end of an array of %u", i, arr->len);
    return NULL;
}

static const struct ft_json *field(const struct ft_json *obj, const char *key)
{
    const struct ft_json *v = ft_json_get(doc, obj, key);
    cr_assert(v != NULL, "missing key %s", key);
    return v;
}

static bool is_null(const struct ft_json *v)
{
    return v->type == FT_JSON_NULL;
}

/* A number, or "inf" / "-inf". */
static double num(const struct ft_json *v)
{
    double d;
    if (v->type == FT_JSON_STRING) {
        if (ft_json_str_eq(doc, v, "inf")) return INFINITY;
        if (ft_json_str_eq(doc, v, "-inf")) return -INFINITY;
    }
    cr_assert(ft_json_double(doc, v, &d), "not a number");
    return d;
}

static double at(const struct ft_json *row, unsigned i)
{
    return num(item(row, i));
}

static double key_num(const struct ft_json *obj, const char *key)
{
    return num(field(obj, key));
}

/* --- comparing --- */

struct family {
    const char *name;
    double tol;
    double worst;
    unsigned cases;
    char worst_at[160];
};

/*
 * Relative error of `got` against `want`, measured against max(|want|, floor); infinities and
 * zeros must match exactly (floor 0).
 */
static double rel_error(double got, double want, double floor)
{
    if (got == want) return 0;
    if (isinf(want) || isnan(got)) return INFINITY;
    double scale = fmax(fabs(want), floor);
    if (scale == 0) return INFINITY;
    return fabs(got - want) / scale;
}

static void check(struct family *f, double got, double want, double floor, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void check(struct family *f, double got, double want, double floor, const char *fmt, ...)
{
    double e = rel_error(got, want, floor);
    f->cases++;
    if (e <= f->worst && e <= f->tol) return;
    char where[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof(where), fmt, ap);
    va_end(ap);
    if (e > f->worst) {
        f->worst = e;
        snprintf(f->worst_at, sizeof(f->worst_at), "%s", where);
    }
    if (e <= f->tol) return;
    cr_fail("%s %s: got %.17g, want %.17g (relative error %.3g > %.0e)", f->name, where, got, want,
            e, f->tol);
}

static void report(const struct family *f)
{
    cr_log_info("%s: %u values, largest relative error %.2e (tolerance %.0e)%s%s", f->name,
                f->cases, f->worst, f->tol, f->worst > 0 ? " at " : "", f->worst_at);
    cr_assert(f->cases > 0, "%s: no reference values", f->name);
}

/* --- distributions against SciPy --- */

Test(stats, normal_matches_scipy)
{
    struct family f = {"normal cdf/sf/pdf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("normal"), *r;
    FT_JSON_EACH(r, rows)
    {
        double x = at(r, 0);
        check(&f, ft_stats_normal_cdf(x), at(r, 1), 0, "cdf(%g)", x);
        check(&f, ft_stats_normal_sf(x), at(r, 2), 0, "sf(%g)", x);
        check(&f, ft_stats_normal_pdf(x), at(r, 3), 0, "pdf(%g)", x);
    }
    report(&f);
}

Test(stats, normal_quantile_matches_scipy)
{
    struct family f = {"normal ppf/isf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("normal_quantile"), *r;
    FT_JSON_EACH(r, rows)
    {
        double p = at(r, 0), x, y;
        cr_assert(eq(int, ft_stats_normal_quantile(p, &x), FT_OK));
        cr_assert(eq(int, ft_stats_normal_isf(p, &y), FT_OK));
        check(&f, x, at(r, 1), 0, "ppf(%g)", p);
        check(&f, y, at(r, 2), 0, "isf(%g)", p);
    }
    report(&f);
}

Test(stats, t_matches_scipy)
{
    struct family f = {"t cdf/sf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("t"), *r;
    FT_JSON_EACH(r, rows)
    {
        double t = at(r, 0), df = at(r, 1), p, q;
        cr_assert(eq(int, ft_stats_t_cdf(t, df, &p), FT_OK));
        cr_assert(eq(int, ft_stats_t_sf(t, df, &q), FT_OK));
        check(&f, p, at(r, 2), 0, "cdf(%g; df %g)", t, df);
        check(&f, q, at(r, 3), 0, "sf(%g; df %g)", t, df);
    }
    report(&f);
}

Test(stats, t_quantile_matches_scipy)
{
    struct family f = {"t ppf/isf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("t_quantile"), *r;
    FT_JSON_EACH(r, rows)
    {
        double p = at(r, 0), df = at(r, 1), want = at(r, 2), t, u;
        cr_assert(eq(int, ft_stats_t_quantile(p, df, &t), FT_OK));
        check(&f, t, want, 0, "ppf(%g; df %g)", p, df);
        if (p <= 0.5) {
            /* isf(q) = -ppf(q); exact to check only where 1 - p is exact */
            cr_assert(eq(int, ft_stats_t_isf(p, df, &u), FT_OK));
            check(&f, u, -want, 0, "isf(%g; df %g)", p, df);
        }
    }
    report(&f);
}

Test(stats, chi2_matches_scipy)
{
    struct family f = {"chi2 cdf/sf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("chi2"), *r;
    FT_JSON_EACH(r, rows)
    {
        double x = at(r, 0), df = at(r, 1), p, q;
        cr_assert(eq(int, ft_stats_chi2_cdf(x, df, &p), FT_OK));
        cr_assert(eq(int, ft_stats_chi2_sf(x, df, &q), FT_OK));
        check(&f, p, at(r, 2), 0, "cdf(%g; df %g)", x, df);
        check(&f, q, at(r, 3), 0, "sf(%g; df %g)", x, df);
    }
    report(&f);
}

Test(stats, chi2_quantile_matches_scipy)
{
    struct family f = {"chi2 ppf/isf", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("chi2_quantile"), *r;
    FT_JSON_EACH(r, rows)
    {
        double p = at(r, 0), df = at(r, 1), x, y;
        cr_assert(eq(int, ft_stats_chi2_quantile(p, df, &x), FT_OK));
        cr_assert(eq(int, ft_stats_chi2_isf(p, df, &y), FT_OK));
        check(&f, x, at(r, 2), 0, "ppf(%g; df %g)", p, df);
        check(&f, y, at(r, 3), 0, "isf(%g; df %g)", p, df);
    }
    report(&f);
}

Test(stats, incomplete_gamma_matches_scipy)
{
    struct family f = {"gammainc/gammaincc", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("gamma_inc"), *r;
    FT_JSON_EACH(r, rows)
    {
        double a = at(r, 0), x = at(r, 1), p, q;
        cr_assert(eq(int, ft_stats_gamma_inc(a, x, &p, &q), FT_OK));
        check(&f, p, at(r, 2), 0, "P(%g, %g)", a, x);
        check(&f, q, at(r, 3), 0, "Q(%g, %g)", a, x);
    }
    report(&f);
}

Test(stats, incomplete_beta_matches_scipy)
{
    struct family f = {"betainc", DIST_TOL, 0, 0, ""};
    const struct ft_json *rows = section("beta_inc"), *r;
    FT_JSON_EACH(r, rows)
    {
        double a = at(r, 0), b = at(r, 1), x = at(r, 2), lower, upper;
        cr_assert(eq(int, ft_stats_beta_inc(a, b, x, &lower, &upper), FT_OK));
        check(&f, lower, at(r, 3), 0, "I_%g(%g, %g)", x, a, b);
        if (!is_null(item(r, 4))) check(&f, upper, at(r, 4), 0, "1 - I_%g(%g, %g)", x, a, b);
    }
    report(&f);
}

/* --- tests of two arms against SciPy --- */

static struct ft_stats_arm arm_from(const struct ft_json *sums_row)
{
    int64_t n;
    cr_assert(ft_json_int64(doc, item(sums_row, 0), &n));
    struct ft_stats_sums sums = {.n = n, .sum = at(sums_row, 1), .sum_sq = at(sums_row, 2)};
    struct ft_stats_arm arm;
    struct ft_stats_error err;
    cr_assert(eq(int, ft_stats_arm_summarize(&sums, &arm, &err), FT_OK), "%s", err.detail);
    return arm;
}

static const char *case_name(const struct ft_json *c)
{
    static char name[80];
    struct ft_str s = ft_json_str(doc, field(c, "name"));
    snprintf(name, sizeof(name), "%.*s", (int)s.len, s.ptr);
    return name;
}

static enum ft_stats_scale scale_of(int i)
{
    return i == 0 ? FT_STATS_ABSOLUTE : FT_STATS_RELATIVE;
}

static const char *const SCALES[] = {"absolute", "relative"};

Test(stats, arm_summary_matches_numpy)
{
    struct family f = {"arm mean/variance", ARM_TOL, 0, 0, ""};
    const struct ft_json *cases = section("arms"), *c;
    FT_JSON_EACH(c, cases)
    {
        const char *arms[] = {"control", "treatment"};
        for (unsigned i = 0; i < 2; i++) {
            struct ft_stats_arm arm = arm_from(field(c, arms[i]));
            const struct ft_json *want = item(field(c, "summary"), i);
            check(&f, arm.mean, at(want, 0), 0, "%s %s mean", case_name(c), arms[i]);
            check(&f, arm.variance, at(want, 1), 0, "%s %s variance", case_name(c), arms[i]);
        }
    }
    report(&f);
}

/* Estimates and interval ends are compared on the scale of the standard error. */
static void check_welch(struct family *f, const struct ft_json *c, const char *key, double alpha)
{
    struct ft_stats_arm control = arm_from(field(c, "control"));
    struct ft_stats_arm treatment = arm_from(field(c, "treatment"));
    for (int s = 0; s < 2; s++) {
        const struct ft_json *want = field(field(c, SCALES[s]), key);
        struct ft_stats_welch w;
        struct ft_stats_error err;
        int rc = ft_stats_welch_test(&control, &treatment, scale_of(s), alpha, &w, &err);
        cr_assert(eq(int, rc, FT_OK), "%s: %s", case_name(c), err.detail);
        double se = key_num(want, "std_error");
        const char *n = case_name(c);
        check(f, w.estimate, key_num(want, "estimate"), se, "%s %s estimate", n, SCALES[s]);
        check(f, w.std_error, se, 0, "%s %s std_error", n, SCALES[s]);
        check(f, w.statistic, key_num(want, "statistic"), 1, "%s %s statistic", n, SCALES[s]);
        check(f, w.df, key_num(want, "df"), 0, "%s %s df", n, SCALES[s]);
        check(f, w.p_value, key_num(want, "p_value"), 0, "%s %s p", n, SCALES[s]);
        check(f, w.ci_low, at(field(want, "ci"), 0), se, "%s %s ci low", n, SCALES[s]);
        check(f, w.ci_high, at(field(want, "ci"), 1), se, "%s %s ci high", n, SCALES[s]);
    }
}

Test(stats, welch_matches_scipy)
{
    struct family f = {"welch", ARM_TOL, 0, 0, ""};
    const struct ft_json *cases = section("arms"), *c;
    FT_JSON_EACH(c, cases)
    {
        check_welch(&f, c, "welch", 0.05);
        check_welch(&f, c, "welch_90", 0.10);
    }
    report(&f);
}

static void check_bayes(struct family *f, const struct ft_json *c, int s, const char *key,
                        const struct ft_stats_prior *prior)
{
    struct ft_stats_arm control = arm_from(field(c, "control"));
    struct ft_stats_arm treatment = arm_from(field(c, "treatment"));
    const struct ft_json *want = field(field(c, SCALES[s]), key);
    struct ft_stats_bayes b;
    struct ft_stats_error err;
    int rc = ft_stats_bayes_test(&control, &treatment, scale_of(s), prior, 0.05, &b, &err);
    cr_assert(eq(int, rc, FT_OK), "%s: %s", case_name(c), err.detail);
    double sd = key_num(want, "std_dev");
    const char *n = case_name(c);
    check(f, b.mean, key_num(want, "mean"), sd, "%s %s %s mean", n, SCALES[s], key);
    check(f, b.std_dev, sd, 0, "%s %s %s sd", n, SCALES[s], key);
    check(f, b.chance_to_beat, key_num(want, "chance_to_beat"), 0, "%s %s %s chance", n, SCALES[s],
          key);
    check(f, b.risk_control, key_num(want, "risk_control"), 0, "%s %s %s risk control", n,
          SCALES[s], key);
    check(f, b.risk_treatment, key_num(want, "risk_treatment"), 0, "%s %s %s risk treatment", n,
          SCALES[s], key);
    check(f, b.ci_low, at(field(want, "ci"), 0), sd, "%s %s %s ci low", n, SCALES[s], key);
    check(f, b.ci_high, at(field(want, "ci"), 1), sd, "%s %s %s ci high", n, SCALES[s], key);
}

Test(stats, bayes_matches_scipy)
{
    struct family f = {"bayes", ARM_TOL, 0, 0, ""};
    const struct ft_json *cases = section("arms"), *c;
    FT_JSON_EACH(c, cases)
    {
        check_bayes(&f, c, 0, "bayes", NULL);
        check_bayes(&f, c, 1, "bayes", NULL);
        const struct ft_json *with_prior = field(field(c, "absolute"), "bayes_prior");
        const struct ft_json *p = field(with_prior, "prior");
        struct ft_stats_prior prior = {.mean = at(p, 0), .variance = at(p, 1)};
        check_bayes(&f, c, 0, "bayes_prior", &prior);
    }
    report(&f);
}

static void check_sequential(struct family *f, const struct ft_json *c, const char *key,
                             double alpha, double tuning)
{
    struct ft_stats_arm control = arm_from(field(c, "control"));
    struct ft_stats_arm treatment = arm_from(field(c, "treatment"));
    for (int s = 0; s < 2; s++) {
        const struct ft_json *want = field(field(c, SCALES[s]), key);
        struct ft_stats_sequential q;
        struct ft_stats_error err;
        int rc =
            ft_stats_sequential_test(&control, &treatment, scale_of(s), alpha, tuning, &q, &err);
        cr_assert(eq(int, rc, FT_OK), "%s: %s", case_name(c), err.detail);
        double se = key_num(want, "std_error");
        const char *n = case_name(c);
        check(f, q.estimate, key_num(want, "estimate"), se, "%s %s estimate", n, SCALES[s]);
        check(f, q.std_error, se, 0, "%s %s se", n, SCALES[s]);
        check(f, q.p_value, key_num(want, "p_value"), 0, "%s %s %s p", n, SCALES[s], key);
        check(f, q.ci_low, at(field(want, "ci"), 0), se, "%s %s %s ci low", n, SCALES[s], key);
        check(f, q.ci_high, at(field(want, "ci"), 1), se, "%s %s %s ci high", n, SCALES[s], key);
    }
}

Test(stats, sequential_matches_growthbook_formulas)
{
    struct family f = {"sequential", ARM_TOL, 0, 0, ""};
    const struct ft_json *cases = section("arms"), *c;
    FT_JSON_EACH(c, cases)
    {
        check_sequential(&f, c, "sequential", 0.05, FT_STATS_SEQUENTIAL_TUNING);
        check_sequential(&f, c, "sequential_n1000", 0.10, 1000);
    }
    report(&f);
}

Test(stats, srm_matches_scipy)
{
    struct family f = {"srm", DIST_TOL, 0, 0, ""};
    const struct ft_json *cases = section("srm"), *c;
    FT_JSON_EACH(c, cases)
    {
        int64_t counts[8];
        double weights[8];
        const struct ft_json *cs = field(c, "counts"), *ws = field(c, "weights");
        size_t k = cs->len;
        cr_assert(k <= 8);
        for (unsigned i = 0; i < k; i++) {
            cr_assert(ft_json_int64(doc, item(cs, i), &counts[i]));
            weights[i] = at(ws, i);
        }
        struct ft_stats_srm srm;
        struct ft_stats_error err;
        cr_assert(eq(int, ft_stats_srm_test(counts, weights, k, &srm, &err), FT_OK), "%s",
                  err.detail);
        int64_t df;
        cr_assert(ft_json_int64(doc, field(c, "df"), &df));
        cr_expect(eq(int, srm.df, (int)df));
        check(&f, srm.statistic, key_num(c, "statistic"), 0, "statistic (%zu arms)", k);
        check(&f, srm.p_value, key_num(c, "p_value"), 0, "p (%zu arms)", k);
    }
    report(&f);
}

Test(stats, holm_matches_sorting_implementation)
{
    struct family f = {"holm", 0, 0, 0, ""};
    const struct ft_json *cases = section("holm"), *c;
    FT_JSON_EACH(c, cases)
    {
        double p[16], adjusted[16];
        const struct ft_json *ps = field(c, "p"), *want = field(c, "adjusted");
        size_t k = ps->len;
        cr_assert(k <= 16);
        for (unsigned i = 0; i < k; i++)
            p[i] = at(ps, i);
        cr_assert(eq(int, ft_stats_holm(p, k, adjusted), FT_OK));
        for (unsigned i = 0; i < k; i++)
            check(&f, adjusted[i], at(want, i), 0, "p[%u] of %zu", i, k);
    }
    report(&f);
}

/* --- distributions: edges, errors and identities --- */

Test(stats, distributions_reject_invalid_input)
{
    double out = 42;
    cr_expect(eq(int, ft_stats_t_cdf(1, 0, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_cdf(1, -3, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_cdf(NAN, 3, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_sf(1, NAN, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_quantile(1.5, 3, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_quantile(-0.1, 3, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_t_isf(NAN, 3, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_normal_quantile(NAN, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_normal_isf(2, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_chi2_cdf(1, 0, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_chi2_sf(1, INFINITY, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_chi2_sf(NAN, 2, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_chi2_quantile(0.5, -1, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_chi2_isf(1.01, 2, &out), FT_EINVAL));
    cr_expect(eq(int, ft_stats_gamma_inc(0, 1, &out, NULL), FT_EINVAL));
    cr_expect(eq(int, ft_stats_gamma_inc(1, -1, &out, NULL), FT_EINVAL));
    cr_expect(eq(int, ft_stats_beta_inc(1, 1, 1.5, &out, NULL), FT_EINVAL));
    cr_expect(eq(int, ft_stats_beta_inc(-1, 1, 0.5, NULL, &out), FT_EINVAL));
    cr_expect(eq(dbl, out, 42), "outputs are written only on success");
}

Test(stats, distribution_endpoints)
{
    double x;
    cr_assert(eq(int, ft_stats_normal_quantile(0, &x), FT_OK));
    cr_expect(eq(dbl, x, -INFINITY));
    cr_assert(eq(int, ft_stats_normal_isf(0, &x), FT_OK));
    cr_expect(eq(dbl, x, INFINITY));
    cr_assert(eq(int, ft_stats_t_quantile(1, 7, &x), FT_OK));
    cr_expect(eq(dbl, x, INFINITY));
    cr_assert(eq(int, ft_stats_t_quantile(0.5, 7, &x), FT_OK));
    cr_expect(eq(dbl, x, 0));
    cr_assert(eq(int, ft_stats_t_cdf(-INFINITY, 3, &x), FT_OK));
    cr_expect(eq(dbl, x, 0));
    cr_assert(eq(int, ft_stats_t_sf(0, 0.3, &x), FT_OK));
    cr_expect(eq(dbl, x, 0.5));
    cr_assert(eq(int, ft_stats_chi2_cdf(-1, 3, &x), FT_OK));
    cr_expect(eq(dbl, x, 0));
    cr_assert(eq(int, ft_stats_chi2_sf(INFINITY, 3, &x), FT_OK));
    cr_expect(eq(dbl, x, 0));
    cr_assert(eq(int, ft_stats_chi2_quantile(0, 3, &x), FT_OK));
    cr_expect(eq(dbl, x, 0));
    cr_assert(eq(int, ft_stats_chi2_isf(0, 3, &x), FT_OK));
    cr_expect(eq(dbl, x, INFINITY));
    /* A quantile beyond the largest double: with df = 0.05, P(T < -1e308) is about 1e-9. */
    cr_assert(eq(int, ft_stats_t_quantile(1e-30, 0.05, &x), FT_OK));
    cr_expect(eq(dbl, x, -INFINITY));
}

static void expect_close(double got, double want, double tol, const char *what)
{
    double e = rel_error(got, want, 0);
    cr_expect(e <= tol, "%s: got %.17g, want %.17g (relative error %.3g)", what, got, want, e);
}

/* Closed forms, independent of the incomplete beta code: df = 1 (Cauchy) and df = 2. */
Test(stats, t_closed_forms)
{
    static const double ts[] = {-1e12, -300, -7, -1, -0.01, 0.3, 2, 40, 1e8};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        double t = ts[i], p;
        char what[64];
        cr_assert(eq(int, ft_stats_t_cdf(t, 1, &p), FT_OK));
        /* Cauchy: lower tail atan(1/|t|)/π for t < 0 keeps its digits */
        double cauchy = t < 0 ? atan(-1 / t) / M_PI : 0.5 + atan(t) / M_PI;
        snprintf(what, sizeof(what), "Cauchy cdf(%g)", t);
        expect_close(p, cauchy, 1e-14, what);
        cr_assert(eq(int, ft_stats_t_cdf(t, 2, &p), FT_OK));
        /* 1/2 - |t|/(2s) with s = sqrt(2 + t²), written without cancellation for t < 0 */
        double s = sqrt(2 + t * t);
        double two = t < 0 ? 1 / (s * (s - t)) : 0.5 + t / (2 * s);
        snprintf(what, sizeof(what), "t2 cdf(%g)", t);
        expect_close(p, two, 1e-12, what);
    }
}

/*
 * The condition number |d log F / d log x| of a tail F at x, by a finite difference: how much
 * the rounding of x alone moves F.
 */
static double condition(double (*tail)(double x, double df), double x, double df)
{
    double h = 1e-6, f = tail(x, df);
    return fabs(log(tail(x * (1 + h), df)) - log(f)) / h;
}

static double t_lower(double x, double df)
{
    double p;
    cr_assert(eq(int, x < 0 ? ft_stats_t_cdf(x, df, &p) : ft_stats_t_sf(x, df, &p), FT_OK));
    return p;
}

static double chi2_lower(double x, double df)
{
    double p;
    cr_assert(eq(int, ft_stats_chi2_cdf(x, df, &p), FT_OK));
    return p;
}

static double chi2_upper(double x, double df)
{
    double p;
    cr_assert(eq(int, ft_stats_chi2_sf(x, df, &p), FT_OK));
    return p;
}

static double normal_tail(double x, double df)
{
    (void)df;
    return x < 0 ? ft_stats_normal_cdf(x) : ft_stats_normal_sf(x);
}

/* The tail at the quantile returns the probability, to the accuracy its conditioning allows. */
static void expect_inverse(double (*tail)(double x, double df), double x, double df, double p,
                           const char *what)
{
    double back = tail(x, df);
    if (x == 0 || isinf(x)) return; /* the quantile lies beyond the doubles */
    double tol = 5e-13 + 4e-16 * condition(tail, x, df);
    double e = rel_error(back, p, 0);
    cr_expect(e <= tol, "%s(%g; df %g): tail %.17g at x = %.17g (relative error %.3g > %.3g)", what,
              p, df, back, x, e, tol);
}

/* The quantile functions invert the cdfs, deep into the tails. */
Test(stats, quantiles_invert_the_cdfs)
{
    static const double ps[] = {1e-250, 1e-40, 1e-9, 0.003, 0.2, 0.49, 0.5001, 0.9, 0.99999};
    static const double dfs[] = {0.3, 1, 2, 3.7, 12, 80, 1500, 1e7, 1e14};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double p = ps[i], tail = p < 0.5 ? p : 1 - p, x;
        for (size_t j = 0; j < sizeof(dfs) / sizeof(dfs[0]); j++) {
            double df = dfs[j];
            cr_assert(eq(int, ft_stats_t_quantile(p, df, &x), FT_OK));
            if (!isinf(x)) /* beyond the doubles for the heaviest tails */
                expect_inverse(t_lower, x, df, tail, "t ppf");
            if (df > 1e7) continue; /* chi-square work grows with sqrt(df) */
            cr_assert(eq(int, ft_stats_chi2_quantile(p, df, &x), FT_OK));
            expect_inverse(p < 0.5 ? chi2_lower : chi2_upper, x, df, tail, "chi2 ppf");
        }
        cr_assert(eq(int, ft_stats_normal_quantile(p, &x), FT_OK));
        expect_inverse(normal_tail, x, 0, tail, "normal ppf");
    }
}

/* Large df: t tends to the normal, and the expansion for large a joins the fraction smoothly. */
Test(stats, t_large_df_tends_to_normal)
{
    double p;
    cr_assert(eq(int, ft_stats_t_sf(5, INFINITY, &p), FT_OK));
    cr_expect(eq(dbl, p, ft_stats_normal_sf(5)));
    cr_assert(eq(int, ft_stats_t_sf(5, 1e200, &p), FT_OK));
    expect_close(p, ft_stats_normal_sf(5), 1e-15, "t sf(5; df 1e200)");
    /* Across the switch of method at df = 2000 the tail moves only by its slope in df
     * (d log sf / d df is about 4e-4 here, so 4e-9 in df moves it by 2e-12). */
    double below, above;
    cr_assert(eq(int, ft_stats_t_sf(9, 2000 - 2e-9, &below), FT_OK));
    cr_assert(eq(int, ft_stats_t_sf(9, 2000 + 2e-9, &above), FT_OK));
    expect_close(above, below, 1e-11, "t sf(9) across df = 2000");
}

/*
 * Chi-square with huge df, beyond SciPy's accuracy: for df = 1e30 the standardized statistic
 * is normal to within about 1e-14 (skewness sqrt(8/df)); across the switch to Temme's expansion
 * at a = df/2 = 1e10 the tails move only by their slope in df.
 */
Test(stats, chi2_large_df)
{
    static const double zs[] = {-8, -3, -0.5, 0, 1, 4, 9};
    for (size_t i = 0; i < sizeof(zs) / sizeof(zs[0]); i++) {
        double df = 1e30, x = df + zs[i] * sqrt(2 * df), p, q;
        double z = (x - df) / sqrt(2 * df); /* the z that x holds after rounding */
        cr_assert(eq(int, ft_stats_chi2_cdf(x, df, &p), FT_OK));
        cr_assert(eq(int, ft_stats_chi2_sf(x, df, &q), FT_OK));
        expect_close(p, ft_stats_normal_cdf(z), 1e-12, "chi2 cdf, df 1e30");
        expect_close(q, ft_stats_normal_sf(z), 1e-12, "chi2 sf, df 1e30");

        /* one ulp of df moves z by 4e-6/2e5 and a tail by about |z| times that, relatively;
         * a wrong term of Temme's expansion would move it by 1/sqrt(a) = 1e-5 */
        double series = nextafter(2e10, 0), temme = 2e10, below, above;
        double tol = 1e-12 + 2 * (fabs(zs[i]) + 1) * (temme - series) / sqrt(4e10);
        x = 2e10 + zs[i] * sqrt(4e10);
        cr_assert(eq(int, ft_stats_chi2_sf(x, series, &below), FT_OK));
        cr_assert(eq(int, ft_stats_chi2_sf(x, temme, &above), FT_OK));
        expect_close(above, below, tol, "chi2 sf across df = 2e10");
        cr_assert(eq(int, ft_stats_chi2_cdf(x, series, &below), FT_OK));
        cr_assert(eq(int, ft_stats_chi2_cdf(x, temme, &above), FT_OK));
        expect_close(above, below, tol, "chi2 cdf across df = 2e10");
    }
}

/* No NaN and no value outside [0, 1] anywhere on a grid of extreme arguments. */
Test(stats, distributions_stay_finite_on_extreme_arguments)
{
    static const double dfs[] = {1e-300, 1e-10, 0.5, 3, 1e5, 1e10, 3e10, 1e99, 1e101, 1e300};
    static const double xs[] = {0, 1e-300, 1e-10, 1, 40, 1e10, 1e150, 1e300, INFINITY};
    static const double ps[] = {5e-324, 1e-300, 1e-10, 0.5, 0.9, 1 - 1e-16};
    for (size_t i = 0; i < sizeof(dfs) / sizeof(dfs[0]); i++) {
        double df = dfs[i], v;
        for (size_t j = 0; j < sizeof(xs) / sizeof(xs[0]); j++) {
            double x = xs[j];
            cr_assert(eq(int, ft_stats_t_cdf(-x, df, &v), FT_OK));
            cr_expect(v >= 0 && v <= 0.5, "t cdf(%g; df %g) = %g", -x, df, v);
            cr_assert(eq(int, ft_stats_chi2_cdf(x, df, &v), FT_OK));
            cr_expect(v >= 0 && v <= 1, "chi2 cdf(%g; df %g) = %g", x, df, v);
            cr_assert(eq(int, ft_stats_chi2_sf(x, df, &v), FT_OK));
            cr_expect(v >= 0 && v <= 1, "chi2 sf(%g; df %g) = %g", x, df, v);
        }
        double previous = -INFINITY;
        for (size_t j = 0; j < sizeof(ps) / sizeof(ps[0]); j++) {
            cr_assert(eq(int, ft_stats_t_quantile(ps[j], df, &v), FT_OK));
            cr_expect(v >= previous, "t ppf(%g; df %g) = %g is not increasing", ps[j], df, v);
            previous = v;
            cr_assert(eq(int, ft_stats_chi2_isf(ps[j], df, &v), FT_OK));
            cr_expect(v >= 0, "chi2 isf(%g; df %g) = %g", ps[j], df, v);
        }
    }
}

Test(stats, gamma_and_beta_special_values)
{
    double p, q;
    /* P(1, x) = 1 - e^-x; Q(1/2, x) = erfc(sqrt(x)) */
    cr_assert(eq(int, ft_stats_gamma_inc(1, 1e-10, &p, &q), FT_OK));
    expect_close(p, -expm1(-1e-10), 1e-14, "P(1, 1e-10)");
    cr_assert(eq(int, ft_stats_gamma_inc(0.5, 400, &p, &q), FT_OK));
    expect_close(q, erfc(20), 1e-13, "Q(1/2, 400)");
    /* Q for small a, where 1 - P would keep no digit: Q(a, x) ≈ a E1(x) */
    cr_assert(eq(int, ft_stats_gamma_inc(1e-12, 1, &p, &q), FT_OK));
    expect_close(q, 1e-12 * 0.21938393439552027, 1e-9, "Q(1e-12, 1)");
    /* I_x(1, b) = 1 - (1 - x)^b; I_x(a, 1) = x^a */
    cr_assert(eq(int, ft_stats_beta_inc(1, 3.5, 0.25, &p, &q), FT_OK));
    expect_close(q, pow(0.75, 3.5), 1e-14, "1 - I(1, 3.5)");
    cr_assert(eq(int, ft_stats_beta_inc(7.25, 1, 0.1, &p, &q), FT_OK));
    expect_close(p, pow(0.1, 7.25), 1e-13, "I(7.25, 1)");
    cr_assert(eq(int, ft_stats_beta_inc(2, 3, 0, &p, &q), FT_OK));
    cr_expect(eq(dbl, p, 0));
    cr_expect(eq(dbl, q, 1));
}

/* --- arms, warnings and the tests: edges and errors --- */

static struct ft_stats_arm arm(int64_t n, double mean, double variance)
{
    return (struct ft_stats_arm){.n = n, .mean = mean, .variance = variance};
}

Test(stats, summarize_edges)
{
    struct ft_stats_arm a;
    struct ft_stats_error err;
    struct ft_stats_sums empty = {0, 0, 0};
    cr_assert(eq(int, ft_stats_arm_summarize(&empty, &a, &err), FT_OK));
    cr_expect(eq(i64, a.n, 0));
    cr_expect(eq(dbl, a.mean, 0));
    cr_expect(eq(dbl, a.variance, 0));

    struct ft_stats_sums one = {1, 3.5, 12.25};
    cr_assert(eq(int, ft_stats_arm_summarize(&one, &a, &err), FT_OK));
    cr_expect(eq(dbl, a.mean, 3.5));
    cr_expect(eq(dbl, a.variance, 0), "n = 1 has no sample variance");

    /* 1000 units of 0.1: the sums round, the variance must not come out negative */
    struct ft_stats_sums constant = {1000, 0.1 * 1000, 0.01 * 1000 * (1 + 1e-15)};
    cr_assert(eq(int, ft_stats_arm_summarize(&constant, &a, &err), FT_OK));
    cr_expect(a.variance >= 0);
    cr_expect(a.variance < 1e-15);

    struct ft_stats_sums conversions = {200, 30, 30};
    cr_assert(eq(int, ft_stats_arm_summarize(&conversions, &a, &err), FT_OK));
    expect_close(a.variance, 0.15 * 0.85 * 200 / 199, 1e-15, "Bernoulli sample variance");

    struct ft_stats_sums negative = {-1, 0, 0};
    cr_expect(eq(int, ft_stats_arm_summarize(&negative, &a, &err), FT_EINVAL));
    cr_expect(strstr(err.detail, "negative") != NULL, "%s", err.detail);
    struct ft_stats_sums impossible = {10, 10, 5}; /* Σx² < (Σx)²/n */
    cr_expect(eq(int, ft_stats_arm_summarize(&impossible, &a, &err), FT_EINVAL));
    struct ft_stats_sums nan = {10, NAN, 5};
    cr_expect(eq(int, ft_stats_arm_summarize(&nan, &a, &err), FT_EINVAL));
    struct ft_stats_sums ghost = {0, 1, 1};
    cr_expect(eq(int, ft_stats_arm_summarize(&ghost, &a, NULL), FT_EINVAL));
}

Test(stats, warnings_follow_the_documented_minimums)
{
    struct ft_stats_arm small = arm(FT_STATS_MIN_UNITS - 1, 0.5, 0.25);
    cr_expect(has_bit(ft_stats_arm_warnings(&small, false), FT_STATS_WARN_FEW_UNITS));
    struct ft_stats_arm enough = arm(FT_STATS_MIN_UNITS, 0.5, 0.25);
    cr_expect(eq(u32, ft_stats_arm_warnings(&enough, false), 0));
    /* 1000 units, 9 conversions: too few successes */
    struct ft_stats_arm rare = arm(1000, 0.009, 0.009);
    cr_expect(has_bit(ft_stats_arm_warnings(&rare, true), FT_STATS_WARN_FEW_CONVERSIONS));
    cr_expect(eq(u32, ft_stats_arm_warnings(&rare, false), 0), "only conversion metrics");
    struct ft_stats_arm ten = arm(1000, 0.010, 0.0099);
    cr_expect(eq(u32, ft_stats_arm_warnings(&ten, true), 0));
    /* 995 of 1000 converted: too few failures */
    struct ft_stats_arm common = arm(1000, 0.995, 0.005);
    cr_expect(has_bit(ft_stats_arm_warnings(&common, true), FT_STATS_WARN_FEW_CONVERSIONS));
    struct ft_stats_arm flat = arm(500, 2, 0);
    cr_expect(has_bit(ft_stats_arm_warnings(&flat, false), FT_STATS_WARN_NO_VARIANCE));
}

Test(stats, tests_reject_undefined_statistics)
{
    struct ft_stats_arm good = arm(100, 1, 2), tiny = arm(1, 1, 0), flat = arm(100, 1, 0);
    struct ft_stats_arm zero_mean = arm(100, 0, 2);
    struct ft_stats_welch w;
    struct ft_stats_bayes b;
    struct ft_stats_sequential s;
    struct ft_stats_error err;

    cr_expect(
        eq(int, ft_stats_welch_test(&tiny, &good, FT_STATS_ABSOLUTE, 0.05, &w, &err), FT_EINVAL));
    cr_expect(strstr(err.detail, "control: n = 1") != NULL, "%s", err.detail);
    cr_expect(
        eq(int, ft_stats_welch_test(&good, &tiny, FT_STATS_ABSOLUTE, 0.05, &w, &err), FT_EINVAL));
    cr_expect(strstr(err.detail, "treatment") != NULL, "%s", err.detail);
    cr_expect(
        eq(int, ft_stats_welch_test(&flat, &flat, FT_STATS_ABSOLUTE, 0.05, &w, &err), FT_EINVAL));
    cr_expect(strstr(err.detail, "neither arm varies") != NULL, "%s", err.detail);
    cr_expect(eq(int, ft_stats_welch_test(&zero_mean, &good, FT_STATS_RELATIVE, 0.05, &w, &err),
                 FT_EINVAL));
    cr_expect(strstr(err.detail, "control mean is 0") != NULL, "%s", err.detail);
    cr_expect(
        eq(int, ft_stats_welch_test(&good, &good, FT_STATS_ABSOLUTE, 0, &w, NULL), FT_EINVAL));
    cr_expect(
        eq(int, ft_stats_welch_test(&good, &good, FT_STATS_ABSOLUTE, 1, &w, NULL), FT_EINVAL));
    cr_expect(eq(int, ft_stats_welch_test(&good, &good, (enum ft_stats_scale)7, 0.05, &w, NULL),
                 FT_EINVAL));
    struct ft_stats_arm huge = arm(100, 1e308, 1e308), negative = arm(100, -1e308, 1e308);
    cr_expect(eq(int, ft_stats_welch_test(&huge, &negative, FT_STATS_ABSOLUTE, 0.05, &w, &err),
                 FT_EINVAL));
    cr_expect(strstr(err.detail, "too large") != NULL, "%s", err.detail);
    /* one flat arm is fine: the other carries the variance and df = n - 1 */
    cr_assert(eq(int, ft_stats_welch_test(&flat, &good, FT_STATS_ABSOLUTE, 0.05, &w, NULL), FT_OK));
    expect_close(w.df, 99, 1e-15, "df with one flat arm");

    struct ft_stats_prior bad_prior = {0, 0};
    cr_expect(eq(int,
                 ft_stats_bayes_test(&good, &good, FT_STATS_ABSOLUTE, &bad_prior, 0.05, &b, &err),
                 FT_EINVAL));
    cr_expect(eq(int, ft_stats_bayes_test(&tiny, &good, FT_STATS_ABSOLUTE, NULL, 0.05, &b, &err),
                 FT_EINVAL));
    cr_expect(eq(int, ft_stats_sequential_test(&good, &good, FT_STATS_ABSOLUTE, 0.05, 0, &s, &err),
                 FT_EINVAL));
    cr_expect(eq(int,
                 ft_stats_sequential_test(&good, &good, FT_STATS_RELATIVE, 0.05, NAN, &s, &err),
                 FT_EINVAL));
    cr_expect(eq(
        int, ft_stats_sequential_test(&zero_mean, &good, FT_STATS_RELATIVE, 0.05, 5000, &s, &err),
        FT_EINVAL));
}

Test(stats, identical_arms_show_no_effect)
{
    struct ft_stats_arm a = arm(5000, 0.12, 0.1056);
    struct ft_stats_welch w;
    struct ft_stats_bayes b;
    struct ft_stats_sequential s;
    cr_assert(eq(int, ft_stats_welch_test(&a, &a, FT_STATS_RELATIVE, 0.05, &w, NULL), FT_OK));
    cr_expect(eq(dbl, w.estimate, 0));
    cr_expect(eq(dbl, w.p_value, 1));
    cr_expect(eq(dbl, w.ci_low, -w.ci_high));
    cr_assert(eq(int, ft_stats_bayes_test(&a, &a, FT_STATS_ABSOLUTE, NULL, 0.05, &b, NULL), FT_OK));
    cr_expect(eq(dbl, b.chance_to_beat, 0.5));
    cr_expect(eq(dbl, b.risk_control, b.risk_treatment));
    cr_assert(
        eq(int, ft_stats_sequential_test(&a, &a, FT_STATS_ABSOLUTE, 0.05, 5000, &s, NULL), FT_OK));
    cr_expect(eq(dbl, s.p_value, 1));
}

/*
 * E[max(X, 0)] - E[max(-X, 0)] = E[X] for any X, and deep in the tail
 * E[max(X, 0)] = σ φ(z)(1/z² - 3/z⁴ + 15/z⁶ - 105/z⁸ + 945/z¹⁰ - ...) with z = |mean|/σ.
 */
Test(stats, bayes_risk_identities)
{
    struct ft_stats_arm control = arm(1000, 10, 1000 * 4);
    for (double m = 10 - 8; m <= 10 + 8; m += 0.5) {
        struct ft_stats_arm treatment = arm(1000, m, 1000 * 4);
        struct ft_stats_bayes b;
        cr_assert(eq(
            int, ft_stats_bayes_test(&control, &treatment, FT_STATS_ABSOLUTE, NULL, 0.05, &b, NULL),
            FT_OK));
        double scale = fmax(fabs(b.mean), b.std_dev);
        cr_expect(fabs(b.risk_control - b.risk_treatment - b.mean) <= 1e-14 * scale,
                  "risk difference %.17g, mean %.17g", b.risk_control - b.risk_treatment, b.mean);
        cr_expect(b.risk_control >= 0);
        cr_expect(b.risk_treatment >= 0);
    }
    /* z = -40: a 1e-350-size risk would underflow; z = -30 keeps it at about 1e-199 */
    struct ft_stats_arm treatment = arm(1000, 10 - 30 * sqrt(8), 1000 * 4);
    struct ft_stats_bayes b;
    cr_assert(eq(int,
                 ft_stats_bayes_test(&control, &treatment, FT_STATS_ABSOLUTE, NULL, 0.05, &b, NULL),
                 FT_OK));
    double z = -b.mean / b.std_dev, z2 = z * z;
    double series =
        1 / z2 * (1 - 3 / z2 * (1 - 5 / z2 * (1 - 7 / z2 * (1 - 9 / z2 * (1 - 11 / z2)))));
    expect_close(b.risk_control, b.std_dev * ft_stats_normal_pdf(z) * series, 1e-11,
                 "risk deep in the tail");
    expect_close(b.chance_to_beat, ft_stats_normal_sf(z), 1e-15, "chance deep in the tail");
}

/* The mSPRT interval excludes 0 exactly when its p-value is below alpha. */
Test(stats, sequential_interval_and_p_value_agree)
{
    struct ft_stats_arm control = arm(20000, 0.10, 0.09);
    for (double lift = -0.01; lift <= 0.01; lift += 0.0005) {
        struct ft_stats_arm treatment = arm(20000, 0.10 + lift, 0.09);
        struct ft_stats_sequential s;
        cr_assert(eq(int,
                     ft_stats_sequential_test(&control, &treatment, FT_STATS_ABSOLUTE, 0.05,
                                              FT_STATS_SEQUENTIAL_TUNING, &s, NULL),
                     FT_OK));
        bool excludes = s.ci_low > 0 || s.ci_high < 0;
        cr_expect(eq(int, excludes, s.p_value < 0.05), "lift %g: ci [%g, %g], p %g", lift, s.ci_low,
                  s.ci_high, s.p_value);
        /* always wider than the fixed-horizon interval */
        struct ft_stats_welch w;
        cr_assert(eq(int,
                     ft_stats_welch_test(&control, &treatment, FT_STATS_ABSOLUTE, 0.05, &w, NULL),
                     FT_OK));
        cr_expect(s.ci_high - s.ci_low > w.ci_high - w.ci_low);
        cr_expect(s.p_value >= w.p_value);
    }
}

Test(stats, srm_edges)
{
    struct ft_stats_srm srm;
    struct ft_stats_error err;
    int64_t counts[] = {400, 7, 600};
    double weights[] = {0.4, 0, 0.6};
    cr_assert(eq(int, ft_stats_srm_test(counts, weights, 3, &srm, &err), FT_OK));
    cr_expect(eq(dbl, srm.statistic, INFINITY), "units in an arm that expects none");
    cr_expect(eq(dbl, srm.p_value, 0));
    cr_expect(eq(int, srm.df, 1));

    int64_t few[] = {3, 4};
    double half[] = {0.5, 0.5};
    cr_assert(eq(int, ft_stats_srm_test(few, half, 2, &srm, &err), FT_OK));
    cr_expect(has_bit(srm.warnings, FT_STATS_WARN_FEW_EXPECTED));
    int64_t many[] = {300, 320};
    cr_assert(eq(int, ft_stats_srm_test(many, half, 2, &srm, &err), FT_OK));
    cr_expect(eq(u32, srm.warnings, 0));

    int64_t none[] = {0, 0};
    cr_expect(eq(int, ft_stats_srm_test(none, half, 2, &srm, &err), FT_EINVAL));
    cr_expect(strstr(err.detail, "no units") != NULL, "%s", err.detail);
    double one_arm[] = {1, 0};
    cr_expect(eq(int, ft_stats_srm_test(many, one_arm, 2, &srm, &err), FT_EINVAL));
    double negative[] = {0.5, -0.5};
    cr_expect(eq(int, ft_stats_srm_test(many, negative, 2, &srm, &err), FT_EINVAL));
    int64_t minus[] = {5, -5};
    cr_expect(eq(int, ft_stats_srm_test(minus, half, 2, &srm, &err), FT_EINVAL));
    cr_expect(eq(int, ft_stats_srm_test(many, half, 0, &srm, NULL), FT_EINVAL));
}

Test(stats, holm_edges)
{
    double adjusted[3] = {7, 7, 7};
    cr_expect(eq(int, ft_stats_holm(NULL, 0, adjusted), FT_OK));
    cr_expect(eq(dbl, adjusted[0], 7));
    double bad[] = {0.1, 1.2};
    cr_expect(eq(int, ft_stats_holm(bad, 2, adjusted), FT_EINVAL));
    double nan[] = {NAN};
    cr_expect(eq(int, ft_stats_holm(nan, 1, adjusted), FT_EINVAL));
    double one[] = {0.03};
    cr_assert(eq(int, ft_stats_holm(one, 1, adjusted), FT_OK));
    cr_expect(eq(dbl, adjusted[0], 0.03), "a single p-value stays");
}
