"""flagtrail serve's flags API and the webhooks it emits."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run
from pgserver import postgres  # noqa: F401
from receiver import wait_for
from servehelper import V1, V1_KEY, hooks, serves  # noqa: F401

SECRET = b"serve test secret"


@pytest.fixture
def secret_file(tmp_path):
    p = tmp_path / "webhook-secret"
    p.write_bytes(SECRET + b"\n")
    return str(p)


def flags_by_name(answer):
    return {f["feature"]["name"]: f for f in answer}


def test_flags_and_identities_shapes(serves):
    s = serves(args=["--environment", str(V1)])
    status, flags = s.request("GET", "/api/v1/flags/")
    assert status == 200 and isinstance(flags, list) and len(flags) == 5
    f = flags_by_name(flags)["integer_feature"]
    assert set(f) == {"id", "feature", "feature_state_value", "environment", "identity",
                      "feature_segment", "enabled"}
    assert set(f["feature"]) == {"id", "name", "created_date", "description", "initial_value",
                                 "default_enabled", "type"}
    assert (f["id"], f["feature"]["id"], f["feature_state_value"], f["environment"]) == \
        (78980, 15059, 1234, 12561)
    assert flags_by_name(flags)["float_feature"]["feature"] == {
        "id": 15061, "name": "float_feature", "created_date": "1970-01-01T00:00:00Z",
        "description": None, "initial_value": "12.34", "default_enabled": True, "type": "STANDARD"}
    status, ident = s.request("GET", "/api/v1/identities/?identifier=alice")
    assert status == 200 and ident["identifier"] == "alice" and ident["traits"] == []
    assert len(ident["flags"]) == 5
    assert sorted(json.dumps(g["feature"]) for g in ident["flags"]) == \
        sorted(json.dumps(g["feature"]) for g in flags)
    status, one = s.request("GET", "/api/v1/identities/?identifier=alice&feature=mv_feature")
    assert status == 200 and one["feature"]["name"] == "mv_feature"
    assert s.request("GET", "/api/v1/identities/?identifier=alice&feature=nope") == \
        (404, {"detail": "Given feature not found"})
    # Flagsmith core's wart: a missing identifier is a 200
    assert s.request("GET", "/api/v1/identities/") == (200, {"detail": "Missing identifier"})
    assert s.request("GET", "/api/v1/identities/?identifier=%FF") == \
        (400, {"detail": "identifier and feature must be UTF-8"})
    s.stop()


def test_keys(serves, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# server keys\nser.from-file\n")
    s = serves(args=["--environment", str(V1), "--key-file", str(keys)])
    denied = (403, {"detail": "Invalid or missing Environment key"})
    assert s.request("GET", "/api/v1/flags/", key=None) == denied
    assert s.request("GET", "/api/v1/flags/", key="wrong") == denied
    assert s.request("GET", "/api/v1/flags/", key="ser.from-file")[0] == 200
    status, doc = s.request("GET", "/api/v1/environment-document/", key="ser.from-file")
    assert status == 200 and doc["api_key"] == V1_KEY and "feature_states" in doc
    status, _ = s.request("GET", "/api/v1/environment-document/", key=V1_KEY)
    assert status == 403, "client keys do not get the document"
    s.stop()


def test_post_validation(serves):
    s = serves(args=["--environment", str(V1)])
    cases = [
        # a missing or blank identifier is a transient identity (test below); a number is its text
        ({"identifier": True}, {"identifier": ["Not a valid string."]}),
        ({"identifier": [1]}, {"identifier": ["Not a valid string."]}),
        ({"identifier": "x" * 2001}, {"identifier": ["A string of 1 to 2000 characters is required."]}),
        ({"identifier": "u", "traits": {}}, {"traits": ["Expected a list of items."]}),
        ({"identifier": "u", "traits": [{"trait_value": 1}]},
         {"traits": ["Each trait needs a string trait_key."]}),
        ({"identifier": "u", "traits": [{"trait_key": "k"}]},  # only null deletes a trait
         {"traits": ["Each trait needs a trait_value (null deletes the trait)."]}),
        ({"identifier": "u", "traits": [{"trait_key": "k", "trait_value": [1]}]},
         {"traits": ["trait_value must be a string, number or boolean."]}),
        ({"identifier": "u", "transient": "maybe"}, {"transient": ["Must be a valid boolean."]}),
        (b'{"identifier": "u", "traits": [{"trait_key": "k", "trait_value": 1e999}]}',
         {"traits": ["trait_value is out of range."]}),
        # as Flagsmith's serializers: no store (PostgreSQL's text) can hold U+0000
        ({"identifier": "u\u0000v"}, {"identifier": ["Null characters are not allowed."]}),
        ({"identifier": "u", "traits": [{"trait_key": "k\u0000", "trait_value": 1}]},
         {"traits": ["Null characters are not allowed."]}),
        ({"identifier": "u", "traits": [{"trait_key": "k", "trait_value": "\u0000"}]},
         {"traits": ["Null characters are not allowed."]}),
    ]
    for body, answer in cases:
        headers = {"Content-Type": "application/json"} if isinstance(body, bytes) else None
        assert s.request("POST", "/api/v1/identities/", body, headers=headers) == \
            (400, answer), body
    # strings stay strings as sent, also digits too many for a double (evaluation reads
    # them as text: a number would be infinite)
    huge = "1" * 400
    status, answer = s.request("POST", "/api/v1/identities/", {"identifier": "huge", "traits": [
        {"trait_key": "n", "trait_value": huge}, {"trait_key": "m", "trait_value": "12"}]})
    assert status == 200
    assert {t["trait_key"]: t["trait_value"] for t in answer["traits"]} == {"n": huge, "m": "12"}
    for query, field in (("identifier=u%00v", "identifier"), ("identifier=%00", "identifier"),
                         ("identifier=u&feature=f%00", "feature")):
        assert s.request("GET", "/api/v1/identities/?" + query) == \
            (400, {field: ["Null characters are not allowed."]}), query
    # Flagsmith's limits count characters (Python's len()), not bytes; an identifier also
    # stays within 2400 bytes, which PostgreSQL's unique index (2704 a row) can hold
    long_id = "\u00e9" * 1200
    status, answer = s.request("POST", "/api/v1/identities/", {"identifier": long_id, "traits": [
        {"trait_key": "\U0001F680" * 200, "trait_value": 1}]})
    assert status == 200 and answer["identifier"] == long_id
    assert answer["traits"][0]["trait_key"] == "\U0001F680" * 200
    assert s.request("POST", "/api/v1/identities/", {"identifier": "u", "traits": [
        {"trait_key": "k" * 201, "trait_value": 1}]}) == \
        (400, {"traits": ["A trait_key must have 1 to 200 characters."]})
    too_many_bytes = (400, {"identifier": ["An identifier may take at most 2400 bytes in UTF-8."]})
    assert s.request("POST", "/api/v1/identities/", {"identifier": long_id + "\u00e9"}) == \
        too_many_bytes
    assert s.request("GET", "/api/v1/identities/?identifier=" + "%C3%A9" * 1200)[0] == 200
    assert s.request("GET", "/api/v1/identities/?identifier=" + "%C3%A9" * 1201) == too_many_bytes
    assert s.request("GET", "/api/v1/identities/?identifier=" + "x" * 2001) == \
        (400, {"identifier": ["A string of 1 to 2000 characters is required."]})
    status, answer = s.request("POST", "/api/v1/identities/", b"{nope",
                               headers={"Content-Type": "application/json"})
    assert status == 400 and answer["detail"].startswith("JSON parse error")
    status, _ = s.request("POST", "/api/v1/identities/", b"{}", headers={"Content-Type": "text/plain"})
    assert status == 415
    assert s.request("DELETE", "/api/v1/identities/")[0] == 405
    assert s.request("GET", "/api/v1/nothing/")[0] == 404
    s.stop()


def test_traits_persist_with_stable_ids_and_drive_segments(serves, hooks, secret_file):
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url,
                     "--webhook-secret-file", secret_file])
    status, a = s.identify("bob", [{"trait_key": "age", "trait_value": "32"},
                                   {"trait_key": "favourite_colour", "trait_value": "blue"}])
    assert status == 200
    assert {t["trait_key"]: t["trait_value"] for t in a["traits"]} == \
        {"age": "32", "favourite_colour": "blue"}, "a numeric string stays a string, as sent"
    assert flags_by_name(a["flags"])["string_feature"]["feature_state_value"] == "segment_override"
    # ... and is evaluated as the number: regular_segment wants 21 <= age < 40, and "100" is
    # below "40" as text, not as a number
    status, c = s.identify("carl", [{"trait_key": "age", "trait_value": "100"},
                                    {"trait_key": "favourite_colour", "trait_value": "blue"}],
                           transient=True)
    assert status == 200 and {t["trait_key"]: t["trait_value"] for t in c["traits"]}["age"] == "100"
    assert flags_by_name(c["flags"])["string_feature"]["feature_state_value"] == "foo"
    s.identify("bob", [{"trait_key": "age", "trait_value": 45}])  # update keeps the id
    s.identify("bob", [{"trait_key": "favourite_colour", "trait_value": None}])  # delete
    s.identify("bob", [{"trait_key": "session", "trait_value": "x", "transient": True}])
    status, g = s.request("GET", "/api/v1/identities/?identifier=bob")
    assert {t["trait_key"]: t["trait_value"] for t in g["traits"]} == {"age": 45}
    assert flags_by_name(g["flags"])["string_feature"]["feature_state_value"] == "foo"
    bodies = wait_for(lambda: (lambda b: b if len(b) == 6 else None)(h.bodies()),
                      message="six webhooks")
    hooks_traits = [json.loads(b)["traits"] for b in bodies if json.loads(b)["identity"] == "bob"]
    age_ids = {t["id"] for w in hooks_traits for t in w if t["trait_key"] == "age"}
    assert len(age_ids) == 1 and None not in age_ids, "a trait keeps its id"
    ages = {json.dumps(t["trait_value"]) for w in hooks_traits for t in w if t["trait_key"] == "age"}
    assert ages == {'"32"', "45"}, "the webhook carries each value as it was sent"
    # deliveries run concurrently, so webhooks may arrive in any order: find the one
    transient = [t for w in hooks_traits for t in w if t["trait_key"] == "session"]
    assert transient == [{"id": None, "trait_key": "session", "trait_value": "x", "transient": True}]
    # across a restart
    s.stop()
    s.start()
    status, g = s.request("GET", "/api/v1/identities/?identifier=bob")
    assert [(t["trait_key"], t["trait_value"]) for t in g["traits"]] == [("age", 45)]
    status, t = s.identify("ghost", [{"trait_key": "k", "trait_value": 1}], transient=True)
    assert status == 200
    assert s.request("GET", "/api/v1/identities/?identifier=ghost")[1]["traits"] == []
    s.stop()


def test_a_call_answers_the_traits_the_store_now_holds(serves, hooks, secret_file):
    """A call's changes apply in order (a key sent twice keeps the last value); its answer and
    webhook hold what a later read of the store returns: same ids, same order."""
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url,
                     "--webhook-secret-file", secret_file])
    s.identify("carol", [{"trait_key": "plan", "trait_value": "free"},
                         {"trait_key": "age", "trait_value": 30}])
    status, a = s.identify("carol", [{"trait_key": "plan", "trait_value": None},
                                     {"trait_key": "zeta", "trait_value": "z"},
                                     {"trait_key": "age", "trait_value": 31},
                                     {"trait_key": "zeta", "trait_value": "zz"}])
    assert status == 200
    assert [(t["trait_key"], t["trait_value"]) for t in a["traits"]] == [("age", 31), ("zeta", "zz")]
    status, g = s.request("GET", "/api/v1/identities/?identifier=carol")
    assert g["traits"] == a["traits"]
    bodies = wait_for(lambda: (lambda b: b if len(b) == 3 else None)(h.bodies()),
                      message="three webhooks")
    traits = [json.loads(b)["traits"] for b in bodies]
    first = [w for w in traits if [t["trait_key"] for t in w] == ["plan", "age"]]
    later = [w for w in traits if [t["trait_key"] for t in w] == ["age", "zeta"]]
    assert len(first) == 1 and len(later) == 2
    assert later[0] == later[1], "the changing call's ids are the ones the store holds"
    assert later[0][0]["id"] == first[0][1]["id"], "an updated trait keeps its id"
    assert later[0][1]["id"] > first[0][1]["id"], "a new trait comes after the older ones"
    s.stop()


def test_concurrent_calls_share_commits_and_each_sees_its_own_write(serves, hooks, secret_file):
    """Calls within one commit interval share a transaction: each call still sees the traits as
    they stand after its own change, a trait keeps its id, nothing is lost."""
    import threading
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url,
                     "--webhook-secret-file", secret_file])
    n_threads, per_thread = 8, 40
    problems = []

    def sender(t):
        try:
            send(t)
        except Exception as e:  # a failure in a thread must fail the test
            problems.append(("exception", t, repr(e)))

    def send(t):
        for i in range(per_thread):
            value = t * 1000 + i
            status, a = s.identify("shared", [{"trait_key": "counter", "trait_value": value}])
            traits = {x["trait_key"]: x["trait_value"] for x in a["traits"]} if status == 200 else {}
            if traits != {"counter": value}:
                problems.append(("shared", t, i, status, a))
                continue
            status, a = s.identify(f"solo-{t}", [{"trait_key": "n", "trait_value": i}])
            if status != 200 or [x["trait_value"] for x in a["traits"]] != [i]:
                problems.append(("solo", t, i, status, a))

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    for t in range(n_threads):
        status, g = s.request("GET", f"/api/v1/identities/?identifier=solo-{t}")
        assert [(x["trait_key"], x["trait_value"]) for x in g["traits"]] == [("n", per_thread - 1)]
    calls = s.metric("flagtrail_identity_calls_total")
    commits = s.metric("flagtrail_identity_commits_total")
    assert calls == 2 * n_threads * per_thread + n_threads
    assert 0 < commits < calls, "calls close together shared a commit"
    bodies = wait_for(lambda: (lambda b: b if len(b) == calls else None)(h.bodies()),
                      timeout=60, message="a webhook per call")
    counter_ids = {t["id"] for b in bodies for t in json.loads(b)["traits"]
                   if t["trait_key"] == "counter"}
    assert len(counter_ids) == 1 and None not in counter_ids, "one trait, one id, across commits"
    s.stop()
    s.start()  # and all of it was committed
    status, g = s.request("GET", "/api/v1/identities/?identifier=solo-3")
    assert [(x["trait_key"], x["trait_value"]) for x in g["traits"]] == [("n", per_thread - 1)]
    s.stop()


def test_a_call_the_store_refuses_fails_alone(serves, tmp_path):
    """Calls share a transaction; when one of them fails in the database, its savepoint is
    undone and the others keep their changes."""
    import sqlite3
    import threading
    s = serves(args=["--environment", str(V1)])
    assert s.identify("warm-up")[0] == 200  # the tables exist
    db = sqlite3.connect(os.path.join(s.workdir, "serve-data", "identities.db"))
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON identities WHEN NEW.identifier LIKE "
               "'refused-%' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")
    db.commit()
    db.close()
    results = []

    def sender(t):
        for i in range(30):
            name = f"refused-{t}-{i}" if i % 5 == 0 else f"fine-{t}-{i}"
            status, _ = s.identify(name, [{"trait_key": "i", "trait_value": i}])
            results.append((name, status))

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 240
    assert {st for n, st in results if n.startswith("fine-")} == {200}
    assert {st for n, st in results if n.startswith("refused-")} == {503}
    status, g = s.request("GET", "/api/v1/identities/?identifier=fine-3-7")
    assert [(x["trait_key"], x["trait_value"]) for x in g["traits"]] == [("i", 7)]
    s.stop()


def test_a_refused_call_is_undone_whole(serves, tmp_path):
    """A call whose second change the database refuses keeps none of its changes: its first
    change is rolled back with it, and the next read (cached or not) shows the traits before."""
    import sqlite3
    s = serves(args=["--environment", str(V1)])
    assert s.identify("dave", [{"trait_key": "ok", "trait_value": 1}])[0] == 200
    db = sqlite3.connect(os.path.join(s.workdir, "serve-data", "identities.db"))
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON traits WHEN NEW.trait_key = 'forbidden' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")
    db.commit()
    db.close()
    status, _ = s.identify("dave", [{"trait_key": "ok", "trait_value": 2},
                                    {"trait_key": "forbidden", "trait_value": 3}])
    assert status == 503
    status, g = s.request("GET", "/api/v1/identities/?identifier=dave")
    assert [(t["trait_key"], t["trait_value"]) for t in g["traits"]] == [("ok", 1)]
    s.stop()
    s.start()
    status, g = s.request("GET", "/api/v1/identities/?identifier=dave")
    assert [(t["trait_key"], t["trait_value"]) for t in g["traits"]] == [("ok", 1)]
    s.stop()


def test_commits_follow_the_interval_and_shutdown(serves, tmp_path):
    """An answer does not wait for its commit; the commit comes within --sync-interval, and a
    clean stop commits what is open."""
    import sqlite3
    s = serves(args=["--environment", str(V1), "--sync-interval", "300"])
    path = os.path.join(s.workdir, "serve-data", "identities.db")

    def stored(identifier):
        db = sqlite3.connect(path)
        rows = db.execute("SELECT t.value FROM traits t JOIN identities i ON i.id = t.identity_id"
                          " WHERE i.identifier = ?", (identifier,)).fetchall()
        db.close()
        return rows

    assert s.identify("early", [{"trait_key": "k", "trait_value": "v"}])[0] == 200
    assert stored("early") == [], "answered before its transaction committed"
    wait_for(lambda: stored("early") == [("v",)], timeout=10, message="the interval's commit")
    s.stop()
    s = serves(args=["--environment", str(V1), "--sync-interval", "600000"], workdir=s.workdir)
    assert s.identify("late", [{"trait_key": "k", "trait_value": "w"}])[0] == 200
    s.stop()  # SIGTERM: the open transaction is committed
    assert stored("late") == [("w",)]


def test_a_transaction_lost_after_its_answers_is_counted(serves, hooks, secret_file, tmp_path):
    """When the open transaction fails after some of its calls were answered, their changes are
    lost: counted in flagtrail_identity_changes_lost_total and logged; the store goes on, and
    the trait ids those answers published are never given to another trait."""
    import sqlite3
    h = hooks()
    args = ["--environment", str(V1), "--sync-interval", "600000", "--webhook-url", h.url,
            "--webhook-secret-file", secret_file]
    s = serves(args=args)
    assert s.identify("warm-up", [{"trait_key": "k", "trait_value": 0}])[0] == 200
    s.stop()  # commits the tables
    db = sqlite3.connect(os.path.join(s.workdir, "serve-data", "identities.db"))
    db.execute("CREATE TRIGGER breaks BEFORE INSERT ON identities WHEN NEW.identifier = 'breaker'"
               " BEGIN SELECT RAISE(ROLLBACK, 'the whole transaction, by a test trigger'); END")
    db.commit()
    db.close()
    s = serves(args=args, workdir=s.workdir)
    assert s.identify("answered", [{"trait_key": "k", "trait_value": 1}])[0] == 200
    assert s.identify("breaker")[0] == 503
    assert s.metric("flagtrail_identity_changes_lost_total") == 1
    assert s.request("GET", "/api/v1/identities/?identifier=answered")[1]["traits"] == []
    assert s.identify("after", [{"trait_key": "k", "trait_value": 2}])[0] == 200
    s.stop()  # syncs the outbox (its interval is long too) and delivers before exiting
    bodies = wait_for(lambda: (lambda b: b if len(b) == 4 else None)(h.bodies()),
                      message="four webhooks (warm-up, answered, its GET, after)")
    ids = {}
    for b in map(json.loads, bodies):
        ids.setdefault(b["identity"], set()).update(t["id"] for t in b["traits"])
    assert len(ids["answered"]) == 1 and len(ids["after"]) == 1
    assert ids["answered"] != ids["after"], "a lost trait's published id is not reused"
    assert any(e.get("error") for e in s.events("serve.identity_changes_lost"))


def fill(path):
    """Writes `path` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_disk_under_the_identity_store_loses_changes_not_the_store(serves, tmp_path):
    """With --data on a full file system, identity calls still get their flags or a 503 (never
    a crash or a hang); the calls whose changes could not be kept are counted; once there is
    room again, changes are kept, across a restart, and the database is intact."""
    data = tmp_path / "serve-data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(data)], check=True)
    try:
        s = serves(args=["--environment", str(V1), "--sync-interval", "5"])
        assert s.identify("warm-up", [{"trait_key": "k", "trait_value": 0}])[0] == 200
        wait_for(lambda: s.metric("flagtrail_identity_commits_total") >= 1, message="a commit")
        fill(data / "ballast")
        pad = "z" * 2000  # the longest string Flagsmith takes as a trait value
        statuses = [s.identify(f"full-{i}", [{"trait_key": "pad", "trait_value": pad}])[0]
                    for i in range(100)]
        assert set(statuses) <= {200, 503}, statuses
        wait_for(lambda: s.metric("flagtrail_identity_changes_lost_total") +
                 s.metric("flagtrail_identity_store_errors_total") > 0,
                 message="the changes the full disk refused, counted")
        assert s.identify("still-served")[0] in (200, 503)
        os.unlink(data / "ballast")  # room returns
        status, answer = s.identify("after", [{"trait_key": "k", "trait_value": "kept"}])
        assert status == 200, answer
        assert s.stop() == 0
        s = serves(args=["--environment", str(V1)], workdir=s.workdir)
        status, g = s.request("GET", "/api/v1/identities/?identifier=after")
        assert [(t["trait_key"], t["trait_value"]) for t in g["traits"]] == [("k", "kept")]
        assert s.stop() == 0
        db = sqlite3.connect(str(data / "identities.db"))
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.close()
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def python_dumps(body):
    return json.dumps(json.loads(body), sort_keys=True).encode()


