/*
 * The normal, Student t and chi-square distributions, and the regularized incomplete gamma and
 * beta functions beneath them, for the experiment statistics (stats.h).
 *
 * Every tail is computed directly rather than as 1 minus its complement, so p-values as small
 * as 1e-300 keep their digits. The incomplete gamma function uses its power series below the
 * mean and Legendre's continued fraction above it, with a separate series for Q when a < 1 and
 * Temme's uniform expansion when a >= 1e10; the incomplete beta function uses the continued
 * fraction of Numerical Recipes §6.4, and for a large parameter (Student's t with large df) an
 * expansion in incomplete gamma functions derived below. The common factors x^a e^-x / Γ(a) and x^a
 * y^b / B(a, b) are written around Stirling's formula, so that nothing of size a·log(a) cancels:
 * this is what keeps df = 10^9 as accurate as df = 10. Quantiles start from a textbook
 * approximation and finish with safeguarded Newton (Halley for the normal) steps on the log of the
 * tail, which converge to the accuracy of the tail itself.
 */
#include "analyse/stats.h"

#include "flagtrail/error.h"

#include <float.h>
#include <math.h>

#define EPS      DBL_EPSILON
#define TINY     1e-300
#define MAX_ITER 100000000 /* series and fractions stop long before; sqrt(a) terms near a */

static const double PI = 3.14159265358979323846;
static const double LN_SQRT_2PI = 0.91893853320467274178; /* log(sqrt(2π)) */
static const double INV_SQRT_2PI = 0.39894228040143267794;
static const double SQRT1_2 = 0.70710678118654752440;

/* ζ(k) - 1 for k = 2..40 (computed with 40-digit arithmetic). */
static const double ZETA_M1[41] = {
    0,
    0,
    0.6449340668482264,
    0.2020569031595943,
    0.08232323371113819,
    0.03692775514336993,
    0.01734306198444914,
    0.008349277381922827,
    0.00407735619794434,
    0.0020083928260822143,
    0.0009945751278180853,
    0.0004941886041194645,
    0.0002460865533080483,
    0.00012271334757848915,
    6.124813505870483e-05,
    3.058823630702049e-05,
    1.528225940865187e-05,
    7.637197637899763e-06,
    3.81729326499984e-06,
    1.908212716553939e-06,
    9.539620338727962e-07,
    4.769329867878064e-07,
    2.38450502727733e-07,
    1.1921992596531106e-07,
    5.960818905125948e-08,
    2.980350351465228e-08,
    1.4901554828365043e-08,
    7.45071178983543e-09,
    3.725334024788457e-09,
    1.862659723513049e-09,
    9.313274324196682e-10,
    4.656629065033784e-10,
    2.3283118336765053e-10,
    1.164155017270052e-10,
    5.820772087902701e-11,
    2.9103850444971e-11,
    1.4551921891041985e-11,
    7.275959835057482e-12,
    3.637979547378651e-12,
    1.818989650307066e-12,
    9.094947840263888e-13,
};

static double zeta_m1(int k)
{
    return k <= 40 ? ZETA_M1[k] : ldexp(1.0, -k) + pow(3.0, -k);
}

/* --- elementary helpers --- */

