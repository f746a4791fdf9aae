"""Crash QA: ``kill -9`` of ``make run``'s ``celery -A apps worker --beat`` left the beat it runs
in a child process alive, and after a restart two beats sent every periodic job. A real worker
on the embedded default (SQLite, the filesystem broker), as ``make run`` starts it."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from tests.celery_workers import start_worker, stop, tail, wait_for
from tests.embedded import embedded_env, migrate
from tests.missing import missing


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie counts: whether its new parent reaps it is not this test's business)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow(seconds=12)
def test_a_killed_worker_takes_its_embedded_beat_with_it(tmp_path):
    if not sys.platform.startswith("linux"):
        missing("the beat ends with its worker on Linux only (PR_SET_PDEATHSIG)")
    env = embedded_env(tmp_path / "data")
    migrate(env)
    log = tmp_path / "worker.log"
    worker = start_worker("apps", ["default"], env, "beat-orphan", log, "--beat")
    try:

        def beat_started() -> psutil.Process | None:
            if "beat: Starting..." not in tail(log, chars=100_000):
                return None
            children = psutil.Process(worker.pid).children()
            return children[0] if len(children) == 1 else None

        beat = wait_for(
            beat_started, timeout=60, what="the embedded beat", workers=[worker], log=log
        )
        time.sleep(1)  # beat is past its start, ticking
        assert not _gone(beat), tail(log)

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 5
        while not _gone(beat) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(beat), f"beat {beat.pid} outlived its worker:\n{tail(log)}"
    finally:
        stop([worker])  # its process group: a beat left behind goes too
