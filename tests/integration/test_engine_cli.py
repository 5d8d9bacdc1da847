"""flagtrail eval, used as a person checking an evaluation would: the API's answer, the table,
the engine test data's result shape, both hashing conventions, trait typing, and the errors."""
import json

import pytest

from conftest import DATA, run

V1 = DATA / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json"
CASES = DATA / "engine" / "test_cases"


def v1_entries():
    return json.loads(V1.read_text())["identities_and_responses"]


def evaluate(flagtrail, *args, check=True):
    res = run([flagtrail, "eval", *args])
    if check:
        assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res


def trait_args(traits):
    args = []
    for t in traits:
        args += ["--trait", "%s=%s" % (t["trait_key"], t["trait_value"])]
    return args


def test_core_convention_reproduces_the_recorded_api_answers(flagtrail):
    """--identity-id hashes as Flagsmith core does; --trait types values as its API does."""
    for entry in v1_entries():
        identity, response = entry["identity"], entry["response"]
        out = evaluate(flagtrail, "--environment", str(V1), "--identity", identity["identifier"],
                       "--identity-id", str(identity["django_id"]),
                       *trait_args(identity["identity_traits"]))
        answer = json.loads(out.stdout)
        assert answer["identifier"] == identity["identifier"]
        got = {f["feature"]["name"]: f for f in answer["flags"]}
        assert len(got) == len(response["flags"])
        for want in response["flags"]:
            f = got[want["feature"]["name"]]
            for key in ("id", "enabled", "feature_state_value", "environment", "identity"):
                assert f[key] == want[key] and type(f[key]) is type(want[key]), (
                    identity["identifier"], want["feature"]["name"], key)
            assert f["feature"]["id"] == want["feature"]["id"]
            assert f["feature"]["type"] == want["feature"]["type"]


def test_the_hashing_convention_changes_multivariate_answers(flagtrail):
    """The composite key (SDKs, edge proxies) places identities differently from core's ids."""
    differ = 0
    for entry in v1_entries()[:40]:
        identity, response = entry["identity"], entry["response"]
        out = evaluate(flagtrail, "--environment", str(V1), "--identity", identity["identifier"],
                       *trait_args(identity["identity_traits"]))
        got = {f["feature"]["name"]: f for f in json.loads(out.stdout)["flags"]}
        want = {f["feature"]["name"]: f for f in response["flags"]}
        differ += got["mv_feature"]["feature_state_value"] != \
            want["mv_feature"]["feature_state_value"]
    assert differ > 5


def test_table_names_sources_reasons_and_segments(flagtrail):
    out = evaluate(flagtrail, "--environment", str(V1), "--identity", "someone",
                   "--trait", "age=30", "--trait", "favourite_colour=green", "--format", "table")
    text = out.stdout.decode()
    assert text.startswith("identity someone (hashing key n9fbf9h3v4fFgH3U3ngWhb_someone)")
    line = next(l for l in text.splitlines() if l.startswith("string_feature"))
    assert "segment regular_segment" in line
    assert "TARGETING_MATCH; segment=regular_segment" in line
    assert any(l.split() == ["regular_segment", "yes"] for l in text.splitlines())
    assert any(l.split() == ["segment_two", "no"] for l in text.splitlines())


def test_result_format_of_a_test_case_equals_its_expected_result(flagtrail):
    case = CASES / "test_multivariate__segment_override__expected_allocation.jsonc"
    out = evaluate(flagtrail, "--environment", str(case), "--format", "result")
    text = "\n".join(l for l in case.read_text().splitlines() if not l.strip().startswith("//"))
    assert json.loads(out.stdout) == json.loads(text)["result"]


def test_environment_flags_without_an_identity(flagtrail):
    out = evaluate(flagtrail, "--environment", str(V1))
    flags = json.loads(out.stdout)
    assert isinstance(flags, list) and len(flags) == 5
    assert {f["feature"]["name"] for f in flags} >= {"basic_flag", "mv_feature"}
    mv = next(f for f in flags if f["feature"]["name"] == "mv_feature")
    assert mv["feature_state_value"] == "foo" and mv["variant"] == "control"