def test_webhooks_are_flagsmith_bytes_and_signed(serves, hooks, secret_file):
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--webhook-secret-file",
                     secret_file, "--standard-webhooks"])
    s.identify("carol", [{"trait_key": "age", "trait_value": 25},
                         {"trait_key": "favourite_colour", "trait_value": "green"},
                         {"trait_key": "name", "trait_value": "Zo\u00eb \U0001F680"},
                         {"trait_key": "score", "trait_value": 0.1},
                         {"trait_key": "vip", "trait_value": True}])
    s.request("GET", "/api/v1/identities/?identifier=carol")
    s.request("GET", "/api/v1/identities/?identifier=carol&feature=mv_feature")  # no webhook
    wait_for(lambda: len(h.requests) >= 2, message="two webhooks")
    time.sleep(0.3)
    assert len(h.requests) == 2
    for _, headers, body in h.requests:
        assert body == python_dumps(body), "Python's json.dumps(sort_keys=True) bytes"
        # the verification snippet of Flagsmith's documentation
        signature = headers["X-Flagsmith-Signature"]
        expected = hmac.new(key=SECRET, msg=body, digestmod=hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, signature)
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"].startswith("flagtrail/")
        # Standard Webhooks
        wid, ts = headers["webhook-id"], headers["webhook-timestamp"]
        mac = hmac.new(SECRET, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
        assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
        assert abs(int(ts) - time.time()) < 60
    p = json.loads(h.requests[0][2])
    assert p["identity"] == "carol"
    assert {g["name"]: g["member"] for g in p["segments"]} == \
        {"regular_segment": True, "10_percent": False, "segment_two": False, "segment_three": False}
    for f in p["flags"]:
        truthy = bool(f["feature_state_value"])
        assert ("percentage_allocation" in f) == truthy, f
    mv = [f for f in p["flags"] if f["feature"]["name"] == "mv_feature"][0]
    assert isinstance(mv["percentage_allocation"], float)
    assert {t["trait_key"]: (t["trait_value"], t["transient"]) for t in p["traits"]} == {
        "age": (25, False), "favourite_colour": ("green", False), "name": ("Zo\u00eb \U0001F680", False),
        "score": (0.1, False), "vip": (True, False)}
    assert h.requests[0][1]["webhook-id"] != h.requests[1][1]["webhook-id"]
    s.stop()


def test_server_key_only_features_stay_hidden_from_client_keys(serves, hooks, tmp_path):
    doc = json.loads(V1.read_text())["environment"]
    doc["project"]["server_key_only_feature_ids"] = [15060]  # basic_flag
    path = tmp_path / "env.json"
    path.write_text(json.dumps(doc))
    h = hooks()
    s = serves(args=["--environment", str(path), "--key", "ser.k", "--webhook-url", h.url])
    names = lambda a: sorted(f["feature"]["name"] for f in a)  # noqa: E731
    assert "basic_flag" not in names(s.request("GET", "/api/v1/flags/")[1])
    assert "basic_flag" in names(s.request("GET", "/api/v1/flags/", key="ser.k")[1])
    s.identify("dan")
    s.identify("dan", key="ser.k")
    wait_for(lambda: len(h.requests) == 2, message="two webhooks")
    by_key = [names(json.loads(b)["flags"]) for b in h.bodies()]
    assert sorted(["basic_flag" in n for n in by_key]) == [False, True]
    s.stop()


def test_reload_on_change_and_sighup_keeps_a_broken_document_out(serves, tmp_path):
    path = tmp_path / "env.json"
    doc = json.loads(V1.read_text())["environment"]
    path.write_text(json.dumps(doc))
    s = serves(args=["--environment", str(path)])
    value = lambda: flags_by_name(s.request("GET", "/api/v1/flags/")[1])["integer_feature"][  # noqa
        "feature_state_value"]
    assert value() == 1234
    for fs in doc["feature_states"]:
        if fs["feature"]["name"] == "integer_feature":
            fs["feature_state_value"] = 4321
    path.write_text(json.dumps(doc))
    wait_for(lambda: value() == 4321, timeout=10, message="the file change")
    path.write_text("{broken")
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.events("serve.reload_failed"), message="a failed reload")
    assert value() == 4321, "the previous model stays"
    time.sleep(3)  # the watcher looks every second: a broken version is logged once, not each time
    assert len(s.events("serve.reload_failed")) <= 2, "once by the watcher, once for SIGHUP"
    # U+0000, which no Flagsmith document holds and receive refuses, keeps a document out too
    doc["feature_states"][0]["feature"]["name"] = "bad\u0000name"
    path.write_text(json.dumps(doc))
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any("U+0000" in e.get("error", "") for e in s.events("serve.reload_failed")),
             message="a reload refused for U+0000")
    assert value() == 4321 and len(s.request("GET", "/api/v1/flags/")[1]) == 5
    s.stop()


