"""flagtrail receive over real HTTP on loopback: answers, warehouse contents, operations."""
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import DATA, run
from receiver import (SECRET, count_deliveries, flag, query, raw_socket, receivers,  # noqa: F401
                      sign, wait_for, webhook)

FIXTURES = ["seed_flagsmith_bytes.json", "rich_flagsmith_bytes.json", "seed_docs_example.json"]


def fixture(name):
    return (DATA / "webhook" / name).read_bytes()


def test_fixtures_load_into_the_views_with_types_intact(receivers):
    r = receivers()
    for name in FIXTURES:
        status, _, body = r.post(fixture(name))
        assert (status, json.loads(body)) == (200, {"status": "accepted"}), name
    wait_for(lambda: count_deliveries(r.db) == 3, message="3 deliveries")
    rows = query(r.db, "SELECT identity, feature_name, enabled, value_type, value, "
                       "percentage_allocation, identity_override, feature_segment, "
                       "feature_state_id FROM ft_evaluations WHERE identity <> 'user_test' "
                       "ORDER BY feature_id")
    assert rows == [
        ("us\u00e9r-42 \U0001F680", "dark_mode", 1, "bool", "true", None, None, None, 78978),
        ("us\u00e9r-42 \U0001F680", "max_items", 0, "int", "9007199254740993", None, 32102998,
         None, 78980),
        ("us\u00e9r-42 \U0001F680", "price_multiplier", 1, "float", "1.25", None, None, 4411,
         81027),
        ("us\u00e9r-42 \U0001F680", "checkout_flow", 1, "string", "variant_b", 33.3, None, None,
         78986),
    ]
    traits = query(r.db, "SELECT trait_key, trait_id, value_type, value, transient "
                         "FROM ft_identity_traits WHERE identity <> 'user_test' ORDER BY trait_key")
    assert traits == [("age", 102, "int", "37", 0), ("plan", 101, "string", "pro", 0),
                      ("score", 103, "float", "0.1", 0),
                      ("session_city", None, "string", "Z\u00fcrich", 1),
                      ("vip", 104, "bool", "false", 0)]
    members = query(r.db, "SELECT identity, segment_name FROM ft_segment_members ORDER BY 1, 2")
    assert members == [("user_test", "test_segment"), ("us\u00e9r-42 \U0001F680", "beta_testers")]
    # the docs example and the seed bytes are the same payload: one set of each kind
    seed = query(r.db, "SELECT flags_set, traits_set, segments_set FROM ft_delivery "
                       "WHERE identity = 'user_test'")
    assert len(seed) == 2 and seed[0] == seed[1]
    digests = query(r.db, "SELECT hex(body_sha256) FROM ft_delivery ORDER BY lsn")
    import hashlib
    assert [d[0].lower() for d in digests] == [hashlib.sha256(fixture(n)).hexdigest()
                                              for n in FIXTURES]
    assert r.stop() == 0


def test_repeated_payloads_do_not_duplicate_sets(receivers):
    r = receivers()
    flags = [flag(i, f"f{i}", i % 2 == 0, f"v{i % 3}") for i in range(20)]
    traits = [{"id": 1, "trait_key": "plan", "trait_value": "pro", "transient": False}]
    for i in range(50):
        status, _, _ = r.post(webhook("same-user", flags=flags, traits=traits))
        assert status == 200
    for i in range(50):  # same flags, other identities, their own traits
        status, _, _ = r.post(webhook(f"user-{i}", flags=flags,
                                      traits=[{"id": i, "trait_key": "n", "trait_value": i}]))
        assert status == 200
    wait_for(lambda: count_deliveries(r.db) == 100, message="100 deliveries")
    assert query(r.db, "SELECT COUNT(DISTINCT set_id), COUNT(*) FROM ft_flag_set") == [(1, 20)]
    assert query(r.db, "SELECT COUNT(DISTINCT set_id) FROM ft_trait_set") == [(51,)]
    assert query(r.db, "SELECT COUNT(*) FROM ft_evaluations") == [(2000,)]
    # flags in another order are the same set
    status, _, _ = r.post(webhook("reordered", flags=list(reversed(flags)), traits=traits))
    assert status == 200
    wait_for(lambda: count_deliveries(r.db) == 101, message="101 deliveries")
    assert query(r.db, "SELECT COUNT(DISTINCT set_id) FROM ft_flag_set") == [(1,)]
    assert r.stop() == 0


