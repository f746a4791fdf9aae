from __future__ import annotations

from celery import shared_task

from apps.releases.building import release_build


# acks_late + reject_on_worker_lost: a build whose worker dies is delivered again, and a
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


@shared_task(
    name="releases.publish",
    queue="exports",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OSError, ConnectionError),
    retry_backoff=True,
    retry_kwargs={"max_retries": 6},
)
def publish_release(release_id: int) -> str:
    """Publish one release to the Hub; safe to run again (see apps.releases.publishing)."""
    from apps.releases.publishing import release_publish

    return release_publish(release_id).hub_revision