class DocumentServer:
    """Flagsmith's environment-document endpoint: Last-Modified, 304 to a matching
    If-Modified-Since, and on demand a 500 or an answer that hangs."""

    def __init__(self, doc):
        self.doc, self.modified, self.mode = doc, "Wed, 02 Dec 2026 10:00:00 GMT", "ok"
        self.seen, self.release = [], threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append((self.path, self.headers.get("X-Environment-Key"),
                                   self.headers.get("If-Modified-Since")))
                if outer.mode == "hang":
                    outer.release.wait(30)
                    return
                if outer.mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("If-Modified-Since") == outer.modified:
                    self.send_response(304)
                    self.end_headers()
                    return
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Last-Modified", outer.modified)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1/environment-document/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_environment_url_is_polled_with_if_modified_since(serves, tmp_path):
    doc = json.loads(V1.read_text())["environment"]
    up = DocumentServer(doc)
    key_file = tmp_path / "upstream-key"
    key_file.write_text("ser.upstream\n")
    try:
        s = serves(args=["--environment-url", up.url, "--environment-key-file", str(key_file),
                         "--poll-interval", "1"])
        value = lambda: flags_by_name(s.request("GET", "/api/v1/flags/")[1])[  # noqa
            "integer_feature"]["feature_state_value"]
        assert value() == 1234
        assert up.seen[0] == ("/api/v1/environment-document/", "ser.upstream", None)
        wait_for(lambda: any(ims == up.modified for _, _, ims in up.seen),
                 message="a poll with If-Modified-Since")
        assert value() == 1234 and not s.events("serve.document_reloaded"), "a 304 keeps the model"
        for fs in doc["feature_states"]:
            if fs["feature"]["name"] == "integer_feature":
                fs["feature_state_value"] = 4321
        up.modified = "Wed, 02 Dec 2026 11:00:00 GMT"
        wait_for(lambda: value() == 4321, timeout=10, message="the new document")
        up.mode = "500"
        wait_for(lambda: s.events("serve.reload_failed"), message="a failed poll")
        assert "answered 500" in s.events("serve.reload_failed")[0]["error"]
        assert value() == 4321, "a failed poll keeps the previous model"
        up.mode = "ok"
        polls = len(up.seen)
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(ims is None for _, _, ims in up.seen[polls:]),
                 message="SIGHUP's fetch without If-Modified-Since")
        wait_for(lambda: s.events("serve.reloaded"), message="serve.reloaded")
        # a fetch that hangs holds neither SIGHUP nor SIGTERM: serve stops within a second or
        # two, not after the fetch's 10 s timeout
        up.mode = "hang"
        polls = len(up.seen)
        wait_for(lambda: len(up.seen) > polls, message="a hanging poll")
        assert s.request("GET", "/api/v1/flags/")[0] == 200, "flags are served meanwhile"
        s.proc.send_signal(signal.SIGHUP)
        started = time.monotonic()
        assert s.stop(timeout=8) == 0
        assert time.monotonic() - started < 5
    finally:
        up.close()


