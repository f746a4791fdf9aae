"""A Celery app on the embedded default's file broker (worker.brokers), for the test that
kills its worker mid-task: ``celery -A tests.worker.redelivery_app worker``. Its folder is
``REDELIVERY_DIR``; the task notes each start and its end in files there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

from worker.brokers import FILESYSTEM_TRANSPORT

FOLDER = Path(os.environ.get("REDELIVERY_DIR", "/nonexistent"))

app = Celery("redelivery")
app.conf.update(
    broker_url="filesystem://localhost/",
    broker_transport=FILESYSTEM_TRANSPORT,
    broker_transport_options={
        "data_folder_in": str(FOLDER / "queue"),
        "data_folder_out": str(FOLDER / "queue"),
        "processed_folder": str(FOLDER / "processed"),
        "control_folder": str(FOLDER / "control"),
        "store_processed": False,
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


@app.task(name="redelivery.slow")
def slow(name: str, seconds: float) -> None:
    """Note a start, take ``seconds``, note the end."""
    with open(FOLDER / f"{name}.starts", "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    (FOLDER / f"{name}.done").write_text(str(os.getpid()))
