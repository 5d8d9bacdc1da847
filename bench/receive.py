"""bench/receive: flagtrail receive against its peers, with wrk on loopback, in one run.

Peers (bench/peers/):
  nginx     `return 200` for POST /webhook: the ceiling, no verification, no storage
  mhd-floor libmicrohttpd set up as flagtrail's server, answering without doing anything
  mhd-floor-suspend  the same, each request suspended and resumed from another thread as
            receive does around its group commit: the floor of receive's design
  flagtrail flagtrail receive, signature + schema + spool with fsync group commit, loader on
  flagtrail-nosync  the same with --durability none: the HTTP path without the disk's latency
  go        Go net/http: HMAC check, json.Unmarshal, append + fsync with group commit
  python    Flagsmith's documented Python verification code + json.loads, stdlib HTTP server

For each payload (the seed webhook, and a 60 KB one with 150 flags and 50 traits), each server
is started, warmed up for 2 s, loaded for DURATION s by wrk (2 threads, 64 connections, the
signed body), and stopped. Prints req/s, latency percentiles, peak RSS and ratios to nginx.

    python3 bench/receive.py BUILD_DIR [DURATION]
"""
import hashlib
import hmac
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from common import (CONNECTIONS, ROOT, Server, cpu_seconds, free_port, nginx, peak_rss_kb,
                    wait_port, wrk)

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build/release")
DURATION = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SECRET = b"benchmark secret"


def large_payload():
    rng = random.Random(1)
    flags = []
    for i in range(150):
        mv = i % 3 == 0
        flags.append({
            "enabled": i % 4 != 0, "environment": 12561,
            "feature": {"created_date": "2024-01-10T17:%02d:23.645334Z" % (i % 60),
                        "default_enabled": i % 2 == 0,
                        "description": "Checkout flow \u2014 variant B" if i % 5 == 0 else None,
                        "id": 15000 + i, "initial_value": "control",
                        "name": "flag_%03d_checkout" % i,
                        "type": "MULTIVARIATE" if mv else "STANDARD"},
            "feature_segment": 4400 + i if i % 7 == 0 else None,
            "feature_state_value": "variant_%s_%d" % ("abc"[i % 3], i) if i % 2 else 12.5,
            "id": 78000 + i, "identity": None,
            "percentage_allocation": 33.3 if mv else None})
    traits = [{"id": None if i % 10 == 9 else 100 + i, "trait_key": "trait_key_%02d" % i,
               "trait_value": i * 37 if i % 2 else "Z\u00fcrich", "transient": i % 10 == 9}
              for i in range(50)]
    segments = [{"id": 16 + i, "member": i % 3 == 0, "name": "segment_%02d" % i}
                for i in range(20)]
    return json.dumps({"flags": flags, "identity": "user-42@example.com", "segments": segments,
                       "traits": traits}, sort_keys=True).encode()


def build_go(work):
    out = os.path.join(BUILD, "bench", "go_receiver")
    env = dict(os.environ, GOCACHE=os.path.join(ROOT, "build", "go-cache"),
               GOPATH=os.path.join(ROOT, "build", "go-path"), GOFLAGS="-mod=mod")
    subprocess.run(["go", "build", "-o", out, "."], cwd=os.path.join(ROOT, "bench", "peers", "go"),
                   env=env, check=True)
    return out


def build_floor():
    out = os.path.join(BUILD, "bench", "mhd_floor")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmicrohttpd"],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, os.path.join(ROOT, "bench", "peers", "mhd_floor.c"),
                    *flags, "-lpthread"], check=True)
    return out


def servers(work, port, secret_file):
    flagtrail_dir = os.path.join(work, "flagtrail")
    os.makedirs(flagtrail_dir, exist_ok=True)
    return [
        ("nginx",) + nginx(work, port),
        ("mhd-floor", [os.path.join(BUILD, "bench", "mhd_floor"), str(port), "plain"], work),
        ("mhd-floor-suspend", [os.path.join(BUILD, "bench", "mhd_floor"), str(port), "suspend"],
         work),
        ("flagtrail", [os.path.join(BUILD, "flagtrail"), "receive", "--listen",
                       f"127.0.0.1:{port}", "--secret-file", secret_file, "--durability",
                       "fsync", "--log-level", "warn"], flagtrail_dir),
        ("flagtrail-nosync", [os.path.join(BUILD, "flagtrail"), "receive", "--listen",
                              f"127.0.0.1:{port}", "--secret-file", secret_file,
                              "--durability", "none", "--log-level", "warn"], flagtrail_dir),
        ("go", [os.path.join(BUILD, "bench", "go_receiver"), str(port), secret_file,
                os.path.join(work, "go.log")], work),
        ("python", [sys.executable, os.path.join(ROOT, "bench", "peers", "python_receiver.py"),
                    str(port), secret_file], work),
    ]


