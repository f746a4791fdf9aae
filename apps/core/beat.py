"""Celery beat's scheduler: django-celery-beat's database scheduler, except that recording a
run writes only what a run changes.

django-celery-beat records a run by reading the schedule's row again and saving every
column of it. A maintainer's edit (interval, on/off, options) committed between that read
and that write was silently undone. Here the run is recorded with one UPDATE of
``last_run_at`` and ``total_run_count``, so an edit made at any moment survives. Like the
library's own save, it does not mark the schedules as changed: a run is not an edit.
"""

from __future__ import annotations

from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry


class RunRecordingEntry(ModelEntry):
    def save(self) -> None:
        type(self.model)._default_manager.filter(pk=self.model.pk).update(
            last_run_at=self.model.last_run_at, total_run_count=self.model.total_run_count
        )


class Scheduler(DatabaseScheduler):
    Entry = RunRecordingEntry
