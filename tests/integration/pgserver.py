"""A real PostgreSQL server for the tests (and bench/store): Debian's postgresql binaries, a
scratch data folder, loopback only, started and stopped by PID. A server that cannot start
raises PgError, which fails the test.

    pg = PgServer(); pg.start()
    url = pg.new_database()          # postgres://postgres@127.0.0.1:PORT/db_N
    pg.query(url, "SELECT ...")      # rows as tuples of strings (psql -At)
    pg.stop(); pg.start()            # same data, same port
"""
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, stop_process

_counter = itertools.count(1)


class PgError(RuntimeError):
    pass


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise PgError("PostgreSQL is not installed (scripts/bootstrap installs postgresql)")
    return os.path.dirname(found[-1])


class PgServer:
    def __init__(self, fsync=False):
        self.fsync = fsync  # tests: off (a crash of the machine is not what they test)
        self.bin = _bindir()
        # pytest's own folders are root's (mode 0700): the server's lives apart, owned by it
        self.dir = tempfile.mkdtemp(prefix="flagtrail-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.proc = None
        self.user = pwd.getpwnam("postgres")

    def _as_postgres(self):
        return {"user": self.user.pw_uid, "group": self.user.pw_gid}

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        res = subprocess.run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
                             capture_output=True, text=True, timeout=120, cwd=self.dir,
                             **self._as_postgres())
        if res.returncode != 0:
            raise PgError(f"initdb failed: {res.stderr}")

    def start(self, timeout=60):
        if not os.path.exists(self.data):
            self.init()
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "postgres"), "-D", self.data, "-p", str(self.port),
             "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
             "-c", f"fsync={'on' if self.fsync else 'off'}",
             "-c", "max_connections=50"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir, **self._as_postgres())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgError(f"postgres exited with {self.proc.returncode}: {self.log_text()}")
            res = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                                 capture_output=True, timeout=10)
            if res.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise PgError(f"postgres did not start within {timeout} s: {self.log_text()}")

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def stop(self, timeout=60):
        """Fast shutdown (SIGINT) by PID; SIGKILL if it lingers."""
        if self.proc and self.proc.poll() is None:
            stop_process(self.proc, signal.SIGINT, timeout)
            self.log.close()

    def url(self, db="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self):
        name = f"db_{next(_counter)}"
        self.query(self.url(), f"CREATE DATABASE {name}")
        return self.url(name)

    def query(self, url, sql):
        res = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-d", url.replace("postgres://", "postgresql://", 1), "-c", sql],
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise PgError(f"psql: {res.stderr}")
        return [tuple(line.split("\t")) for line in res.stdout.splitlines()]


@pytest.fixture(scope="module")
def postgres():
    pg = PgServer()
    try:
        yield pg.start()
    except PgError as e:
        pytest.fail(str(e))
    finally:
        pg.stop()
        shutil.rmtree(pg.dir, ignore_errors=True)