static double lgamma_pos(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

/*
 * log(1 + u) - u, accurate also for small u. With r = u / (2 + u),
 * log(1 + u) = 2 atanh(r) = 2r + 2r³(1/3 + r²/5 + ...) and 2r - u = -r·u.
 */
static double log1pmx(double u)
{
    if (u <= -0.5 || u >= 1) return log1p(u) - u;
    double r = u / (2 + u), r2 = r * r;
    double sum = 1.0 / 3, power = 1;
    for (int k = 2; k < 60; k++) {
        power *= r2;
        double term = power / (2 * k + 1);
        sum += term;
        if (term <= EPS * sum) break;
    }
    return -r * u + 2 * r * r2 * sum;
}

/*
 * a·(log(x/p) - u) where u = (x - p)/p: one term of the log of the prefactors below, via
 * log1pmx near the peak.
 */
static double log_ratio_term(double a, double x, double p, double u)
{
    if (u > -0.5 && u < 1) return a * log1pmx(u);
    return a * (log(x) - log(p) - u);
}

/* lgamma(a) - ((a - 1/2) log a - a + log sqrt(2π)): the remainder of Stirling's formula. */
static double stirling_delta(double a)
{
    if (a >= 10) {
        double r = 1 / a, r2 = r * r;
        return r * (1.0 / 12 +
                    r2 * (-1.0 / 360 +
                          r2 * (1.0 / 1260 +
                                r2 * (-1.0 / 1680 +
                                      r2 * (1.0 / 1188 +
                                            r2 * (-691.0 / 360360 +
                                                  r2 * (1.0 / 156 + r2 * (-3617.0 / 122400))))))));
    }
    return lgamma_pos(a) - ((a - 0.5) * log(a) - a + LN_SQRT_2PI);
}

/*
 * log Γ(1 + a) for 0 <= a < 1, accurate relative to a when a is small:
 * log Γ(1 + a) = -log(1 + a) + a(1 - γ) + Σ_{k>=2} (-1)^k (ζ(k) - 1) a^k / k.
 */
static double lgamma1p(double a)
{
    if (a >= 0.5) return lgamma_pos(1 + a);
    static const double EULER = 0.57721566490153286061;
    double sum = 0, power = -a; /* (-a)^k */
    for (int k = 2; k <= 60; k++) {
        power *= -a;
        double term = power * zeta_m1(k) / k;
        sum += term;
        if (fabs(term) <= EPS * fabs(sum)) break;
    }
    return -log1p(a) + a * (1 - EULER) + sum;
}

/* --- normal distribution --- */

double ft_stats_normal_pdf(double x)
{
    return INV_SQRT_2PI * exp(-0.5 * x * x);
}

double ft_stats_normal_cdf(double x)
{
    return 0.5 * erfc(-x * SQRT1_2);
}

double ft_stats_normal_sf(double x)
{
    return 0.5 * erfc(x * SQRT1_2);
}

/*
 * x <= 0 with cdf(x) = p, for 0 < p <= 1/2: Abramowitz & Stegun 26.2.23 (error < 4.5e-4),
 * then Halley steps, which triple the digits each time.
 */
static double normal_lower_inverse(double p)
{
    if (p == 0.5) return 0;
    double t = sqrt(-2 * log(p));
    double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                         (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    for (int i = 0; i < 10; i++) {
        double density = ft_stats_normal_pdf(x);
        if (density == 0) break;
        /* Near the centre cdf(x) - p = (1/2 - p) + erf(x/√2)/2 keeps x's relative digits. */
        double f = p > 0.25 ? (0.5 - p) + 0.5 * erf(x * SQRT1_2) : ft_stats_normal_cdf(x) - p;
        double u = f / density;
        double step = u / (1 + 0.5 * x * u);
        x -= step;
        if (fabs(step) <= 2 * EPS * fabs(x)) break;
    }
    return x;
}

int ft_stats_normal_quantile(double p, double *x)
{
    if (!(p >= 0 && p <= 1)) return FT_EINVAL;
    if (p == 0)
        *x = -INFINITY;
    else if (p == 1)
        *x = INFINITY;
    else if (p <= 0.5)
        *x = normal_lower_inverse(p);
    else
        *x = -normal_lower_inverse(1 - p);
    return FT_OK;
}

int ft_stats_normal_isf(double q, double *x)
{
    int rc = ft_stats_normal_quantile(q, x);
    if (rc == FT_OK) *x = -*x;
    return rc;
}

/* --- solving tail(x) = target --- */

/*
 * A tail probability as a function of x > 0, with x·|d tail / dx| (for Newton steps) in
 * *x_density.
 */
typedef double (*tail_fn)(double x, const void *ctx, double *x_density);

/*
 * Solves tail(x) = target for x > 0 by Newton steps on log(tail), taken in log(x)
 * (`log_scale`, for tails that fall like powers of x) or in x (tails that fall like exp(-x)).
 * x itself is the state, so its precision does not depend on the size of log(x). Every
 * evaluation narrows a bracket; a step that leaves it is replaced by bisection (geometric on the
 * log scale), or by expansion while one side is still open. Returns 0 or +inf when the root
 * lies beyond the doubles.
 */
static double solve_tail(tail_fn tail, const void *ctx, bool decreasing, double target, double x0,
                         bool log_scale)
{
    double lo = 0, hi = INFINITY;
    double log_target = log(target);
    double x = x0 > 0 && x0 <= DBL_MAX ? x0 : 1;
    double last_move = INFINITY;

    for (int i = 0; i < 400; i++) {
        double x_density;
        double t = tail(x, ctx, &x_density);
        double f = log(t) - log_target;
        if (f == 0) return x;
        if (decreasing ? f > 0 : f < 0)
            lo = x;
        else
            hi = x;
        double slope = (decreasing ? -x_density : x_density) / t; /* d log(tail) / d log(x) */
        double step = -f / slope;                                 /* in log(x) */
        if (fabs(step) <= EPS) return x; /* a relative change below the rounding of x */
        double next = log_scale ? x * exp(step) : x * (1 + step);
        if (!(next > lo && next < hi)) { /* also NaN */
            double factor = log_scale ? 3000 : 4;
            if (hi == INFINITY) {
                if (x >= DBL_MAX) return INFINITY;
                next = x < DBL_MAX / factor ? x * factor : DBL_MAX;
            } else if (lo == 0) {
                if (x <= DBL_MIN) return 0;
                next = fmax(x / factor, DBL_MIN);
            } else {
                next = log_scale ? sqrt(lo) * sqrt(hi) : lo + 0.5 * (hi - lo);
            }
        }
        double move = fabs(next - x) / x;
        x = next;
        /* Evaluation noise: Newton steps that stop shrinking in the last few digits. */
        if (move < 1e-9 && move > 0.5 * last_move) break;
        if (hi < INFINITY && hi - lo <= 2 * EPS * hi) break;
        last_move = move;
    }
    return x;
}

/* --- incomplete gamma function --- */

/* x^a e^-x / Γ(a) = sqrt(a / 2π) exp(a (log(x/a) - (x - a)/a) - δ(a)), for x > 0. */
static double gamma_prefactor(double a, double x)
{
    if (x == 0 || isinf(x)) return 0;
    double u = (x - a) / a;
    return sqrt(a) * INV_SQRT_2PI * exp(log_ratio_term(a, x, a, u) - stirling_delta(a));
}

/* P(a, x) by its series, for x < a + 1 (any x converges, more slowly). */
static double gamma_p_series(double a, double x)
{
    double sum = 1, term = 1;
    for (long n = 1; n < MAX_ITER; n++) {
        term *= x / (a + (double)n);
        sum += term;
        if (term <= EPS * sum) break;
    }
    return gamma_prefactor(a, x) / a * sum;
}

/* Q(a, x) by Legendre's continued fraction (modified Lentz), for x > a + 1. */
static double gamma_q_fraction(double a, double x)
{
    double b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
    for (long i = 1; i < MAX_ITER; i++) {
        double di = (double)i;
        double an = -di * (di - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < TINY) d = TINY;
        c = b + an / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1) <= EPS) break;
    }
    return gamma_prefactor(a, x) * h;
}