def disk_ceilings(work):
    """What the disk under the spool allows: the latency of a small append + fdatasync, and
    the rate of large ones (group commit writes one large append per sync)."""
    path = os.path.join(work, "disk-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        small, n = b"x" * 1024, 500
        t = time.perf_counter()
        for _ in range(n):
            os.write(fd, small)
            os.fdatasync(fd)
        sync_us = (time.perf_counter() - t) / n * 1e6
        big, total = b"x" * (4 << 20), 0
        t = time.perf_counter()
        while total < (512 << 20):
            total += os.write(fd, big)
            os.fdatasync(fd)
        mbps = total / (time.perf_counter() - t) / 1e6
    finally:
        os.close(fd)
        os.unlink(path)
    return sync_us, mbps


def main():
    work = tempfile.mkdtemp(prefix="ft-bench-receive-")
    try:
        build_go(work)
        build_floor()
        secret_file = os.path.join(work, "secret")
        with open(secret_file, "wb") as f:
            f.write(SECRET + b"\n")
        payloads = {
            "seed": open(os.path.join(ROOT, "tests", "data", "webhook",
                                      "seed_flagsmith_bytes.json"), "rb").read(),
            "large": large_payload(),
        }
        sync_us, mbps = disk_ceilings(work)
        print(f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s on loopback, same machine as the servers; "
              "flagtrail with --durability fsync and its loader writing SQLite\n")
        print(f"- disk under the spool: 1 KiB append + fdatasync {sync_us:.0f} us; "
              f"4 MiB appends + fdatasync {mbps:.0f} MB/s, which caps durable large "
              f"webhooks at {mbps * 1e6 / len(payloads['large']):.0f}/s\n")
        print("server CPU: the server's own CPU time per request during the run (all its "
              "threads; wrk shares the two cores); p99: wrk's, corrected for coordinated "
              "omission, so one stall of every connection raises it; max: the slowest "
              "response\n")
        print("| payload | server | req/s | vs nginx | p50 ms | p99 ms | max ms | "
              "server CPU us/req | peak RSS MB | errors |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        results = {}
        for pname, body in payloads.items():
            body_file = os.path.join(work, f"{pname}.json")
            with open(body_file, "wb") as f:
                f.write(body)
            script = os.path.join(work, f"{pname}.lua")
            sig = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            with open(script, "w") as f:
                f.write('wrk.method = "POST"\n'
                        'wrk.headers["Content-Type"] = "application/json"\n'
                        f'wrk.headers["X-Flagsmith-Signature"] = "{sig}"\n'
                        f'local f = io.open("{body_file}", "rb")\n'
                        'wrk.body = f:read("*a")\nf:close()\n')
            port = free_port()
            for name, argv, cwd in servers(work, port, secret_file):
                with Server(name, argv, cwd) as srv:
                    wait_port(port)
                    wrk(port, script, 2)
                    cpu0 = cpu_seconds(srv.pids())
                    rps, lat, errors, sock = wrk(port, script, DURATION)
                    cpu_us = (cpu_seconds(srv.pids()) - cpu0) / (rps * DURATION) * 1e6
                    rss = peak_rss_kb(srv.pids()) / 1024
                results[(pname, name)] = rps
                ratio = rps / results[(pname, "nginx")]
                err = f"{errors} non-2xx" if errors else ("none" if not sock else sock)
                print(f"| {pname} ({len(body)} B) | {name} | {rps:.0f} | {ratio:.2f}x | "
                      f"{lat['50']:.2f} | {lat['99']:.2f} | {lat['max']:.1f} | {cpu_us:.1f} | "
                      f"{rss:.1f} | {err} |",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
