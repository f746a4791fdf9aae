"""``make run`` stops whole, however it is told to: SIGTERM to its process group with no
terminal (a service manager, ``timeout``, a script), and Ctrl-C on a terminal.

Upgrade QA (session 26): started without a terminal and sent ``kill -TERM -- -<pgid>``, make,
its shell, both Celery workers and runserver were all still running 20 s later. ``set -m``
put each in a process group of its own, so the signal reached none of them, and the shell,
waiting on runserver in the foreground, ran its trap only once runserver ended."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import socket
import subprocess
import termios
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
    deadline = time.monotonic() + 20
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
            make.wait(timeout=30)
            _assert_all_gone(make.pid, log)
        finally:
            _kill_session(make.pid)


def test_ctrl_c_on_a_terminal_stops_everything(run_env, tmp_path):
    log = tmp_path / "run.log"
    controller, terminal = pty.openpty()

    def take_terminal() -> None:  # in the child, after setsid: its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    make = _start(
        run_env,
        log,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        preexec_fn=take_terminal,
    )
    os.close(terminal)
    output = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    import threading

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        port = int(run_env["PORT"])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert make.poll() is None, bytes(output)[-3000:]
                time.sleep(0.5)
        os.write(controller, b"\x03")  # the terminal sends SIGINT to its foreground group
        make.wait(timeout=30)
        log.write_bytes(bytes(output))
        _assert_all_gone(make.pid, log)
    finally:
        _kill_session(make.pid)
        os.close(controller)


def _kill_session(sid: int) -> None:
    """Whatever a failed test left running, so that it cannot hold the port or the CPU."""
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid:
                process.kill()
        except (ProcessLookupError, psutil.Error):
            continue
