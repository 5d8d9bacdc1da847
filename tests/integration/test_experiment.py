"""flagtrail experiment against an independent SciPy computation over the raw data the test sent.

The test generates identities with known truth (control converting at 10%, treatment at 12%),
writes their webhooks and events into a spool with chosen receive times, loads it with
`flagtrail replay` (the real loader), and compares every number of the JSON report, and of the
table at its printed precision, to SciPy over the same raw data.
"""
import datetime
import json
import math
import os
import random
import re
import signal
import subprocess

import numpy as np
import pytest
from scipy import stats

from conftest import BUILD, DATA, run
from receiver import count_deliveries, query, receivers, wait_for, webhook  # noqa: F401
from receiver import flag as receiver_flag
from warehouse import DAY, T0, body, flag, load

N = 20000
ALPHA = 0.05
TUNING = 5000.0
REL = 1e-6


def iso(us):
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def generate(seed=11, split=0.5, n=N, quarantine=120):
    """Webhooks and events. Flag new_checkout: on/off arms, purchase converts at 10% (off) and
    12% (on). Flag banner: a multivariate flag with three values and no effect."""
    rng = random.Random(seed)
    hooks, events, truth = [], [], {}
    for i in range(n):
        ident = f"u{i:05d}"
        on = rng.random() < split
        banner = rng.choice(["control", "blue", "green"])
        first = T0 + rng.randrange(4 * DAY)
        times = sorted([first] + [first + rng.randrange(1, DAY) for _ in range(rng.randrange(3))])
        for t in times:
            hooks.append((t, ident, on, banner))
        truth[ident] = (first, on, banner)
        if i < quarantine:  # seen later in the other arm
            hooks.append((first + DAY + 7, ident, not on, banner))
        if rng.random() < (0.12 if on else 0.10):
            for _ in range(rng.randrange(1, 4)):
                value = round(rng.lognormvariate(3, 0.8), 2) if rng.random() < 0.9 else None
                events.append((first + rng.randrange(0, 2 * DAY), ident, "purchase", value))
        if rng.random() < 0.05:  # before the first exposure: must not count
            events.append((first - 1 - rng.randrange(DAY), ident, "purchase", 5.0))
        if rng.random() < 0.3:
            events.append((first + rng.randrange(3 * DAY), ident, "page_view", None))
    for i in range(50):  # events of identities never exposed
        events.append((T0 + i, f"stranger{i}", "purchase", 1.0))
    return hooks, events


def webhook_rows(hooks):
    rows = []
    for t, ident, on, banner in hooks:
        flags = [flag(1, "new_checkout", on, None), flag(2, "banner", True, banner, mv=True)]
        rows.append((t, body(ident, flags)))
    return rows


def event_rows(events, batch=500):
    rows = []
    for k in range(0, len(events), batch):
        chunk = events[k:k + batch]
        items = []
        for t, ident, name, value in chunk:
            e = {"identity": ident, "event": name, "timestamp": iso(t)}
            if value is not None:
                e["value"] = value
            items.append(e)
        rows.append((max(t for t, *_ in chunk), json.dumps(items)))
    return rows


@pytest.fixture(scope="module")
def warehouse(flagtrail, tmp_path_factory):
    hooks, events = generate()
    url = load(flagtrail, tmp_path_factory.mktemp("experiment"), webhook_rows(hooks),
               event_rows(events))
    return hooks, events, url


# --- the independent computation ---

def units(hooks, arm_of, since=None, until=None):
    """identity -> (arm, first exposure) for identities seen in one arm only; and the number
    quarantined."""
    seen = {}
    for t, ident, on, banner in hooks:
        if since is not None and t < since or until is not None and t > until:
            continue
        arm = arm_of(on, banner)
        arms, first = seen.get(ident, (set(), t))
        arms.add(arm)
        seen[ident] = (arms, min(first, t))
    kept = {i: (next(iter(a)), f) for i, (a, f) in seen.items() if len(a) == 1}
    return kept, len(seen) - len(kept)


