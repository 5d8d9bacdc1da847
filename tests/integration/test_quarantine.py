"""What the warehouse refuses for good: a record it refuses alone goes to SPOOL/quarantine,
loading goes on past it (sets it alone carried included), and `flagtrail replay --quarantine`
loads it once the cause is fixed. The refusal is real: a trigger in the SQLite warehouse, as a
DBA might add (test_warehouses.py does the same with PostgreSQL and ClickHouse)."""
import json
import os
import sqlite3

from conftest import run
from receiver import flag, query, receivers, wait_for, webhook  # noqa: F401

TRIGGER = """CREATE TRIGGER refuse_poison BEFORE INSERT ON ft_delivery
             WHEN NEW.identity LIKE 'poison%'
             BEGIN SELECT RAISE(ABORT, 'identity refused by a trigger'); END"""

# flags only the first poisoned webhook brings: the good webhooks after it count on them
RARE_FLAGS = [flag(77, "rare_feature", True, "only-here")]


def metric(r, name):
    status, _, text = r.request("GET", "/metrics")
    assert status == 200
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} not in /metrics")


def post_all(r, identities):
    for ident in identities:
        flags = RARE_FLAGS if ident in ("poison-1", "good-rare-1", "good-rare-2") else None
        assert r.post(webhook(ident, flags=flags))[0] == 200


def test_a_refused_record_is_quarantined_and_replayed_once_fixed(flagtrail, receivers, tmp_path):
    r = receivers()
    assert r.post(webhook("first"))[0] == 200
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_delivery") == [(1,)],
             message="the first webhook")
    conn = sqlite3.connect(r.db)
    conn.execute(TRIGGER)
    conn.commit()
    conn.close()
    good = [f"good-{i}" for i in range(30)]
    sent = good[:10] + ["poison-1", "good-rare-1"] + good[10:20] + ["poison-2", "good-rare-2"]
    sent += good[20:]
    post_all(r, sent)  # one batch or a few: the loader finds both records in it
    wait_for(lambda: metric(r, "flagtrail_loader_quarantined_total") == 2, timeout=60,
             message="two records quarantined")
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_delivery")[0][0] == 1 + 32,
             message="every good webhook loaded")
    loaded = {i for (i,) in query(r.db, "SELECT identity FROM ft_delivery")}
    assert loaded == {"first", "good-rare-1", "good-rare-2", *good}
    # the rare flag set came only with poison-1, which never loaded: it is there all the same
    rows = query(r.db, "SELECT identity, feature_name, value FROM ft_evaluations"
                       " WHERE identity LIKE 'good-rare-%' ORDER BY identity")
    assert rows == [("good-rare-1", "rare_feature", "only-here"),
                    ("good-rare-2", "rare_feature", "only-here")]
    events = r.events("loader.record_quarantined")
    assert len(events) == 2
    assert all("identity refused by a trigger" in e["error"] for e in events)
    assert all(e["dir"] == "./flagtrail-spool/quarantine" for e in events)
    assert metric(r, "flagtrail_loader_errors_total") == 0
    assert r.post(webhook("after"))[0] == 200
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_delivery WHERE identity = 'after'")
             == [(1,)], message="loading goes on")

    spool = os.path.join(r.workdir, "flagtrail-spool")
    store = f"sqlite:{r.db}"
    # the cause still there: replay fails and says why, nothing is lost
    res = run([flagtrail, "replay", "--quarantine", "--spool", spool, "--store", store,
               "--source", "test"], timeout=120)
    assert res.returncode == 1 and b"identity refused by a trigger" in res.stderr, res.stderr
    conn = sqlite3.connect(r.db)
    conn.execute("DROP TRIGGER refuse_poison")
    conn.commit()
    conn.close()
    for expected in (b"loaded 2 webhooks", b"loaded 0 webhooks"):  # again: once
        res = run([flagtrail, "replay", "--quarantine", "--spool", spool, "--store", store,
                   "--source", "test"], timeout=120)
        assert res.returncode == 0 and expected in res.stdout, (res.stdout, res.stderr)
    rows = query(r.db, "SELECT source, identity FROM ft_delivery WHERE identity LIKE 'poison%'"
                       " ORDER BY identity")
    assert rows == [("test/quarantine", "poison-1"), ("test/quarantine", "poison-2")]
    rows = query(r.db, "SELECT feature_name FROM ft_evaluations WHERE identity = 'poison-1'")
    assert rows == [("rare_feature",)]
    r.stop()


def test_replay_quarantine_with_nothing_refused(flagtrail, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    res = run([flagtrail, "replay", "--quarantine", "--spool", str(spool), "--store",
               f"sqlite:{tmp_path}/w.db"])
    assert res.returncode == 0 and b"nothing quarantined" in res.stdout
    res = run([flagtrail, "replay", "--quarantine", "--spool", str(tmp_path / "typo"),
               "--store", f"sqlite:{tmp_path}/w.db"])
    assert res.returncode == 1 and b"no such directory" in res.stderr


def test_replay_of_a_spool_fails_on_a_refusal_and_receive_quarantines_it(flagtrail, receivers):
    """replay has no quarantine (it belongs to the receiver's warehouse): a refusal fails it and
    keeps the backlog; the receiver, started again on the spool, quarantines the record."""
    r = receivers()
    assert r.post(webhook("first"))[0] == 200
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_delivery") == [(1,)],
             message="the first webhook")
    conn = sqlite3.connect(r.db, timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")  # the receiver's loader waits: a backlog builds up
    post_all(r, ["a", "poison-1", "good-rare-1", "b"])
    r.kill()
    conn.execute(TRIGGER)
    conn.execute("COMMIT")
    conn.close()
    spool = os.path.join(r.workdir, "flagtrail-spool")
    store = f"sqlite:{r.db}"
    res = run([flagtrail, "replay", "--spool", spool, "--store", store, "--source", "test"],
              timeout=120)
    assert res.returncode == 1 and b"identity refused by a trigger" in res.stderr, res.stderr
    assert not os.path.exists(os.path.join(spool, "quarantine"))
    assert query(r.db, "SELECT identity FROM ft_delivery") == [("first",)]
    r.start()
    wait_for(lambda: metric(r, "flagtrail_loader_quarantined_total") == 1, timeout=60,
             message="the receiver quarantines it")
    wait_for(lambda: query(r.db, "SELECT COUNT(*) FROM ft_delivery") == [(4,)],
             message="the rest of the backlog")
    assert {i for (i,) in query(r.db, "SELECT identity FROM ft_delivery")} == \
        {"first", "a", "good-rare-1", "b"}
    r.stop()
    conn = sqlite3.connect(r.db)
    conn.execute("DROP TRIGGER refuse_poison")
    conn.commit()
    conn.close()
    res = run([flagtrail, "replay", "--quarantine", "--spool", spool, "--store", store,
               "--source", "test"], timeout=120)
    assert res.returncode == 0 and b"loaded 1 webhooks" in res.stdout, (res.stdout, res.stderr)
    assert query(r.db, "SELECT source FROM ft_delivery WHERE identity = 'poison-1'") == \
        [("test/quarantine",)]