/*
 * Q(a, x) for a < 1 and x <= 1.5, where Q is about a·E1(x) and 1 - P would lose its digits:
 * Q = 1 - x^a/Γ(a+1) - (x^a/Γ(a)) Σ_{n>=1} (-x)^n / (n! (a + n)).
 */
static double gamma_q_small_a(double a, double x)
{
    double log_head = a * log(x) - lgamma1p(a);
    double sum = 0, term = 1;
    for (int n = 1; n < 200; n++) {
        term *= -x / n;
        double c = term / (a + n);
        sum += c;
        if (fabs(c) <= EPS * fabs(sum)) break;
    }
    return -expm1(log_head) - a * exp(log_head) * sum;
}

/*
 * P and Q for a >= 1e10, where the series and the fraction would need sqrt(a) terms: Temme's
 * uniform expansion (DLMF 8.12.3, 8.12.8), Q = erfc(η sqrt(a/2))/2 + R, P = erfc(-η sqrt(a/2))/2
 * - R, R = e^(-aη²/2) / sqrt(2πa) (c0(η) + c1(η)/a + O(1/a²)), with η²/2 = λ - 1 - log λ,
 * λ = x/a, sign(η) = sign(λ - 1). Wherever neither tail underflows |η| < 4e-4, so c0 and c1 are
 * taken from their power series (DLMF 8.12.9); the error is below 1e-20 relative.
 */
