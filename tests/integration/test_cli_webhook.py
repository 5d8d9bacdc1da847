"""flagtrail sign, verify and validate, used as a new user would, against Python's hmac."""
import hashlib
import hmac
import json

import pytest

from conftest import run


def signature_rows(webhook_data):
    for line in (webhook_data / "signatures.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            secret, name, expected = line.split("\t")
            yield secret, webhook_data / name, expected


def python_sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.fixture
def secret_file(tmp_path):
    def make(secret: bytes, name="secret"):
        path = tmp_path / name
        path.write_bytes(secret + b"\n")
        path.chmod(0o600)
        return str(path)
    return make


def test_sign_agrees_with_python_hmac_for_every_row(flagtrail, webhook_data, secret_file):
    rows = list(signature_rows(webhook_data))
    assert len(rows) == 9
    for secret, body_path, expected in rows:
        body = body_path.read_bytes()
        assert python_sign(secret.encode(), body) == expected
        by_file = run([flagtrail, "sign", "--secret-file", secret_file(secret.encode()), str(body_path)])
        assert by_file.returncode == 0, by_file.stderr
        assert by_file.stdout.decode().strip() == expected
        by_env = run([flagtrail, "sign", "-"], input=body, env={"FLAGTRAIL_SECRET": secret})
        assert by_env.stdout.decode().strip() == expected


def test_verify_accepts_every_row(flagtrail, webhook_data, secret_file):
    for secret, body_path, expected in signature_rows(webhook_data):
        res = run([flagtrail, "verify", "--signature", expected, "--secret-file",
                   secret_file(secret.encode()), str(body_path)])
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout == b"ok\n"
        upper = run([flagtrail, "verify", "--signature", expected.upper(), str(body_path)],
                    env={"FLAGTRAIL_SECRET": secret})
        assert upper.returncode == 0


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_verify_rejects_one_bit_changes(flagtrail, webhook_data, secret_file, tmp_path):
    secret = b"my shared secret"
    body = (webhook_data / "seed_flagsmith_bytes.json").read_bytes()
    good = python_sign(secret, body)
    key = secret_file(secret)
    for bit in (0, 7, 100, len(body) * 8 - 1):
        res = run([flagtrail, "verify", "--signature", good, "--secret-file", key, "-"],
                  input=flip_bit(body, bit))
        assert res.returncode == 1
        assert res.stdout == b"invalid: signature does not match\n"
    for bit in (0, 9, len(secret) * 8 - 1):
        other = secret_file(flip_bit(secret, bit), name=f"other{bit}")
        res = run([flagtrail, "verify", "--signature", good, "--secret-file", other, "-"], input=body)
        assert res.returncode == 1
    for pos in (0, 31, 63):
        digit = "0" if good[pos] != "0" else "1"
        bad = good[:pos] + digit + good[pos + 1:]
        res = run([flagtrail, "verify", "--signature", bad, "--secret-file", key, "-"], input=body)
        assert res.returncode == 1


def test_verify_with_rotated_secrets(flagtrail, secret_file):
    body = b'{"identity": "u"}'
    old, new = secret_file(b"old", "old"), secret_file(b"new", "new")
    for secret in (b"old", b"new"):
        res = run([flagtrail, "verify", "--signature", python_sign(secret, body),
                   "--secret-file", old, "--secret-file", new], input=body)
        assert res.returncode == 0
    res = run([flagtrail, "verify", "--signature", python_sign(b"other", body),
               "--secret-file", old, "--secret-file", new], input=body)
    assert res.returncode == 1


@pytest.mark.parametrize("header,reason", [
    ("abc", "signature malformed"),
    ("z" * 64, "signature malformed"),
    ("sha256=" + "0" * 64, "signature malformed"),
    ("", "signature missing"),
])
def test_verify_malformed_signatures(flagtrail, secret_file, header, reason):
    res = run([flagtrail, "verify", "--signature", header, "--secret-file", secret_file(b"k")],
              input=b"{}")
    assert res.returncode == 1
    assert res.stdout.decode() == f"invalid: {reason}\n"


def test_usage_errors_exit_2(flagtrail, secret_file):
    cases = [
        [flagtrail, "verify", "-"],                              # no --signature
        [flagtrail, "verify", "--signature", "00", "-"],         # no secret at all
        [flagtrail, "sign", "-"],                                # no secret
        [flagtrail, "sign", "--nope"],
        [flagtrail, "validate", "--max-body", "lots"],
        [flagtrail, "validate", "a", "b"],
        [flagtrail, "frobnicate"],
        [flagtrail],
    ]
    for args in cases:
        res = run(args, input=b"{}")
        assert res.returncode == 2, args
        assert res.stderr.startswith((b"flagtrail", b"Usage: flagtrail")), args
    res = run([flagtrail, "sign", "--secret-file", "/nonexistent/secret", "-"], input=b"{}")
    assert res.returncode == 1
    assert b"cannot open /nonexistent/secret" in res.stderr


def test_secret_never_printed(flagtrail, secret_file):
    secret = b"do-not-print-me-0123"
    for args in ([flagtrail, "sign", "--secret-file", secret_file(secret), "/nonexistent"],
                 [flagtrail, "verify", "--signature", "xx", "--secret-file", secret_file(secret)]):
        res = run(args, input=b"{}")
        assert secret not in res.stdout + res.stderr


def test_help_and_version(flagtrail):
    res = run([flagtrail, "--version"])
    assert res.returncode == 0 and res.stdout.startswith(b"flagtrail ")
    res = run([flagtrail, "--help"])
    assert res.returncode == 0
    for cmd in (b"sign", b"verify", b"validate"):
        assert cmd in res.stdout
        sub = run([flagtrail, cmd.decode(), "--help"])
        assert sub.returncode == 0 and sub.stdout.startswith(b"Usage: flagtrail " + cmd)
        assert run([flagtrail, "help", cmd.decode()]).stdout == sub.stdout


def test_validate_accepts_the_fixtures(flagtrail, webhook_data):
    for name in ("seed_flagsmith_bytes.json", "rich_flagsmith_bytes.json", "seed_docs_example.json"):
        res = run([flagtrail, "validate", str(webhook_data / name)])
        assert (res.returncode, res.stdout) == (0, b"ok\n"), res.stdout + res.stderr


def payload(**changes):
    base = {"identity": "u", "flags": [], "traits": [], "segments": []}
    base.update(changes)
    return json.dumps(base).encode()


def flag(**changes):
    f = {"enabled": True, "environment": 1, "feature": {
        "created_date": "2022-02-04T14:57:39.200798Z", "default_enabled": False,
        "description": None, "id": 1, "initial_value": None, "name": "f", "type": "STANDARD"},
        "feature_segment": None, "feature_state_value": None, "id": 2, "identity": None}
    f.update(changes)
    return f


REJECTS = [
    (b"[]", "invalid_payload: expected a JSON object, got array"),
    (b"42", "invalid_payload: expected a JSON object, got number"),
    (b'"str"', "invalid_payload: expected a JSON object, got string"),
    (b"null", "invalid_payload: expected a JSON object, got null"),
    (payload(identity=None), "invalid_payload: identity: expected string, got null"),
    (b'{"flags": [], "traits": [], "segments": []}', "invalid_payload: identity: required field missing"),
    (payload(identity=""), "invalid_payload: identity: must not be empty"),
    (payload(flags={}), "invalid_payload: flags: expected array, got object"),
    (payload(flags="x"), "invalid_payload: flags: expected array, got string"),
    (payload(flags=[flag(), flag(feature={"id": 1, "type": "STANDARD"})]),
     "invalid_payload: flags[1].feature.name: required field missing"),
    (payload(flags=[flag(enabled="yes")]), "invalid_payload: flags[0].enabled: expected boolean, got string"),
    (payload(flags=[flag(id="2")]), "invalid_payload: flags[0].id: expected integer, got string"),
    (payload(flags=[flag(feature_state_value={"a": 1})]),
     "invalid_payload: flags[0].feature_state_value: expected string, number, boolean or null, got object"),
    (payload(traits=[{"id": 1, "trait_key": 5, "trait_value": 1}]),
     "invalid_payload: traits[0].trait_key: expected string, got number"),
    (payload(segments=[{"id": 1, "name": "s"}]), "invalid_payload: segments[0].member: required field missing"),
    (b'{"identity": "u"} trailing', "invalid_json: unexpected data after the value at byte 18"),
    (b'{"identity": "\xc3\x28"}', "invalid_json: invalid UTF-8 at byte 14 in identity"),
    (b'{"identity": "u",}', "invalid_json: trailing comma at byte 17"),
    (b"", "invalid_json: unexpected end of input at byte 0"),
]


@pytest.mark.parametrize("body,message", REJECTS)
def test_validate_rejects_with_a_precise_message(flagtrail, body, message):
    res = run([flagtrail, "validate", "-"], input=body)
    assert res.returncode == 1
    assert res.stdout.decode() == message + "\n"


def test_validate_rejects_nesting_10000_deep(flagtrail):
    body = b'{"identity": "u", "flags": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    res = run([flagtrail, "validate", "-"], input=body)
    assert res.returncode == 1
    assert res.stdout.startswith(b"invalid_json: nesting deeper than 64 at byte ")


def test_validate_caps_a_100mb_string(flagtrail, tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.write(b'{"identity": "')
        chunk = b"a" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write(b'", "flags": [], "traits": [], "segments": []}')
    res = run([flagtrail, "validate", str(big)])
    assert res.returncode == 1
    assert res.stdout == b"too_large: " + str(big).encode() + b" is larger than 1048576 bytes\n"
    res = run([flagtrail, "validate", "--max-body", "128M", str(big)], timeout=120)
    assert (res.returncode, res.stdout) == (0, b"ok\n")
