from __future__ import annotations

from celery import shared_task

from apps.assignments.services import assignments_expire


@shared_task(name="assignments.expire")
def expire_assignments() -> int:
    """Periodic (celery beat, every minute): give back the slots of overdue tasks."""
    return assignments_expire()
