"""What a 200 from flagtrail receive promises, under crashes and warehouse or disk trouble.

Every webhook that got a 200 must reach the warehouse exactly once: across kill -9 at random
moments, while the warehouse is locked or read-only, and when the spool's bound or the disk
refuses new webhooks (503 with Retry-After, and ingest resumes once there is room).
"""
import os
import random
import sqlite3
import subprocess
import threading
import time

import pytest

from receiver import count_deliveries, query, receivers, wait_for, webhook  # noqa: F401


class Load:
    """Senders posting unique webhooks concurrently, remembering which got a 200."""

    def __init__(self, receiver, threads=4, size=0):
        self.r = receiver
        self.threads = threads
        self.pad = "p" * size
        self.acked = set()
        self.refused = []
        self.lock = threading.Lock()
        self.running = False
        self.workers = []
        self.round = 0

    def _send(self, t):
        i = 0
        while self.running:
            identity = f"r{self.round}-t{t}-{i}"
            i += 1
            traits = [{"id": 1, "trait_key": "pad", "trait_value": self.pad}] if self.pad else []
            try:
                status, headers, _ = self.r.post(webhook(identity, traits=traits))
            except OSError:
                time.sleep(0.01)
                continue
            with self.lock:
                if status == 200:
                    self.acked.add(identity)
                elif status == 503:
                    self.refused.append(headers.get("Retry-After"))
                    time.sleep(0.01)
                else:
                    raise AssertionError(f"unexpected status {status}")

    def start(self):
        self.round += 1
        self.running = True
        self.workers = [threading.Thread(target=self._send, args=(t,), daemon=True)
                        for t in range(self.threads)]
        for w in self.workers:
            w.start()

    def stop(self):
        self.running = False
        for w in self.workers:
            w.join(60)


def assert_exactly_once(db, acked):
    rows = dict(query(db, "SELECT identity, COUNT(*) FROM ft_delivery GROUP BY identity"))
    missing = [a for a in acked if a not in rows]
    assert not missing, f"{len(missing)} acknowledged webhooks missing, e.g. {missing[:3]}"
    doubled = {k: v for k, v in rows.items() if v > 1}
    assert not doubled, f"stored more than once: {list(doubled.items())[:3]}"


def test_kill_9_at_random_moments_loses_and_doubles_nothing(receivers):
    r = receivers()
    load = Load(r, threads=4)
    rng = random.Random(7)
    kills = 0
    for _ in range(12):
        load.start()
        time.sleep(rng.uniform(0.2, 0.8))
        r.kill()
        kills += 1
        load.stop()
        r.start()
    load.start()
    time.sleep(0.5)
    load.stop()
    assert r.stop() == 0
    assert kills >= 10
    assert len(load.acked) > 100
    assert_exactly_once(r.db, load.acked)
    skipped = [e for e in r.events("loader.record_skipped")]
    assert not skipped, skipped


def hold_lock(db, seconds, started):
    """Holds an exclusive lock on the database for a while, from another connection."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    started.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def test_locked_warehouse_keeps_ingest_answering_200(receivers):
    r = receivers()
    assert r.post(webhook("before"))[0] == 200
    wait_for(lambda: count_deliveries(r.db) == 1, message="first delivery")
    started = threading.Event()
    locker = threading.Thread(target=hold_lock, args=(r.db, 4, started))
    locker.start()
    started.wait(10)
    acked = {"before"}
    for i in range(60):
        status, _, _ = r.post(webhook(f"locked-{i}"))
        assert status == 200
        acked.add(f"locked-{i}")
    # the loader cannot write: readiness says so
    status, _, body = wait_for(lambda: (lambda res: res if res[0] == 503 else None)(
        r.request("GET", "/readyz")), timeout=10, message="not ready")
    assert b"warehouse unreachable" in body
    locker.join()
    wait_for(lambda: count_deliveries(r.db) == 61, timeout=30, message="rows after the lock")
    wait_for(lambda: r.request("GET", "/readyz")[0] == 200, message="ready again")
    assert r.events("loader.store_failed") and r.events("loader.store_recovered")
    assert r.stop() == 0
    assert_exactly_once(r.db, acked)


def test_read_only_warehouse_for_a_while(receivers):
    """The database files become immutable (chattr +i: writes fail even on open files)."""
    r = receivers()
    assert r.post(webhook("before"))[0] == 200
    wait_for(lambda: count_deliveries(r.db) == 1, message="first delivery")
    files = [f for f in (r.db, r.db + "-wal") if os.path.exists(f)]
    subprocess.run(["chattr", "+i", *files], check=True)
    try:
        acked = {"before"}
        for i in range(40):
            assert r.post(webhook(f"ro-{i}"))[0] == 200
            acked.add(f"ro-{i}")
        wait_for(lambda: r.events("loader.store_failed"), message="a failed batch")
        assert count_deliveries(r.db) == 1
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    wait_for(lambda: count_deliveries(r.db) == 41, timeout=30, message="rows once writable")
    assert r.stop() == 0
    assert_exactly_once(r.db, acked)


def test_spool_bound_answers_503_then_resumes(receivers):
    r = receivers(args=["--spool-max-bytes", "64K"])
    started = threading.Event()
    locker = threading.Thread(target=hold_lock, args=(r.db, 4, started))
    # the warehouse exists and is locked: nothing leaves the spool meanwhile
    assert r.post(webhook("first"))[0] == 200
    wait_for(lambda: count_deliveries(r.db) == 1, message="first delivery")
    locker.start()
    started.wait(10)
    acked, refused = {"first"}, 0
    body_pad = "x" * 1000
    for i in range(200):
        status, headers, answer = r.post(webhook(f"bound-{i}", traits=[
            {"id": 1, "trait_key": "pad", "trait_value": body_pad}]))
        if status == 200:
            acked.add(f"bound-{i}")
        else:
            assert status == 503 and headers["Retry-After"].isdigit()
            assert b"spool full" in answer
            refused += 1
    assert refused > 100 and len(acked) > 30
    locker.join()
    wait_for(lambda: count_deliveries(r.db) == len(acked), timeout=30, message="drained spool")
    assert r.post(webhook("after"))[0] == 200
    acked.add("after")
    wait_for(lambda: count_deliveries(r.db) == len(acked), message="after")
    assert r.stop() == 0
    assert_exactly_once(r.db, acked)


def test_full_disk_answers_503_then_resumes_without_corruption(flagtrail, receivers, tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(fs)], check=True)
    try:
        ballast = fs / "ballast"
        with open(ballast, "wb") as f:
            f.write(b"\0" * (1536 * 1024))
        r = receivers(args=["--spool", str(fs / "spool"), "--durability", "fsync"])
        acked, refused = set(), 0
        pad = "y" * 2000
        for i in range(400):
            status, headers, answer = r.post(webhook(f"disk-{i}", traits=[
                {"id": 1, "trait_key": "pad", "trait_value": pad}]))
            if status == 200:
                acked.add(f"disk-{i}")
            else:
                assert status == 503 and headers.get("Retry-After"), (status, answer)
                refused += 1
        assert refused > 0 and acked
        os.unlink(ballast)  # room returns
        for i in range(20):
            assert r.post(webhook(f"room-{i}"))[0] == 200
            acked.add(f"room-{i}")
        wait_for(lambda: count_deliveries(r.db) == len(acked), timeout=30, message="all loaded")
        assert r.stop() == 0
        assert_exactly_once(r.db, acked)
        assert not r.events("loader.record_skipped")
    finally:
        subprocess.run(["umount", "-l", str(fs)], check=False)
