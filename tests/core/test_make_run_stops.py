"""``make run`` stops whole when SIGTERM reaches its process group with no terminal (a service
manager, ``timeout``, a script). (Ctrl-C on a terminal stopped it before and after the change;
checked by hand through a pty, as a test it took a minute of a loaded machine.)

Upgrade QA (session 26): started without a terminal and sent ``kill -TERM -- -<pgid>``, make,
its shell, both Celery workers and runserver were all still running 20 s later. ``set -m``
put each in a process group of its own, so the signal reached none of them, and the shell,
waiting on runserver in the foreground, ran its trap only once runserver ended."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.embedded import ROOT, embedded_env, migrate

pytestmark = pytest.mark.slow(seconds=40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(log.read_text()[-3000:])


def _session(sid: int) -> list[str]:
    """The processes still in session ``sid`` (make and all it started), by command line."""
    left = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(process.info["cmdline"] or []))
        except (ProcessLookupError, psutil.Error):
            continue
    return left


def _assert_all_gone(sid: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _session(sid) == [], log.read_text()[-3000:]


def _start(env: dict[str, str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    env = embedded_env(tmp_path / "data")
    migrate(env)
    return {**env, "PORT": str(_free_port())}


def test_sigterm_to_the_process_group_without_a_terminal_stops_everything(run_env, tmp_path):
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        make = _start(run_env, log, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            _wait_until_up(int(run_env["PORT"]), make, log)
            assert any("runserver" in c for c in _session(make.pid))
            assert sum("celery" in c for c in _session(make.pid)) >= 2
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=90)
            _assert_all_gone(make.pid, log)
        finally:
            _kill_session(make.pid)


def _kill_session(sid: int) -> None:
    """Whatever a failed test left running, so that it cannot hold the port or the CPU."""
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid:
                process.kill()
        except (ProcessLookupError, psutil.Error):
            continue
