"""Running a real `flagtrail receive` on loopback for tests, and talking to it.

A Receiver starts the binary on 127.0.0.1 port 0, reads the bound address from its JSON log,
keeps collecting its log on a thread, and is always stopped by its PID (SIGTERM, then SIGKILL
if it does not exit).
"""
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import check_sanitizers

SECRET = b"my shared secret"


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class Receiver:
    def __init__(self, binary, workdir, args=(), env=None, secret=SECRET):
        self.binary = binary
        self.workdir = workdir
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.pop("FLAGTRAIL_SECRET", None)
        if env:
            self.env.update(env)
        self.secret_path = None
        if secret is not None:
            self.secret_path = os.path.join(workdir, "secret")
            with open(self.secret_path, "wb") as f:
                f.write(secret + b"\n")
        self.proc = None
        self.log = []
        self.address = None

    @property
    def db(self):
        return os.path.join(self.workdir, "flagtrail.db")

    def start(self, timeout=20):
        args = [self.binary, "receive", "--listen", "127.0.0.1:0", "--log-format", "json",
                "--source", "test"]
        if self.secret_path:
            args += ["--secret-file", self.secret_path]
        args += self.args
        self.log = []
        self.proc = subprocess.Popen(args, cwd=self.workdir, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(self.proc, ready), daemon=True).start()
        if not ready.wait(timeout) or self.address is None:
            self.kill()
            pytest.fail("receiver did not start:\n" + self.log_text())
        return self

    def _read_log(self, proc, ready):
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.log.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "receive.listening":
                self.address = event["address"]
                ready.set()
        ready.set()

    def log_text(self):
        return "\n".join(self.log)

    def events(self, name):
        out = []
        for line in list(self.log):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == name:
                out.append(e)
        return out

    @property
    def host_port(self):
        host, port = self.address.rsplit(":", 1)
        return host, int(port)

    def request(self, method, path, body=None, headers=None, timeout=30):
        host, port = self.host_port
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def post(self, body, signature=True, secret=SECRET, content_type="application/json",
             path="/webhook", extra=None):
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if signature is True:
            headers["X-Flagsmith-Signature"] = sign(body, secret)
        elif signature:
            headers["X-Flagsmith-Signature"] = signature
        headers.update(extra or {})
        return self.request("POST", path, body, headers)

    def stop(self, timeout=60):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("receiver did not stop on SIGTERM:\n" + self.log_text())
        time.sleep(0.05)  # let the log thread drain
        check_sanitizers(self.log_text().encode())
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout=30, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {message}")


def query(db, sql, params=()):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count_deliveries(db):
    if not os.path.exists(db):
        return 0
    try:
        return query(db, "SELECT COUNT(*) FROM ft_delivery")[0][0]
    except sqlite3.OperationalError:
        return 0


def webhook(identity, flags=None, traits=None, segments=None):
    """A Flagsmith-formatted body (the bytes Flagsmith would send)."""
    if flags is None:
        flags = [flag(1, "dark_mode", True, None), flag(2, "checkout", True, "variant_b")]
    payload = {"flags": flags, "identity": identity, "segments": segments or [],
               "traits": traits or []}
    return json.dumps(payload, sort_keys=True).encode()


def flag(fid, name, enabled, value, identity=None, segment=None, pa=None):
    f = {"enabled": enabled, "environment": 7,
         "feature": {"created_date": "2024-01-02T03:04:05.000000Z", "default_enabled": False,
                     "description": None, "id": fid, "initial_value": None, "name": name,
                     "type": "STANDARD"},
         "feature_segment": segment, "feature_state_value": value, "id": 1000 + fid,
         "identity": identity}
    if pa is not None:
        f["percentage_allocation"] = pa
    return f


def raw_socket(receiver, timeout=10):
    s = socket.create_connection(receiver.host_port, timeout=timeout)
    return s


@pytest.fixture
def receivers(flagtrail, tmp_path):
    """Starts receivers (each stopped by PID at teardown): receivers(args=[...], ...)."""
    started = []

    def start(args=(), env=None, secret=SECRET, workdir=None, start=True):
        d = workdir or tmp_path
        os.makedirs(d, exist_ok=True)
        r = Receiver(flagtrail, str(d), args, env, secret)
        started.append(r)
        return r.start() if start else r

    yield start
    for r in started:
        r.kill()
