"""flagtrail demo, as a newcomer runs it: serve and receive on free ports, identity calls with
traits, every webhook in the warehouse, a summary that agrees with the warehouse, and no
process left behind."""
import json
import re
import subprocess

from conftest import ROOT, check_sanitizers, run
from receiver import query

V1 = ROOT / "tests" / "data" / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json"


def processes_mentioning(text):
    out = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def check_child_logs(directory):
    for name in ("receive.log", "serve.log"):
        path = directory / name
        assert path.exists(), f"{name} is written"
        check_sanitizers(path.read_bytes())


def run_demo(flagtrail, n, demo_dir, cwd):
    """Runs the demo for `n` identities; its output, once it succeeded with n webhooks."""
    res = subprocess.run([flagtrail, "demo", "--identities", str(n), "--dir", str(demo_dir)],
                         cwd=cwd, capture_output=True, timeout=120)
    check_sanitizers(res.stderr)
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr.decode() + out
    assert f"{n} identity calls through serve -> {n} signed webhooks in the warehouse" in out
    return out


def test_demo_from_anywhere_fills_the_warehouse_and_summarises_it(flagtrail, tmp_path):
    work = tmp_path / "elsewhere"  # not the source tree: the document is found from the binary
    work.mkdir()
    demo_dir = tmp_path / "demo"
    out = run_demo(flagtrail, 300, demo_dir, work)
    db = demo_dir / "flagtrail.db"
    assert query(db, "SELECT COUNT(*), COUNT(DISTINCT identity) FROM ft_delivery") == [(300, 300)]
    # every webhook carries the traits the demo sent, typed
    traits = query(db, "SELECT trait_key, value_type, COUNT(DISTINCT identity) FROM ft_identity_traits"
                       " GROUP BY 1, 2 ORDER BY 1")
    assert traits == [("age", "int", 300), ("favourite_colour", "string", 300),
                      ("plan", "string", 300)]
    # the printed variant counts are the warehouse's
    printed = dict(re.findall(r"^\s+(foo|bar|baz)\s+(\d+)$", out, re.M))
    stored = dict(query(db, "SELECT value, COUNT(DISTINCT identity) FROM ft_evaluations"
                            " WHERE feature_name = 'mv_feature' GROUP BY 1"))
    assert {k: int(v) for k, v in printed.items()} == stored
    assert sum(stored.values()) == 300
    # the segment rule of the v1 document (age 21..39 and a green or blue favourite colour)
    members = query(db, "SELECT COUNT(*) FROM ft_segment_members WHERE segment_name = 'regular_segment'")
    expected = query(db, """
        SELECT COUNT(*) FROM (SELECT identity,
            MAX(CASE WHEN trait_key = 'age' THEN CAST(value AS INTEGER) END) AS age,
            MAX(CASE WHEN trait_key = 'favourite_colour' THEN value END) AS colour
          FROM ft_identity_traits GROUP BY identity)
        WHERE age >= 21 AND age < 40 AND colour IN ('green', 'blue')""")
    assert members == expected and members[0][0] > 0
    # the commands it suggests work
    suggestion = re.search(r"flagtrail (cohort --store \S+ --flag mv_feature=baz --list)", out)
    assert suggestion
    cohort = run([flagtrail] + suggestion.group(1).split())
    assert cohort.returncode == 0, cohort.stderr
    assert len(cohort.stdout.decode().split("\n")) >= stored.get("baz", 0)
    check_child_logs(demo_dir)
    assert processes_mentioning(str(demo_dir)) == [], "serve and receive are stopped"
    # a second run in the same directory counts its own webhooks and says what was there
    out = run_demo(flagtrail, 50, demo_dir, work)
    assert "also holds 300 webhooks of earlier runs" in out
    assert query(db, "SELECT COUNT(*) FROM ft_delivery") == [(350,)]
    assert processes_mentioning(str(demo_dir)) == []


def test_demo_bad_arguments_get_one_line_errors(flagtrail, tmp_path):
    res = run([flagtrail, "demo", "--identities", "0"])
    assert res.returncode == 2
    assert b"--identities" in res.stderr and len(res.stderr.decode().strip().splitlines()) <= 2
    res = run([flagtrail, "demo", "--environment", str(tmp_path / "missing.json"),
               "--dir", str(tmp_path / "d")])
    assert res.returncode == 1
    assert res.stderr.decode().startswith("flagtrail demo: ") and b"missing.json" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"api_key": "k", "feature_states": "nope"}))
    res = run([flagtrail, "demo", "--environment", str(bad), "--dir", str(tmp_path / "d2")])
    assert res.returncode == 1
    assert b"bad.json: project: missing" in res.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "d2").exists(), "nothing created"
    assert processes_mentioning(str(tmp_path)) == []

