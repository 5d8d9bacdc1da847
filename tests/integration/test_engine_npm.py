"""flagtrail eval against Flagsmith's own JS engine (npm package flagsmith-nodejs).

The package is installed once into build/npm-peer (bench/peers/install-flagsmith-nodejs) and
driven by bench/peers/flagsmith_engine.mjs the way its SDK evaluates an environment document
locally. Both engines evaluate the same thousands of generated identities with random traits,
over the v1 document of the engine test data and over a generated large document (200
features, 100 segments of 5 conditions, 1000 identity overrides); every flag's enabled, value
(with its JSON type) and reason, and the set of segments, must agree. The comparison fails, never
skips, when node, npm or the package cannot be had.
"""
import collections
import json
import pathlib
import shutil
import sys

import pytest

from conftest import DATA, ROOT, run

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import engine_gen  # noqa: E402

PEER = ROOT / "bench" / "peers" / "flagsmith_engine.mjs"
V1 = DATA / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json"
COUNT = 2000


@pytest.fixture(scope="module")
def flagsmith_nodejs():
    if shutil.which("node") is None:
        pytest.fail("node is missing: scripts/bootstrap installs nodejs and npm")
    res = run(["bash", str(ROOT / "bench" / "peers" / "install-flagsmith-nodejs")], timeout=600)
    if res.returncode != 0:
        pytest.fail("cannot install flagsmith-nodejs:\n" + res.stderr.decode(errors="replace"))
    return res.stdout.decode().strip()


def typed(v):
    """A value with its JSON type: True is not 1, "1" is not 1."""
    return (type(v).__name__ if not isinstance(v, (int, float)) or isinstance(v, bool)
            else "number", v)


def compare(flagtrail, package, document, identities, tmp_path):
    people = tmp_path / "identities.jsonl"
    people.write_text("".join(json.dumps(p) + "\n" for p in identities))
    ours = run([flagtrail, "eval", "--environment", str(document), "--batch", str(people),
                "--format", "result", "--raw-traits"], timeout=600)
    assert ours.returncode == 0, ours.stderr.decode(errors="replace")
    theirs = run(["node", str(PEER), package, "eval", str(document), str(people)], timeout=900)
    assert theirs.returncode == 0, theirs.stderr.decode(errors="replace")
    a = [json.loads(line) for line in ours.stdout.decode().splitlines()]
    b = [json.loads(line) for line in theirs.stdout.decode().splitlines()]
    assert len(a) == len(b) == len(identities)

    mismatches, reasons, members = [], collections.Counter(), 0
    for who, got, want in zip(identities, a, b):
        assert set(got["flags"]) == set(want["flags"]), who
        for name, w in want["flags"].items():
            g = got["flags"][name]
            reasons[w["reason"].split(";")[0]] += 1
            if (g["enabled"], typed(g["value"]), g["reason"]) != \
                    (w["enabled"], typed(w["value"]), w["reason"]):
                mismatches.append((who, name, g, w))
        ours_segments = sorted(s["name"] for s in got["segments"])
        members += len(ours_segments)
        if ours_segments != sorted(want["segments"]):
            mismatches.append((who, "segments", ours_segments, sorted(want["segments"])))
    assert not mismatches, "%d differences, first ones:\n%s" % (
        len(mismatches), "\n".join(repr(m) for m in mismatches[:5]))
    return reasons, members


def test_v1_document_agrees_with_flagsmith_nodejs(flagtrail, flagsmith_nodejs, tmp_path):
    identities = engine_gen.v1_identities(seed=11, count=COUNT)
    reasons, members = compare(flagtrail, flagsmith_nodejs, V1, identities, tmp_path)
    # the comparison must have exercised segments, overrides and variants
    assert reasons["SPLIT"] > 100 and reasons["TARGETING_MATCH"] > 100 and members > 500


def test_generated_large_document_agrees_with_flagsmith_nodejs(flagtrail, flagsmith_nodejs,
                                                              tmp_path):
    doc = engine_gen.document(seed=7, features=200, segments=100, conditions=5, overrides=1000)
    path = tmp_path / "large.json"
    path.write_text(json.dumps(doc))
    overridden = [o["identifier"] for o in doc["identity_overrides"]]
    identities = engine_gen.identities(seed=12, count=COUNT, overridden=overridden)
    reasons, members = compare(flagtrail, flagsmith_nodejs, path, identities, tmp_path)
    assert reasons["SPLIT"] > 1000 and reasons["TARGETING_MATCH"] > 1000
    assert members > COUNT  # identities belong to segments, not just a few
