"""Delivery of serve's webhooks: retries, Retry-After, 410, timeouts, dead letters and their
replay, a receiver that is down for a while, and serve killed with kill -9 mid-backlog.

The retry schedule is shortened (--retry-schedule) so that the behaviour of hours takes
seconds; the rules are the same.
"""
import base64
import hashlib
import hmac
import json
import os
import time

from conftest import free_port, run
from receiver import count_deliveries, query, receivers, wait_for  # noqa: F401
from servehelper import V1, hooks, serves  # noqa: F401


def test_5xx_is_retried_with_the_same_id_until_delivered(serves, hooks):
    h = hooks(lambda n, hd, b: (500 if n < 2 else 200, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--standard-webhooks",
                     "--retry-schedule", "300ms,600ms"])
    s.identify("retry-me")
    wait_for(lambda: len(h.requests) == 3, timeout=15, message="three attempts")
    times = [t for t, _, _ in h.requests]
    assert times[1] - times[0] >= 0.3 * 0.8 - 0.05
    assert times[2] - times[1] >= 0.6 * 0.8 - 0.05
    assert len({hd["webhook-id"] for _, hd, _ in h.requests}) == 1
    assert len({b for _, _, b in h.requests}) == 1
    wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 1, message="delivered")
    assert s.metric("flagtrail_webhooks_retried_total") == 2
    time.sleep(0.5)
    assert len(h.requests) == 3
    s.stop()


def test_429_waits_for_retry_after(serves, hooks):
    h = hooks(lambda n, hd, b: (429, {"Retry-After": "2"}, 0) if n == 0 else (200, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--retry-schedule", "100ms"])
    s.identify("slow-down")
    wait_for(lambda: len(h.requests) == 2, timeout=15, message="a second attempt")
    assert h.requests[1][0] - h.requests[0][0] >= 1.9
    s.stop()


def test_a_retry_after_past_the_max_age_is_a_dead_letter_at_once(serves, hooks):
    """A wait longer than a webhook may live (a year, or 10^20 seconds, which no clock
    arithmetic holds) ends its tries: it becomes a dead letter now, for a replay later."""
    waits = ["99999999999999999999", "31536000", "Fri, 31 Dec 9999 23:59:59 GMT"]
    h = hooks(lambda n, hd, b: (429, {"Retry-After": waits[n % len(waits)]}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--retry-schedule", "100ms",
                     "--endpoint-concurrency", "1"])
    for i in range(len(waits)):
        s.identify(f"much-later-{i}")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == len(waits),
             message="dead letters")
    assert len(h.requests) == len(waits), "one try each"
    assert all("gave up (HTTP 429)" in e["reason"] for e in s.events("dispatch.dead_letter"))
    assert s.metric("flagtrail_webhooks_retried_total") == 0
    assert s.stop() == 0


def test_a_hanging_endpoint_times_out_and_is_retried(serves, hooks):
    h = hooks(lambda n, hd, b: (200, {}, 3 if n == 0 else 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--webhook-timeout", "1",
                     "--retry-schedule", "200ms"])
    s.identify("hang")
    wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 1, timeout=15,
             message="delivered after a timeout")
    assert len(h.requests) == 2
    assert h.requests[1][0] - h.requests[0][0] < 2.5, "the first attempt was cut at 1 s"
    s.stop()


def test_a_stop_tries_what_is_durable_once_and_leaves_a_failing_endpoint_alone(serves, hooks):
    """--sync-interval keeps the calls' webhooks unread until the stop syncs them. Then each
    gets its first try, but an endpoint that fails during the stop gets no more calls: they
    wait in the outbox for the next start."""
    args = ["--environment", str(V1), "--sync-interval", "600000", "--endpoint-concurrency", "4"]
    ok = hooks()
    s = serves(args=args + ["--webhook-url", ok.url])
    for i in range(40):
        assert s.identify(f"stop-{i}")[0] == 200
    assert ok.bodies() == [], "nothing is read before the sync"
    s.stop()
    assert len(ok.bodies()) == 40
    assert s.events("serve.stopped")[0]["delivered"] == "40"
    down = {"now": True}
    flaky = hooks(lambda n, hd, b: (503 if down["now"] else 200, {}, 0))
    s = serves(args=args + ["--webhook-url", flaky.url])
    for i in range(40):
        assert s.identify(f"flaky-{i}")[0] == 200
    s.stop()
    tried = len(flaky.requests)
    # one round of calls in flight (4), then none; libcurl may send one again on a fresh
    # connection when the server closed the one it reused
    assert 1 <= tried <= 8, f"{tried} calls for 40 webhooks"
    down["now"] = False
    s = serves(args=args + ["--webhook-url", flaky.url], workdir=s.workdir)
    wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 40, timeout=60,
             message="the 40 kept in the outbox, delivered after the next start")
    assert {json.loads(b)["identity"] for b in flaky.bodies()[tried:]} == \
        {f"flaky-{i}" for i in range(40)}
    s.stop()


