from __future__ import annotations

from celery import shared_task

from apps.collection.import_jobs import expire_imports, import_run
from apps.collection.models import Import


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
    upload files no import is waiting for (``import_jobs.expire_imports``)."""
    return expire_imports()