def metric_values(kept, events, event, kind, until=None):
    """arm -> numpy array of the per-identity metric."""
    per = {}
    for t, ident, name, value in events:
        if name != event or ident not in kept or t < kept[ident][1]:
            continue
        if until is not None and t > until:
            continue
        per.setdefault(ident, []).append(value)
    out = {}
    for ident, (arm, _) in kept.items():
        vals = per.get(ident, [])
        if kind == "conversion":
            x = 1.0 if vals else 0.0
        elif kind == "count":
            x = float(len(vals))
        elif kind == "sum":
            x = float(sum(v for v in vals if v is not None))
        else:
            valued = [v for v in vals if v is not None]
            if not valued:
                continue
            x = sum(valued) / len(valued)
        out.setdefault(arm, []).append(x)
    return {a: np.array(v) for a, v in out.items()}


def welch(c, t, relative):
    nc, nt = len(c), len(t)
    mc, mt = c.mean(), t.mean()
    vc, vt = c.var(ddof=1) / nc, t.var(ddof=1) / nt
    df = (vc + vt) ** 2 / (vc ** 2 / (nc - 1) + vt ** 2 / (nt - 1))
    if relative:
        est = mt / mc - 1
        se = math.sqrt(vt / mc ** 2 + vc * mt ** 2 / mc ** 4)
    else:
        est, se = mt - mc, math.sqrt(vc + vt)
    return est, se, df


def expected_comparison(c, t):
    out = {}
    for scale in ("absolute", "relative"):
        est, se, df = welch(c, t, scale == "relative")
        crit = stats.t.isf(ALPHA / 2, df)
        freq = {"estimate": est, "std_error": se, "statistic": est / se, "df": df,
                "p_value": 2 * stats.t.sf(abs(est / se), df),
                "ci_low": est - crit * se, "ci_high": est + crit * se}
        if scale == "absolute":
            ref = stats.ttest_ind(t, c, equal_var=False)
            assert freq["statistic"] == pytest.approx(ref.statistic, rel=1e-9)
            assert freq["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        z = est / se
        zc = stats.norm.isf(ALPHA / 2)
        bayes = {"mean": est, "std_dev": se, "chance_to_beat": stats.norm.cdf(z),
                 "risk_control": est * stats.norm.cdf(z) + se * stats.norm.pdf(z),
                 "risk_treatment": -est * stats.norm.cdf(-z) + se * stats.norm.pdf(z),
                 "ci_low": est - zc * se, "ci_high": est + zc * se}
        n = len(c) + len(t)
        rho2 = (-2 * math.log(ALPHA) + math.log(1 - 2 * math.log(ALPHA))) / TUNING
        sigma2 = n * se ** 2
        half = math.sqrt(sigma2 * 2 * (n * rho2 + 1) / (n ** 2 * rho2)
                         * math.log(math.sqrt(n * rho2 + 1) / ALPHA))
        p = min(1.0, math.sqrt(n * rho2 + 1)
                * math.exp(-rho2 * n * est ** 2 / (2 * se ** 2 * (n * rho2 + 1))))
        seq = {"estimate": est, "std_error": se, "p_value": p, "ci_low": est - half,
               "ci_high": est + half}
        out[scale] = {"frequentist": freq, "bayesian": bayes, "sequential": seq}
    return out


def holm(ps):
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    adjusted, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def close(actual, expected, what):
    assert actual == pytest.approx(expected, rel=REL, abs=1e-12), what


def check_report(report, arms, values, quarantined):
    """arms: control first. values: metric (event, kind) -> arm -> array."""
    assert [a["arm"] for a in report["arms"]] == arms
    assert report["exposures"]["quarantined"] == quarantined
    counts = [a["units"] for a in report["arms"]]
    srm = stats.chisquare(counts)
    close(report["srm"]["statistic"], srm.statistic, "srm statistic")
    close(report["srm"]["p_value"], srm.pvalue, "srm p")
    for m in report["metrics"]:
        per_arm = values[(m["event"], m["type"])]
        for a in m["arms"]:
            x = per_arm.get(a["arm"], np.array([]))
            assert a["n"] == len(x), (m["event"], a["arm"])
            close(a["mean"], x.mean(), f"{m['event']} {a['arm']} mean")
            close(a["variance"], x.var(ddof=1), f"{m['event']} {a['arm']} variance")
        control = per_arm[arms[0]]
        holm_p = {"absolute": [], "relative": []}
        for cmp in m["comparisons"]:
            want = expected_comparison(control, per_arm[cmp["arm"]])
            for scale, methods in want.items():
                for method, fields in methods.items():
                    got = cmp[method][scale]
                    for key, value in fields.items():
                        close(got[key], value, f"{m['event']} {cmp['arm']} {method} {scale} {key}")
                holm_p[scale].append(methods[report["method"] if report["method"] != "bayesian"
                                             else "frequentist"]["p_value"])
        if report["method"] != "bayesian":
            for scale in holm_p:
                for cmp, p in zip(m["comparisons"], holm(holm_p[scale])):
                    close(cmp[report["method"]][scale]["p_value_holm"], p, "holm")


METRICS = [("purchase", "conversion"), ("purchase", "count"), ("purchase", "sum"),
           ("purchase", "mean"), ("page_view", "conversion")]


def metric_args():
    return [a for e, k in METRICS for a in ("--metric", f"{e}:{k}")]


def test_on_off_flag_equals_scipy(flagtrail, warehouse):
    hooks, events, url = warehouse
    res = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout", *metric_args(),
               "--format", "json"], timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    kept, quarantined = units(hooks, lambda on, banner: "on" if on else "off")
    assert quarantined == 120
    values = {m: metric_values(kept, events, *m) for m in METRICS}
    check_report(report, ["off", "on"], values, quarantined)
    conv = report["metrics"][0]
    # The truth: 10% against 12%, recovered within the interval.
    assert conv["arms"][0]["mean"] == pytest.approx(0.10, abs=0.01)
    assert conv["arms"][1]["mean"] == pytest.approx(0.12, abs=0.01)
    lift = conv["comparisons"][0]["frequentist"]["absolute"]
    assert lift["ci_low"] < 0.02 < lift["ci_high"] and lift["p_value"] < 0.01
    assert report["srm"]["mismatch"] is False
    assert any("120 identities seen in more than one arm" in w for w in report["warnings"])
    # exposures per day: first exposures per arm per UTC day
    per_day = {}
    for ident, (arm, first) in kept.items():
        day = datetime.datetime.fromtimestamp(first / 1e6, datetime.timezone.utc).strftime(
            "%Y-%m-%d")
        per_day[(day, arm)] = per_day.get((day, arm), 0) + 1
    assert {(d["day"], d["arm"]): d["units"] for d in report["exposures_by_day"]} == per_day


