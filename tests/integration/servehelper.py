"""Running a real `flagtrail serve` on loopback for tests, and a programmable webhook endpoint.

Serve starts the binary on 127.0.0.1 port 0 and reads the bound address from its JSON log;
it is always stopped by its PID. HookServer is an HTTP endpoint (Python's standard library)
that records every webhook it gets and answers as a test tells it to.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import DATA, check_sanitizers

V1 = DATA / "engine" / "v1" / "environment_n9fbf9h3v4fFgH3U3ngWhb.json"
V1_KEY = "n9fbf9h3v4fFgH3U3ngWhb"


class Serve:
    def __init__(self, binary, workdir, args=(), env=None):
        self.binary, self.workdir, self.args = binary, str(workdir), list(args)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGTRAIL_")}
        self.env.update(env or {})
        self.proc, self.log, self.address = None, [], None

    def start(self, timeout=20):
        args = [self.binary, "serve", "--listen", "127.0.0.1:0", "--log-format", "json",
                "--data", os.path.join(self.workdir, "serve-data"), *self.args]
        self.log, self.address = [], None
        self.proc = subprocess.Popen(args, cwd=self.workdir, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()

        def read(proc):
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                self.log.append(line)
                if '"serve.listening"' in line:
                    self.address = json.loads(line)["address"]
                    ready.set()
            ready.set()

        threading.Thread(target=read, args=(self.proc,), daemon=True).start()
        if not ready.wait(timeout) or not self.address:
            self.kill()
            pytest.fail("serve did not start:\n" + "\n".join(self.log))
        return self

    def events(self, name):
        return [json.loads(l) for l in list(self.log) if f'"event":"{name}"' in l]

    @property
    def url(self):
        return f"http://{self.address}/api/v1/"

    def request(self, method, path, body=None, key=V1_KEY, headers=None):
        host, port = self.address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        h = dict(headers or {})
        if key is not None:
            h["X-Environment-Key"] = key
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data
            return resp.status, parsed
        finally:
            conn.close()

    def identify(self, identifier, traits=None, transient=None, key=V1_KEY):
        body = {"identifier": identifier}
        if traits is not None:
            body["traits"] = traits
        if transient is not None:
            body["transient"] = transient
        return self.request("POST", "/api/v1/identities/", body, key=key)

    def metric(self, name):
        _, text = self.request("GET", "/metrics", key=None)
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self, timeout=60):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("serve did not stop on SIGTERM")
        time.sleep(0.05)
        check_sanitizers("\n".join(self.log).encode())
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class HookServer:
    """Records webhooks; `behave(n, headers, body)` returns (status, headers, delay_s) for the
    n-th request (0-based); by default 200."""

    def __init__(self, behave=None):
        self.requests = []
        self.lock = threading.Lock()
        self.behave = behave or (lambda n, h, b: (200, {}, 0))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append((time.monotonic(), dict(self.headers), body))
                status, headers, delay = outer.behave(n, self.headers, body)
                if delay:
                    time.sleep(delay)
                payload = b"{}"
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bodies(self):
        with self.lock:
            return [b for _, _, b in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serves(flagtrail, tmp_path):
    started = []

    def start(args=(), env=None, workdir=None, start=True):
        s = Serve(flagtrail, workdir or tmp_path, args, env)
        started.append(s)
        return s.start() if start else s

    yield start
    for s in started:
        s.kill()


@pytest.fixture
def hooks():
    made = []

    def make(behave=None):
        h = HookServer(behave)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
