"""Metric events: signed POST /events on the receiver, and `flagtrail events import`."""
import json

import pytest

from conftest import run
from receiver import query, receivers, wait_for  # noqa: F401


def event_rows(db):
    try:
        return query(db, "SELECT identity, event, value, occurred_at FROM ft_event "
                         "ORDER BY lsn, idx")
    except Exception:
        return []


def test_post_events_one_or_many(receivers):
    r = receivers()
    one = json.dumps({"identity": "u1", "event": "purchase", "value": 12.5,
                      "timestamp": "2026-11-24T05:00:00Z", "extra": [1]}).encode()
    many = json.dumps([{"identity": "u1", "event": "signup"},
                       {"identity": "u2", "event": "purchase", "value": 3,
                        "timestamp": 1795500000.5}]).encode()
    for body in (one, many):
        status, _, answer = r.post(body, path="/events")
        assert (status, json.loads(answer)) == (200, {"status": "accepted"})
    rows = wait_for(lambda: (lambda x: x if len(x) == 3 else None)(event_rows(r.db)),
                    message="three events")
    assert rows[0] == ("u1", "purchase", 12.5, 1795496400000000)
    assert rows[1][:3] == ("u1", "signup", None)
    assert rows[2] == ("u2", "purchase", 3.0, 1795500000500000)
    status, _, text = r.request("GET", "/metrics")
    assert b"flagtrail_loader_events_total 3\n" in text
    assert b'route="events",status="200"} 2\n' in text
    r.stop()


@pytest.mark.parametrize("body,detail", [
    (b"[]", "no events"),
    (b"42", "expected an event object or an array of them, got number"),
    (b'{"event": "x"}', "identity: required field missing"),
    (b'{"identity": "", "event": "x"}', "identity: must not be empty"),
    (b'[{"identity": "u", "event": "x"}, {"identity": "u", "event": "x", "value": "1"}]',
     "[1].value: expected number, got string"),
    (b'{"identity": "u", "event": "x", "timestamp": "yesterday"}',
     "timestamp: expected an ISO-8601 time"),
    (b'{"identity": "u", "event": "x", "timestamp": true}',
     "timestamp: expected string or number, got boolean"),
    (b'{"identity": "u", "event": "x\\u0000"}', "event: a string may not contain U+0000"),
    # PostgreSQL's index on events holds rows of at most 2704 bytes
    (json.dumps({"identity": "u" * 2401, "event": "x"}).encode(),
     "identity: may take at most 2400 bytes in UTF-8"),
    (json.dumps({"identity": "u", "event": "\u00e9" * 101}).encode(),
     "event: may take at most 200 bytes in UTF-8"),
])
def test_bad_events_get_400(receivers, body, detail):
    r = receivers()
    status, _, answer = r.post(body, path="/events")
    assert status == 400
    assert json.loads(answer) == {"error": "invalid_payload", "detail": detail}
    r.stop()


def test_events_are_signed_and_json(receivers):
    r = receivers()
    body = b'{"identity": "u", "event": "x"}'
    assert r.post(body, path="/events", signature=False)[0] == 401
    assert r.post(body, path="/events", secret=b"wrong")[0] == 401
    assert r.post(body, path="/events", content_type="text/csv")[0] == 415
    assert r.post(b'{"identity": "u",', path="/events")[0] == 400
    assert r.request("GET", "/events")[0] == 405
    r.stop()