@pytest.mark.parametrize("method", ["frequentist", "bayesian", "sequential"])
def test_multivariate_flag_equals_scipy(flagtrail, warehouse, method):
    hooks, events, url = warehouse
    res = run([flagtrail, "experiment", "--store", url, "--flag", "banner", "--control", "control",
               "--metric", "purchase", "--metric", "purchase:sum", "--method", method,
               "--format", "json"], timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["method"] == method and report["arm_by"] == "value"
    kept, quarantined = units(hooks, lambda on, banner: banner)
    metrics = [("purchase", "conversion"), ("purchase", "sum")]
    values = {m: metric_values(kept, events, *m) for m in metrics}
    check_report(report, ["control", "blue", "green"], values, quarantined)


def test_time_window_equals_scipy(flagtrail, warehouse):
    hooks, events, url = warehouse
    since, until = T0 + DAY, T0 + 3 * DAY + 4321
    res = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
               "--metric", "purchase", "--since", iso(since), "--until", iso(until),
               "--format", "json"], timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    kept, quarantined = units(hooks, lambda on, banner: "on" if on else "off", since, until)
    values = {("purchase", "conversion"):
              metric_values(kept, events, "purchase", "conversion", until)}
    check_report(report, ["off", "on"], values, quarantined)
    assert [parse_iso(report["window"][k]) for k in ("since", "until")] == [since, until]
    assert report["exposures"]["units"] == len(kept)


def parse_iso(text):
    t = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(t.timestamp()) * 1000000 + t.microsecond