#define GAMMA_TEMME_A 1e10

static void gamma_temme(double a, double x, double *p, double *q)
{
    double u = (x - a) / a;
    double eta = copysign(sqrt(-2 * log_ratio_term(1, x, a, u)), u);
    double c0 = -1.0 / 3 + eta * (1.0 / 12 + eta * (-2.0 / 135 + eta * (1.0 / 864)));
    double c1 = -1.0 / 540 - eta / 288;
    /* beyond |η| = 0.01, e^(-aη²/2) < e^(-500000): R is 0 (and the series would not hold) */
    double r = fabs(eta) < 0.01 ? exp(-0.5 * a * eta * eta) / sqrt(2 * PI * a) * (c0 + c1 / a) : 0;
    double z = eta * sqrt(0.5 * a);
    *q = 0.5 * erfc(z) + r;
    *p = 0.5 * erfc(-z) - r;
}

/* P(a, x) and Q(a, x) for a > 0, x >= 0: the smaller directly, the larger as 1 minus it. */
static void gamma_inc(double a, double x, double *p, double *q)
{
    if (x == 0) {
        *p = 0;
        *q = 1;
    } else if (isinf(x)) {
        *p = 1;
        *q = 0;
    } else if (a >= GAMMA_TEMME_A) {
        gamma_temme(a, x, p, q);
    } else if (a < 1 && x <= 1.5) {
        *p = gamma_p_series(a, x);
        *q = gamma_q_small_a(a, x);
    } else if (x < a + 1) {
        *p = gamma_p_series(a, x);
        *q = 1 - *p;
    } else {
        *q = gamma_q_fraction(a, x);
        *p = 1 - *q;
    }
}

int ft_stats_gamma_inc(double a, double x, double *p, double *q)
{
    if (!(a > 0 && a < INFINITY) || !(x >= 0)) return FT_EINVAL;
    double lower, upper;
    gamma_inc(a, x, &lower, &upper);
    if (p) *p = lower;
    if (q) *q = upper;
    return FT_OK;
}

/* --- incomplete beta function --- */

/*
 * x^a y^b / B(a, b) with y = 1 - x, written around Stirling's formula: with s = a + b,
 * p = a/s, q = b/s, it is sqrt(ab / 2πs) exp(a log(x/p) + b log(y/q) - δ(a) - δ(b) + δ(s)),
 * and a (x - p)/p + b (y - q)/q = 0 lets each log be taken as log1pmx near the peak.
 */
static double beta_prefactor(double a, double b, double x, double y)
{
    if (x == 0 || y == 0) return 0;
    double s = a + b, p = a / s, q = b / s;
    double d = x <= 0.5 ? x - p : q - y;
    double e = log_ratio_term(a, x, p, d / p) + log_ratio_term(b, y, q, -d / q);
    e += stirling_delta(s) - stirling_delta(a) - stirling_delta(b);
    return sqrt(a) * INV_SQRT_2PI * sqrt(b / s) * exp(e);
}

/*
 * The continued fraction of I_x(a, b) (Numerical Recipes 6.4.5, modified Lentz), for
 * x < (a + 1)/(a + b + 2). The first coefficient is written with y = 1 - x when x is near 1.
 */
static double beta_fraction(double a, double b, double x, double y)
{
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1;
    double d = y < x ? (1 - b + qab * y) / qap : 1 - qab * x / qap;
    if (fabs(d) < TINY) d = TINY;
    d = 1 / d;
    double h = d;
    for (long i = 1; i < MAX_ITER; i++) {
        double m = (double)i, m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < TINY) d = TINY;
        c = 1 + aa / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < TINY) d = TINY;
        c = 1 + aa / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1) <= EPS) break;
    }
    return h;
}

