"""The JSON reader and writer against Python's json module on generated documents.

The writer must print exactly what json.dumps(json.loads(x), sort_keys=True) prints, for
random nesting, keys, Unicode (astral characters included), integers of any size and floats
from random bit patterns. Payloads printed by Python must round-trip byte for byte.
"""
import json
import math
import random
import struct

from conftest import run

SEED = 20261124


def random_float(rng):
    while True:
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if not math.isnan(x) and not math.isinf(x):
            return x


def random_string(rng, nul=True):
    pools = [
        lambda: chr(rng.randrange(0x20, 0x7f)),
        lambda: chr(rng.randrange(0 if nul else 1, 0x20)),
        lambda: chr(rng.randrange(0x80, 0x800)),
        lambda: chr(rng.choice([rng.randrange(0x800, 0xd800), rng.randrange(0xe000, 0x10000)])),
        lambda: chr(rng.randrange(0x10000, 0x110000)),
        lambda: rng.choice(['"', "\\", "/", "\x7f", "\u2028"]),
    ]
    return "".join(rng.choice(pools)() for _ in range(rng.randrange(0, 12)))


def random_number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randrange(-2**63, 2**63)
    if kind == 1:
        return rng.randrange(-10**40, 10**40)
    if kind == 2:
        return random_float(rng)
    if kind == 3:
        return rng.choice([0.1, 1.0, 1e16, 1e-5, 1e15, 0.0001, 12.34, 5e-324, 2.5, 1e22, -0.0])
    if kind == 4:
        return round(rng.uniform(-1000, 1000), rng.randrange(0, 6))
    return rng.randrange(-1000, 1000)


def random_value(rng, depth=0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind in (1, 2):
        return random_number(rng)
    if kind in (3, 4):
        return random_string(rng)
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {random_string(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def test_writer_matches_python_on_generated_documents(jsontool, tmp_path):
    rng = random.Random(SEED)
    docs = [random_value(rng) for _ in range(20000)]
    lines = []
    for i, d in enumerate(docs):
        # the same value written several ways: ASCII-escaped, raw UTF-8, and unsorted
        lines.append(json.dumps(d, ensure_ascii=(i % 2 == 0), sort_keys=(i % 3 == 0)))
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run([jsontool, "lines", str(src)])
    assert res.returncode == 0
    got = res.stdout.decode("ascii").split("\n")[:-1]
    assert len(got) == len(docs)
    for i, (d, line) in enumerate(zip(docs, got)):
        assert line == json.dumps(d, sort_keys=True), f"document {i}: {lines[i]!r}"


def test_float_repr_on_random_bit_patterns(jsontool, tmp_path):
    rng = random.Random(SEED + 1)
    values = [random_float(rng) for _ in range(100000)]
    values += [2.0 ** e for e in range(-1074, 1024)]  # powers of two: the uneven-interval case
    src = tmp_path / "floats.json"
    src.write_text(json.dumps(values), encoding="ascii")
    res = run([jsontool, "dump", str(src)])
    assert res.returncode == 0
    assert res.stdout.decode() == json.dumps(values)


def random_payload(rng):
    def text():  # a payload's strings may not hold U+0000 (no warehouse can store it)
        return random_string(rng, nul=False)

    def value():
        return rng.choice([None, True, False, rng.randrange(-10**20, 10**20), random_float(rng),
                           text(), round(rng.uniform(0, 100), 1)])

    flags = []
    for i in range(rng.randrange(0, 30)):
        f = {"enabled": rng.random() < 0.5, "environment": rng.randrange(1, 10**6),
             "feature": {"created_date": "2021-11-29T17:17:23.645334Z",
                         "default_enabled": rng.random() < 0.5,
                         "description": rng.choice([None, text()]),
                         "id": rng.randrange(1, 10**9),
                         "initial_value": rng.choice([None, text()]),
                         "name": text() or "f",
                         "type": rng.choice(["STANDARD", "MULTIVARIATE", "FLAG", "CONFIG"])},
             "feature_segment": rng.choice([None, rng.randrange(1, 10**6)]),
             "feature_state_value": value(), "id": rng.randrange(1, 10**9),
             "identity": rng.choice([None, rng.randrange(1, 10**9)])}
        if rng.random() < 0.7:
            f["percentage_allocation"] = rng.choice([None, round(rng.uniform(0, 100), 2), 50])
        flags.append(f)
    traits = []
    for i in range(rng.randrange(0, 10)):
        t = {"id": rng.choice([None, rng.randrange(1, 10**9)]), "trait_key": text(),
             "trait_value": value()}
        if rng.random() < 0.7:
            t["transient"] = rng.random() < 0.5
        traits.append(t)
    segments = [{"id": rng.randrange(1, 10**6), "member": rng.random() < 0.5,
                 "name": text()} for _ in range(rng.randrange(0, 8))]
    return {"flags": flags, "identity": text() or "id", "segments": segments,
            "traits": traits}


def test_payload_round_trips_python_bytes(jsontool, tmp_path):
    rng = random.Random(SEED + 2)
    for i in range(300):
        body = json.dumps(random_payload(rng), sort_keys=True).encode("ascii")
        src = tmp_path / f"p{i}.json"
        src.write_bytes(body)
        res = run([jsontool, "payload", str(src)])
        assert res.returncode == 0, res.stdout
        assert res.stdout == body, f"payload {i}"


def test_exact_values_survive(jsontool, webhook_data):
    rich = (webhook_data / "rich_flagsmith_bytes.json").read_bytes()
    res = run([jsontool, "payload", str(webhook_data / "rich_flagsmith_bytes.json")])
    assert res.stdout == rich
    for needle in (b"9007199254740993", b"0.1,", b"\\ud83d\\ude80"):
        assert needle in res.stdout
    res = run([jsontool, "dump", "-"], input=b"[9007199254740993, 0.1, 1e16, \"\xf0\x9f\x9a\x80\"]")
    assert res.stdout == b'[9007199254740993, 0.1, 1e+16, "\\ud83d\\ude80"]'
