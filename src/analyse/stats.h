/*
 * Statistics behind `flagtrail experiment`: pure functions, no I/O, no allocation.
 *
 * SQL hands over per-arm aggregates (n, Σx, Σx²); these functions turn them into what the
 * experiment report prints: per-arm mean and variance, absolute and relative lift against
 * control with Welch intervals and p-values, Bayesian chance to beat control and risk, always-
 * valid sequential p-values and intervals (mixture SPRT), a sample-ratio-mismatch test, Holm's
 * correction across arms and minimum-sample warnings. Beneath them sit the normal, Student t
 * and chi-square distributions (distributions.c), accurate to about 1e-13 relative across the
 * ranges the report uses; the unit tests hold them to SciPy's values.
 *
 * Conventions: a function with a restricted domain returns FT_OK or FT_EINVAL and writes its
 * result through a pointer only on success, so no NaN comes out of a valid call. FT_EINVAL
 * means either invalid input (a NaN, a negative count, alpha outside (0, 1)) or data on which
 * the statistic is undefined (n < 2, no variance in either arm, a control mean of 0 for a
 * relative lift); the functions that take a `struct ft_stats_error` say which in its detail
 * line. Nothing here keeps a pointer past the call; arrays are borrowed.
 *
 * docs/ARCHITECTURE.md ("Statistics") lists the formulas and references; docs/analysis.md
 * explains the outputs to a reader of the report.
 */
#ifndef FT_ANALYSE_STATS_H
#define FT_ANALYSE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- distributions (distributions.c) --- */

/*
 * Standard normal distribution. Defined on every real (±inf included); a NaN gives NaN.
 * cdf and sf are each accurate relative to their own value, so tails as small as 1e-300 keep
 * their digits.
 */
double ft_stats_normal_pdf(double x);
double ft_stats_normal_cdf(double x);
double ft_stats_normal_sf(double x); /* 1 - cdf, computed directly */

/*
 * Normal quantile: *x with cdf(*x) = p (ppf), and inverse survival function: *x with
 * sf(*x) = q (isf). p = 0 and p = 1 give -inf and +inf. FT_EINVAL unless 0 <= p <= 1.
 * Use the isf for upper-tail probabilities: 1 - q rounds away the digits of a small q.
 */
int ft_stats_normal_quantile(double p, double *x);
int ft_stats_normal_isf(double q, double *x);

/*
 * Student's t distribution with `df` degrees of freedom, any real df > 0 (df = +inf is the
 * normal distribution). t may be ±inf. FT_EINVAL for df <= 0 or a NaN.
 */
int ft_stats_t_cdf(double t, double df, double *p);
int ft_stats_t_sf(double t, double df, double *q);
int ft_stats_t_quantile(double p, double df, double *t);
int ft_stats_t_isf(double q, double df, double *t);

/*
 * Chi-square distribution with `df` > 0 degrees of freedom (finite, any real). x < 0 has
 * cdf 0. FT_EINVAL for df <= 0, df = inf or a NaN; quantiles need 0 <= p <= 1.
 */
int ft_stats_chi2_cdf(double x, double df, double *p);
int ft_stats_chi2_sf(double x, double df, double *q);
int ft_stats_chi2_quantile(double p, double df, double *x);
int ft_stats_chi2_isf(double q, double df, double *x);

/*
 * Regularized incomplete gamma functions P(a, x) and Q(a, x) = 1 - P(a, x), each computed
 * directly (a small Q is not 1 - P). a > 0 (finite), x >= 0 (x = +inf allowed); either output
 * pointer may be NULL. Checked to about 5e-13 against 40-digit arithmetic for a up to 5e5 and
 * through Temme's expansion beyond; work grows with sqrt(a) near x = a up to a = 1e10.
 */
int ft_stats_gamma_inc(double a, double x, double *p, double *q);

/*
 * Regularized incomplete beta function I_x(a, b) and its complement 1 - I_x(a, b) = I_(1-x)(b,
 * a), each computed directly. a, b > 0, 0 <= x <= 1; either output may be NULL. Checked to
 * about 3e-13 against 40-digit arithmetic for a, b <= 1e4, and for b = 1/2 (Student's t) up to
 * a = 5e19; beyond that, with both parameters large, the continued fraction loses digits.
 */
