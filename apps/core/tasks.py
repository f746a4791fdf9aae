from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.core import workers
from apps.core.caching import warm_site_wide


@shared_task(name="core.warm_caches", ignore_result=True)
def warm_caches() -> list[str]:
    """Beat, every 20 seconds: compute again the site-wide cached values (home page counts,
    Community boards, Progress, the releases' suggested test share) about to go stale, so
    that no visitor waits for one (``caching.warm_site_wide``). Runs that piled up while no
    worker took them find the values fresh and compute nothing."""
    return warm_site_wide()


@shared_task(name="core.worker_seen", ignore_result=True)
def worker_seen(payload: dict[str, Any]) -> None:
    """A GPU node's heartbeat (worker.heartbeat), recorded for the System page."""
    workers.record(payload)