def test_4xx_is_final_and_replayed_from_the_dead_letters(flagtrail, serves, hooks, tmp_path):
    state = {"status": 400}
    h = hooks(lambda n, hd, b: (state["status"], {}, 0))
    secret = tmp_path / "s"
    secret.write_bytes(b"dead letter secret")
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--webhook-secret-file",
                     str(secret), "--retry-schedule", "100ms"])
    for i in range(3):
        s.identify(f"bad-{i}")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == 3, message="three dead letters")
    assert len(h.requests) == 3, "a 400 is not retried"
    dead = s.events("dispatch.dead_letter")
    assert all("HTTP 400 after 1 attempt" in e["reason"] for e in dead)
    assert s.stop() == 0
    state["status"] = 200
    data = str(tmp_path / "serve-data")
    res = run([flagtrail, "replay", "--dead-letters", "--data", data, "--webhook-secret-file",
               str(secret)], timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(b"delivered 3 dead letters, 0 failed again")
    assert len(h.requests) == 6
    assert sorted(b for _, _, b in h.requests[3:]) == sorted(b for _, _, b in h.requests[:3])
    for _, hd, b in h.requests[3:]:
        assert hd["X-Flagsmith-Signature"] == hmac.new(b"dead letter secret", b,
                                                       hashlib.sha256).hexdigest()
    res = run([flagtrail, "replay", "--dead-letters", "--data", data], timeout=60)
    assert res.stdout.startswith(b"delivered 0 dead letters"), "replayed letters are gone"
    assert b"the dead letters are sent unsigned" in res.stderr, "no secret: a warning"
    res = run([flagtrail, "replay", "--dead-letters", "--data", data + "-typo"], timeout=60)
    assert res.returncode == 1 and b"no such directory" in res.stderr


def test_410_disables_the_endpoint(serves, hooks):
    h = hooks(lambda n, hd, b: (410, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--retry-schedule", "100ms"])
    s.identify("gone-1")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == 1, message="a dead letter")
    for i in range(3):
        s.identify(f"gone-{i + 2}")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == 4, message="four dead letters")
    assert len(h.requests) == 1, "a disabled endpoint is not called again"
    assert s.events("dispatch.endpoint_disabled")
    s.stop()


# The outage: two minutes (FLAGTRAIL_TEST_OUTAGE_SECONDS shortens it for a quick local run).
OUTAGE_SECONDS = float(os.environ.get("FLAGTRAIL_TEST_OUTAGE_SECONDS", "120"))


def test_receiver_down_then_up_gets_everything_once(serves, receivers):
    port = free_port()
    r = receivers(args=["--listen", f"127.0.0.1:{port}", "--standard-webhooks"], start=False)
    s = serves(args=["--environment", str(V1), "--webhook-url",
                     f"http://127.0.0.1:{port}/webhook", "--webhook-secret-file", r.secret_path,
                     "--standard-webhooks", "--retry-schedule", "1s,5s,10s"])
    for i in range(100):
        assert s.identify(f"down-{i}")[0] == 200
    time.sleep(OUTAGE_SECONDS)  # the receiver is down: every attempt fails, none is given up
    assert s.metric("flagtrail_webhooks_delivered_total") == 0
    assert s.metric("flagtrail_webhooks_retried_total") >= 100 * 2
    assert s.metric("flagtrail_webhooks_dead_total") == 0
    r.start()
    wait_for(lambda: count_deliveries(r.db) == 100, timeout=30, message="all 100 delivered")
    wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 100, message="metrics")
    assert s.metric("flagtrail_outbox_depth") == 0
    s.stop()
    r.stop()
    rows = query(r.db, "SELECT identity, COUNT(*) FROM ft_delivery GROUP BY identity")
    assert len(rows) == 100 and all(n == 1 for _, n in rows)