def numbers(text):
    return [float(x.rstrip("%")) for x in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?", text)]


def test_table_prints_the_json_numbers(flagtrail, warehouse):
    url = warehouse[2]
    args = [flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
            "--metric", "purchase", "--metric", "purchase:mean"]
    report = json.loads(run(args + ["--format", "json"], timeout=300).stdout)
    res = run(args, timeout=300)
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode()
    lines = {l.split()[0]: l for l in text.splitlines() if l.split()}
    assert "off (control)" in text
    for m in report["metrics"]:
        section = text.split(f"Metric {m['event']} ({m['type']}")[1]
        rows = {l.split()[0]: numbers(l) for l in section.splitlines()[2:4]}
        control, treatment = m["arms"][0], m["arms"][1]
        for a in (control, treatment):
            n, mean, var = rows[a["arm"]][:3]
            assert n == a["n"]
            assert mean == pytest.approx(a["mean"], rel=5e-6)
            assert var == pytest.approx(a["variance"], rel=5e-6)
        f = m["comparisons"][0]["frequentist"]
        lift, lo, hi, p, holm_p, rel, rlo, rhi = rows["on"][3:11]
        assert lift == pytest.approx(f["absolute"]["estimate"], rel=5e-6)
        assert lo == pytest.approx(f["absolute"]["ci_low"], rel=5e-6)
        assert hi == pytest.approx(f["absolute"]["ci_high"], rel=5e-6)
        assert p == pytest.approx(f["absolute"]["p_value"], rel=5e-6)
        assert holm_p == pytest.approx(f["absolute"]["p_value_holm"], rel=5e-6)
        assert rel == pytest.approx(100 * f["relative"]["estimate"], rel=5e-4)
        assert rlo == pytest.approx(100 * f["relative"]["ci_low"], rel=5e-4)
        assert rhi == pytest.approx(100 * f["relative"]["ci_high"], rel=5e-4)
    assert "chi-square" in lines["Sample"]
    assert numbers(lines["Sample"])[0] == pytest.approx(report["srm"]["statistic"], rel=5e-6)


@pytest.fixture(scope="module")
def srm_warehouse(flagtrail, tmp_path_factory):
    hooks, events = generate(seed=5, split=0.52, quarantine=40)
    return load(flagtrail, tmp_path_factory.mktemp("srm"), webhook_rows(hooks),
                event_rows(events)), hooks


def test_52_48_split_raises_the_srm_warning(flagtrail, srm_warehouse):
    url, hooks = srm_warehouse
    res = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
               "--metric", "purchase", "--format", "json"], timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    kept, quarantined = units(hooks, lambda on, banner: "on" if on else "off")
    counts = [sum(1 for a, _ in kept.values() if a == arm) for arm in ("off", "on")]
    assert [a["units"] for a in report["arms"]] == counts
    assert counts[1] / sum(counts) == pytest.approx(0.52, abs=0.01)
    assert report["srm"]["mismatch"] is True
    close(report["srm"]["p_value"], stats.chisquare(counts).pvalue, "srm p")
    assert report["exposures"]["quarantined"] == quarantined == 40
    assert any(w.startswith("Sample ratio mismatch") for w in report["warnings"])
    text = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
                "--metric", "purchase"], timeout=300).stdout.decode()
    assert "MISMATCH" in text and "Sample ratio mismatch" in text
    assert "40 identities seen in more than one arm were quarantined" in text
    # Declaring the split that was run removes the mismatch.
    res = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
               "--metric", "purchase", "--weights", "off=48,on=52", "--format", "json"],
              timeout=300)
    report = json.loads(res.stdout)
    assert [a["expected_share"] for a in report["arms"]] == [0.48, 0.52]
    close(report["srm"]["p_value"],
          stats.chisquare(counts, [0.48 * sum(counts), 0.52 * sum(counts)]).pvalue, "srm p")
    assert report["srm"]["mismatch"] is False


@pytest.mark.parametrize("args,message", [
    (["--flag", "nope", "--metric", "purchase"], b"no webhook in the warehouse has a flag named nope"),
    (["--flag", "new_checkout", "--metric", "refund"], b"no events named refund"),
    (["--flag", "new_checkout", "--metric", "purchase", "--since", "2030-01-01"],
     b"no identity was exposed to flag new_checkout in the time window"),
    (["--flag", "new_checkout", "--metric", "purchase", "--control", "maybe"],
     b"--control maybe: no identity was exposed to it"),
    (["--flag", "banner", "--metric", "purchase"], b"name the control with --control"),
    (["--flag", "new_checkout", "--metric", "purchase", "--weights", "off=1,maybe=1"],
     b"weight for maybe: no identity was exposed to it"),
])
def test_meaningless_reports_fail_in_one_line(flagtrail, warehouse, args, message):
    res = run([flagtrail, "experiment", "--store", warehouse[2], *args], timeout=300)
    assert res.returncode == 1, res.stdout
    assert res.stdout == b""
    assert message in res.stderr and res.stderr.count(b"\n") == 1, res.stderr


