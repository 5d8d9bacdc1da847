"""flagtrail cohort against a brute-force Python computation over the webhooks sent."""
import datetime
import json
import random

import pytest

from conftest import run
from warehouse import DAY, T0, body, flag, load

N_IDENTITIES = 200


def generate(seed=3):
    """Webhooks over five days: identities change variant, traits and segments over time."""
    rng = random.Random(seed)
    sent = []
    for i in range(N_IDENTITIES * 4):
        ident = f"user-{rng.randrange(N_IDENTITIES):03d}"
        t = T0 + rng.randrange(5 * DAY)
        variant = rng.choice(["control", "variant_a", "variant_b"])
        flags = [flag(1, "checkout", rng.random() < 0.7, variant, mv=True),
                 flag(2, "dark_mode", rng.random() < 0.5, None),
                 flag(3, "limit", True, rng.choice([10, 20, 30]))]
        traits = [{"id": 1, "trait_key": "age", "trait_value": rng.randrange(18, 70),
                   "transient": False},
                  {"id": 2, "trait_key": "plan", "trait_value": rng.choice(["free", "pro"]),
                   "transient": False}]
        if rng.random() < 0.3:
            traits.append({"id": 3, "trait_key": "score", "trait_value": rng.random() * 10,
                           "transient": False})
        segments = [{"id": 1, "name": "beta", "member": rng.random() < 0.4},
                    {"id": 2, "name": "vip", "member": rng.random() < 0.2}]
        sent.append((t, ident, flags, traits, segments))
    return sent


def latest_states(sent, since=None, until=None, per_day=False):
    states = {}
    for t, ident, flags, traits, segments in sorted(sent, key=lambda x: x[0]):
        if since is not None and t < since or until is not None and t > until:
            continue
        key = (ident, (t // DAY) if per_day else None)
        states[key] = (t, flags, traits, segments)
    return states


def value_text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def matches(state, preds):
    t, flags, traits, segments = state
    by_flag = {f["feature"]["name"]: f for f in flags}
    by_trait = {x["trait_key"]: x["trait_value"] for x in traits}
    members = {g["name"] for g in segments if g["member"]}
    for kind, name, arg in preds:
        if kind == "flag":
            f = by_flag.get(name)
            if f is None:
                return False
            if arg == "on" and not f["enabled"] or arg == "off" and f["enabled"]:
                return False
            if arg not in ("on", "off"):
                v = f["feature_state_value"]
                if (v if isinstance(v, str) else value_text(v)) != arg:
                    return False
        elif kind == "segment" and name not in members:
            return False
        elif kind == "not-segment" and name in members:
            return False
        elif kind == "trait":
            op, expected = arg
            if name not in by_trait:
                return False
            v = by_trait[name]
            if op == "=":
                if (v if isinstance(v, str) else value_text(v)) != expected:
                    return False
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                return False
            elif op == ">" and not v > expected or op == "<" and not v < expected:
                return False
    return True


def cli_args(preds):
    args = []
    for kind, name, arg in preds:
        if kind == "flag":
            args += ["--flag", f"{name}={arg}"]
        elif kind in ("segment", "not-segment"):
            args += [f"--{kind}", name]
        else:
            args += ["--trait", f"{name}{arg[0]}{arg[1]}"]
    return args


CASES = [
    [],
    [("flag", "checkout", "on")],
    [("flag", "checkout", "variant_b")],
    [("flag", "dark_mode", "off"), ("segment", "beta", None)],
    [("not-segment", "vip", None), ("trait", "plan", ("=", "pro"))],
    [("trait", "age", (">", 40)), ("flag", "limit", "20")],
    [("trait", "score", ("<", 5.5)), ("flag", "checkout", "control")],
    [("trait", "age", ("=", "33"))],
]


@pytest.fixture(scope="module")
def warehouse(flagtrail, tmp_path_factory):
    sent = generate()
    rows = [(t, body(ident, flags, traits, segments)) for t, ident, flags, traits, segments in sent]
    return sent, load(flagtrail, tmp_path_factory.mktemp("cohort"), rows)


def iso(us):
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("preds", CASES)
def test_count_and_list_equal_brute_force(flagtrail, warehouse, preds):
    sent, url = warehouse
    for since, until in ((None, None), (T0 + DAY, T0 + 3 * DAY + 12345)):
        window = []
        if since is not None:
            window = ["--since", iso(since), "--until", iso(until)]
        states = latest_states(sent, since, until)
        expected = sorted(ident for (ident, _), s in states.items() if matches(s, preds))
        res = run([flagtrail, "cohort", "--store", url, "--list", "--format", "json",
                   *cli_args(preds), *window])
        assert (res.returncode, res.stderr) == (0, b""), "no warning: every name is known"
        assert [row["identity"] for row in json.loads(res.stdout)] == expected
        res = run([flagtrail, "cohort", "--store", url, *cli_args(preds), *window])
        assert res.stdout.decode().strip() == str(len(expected))


@pytest.mark.parametrize("preds", CASES[:4])
def test_by_day_and_at_equal_brute_force(flagtrail, warehouse, preds):
    sent, url = warehouse
    states = latest_states(sent, per_day=True)
    per_day = {}
    for (ident, day), s in states.items():
        if matches(s, preds):
            key = datetime.datetime.fromtimestamp(day * 86400, datetime.timezone.utc).strftime(
                "%Y-%m-%d")
            per_day[key] = per_day.get(key, 0) + 1
    res = run([flagtrail, "cohort", "--store", url, "--by", "day", "--format", "csv",
               *cli_args(preds)])
    lines = res.stdout.decode().splitlines()
    assert lines[0] == "day,identities"
    assert dict((d, int(n)) for d, n in (l.split(",") for l in lines[1:])) == per_day
    at = T0 + 2 * DAY + 777
    states = latest_states(sent, until=at)
    expected = sum(1 for s in states.values() if matches(s, preds))
    res = run([flagtrail, "cohort", "--store", url, "--at", iso(at), "--format", "json",
               *cli_args(preds)])
    assert json.loads(res.stdout) == {"count": expected}


@pytest.mark.parametrize("args,message", [
    (["--flag", "noequals"], b"expected NAME=on"),
    (["--trait", "age>old"], b"> needs a number"),
    (["--since", "last tuesday"], b"not a time"),
    (["--since", "2026-11-25", "--until", "2026-11-24"], b"--since is after --until"),
    (["--by", "week"], b"only 'day'"),
    (["--count", "--list"], b"choose one of"),
    (["--format", "xml"], b"expected table, csv or json"),
])
def test_bad_arguments(flagtrail, warehouse, args, message):
    res = run([flagtrail, "cohort", "--store", warehouse[1], *args])
    assert res.returncode == 2
    assert message in res.stderr


def test_names_no_webhook_carries_get_a_warning(flagtrail, warehouse):
    _, url = warehouse
    res = run([flagtrail, "cohort", "--store", url, "--flag", "checkuot=on", "--segment", "beta",
               "--not-segment", "vipp", "--trait", "agee>3"])
    assert (res.returncode, res.stdout) == (0, b"0\n")
    assert res.stderr.decode().splitlines() == [
        f"flagtrail cohort: warning: no webhook in the warehouse has a {what} named {name}"
        for what, name in (("flag", "checkuot"), ("segment", "vipp"), ("trait", "agee"))]


def test_unknown_store_fails(flagtrail, tmp_path):
    res = run([flagtrail, "cohort", "--store", "nope:x"])
    assert res.returncode == 1 and b"unknown store" in res.stderr
