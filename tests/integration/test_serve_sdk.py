"""Flagsmith's own Node SDK (npm flagsmith-nodejs) against flagtrail serve.

The SDK in remote mode asks serve for each identity's flags (POST /api/v1/identities/) and
for the environment's (GET /api/v1/flags/); the same SDK in local-evaluation mode fetches the
environment document from serve with a server key and evaluates it itself. Both must give the
same flags for hundreds of identities with random traits, and every identity call must become
one webhook that flagtrail receive accepts and stores.
"""
import json
import random
import shutil

import pytest

from conftest import ROOT, run
from receiver import count_deliveries, query, receivers, wait_for  # noqa: F401
from servehelper import V1, V1_KEY, serves  # noqa: F401

SDK = ROOT / "tests" / "integration" / "sdk_client.mjs"
N = 300


@pytest.fixture(scope="module")
def sdk_package():
    if shutil.which("node") is None:
        pytest.fail("node is missing: scripts/bootstrap installs nodejs and npm")
    res = run(["bash", str(ROOT / "bench" / "peers" / "install-flagsmith-nodejs")], timeout=600)
    if res.returncode != 0:
        pytest.fail("cannot install flagsmith-nodejs:\n" + res.stderr.decode(errors="replace"))
    return res.stdout.decode().strip()


def people(seed=11):
    rng = random.Random(seed)
    out = []
    for i in range(N):
        traits = {}
        if rng.random() < 0.8:
            traits["age"] = rng.randrange(10, 80)
        if rng.random() < 0.8:
            traits["favourite_colour"] = rng.choice(["green", "blue", "red"])
        if rng.random() < 0.3:
            traits["two"] = rng.choice([2, "x"])
        if rng.random() < 0.3:
            traits["three"] = 3
        out.append({"identifier": f"sdk-user-{i}-{rng.randrange(10**6)}", "traits": traits})
    return out


def sdk(package, api_url, key, mode, identities, tmp_path):
    f = tmp_path / f"{mode}.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in identities))
    res = run(["node", str(SDK), package, api_url, key, mode, str(f)], timeout=600)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    lines = [json.loads(l) for l in res.stdout.decode().splitlines()]
    return lines[:-1], lines[-1]["environment"]


def test_sdk_remote_equals_sdk_local_and_every_call_is_a_webhook(sdk_package, serves, receivers,
                                                                 tmp_path):
    r = receivers(args=["--standard-webhooks"])
    s = serves(args=["--environment", str(V1), "--key", "ser.sdk-test-key", "--webhook-url",
                     f"http://{r.address}/webhook", "--webhook-secret-file", r.secret_path,
                     "--standard-webhooks"])
    who = people()
    remote, remote_env = sdk(sdk_package, s.url, V1_KEY, "remote", who, tmp_path)
    local, local_env = sdk(sdk_package, s.url, "ser.sdk-test-key", "local", who, tmp_path)
    assert len(remote) == len(local) == N
    differ = [(a["identifier"], a["flags"], b["flags"]) for a, b in zip(remote, local)
              if a["flags"] != b["flags"]]
    assert not differ, json.dumps(differ[:2], indent=1)
    assert remote_env == local_env
    # the flags vary with the traits: the comparison is not trivially equal
    variants = {json.dumps(x["flags"], sort_keys=True) for x in remote}
    assert len(variants) > 3
    wait_for(lambda: count_deliveries(r.db) == N, timeout=60, message="every webhook stored")
    stored = {row[0] for row in query(r.db, "SELECT identity FROM ft_delivery")}
    assert stored == {p["identifier"] for p in who}
    assert s.stop() == 0
    assert r.stop() == 0
