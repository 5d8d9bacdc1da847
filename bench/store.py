"""bench/store: the same full spool loaded into each warehouse backend, side by side.

Starts a PostgreSQL server from Debian's packages on loopback (fsync on, like SQLite's
synchronous=FULL), then runs `bench/loader --stores N` over SQLite and PostgreSQL: webhooks/s,
rows/s and bytes on disk per webhook from one spool of N seed-size webhooks (STORE_WEBHOOKS,
default 500000). ClickHouse joins the table when its backend lands.

    bench/store.py BUILD
"""
import os
import shutil
import subprocess
import sys
import tempfile

from common import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from pgserver import PgServer  # noqa: E402

N = int(os.environ.get("STORE_WEBHOOKS", 500000))


def main(build):
    pg = PgServer(fsync=True)
    work = tempfile.mkdtemp(prefix="ft-bench-store-")
    try:
        pg.start()
        version = pg.query(pg.url(), "SHOW server_version")[0][0]
        print(f"- PostgreSQL {version}, fsync on, default settings; SQLite WAL, "
              "synchronous=FULL\n")
        sys.stdout.flush()
        urls = [f"sqlite:{work}/flagtrail.db", pg.new_database()]
        subprocess.run([os.path.join(build, "bench", "loader"), "--stores", str(N), *urls],
                       check=True)
    finally:
        pg.stop()
        shutil.rmtree(pg.dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