def test_full_outbox_still_serves_flags_and_counts_lost_webhooks(serves, hooks):
    h = hooks(lambda n, hd, b: (503, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--outbox-max-bytes",
                     "64K", "--retry-schedule", "1h"])
    for i in range(200):
        assert s.identify(f"user-{i}")[0] == 200
    lost = s.metric("flagtrail_webhooks_lost_total")
    assert lost and lost > 50
    assert s.metric("flagtrail_webhooks_emitted_total") + lost == 200
    assert s.events("serve.webhook_lost")
    s.stop()


def test_bad_options(flagtrail, tmp_path):
    for args, message in (([], b"give --environment FILE"),
                          (["--environment", str(V1), "--webhook-url", "ftp://x"], b"http:// or https://"),
                          (["--environment", str(V1), "--retry-schedule", "soon"], b"--retry-schedule"),
                          (["--environment", str(V1), "--retry-schedule", "nans"], b"--retry-schedule"),
                          (["--environment", str(V1), "--retry-schedule", "1e13s"],
                           b"each at most 366 days"),
                          (["--environment", str(V1), "--retry-max-age", "2562047000h"],
                           b"--retry-max-age"),
                          (["--environment", str(V1), "--sync-interval", "x"],
                           b"--sync-interval: expected a whole number from 1 to 1000000, got x"),
                          (["--environment-url", "http://x/api/v1/environment-document/"],
                           b"needs its server key")):
        res = run([flagtrail, "serve", *args])
        assert res.returncode == 2 and message in res.stderr, (args, res.stderr)
    res = run([flagtrail, "serve", "--environment", str(tmp_path / "missing.json"), "--listen",
               "127.0.0.1:0", "--data", str(tmp_path / "d")], timeout=30)
    assert res.returncode == 1 and b"cannot open" in res.stderr
    with socket.socket() as busy:  # a start that fails late: the dispatcher runs already
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        res = run([flagtrail, "serve", "--environment", str(V1), "--listen",
                   f"127.0.0.1:{busy.getsockname()[1]}", "--data", str(tmp_path / "d3")],
                  timeout=30)
    assert res.returncode == 1 and b"serve.start_failed" in res.stderr, res.stderr
    assert b"serve.stopped" not in res.stderr, "a failed start is not reported as a stop"
    for option in ("--webhook-secret-file", "--key-file"):
        res = run([flagtrail, "serve", "--environment", str(V1), option, str(tmp_path / "nope")])
        assert res.returncode == 1 and res.stderr.startswith(
            f"flagtrail serve: {option}: cannot open {tmp_path}/nope".encode()), res.stderr
    doc = json.loads(V1.read_text())["environment"]
    doc["project"]["segments"][0]["name"] = "x\u0000"
    (tmp_path / "nul.json").write_text(json.dumps(doc))
    res = run([flagtrail, "serve", "--environment", str(tmp_path / "nul.json"), "--listen",
               "127.0.0.1:0", "--data", str(tmp_path / "d")], timeout=30)
    assert res.returncode == 1 and b"holds U+0000" in res.stderr, res.stderr