@pytest.mark.parametrize("args,message", [
    ([], b"--flag NAME is required"),
    (["--flag", "x", "--metric", "purchase:median"], b"conversion, count, sum or mean"),
    (["--flag", "x", "--since", "yesterday"], b"not a time"),
    (["--flag", "x", "--alpha", "1.5"], b"--alpha"),
    (["--flag", "x", "--method", "magic"], b"--method"),
    (["--flag", "x", "--format", "pdf"], b"--format"),
    (["--flag", "x", "--weights", "on"], b"--weights"),
    (["--flag", "x", "--arms-by", "colour"], b"--arms-by"),
])
def test_bad_arguments_are_usage_errors(flagtrail, warehouse, args, message):
    res = run([flagtrail, "experiment", "--store", warehouse[2], *args])
    assert res.returncode == 2, res.stderr
    assert message in res.stderr


def test_missing_store_is_an_error_not_a_new_file(flagtrail, tmp_path):
    db = tmp_path / "absent.db"
    res = run([flagtrail, "experiment", "--store", f"sqlite:{db}", "--flag", "x",
               "--metric", "purchase"])
    assert res.returncode == 1 and b"no warehouse at" in res.stderr
    assert not db.exists()


def test_out_writes_the_report_atomically(flagtrail, warehouse, tmp_path):
    out = tmp_path / "report.json"
    res = run([flagtrail, "experiment", "--store", warehouse[2], "--flag", "new_checkout",
               "--metric", "purchase", "--format", "json", "--out", str(out)], timeout=300)
    assert res.returncode == 0 and res.stdout == b""
    assert json.loads(out.read_text())["flag"] == "new_checkout"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    res = run([flagtrail, "experiment", "--store", warehouse[2], "--flag", "new_checkout",
               "--metric", "purchase", "--out", str(tmp_path / "no" / "dir" / "r.txt")])
    assert res.returncode == 1 and b"r.txt" in res.stderr


# --- the HTML report in a real headless Chromium ---

ARTIFACTS = BUILD / "artifacts"


def chromium(page, tmp_path, *args):
    """Opens `page` in headless Chromium with `args` (--screenshot=..., --dump-dom); returns
    (stdout, the page's console messages). The browser is stopped by its PID."""
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-background-networking", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1000,1400",
           "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish within 120 s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    console = [l for l in err.decode(errors="replace").splitlines() if ":CONSOLE" in l]
    return out.decode(), console