def test_kill_9_mid_backlog_delivers_at_least_once_and_stores_once(serves, receivers):
    port = free_port()
    r = receivers(args=["--listen", f"127.0.0.1:{port}", "--standard-webhooks"], start=False)
    args = ["--environment", str(V1), "--webhook-url", f"http://127.0.0.1:{port}/webhook",
            "--webhook-secret-file", r.secret_path, "--standard-webhooks", "--retry-schedule",
            "300ms"]
    s = serves(args=args)
    for i in range(150):
        assert s.identify(f"k9-{i}")[0] == 200
    time.sleep(0.5)  # the outbox is synced every 10 ms; the webhooks wait to be retried
    s.kill()
    r.start()
    s.start()
    wait_for(lambda: count_deliveries(r.db) == 150, timeout=30, message="all 150 after restart")
    time.sleep(1)
    s.stop()
    r.stop()
    rows = query(r.db, "SELECT identity, COUNT(*) FROM ft_delivery GROUP BY identity")
    assert len(rows) == 150 and all(n == 1 for _, n in rows), "exactly once in the warehouse"
    ids = query(r.db, "SELECT COUNT(DISTINCT delivery_id) FROM ft_delivery")
    assert ids == [(150,)]


def poisoned(n, headers, body):
    """An endpoint that refuses one identity's webhook (500) and takes every other."""
    return (500, {}, 0) if b'"identity": "poison"' in body else (200, {}, 0)


def test_a_webhook_waiting_to_retry_does_not_hold_the_outbox(serves, hooks):
    """One webhook the endpoint refuses, retried in an hour, must not keep the webhooks
    delivered after it in the outbox: there they filled its bound (every new webhook was
    lost) and were all sent again after a restart. It is moved to the outbox's tail instead,
    keeps its place in the retry schedule, and a restart sends the delivered ones again at
    most by the amount moving waits for."""
    h = hooks(poisoned)
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--outbox-max-bytes",
                     "256K", "--retry-schedule", "1h"])
    assert s.identify("poison")[0] == 200
    for block in range(16):  # 800 webhooks, 3.4 times the bound, 50 at a time
        for i in range(50):
            assert s.identify(f"healthy-{block * 50 + i}")[0] == 200
        wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 50 * (block + 1),
                 timeout=30, message="the block delivered")
        wait_for(lambda: s.metric("flagtrail_outbox_backlog_bytes") < 64 * 1024, timeout=10,
                 message="what was delivered released, the waiting webhook moved")
    assert s.metric("flagtrail_webhooks_lost_total") == 0
    assert s.metric("flagtrail_webhooks_moved_total") >= 1
    assert s.metric("flagtrail_outbox_depth") == 1  # the poisoned one, waiting
    assert s.metric("flagtrail_outbox_backlog_bytes") < 256 * 1024
    assert s.stop() == 0
    before = len(h.requests)
    s.start()
    time.sleep(3)
    again = [json.loads(b)["identity"] for b in h.bodies()[before:]]
    assert "poison" not in again, "its retry is due in an hour, also after a restart"
    assert len(again) <= 20, f"{len(again)} delivered webhooks sent again after the restart"
    assert s.metric("flagtrail_outbox_depth") == 1
    s.stop()


def test_a_moved_webhook_keeps_its_id_body_and_due_time(serves, hooks):
    state = {"poison_tries": 0}

    def behave(n, headers, body):
        if b'"identity": "poison"' in body:
            state["poison_tries"] += 1
            return (500 if state["poison_tries"] == 1 else 200, {}, 0)
        return (200, {}, 0)
    h = hooks(behave)
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--outbox-max-bytes",
                     "256K", "--retry-schedule", "3s", "--standard-webhooks"])
    s.identify("poison")
    for i in range(60):
        s.identify(f"healthy-{i}")
    wait_for(lambda: s.metric("flagtrail_webhooks_moved_total") >= 1, timeout=10,
             message="the waiting webhook moved")
    wait_for(lambda: state["poison_tries"] == 2, timeout=15, message="its retry")
    tries = [(t, hd, b) for t, hd, b in h.requests if b'"identity": "poison"' in b]
    assert tries[0][2] == tries[1][2]
    assert tries[0][1]["webhook-id"] == tries[1][1]["webhook-id"]
    assert tries[1][0] - tries[0][0] >= 3 * 0.8 - 0.1, "the schedule's delay, not sooner"
    wait_for(lambda: s.metric("flagtrail_outbox_depth") == 0, message="nothing left")
    s.stop()


