"""Operator QA: a built-in periodic task's interval edited in the admin went back to
settings' value when beat restarted (django-celery-beat wrote CELERY_BEAT_SCHEDULE over the
rows on every start); switching one off survived. Hearth's scheduler creates the built-in
entries only where their row is missing (apps/core/beat.py). Beat's real scheduler, started
twice against the test database."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django_celery_beat import schedulers
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.celery import app
from apps.core.beat import Scheduler

pytestmark = pytest.mark.django_db

NAME = "remove-release-build-leftovers"


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """The scheduler drops connections it thinks stale before each sync; inside the test's
    transaction that would be the test's own."""
    monkeypatch.setattr(schedulers, "close_old_connections", lambda: None)


def start_beat() -> Scheduler:
    """What `celery beat` does on start: the scheduler, its schedule set up from the database
    and settings."""
    return Scheduler(app=app)


def test_the_first_start_creates_each_built_in_entry_from_settings():
    PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE).delete()
    beat = start_beat()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        row = PeriodicTask.objects.get(name=name)
        assert row.task == entry["task"] and row.enabled
        assert row.interval.every == int(entry["schedule"])
        assert row.interval.period == IntervalSchedule.SECONDS
        assert name in beat.schedule


def test_an_interval_edited_in_the_admin_survives_a_restart_of_beat():
    start_beat()
    row = PeriodicTask.objects.get(name=NAME)
    two_hours, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.HOURS)
    row.interval = two_hours
    row.kwargs = json.dumps({"note": "edited"})
    row.priority = 3
    row.save()

    beat = start_beat()  # a restart

    row = PeriodicTask.objects.get(name=NAME)
    assert (row.interval.every, row.interval.period) == (2, IntervalSchedule.HOURS)
    assert json.loads(row.kwargs) == {"note": "edited"}
    assert row.priority == 3
    assert beat.schedule[NAME].schedule.run_every.total_seconds() == 7200


def test_an_entry_switched_off_stays_off_and_a_deleted_one_comes_back():
    start_beat()
    PeriodicTask.objects.filter(name=NAME).update(enabled=False)
    PeriodicTask.objects.filter(name="expire-import-files").delete()

    beat = start_beat()

    assert not PeriodicTask.objects.get(name=NAME).enabled
    assert NAME not in beat.schedule
    assert PeriodicTask.objects.get(name="expire-import-files").enabled