def test_chromium_reports_console_errors(tmp_path):
    """The check below can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('marker'); nope();</script>")
    _, console = chromium(page, tmp_path, "--dump-dom")
    assert any("marker" in l for l in console) and any("nope" in l for l in console)


def test_html_report_renders_in_chromium(flagtrail, srm_warehouse, tmp_path):
    url = srm_warehouse[0]
    page = tmp_path / "report.html"
    res = run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
               "--metric", "purchase", "--metric", "purchase:sum", "--format", "html",
               "--out", str(page)], timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(run([flagtrail, "experiment", "--store", url, "--flag", "new_checkout",
                             "--metric", "purchase", "--metric", "purchase:sum",
                             "--format", "json"], timeout=300).stdout)
    html = page.read_text()
    # Self-contained: nothing to fetch.
    assert not re.search(r"\b(src|href)\s*=|url\(|@import|<script|<link", html, re.I)
    dom, console = chromium(page, tmp_path, "--dump-dom")
    assert console == [], console
    assert re.search(r'<div class="box srm-bad" id="srm">[^<]*Sample ratio mismatch', dom)
    chart = dom.split('id="exposures"')[1].split("</svg>")[0]
    assert chart.count("<rect") == len(report["exposures_by_day"])
    for i, m in enumerate(report["metrics"]):
        plot = dom.split(f'id="lift-{i}"')[1].split("</svg>")[0]
        assert plot.count("<circle") == len(m["comparisons"])
        rel = m["comparisons"][0]["frequentist"]["relative"]
        assert f"{100 * rel['estimate']:+.6g}%" in plot
    assert "40 identities seen in more than one arm were quarantined" in dom
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "experiment-report.png"
    shot.unlink(missing_ok=True)
    _, console = chromium(page, tmp_path, f"--screenshot={shot}")
    assert console == [], console
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10000


def test_from_signed_webhooks_and_events_through_receive(flagtrail, receivers):
    """The whole path: signed webhooks and events POSTed to a running receiver, then the report."""
    r = receivers()
    rng = random.Random(2)
    arms, converted = {}, {}
    for i in range(600):
        ident, on = f"e2e-{i}", rng.random() < 0.5
        arms[ident] = "on" if on else "off"
        status, _, answer = r.post(webhook(ident, [receiver_flag(1, "new_checkout", on, None)]))
        assert status == 200, answer
        converted[ident] = rng.random() < (0.3 if on else 0.2)
    events = [{"identity": i, "event": "signup", "value": 1} for i, c in converted.items() if c]
    for k in range(0, len(events), 100):
        status, _, answer = r.post(json.dumps(events[k:k + 100]).encode(), path="/events")
        assert status == 200, answer
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_event")[0][0] == len(events)
             and count_deliveries(r.db) == 600, message="webhooks and events loaded")
    res = run([flagtrail, "experiment", "--store", f"sqlite:{r.db}", "--flag", "new_checkout",
               "--metric", "signup", "--format", "json"], timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for a in report["arms"]:
        assert a["units"] == sum(1 for v in arms.values() if v == a["arm"])
    for a in report["metrics"][0]["arms"]:
        mine = [converted[i] for i, v in arms.items() if v == a["arm"]]
        assert a["n"] == len(mine)
        close(a["mean"], sum(mine) / len(mine), "conversion rate")


def test_environment_document_gives_control_and_weights(flagtrail, tmp_path):
    """mv_feature of the v1 document: control foo (40%), baz 30%, bar 30%, 1 and true at 0%."""
    doc = json.loads((DATA / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json")
                     .read_text())["environment"]
    env = tmp_path / "environment.json"
    env.write_text(json.dumps(doc))
    rng = random.Random(8)
    rows, events, arms = [], [], {}
    for i in range(3000):
        value = rng.choices(["foo", "baz", "bar"], [40, 30, 30])[0]
        t = T0 + rng.randrange(DAY)
        arms[f"m{i}"] = value
        rows.append((t, body(f"m{i}", [flag(9, "mv_feature", True, value, mv=True,
                                            env=doc["id"])])))
        if rng.random() < 0.2:
            events.append((t + 5, f"m{i}", "click", None))
        if i % 3 == 0:  # the same identifier in another environment, another identity there
            rows.append((t + 9, body(f"m{i}", [flag(9, "mv_feature", True, "staging_value",
                                                    mv=True, env=doc["id"] + 1)])))
    url = load(flagtrail, tmp_path, rows, event_rows(events))
    res = run([flagtrail, "experiment", "--store", url, "--flag", "mv_feature",
               "--environment", str(env), "--metric", "click", "--format", "json"], timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["control"] == "foo"
    assert report["exposures"]["quarantined"] == 0  # the other environment's webhooks are not its
    shares = {a["arm"]: a["expected_share"] for a in report["arms"]}
    assert shares == {"foo": 0.4, "baz": 0.3, "bar": 0.3}
    counts = [sum(1 for v in arms.values() if v == a["arm"]) for a in report["arms"]]
    assert [a["units"] for a in report["arms"]] == counts
    close(report["srm"]["p_value"],
          stats.chisquare(counts, [sum(counts) * shares[a["arm"]] for a in report["arms"]]).pvalue,
          "srm p")
    res = run([flagtrail, "experiment", "--store", url, "--flag", "no_such_feature",
               "--environment", str(env), "--metric", "click"])
    assert res.returncode == 1 and b"has no feature named no_such_feature" in res.stderr
    res = run([flagtrail, "experiment", "--store", url, "--flag", "mv_feature", "--environment",
               str(env), "--environment-id", str(doc["id"] + 1), "--metric", "click"])
    assert res.returncode == 1 and b"is another environment's" in res.stderr


def test_a_warehouse_of_several_environments_needs_one_chosen(flagtrail, tmp_path):
    """An identifier in two environments is two identities: without --environment-id the
    analyses refuse to mix them; with it, each environment's answer is its own."""
    rows, truth = [], {7: {}, 8: {}}
    rng = random.Random(5)
    for i in range(400):
        for env in (7, 8):
            on = rng.random() < 0.5
            truth[env][f"s{i}"] = on
            rows.append((T0 + i * 1000 + env, body(f"s{i}", [flag(1, "f", on, None, env=env)])))
    events = [(T0 + DAY, f"s{i}", "buy", None) for i in range(0, 400, 3)]
    url = load(flagtrail, tmp_path, rows, event_rows(events))
    for cmd in (["cohort", "--flag", "f=on"], ["experiment", "--flag", "f", "--metric", "buy"]):
        res = run([flagtrail, *cmd, "--store", url])
        assert res.returncode == 1, res.stdout
        assert res.stderr.decode().strip().endswith(
            "several environments (7, 8) and an identifier names a different identity in each:"
            " choose one with --environment-id"), res.stderr
    for env in (7, 8):
        res = run([flagtrail, "cohort", "--store", url, "--flag", "f=on", "--environment-id",
                   str(env), "--list", "--format", "json"])
        assert res.returncode == 0, res.stderr
        assert sorted(r["identity"] for r in json.loads(res.stdout)) == sorted(
            i for i, on in truth[env].items() if on)
        res = run([flagtrail, "experiment", "--store", url, "--flag", "f", "--metric", "buy",
                   "--environment-id", str(env), "--format", "json"])
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["exposures"]["quarantined"] == 0
        units = {a["arm"]: a["units"] for a in report["arms"]}
        assert units == {"on": sum(truth[env].values()),
                         "off": len(truth[env]) - sum(truth[env].values())}
    res = run([flagtrail, "cohort", "--store", url, "--flag", "f=on", "--environment-id", "9"])
    assert res.returncode == 0 and res.stdout == b"0\n", (res.stdout, res.stderr)
    res = run([flagtrail, "cohort", "--store", url, "--environment-id", "x"])
    assert res.returncode == 2 and b"--environment-id: an integer, got x" in res.stderr


