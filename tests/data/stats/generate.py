#!/usr/bin/python3
"""Reference values for src/analyse/stats.h, computed with SciPy.

    /usr/bin/python3 tests/data/stats/generate.py [OUTPUT]

writes reference.json (next to this script unless OUTPUT is given), which
tests/unit/test_stats.c reads; the unit tests need no SciPy at run time.
tests/integration/test_stats_reference.py regenerates the file into a temporary directory and
checks that it equals the committed one, so a change here or in SciPy shows up as a failure.

Every value comes from SciPy (Debian's python3-scipy) or from a textbook formula evaluated on
SciPy's distributions, independently of the C code:

- distributions: scipy.stats.norm, t, chi2 and scipy.special.gammainc/gammaincc/betainc;
- quantiles of t: SciPy's t.ppf (cdflib) is only good to about 1e-9, so each is refined by
  Newton steps on log t.sf in log t until t.sf (good to about 1e-14) returns the target;
- the tests of two arms: raw samples are drawn (Python's random, fixed seeds), the sums the
  C code receives are their exact sums (math.fsum), and the references come from the samples:
  scipy.stats.ttest_ind(equal_var=False) for the Welch statistic and p-value, numpy's two-pass
  means and variances for everything else;
- SRM: scipy.stats.chisquare; Holm: a sort-based implementation (the C code does not sort).

Cases are chosen where SciPy itself is accurate (checked against 40-digit arithmetic while
writing this file): chi-square df <= 1e4 (SciPy's chdtr drifts to 1e-9 beyond), incomplete beta
I_x(a, b) with a, b <= 200 (SciPy's incbet is off by 5e-8 at a = 1000, b = 0.05 and by 1e-9
at a = 1/2, b = 1e6; the large-parameter code is checked through Student's t, whose SciPy
implementation stays accurate up to df = 1e20). Values below 1e-300 are left out: SciPy flushes some of them to 0.
"""
import json
import math
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.special as sc
import scipy.stats as st

ALPHA = 0.05
TUNING = 5000.0  # FT_STATS_SEQUENTIAL_TUNING


def num(x):
    """A float for JSON: infinities as strings (JSON has no literal for them)."""
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        raise ValueError("NaN in reference data")
    return x


# --- distributions ---


def normal_cases():
    xs = [-37.5, -35, -30, -25, -20, -15, -10, -8, -6, -5, -4, -3, -2.5, -2, -1.96,
          -1.5, -1, -0.5, -0.1, -1e-5, -1e-300, 0.0, 1e-300, 1e-5, 0.1, 0.5, 1, 1.5, 1.96, 2, 3,
          5, 8, 10, 20, 30, 37.5, "inf", "-inf"]
    rows = []
    for x in xs:
        v = float(x)
        rows.append([num(v), num(st.norm.cdf(v)), num(st.norm.sf(v)), num(st.norm.pdf(v))])
    return rows


def normal_quantile_cases():
    ps = [1e-310, 1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-10, 1e-6, 1e-3, 0.01, 0.025, 0.05,
          0.1, 0.2, 0.3, 0.4, 0.45, 0.49, 0.499, 0.4999999, 0.5, 0.5000001, 0.6, 0.8, 0.9, 0.95,
          0.975, 0.99, 0.999, 1 - 1e-6, 1 - 1e-10, 1 - 1e-15, 0.0, 1.0]
    return [[num(p), num(st.norm.ppf(p)), num(st.norm.isf(p))] for p in ps]


T_DFS = [0.05, 0.1, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 29.7, 50, 99.5, 250, 999,
         1000, 1001, 2500, 1e4, 1e5, 1e6, 1e8, 1e10, 1e12, 1e15, 1e20, math.inf]
T_XS = [0, 1e-8, 1e-3, 0.1, 0.5, 1, 1.5, 1.96, 2, 2.5, 3, 4, 6, 9, 12, 20, 30, 38, 60, 100,
        1e3, 1e6, 1e12, 1e100]


