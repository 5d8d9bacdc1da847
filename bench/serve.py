"""bench/serve: flagtrail serve's identities API and its webhook dispatcher beside their peers,
in one run.

1. POST /api/v1/identities/ with three traits on the v1 environment (identifiers cycling over
   10 000 per wrk thread), wrk -t2 -c64 on loopback, the three taking turns ROUNDS times
   (medians reported), against:
     nginx                 `return 200` on the same requests: the ceiling
     serve, no webhooks    flags, identity store, no webhook URL
     serve, webhooks on    the same, each call's webhook appended to the outbox and delivered
                           to an nginx sink on loopback (which shares the machine)
2. The dispatcher: an outbox filled while the endpoint is down, then, after a restart,
   delivered to nginx with keep-alive: webhooks/s from the restart to the last delivery. Peer:
   Python sending the same webhook as Flagsmith does, a requests.post per webhook (json.dumps,
   HMAC, a new connection each), with 1 and with 32 threads.

    python3 bench/serve.py BUILD_DIR [DURATION]
"""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from common import CONNECTIONS, ROOT, Server, free_port, nginx, peak_rss_kb, wait_port, wrk

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build/release")
DURATION = int(sys.argv[2]) if len(sys.argv) > 2 else 10
V1 = os.path.join(ROOT, "tests", "data", "engine", "v1", "environment_n9fbf9h3v4fFgH3U3ngWhb.json")
KEY = "n9fbf9h3v4fFgH3U3ngWhb"
PATH = "/api/v1/identities/"
PYTHON_COUNT = 3000

WRK_SCRIPT = """
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end
local n = 0
local colours = {"green", "blue", "red"}
local headers = {["Content-Type"] = "application/json", ["X-Environment-Key"] = "%s"}
function request()
    n = n + 1
    local body = string.format('{"identifier": "user-%%d-%%05d", "traits": [' ..
        '{"trait_key": "age", "trait_value": %%d}, ' ..
        '{"trait_key": "favourite_colour", "trait_value": "%%s"}, ' ..
        '{"trait_key": "plan", "trait_value": "pro"}]}',
        tid, n %% 10000, 18 + n %% 50, colours[n %% 3 + 1])
    return wrk.format("POST", nil, headers, body)
end
""" % KEY


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for m in re.finditer(r"^(flagtrail_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$", text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out


def serve_argv(port, data, secret_file, hook_port=None, extra=()):
    argv = [os.path.join(BUILD, "flagtrail"), "serve", "--listen", f"127.0.0.1:{port}",
            "--environment", V1, "--data", data, "--log-level", "warn"]
    if hook_port:
        argv += ["--webhook-url", f"http://127.0.0.1:{hook_port}/webhook",
                 "--webhook-secret-file", secret_file]
    return argv + list(extra)


def capture_one_webhook(work, secret_file):
    """One webhook as serve sends it, caught by a one-shot Python sink: the Python peer sends it."""
    bodies = []

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    sink = http.server.HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    port = free_port()
    data = os.path.join(work, "capture")
    with Server("serve", serve_argv(port, data, secret_file, sink.server_address[1]), work):
        wait_port(port)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{PATH}", method="POST",
            headers={"Content-Type": "application/json", "X-Environment-Key": KEY},
            data=json.dumps({"identifier": "user-0-00001", "traits": [
                {"trait_key": "age", "trait_value": 33},
                {"trait_key": "favourite_colour", "trait_value": "blue"},
                {"trait_key": "plan", "trait_value": "pro"}]}).encode())
        urllib.request.urlopen(req, timeout=10).read()
        deadline = time.monotonic() + 20
        while not bodies and time.monotonic() < deadline:
            time.sleep(0.05)
    sink.shutdown()
    if not bodies:
        raise RuntimeError("serve sent no webhook to the capture sink")
    path = os.path.join(work, "webhook.json")
    with open(path, "wb") as f:
        f.write(bodies[0])
    return path, len(bodies[0])


ROUNDS = 3  # the servers take turns this many times: this VM's speed drifts within a minute


def identities_run(work, secret_file, script, i, name, hook, port, sink_port):
    """One server under wrk: (rps, latencies, errors, socket errors, rss MB, webhook note)."""
    data = os.path.join(work, f"identities-{i}")
    shutil.rmtree(data, ignore_errors=True)
    argv, cwd = (nginx(work, port) if name == "nginx"
                 else (serve_argv(port, data, secret_file, hook), work))
    sink = Server("sink", *nginx(work, sink_port)) if hook else None
    if sink:
        sink.__enter__()
        wait_port(sink_port)
    try:
        with Server(name, argv, cwd) as srv:
            wait_port(port)
            wrk(port, script, 2, PATH)
            rps, lat, errors, sock = wrk(port, script, DURATION, PATH)
            rss = peak_rss_kb(srv.pids()) / 1024
            extra = ""
            if hook:
                m = metrics(port)
                extra = (f"; {m.get('flagtrail_webhooks_emitted_total', 0):.0f} webhooks "
                         f"emitted, {m.get('flagtrail_webhooks_lost_total', 0):.0f} lost")
    finally:
        if sink:
            sink.__exit__()
    return rps, lat, errors, sock, rss, extra


