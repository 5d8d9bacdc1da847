/*
 * Experiment statistics from per-arm aggregates: arm summaries, Welch's t-test on absolute
 * and relative lift, the Bayesian normal approximation (chance to beat control, risk), the
 * mixture SPRT for always-valid sequential inference, the sample-ratio-mismatch chi-square
 * test, Holm's correction and minimum-sample warnings. The formulas follow GrowthBook's gbstats
 * so that numbers agree with what data teams already know; docs/ARCHITECTURE.md
 * ("Statistics") gives them with their references. The distributions come from
 * distributions.c.
 */
#include "analyse/stats.h"

#include "flagtrail/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(struct ft_stats_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes the detail line (when `err` is given) and returns FT_EINVAL. */
static int fail(struct ft_stats_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
        va_end(ap);
    }
    return FT_EINVAL;
}

static bool valid_alpha(double alpha)
{
    return alpha > 0 && alpha < 1; /* false for NaN */
}

/* --- arms --- */

/* How far Σx² may fall below (Σx)²/n, relative to Σx², before the sums are rejected. */
#define SUMS_TOLERANCE 1e-6

int ft_stats_arm_summarize(const struct ft_stats_sums *sums, struct ft_stats_arm *arm,
                           struct ft_stats_error *err)
{
    if (sums->n < 0) return fail(err, "n = %lld is negative", (long long)sums->n);
    if (!isfinite(sums->sum) || !isfinite(sums->sum_sq))
        return fail(err, "the sums are not finite numbers");
    if (sums->sum_sq < 0) return fail(err, "sum of squares %g is negative", sums->sum_sq);
    if (sums->n == 0) {
        if (sums->sum != 0 || sums->sum_sq != 0)
            return fail(err, "an arm without units has nonzero sums");
        *arm = (struct ft_stats_arm){.n = 0, .mean = 0, .variance = 0};
        return FT_OK;
    }
    double n = (double)sums->n;
    double mean = sums->sum / n;
    double numerator = sums->sum_sq - sums->sum * mean; /* Σ(x - mean)² */
    if (numerator < -SUMS_TOLERANCE * sums->sum_sq)
        return fail(err, "sum of squares %g is below (sum)^2/n = %g: no data has these sums",
                    sums->sum_sq, sums->sum * mean);
    *arm = (struct ft_stats_arm){
        .n = sums->n,
        .mean = mean,
        .variance = sums->n >= 2 && numerator > 0 ? numerator / (n - 1) : 0,
    };
    return FT_OK;
}

unsigned ft_stats_arm_warnings(const struct ft_stats_arm *arm, bool conversion)
{
    unsigned warnings = 0;
    if (arm->n < FT_STATS_MIN_UNITS) warnings |= FT_STATS_WARN_FEW_UNITS;
    if (arm->n >= 2 && arm->variance == 0) warnings |= FT_STATS_WARN_NO_VARIANCE;
    if (conversion) {
        double successes = round((double)arm->n * arm->mean);
        double failures = (double)arm->n - successes;
        if (successes < FT_STATS_MIN_CONVERSIONS || failures < FT_STATS_MIN_CONVERSIONS)
            warnings |= FT_STATS_WARN_FEW_CONVERSIONS;
    }
    return warnings;
}

/* --- the effect of treatment against control --- */

struct effect {
    double estimate;
    double variance; /* of the estimate: the squared standard error */
    double df;       /* Welch–Satterthwaite */
};

static int check_arm(const char *name, const struct ft_stats_arm *arm, struct ft_stats_error *err)
{
    if (arm->n < 2) return fail(err, "%s: n = %lld, need at least 2", name, (long long)arm->n);
    if (!isfinite(arm->mean) || !(arm->variance >= 0 && arm->variance < INFINITY))
        return fail(err, "%s: mean or variance is not a finite number", name);
    return FT_OK;
}

/*
 * The estimate, its variance and the Welch–Satterthwaite df. With v_c = s_c²/n_c and
 * v_t = s_t²/n_t: absolute Var = v_c + v_t; relative (delta method, independent arms)
 * Var = (v_t + v_c (m_t/m_c)²) / m_c²; df = (v_c + v_t)² / (v_c²/(n_c-1) + v_t²/(n_t-1))
 * on both scales, as gbstats does.
 */
static int estimate_effect(const struct ft_stats_arm *control, const struct ft_stats_arm *treatment,
                           enum ft_stats_scale scale, struct effect *out,
                           struct ft_stats_error *err)
{
    int rc = check_arm("control", control, err);
    if (rc == FT_OK) rc = check_arm("treatment", treatment, err);
    if (rc != FT_OK) return rc;
    if (scale != FT_STATS_ABSOLUTE && scale != FT_STATS_RELATIVE)
        return fail(err, "unknown scale %d", (int)scale);