int ft_stats_beta_inc(double a, double b, double x, double *lower, double *upper);

/* --- experiment statistics (stats.c) --- */

/* What a caller gets besides an error code: a line on why the statistic is undefined. */
struct ft_stats_error {
    char detail[128]; /* "control: n = 1, need at least 2" */
};

/* One arm's aggregates as SQL returns them. */
struct ft_stats_sums {
    int64_t n;     /* units (identities) in the arm */
    double sum;    /* Σx over those units */
    double sum_sq; /* Σx² */
};

/* One arm's summary. */
struct ft_stats_arm {
    int64_t n;
    double mean;     /* Σx / n; 0 when n = 0 */
    double variance; /* sample variance, divisor n - 1; 0 when n < 2 */
};

/*
 * Mean and sample variance from sums: variance = (Σx² - Σx·mean) / (n - 1). Rounding in the
 * sums can make the numerator slightly negative for constant data; it is then 0. FT_EINVAL
 * when n < 0, a sum is not finite, Σx² < 0, or Σx² falls short of (Σx)²/n by more than
 * rounding explains (sums that no data can produce). An empty arm (n = 0) is valid: mean and
 * variance 0; the tests below reject it.
 */
int ft_stats_arm_summarize(const struct ft_stats_sums *sums, struct ft_stats_arm *arm,
                           struct ft_stats_error *err);

/*
 * Minimum sample sizes below which the normal approximations behind every test here are
 * unreliable. The report still prints the numbers, with a warning.
 *   - 30 units per arm: the usual rule for the t-test's central-limit approximation;
 *   - for a conversion (0/1) metric, also 10 converted and 10 unconverted units per arm (the
 *     np >= 10 rule for approximating a binomial by a normal);
 *   - 5 expected units per arm for the SRM chi-square test (Cochran's rule).
 */
#define FT_STATS_MIN_UNITS       30
#define FT_STATS_MIN_CONVERSIONS 10
#define FT_STATS_MIN_EXPECTED    5

enum {
    FT_STATS_WARN_FEW_UNITS = 1,       /* n < FT_STATS_MIN_UNITS */
    FT_STATS_WARN_FEW_CONVERSIONS = 2, /* conversion metric: successes or failures < 10 */
    FT_STATS_WARN_NO_VARIANCE = 4,     /* variance 0: every unit had the same value */
    FT_STATS_WARN_FEW_EXPECTED = 8,    /* SRM: some arm expects fewer than 5 units */
};

/*
 * Warning bits (FT_STATS_WARN_*) for one arm. `conversion` says the metric takes only the
 * values 0 and 1, so that n·mean is the number of conversions.
 */
unsigned ft_stats_arm_warnings(const struct ft_stats_arm *arm, bool conversion);

/* The scale of an effect: treatment - control, or (treatment - control) / control. */
enum ft_stats_scale {
    FT_STATS_ABSOLUTE,
    FT_STATS_RELATIVE,
};

/*
 * Frequentist result: the effect with its standard error, Welch's t statistic and
 * Welch–Satterthwaite degrees of freedom, the two-sided p-value and a (1 - alpha) interval.
 * Relative effects use the delta method: Var ≈ v_t/(n_t m_c²) + v_c m_t²/(n_c m_c⁴).
 */
struct ft_stats_welch {
    double estimate;
    double std_error;
    double statistic; /* estimate / std_error */
    double df;
    double p_value;
    double ci_low, ci_high;
};

/*
 * Welch's unequal-variance t-test of treatment against control, on either scale.
 * FT_EINVAL when an arm has n < 2, neither arm has variance, alpha is not in (0, 1), or (for
 * FT_STATS_RELATIVE) the control mean is 0. `err` may be NULL.
 */
int ft_stats_welch_test(const struct ft_stats_arm *control, const struct ft_stats_arm *treatment,
                        enum ft_stats_scale scale, double alpha, struct ft_stats_welch *out,
                        struct ft_stats_error *err);

/* A normal prior on the effect (on the scale of the test); NULL means flat (improper). */
struct ft_stats_prior {
    double mean;
    double variance; /* > 0 */
};

