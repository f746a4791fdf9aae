"""Real Celery workers in subprocesses, for tests about the queue: on the test's database,
Redis and data folder, with their output in a log file the failure message shows."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
CELERY = str(Path(sys.executable).with_name("celery"))
T = TypeVar("T")


def django_env(**extra: str) -> dict[str, str]:
    """The environment of a Django-side worker on this test's database and data folder."""
    env = dict(os.environ)
    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    env.update(
        DATABASE_URL=f"postgres://{user}{password}@{host}:{port}/{params['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        HEARTH_DATA_DIR=str(settings.DATA_DIR),
        # Otherwise derived from a secret key under the data folder: pseudonyms would differ
        # from an in-process build's.
        HEARTH_PSEUDONYM_SECRET=settings.HEARTH_PSEUDONYM_SECRET,
        DJANGO_SETTINGS_MODULE="apps.settings",
    )
    env.update(extra)
    return env


def start_worker(
    app: str, queues: Iterable[str], env: dict[str, str], name: str, log: Path, *args: str
) -> subprocess.Popen[bytes]:
    """``celery -A <app> worker -Q <queues> --pool=solo`` writing to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                CELERY, "-A", app, "worker", "-Q", ",".join(queues), "--pool=solo",
                "-n", f"{name}@%h", "--loglevel=info", "--without-heartbeat",
                "--without-gossip", "--without-mingle", *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children
        )  # fmt: skip


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    workers: Iterable[subprocess.Popen[bytes]],
    log: Path,
    every: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail early if a worker exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for worker in workers:
            if worker.poll() is not None:
                raise AssertionError(
                    f"worker exited ({worker.returncode}) before {what}:\n{tail(log)}"
                )
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}:\n{tail(log)}")


def tail(log: Path, chars: int = 6000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def stop(workers: Iterable[subprocess.Popen[bytes]]) -> None:
    """Kill each worker's whole process group (an embedded beat, a training process)."""
    for worker in workers:
        with suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


@contextmanager
def workers_on(*queues: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put started workers in: they are killed on the way out, and these Redis
    queues are emptied before and after (nothing stale goes first or stays). Every test that
    starts workers or sends to their queues goes through here."""
    import redis

    # One such test at a time, whichever xdist worker (or pytest run) it is in: they share
    # the queues of one Redis database.
    digest = hashlib.sha256(settings.REDIS_URL.encode()).hexdigest()[:12]
    lock = open(Path(tempfile.gettempdir()) / f"hearth-celery-tests-{digest}.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    # kombu keeps messages delivered but not acknowledged (acks_late) in these keys, and gives
    # them back to the queue after the visibility timeout: a worker killed here must not
    # hand its task to the next test's worker.
    keys = (*queues, "unacked", "unacked_index", "unacked_mutex")
    broker.delete(*keys)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        yield workers
    finally:
        stop(workers)
        broker.delete(*keys)
        lock.close()  # releases the lock


def queued(queue: str) -> list[dict[str, object]]:
    """The tasks waiting in a Redis queue, oldest first: ``{"name", "task_id", "args",
    "kwargs"}`` decoded from kombu's message format."""
    import base64
    import json

    import redis

    broker = redis.Redis.from_url(settings.REDIS_URL)
    out: list[dict[str, object]] = []
    for raw in reversed(broker.lrange(queue, 0, -1)):  # LPUSH in, BRPOP out
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        headers = message["headers"]
        out.append(
            {"name": headers["task"], "task_id": headers["id"], "args": args, "kwargs": kwargs}
        )
    return out