def t_cases():
    rows = []
    for df in T_DFS:
        for x in T_XS:
            for t in ([x, -x] if x else [0.0]):
                cdf, sf = st.t.cdf(t, df), st.t.sf(t, df)
                if min(cdf, sf) < 1e-300:
                    continue  # underflow: SciPy gives 0 where the tail is subnormal
                rows.append([num(t), num(df), num(cdf), num(sf)])
    return rows


def t_isf_refined(q, df):
    """t > 0 with t.sf(t, df) = q (0 < q < 1/2): SciPy's ppf, refined by Newton on logs."""
    x = -float(st.t.ppf(q, df))
    if not (0 < x < 1e90):
        return None
    for _ in range(500):
        sf = st.t.sf(x, df)
        if sf == 0:  # cdflib's answer can be far off in the extreme tails
            x /= 2
            continue
        f = math.log(sf) - math.log(q)
        # d log sf / d log t; SciPy's t.logpdf cancels catastrophically for huge df, where
        # the normal density is as good (the slope only sets the speed, not the answer)
        log_pdf = st.t.logpdf(x, df) if df < 1e10 else st.norm.logpdf(x)
        slope = -x * math.exp(log_pdf - math.log(sf))
        step = max(-1.0, min(1.0, -f / slope))
        x *= math.exp(step)
        if abs(step) < 1e-16:
            break
    assert abs(st.t.sf(x, df) / q - 1) < 1e-12, (q, df, x)
    return x


def t_quantile_cases():
    rows = []
    for df in T_DFS:
        for q in [1e-300, 1e-100, 1e-30, 1e-12, 1e-6, 1e-3, 0.005, 0.025, 0.05, 0.1, 0.25, 0.4,
                  0.45]:
            for p in (q, 1 - q):
                tail = min(p, 1 - p)  # exact: 1 - p is exact for p >= 1/2
                x = float(st.norm.isf(tail)) if math.isinf(df) else t_isf_refined(tail, df)
                if x is None:
                    continue
                rows.append([num(p), num(df), num(-x if p < 0.5 else x)])
    return rows


CHI2_DFS = [0.1, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 20, 50, 100, 500, 1000, 1e4]


def chi2_cases():
    rows = []
    for df in CHI2_DFS:
        for r in [0, 1e-8, 1e-3, 0.05, 0.3, 0.7, 0.9, 1, 1.1, 1.5, 2, 3, 5, 10, 30, 100]:
            x = float(r * df)
            cdf, sf = st.chi2.cdf(x, df), st.chi2.sf(x, df)
            if min(cdf, sf) < 1e-300 and x != 0:
                continue  # underflow
            rows.append([num(x), num(df), num(cdf), num(sf)])
        for x in [0.5, 3.84, 6.63, 10.83, 50.0, 200.0, 1000.0]:
            cdf, sf = st.chi2.cdf(x, df), st.chi2.sf(x, df)
            if min(cdf, sf) >= 1e-300:
                rows.append([num(x), num(df), num(cdf), num(sf)])
    return rows


def chi2_quantile_cases():
    rows = []
    for df in CHI2_DFS:
        for p in [1e-300, 1e-100, 1e-20, 1e-8, 1e-3, 0.01, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99,
                  0.999]:
            rows.append([num(p), num(df), num(st.chi2.ppf(p, df)), num(st.chi2.isf(p, df))])
    return rows


def gamma_cases():
    rows = []
    for a in [1e-4, 0.01, 0.05, 0.3, 0.5, 0.9, 1, 1.5, 2, 3.5, 5, 10, 25, 100, 1000, 1e4]:
        for r in [1e-6, 1e-3, 0.1, 0.5, 0.9, 1, 1.1, 1.5, 2, 3, 10, 30]:
            x = a * r if a >= 1 else r
            p, q = sc.gammainc(a, x), sc.gammaincc(a, x)
            if min(p, q) < 1e-300:
                continue  # underflow
            rows.append([num(a), num(x), num(p), num(q)])
    return rows