def test_percentage_allocation_follows_pythons_truthiness(serves, hooks, tmp_path):
    """Flagsmith adds percentage_allocation only when the value is truthy in Python."""
    doc = json.loads(V1.read_text())["environment"]
    values = {"basic_flag": 0, "float_feature": "", "integer_feature": False,
              "string_feature": 0.0}
    for fs in doc["feature_states"]:
        name = fs["feature"]["name"]
        if name in values:
            fs["feature_state_value"] = values[name]
            fs["enabled"] = True
    path = tmp_path / "falsy.json"
    path.write_text(json.dumps(doc))
    h = hooks()
    s = serves(args=["--environment", str(path), "--webhook-url", h.url])
    s.identify("erin")
    wait_for(lambda: h.requests, message="a webhook")
    flags = {f["feature"]["name"]: f for f in json.loads(h.bodies()[0])["flags"]}
    for name, v in values.items():
        assert flags[name]["feature_state_value"] == v and type(flags[name]["feature_state_value"]) is type(v)
        assert "percentage_allocation" not in flags[name], name
    assert "percentage_allocation" in flags["mv_feature"]
    s.stop()


def test_two_serves_share_identities_in_postgres(serves, hooks, secret_file, postgres, tmp_path):
    """--identities postgres://: what one serve stores, the other reads, with the same ids."""
    url = postgres.new_database()
    h = hooks()
    args = ["--environment", str(V1), "--webhook-url", h.url, "--webhook-secret-file",
            secret_file, "--identities", url]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = serves(args=args, workdir=tmp_path / "a")
    b = serves(args=args, workdir=tmp_path / "b")
    assert a.identify("carol", [{"trait_key": "age", "trait_value": "32"},
                                {"trait_key": "favourite_colour", "trait_value": "blue"}])[0] == 200
    status, g = b.request("GET", "/api/v1/identities/?identifier=carol")
    assert status == 200
    assert {t["trait_key"]: t["trait_value"] for t in g["traits"]} == \
        {"age": "32", "favourite_colour": "blue"}
    assert flags_by_name(g["flags"])["string_feature"]["feature_state_value"] == \
        "segment_override"
    b.identify("carol", [{"trait_key": "age", "trait_value": 45},
                         {"trait_key": "favourite_colour", "trait_value": None}])
    b.identify("carol", [{"trait_key": "tmp", "trait_value": 1, "transient": True}])
    status, g = a.request("GET", "/api/v1/identities/?identifier=carol")
    assert [(t["trait_key"], t["trait_value"]) for t in g["traits"]] == [("age", 45)]
    bodies = wait_for(lambda: (lambda x: x if len(x) == 5 else None)(h.bodies()),
                      message="five webhooks from the two serves")
    age_ids = {t["id"] for body in bodies for t in json.loads(body)["traits"]
               if t["trait_key"] == "age"}
    assert len(age_ids) == 1 and None not in age_ids, "one trait id across both serves"
    rows = postgres.query(url, "SELECT identifier FROM ft_serve_identities")
    assert rows == [("carol",)]
    assert postgres.query(url, "SELECT trait_key, value FROM ft_serve_traits") == [("age", "45")]
    # the longest identifier and trait key serve takes fit PostgreSQL's unique indexes
    # (random characters, which its compression cannot shrink)
    rnd = random.Random(7)
    ident = "".join(chr(rnd.randrange(0x4E00, 0x9FFF)) for _ in range(800))  # 2400 bytes
    key = "".join(chr(rnd.randrange(0x1F300, 0x1F5FF)) for _ in range(200))  # 800 bytes
    status, answer = a.request("POST", "/api/v1/identities/", {"identifier": ident, "traits": [
        {"trait_key": key, "trait_value": 1}]})
    assert status == 200 and answer["identifier"] == ident, answer
    status, g = b.request("GET", "/api/v1/identities/?identifier=" + urllib.parse.quote(ident))
    assert status == 200 and [t["trait_key"] for t in g["traits"]] == [key]