def test_import_csv_and_jsonl_idempotently(flagtrail, tmp_path):
    csv = tmp_path / "events.csv"
    csv.write_text("timestamp,identity,event,value,ignored\n"
                   "2026-11-24T05:00:00Z,u1,purchase,12.5,x\n"
                   "1795500000,\"u,2\",\"big \"\"sale\"\"\",3,y\n"
                   ",u3,signup,,z\n"
                   "\n")
    db = tmp_path / "w.db"
    for _ in range(2):
        res = run([flagtrail, "events", "import", str(csv), "--store", f"sqlite:{db}"])
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(b"imported 3 events from")
    rows = query(str(db), "SELECT source, lsn, identity, event, value, occurred_at FROM ft_event "
                          "ORDER BY lsn")
    assert [r[:5] for r in rows] == [("import:events.csv", 2, "u1", "purchase", 12.5),
                                     ("import:events.csv", 3, "u,2", 'big "sale"', 3.0),
                                     ("import:events.csv", 4, "u3", "signup", None)]
    assert rows[0][5] == 1795496400000000 and rows[1][5] == 1795500000000000
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text('{"identity": "j1", "event": "purchase", "value": 1}\n\n'
                     '{"identity": "j2", "event": "purchase"}\n')
    res = run([flagtrail, "events", "import", str(jsonl), "--store", f"sqlite:{db}"])
    assert res.returncode == 0 and res.stdout.startswith(b"imported 2 events")
    assert query(str(db), "SELECT COUNT(*) FROM ft_event") == [(5,)]
    res = run([flagtrail, "events", "import", "-", "--format", "jsonl", "--source", "pipe",
               "--store", f"sqlite:{db}"], input=b'{"identity": "p", "event": "e"}\n')
    assert res.returncode == 0
    assert query(str(db), "SELECT COUNT(*) FROM ft_event WHERE source = 'pipe'") == [(1,)]


@pytest.mark.parametrize("name,content,message", [
    ("a.csv", "identity,value\nu,1\n", b"a.csv:1: the header must name the columns identity and event"),
    ("b.csv", "identity,event,value\nu,e,abc\n", b"b.csv:2: value: not a number"),
    # what would poison sums and means: not a finite decimal number
    ("b1.csv", "identity,event,value\nu,e,1\nu,e,nan\n", b"b1.csv:3: value: not a number"),
    ("b2.csv", "identity,event,value\nu,e,inf\n", b"b2.csv:2: value: not a number"),
    ("b3.csv", "identity,event,value\nu,e,1e999\n", b"b3.csv:2: value: not a number"),
    ("b4.csv", "identity,event,value\nu,e,0x10\n", b"b4.csv:2: value: not a number"),
    ("b5.csv", "identity,event,value\nu,e, 12 \nu,e,1 2\n", b"b5.csv:3: value: not a number"),
    ("c.csv", "identity,event\nu,\"open\n", b"c.csv:2: unterminated quoted field"),
    ("d.csv", "", b"d.csv:1: empty file"),
    ("e.jsonl", '{"identity": "u", "event": "e"}\n{"identity": 1}\n', b"e.jsonl:2: identity: expected string, got number"),
    ("f.jsonl", '{"identity": "u",\n', b"f.jsonl:1: unexpected end of input"),
    # what a warehouse would refuse: the strings are checked as POST /events checks them
    ("g.csv", b"identity,event\nu\xe9,e\n", b"g.csv:2: identity: must be UTF-8"),
    ("h.csv", b"identity,event\nu,e\x00\n", b"h.csv:2: event: a string may not contain U+0000"),
    ("i.csv", "identity,event\n" + "u" * 2401 + ",e\n",
     b"i.csv:2: identity: may take at most 2400 bytes in UTF-8"),
    ("j.jsonl", '{"identity": "u", "event": "' + "e" * 201 + '"}\n',
     b"j.jsonl:1: event: may take at most 200 bytes in UTF-8"),
])
def test_import_reports_the_bad_line(flagtrail, tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    res = run([flagtrail, "events", "import", str(path), "--store", f"sqlite:{tmp_path}/w.db"])
    assert res.returncode == 1
    assert message in res.stderr, res.stderr


def test_import_usage(flagtrail, tmp_path):
    assert run([flagtrail, "events"]).returncode == 2
    assert run([flagtrail, "events", "import"]).returncode == 2
    assert run([flagtrail, "events", "import", "x", "--format", "xml"]).returncode == 2
    res = run([flagtrail, "events", "import", str(tmp_path / "missing.csv")])
    assert res.returncode == 1 and b"cannot open" in res.stderr