def test_traits_json_is_typed_like_the_api_unless_raw(flagtrail):
    def member(*extra):
        out = evaluate(flagtrail, "--environment", str(V1), "--identity", "t", "--format",
                       "result", *extra)
        return [s["name"] for s in json.loads(out.stdout)["segments"]]

    traits = '{"age": "300", "favourite_colour": "green"}'
    assert member("--traits-json", traits) == []  # 300 < 40 is false
    assert member("--traits-json", traits, "--raw-traits") == ["regular_segment"]  # "300" < "40"
    listed = '[{"trait_key": "age", "trait_value": 30}, {"trait_key": "favourite_colour", ' \
             '"trait_value": "blue"}]'
    assert member("--traits-json", listed) == ["regular_segment"]


def test_client_key_hides_server_key_only_features(flagtrail, tmp_path):
    doc = json.loads(V1.read_text())["environment"]
    doc["project"]["server_key_only_feature_ids"] = [15062]
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    server = json.loads(evaluate(flagtrail, "--environment", str(path), "--identity", "x").stdout)
    client = json.loads(evaluate(flagtrail, "--environment", str(path), "--identity", "x",
                                 "--client-key").stdout)
    assert "mv_feature" in {f["feature"]["name"] for f in server["flags"]}
    assert "mv_feature" not in {f["feature"]["name"] for f in client["flags"]}
    assert len(client["flags"]) == len(server["flags"]) - 1


def test_batch_evaluates_one_identity_per_line(flagtrail, tmp_path):
    lines = tmp_path / "ids.jsonl"
    lines.write_text('{"identifier": "a", "traits": {"age": 30, "favourite_colour": "blue"}}\n'
                     '\n'
                     '{"identifier": "b", "traits": [], "identity_id": 32103705}\n')
    out = evaluate(flagtrail, "--environment", str(V1), "--batch", str(lines))
    answers = [json.loads(l) for l in out.stdout.decode().splitlines()]
    assert [a["identifier"] for a in answers] == ["a", "b"]
    lines.write_text('{"identifier": "a"}\n{"identifier": 5}\n')
    bad = evaluate(flagtrail, "--environment", str(V1), "--batch", str(lines), check=False)
    assert bad.returncode == 1
    assert b"line 2" in bad.stderr


def test_fallbacks_are_reported_on_stderr(flagtrail, tmp_path):
    doc = json.loads(V1.read_text())["environment"]
    doc["project"]["segments"][0]["rules"][0]["rules"][0]["conditions"][0]["operator"] = "SOUNDS"
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    out = evaluate(flagtrail, "--environment", str(path), "--identity", "x")
    assert b"1 documented fallback while loading" in out.stderr
    assert b'unknown operator "SOUNDS"' in out.stderr


@pytest.mark.parametrize("args, status, message", [
    ([], 2, b"--environment FILE is needed"),
    (["--environment", str(V1), "--trait", "novalue"], 2, b"expected KEY=VALUE"),
    (["--environment", str(V1), "--identity-id", "x1"], 2, b"not an integer"),
    (["--environment", str(V1), "--format", "xml"], 2, b"expected json, table or result"),
    (["--environment", str(V1), "--traits-json", "[1"], 2, b"--traits-json"),
    (["--environment", str(V1), "--trait", "a=1"], 2, b"need --identity"),
    (["--environment", "/nonexistent/doc.json"], 1, b"cannot open"),
])
def test_usage_and_input_errors(flagtrail, args, status, message):
    res = evaluate(flagtrail, *args, check=False)
    assert res.returncode == status
    assert message in res.stderr


def test_malformed_document_names_the_offending_value(flagtrail, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"api_key": "k", "project": {"segments": [{"id": "x", "name": "s"}]},'
                    ' "feature_states": []}')
    res = evaluate(flagtrail, "--environment", str(path), check=False)
    assert res.returncode == 1
    assert b"project.segments[0].id: expected number or null, got string" in res.stderr