def test_identity_store_errors_are_clear(flagtrail, tmp_path):
    res = run([flagtrail, "serve", "--environment", str(V1), "--data", str(tmp_path / "d"),
               "--identities", "postgres://nobody:s3cret@127.0.0.1:1/x", "--listen",
               "127.0.0.1:0"], timeout=60)
    assert res.returncode == 1
    assert b"identity store: connecting:" in res.stderr and b"s3cret" not in res.stderr, \
        res.stderr


def test_postgres_identity_store_outage_answers_503_then_recovers(serves, postgres, tmp_path):
    url = postgres.new_database()
    s = serves(args=["--environment", str(V1), "--identities", url])
    assert s.identify("dave", [{"trait_key": "age", "trait_value": 40}])[0] == 200
    postgres.stop()
    try:
        status, answer = s.identify("dave", [{"trait_key": "age", "trait_value": 41}])
        assert status == 503 and answer == {"detail": "Identity store unavailable"}
        assert s.request("GET", "/api/v1/flags/")[0] == 200, "flags need no identity store"
    finally:
        postgres.start()
    status, answer = s.identify("dave", [{"trait_key": "age", "trait_value": 42}])
    assert status == 200
    assert [(t["trait_key"], t["trait_value"]) for t in answer["traits"]] == [("age", 42)]
    assert any("identity store: " in e.get("error", "")
               and "\n" not in e["error"] for e in s.events("serve.identity_store_failed"))


class TableLock:
    """A psql session holding an exclusive lock on a table until release()."""

    def __init__(self, url, table):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-At", url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; "
                              "SELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def identify_in_thread(s, results, identifier, age):
    t = threading.Thread(target=lambda: results.update(
        {identifier: s.identify(identifier, [{"trait_key": "age", "trait_value": age}])}))
    t.start()
    return t


def test_a_statement_stuck_in_postgresql_is_cancelled_and_the_next_call_waits_at_most_2s(
        serves, postgres):
    """A call held inside PostgreSQL (a lock another session keeps) is cancelled after 2 s and
    answers 503; with a longer statement_timeout from the URL, a second call gives up waiting
    for the store after its 2 s. Neither holds serve once the database lets go."""
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    unavailable = (503, {"detail": "Identity store unavailable"})
    url = postgres.new_database()
    s = serves(args=["--environment", str(V1), "--identities", url])
    assert s.identify("erin", [{"trait_key": "age", "trait_value": 1}])[0] == 200
    lock = TableLock(url, "ft_serve_traits")
    try:
        started = time.monotonic()
        assert s.identify("erin", [{"trait_key": "age", "trait_value": 2}]) == unavailable
        assert 1.5 < time.monotonic() - started < 20
    finally:
        lock.release()
    assert any("statement timeout" in e.get("error", "")
               for e in s.events("serve.identity_store_failed"))
    status, answer = s.identify("erin", [{"trait_key": "age", "trait_value": 3}])
    assert status == 200 and [(t["trait_key"], t["trait_value"]) for t in answer["traits"]] == \
        [("age", 3)]
    assert s.request("GET", "/api/v1/flags/")[0] == 200
    s.stop()

    url = postgres.new_database()
    s = serves(args=["--environment", str(V1), "--identities",
                     url + "?options=-c%20statement_timeout%3D6000"])
    assert s.identify("erin", [{"trait_key": "age", "trait_value": 1}])[0] == 200
    lock = TableLock(url, "ft_serve_traits")
    results = {}
    try:
        blocked = identify_in_thread(s, results, "erin", 2)
        wait_for(lambda: postgres.query(url, waiting) == [("1",)],
                 message="the first call waiting on the lock")
        started = time.monotonic()
        assert s.identify("frank", [{"trait_key": "age", "trait_value": 3}]) == unavailable
        assert 1.5 < time.monotonic() - started < 20
        assert "erin" not in results, "the first call is still held by the database"
        blocked.join(timeout=30)
        assert results["erin"] == unavailable
    finally:
        lock.release()
    assert any("busy for 2000 ms" in e.get("error", "")
               for e in s.events("serve.identity_store_failed"))
    assert s.identify("frank", [{"trait_key": "age", "trait_value": 3}])[0] == 200


# --- Flagsmith's identify semantics (api/environments/sdk/serializers.py and services.py) ---

def webhooks_of(h, n):
    """The first n webhook bodies, parsed (deliveries may arrive in any order)."""
    bodies = wait_for(lambda: (lambda b: b if len(b) >= n else None)(h.bodies()),
                      message=f"{n} webhooks")
    return [json.loads(b) for b in bodies]


def trait_rows(answer_or_payload):
    return [(t["trait_key"], t["trait_value"]) for t in answer_or_payload["traits"]]


def members(payload):
    return {g["name"]: g["member"] for g in payload["segments"]}


def stored_identifiers(tmp_path):
    db = tmp_path / "serve-data" / "identities.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return sorted(r[0] for r in conn.execute("SELECT identifier FROM identities"))


def test_a_transient_identify_overlays_the_stored_traits_and_stores_nothing(serves, hooks,
                                                                             tmp_path):
    """get_identified_transient_identity_and_traits: the stored identity with the incoming
    traits over its own (update_traits), nothing persisted, no identity created."""
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url])
    assert s.identify("tina", [{"trait_key": "age", "trait_value": 25},
                               {"trait_key": "favourite_colour", "trait_value": "green"}])[0] == 200
    status, a = s.identify("tina", [{"trait_key": "two", "trait_value": 2}], transient=True)
    assert status == 200 and a["identifier"] == "tina"
    assert trait_rows(a) == [("age", 25), ("favourite_colour", "green"), ("two", 2)]
    assert flags_by_name(a["flags"])["string_feature"]["feature_state_value"] == \
        "segment_two_override_priority_0"
    # a transient value of a stored key takes that trait's place, for this call only
    status, b = s.identify("tina", [{"trait_key": "age", "trait_value": 50}], transient=True)
    assert trait_rows(b) == [("age", 50), ("favourite_colour", "green")]
    assert flags_by_name(b["flags"])["string_feature"]["feature_state_value"] == "foo"
    status, g = s.request("GET", "/api/v1/identities/?identifier=tina")
    assert trait_rows(g) == [("age", 25), ("favourite_colour", "green")]
    assert flags_by_name(g["flags"])["string_feature"]["feature_state_value"] == \
        "segment_override"
    status, n = s.identify("nobody", [{"trait_key": "two", "trait_value": 2}], transient=True)
    assert status == 200 and trait_rows(n) == [("two", 2)]
    hooks_ = webhooks_of(h, 5)
    by = {(p["identity"], tuple(trait_rows(p))): p for p in hooks_}
    first = by[("tina", (("age", 25), ("favourite_colour", "green"), ("two", 2)))]
    assert [(t["id"] is None, t["transient"]) for t in first["traits"]] == \
        [(False, False), (False, False), (True, True)]
    # segment membership comes from the stored traits, as Flagsmith's webhook computes it
    assert members(first) == {"regular_segment": True, "10_percent": False,
                              "segment_two": False, "segment_three": False}
    second = by[("tina", (("age", 50), ("favourite_colour", "green")))]
    assert [(t["id"] is None, t["transient"]) for t in second["traits"]] == \
        [(True, True), (False, False)]
    assert members(second)["regular_segment"] is True
    nobody = by[("nobody", (("two", 2),))]
    assert nobody["traits"][0]["transient"] is True and members(nobody)["segment_two"] is False
    s.stop()
    assert stored_identifiers(tmp_path) == ["tina"], "a transient call creates no identity"


