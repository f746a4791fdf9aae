"""Workers say they are alive: every Celery worker of Hearth, web side and GPU nodes alike,
sends a heartbeat every HEARTH_WORKER_HEARTBEAT_SECONDS (default 30) from a thread of its own,
so the System page can tell maintainers which workers are up, on which queues, on what device,
and what each is doing; and a queued run's page can say whether any GPU worker is there to
take it. Celery's own heartbeats and ``inspect ping`` need a broadcast the file broker lacks.

A heartbeat is a plain dict (``Heartbeat.payload``). A web-side worker records its own in the
database (``apps.core.workers``). GPU nodes hold no database credentials: they leave theirs
where the site reads them when it shows the workers, in a Redis hash (``STORE_KEY``, on
REDIS_URL) or, on the file broker, a file each under the data folder's ``heartbeats/``. Not
as a task on the default queue, which a web-side worker busy with a long import would read
only afterwards (verification: GPU workers showed as gone during one). A GPU node with only
CELERY_BROKER_URL has neither, and sends its heartbeats as ``core.worker_seen`` tasks, which
expire, so a backlog piled up while no web-side worker ran is dropped rather than replayed.
A worker that stops cleanly says so in a last heartbeat (state ``stopped``); one that is
killed just goes quiet, and the page shows it offline after a few missed beats.

The thread keeps beating while the worker's one (solo pool) thread runs a task: a training
run waits on its child process, a release build yields the GIL between rows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

TASK = "core.worker_seen"
# Where GPU nodes leave their heartbeats: a Redis hash (worker name -> payload as JSON), or
# this folder under the data folder (one <quoted worker name>.json each).
STORE_KEY = "hearth:heartbeats"
FOLDER = "heartbeats"
INTERVAL_ENV = "HEARTH_WORKER_HEARTBEAT_SECONDS"
DEFAULT_INTERVAL_S = 30
# The payload's shape; the web side refuses another (an older or newer worker's).
VERSION = 1

Send = Callable[[dict[str, Any]], None]


def interval_s() -> int:
    raw = os.environ.get("HEARTH_WORKER_HEARTBEAT_SECONDS", "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a whole number of seconds, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{INTERVAL_ENV} must be at least 1, not {value}")
    return value


def gpu_names(timeout: float = 5.0) -> list[str]:
    """The node's GPUs by name, from ``nvidia-smi`` (not torch: CUDA initialised in the worker's
    parent process would not survive into the training children it forks); none without it."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def describe_device(names: list[str]) -> str:
    """``"2 × NVIDIA H100 80GB HBM3"``, ``"NVIDIA A10G, NVIDIA L4"``, or ``"CPU"``."""
    if not names:
        return "CPU"
    if len(set(names)) == 1:
        return names[0] if len(names) == 1 else f"{len(names)} × {names[0]}"
    return ", ".join(names)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def doing(task_name: str, args: Any, kwargs: Any) -> dict[str, Any]:
    """What a worker is busy with, as the page shows it: the task, and the training run's id
    for a run (its spec is the first argument)."""
    busy: dict[str, Any] = {"task": task_name, "since": _now()}
    spec = (args or [None])[0] if isinstance(args, list | tuple) else None
    if isinstance(spec, dict) and isinstance(spec.get("run_id"), int):
        busy["run_id"] = spec["run_id"]
    return busy


