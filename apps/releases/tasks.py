from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.releases.building import release_build, release_leftovers_remove
from worker.hub import is_transient

# Tries of a publish that meets transient errors (network, Hub 429 or 5xx), and the wait
# before each retry: 10 s, doubling, at most 10 minutes (about 20 minutes in all).
PUBLISH_TRIES = 7
PUBLISH_BACKOFF_S = 10
PUBLISH_BACKOFF_MAX_S = 600


# acks_late + reject_on_worker_lost: a build whose worker dies is delivered again (by Redis
# after its visibility timeout; by the file broker when a worker next starts), and a
# rebuild is safe (it removes the earlier attempt's leftovers and starts over).
@shared_task(
    name="releases.build",
    queue="exports",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def build_release(release_id: int) -> str:
    """Build one release. A failure marks it failed with the reason (release_build does)
    and is raised again for the worker's log; it is not retried."""
    return str(release_build(release_id).state)


@shared_task(name="releases.remove_leftovers", ignore_result=True)
def remove_build_leftovers() -> list[str]:
    """Beat, hourly: remove the temp folders of build attempts that can no longer finish, such
    as a killed build's (``release_leftovers_remove``)."""
    return release_leftovers_remove()


@shared_task(
    bind=True,
    name="releases.publish",
    queue="exports",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def publish_release(self: Any, release_id: int) -> str:
    """Publish one release to the Hub; safe to run again (see apps.releases.publishing).

    A transient error (``worker.hub.is_transient``) is retried with a growing wait, the
    release staying ``publishing`` with the error noted, up to PUBLISH_TRIES tries; any
    other error, or the last try's, marks its publish failed with the reason and is raised
    again for the worker's log. An attempt that finds another publishing the same release
    leaves it to that one."""
    from apps.releases.publishing import (
        PublishBusy,
        release_publish,
        release_publish_failed,
        release_publish_retrying,
    )

    tries = self.request.retries + 1
    try:
        return release_publish(release_id).hub_revision
    except PublishBusy:
        return ""
    except Exception as exc:
        if is_transient(exc) and tries < PUBLISH_TRIES:
            release_publish_retrying(release_id=release_id, exc=exc, attempt=tries)
            wait = min(PUBLISH_BACKOFF_MAX_S, PUBLISH_BACKOFF_S * 2 ** (tries - 1))
            raise self.retry(exc=exc, countdown=wait, max_retries=PUBLISH_TRIES - 1) from exc
        release_publish_failed(release_id=release_id, exc=exc, tries=tries)
        raise