def test_signature_failures_get_401(receivers):
    r = receivers()
    body = fixture("seed_flagsmith_bytes.json")
    cases = [
        ("missing", None),
        ("malformed", "not-hex"),
        ("short", sign(body)[:63]),
        ("wrong", sign(body, b"other secret")),
        ("one bit", sign(body)[:-1] + ("0" if sign(body)[-1] != "0" else "1")),
    ]
    for name, header in cases:
        status, _, answer = r.post(body, signature=header if header else False)
        assert (status, json.loads(answer)) == (401, {"error": "invalid_signature"}), name
    status, _, _ = r.post(body, signature=sign(body).upper())
    assert status == 200, "upper-case hex is accepted"
    status, _, answer = r.request("GET", "/metrics")
    assert b"flagtrail_signature_failures_total 5\n" in answer
    r.stop()


def standard_headers(body, wid, ts, secret=SECRET):
    mac = hmac.new(secret, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": wid, "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def test_standard_webhooks_headers_are_checked_and_ids_stored_once(receivers):
    r = receivers(args=["--standard-webhooks"])
    body = fixture("seed_flagsmith_bytes.json")
    now = int(time.time())
    for _ in range(2):  # a retry of the same webhook-id answers 200 and is stored once
        status, _, _ = r.post(body, signature=False, extra=standard_headers(body, "msg_1", now))
        assert status == 200
    # X-Flagsmith-Signature decides when webhook-signature is absent
    status, _, _ = r.post(body, extra={"webhook-id": "msg_2", "webhook-timestamp": str(now)})
    assert status == 200
    bad_times = [now - 400, now + 400, "", " 1", "12a", "-1", "0x10", "1e9",
                 "99999999999999999999", "-99999999999999999999"]
    for ts in bad_times:
        status, _, answer = r.post(body, signature=False,
                                   extra=standard_headers(body, "msg_3", ts))
        assert (status, json.loads(answer)) == (401, {"error": "invalid_timestamp"}), ts
    for name, headers in [("wrong secret", standard_headers(body, "msg_4", now, b"other")),
                          ("other id", {**standard_headers(body, "msg_5", now),
                                        "webhook-id": "msg_6"})]:
        status, _, answer = r.post(body, signature=False, extra=headers)
        assert (status, json.loads(answer)) == (401, {"error": "invalid_signature"}), name
    for wid in ["", "x" * 256]:
        status, _, answer = r.post(body, signature=False, extra=standard_headers(body, wid, now))
        assert (status, json.loads(answer)) == (401, {"error": "invalid_webhook_id"}), len(wid)
    wait_for(lambda: count_deliveries(r.db) == 2, message="two deliveries")
    time.sleep(0.3)
    assert query(r.db, "SELECT delivery_id FROM ft_delivery ORDER BY lsn") == \
        [("msg_1",), ("msg_2",)]
    status, _, answer = r.request("GET", "/metrics")
    assert f"flagtrail_signature_failures_total {len(bad_times) + 4}\n".encode() in answer
    r.stop()


def test_rotation_accepts_a_second_secret_and_sighup_reloads(receivers, tmp_path):
    second = tmp_path / "second"
    second.write_bytes(b"new secret\n")
    r = receivers(args=["--secret-file", str(second)])
    body = fixture("seed_flagsmith_bytes.json")
    assert r.post(body, secret=SECRET)[0] == 200
    assert r.post(body, secret=b"new secret")[0] == 200
    assert r.post(body, secret=b"third secret")[0] == 401
    # rotate: the first file now holds the third secret
    with open(r.secret_path, "wb") as f:
        f.write(b"third secret\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: r.events("receive.secrets_reloaded"), message="reload")
    assert r.post(body, secret=b"third secret")[0] == 200
    assert r.post(body, secret=b"new secret")[0] == 200
    assert r.post(body, secret=SECRET)[0] == 401
    # a broken reload (a file that is there but empty) keeps the secrets in force
    with open(r.secret_path, "wb") as f:
        f.write(b"")
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: r.events("receive.reload_failed"), message="failed reload")
    assert r.post(body, secret=b"third secret")[0] == 200
    # the documented retirement: delete the old file, then SIGHUP; its secret is refused
    os.unlink(r.secret_path)
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(r.events("receive.secrets_reloaded")) == 2, message="second reload")
    assert [e["path"] for e in r.events("receive.secret_file_gone")] == [str(r.secret_path)]
    assert r.post(body, secret=b"third secret")[0] == 401
    assert r.post(body, secret=b"new secret")[0] == 200
    # with every file gone there would be no secret: that reload fails and keeps the last one
    os.unlink(second)
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(r.events("receive.reload_failed")) == 2, message="refused reload")
    assert r.post(body, secret=b"new secret")[0] == 200
    for secret in (SECRET, b"new secret", b"third secret"):
        assert secret.decode() not in r.log_text()
    r.stop()