def test_weights_leave_off_the_control_of_an_on_off_flag(flagtrail, warehouse):
    """--weights sets the expected split only: an on/off flag's control stays off, whatever
    order the weights are listed in (empty items are skipped)."""
    for weights in ("on=50,off=50", "on=1,,off=1,"):
        res = run([flagtrail, "experiment", "--store", warehouse[2], "--flag", "new_checkout",
                   "--metric", "purchase", "--weights", weights, "--format", "json"], timeout=300)
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["control"] == "off"
        assert [a["arm"] for a in report["arms"]] == ["off", "on"]
        assert [a["expected_share"] for a in report["arms"]] == [0.5, 0.5]


def test_the_interval_is_labelled_with_its_level(flagtrail, warehouse, tmp_path):
    for alpha, level in (("0.025", "97.5%"), ("0.001", "99.9%"), ("0.05", "95%")):
        args = [flagtrail, "experiment", "--store", warehouse[2], "--flag", "new_checkout",
                "--metric", "purchase", "--alpha", alpha]
        res = run(args, timeout=300)
        assert res.returncode == 0, res.stderr
        assert f"{level} interval" in res.stdout.decode()
        res = run(args + ["--format", "html"], timeout=300)
        assert res.stdout.decode().count(f"{level} interval") >= 2  # table and chart


