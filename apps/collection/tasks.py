from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings

from apps.collection.import_jobs import expire_imports, import_run
from apps.collection.models import Import

logger = logging.getLogger(__name__)

# A temporary upload file unchanged for this long belongs to no request still running: Django
# deletes its own at the end of the request, so it is a killed web process's. Far above the
# longest upload (HEARTH_IMPORT_MAX_BYTES over a slow link) and its import_start.
UPLOAD_TEMP_MAX_AGE = timedelta(hours=6)


# acks_late + reject_on_worker_lost: an import whose worker dies is delivered again (by Redis
# after its visibility timeout; by the file broker when a worker next starts), and goes on
# from its last committed batch.
@shared_task(
    name="collection.import",
    queue="exports",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def import_file(import_id: int) -> str:
    """Import one uploaded file (``import_jobs.import_run``). A failure marks the import failed
    with the reason and is raised again for the worker's log; it is not retried. A message for
    an import no longer in the database (its row deleted) is dropped."""
    try:
        return str(import_run(import_id).status)
    except Import.DoesNotExist:
        return "gone"


@shared_task(name="collection.expire_imports", ignore_result=True)
def expire_import_files() -> list[int]:
    """Beat, hourly: discard imports failed or stalled for HEARTH_IMPORT_KEEP_DAYS and remove
    upload files no import is waiting for (``import_jobs.expire_imports``), and temporary
    upload files a killed web process left (``upload_temp_files_remove``)."""
    upload_temp_files_remove()
    return expire_imports()


def upload_temp_files_remove(*, older_than: timedelta = UPLOAD_TEMP_MAX_AGE) -> list[str]:
    """Remove the files in FILE_UPLOAD_TEMP_DIR (Django's temporary files of large uploads)
    unchanged for ``older_than``; returns their names. Not at web start: another web process
    may be receiving an upload there."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than.total_seconds()
    removed = []
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):  # its request ended meanwhile
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                logger.info("uploads: removing %s, left by a stopped web process", path.name)
                removed.append(path.name)
    return sorted(removed)