def test_allow_unsigned_does_not_start_to_apply_when_the_last_secret_file_goes(receivers):
    r = receivers(args=["--allow-unsigned"])
    body = fixture("seed_flagsmith_bytes.json")
    assert r.post(body, signature=False)[0] == 401, "a secret is configured: it is checked"
    os.unlink(r.secret_path)
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: r.events("receive.reload_failed"), message="a refused reload")
    assert r.post(body, signature=False)[0] == 401
    assert r.post(body)[0] == 200
    r.stop()


def test_http_errors(receivers):
    r = receivers()
    body = fixture("seed_flagsmith_bytes.json")
    status, headers, answer = r.request("GET", "/webhook")
    assert status == 405 and headers["Allow"] == "POST"
    assert json.loads(answer) == {"error": "method_not_allowed"}
    status, headers, _ = r.request("PUT", "/webhook", body, {"Content-Type": "application/json"})
    assert status == 405
    status, _, answer = r.post(body, path="/other")
    assert (status, json.loads(answer)) == (404, {"error": "not_found"})
    status, _, answer = r.post(body, content_type="text/plain")
    assert (status, json.loads(answer)) == (415, {"error": "unsupported_media_type"})
    status, _, _ = r.post(body, content_type=None)
    assert status == 415
    assert r.post(body, content_type="application/json; charset=utf-8")[0] == 200
    assert r.post(body, content_type="Application/JSON")[0] == 200
    assert r.post(body, content_type="application/jsonx")[0] == 415
    r.stop()


@pytest.mark.parametrize("body,kind,detail", [
    (b"{not json", "invalid_json", "expected a string key at byte 1"),
    (b'{"identity": "u"} x', "invalid_json", "unexpected data after the value at byte 18"),
    (b'{"identity": "\xff"}', "invalid_json", "invalid UTF-8 at byte 14 in identity"),
    (b"[]", "invalid_payload", "expected a JSON object, got array"),
    (b'{"identity": "", "flags": [], "traits": [], "segments": []}', "invalid_payload",
     "identity: must not be empty"),
    (webhook("u", flags=[{"enabled": True}]), "invalid_payload",
     "flags[0].environment: required field missing"),
    (json.dumps({"identity": "u", "flags": [flag(1, "a", True, None),
                                            {**flag(2, "b", True, None), "feature": {"id": 2}}],
                 "traits": [], "segments": []}).encode(), "invalid_payload",
     "flags[1].feature.name: required field missing"),
    # no warehouse could load it: PostgreSQL's text cannot hold U+0000
    (webhook("u", traits=[{"id": 1, "trait_key": "k\u0000", "trait_value": 1}]),
     "invalid_payload", "traits[0].trait_key: a string may not contain U+0000"),
    # nor a number no double holds (PostgreSQL's double precision refuses it)
    (webhook("u", flags=[flag(1, "a", True, None)]).replace(b'"feature_segment"',
                                                          b'"percentage_allocation": 1e999, '
                                                          b'"feature_segment"'),
     "invalid_payload", "flags[0].percentage_allocation: number out of range"),
])
def test_bad_bodies_get_400_with_the_path(receivers, body, kind, detail):
    r = receivers()
    status, _, answer = r.post(body)
    assert status == 400
    assert json.loads(answer) == {"error": kind, "detail": detail}
    r.stop()


