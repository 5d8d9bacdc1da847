"""Helpers shared by the Python benchmarks (bench/receive.py, bench/serve.py): ports, wrk,
servers started and stopped by PID, peak RSS, and the nginx ceiling peer."""
import os
import re
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNECTIONS = 64


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def peak_rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    """User + system CPU the processes used so far (every thread)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    except OSError:
        return []


def _ms(value, unit):
    value = float(value)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(port, script, seconds, path="/webhook"):
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s",
                          script, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        lat[pct] = _ms(m.group(1), m.group(2))
    # "Latency  avg  stdev  max  +/-stdev": the slowest single response. wrk's percentiles are
    # corrected for coordinated omission (a response that took k mean intervals also counts the
    # k-1 that would have been sent meanwhile), so one stall of all connections moves the p99;
    # the maximum says how long that stall was.
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out, re.M)
    lat["max"] = _ms(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    return rps, lat, errors, (m.group(1) if m else "")


class Server:
    def __init__(self, name, argv, cwd, env=None):
        self.name, self.argv, self.cwd, self.env = name, argv, cwd, env

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def nginx(work, port):
    """The nginx peer (bench/peers/nginx.conf.in) on `port`: argv and working directory."""
    conf = os.path.join(work, f"nginx-{port}.conf")
    with open(os.path.join(ROOT, "bench", "peers", "nginx.conf.in")) as f:
        text = f.read().replace("@PORT@", str(port)).replace("@DIR@", work)
    with open(conf, "w") as f:
        f.write(text)
    return ["nginx", "-p", work, "-c", conf], work
