"""Django-side training tasks: reports from GPU workers, and the two schedules.

``training.report`` runs on the default queue (the GPU worker sends it by name).
``training.auto_release`` and ``training.auto_train`` are periodic tasks from
django-celery-beat (rows made by this app's migration, disabled until a maintainer turns them
on in the dashboard or admin).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.training import schedules, services


@shared_task(name="training.report", queue="default", ignore_result=True)
def report(run_id: int, attempt: int, payload: dict[str, Any]) -> None:
    """Apply a GPU worker's report (idempotent; see services.run_report)."""
    services.run_report(run_id=run_id, attempt=attempt, payload=payload)


@shared_task(name="training.auto_release", queue="default", ignore_result=True)
def auto_release(**options: Any) -> str:
    """Cut a release when enough new accepted items exist since the last one."""
    return schedules.maybe_cut_release(**options)


@shared_task(name="training.auto_train", queue="default", ignore_result=True)
def auto_train(**options: Any) -> str:
    """Queue one SFT and one reward run on each new finished release."""
    return schedules.maybe_train(**options)


@shared_task(name="training.retry_stalled", queue="default", ignore_result=True)
def retry_stalled() -> list[int]:
    """Send again the runs whose GPU worker stopped reporting (every minute, from beat)."""
    return services.runs_retry_stalled()
