"""bench/analyse: an experiment report over a large warehouse, beside the same computation in
Python with sqlite3.

The warehouse (10 million deliveries over 1 million identities, 5 flags, 2 million purchase
events by default; ANALYSE_DELIVERIES, ANALYSE_IDENTITIES, ANALYSE_EVENTS change it) is built
once through the receiver's spool and loader by bench/analyse_data and kept in
build/bench-analyse/. Then, in the same run:

  flagtrail   `flagtrail experiment --flag new_checkout --metric purchase --metric purchase:sum
              --format json`: arms at first exposure, quarantine, both metrics, all methods
  python      bench/peers/experiment_python.py: the same units, quarantine and both metrics
              with Python's sqlite3, numpy and SciPy's Welch test (one method)

Both answers are compared (units per arm, n, mean and variance per metric) before any time is
printed. Wall time is the median of RUNS (default 3) warm runs; the first (cold) run is shown
too. Peak RSS is the child's ru_maxrss.

    bench/analyse.py BUILD
"""
import json
import os
import statistics
import subprocess
import sys
import time

from common import ROOT

DELIVERIES = int(os.environ.get("ANALYSE_DELIVERIES", 10_000_000))
IDENTITIES = int(os.environ.get("ANALYSE_IDENTITIES", 1_000_000))
EVENTS = int(os.environ.get("ANALYSE_EVENTS", 2_000_000))
RUNS = int(os.environ.get("ANALYSE_RUNS", 3))


def timed(cmd):
    """(seconds, peak RSS in MB, stdout) of one run."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def build(build_dir):
    work = os.path.join(ROOT, "build", "bench-analyse")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, f"w-{DELIVERIES}-{IDENTITIES}-{EVENTS}.db")
    if not os.path.exists(db):
        tmp = db + ".building"
        subprocess.run([os.path.join(build_dir, "bench", "analyse_data"), tmp, str(DELIVERIES),
                        str(IDENTITIES), str(EVENTS)], check=True)
        os.rename(tmp, db)
    return db


def agree(ft, py):
    arms = {a["arm"]: a["units"] for a in ft["arms"]}
    assert arms == py["arms"], (arms, py["arms"])
    assert ft["exposures"]["quarantined"] == py["quarantined"]
    for m in ft["metrics"]:
        mine = py["metrics"][m["type"]]
        for a in m["arms"]:
            theirs = mine[a["arm"]]
            assert a["n"] == theirs["n"]
            for key in ("mean", "variance"):
                assert abs(a[key] - theirs[key]) <= 1e-9 * abs(theirs[key]), (key, a, theirs)
        p = m["comparisons"][0]["frequentist"]["absolute"]["p_value"]
        assert abs(p - mine["p_value"]) <= 1e-6 * mine["p_value"], (p, mine["p_value"])


def main(build_dir):
    flagtrail = os.path.join(build_dir, "flagtrail")
    db = build(build_dir)
    size = os.path.getsize(db)
    ft_cmd = [flagtrail, "experiment", "--store", f"sqlite:{db}", "--flag", "new_checkout",
              "--metric", "purchase", "--metric", "purchase:sum", "--format", "json"]
    py_cmd = [sys.executable, os.path.join(ROOT, "bench", "peers", "experiment_python.py"), db,
              "new_checkout", "purchase"]
    results = {}
    for name, cmd in (("flagtrail", ft_cmd), ("python", py_cmd)):
        runs = [timed(cmd) for _ in range(RUNS + 1)]
        results[name] = {"cold": runs[0][0], "median": statistics.median(r[0] for r in runs[1:]),
                         "rss": max(r[1] for r in runs), "out": json.loads(runs[-1][2])}
    agree(results["flagtrail"]["out"], results["python"]["out"])
    units = sum(a["units"] for a in results["flagtrail"]["out"]["arms"])
    print(f"{DELIVERIES:,} deliveries, {IDENTITIES:,} identities, 5 flags, {EVENTS:,} events; "
          f"SQLite warehouse of {size / 2**20:.0f} MiB; experiment on new_checkout "
          f"({units:,} units, {results['flagtrail']['out']['exposures']['quarantined']:,} "
          f"quarantined), metrics purchase:conversion and purchase:sum. Both answers agree "
          f"(units, n, mean, variance, Welch p). Median of {RUNS} warm runs.\n")
    print("| report | wall s (warm) | wall s (first run) | peak RSS MB | vs python |")
    print("|---|---:|---:|---:|---:|")
    py = results["python"]["median"]
    for name, label in (("flagtrail", "flagtrail experiment (SQL in SQLite, C statistics)"),
                        ("python", "Python sqlite3 + numpy + SciPy")):
        r = results[name]
        print(f"| {label} | {r['median']:.2f} | {r['cold']:.2f} | {r['rss']:.0f} | "
              f"{py / r['median']:.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1])