/*
 * I_x(a, b) and 1 - I_x(a, b) for large a and small b, where the continued fraction would work
 * with x close to 1 and lose about log10(a) digits. Substituting w = 1 - e^(-v/T) with
 * T = a + (b - 1)/2 in I_x(a, b) = ∫_y^1 w^(b-1) (1-w)^(a-1) dw / B(a, b) gives
 *   I_x(a, b) = R Σ_k c_k T^(-2k) (b)_2k Q(b + 2k, u),  u = -T log(1 - y),
 *   R = T^(-b) Γ(a + b) / Γ(a),
 * where (b)_2k is the rising factorial and c_k are the coefficients of the even function
 * (sinh(s/2) / (s/2))^(b-1) = exp((b - 1) Σ_j g_j s^(2j)), g_j = (-1)^(j+1) ζ(2j) / (j (2π)^2j).
 * The complement is the same sum with P in place of Q. The series converges geometrically for
 * u/T < 2π; it is used for u/T <= 2, where 40 terms reach full precision for a >= 1000.
 */
#define BETA_LARGE_A 1000.0
#define BETA_TERMS   40

static bool beta_expansion_applies(double a, double b, double y)
{
    return a >= BETA_LARGE_A && b <= 5 && -log1p(-y) <= 2;
}

static void beta_expansion(double a, double b, double y, double *lower, double *upper)
{
    double t = a + 0.5 * (b - 1);
    double u = -t * log1p(-y);
    /* log R = lgamma(a + b) - lgamma(a) - b log T, through Stirling's formula. */
    double log_r = (a - 0.5) * log1p(b / a) - b + b * log1p((0.5 * (b + 1)) / t) +
                   stirling_delta(a + b) - stirling_delta(a);
    double r = exp(log_r);

    double g[BETA_TERMS + 1], c[BETA_TERMS + 1];
    double two_pi_sq = 4 * PI * PI, scale = 1;
    for (int j = 1; j <= BETA_TERMS; j++) {
        scale *= two_pi_sq;
        double zeta = 1 + zeta_m1(2 * j);
        g[j] = (j % 2 ? 1 : -1) * zeta / (j * scale);
    }
    c[0] = 1;
    double sum_lower = 0, sum_upper = 0, factor = 1; /* factor = (b)_2k / T^2k */
    for (int k = 0; k <= BETA_TERMS; k++) {
        if (k > 0) {
            double ck = 0;
            for (int j = 1; j <= k; j++)
                ck += j * (b - 1) * g[j] * c[k - j];
            c[k] = ck / k;
            double bk = b + 2 * k - 2;
            factor *= bk * (bk + 1) / (t * t);
        }
        double p, q;
        gamma_inc(b + 2 * k, u, &p, &q);
        double tl = c[k] * factor * q, tu = c[k] * factor * p;
        sum_lower += tl;
        sum_upper += tu;
        if (k > 0 && fabs(tl) <= EPS * fabs(sum_lower) && fabs(tu) <= EPS * fabs(sum_upper)) break;
    }
    *lower = r * sum_lower;
    *upper = r * sum_upper;
}

/* I_x(a, b) in *lower and 1 - I_x(a, b) in *upper; both x and y = 1 - x given exactly. */
static void beta_inc(double a, double b, double x, double y, double *lower, double *upper)
{
    if (x == 0 || y == 0) {
        *lower = x == 0 ? 0 : 1;
        *upper = 1 - *lower;
        return;
    }
    if (beta_expansion_applies(a, b, y)) {
        beta_expansion(a, b, y, lower, upper);
        return;
    }
    if (beta_expansion_applies(b, a, x)) {
        beta_expansion(b, a, x, upper, lower);
        return;
    }
    /* The fraction converges fast for x below (a + 1)/(a + b + 2); above it, use symmetry. */
    bool swap = y < 0.5 ? y < (b + 1) / (a + b + 2) : x > (a + 1) / (a + b + 2);
    if (swap) {
        double v = beta_prefactor(b, a, y, x) * beta_fraction(b, a, y, x) / b;
        *upper = v;
        *lower = 1 - v;
    } else {
        double v = beta_prefactor(a, b, x, y) * beta_fraction(a, b, x, y) / a;
        *lower = v;
        *upper = 1 - v;
    }
}

int ft_stats_beta_inc(double a, double b, double x, double *lower, double *upper)
{
    if (!(a > 0 && a < INFINITY) || !(b > 0 && b < INFINITY) || !(x >= 0 && x <= 1))
        return FT_EINVAL;
    double lo, up;
    beta_inc(a, b, x, 1 - x, &lo, &up);
    if (lower) *lower = lo;
    if (upper) *upper = up;
    return FT_OK;
}

/* --- Student's t distribution --- */