def split_document(tmp_path, baz, bar):
    doc = json.loads((DATA / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json")
                     .read_text())["environment"]
    for fs in doc["feature_states"]:
        if fs["feature"]["name"] == "mv_feature":
            fs["multivariate_feature_state_values"][0]["percentage_allocation"] = baz
            fs["multivariate_feature_state_values"][1]["percentage_allocation"] = bar
    path = tmp_path / f"environment-{baz}-{bar}.json"
    path.write_text(json.dumps(doc))
    return path, doc["id"]


def test_an_environment_control_nobody_saw(flagtrail, tmp_path):
    """Only the variants were seen. At 50/50 the default value gets 0%: the command asks for
    --control instead of naming an option the user never gave. At 30/30 the default keeps 40%:
    it is the control, an empty arm, and the sample-ratio test fails loudly."""
    doc_0, env_id = split_document(tmp_path, 50, 50)
    doc_40, _ = split_document(tmp_path, 30, 30)
    rows = [(T0 + i, body(f"v{i}", [flag(9, "mv_feature", True, "baz" if i % 2 else "bar",
                                         mv=True, env=env_id)])) for i in range(400)]
    events = [(T0 + DAY, f"v{i}", "click", None) for i in range(0, 400, 5)]
    url = load(flagtrail, tmp_path, rows, event_rows(events))
    base = [flagtrail, "experiment", "--store", url, "--flag", "mv_feature", "--metric", "click"]
    res = run(base + ["--environment", str(doc_0)])
    assert res.returncode == 1
    assert res.stderr.decode() == (
        "flagtrail experiment: flag mv_feature: the environment gives its default value (foo),"
        " the usual control, 0% of identities and nobody saw it: name the control with"
        " --control\n")
    res = run(base + ["--environment", str(doc_0), "--control", "bar", "--format", "json"])
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert [(a["arm"], a["units"], a["expected_share"]) for a in report["arms"]] == [
        ("bar", 200, 0.5), ("baz", 200, 0.5)]
    res = run(base + ["--environment", str(doc_40), "--format", "json"])
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["control"] == "foo" and report["srm"]["mismatch"] is True
    assert report["arms"][0] == {"arm": "foo", "units": 0, "observed_share": 0,
                                 "expected_share": 0.4}
    empty = report["metrics"][0]["arms"][0]
    assert (empty["n"], empty["mean"], empty["variance"]) == (0, None, None)
    assert all("error" in c for c in report["metrics"][0]["comparisons"])


HOSTILE = ["\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[31mFAKE", "two\nlines\ttab", "c1\u0085\u009b",
           "\u00e9" * 300,
           "checkout_redesign_2026_q4_with_express_payment_variant_control",
           "checkout_redesign_2026_q4_with_express_payment_variant_a"]


def test_names_from_webhooks_are_shown_not_obeyed(flagtrail, tmp_path):
    """Values, identities and names come from whoever sends webhooks. Text shows their control
    characters as escapes (none reaches the terminal), nothing is cut (a cut split a UTF-8
    character, and made two long arms print alike), JSON keeps them exactly, and the HTML page
    and its SVG stay well-formed."""
    import xml.etree.ElementTree as ET
    rows = [(T0 + i, body(HOSTILE[i % 6] + f"#{i}", [flag(4, "hostile", True, HOSTILE[i % 6],
                                                         mv=True)])) for i in range(60)]
    events = [(T0 + DAY, HOSTILE[i % 6] + f"#{i}", "buy", None) for i in range(0, 60, 2)]
    url = load(flagtrail, tmp_path, rows, event_rows(events))
    base = [flagtrail, "experiment", "--store", url, "--flag", "hostile", "--metric", "buy",
            "--control", HOSTILE[5]]
    text = run(base).stdout
    assert text.count(b"\n") > 10
    for ch in range(0x20):
        if ch != 0x0a:
            assert bytes([ch]) not in text, ch
    assert b"\x7f" not in text and "\u0085".encode() not in text
    shown = text.decode()  # valid UTF-8: nothing cut inside a character
    assert "\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b[31mFAKE" in shown
    assert "two\\nlines\\ttab" in shown and "c1\\u0085\\u009b" in shown
    assert "\u00e9" * 300 in shown
    assert HOSTILE[4] in shown and HOSTILE[5] + " (control)" in shown
    report = json.loads(run(base + ["--format", "json"]).stdout)
    assert sorted(a["arm"] for a in report["arms"]) == sorted(HOSTILE)
    assert any("\u00e9" * 300 in w for w in report["warnings"])  # whole, in a warning too
    page = run(base + ["--format", "html"]).stdout.decode()
    assert not any(ord(c) < 0x20 and c not in "\n" or 0x7f <= ord(c) < 0xa0 for c in page)
    assert "\\x1b[2J" in page and "\u00e9" * 300 in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ET.fromstring(svg)  # well-formed XML
    cohort = run([flagtrail, "cohort", "--store", url, "--flag", "hostile=on", "--list"])
    assert cohort.returncode == 0 and b"\x1b" not in cohort.stdout
    assert cohort.stdout.count(b"\n") == 61  # a header and one line per identity
    assert b"\\x1b[2J" in cohort.stdout
    res = run([flagtrail, "experiment", "--store", url, "--flag", "hostile", "--metric", "buy"])
    assert res.returncode == 1 and b"\x1b" not in res.stderr  # the arms, in a message
