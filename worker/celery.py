"""The GPU-node Celery app. It consumes only the "gpu" queue and never imports Django:
GPU nodes get a JSON spec, do the work, and report back through a task on the default queue."""

from __future__ import annotations

import os

from celery import Celery

BROKER_URL = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")

app = Celery("hearth-gpu", broker=BROKER_URL or None)
app.conf.update(
    task_default_queue="gpu",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks(["worker"], related_name="jobs", force=True)