def test_segment_members_in_webhooks_come_from_stored_traits(serves, hooks):
    """Flagsmith's webhook evaluates each segment with the identity's stored traits: a
    transient trait of a persisted call changes the flags, not the members."""
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url])
    status, a = s.identify("uma", [{"trait_key": "age", "trait_value": 25},
                                   {"trait_key": "favourite_colour", "trait_value": "blue"},
                                   {"trait_key": "two", "trait_value": 2, "transient": True}])
    assert status == 200
    assert flags_by_name(a["flags"])["string_feature"]["feature_state_value"] == \
        "segment_two_override_priority_0"
    (p,) = webhooks_of(h, 1)
    assert members(p) == {"regular_segment": True, "10_percent": False, "segment_two": False,
                          "segment_three": False}
    s.stop()


def flagsmith_transient_identifier(traits):
    """api/environments/sdk/services.py get_transient_identifier, on json.loads's values."""
    return hashlib.sha256("".join(
        f"{t['trait_key']}{t['trait_value']}"
        for t in sorted(traits, key=lambda t: t["trait_key"])
        if t["trait_value"] is not None).encode()).hexdigest()


def test_an_identify_without_identifier_is_a_transient_identity(serves, hooks, tmp_path):
    """IdentifyWithTraitsSerializer: identifier may be missing, null or blank; the identity is
    then transient, named by get_transient_identifier, and its webhook is sent."""
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url])
    traits = [{"trait_key": "favourite_colour", "trait_value": "green"},
              {"trait_key": "age", "trait_value": 25},
              {"trait_key": "ratio", "trait_value": 1e16},
              {"trait_key": "small", "trait_value": 0.00001},
              {"trait_key": "big", "trait_value": 123456789012345678901234567890},
              {"trait_key": "vip", "trait_value": True},
              {"trait_key": "gone", "trait_value": None},
              {"trait_key": "Zo\u00eb", "trait_value": "\U0001F680 \"x\""},
              {"trait_key": "age", "trait_value": "26"}]
    expected = flagsmith_transient_identifier(traits)
    status, a = s.request("POST", "/api/v1/identities/", {"traits": traits})
    assert status == 200 and a["identifier"] == expected, (a, expected)
    assert [k for k, _ in trait_rows(a)] == \
        ["favourite_colour", "age", "ratio", "small", "big", "vip", "Zo\u00eb", "age"]
    assert flags_by_name(a["flags"])["string_feature"]["feature_state_value"] == \
        "segment_override"
    for body in ({"identifier": None, "traits": traits}, {"identifier": "", "traits": traits},
                 {"identifier": " \t", "traits": traits}):
        assert s.request("POST", "/api/v1/identities/", body)[1]["identifier"] == expected, body
    # without traits: a random uuid4 hex each time
    ids = [s.request("POST", "/api/v1/identities/", body)[1]["identifier"]
           for body in ({}, {"identifier": None}, {"traits": []})]
    assert len(set(ids)) == 3
    for i in ids:
        assert len(i) == 32 and int(i, 16) >= 0 and i[12] == "4" and i[16] in "89ab", i
    payloads = webhooks_of(h, 7)
    named = [p for p in payloads if p["identity"] == expected]
    assert len(named) == 4
    p = named[0]
    assert all(t["id"] is None and t["transient"] is True for t in p["traits"])
    assert members(p)["regular_segment"] is False, "a transient identity has no stored traits"
    # CharField: numbers are read as their text, surrounding whitespace is stripped
    assert s.request("POST", "/api/v1/identities/", {"identifier": 5})[1]["identifier"] == "5"
    assert s.request("POST", "/api/v1/identities/", {"identifier": "  bob\n"})[1][
        "identifier"] == "bob"
    assert s.request("POST", "/api/v1/identities/", {"identifier": True}) == \
        (400, {"identifier": ["Not a valid string."]})
    s.stop()
    assert stored_identifiers(tmp_path) == ["5", "bob"]


def with_document(tmp_path, change, name="env.json"):
    doc = json.loads(V1.read_text())["environment"]
    change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_allow_client_traits_false_refuses_traits_from_client_keys(serves, tmp_path):
    path = with_document(tmp_path, lambda d: d.update(allow_client_traits=False))
    s = serves(args=["--environment", str(path), "--key", "ser.k"])
    refused = (400, {"traits": ["Setting traits not allowed with client key."]})
    one = [{"trait_key": "age", "trait_value": 3}]
    assert s.identify("v", one) == refused
    assert s.identify("v", one, transient=True) == refused
    assert s.request("POST", "/api/v1/identities/", {"traits": one}) == refused
    assert s.identify("v", [])[0] == 200 and s.identify("v")[0] == 200
    status, a = s.identify("v", one, key="ser.k")
    assert status == 200 and trait_rows(a) == [("age", 3)]
    assert s.request("GET", "/api/v1/identities/?identifier=v")[0] == 200
    s.stop()


def test_an_organisation_that_does_not_persist_traits(serves, hooks, tmp_path):
    """project.organisation.persist_trait_data false: the identity is created, its traits are
    used for the call and never stored (get_persisted_identity_and_traits)."""
    path = with_document(tmp_path, lambda d: d["project"]["organisation"].update(
        persist_trait_data=False))
    h = hooks()
    s = serves(args=["--environment", str(path), "--webhook-url", h.url])
    status, a = s.identify("pat", [{"trait_key": "age", "trait_value": 25},
                                   {"trait_key": "favourite_colour", "trait_value": "green"},
                                   {"trait_key": "gone", "trait_value": None}])
    assert status == 200 and trait_rows(a) == [("age", 25), ("favourite_colour", "green")]
    assert flags_by_name(a["flags"])["string_feature"]["feature_state_value"] == \
        "segment_override"
    assert trait_rows(s.request("GET", "/api/v1/identities/?identifier=pat")[1]) == []
    payloads = webhooks_of(h, 2)
    (p,) = [p for p in payloads if p["traits"]]
    assert [(t["id"], t["transient"]) for t in p["traits"]] == [(None, False), (None, False)]
    assert members(p)["regular_segment"] is False
    s.stop()
    assert stored_identifiers(tmp_path) == ["pat"]


