"""Shared fixtures for flagtrail's black-box tests: the built binary and the test data.

The build directory comes from FLAGTRAIL_BUILD (set by scripts/run-tests; default
build/release). A missing binary fails the tests; nothing is skipped.
"""
import os
import pathlib
import socket
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("FLAGTRAIL_BUILD", "build/release")
DATA = ROOT / "tests" / "data"


def _binary(path):
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make' first")
    return str(path)


@pytest.fixture(scope="session")
def flagtrail():
    return _binary(BUILD / "flagtrail")


@pytest.fixture(scope="session")
def jsontool():
    return _binary(BUILD / "tests" / "tools" / "jsontool")


@pytest.fixture(scope="session")
def webhook_data():
    return DATA / "webhook"


def run(args, input=None, env=None, timeout=60):
    """Runs a command; returns CompletedProcess with bytes stdout/stderr."""
    full_env = dict(os.environ)
    full_env.pop("FLAGTRAIL_SECRET", None)
    if env:
        full_env.update(env)
    res = subprocess.run(args, input=input, capture_output=True, env=full_env, timeout=timeout)
    check_sanitizers(res.stderr)
    return res


def check_sanitizers(stderr: bytes):
    """Fails the test when a sanitizer build of flagtrail reported an error."""
    for marker in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
        if marker in stderr:
            pytest.fail("sanitizer report:\n" + stderr.decode(errors="replace")[-4000:])


def free_port():
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, sig, timeout=60):
    """Stops a process the test started, by its PID: `sig`, then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
