"""bench/store: the same full spool loaded into each warehouse backend, side by side.

Starts PostgreSQL (fsync on, like SQLite's synchronous=FULL) and ClickHouse servers from
Debian's packages on loopback, then runs `bench/loader --stores N` over SQLite, PostgreSQL and
ClickHouse: webhooks/s, rows/s and bytes on disk per webhook from one spool of N seed-size
webhooks (STORE_WEBHOOKS, default 500000).

    bench/store.py BUILD
"""
import os
import shutil
import subprocess
import sys
import tempfile

from common import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from chserver import ChServer  # noqa: E402
from pgserver import PgServer  # noqa: E402

N = int(os.environ.get("STORE_WEBHOOKS", 500000))


def main(build):
    pg, ch = PgServer(fsync=True), ChServer()
    work = tempfile.mkdtemp(prefix="ft-bench-store-")
    try:
        pg.start()
        ch.start()
        pg_version = pg.query(pg.url(), "SHOW server_version")[0][0]
        ch_version = ch.query("SELECT version()")[0][0]
        print(f"- SQLite WAL, synchronous=FULL; PostgreSQL {pg_version}, fsync on, default "
              f"settings; ClickHouse {ch_version}, default settings\n")
        sys.stdout.flush()
        urls = [f"sqlite:{work}/flagtrail.db", pg.new_database(), ch.new_database()]
        subprocess.run([os.path.join(build, "bench", "loader"), "--stores", str(N), *urls],
                       check=True)
    finally:
        for server in (pg, ch):
            server.stop()
            shutil.rmtree(server.dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
