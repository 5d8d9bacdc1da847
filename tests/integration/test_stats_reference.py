"""The committed statistics reference data is what SciPy computes today.

tests/unit/test_stats.c checks the C code against tests/data/stats/reference.json; this test
regenerates that file with tests/data/stats/generate.py into a temporary directory and
compares. A difference means the generator or SciPy changed: regenerate, review the diff and
commit it. SciPy is required (scripts/bootstrap installs python3-scipy); without it this test
fails rather than skips.
"""
import json
import subprocess
import sys

from conftest import DATA

STATS = DATA / "stats"


def test_reference_data_matches_a_fresh_scipy_run(tmp_path):
    fresh = tmp_path / "reference.json"
    res = subprocess.run([sys.executable, str(STATS / "generate.py"), str(fresh)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, "generate.py failed (is python3-scipy installed?):\n" + res.stderr
    committed_text = (STATS / "reference.json").read_text()
    committed, regenerated = json.loads(committed_text), json.loads(fresh.read_text())
    versions = (committed.pop("generator"), regenerated.pop("generator"))
    changed = sorted(k for k in committed.keys() | regenerated.keys()
                     if committed.get(k) != regenerated.get(k))
    assert not changed, (
        f"sections {changed} differ from a fresh run "
        f"(committed with {versions[0]}, now {versions[1]}): "
        "run tests/data/stats/generate.py and review the diff")
    if versions[0] == versions[1]:  # same SciPy: the very same bytes
        assert fresh.read_text() == committed_text
