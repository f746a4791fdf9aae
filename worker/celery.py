"""The GPU-node Celery app. It consumes only the "gpu" queue and never imports Django:
GPU nodes get a JSON spec, do the work, and report back through a task on the default queue.

Broker: REDIS_URL (or CELERY_BROKER_URL); unset means the same server-less filesystem broker
as the web side's embedded default, under HEARTH_DATA_DIR/broker, so `make run` needs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery


def broker_settings() -> dict[str, Any]:
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    if url:
        return {"broker_url": url}
    data_dir = Path(
        os.environ.get("HEARTH_DATA_DIR") or Path(__file__).resolve().parents[1] / "var"
    )
    queue = data_dir / "broker" / "queue"
    processed = data_dir / "broker" / "processed"
    control = data_dir / "broker" / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
        },
    }


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
)
app.autodiscover_tasks(["worker"], related_name="jobs", force=True)
