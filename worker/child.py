"""The training process of a run, seen from the task: ``python -m worker.jobs`` (or its
torchrun form) with its JSON-line stdout parsed on one thread and the rest of its output
kept as a short tail on another."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_LINES = 40


class TrainingProcess:
    """The child process that trains: its stdout's JSON lines arrive on ``messages``, its
    other output is kept (with this task's own notes) as the last LOG_LINES lines."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        self._lock = threading.Lock()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # Signals for the worker's process group (a terminal's Ctrl-C) are not for the
            # child: the task stops it (SIGTERM on cancel), or it dies with its parent.
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def note(self, line: str) -> None:
        """Add a line of this task's own to the log tail."""
        with self._lock:
            self._lines.append(f"[hearth] {line}")

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = shown(raw)
            message = json_object(line)
            if message is None:
                with self._lock:
                    self._lines.append(line)
            else:
                self.messages.put(message)
        self.messages.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._lock:
                self._lines.append(shown(raw))

    def join(self, timeout: float) -> None:
        """Wait for the output to be read to its end (every rank has closed it)."""
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


def shown(raw: bytes) -> str:
    """A line of output as a terminal leaves it: a progress bar redraws itself after each
    carriage return, so only its last state. (Read as text, every redraw was a line of its
    own, and one bar filled the whole tail.)"""
    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    return line.rsplit("\r", 1)[-1]


def json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def child_argv(kind: str, spec_file: Path, gpus: int) -> list[str]:
    argv = [sys.executable, "-m", "worker.jobs"]
    if gpus > 1:
        argv.append(f"--nproc-per-node={gpus}")
    return [*argv, kind, str(spec_file)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HEARTH_PARENT_PID"] = str(os.getpid())  # see worker.jobs.die_with_parent
    env["PYTHONUNBUFFERED"] = "1"
    # `-m worker.jobs` must resolve to this checkout whatever the worker's working directory.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def send_signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)
