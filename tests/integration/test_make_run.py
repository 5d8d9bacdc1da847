"""scripts/run (what `make run` starts): a secret is created when none is set, the receiver
listens, and the curl command it prints gets a 200."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import threading

from conftest import ROOT
from receiver import count_deliveries, wait_for


def test_run_creates_a_secret_and_the_printed_command_works(flagtrail, tmp_path):
    shutil.copytree(ROOT / "tests" / "data", tmp_path / "tests" / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGTRAIL_")}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "run"), flagtrail, "--listen",
                             "127.0.0.1:0", "--log-format", "json"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, address = [], []

    def read(stream, sink, parse):
        for raw in stream:
            sink.append(raw.decode())
            if parse and '"receive.listening"' in sink[-1]:
                address.append(json.loads(sink[-1])["address"])

    threading.Thread(target=read, args=(proc.stdout, out, False), daemon=True).start()
    threading.Thread(target=read, args=(proc.stderr, [], True), daemon=True).start()
    try:
        wait_for(lambda: address, timeout=20, message="the receiver")
        secret = tmp_path / "flagtrail.secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert re.fullmatch(rb"[0-9a-f]{64}", secret.read_bytes())
        text = "".join(out)
        assert "created ./flagtrail.secret" in text
        command = re.search(r"  curl .*?http://\S+/webhook", text, re.S).group(0)
        # the instructions follow --listen (port 0 here: the kernel's choice is in the log)
        assert "Starting flagtrail receive on http://127.0.0.1:0/webhook" in text
        command = command.replace("127.0.0.1:0/", address[0] + "/") + " -s"
        res = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                             timeout=30)
        assert json.loads(res.stdout) == {"status": "accepted"}, res
        wait_for(lambda: count_deliveries(str(tmp_path / "flagtrail.db")) == 1,
                 message="the delivery")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