def test_oversized_bodies_get_413(receivers):
    r = receivers(args=["--max-body", "64K"])
    big = webhook("u", traits=[{"id": 1, "trait_key": "blob", "trait_value": "x" * 70000}])
    status, _, answer = r.post(big)
    assert (status, json.loads(answer)) == (413, {"error": "payload_too_large"})
    # declared length over the limit: refused before a byte of the body is sent
    s = raw_socket(r)
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 10000000\r\n\r\n")
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    s.close()
    # chunked: enforced while it streams in
    s = raw_socket(r)
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\nX-Flagsmith-Signature: " + b"0" * 64 + b"\r\n\r\n")
    chunk = b"a" * 8192
    for _ in range(10):  # 80 KiB
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    s.close()
    # a sender that never stops is cut off, with the 413 written before the close
    s = raw_socket(r)
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\nX-Flagsmith-Signature: " + b"0" * 64 + b"\r\n\r\n")
    sent, got = 0, b""
    try:
        while sent < 50 << 20:
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
    except OSError:
        pass
    try:
        got = s.recv(4096)
    except OSError:
        pass
    s.close()
    assert sent < 10 << 20, "the connection was cut long before 50 MiB"
    assert got == b"" or got.startswith(b"HTTP/1.1 413")
    # and the receiver still serves
    assert r.post(fixture("seed_flagsmith_bytes.json"))[0] == 200
    r.stop()


def test_slowloris_is_cut_while_others_are_served(receivers):
    r = receivers(args=["--request-timeout", "2", "--idle-timeout", "5"])
    slow = raw_socket(r, timeout=20)
    slow.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    closed_after = None
    body = fixture("seed_flagsmith_bytes.json")
    served = 0
    while time.monotonic() - start < 12:
        try:
            slow.sendall(b"X-Slow: 1\r\n")  # one header line a second: never idle
        except OSError:
            closed_after = time.monotonic() - start
            break
        assert r.post(body)[0] == 200
        served += 1
        time.sleep(1)
        try:
            slow.setblocking(False)
            if slow.recv(1) == b"":
                closed_after = time.monotonic() - start
                break
        except BlockingIOError:
            pass
        except OSError:
            closed_after = time.monotonic() - start
            break
        finally:
            slow.setblocking(True)
    slow.close()
    assert closed_after is not None and closed_after < 6, closed_after
    assert served >= 2
    r.stop()


def test_health_ready_and_metrics(receivers):
    r = receivers()
    assert r.request("GET", "/healthz")[:1] == (200,)
    status, _, answer = r.request("GET", "/readyz")
    assert (status, json.loads(answer)) == (200, {"status": "ready"})
    body = fixture("rich_flagsmith_bytes.json")
    assert r.post(body)[0] == 200
    assert r.post(b"[]")[0] == 400
    wait_for(lambda: count_deliveries(r.db) == 1, message="a delivery")
    status, headers, text = r.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    metrics = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    assert metrics['flagtrail_http_requests_total{route="webhook",status="200"}'] == 1
    assert metrics['flagtrail_http_requests_total{route="webhook",status="400"}'] == 1
    assert metrics['flagtrail_http_requests_total{route="readyz",status="200"}'] == 1
    assert metrics["flagtrail_http_request_bytes_total"] == len(body) + 2
    assert metrics["flagtrail_webhook_duration_seconds_count"] == 2
    assert metrics['flagtrail_webhook_duration_seconds_bucket{le="+Inf"}'] == 2
    assert metrics["flagtrail_loader_deliveries_total"] == 1
    assert metrics["flagtrail_loader_rows_total"] == 1 + 4 + 5 + 2
    for name in ("flagtrail_spool_backlog_bytes", "flagtrail_loader_lag_bytes",
                 "flagtrail_loader_errors_total", "flagtrail_loader_rows_per_second",
                 "flagtrail_signature_failures_total", "flagtrail_spool_refusals_total"):
        assert name in metrics, name
    r.stop()