/* Beyond this many degrees of freedom t and normal agree to far below double precision. */
#define T_NORMAL_DF 1e100

/*
 * P(T > |t|) = I_x(df/2, 1/2) / 2 with x = df/(df + t²), and |t|·pdf(t), which is the
 * prefactor x^a y^(1/2) / B(a, 1/2). With `central`, P(0 < T < |t|) = I_y(1/2, df/2) / 2
 * instead, which keeps its digits where the tail is close to 1/2.
 */
static double t_prob(double t, double df, bool central, double *t_density)
{
    t = fabs(t);
    if (df > T_NORMAL_DF) {
        *t_density = t * ft_stats_normal_pdf(t);
        return central ? 0.5 * erf(t * SQRT1_2) : ft_stats_normal_sf(t);
    }
    if (t == 0 || isinf(t)) {
        *t_density = 0;
        return (t == 0) == central ? 0 : 0.5;
    }
    double a = 0.5 * df, x, y;
    if (t > 1e15 * sqrt(df)) {
        /* x = df/t² (1 + O(1e-30)) may underflow: I_x(a, 1/2) = x^a / (a B(a, 1/2)) (1 + O(x)). */
        double log_b = lgamma_pos(a) + lgamma_pos(0.5) - lgamma_pos(a + 0.5);
        double lower = exp(a * (log(df) - 2 * log(t)) - log(a) - log_b);
        *t_density = a * lower;
        return 0.5 * (central ? 1 - lower : lower);
    }
    if (t * t > df) {
        double r = df / t / t;
        x = r / (1 + r);
        y = 1 / (1 + r);
    } else {
        double w = t / sqrt(df);
        w *= w;
        x = 1 / (1 + w);
        y = w / (1 + w);
    }
    double lower, upper;
    beta_inc(a, 0.5, x, y, &lower, &upper);
    *t_density = beta_prefactor(a, 0.5, x, y);
    return 0.5 * (central ? upper : lower);
}

static double t_tail(double t, double df, double *t_density)
{
    return t_prob(t, df, false, t_density);
}

static bool valid_df(double df)
{
    return df > 0; /* false for NaN */
}

int ft_stats_t_cdf(double t, double df, double *p)
{
    if (!valid_df(df) || isnan(t)) return FT_EINVAL;
    double dens, tail = t_tail(t, df, &dens);
    *p = t < 0 ? tail : 1 - tail;
    return FT_OK;
}

int ft_stats_t_sf(double t, double df, double *q)
{
    return ft_stats_t_cdf(-t, df, q);
}

static double t_tail_fn(double t, const void *ctx, double *t_density)
{
    return t_prob(t, *(const double *)ctx, false, t_density);
}

static double t_central_fn(double t, const void *ctx, double *t_density)
{
    return t_prob(t, *(const double *)ctx, true, t_density);
}

/* t > 0 with P(T > t) = q, for 0 < q < 1/2. */
static double t_upper_inverse(double q, double df)
{
    if (df > T_NORMAL_DF) return -normal_lower_inverse(q);
    if (df == 1) return q < 0.25 ? 1 / tan(PI * q) : tan(PI * (0.5 - q));
    if (df == 2) return (1 - 2 * q) / sqrt(2 * q * (1 - q));

    /* Two starting points: Cornish–Fisher around the normal quantile (A&S 26.7.5), good for
     * large df; and the power-law tail P(T > t) ≈ K t^-df, good for small df or tiny q. */
    double z = -normal_lower_inverse(q), z2 = z * z;
    double g1 = z * (z2 + 1) / 4;
    double g2 = z * ((5 * z2 + 16) * z2 + 3) / 96;
    double g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384;
    double cornish = z + g1 / df + g2 / (df * df) + g3 / (df * df * df);
    double log_k = lgamma_pos(0.5 * (df + 1)) - lgamma_pos(0.5 * df) - 0.5 * log(PI) +
                   (0.5 * df - 1) * log(df);
    double power_tail = exp((log_k - log(q)) / df);

    double start = cornish, dens;
    if (!(cornish > 0) || !isfinite(cornish)) {
        start = power_tail;
    } else if (isfinite(power_tail) && power_tail > 0) {
        double fc = fabs(log(t_tail(cornish, df, &dens)) - log(q));
        double fp = fabs(log(t_tail(power_tail, df, &dens)) - log(q));
        if (fp < fc) start = power_tail;
    }
    /* Near the centre solve for P(0 < T < t) = 1/2 - q, which is exact there. */
    if (q > 0.25) return solve_tail(t_central_fn, &df, false, 0.5 - q, start, true);
    return solve_tail(t_tail_fn, &df, true, q, start, true);
}

