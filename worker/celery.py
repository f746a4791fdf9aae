"""The GPU-node Celery app. It consumes only the "gpu" queue and never imports Django:
GPU nodes get a JSON spec, do the work, and report back through a task on the default queue.

Broker: REDIS_URL (or CELERY_BROKER_URL); unset means the same server-less filesystem broker
as the web side's embedded default, under HEARTH_DATA_DIR/broker, so `make run` needs nothing.
Result backend (read for cancellation, see celery.contrib.abortable): REDIS_URL, else
``file://HEARTH_DATA_DIR/results`` — the same as apps/settings.py's CELERY_RESULT_BACKEND, so
an abort recorded by the web is seen here. On Redis, a task unacknowledged for
CELERY_VISIBILITY_TIMEOUT seconds (default 3600) is delivered again: keep it above the longest
training run on every process that uses this Redis.
"""

from __future__ import annotations

import math
import os
from typing import Any

from celery import Celery

from worker import heartbeat
from worker.brokers import FILESYSTEM_TRANSPORT, redis_transport_options
from worker.paths import data_dir


def env_int(name: str, default: int, minimum: int) -> int:
    """An integer from the environment; a bad value fails loudly."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float) -> float:
    """A finite, non-negative number from the environment; a bad value fails loudly."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, not {raw!r}")
    return value


def setting_gpus_per_run() -> int:
    """HEARTH_GPUS_PER_RUN: processes (GPUs) per training run (worker.runs)."""
    return env_int("HEARTH_GPUS_PER_RUN", 1, minimum=1)


def setting_cancel_grace_s() -> float:
    """HEARTH_CANCEL_GRACE_S: how long a cancelled run may take to stop (worker.runs)."""
    return env_float("HEARTH_CANCEL_GRACE_S", 30.0)


def broker_settings() -> dict[str, Any]:
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    if url:
        settings: dict[str, Any] = {"broker_url": url}
        if url.startswith(("redis://", "rediss://", "redis+socket://")):
            settings["broker_transport_options"] = redis_transport_options(
                env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
            )
        return settings
    queue = data_dir() / "broker" / "queue"
    processed = data_dir() / "broker" / "processed"
    control = data_dir() / "broker" / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://localhost/",  # the host spares a kombu warning
        "broker_transport": FILESYSTEM_TRANSPORT,  # as the web side's: messages written whole
        "broker_transport_options": {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
        },
    }


def result_settings() -> dict[str, Any]:
    url = os.environ.get("REDIS_URL")
    if url:
        return {"result_backend": url}
    results = data_dir() / "results"
    results.mkdir(parents=True, exist_ok=True)
    return {"result_backend": f"file://{results}"}


# What worker.runs reads for each run, checked now as well: a value it cannot use stops the
# worker at start-up with a message naming the variable, instead of failing every run it takes.
setting_gpus_per_run()
setting_cancel_grace_s()

app = Celery("hearth-gpu")
app.conf.update(
    task_default_queue="gpu",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    **broker_settings(),
    **result_settings(),
)
# worker.jobs: the in-process tasks and describe; worker.runs: worker.train_run.
for _module in ("jobs", "runs"):
    app.autodiscover_tasks(["worker"], related_name=_module, force=True)

# Heartbeats (worker.heartbeat): left where the site reads them (a GPU node holds no database
# credentials), in Redis or under the data folder beside the file broker; as expiring tasks on
# the default queue only for a node with neither.
_heartbeat_expires_s = max(120, 4 * heartbeat.interval_s())


def _heartbeat_send(consumer: Any) -> heartbeat.Send:
    url = os.environ.get("REDIS_URL")
    if url:
        return heartbeat.send_to_redis(url)
    if not os.environ.get("CELERY_BROKER_URL"):
        return heartbeat.send_to_folder(data_dir() / heartbeat.FOLDER)
    return heartbeat.send_as_task(app, expires=_heartbeat_expires_s)


heartbeat.install(app, make_send=_heartbeat_send)
