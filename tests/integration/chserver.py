"""A real ClickHouse server for the tests (and bench/store): Debian's clickhouse-server, a
scratch folder with its own config, loopback only, started and stopped by PID. A server that
cannot start raises ChError, which fails the test.

    ch = ChServer(); ch.start()
    url = ch.new_database()          # clickhouse://127.0.0.1:PORT/db_N
    ch.query("SELECT ...")           # rows as tuples of strings (TabSeparated)
"""
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, stop_process

_counter = itertools.count(1)

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
</yandex>
"""


class ChError(RuntimeError):
    pass


class ChServer:
    def __init__(self):
        self.binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        if not os.path.exists(self.binary):
            raise ChError("clickhouse-server is not installed (scripts/bootstrap installs it)")
        self.dir = tempfile.mkdtemp(prefix="flagtrail-ch-")
        self.http_port, self.tcp_port = free_port(), free_port()
        self.proc = None
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(CONFIG.format(dir=self.dir, http=self.http_port, tcp=self.tcp_port,
                                  users="/etc/clickhouse-server/users.xml"))

    def start(self, timeout=60):
        self.log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, f"--config-file={self.dir}/config.xml"], cwd=self.dir,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChError(f"clickhouse-server exited with {self.proc.returncode}: "
                              f"{self.log_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ping",
                                            timeout=2) as r:
                    if r.read().startswith(b"Ok."):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ChError(f"clickhouse-server did not start within {timeout} s: {self.log_text()}")

    def log_text(self):
        out = []
        for name in ("stdout.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(f.read().decode(errors="replace")[-2000:])
            except OSError:
                pass
        return "\n".join(out)

    def stop(self, timeout=60):
        """Shutdown (SIGTERM) by PID; SIGKILL if it lingers."""
        if self.proc and self.proc.poll() is None:
            stop_process(self.proc, signal.SIGTERM, timeout)
            self.log.close()

    def url(self, db):
        return f"clickhouse://127.0.0.1:{self.http_port}/{db}"

    def new_database(self):
        return self.url(f"db_{next(_counter)}")

    def query(self, sql, database="default"):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/?database={database}", data=sql.encode())
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise ChError(f"{e.code}: {e.read().decode(errors='replace')}")
        return [tuple(line.split("\t")) for line in text.splitlines()]


@pytest.fixture(scope="module")
def clickhouse():
    try:
        ch = ChServer()
    except ChError as e:
        pytest.fail(str(e))
    try:
        yield ch.start()
    except ChError as e:
        pytest.fail(str(e))
    finally:
        ch.stop()
        shutil.rmtree(ch.dir, ignore_errors=True)