def identities_table(work, secret_file, script):
    print(f"## POST {PATH} with three traits, v1 environment\n")
    print(f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s on loopback, same machine as the servers; the "
          f"servers take turns {ROUNDS} times and each row is the median run (ratios: medians; "
          "every run's req/s in the last column)\n")
    print("| server | req/s | vs nginx | p50 ms | p99 ms | peak RSS MB | errors | runs |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    port, sink_port = free_port(), free_port()
    runs = [("nginx", None), ("serve, no webhooks", None), ("serve, webhooks on", sink_port)]
    results = {name: [] for name, _ in runs}
    for r in range(ROUNDS):
        for i, (name, hook) in enumerate(runs):
            results[name].append(identities_run(work, secret_file, script, i, name, hook, port,
                                                sink_port))
    nginx_rps = None
    for name, _ in runs:
        ordered = sorted(results[name], key=lambda x: x[0])
        rps, lat, errors, sock, rss, extra = ordered[len(ordered) // 2]
        nginx_rps = nginx_rps or rps
        err = f"{errors} non-2xx" if errors else ("none" if not sock else sock)
        every = ", ".join(f"{x[0]:.0f}" for x in results[name])
        print(f"| {name} | {rps:.0f} | {rps / nginx_rps:.2f}x | {lat['50']:.2f} | "
              f"{lat['99']:.2f} | {rss:.1f} | {err}{extra} | {every} |", flush=True)
    print()


def dispatcher_rate(work, secret_file, script):
    """Fills an outbox while the endpoint is down, then times its delivery after a restart."""
    port, sink_port = free_port(), free_port()
    data = os.path.join(work, "dispatch")
    hold = ["--retry-schedule", "1h"]
    with Server("serve", serve_argv(port, data, secret_file, sink_port, hold), work):
        wait_port(port)
        wrk(port, script, 8, PATH)
        # every call has been answered, so every webhook is appended; stopping syncs the outbox
        m = metrics(port)
        count = int(m["flagtrail_webhooks_emitted_total"])
        if m["flagtrail_webhooks_lost_total"]:
            raise RuntimeError(f"{m['flagtrail_webhooks_lost_total']:.0f} webhooks were lost")
    with Server("sink", *nginx(work, sink_port)):
        wait_port(sink_port)
        start = time.perf_counter()
        with Server("serve", serve_argv(port, data, secret_file, sink_port), work) as srv:
            wait_port(port)
            deadline = time.monotonic() + 300
            delivered = 0
            while time.monotonic() < deadline:
                delivered = metrics(port).get("flagtrail_webhooks_delivered_total", 0)
                if delivered >= count:
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - start
            rss = peak_rss_kb(srv.pids()) / 1024
    if delivered < count:
        raise RuntimeError(f"only {delivered:.0f} of {count} webhooks were delivered")
    return count, seconds, rss


def python_rate(work, secret_file, body_file, threads):
    port = free_port()
    with Server("sink", *nginx(work, port)):
        wait_port(port)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "peers", "python_sender.py"),
                              f"http://127.0.0.1:{port}/webhook", secret_file, body_file,
                              str(PYTHON_COUNT), str(threads)],
                             capture_output=True, text=True, timeout=600, check=True).stdout.split()
    seconds, ok = float(out[0]), int(out[1])
    if ok != PYTHON_COUNT:
        raise RuntimeError(f"the Python sender got {ok} 2xx of {PYTHON_COUNT}")
    return PYTHON_COUNT, seconds


def main():
    work = tempfile.mkdtemp(prefix="ft-bench-serve-")
    try:
        secret_file = os.path.join(work, "secret")
        with open(secret_file, "w") as f:
            f.write("benchmark secret\n")
        script = os.path.join(work, "identities.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        body_file, body_len = capture_one_webhook(work, secret_file)
        identities_table(work, secret_file, script)

        print("## Webhook delivery to nginx on loopback (keep-alive)\n")
        print(f"serve's webhooks for the v1 environment are {body_len} bytes; the Python peer "
              "sends one of them, captured\n")
        print("| sender | webhooks | seconds | webhooks/s | flagtrail vs it | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        count, seconds, rss = dispatcher_rate(work, secret_file, script)
        ours = count / seconds
        print(f"| flagtrail serve dispatcher (restart with a full outbox) | {count} | "
              f"{seconds:.2f} | {ours:.0f} | 1.00x | {rss:.1f} |", flush=True)
        for threads in (1, 32):
            n, secs = python_rate(work, secret_file, body_file, threads)
            print(f"| Python requests.post, {threads} thread{'s' if threads > 1 else ''} | {n} | "
                  f"{secs:.2f} | {n / secs:.0f} | {ours / (n / secs):.1f}x | - |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