def test_an_organisation_stopped_from_serving_flags_gets_403(serves, tmp_path):
    path = with_document(tmp_path, lambda d: d["project"]["organisation"].update(
        stop_serving_flags=True))
    s = serves(args=["--environment", str(path), "--key", "ser.k"])
    stopped = (403, {"detail": "Organisation is disabled from serving flags."})
    assert s.request("GET", "/api/v1/flags/") == stopped
    assert s.request("GET", "/api/v1/identities/?identifier=x") == stopped
    assert s.identify("x") == stopped
    assert s.request("GET", "/api/v1/environment-document/", key="ser.k") == stopped
    assert s.request("GET", "/api/v1/flags/", key="nope") == \
        (403, {"detail": "Invalid or missing Environment key"})
    assert s.request("GET", "/healthz", key=None)[0] == 200
    s.stop()


def test_an_empty_feature_is_absent_and_a_repeated_parameter_takes_the_last_value(serves,
                                                                                 hooks):
    """SDKIdentities.get: `if feature_name:`; QueryDict.get gives a key's last value."""
    h = hooks()
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url])
    status, a = s.request("GET", "/api/v1/identities/?identifier=alice&feature=")
    assert status == 200 and a["identifier"] == "alice" and len(a["flags"]) == 5
    status, b = s.request("GET", "/api/v1/identities/?identifier=a&identifier=b")
    assert status == 200 and b["identifier"] == "b"
    assert s.request("GET", "/api/v1/identities/?identifier=a&identifier=") == \
        (200, {"detail": "Missing identifier"})
    status, one = s.request(
        "GET", "/api/v1/identities/?identifier=alice&feature=nope&feature=mv_feature")
    assert status == 200 and one["feature"]["name"] == "mv_feature"
    assert s.request("GET", "/api/v1/identities/?identifier=alice&feature=mv_feature&feature="
                     )[1]["identifier"] == "alice"
    payloads = webhooks_of(h, 3)
    assert sorted(p["identity"] for p in payloads) == ["alice", "alice", "b"]
    s.stop()


CORS_HEADERS = ("accept, accept-encoding, authorization, content-type, dnt, origin, "
                "user-agent, x-csrftoken, x-requested-with, sentry-trace, X-Environment-Key, "
                "X-E2E-Test-Auth-Token")


def raw_request(s, method, path, headers, body=None):
    host, port = s.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_cors_preflight_and_headers_as_flagsmiths_settings(serves):
    """django-cors-headers with Flagsmith's settings (CORS_ORIGIN_ALLOW_ALL, no credentials,
    CORS_ALLOW_HEADERS with X-Environment-Key): a browser SDK with a client key can call."""
    s = serves(args=["--environment", str(V1)])
    origin = {"Origin": "https://app.example"}
    for path in ("/api/v1/identities/", "/api/v1/flags/", "/api/v1/environment-document/"):
        status, headers, body = raw_request(s, "OPTIONS", path, {
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-environment-key, content-type"})
        assert (status, body) == (200, b""), path
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Access-Control-Allow-Headers"] == CORS_HEADERS
        assert headers["Access-Control-Allow-Methods"] == "DELETE, GET, OPTIONS, PATCH, POST, PUT"
        assert headers["Access-Control-Max-Age"] == "86400"
        assert headers["Vary"] == "Origin"
        assert "Access-Control-Allow-Credentials" not in headers
    status, headers, body = raw_request(s, "POST", "/api/v1/identities/", {
        **origin, "X-Environment-Key": V1_KEY, "Content-Type": "application/json"},
        b'{"identifier": "cors"}')
    assert status == 200 and json.loads(body)["identifier"] == "cors"
    assert headers["Access-Control-Allow-Origin"] == "*" and headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Methods" not in headers, "only preflights list them"
    status, headers, _ = raw_request(s, "GET", "/api/v1/flags/", origin)
    assert status == 403 and headers["Access-Control-Allow-Origin"] == "*", "errors too"
    status, headers, _ = raw_request(s, "GET", "/api/v1/flags/", {"X-Environment-Key": V1_KEY})
    assert status == 200 and headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in headers, "no Origin, no CORS answer"
    status, headers, _ = raw_request(s, "OPTIONS", "/api/v1/flags/", origin)
    assert status == 405 and headers["Access-Control-Allow-Origin"] == "*", \
        "an OPTIONS that is no preflight"
    status, headers, _ = raw_request(s, "GET", "/healthz", origin)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    s.stop()


def test_trait_values_and_transient_as_flagsmiths_serializers_read_them(serves):
    """TraitValueField refuses strings over 2000 characters; BooleanField reads "true", 1,
    "on", ... as true and refuses null."""
    s = serves(args=["--environment", str(V1)])
    ok = s.identify("w", [{"trait_key": "s", "trait_value": "\u00e9" * 2000}])
    assert ok[0] == 200 and ok[1]["traits"][0]["trait_value"] == "\u00e9" * 2000
    assert s.identify("w", [{"trait_key": "s", "trait_value": "x" * 2001}]) == \
        (400, {"traits": ["Value string is too long. Must be less than 2000 character"]})
    for value in (True, "true", "True", "1", 1, 1.0, "yes", "on", "t", "Y"):
        status, a = s.identify("w", [{"trait_key": "k", "trait_value": "v",
                                      "transient": value}], transient=value)
        assert status == 200, value
        assert s.request("GET", "/api/v1/identities/?identifier=w")[1]["traits"][-1][
            "trait_key"] != "k", value
    for value in (False, "false", "0", 0, 0.0, "no", "off", "f", "N"):
        assert s.identify("w", [{"trait_key": f"k{value}", "trait_value": 1,
                                 "transient": value}], transient=value)[0] == 200, value
    assert s.identify("w", transient="maybe") == (400, {"transient": ["Must be a valid boolean."]})
    assert s.identify("w", transient=2) == (400, {"transient": ["Must be a valid boolean."]})
    assert s.request("POST", "/api/v1/identities/", {"identifier": "w", "transient": None}) == \
        (400, {"transient": ["This field may not be null."]})
    assert s.identify("w", [{"trait_key": "k", "trait_value": 1, "transient": "maybe"}]) == \
        (400, {"traits": ["transient must be a boolean."]})
    s.stop()


def test_slow_bodies_hold_no_budget_they_did_not_send(serves):
    """The 256 MiB body budget counts bytes received: 300 connections that declare 1 MiB and
    send one byte hold 300 bytes of it, and a normal identify still gets its answer."""
    s = serves(args=["--environment", str(V1)])
    host, port = s.address.rsplit(":", 1)
    slow = []
    try:
        for _ in range(300):
            c = socket.create_connection((host, int(port)), timeout=10)
            c.sendall(b"POST /api/v1/identities/ HTTP/1.1\r\nHost: x\r\n"
                      b"X-Environment-Key: " + V1_KEY.encode() + b"\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{")
            slow.append(c)
        time.sleep(0.5)  # every first chunk is in
        status, a = s.identify("after-the-slow-ones", [{"trait_key": "k", "trait_value": 1}])
        assert status == 200 and a["identifier"] == "after-the-slow-ones"
    finally:
        for c in slow:
            c.close()
    s.stop()