/*
 * Bayesian result under the normal approximation GrowthBook uses: the effect's posterior is
 * N(mean, std_dev²), from the same estimate and standard error as the Welch test (and the
 * prior, if any). chance_to_beat = P(effect > 0). risk_control = E[max(effect, 0)], what one
 * expects to lose by keeping control; risk_treatment = E[max(-effect, 0)], by shipping the
 * treatment; both on the scale of the effect. ci is the central (1 - alpha) credible interval.
 */
struct ft_stats_bayes {
    double mean;
    double std_dev;
    double chance_to_beat;
    double risk_control;
    double risk_treatment;
    double ci_low, ci_high;
};

/* Errors as ft_stats_welch_test, plus FT_EINVAL for a prior variance <= 0. */
int ft_stats_bayes_test(const struct ft_stats_arm *control, const struct ft_stats_arm *treatment,
                        enum ft_stats_scale scale, const struct ft_stats_prior *prior, double alpha,
                        struct ft_stats_bayes *out, struct ft_stats_error *err);

/*
 * Always-valid inference by a mixture sequential probability ratio test (mSPRT), as in
 * GrowthBook's sequential testing (Waudby-Smith et al., arXiv:2103.06476, eqs. 9, 155, 161):
 * with N = n_control + n_treatment, σ² = N·se² and
 * ρ² = (-2 ln alpha + ln(1 - 2 ln alpha)) / tuning,
 *   halfwidth = σ sqrt(2 (Nρ² + 1) ln(sqrt(Nρ² + 1) / alpha) / (N ρ)²)
 *   p = min(1, sqrt(Nρ² + 1) exp(-ρ² N estimate² / (2 se² (Nρ² + 1))))
 * The interval excludes 0 exactly when p < alpha, at every look. `tuning` is the total sample
 * size at which the interval is tightest: FT_STATS_SEQUENTIAL_TUNING by default (GrowthBook's
 * default); the guarantee holds for any value, a value near the planned size narrows the
 * interval at the end.
 */
#define FT_STATS_SEQUENTIAL_TUNING 5000.0

struct ft_stats_sequential {
    double estimate;
    double std_error;
    double p_value; /* always valid: may be checked after every new unit */
    double ci_low, ci_high;
};

/* Errors as ft_stats_welch_test, plus FT_EINVAL for tuning <= 0. */
int ft_stats_sequential_test(const struct ft_stats_arm *control,
                             const struct ft_stats_arm *treatment, enum ft_stats_scale scale,
                             double alpha, double tuning, struct ft_stats_sequential *out,
                             struct ft_stats_error *err);

/*
 * Sample ratio mismatch: Pearson's chi-square test of the observed units per arm against the
 * expected split. Weights need not sum to 1 (percentages work); they are normalized. An arm
 * with weight 0 and no units is left out (df counts the arms with positive weight, minus 1);
 * an arm with weight 0 but units makes the statistic +inf and p 0, the certain mismatch.
 * p < FT_STATS_SRM_ALPHA is reported as a mismatch (GrowthBook's threshold).
 */
#define FT_STATS_SRM_ALPHA 0.001

struct ft_stats_srm {
    double statistic;
    int df;
    double p_value;
    unsigned warnings; /* FT_STATS_WARN_FEW_EXPECTED */
};

/*
 * `counts` and `weights` hold `k` entries each (borrowed). FT_EINVAL when a count or weight is
 * negative or not finite, no units were observed, or fewer than two arms have positive weight.
 */
int ft_stats_srm_test(const int64_t *counts, const double *weights, size_t k,
                      struct ft_stats_srm *out, struct ft_stats_error *err);

/*
 * Holm's step-down adjustment of `k` p-values (family-wise error control across arms):
 * sorted ascending, p_(i) becomes max_{j <= i} min(1, (k - j + 1) p_(j)); ties share the
 * larger value, and the results come back in the input order. `adjusted` holds k entries and
 * must not overlap `p`. FT_EINVAL when a p-value is outside [0, 1] or NaN.
 */
int ft_stats_holm(const double *p, size_t k, double *adjusted);

#endif
