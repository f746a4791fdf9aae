from __future__ import annotations

from celery import shared_task

from apps.core.caching import warm_site_wide


@shared_task(name="core.warm_caches", ignore_result=True)
def warm_caches() -> list[str]:
    """Beat, every 20 seconds: compute again the site-wide cached values (home page counts,
    Community boards, Progress, the releases' suggested test share) about to go stale, so
    that no visitor waits for one (``caching.warm_site_wide``). Runs that piled up while no
    worker took them find the values fresh and compute nothing."""
    return warm_site_wide()