    double nc = (double)control->n, nt = (double)treatment->n;
    double vc = control->variance / nc, vt = treatment->variance / nt;
    double v = vc + vt;
    if (v == 0) return fail(err, "neither arm varies (every unit has the same value)");
    if (!(v < INFINITY)) return fail(err, "the variances are too large to combine");
    double wc = vc / v, wt = vt / v;
    out->df = 1 / (wc * wc / (nc - 1) + wt * wt / (nt - 1));

    double mc = control->mean, mt = treatment->mean;
    if (scale == FT_STATS_ABSOLUTE) {
        out->estimate = mt - mc;
        out->variance = v;
        if (!isfinite(out->estimate)) return fail(err, "the means are too large to compare");
        return FT_OK;
    }
    if (mc == 0) return fail(err, "the control mean is 0, so a relative lift is undefined");
    double ratio = mt / mc;
    out->estimate = (mt - mc) / mc;
    out->variance = (vt + vc * ratio * ratio) / (mc * mc);
    if (!(out->variance > 0 && out->variance < INFINITY) || !isfinite(out->estimate))
        return fail(err, "the relative lift has no usable standard error");
    return FT_OK;
}

int ft_stats_welch_test(const struct ft_stats_arm *control, const struct ft_stats_arm *treatment,
                        enum ft_stats_scale scale, double alpha, struct ft_stats_welch *out,
                        struct ft_stats_error *err)
{
    if (!valid_alpha(alpha)) return fail(err, "alpha %g is not in (0, 1)", alpha);
    struct effect e;
    int rc = estimate_effect(control, treatment, scale, &e, err);
    if (rc != FT_OK) return rc;

    double se = sqrt(e.variance), statistic = e.estimate / se, tail, critical;
    ft_stats_t_sf(fabs(statistic), e.df, &tail);
    ft_stats_t_isf(0.5 * alpha, e.df, &critical);
    *out = (struct ft_stats_welch){
        .estimate = e.estimate,
        .std_error = se,
        .statistic = statistic,
        .df = e.df,
        .p_value = fmin(1, 2 * tail),
        .ci_low = e.estimate - critical * se,
        .ci_high = e.estimate + critical * se,
    };
    return FT_OK;
}

/* --- Bayesian normal approximation --- */

/*
 * E[max(Z + z, 0)] for a standard normal Z, that is z Φ(z) + φ(z). For z < -2 the two terms
 * cancel; there it is φ(x) c / (x + c) with x = -z and c from Laplace's continued fraction of
 * the Mills ratio, Q(x)/φ(x) = 1/(x + c), c = 1/(x + 2/(x + 3/(x + ...))).
 */
static double normal_partial_mean(double z)
{
    if (z >= -2) return z * ft_stats_normal_cdf(z) + ft_stats_normal_pdf(z);
    double x = -z, c = 0;
    for (int k = 300; k >= 1; k--)
        c = k / (x + c);
    return ft_stats_normal_pdf(x) * c / (x + c);
}

int ft_stats_bayes_test(const struct ft_stats_arm *control, const struct ft_stats_arm *treatment,
                        enum ft_stats_scale scale, const struct ft_stats_prior *prior, double alpha,
                        struct ft_stats_bayes *out, struct ft_stats_error *err)
{
    if (!valid_alpha(alpha)) return fail(err, "alpha %g is not in (0, 1)", alpha);
    if (prior && !(isfinite(prior->mean) && prior->variance > 0 && prior->variance < INFINITY))
        return fail(err, "the prior needs a finite mean and a positive variance");
    struct effect e;
    int rc = estimate_effect(control, treatment, scale, &e, err);
    if (rc != FT_OK) return rc;

    double mean = e.estimate, variance = e.variance;
    if (prior) {
        double precision = 1 / e.variance + 1 / prior->variance;
        mean = (e.estimate / e.variance + prior->mean / prior->variance) / precision;
        variance = 1 / precision;
    }
    double sd = sqrt(variance), z = mean / sd, critical;
    ft_stats_normal_isf(0.5 * alpha, &critical);
    *out = (struct ft_stats_bayes){
        .mean = mean,
        .std_dev = sd,
        .chance_to_beat = ft_stats_normal_cdf(z),
        .risk_control = sd * normal_partial_mean(z),
        .risk_treatment = sd * normal_partial_mean(-z),
        .ci_low = mean - critical * sd,
        .ci_high = mean + critical * sd,
    };
    return FT_OK;
}

