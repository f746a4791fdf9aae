"""Celery beat's scheduler: django-celery-beat's database scheduler, except that it never undoes
what a maintainer set in the admin.

* **Recording a run** writes only what a run changes. django-celery-beat reads the schedule's
  row again and saves every column of it, so a maintainer's edit (interval, on/off, options)
  committed between that read and that write was silently undone. Here the run is recorded
  with one UPDATE of ``last_run_at`` and ``total_run_count``, so an edit made at any moment
  survives. Like the library's own save, it does not mark the schedules as changed: a run is
  not an edit.
* **Starting** creates the built-in entries (settings' ``CELERY_BEAT_SCHEDULE``, and Celery's
  own ``celery.backend_cleanup``) only where their row is missing. django-celery-beat writes
  each of them over its row on every start (``update_or_create``): an interval, arguments or
  options edited in the admin went back at the next restart of beat, while switching one off
  survived. Here an existing row is left as it is, as ``ensure_schedules`` leaves the training
  schedules. So a changed default in settings reaches only new installations (or a row deleted
  in the admin, which the next start makes again from settings: switch a built-in entry off
  rather than delete it).
"""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry


class RunRecordingEntry(ModelEntry):
    def save(self) -> None:
        type(self.model)._default_manager.filter(pk=self.model.pk).update(
            last_run_at=self.model.last_run_at, total_run_count=self.model.total_run_count
        )

    @classmethod
    def from_entry(cls, name: str, app: Any = None, **entry: Any) -> RunRecordingEntry:
        """The entry of the row named ``name``, created from ``entry`` if there is none."""
        row = PeriodicTask._default_manager.filter(name=name).first()
        if row is None:
            # _unpack_fields saves the interval (or crontab) it refers to: only for a new row.
            row, _created = PeriodicTask._default_manager.get_or_create(
                name=name, defaults=cls._unpack_fields(**entry)
            )
        return cls(row, app=app)


class Scheduler(DatabaseScheduler):
    Entry = RunRecordingEntry