def test_sigterm_drains_and_the_checkpoint_survives(receivers):
    r = receivers()
    for i in range(30):
        assert r.post(webhook(f"drain-{i}"))[0] == 200
    assert r.stop() == 0
    assert count_deliveries(r.db) == 30
    assert r.events("receive.stopped")
    # restart: nothing is loaded twice
    r.start()
    assert r.post(webhook("after-restart"))[0] == 200
    wait_for(lambda: count_deliveries(r.db) == 31, message="31 deliveries")
    assert r.stop() == 0
    assert count_deliveries(r.db) == 31


def test_refuses_to_start_without_a_secret(flagtrail, tmp_path):
    res = run([flagtrail, "receive", "--listen", "127.0.0.1:0"], timeout=30)
    assert res.returncode == 1
    assert b"no secret configured" in res.stderr
    assert not (tmp_path / "flagtrail.db").exists()


def test_allow_unsigned_warns_and_accepts(receivers):
    r = receivers(args=["--allow-unsigned"], secret=None)
    assert r.events("receive.unsigned")
    assert r.post(fixture("seed_flagsmith_bytes.json"), signature=False)[0] == 200
    r.stop()


def test_environment_variables_configure_it(receivers, tmp_path):
    store = tmp_path / "elsewhere.db"
    r = receivers(secret=None, env={"FLAGTRAIL_SECRET": "env secret",
                                    "FLAGTRAIL_STORE": f"sqlite:{store}",
                                    "FLAGTRAIL_PATH": "/hooks/flagsmith",
                                    "FLAGTRAIL_MAX_BODY": "2K"})
    body = fixture("seed_flagsmith_bytes.json")
    assert r.post(body, secret=b"env secret", path="/hooks/flagsmith")[0] == 200
    assert r.post(body, secret=b"env secret")[0] == 404
    big = webhook("u", traits=[{"id": 1, "trait_key": "k", "trait_value": "x" * 3000}])
    assert r.post(big, secret=b"env secret", path="/hooks/flagsmith")[0] == 413
    wait_for(lambda: count_deliveries(str(store)) == 1, message="a delivery in the other store")
    r.stop()


@pytest.mark.parametrize("args,message", [
    # each message names the option, given as two arguments, with "=", or abbreviated
    (["--durability", "sometimes"], b"--durability: expected fsync or none"),
    (["--max-body", "huge"], b"--max-body: not a size"),
    (["--max-b", "1X"], b"--max-body: not a size"),
    (["--idle-timeout", "x"], b"--idle-timeout: expected a positive number"),
    (["--path", "webhook"], b"must start with '/'"),
    (["--threads", "0"], b"--threads: expected a positive number"),
    (["--threads=abc"], b"--threads: expected a positive number"),
    (["--tls-cert", "x.pem"], b"--tls-cert and --tls-key go together"),
    (["--bogus"], b"unknown option '--bogus'"),
])
def test_bad_options_exit_2(flagtrail, args, message):
    res = run([flagtrail, "receive", *args])
    assert res.returncode == 2
    assert message in res.stderr