def test_dead_letters_that_cannot_be_written_are_counted_as_lost(serves, hooks):
    """Past the dead-letter spool's bound (4 times the outbox's), a dead letter is lost: it is
    counted, so emitted = delivered + dead + lost still adds up."""
    h = hooks(lambda n, hd, b: (400, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--outbox-max-bytes",
                     "64K", "--endpoint-concurrency", "4"])
    for i in range(380):
        s.identify(f"refused-{i}")
        if i % 10 == 9:  # in steps the outbox holds, so that every webhook is emitted
            wait_for(lambda: s.metric("flagtrail_outbox_backlog_bytes") == 0, timeout=30,
                     message="each step tried and released")
    assert s.metric("flagtrail_webhooks_emitted_total") == 380
    dead, lost = s.metric("flagtrail_webhooks_dead_total"), s.metric("flagtrail_webhooks_lost_total")
    assert 0 < dead < 380 and dead + lost == 380, (dead, lost)
    assert s.metric("flagtrail_webhooks_delivered_total") == 0
    s.stop()


def test_replayed_dead_letters_keep_their_standard_webhooks_id(flagtrail, serves, hooks,
                                                              tmp_path):
    state = {"status": 400}
    h = hooks(lambda n, hd, b: (state["status"], {}, 0))
    secret = tmp_path / "s"
    secret.write_bytes(b"standard secret")
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--webhook-secret-file",
                     str(secret), "--standard-webhooks"])
    s.identify("dead-then-replayed")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == 1, message="a dead letter")
    assert s.stop() == 0
    state["status"] = 200
    res = run([flagtrail, "replay", "--dead-letters", "--data", str(tmp_path / "serve-data"),
               "--webhook-secret-file", str(secret), "--standard-webhooks"], timeout=60)
    assert res.returncode == 0, res.stderr
    (_, first, body), (_, again, body2) = h.requests
    assert body == body2 and again["webhook-id"] == first["webhook-id"]
    signed = f"{again['webhook-id']}.{again['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(b"standard secret", signed, hashlib.sha256).digest())
    assert again["webhook-signature"] == "v1," + expected.decode()
    res = run([flagtrail, "replay", "--standard-webhooks"], timeout=60)
    assert res.returncode == 2 and b"--standard-webhooks goes with --dead-letters" in res.stderr


def test_replay_of_unreadable_dead_letters_stops_with_an_error(flagtrail, serves, hooks,
                                                               tmp_path):
    """A dead-letter segment that cannot be read ends the replay with exit 1 and the reason,
    and the letters stay for a later replay (a segment before the last one that cannot be
    read stops the replay there: tests/unit/test_dispatcher.c)."""
    h = hooks(lambda n, hd, b: (400, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url])
    s.identify("to-be-dead")
    wait_for(lambda: s.metric("flagtrail_webhooks_dead_total") == 1, message="a dead letter")
    assert s.stop() == 0
    letters = tmp_path / "serve-data" / "dead-letters"
    (seg,) = [p for p in letters.iterdir() if p.name.endswith(".seg")]
    aside = tmp_path / "aside.seg"
    seg.rename(aside)
    seg.mkdir()  # opens, and every read fails
    res = run([flagtrail, "replay", "--dead-letters", "--data", str(tmp_path / "serve-data")],
              timeout=30)
    assert res.returncode == 1, res
    assert res.stderr.strip().endswith(b"Is a directory"), res.stderr
    seg.rmdir()
    aside.rename(seg)
    res = run([flagtrail, "replay", "--dead-letters", "--data", str(tmp_path / "serve-data")],
              timeout=60)
    assert res.returncode == 1 and res.stdout.startswith(b"delivered 0 dead letters, 1 failed")


def test_many_waiting_webhooks_do_not_fill_the_outbox(serves, hooks):
    """A quarter of the webhooks wait for an hour (an endpoint of several down, say): among
    them, the delivered ones are too few for a cheap move, yet must not fill the outbox. Once
    it is half full, the waiting ones move anyway, and nothing is lost."""
    h = hooks(lambda n, hd, b: (500, {}, 0) if b'"identity": "down-' in b else (200, {}, 0))
    s = serves(args=["--environment", str(V1), "--webhook-url", h.url, "--outbox-max-bytes",
                     "1M", "--retry-schedule", "1h"])
    for block in range(16):  # 800 webhooks, 1.7 MB: more than the outbox holds
        for i in range(50):
            n = block * 50 + i
            assert s.identify(f"down-{n}" if n % 4 == 0 else f"up-{n}")[0] == 200
        healthy = sum(1 for n in range(50 * (block + 1)) if n % 4)
        wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == healthy,
                 timeout=30, message="the block's healthy webhooks delivered")
    wait_for(lambda: s.metric("flagtrail_webhooks_delivered_total") == 600, timeout=30,
             message="every healthy webhook delivered")
    assert s.metric("flagtrail_webhooks_lost_total") == 0
    assert s.metric("flagtrail_webhooks_moved_total") > 0
    assert s.metric("flagtrail_outbox_depth") == 200
    s.stop()