int ft_stats_t_quantile(double p, double df, double *t)
{
    if (!valid_df(df) || !(p >= 0 && p <= 1)) return FT_EINVAL;
    if (p == 0)
        *t = -INFINITY;
    else if (p == 1)
        *t = INFINITY;
    else if (p == 0.5)
        *t = 0;
    else if (p < 0.5)
        *t = -t_upper_inverse(p, df);
    else
        *t = t_upper_inverse(1 - p, df);
    return FT_OK;
}

int ft_stats_t_isf(double q, double df, double *t)
{
    int rc = ft_stats_t_quantile(q, df, t);
    if (rc == FT_OK) *t = -*t;
    return rc;
}

/* --- chi-square distribution --- */

static bool valid_chi2_df(double df)
{
    return df > 0 && df < INFINITY;
}

int ft_stats_chi2_cdf(double x, double df, double *p)
{
    if (!valid_chi2_df(df) || isnan(x)) return FT_EINVAL;
    double lower, upper;
    gamma_inc(0.5 * df, fmax(x, 0) * 0.5, &lower, &upper);
    *p = lower;
    return FT_OK;
}

int ft_stats_chi2_sf(double x, double df, double *q)
{
    if (!valid_chi2_df(df) || isnan(x)) return FT_EINVAL;
    double lower, upper;
    gamma_inc(0.5 * df, fmax(x, 0) * 0.5, &lower, &upper);
    *q = upper;
    return FT_OK;
}

/* x·pdf(x) of chi-square(2a) is the gamma prefactor at x/2. */
static double chi2_lower_fn(double x, const void *ctx, double *x_density)
{
    double a = *(const double *)ctx, p, q;
    gamma_inc(a, 0.5 * x, &p, &q);
    *x_density = gamma_prefactor(a, 0.5 * x);
    return p;
}

static double chi2_upper_fn(double x, const void *ctx, double *x_density)
{
    double a = *(const double *)ctx, p, q;
    gamma_inc(a, 0.5 * x, &p, &q);
    *x_density = gamma_prefactor(a, 0.5 * x);
    return q;
}

/*
 * The quantile from the smaller tail: `lower` says whether `tail` is P(X <= x) or P(X > x).
 * Starts from Wilson–Hilferty, or from P ≈ (x/2)^a / Γ(a + 1) deep in the lower tail.
 */
static double chi2_inverse(double tail, double df, bool lower)
{
    double a = 0.5 * df;
    double z = normal_lower_inverse(tail);
    if (!lower) z = -z;
    double h = 2 / (9 * df);
    double wh = 1 - h + z * sqrt(h);
    double start = df * wh * wh * wh;
    double small = 2 * exp((log(tail) + lgamma_pos(a + 1)) / a);
    if (lower && (!(start > 0) || small < start)) start = small;
    if (!(start > 0)) start = df;
    if (lower) return solve_tail(chi2_lower_fn, &a, false, tail, start, true);
    return solve_tail(chi2_upper_fn, &a, true, tail, start, false);
}

int ft_stats_chi2_quantile(double p, double df, double *x)
{
    if (!valid_chi2_df(df) || !(p >= 0 && p <= 1)) return FT_EINVAL;
    if (p == 0)
        *x = 0;
    else if (p == 1)
        *x = INFINITY;
    else if (p <= 0.5)
        *x = chi2_inverse(p, df, true);
    else
        *x = chi2_inverse(1 - p, df, false);
    return FT_OK;
}

int ft_stats_chi2_isf(double q, double df, double *x)
{
    if (!valid_chi2_df(df) || !(q >= 0 && q <= 1)) return FT_EINVAL;
    if (q == 0)
        *x = INFINITY;
    else if (q == 1)
        *x = 0;
    else if (q <= 0.5)
        *x = chi2_inverse(q, df, false);
    else
        *x = chi2_inverse(1 - q, df, true);
    return FT_OK;
}