def test_bad_store_and_listen_fail_to_start(flagtrail, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("k")
    for args, message in ((["--store", "mysql://x"], b"unknown store"),
                          (["--listen", "nonsense"], b"cannot use listen address"),
                          (["--store", f"sqlite:{tmp_path}/no/such/dir/x.db"], b"sqlite:")):
        res = run([flagtrail, "receive", "--secret-file", str(secret), "--spool",
                   str(tmp_path / "spool"), "--listen", "127.0.0.1:0", *args], timeout=30)
        assert res.returncode == 1, args
        assert message in res.stderr, (args, res.stderr)
        assert b"receive.stopped" not in res.stderr, "a failed start is not reported as a stop"


def test_one_spool_one_receiver(receivers, tmp_path):
    a = receivers()
    b = receivers(start=False)
    b.args += ["--store", f"sqlite:{tmp_path}/other.db"]
    res = run([b.binary, "receive", "--secret-file", b.secret_path, "--listen", "127.0.0.1:0",
               "--spool", str(tmp_path / "flagtrail-spool")], timeout=30)
    assert res.returncode == 1 and b"in use by another process" in res.stderr
    a.stop()


def test_replay_loads_a_spool_into_a_new_store(flagtrail, receivers, tmp_path):
    r = receivers(args=["--durability", "none"])
    for i in range(25):
        assert r.post(webhook(f"replay-{i}"))[0] == 200
    assert r.stop() == 0
    # a fresh warehouse gets what the spool still holds (nothing was released: one segment)
    res = run([flagtrail, "replay", "--spool", str(tmp_path / "flagtrail-spool"), "--store",
               f"sqlite:{tmp_path}/rebuilt.db", "--source", "test"], timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(b"loaded 25 webhooks")
    assert count_deliveries(str(tmp_path / "rebuilt.db")) == 25
    # again: the checkpoint makes it a no-op
    res = run([flagtrail, "replay", "--spool", str(tmp_path / "flagtrail-spool"), "--store",
               f"sqlite:{tmp_path}/rebuilt.db", "--source", "test"], timeout=120)
    assert res.stdout.startswith(b"loaded 0 webhooks")
    assert count_deliveries(str(tmp_path / "rebuilt.db")) == 25
    res = run([flagtrail, "replay", "--spool", str(tmp_path / "flagtrail-spool"), "--store",
               "nope:x"], timeout=30)
    assert res.returncode == 1 and b"unknown store" in res.stderr
    # a mistyped spool is an error, not an empty success (and is not created)
    res = run([flagtrail, "replay", "--spool", str(tmp_path / "typo-spool"), "--store",
               f"sqlite:{tmp_path}/rebuilt.db"], timeout=30)
    assert (res.returncode, res.stderr) == (
        1, f"flagtrail replay: --spool {tmp_path}/typo-spool: no such directory\n".encode())
    assert not (tmp_path / "typo-spool").exists()


def test_https_with_a_self_signed_certificate(receivers, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    r = receivers(args=["--tls-cert", str(cert), "--tls-key", str(key)])
    import http.client
    ctx = ssl.create_default_context(cafile=str(cert))
    host, port = r.host_port
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
    body = fixture("seed_flagsmith_bytes.json")
    conn.request("POST", "/webhook", body, {"Content-Type": "application/json",
                                             "X-Flagsmith-Signature": sign(body)})
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())) == (200, {"status": "accepted"})
    conn.close()
    r.stop()


def test_concurrent_senders_all_acknowledged_once(receivers):
    r = receivers()
    n_threads, per_thread = 8, 40
    statuses = []
    lock = threading.Lock()

    def sender(t):
        for i in range(per_thread):
            status, _, _ = r.post(webhook(f"c{t}-{i}"))
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * (n_threads * per_thread)
    wait_for(lambda: count_deliveries(r.db) == n_threads * per_thread, message="all deliveries")
    assert query(r.db, "SELECT COUNT(DISTINCT identity) FROM ft_delivery") == [(320,)]
    r.stop()


def test_connection_cap(receivers):
    r = receivers(args=["--max-connections", "4", "--threads", "1"])
    held = [raw_socket(r) for _ in range(4)]
    for s in held:  # each holds a slot with a request in progress
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)
    extra = raw_socket(r, timeout=2)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        answer = extra.recv(100)
    except (ConnectionResetError, socket.timeout):
        answer = b""
    assert not answer.startswith(b"HTTP/1.1 200"), "a fifth connection was served"
    extra.close()
    for s in held:
        s.close()
    time.sleep(0.3)
    assert r.request("GET", "/healthz")[0] == 200
    r.stop()