def beta_cases():
    rows = []
    pairs = [(a, b) for a in [0.05, 0.5, 1, 2.5, 10, 50, 200]
             for b in [0.05, 0.5, 1, 3, 10, 40, 200]
             if (a, b) != (200, 0.05)]  # SciPy is off by 6e-11 there
    for a, b in pairs:
        m = a / (a + b)
        for x in [1e-8, 1e-3, 0.1 * m, 0.5 * m, 0.9 * m, m, 1.1 * m, 0.3, 0.5, 0.7, 0.99,
                  1 - 1e-6]:
            if not 0 < x < 1:
                continue
            lower = sc.betainc(a, b, x)
            # The complement from the mirrored function, where 1 - x is exact in doubles.
            upper = sc.betainc(b, a, 1 - x) if x >= 0.5 else None
            if lower < 1e-300 or (upper is not None and upper < 1e-300):
                continue  # underflow
            rows.append([num(a), num(b), num(x), num(lower),
                         None if upper is None else num(upper)])
    return rows


# --- two arms from raw samples ---


def sample(rng, kind, n, shift=0.0):
    """Samples of one arm: conversions (0/1), counts, revenue, or a constant."""
    if kind == "conversion":
        p = min(max(0.1 + shift, 0.0), 1.0)
        return [1.0 if rng.random() < p else 0.0 for _ in range(n)]
    if kind == "count":
        lam = 2.0 * (1 + shift)
        out = []
        for _ in range(n):
            k, s = 0, rng.expovariate(1.0)
            while s < lam:
                k += 1
                s += rng.expovariate(1.0)
            out.append(float(k))
        return out
    if kind == "revenue":
        return [0.0 if rng.random() < 0.7 else round(rng.lognormvariate(3 + shift, 1), 2)
                for _ in range(n)]
    if kind == "normal":
        return [rng.gauss(100 + 10 * shift, 15) for _ in range(n)]
    if kind == "constant":
        return [1.0] * n
    raise ValueError(kind)


def sums(xs):
    return [len(xs), math.fsum(xs), math.fsum(x * x for x in xs)]


ARM_CASES = [
    # (name, control kind, n_c, treatment kind, n_t, treatment shift, seed)
    ("conversion, no effect", "conversion", 5000, "conversion", 5000, 0.0, 1),
    ("conversion, +2 points", "conversion", 20000, "conversion", 20000, 0.02, 2),
    ("conversion, small arms", "conversion", 40, "conversion", 35, 0.1, 3),
    ("conversion, unequal arms", "conversion", 30000, "conversion", 3000, -0.01, 4),
    ("count, +10%", "count", 4000, "count", 4000, 0.1, 5),
    ("revenue, skewed", "revenue", 8000, "revenue", 8000, 0.05, 6),
    ("revenue, tiny effect", "revenue", 2000, "revenue", 2500, 0.0, 7),
    ("normal, large effect", "normal", 1000, "normal", 1000, 1.0, 8),
    ("normal, tiny p-value", "normal", 100000, "normal", 100000, 0.3, 9),
    ("normal, two units each", "normal", 2, "normal", 2, 0.5, 10),
    ("normal, three and fifty", "normal", 3, "normal", 50, -0.2, 11),
    ("treatment constant", "normal", 500, "constant", 500, 0.0, 12),
    ("control constant", "constant", 500, "normal", 400, 0.0, 13),
    ("conversion, negative effect", "conversion", 12000, "conversion", 11000, -0.03, 14),
]


def welch_reference(c, t, relative):
    c, t = np.array(c), np.array(t)
    mc, mt = c.mean(), t.mean()
    vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
    df = (vc + vt) ** 2 / (vc ** 2 / (len(c) - 1) + vt ** 2 / (len(t) - 1))
    if relative:
        estimate = (mt - mc) / mc
        variance = vt / mc ** 2 + vc * mt ** 2 / mc ** 4
    else:
        estimate = mt - mc
        variance = vc + vt
    return float(estimate), float(variance), float(df)


