"""Building warehouses with known contents for analysis tests: webhooks (and events) with
chosen receive times are written into a spool by tests/tools/spoolwrite and loaded by
`flagtrail replay`, the real loader."""
import json
import os
import subprocess

from conftest import BUILD, run

DAY = 86400 * 1000000
T0 = 1795392000 * 1000000  # 2026-11-23T00:00:00Z


def flag(fid, name, enabled, value, mv=False, env=7):
    return {"enabled": enabled, "environment": env,
            "feature": {"created_date": "2024-01-02T03:04:05.000000Z", "default_enabled": False,
                        "description": None, "id": fid, "initial_value": None, "name": name,
                        "type": "MULTIVARIATE" if mv else "STANDARD"},
            "feature_segment": None, "feature_state_value": value, "id": 1000 + fid,
            "identity": None}


def body(identity, flags, traits=None, segments=None):
    return json.dumps({"flags": flags, "identity": identity, "segments": segments or [],
                       "traits": traits or []}, sort_keys=True)


def write_spool(tmp_path, webhooks, events=(), name="w"):
    """webhooks: [(received_at_us, body)], events: [(received_at_us, events_body)], written into
    a new spool as the endpoint would. Returns its path."""
    spool = tmp_path / f"{name}-spool"
    tool = str(BUILD / "tests" / "tools" / "spoolwrite")
    for args, rows in (([tool, str(spool)], webhooks), ([tool, "--events", str(spool)], events)):
        if not rows:
            continue
        text = "".join(f"{t}\t{b}\n" for t, b in rows)
        res = subprocess.run(args, input=text.encode(), capture_output=True, timeout=300)
        assert res.returncode == 0, res.stderr.decode()
    return spool


def replay(flagtrail, spool, url):
    res = run([flagtrail, "replay", "--spool", str(spool), "--store", url, "--source", "test"],
              timeout=600)
    assert res.returncode == 0, res.stderr.decode()
    return url


def load(flagtrail, tmp_path, webhooks, events=(), name="w"):
    """The spool of write_spool loaded into a new SQLite warehouse. Returns its store URL."""
    spool = write_spool(tmp_path, webhooks, events, name)
    return replay(flagtrail, spool, f"sqlite:{tmp_path}/{name}.db")