/* --- mixture SPRT --- */

int ft_stats_sequential_test(const struct ft_stats_arm *control,
                             const struct ft_stats_arm *treatment, enum ft_stats_scale scale,
                             double alpha, double tuning, struct ft_stats_sequential *out,
                             struct ft_stats_error *err)
{
    if (!valid_alpha(alpha)) return fail(err, "alpha %g is not in (0, 1)", alpha);
    if (!(tuning > 0 && tuning < INFINITY))
        return fail(err, "the tuning parameter %g is not a positive number", tuning);
    struct effect e;
    int rc = estimate_effect(control, treatment, scale, &e, err);
    if (rc != FT_OK) return rc;

    double log_alpha = log(alpha);
    double rho2 = (-2 * log_alpha + log1p(-2 * log_alpha)) / tuning;
    double n = (double)control->n + (double)treatment->n;
    double n_rho2 = n * rho2 + 1;
    /* σ² = N se²: halfwidth² = σ² 2 (Nρ² + 1) ln(sqrt(Nρ² + 1)/α) / (Nρ)² */
    double halfwidth = sqrt(e.variance * 2 * n_rho2 * (0.5 * log(n_rho2) - log_alpha) / (n * rho2));
    double log_evalue =
        rho2 * n * e.estimate * e.estimate / (2 * e.variance * n_rho2) - 0.5 * log(n_rho2);
    *out = (struct ft_stats_sequential){
        .estimate = e.estimate,
        .std_error = sqrt(e.variance),
        .p_value = log_evalue <= 0 ? 1 : exp(-log_evalue),
        .ci_low = e.estimate - halfwidth,
        .ci_high = e.estimate + halfwidth,
    };
    return FT_OK;
}

/* --- sample ratio mismatch --- */

int ft_stats_srm_test(const int64_t *counts, const double *weights, size_t k,
                      struct ft_stats_srm *out, struct ft_stats_error *err)
{
    double total = 0, weight_sum = 0;
    int positive = 0;
    for (size_t i = 0; i < k; i++) {
        if (counts[i] < 0)
            return fail(err, "arm %zu: count %lld is negative", i, (long long)counts[i]);
        if (!(weights[i] >= 0 && weights[i] < INFINITY))
            return fail(err, "arm %zu: weight %g is not a finite number >= 0", i, weights[i]);
        total += (double)counts[i];
        weight_sum += weights[i];
        positive += weights[i] > 0;
    }
    if (positive < 2) return fail(err, "fewer than two arms have a positive weight");
    if (total == 0) return fail(err, "no units were observed");

    double statistic = 0;
    unsigned warnings = 0;
    for (size_t i = 0; i < k; i++) {
        double observed = (double)counts[i];
        if (weights[i] == 0) {
            if (observed > 0) statistic = INFINITY;
            continue;
        }
        double expected = weights[i] / weight_sum * total;
        if (expected < FT_STATS_MIN_EXPECTED) warnings |= FT_STATS_WARN_FEW_EXPECTED;
        double d = observed - expected;
        statistic += d * d / expected;
    }
    double p = 0;
    if (statistic < INFINITY) ft_stats_chi2_sf(statistic, positive - 1, &p);
    *out = (struct ft_stats_srm){
        .statistic = statistic,
        .df = positive - 1,
        .p_value = p,
        .warnings = warnings,
    };
    return FT_OK;
}

/* --- Holm --- */

int ft_stats_holm(const double *p, size_t k, double *adjusted)
{
    for (size_t i = 0; i < k; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) return FT_EINVAL;
    /*
     * Without sorting: p_j has rank r_j = 1 + #{l : p_l < p_j} (ties take the lowest rank),
     * and the step-down value of p_i is the largest of v_j = min(1, (k - r_j + 1) p_j) over
     * p_j <= p_i. The second pass may read entries it already replaced: each is the same
     * maximum over a subset of p_i's set, so the result is unchanged. k is small (arms).
     */
    for (size_t j = 0; j < k; j++) {
        size_t below = 0;
        for (size_t l = 0; l < k; l++)
            below += p[l] < p[j];
        adjusted[j] = fmin(1, (double)(k - below) * p[j]);
    }
    for (size_t i = 0; i < k; i++) {
        double best = adjusted[i];
        for (size_t j = 0; j < k; j++)
            if (p[j] <= p[i]) best = fmax(best, adjusted[j]);
        adjusted[i] = best;
    }
    return FT_OK;
}