class Heartbeat:
    """One worker's heartbeat thread. ``send`` delivers a payload; a failure is logged once
    per outage and the next beat tries again."""

    def __init__(
        self,
        *,
        hostname: str,
        queues: Iterable[str],
        send: Send,
        interval: float,
        device: str,
    ) -> None:
        self.hostname = hostname
        self.queues = sorted(queues)
        self.send = send
        self.interval = interval
        self.device = device
        self.started_at = _now()
        self.busy: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def payload(self, state: str = "online") -> dict[str, Any]:
        return {
            "version": VERSION,
            "hostname": self.hostname,
            "state": state,
            "queues": self.queues,
            "device": self.device,
            "pid": os.getpid(),
            "node": socket.gethostname(),
            "started_at": self.started_at,
            "sent_at": _now(),
            "interval": self.interval,
            "busy": self.busy,
        }

    def beat(self, state: str = "online") -> bool:
        try:
            self.send(self.payload(state))
        except Exception as exc:  # the broker or database is away: try again next beat
            if not self._failing:
                logger.warning("heartbeat of %s not sent: %s", self.hostname, exc)
            self._failing = True
            return False
        if self._failing:
            logger.warning("heartbeat of %s sent again", self.hostname)
        self._failing = False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hearth-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and say so (a last heartbeat with state ``stopped``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.beat("stopped")


def install(app: Any, *, make_send: Callable[[Any], Send]) -> None:
    """Beat from every worker ``app`` starts: start on ``worker_ready``, say ``stopped`` on
    ``worker_shutdown``, and note the task being run between ``task_prerun`` and
    ``task_postrun``. ``make_send(consumer)`` makes the function that delivers a payload."""
    from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown

    state: dict[str, Heartbeat] = {}

    def _ready(sender: Any = None, **_: Any) -> None:
        if sender is None or sender.app is not app:
            return
        heartbeat = Heartbeat(
            hostname=sender.hostname,
            queues=sender.app.amqp.queues.consume_from.keys(),
            send=make_send(sender),
            interval=interval_s(),
            device=describe_device(gpu_names()),
        )
        state["beat"] = heartbeat
        heartbeat.start()

    def _shutdown(**_: Any) -> None:
        heartbeat = state.pop("beat", None)
        if heartbeat is not None:
            heartbeat.stop()

    def _prerun(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        heartbeat = state.get("beat")
        if heartbeat is not None and task is not None and task.name != TASK:
            heartbeat.busy = doing(task.name, args, kwargs)

    def _postrun(task: Any = None, **_: Any) -> None:
        heartbeat = state.get("beat")
        if heartbeat is not None and task is not None and task.name != TASK:
            heartbeat.busy = None

    worker_ready.connect(_ready, weak=False)
    worker_shutdown.connect(_shutdown, weak=False)
    task_prerun.connect(_prerun, weak=False)
    task_postrun.connect(_postrun, weak=False)


def send_as_task(app: Any, *, expires: float) -> Send:
    """Deliver payloads as ``core.worker_seen`` tasks on the default queue (GPU nodes)."""

    def send(payload: dict[str, Any]) -> None:
        app.send_task(
            TASK,
            args=(payload,),
            queue="default",
            expires=expires,
            retry=False,
        )

    return send


def send_to_redis(url: str) -> Send:
    """Leave payloads in the Redis hash ``STORE_KEY``, one field per worker."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def send(payload: dict[str, Any]) -> None:
        client.hset(STORE_KEY, payload["hostname"], json.dumps(payload))

    return send


def file_name(hostname: str) -> str:
    """The file under the heartbeats folder that holds ``hostname``'s heartbeat."""
    return f"{quote(hostname, safe='@.-_')}.json"


def send_to_folder(folder: Path) -> Send:
    """Leave payloads in ``folder``, one file per worker, each written whole and then renamed
    into place (a reader never meets half a file)."""

    def send(payload: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(payload["hostname"])
        part = path.with_name(f".{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps(payload))
        os.replace(part, path)

    return send


def _loaded(raw: str | bytes, where: str) -> dict[str, Any] | None:
    try:
        found = json.loads(raw)
    except ValueError:
        logger.warning("A heartbeat in %s is not JSON; left out", where)
        return None
    return found if isinstance(found, dict) else None


def read_redis(url: str) -> list[dict[str, Any]]:
    """Every payload left in Redis (unchecked: the reader checks them)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    stored: dict[bytes, bytes] = client.hgetall(STORE_KEY)  # type: ignore[assignment]
    return [p for raw in stored.values() if (p := _loaded(raw, STORE_KEY)) is not None]


def read_folder(folder: Path) -> list[dict[str, Any]]:
    """Every payload left in ``folder`` (none when it is not there)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            raw = path.read_text()
        except OSError:
            continue  # removed meanwhile
        if (payload := _loaded(raw, str(path))) is not None:
            found.append(payload)
    return found