def welch_case(c, t, relative, alpha):
    estimate, variance, df = welch_reference(c, t, relative)
    se = math.sqrt(variance)
    if relative:
        statistic = estimate / se
        p = 2 * st.t.sf(abs(statistic), df)
    else:
        with warnings.catch_warnings():  # one constant arm: SciPy warns, the result holds
            warnings.simplefilter("ignore", RuntimeWarning)
            res = st.ttest_ind(t, c, equal_var=False)
        statistic, p = float(res.statistic), float(res.pvalue)
    crit = t_isf_refined(alpha / 2, df)
    return {"estimate": num(estimate), "std_error": num(se), "statistic": num(statistic),
            "df": num(df), "p_value": num(p), "ci": [num(estimate - crit * se),
                                                     num(estimate + crit * se)]}


def partial_mean(z):
    """E[max(Z + z, 0)] = z Φ(z) + φ(z) for standard normal Z. For z < 0 the terms cancel;
    there it is φ(z) (1 - |z| R(|z|)) with Mills' ratio R(x) = sqrt(π/2) erfcx(x/√2)."""
    if z >= 0:
        return z * st.norm.cdf(z) + st.norm.pdf(z)
    x = -z
    return st.norm.pdf(x) * (1 - x * math.sqrt(math.pi / 2) * sc.erfcx(x / math.sqrt(2)))


def bayes_case(c, t, relative, alpha, prior=None):
    estimate, variance, _ = welch_reference(c, t, relative)
    mean, var = estimate, variance
    if prior is not None:
        precision = 1 / variance + 1 / prior[1]
        mean = (estimate / variance + prior[0] / prior[1]) / precision
        var = 1 / precision
    sd = math.sqrt(var)
    z = mean / sd
    return {"mean": num(mean), "std_dev": num(sd),
            "chance_to_beat": num(st.norm.sf(0, loc=mean, scale=sd)),
            # E[max(X, 0)] and E[max(-X, 0)] for X ~ N(mean, sd²)
            "risk_control": num(sd * partial_mean(z)),
            "risk_treatment": num(sd * partial_mean(-z)),
            "ci": [num(st.norm.ppf(alpha / 2, loc=mean, scale=sd)),
                   num(st.norm.isf(alpha / 2, loc=mean, scale=sd))]}


def sequential_case(c, t, relative, alpha, tuning):
    """GrowthBook's SequentialTwoSidedTTest (Waudby-Smith et al. eqs. 9, 155, 161)."""
    estimate, variance, _ = welch_reference(c, t, relative)
    n = len(c) + len(t)
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    s2 = variance * n
    halfwidth = math.sqrt(s2) * math.sqrt(
        (2 * (n * rho ** 2 + 1)) * math.log(math.sqrt(n * rho ** 2 + 1) / alpha)
        / (n * rho) ** 2)
    st2 = estimate ** 2 * n / variance
    tr2p1 = n * rho ** 2 + 1
    log_evalue = rho ** 2 * st2 / (2 * tr2p1) - 0.5 * math.log(tr2p1)
    p = min(math.exp(-log_evalue), 1.0)
    return {"estimate": num(estimate), "std_error": num(math.sqrt(variance)), "p_value": num(p),
            "ci": [num(estimate - halfwidth), num(estimate + halfwidth)]}


def arm_cases():
    rows = []
    for name, kc, nc, kt, nt, shift, seed in ARM_CASES:
        rng = random.Random(seed)
        c = sample(rng, kc, nc)
        t = sample(rng, kt, nt, shift)
        case = {"name": name, "control": sums(c), "treatment": sums(t),
                "summary": [[num(np.mean(a)), num(np.var(a, ddof=1))] for a in (c, t)]}
        for scale in ("absolute", "relative"):
            rel = scale == "relative"
            case[scale] = {
                "welch": welch_case(c, t, rel, ALPHA),
                "welch_90": welch_case(c, t, rel, 0.10),
                "bayes": bayes_case(c, t, rel, ALPHA),
                "sequential": sequential_case(c, t, rel, ALPHA, TUNING),
                "sequential_n1000": sequential_case(c, t, rel, 0.10, 1000.0),
            }
        est, var, _ = welch_reference(c, t, False)
        prior = (0.0, (0.5 * abs(est) + math.sqrt(var)) ** 2)
        case["absolute"]["bayes_prior"] = dict(bayes_case(c, t, False, ALPHA, prior),
                                               prior=[num(prior[0]), num(prior[1])])
        rows.append(case)
    return rows


# --- SRM and Holm ---

SRM_CASES = [
    ([5000, 5000], [0.5, 0.5]),
    ([5100, 4900], [50, 50]),
    ([10321, 9679], [0.5, 0.5]),
    ([1000, 2000, 3000], [1, 2, 3]),
    ([980, 2050, 2970], [1, 2, 3]),
    ([30, 70], [0.5, 0.5]),
    ([3, 4], [0.5, 0.5]),
    ([9000, 1000], [0.9, 0.1]),
    ([500000000, 499000000], [0.5, 0.5]),
    ([1200, 1250, 1180, 1330, 1040], [0.2, 0.2, 0.2, 0.2, 0.2]),
    ([400, 0, 600], [40, 0, 60]),
    ([100, 100, 100, 100], [0.3, 0.3, 0.2, 0.2]),
]


def srm_cases():
    rows = []
    for counts, weights in SRM_CASES:
        keep = [i for i, w in enumerate(weights) if w > 0]
        total = sum(counts)
        wsum = sum(weights)
        obs = [counts[i] for i in keep]
        exp = [weights[i] / wsum * total for i in keep]
        res = st.chisquare(obs, exp)
        rows.append({"counts": counts, "weights": [num(w) for w in weights],
                     "statistic": num(res.statistic), "df": len(keep) - 1,
                     "p_value": num(res.pvalue)})
    return rows


def holm(ps):
    """Holm's step-down adjustment by sorting (stable), as statsmodels does it."""
    ps = np.asarray(ps, dtype=float)
    m = len(ps)
    order = np.argsort(ps, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * ps[order])
    stepped = np.maximum.accumulate(stepped)
    out = np.empty(m)
    out[order] = stepped
    return [num(x) for x in out]


def holm_cases():
    rng = random.Random(42)
    sets = [[0.01], [0.01, 0.04], [0.04, 0.01], [0.01, 0.02, 0.03, 0.04], [0.03, 0.03, 0.01],
            [0.5, 0.5, 0.5], [0.0, 1.0, 0.2], [1e-300, 0.049, 0.0125, 0.9], [0.2, 0.3, 0.4, 0.6]]
    for k in (5, 8, 12):
        sets.append([round(rng.random() ** 3, 6) for _ in range(k)])
    sets.append([0.02, 0.001, 0.02, 0.5, 0.001, 0.03])
    return [{"p": [num(p) for p in s], "adjusted": holm(s)} for s in sets]


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("reference.json")
    data = {
        "generator": {"scipy": scipy.__version__, "numpy": np.__version__,
                      "alpha": ALPHA, "tuning": TUNING},
        "normal": normal_cases(),
        "normal_quantile": normal_quantile_cases(),
        "t": t_cases(),
        "t_quantile": t_quantile_cases(),
        "chi2": chi2_cases(),
        "chi2_quantile": chi2_quantile_cases(),
        "gamma_inc": gamma_cases(),
        "beta_inc": beta_cases(),
        "arms": arm_cases(),
        "srm": srm_cases(),
        "holm": holm_cases(),
    }
    # One case a line: compact, and a diff names the cases that changed.
    sections = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list):
            rows = ",\n".join("  " + json.dumps(row, sort_keys=True) for row in value)
            sections.append(f" {json.dumps(key)}: [\n{rows}\n ]")
        else:
            sections.append(f" {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
    out.write_text("{\n" + ",\n".join(sections) + "\n}\n")


if __name__ == "__main__":
    main()
