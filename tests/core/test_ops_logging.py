"""Operator QA of the logs and the 400 page.

* A request for a host not in ALLOWED_HOSTS (internet scanners send them all day) got Django's
  bare "Bad Request (400)" and an ERROR with a 30-line traceback: now the site's own 400 page
  and one WARNING line.
* At INFO the worker's and beat's logs were mostly beat's housekeeping (~250 lines in 11
  minutes; core.warm_caches printed its whole key list every 20 s): those lines are DEBUG now,
  and a housekeeping task that did something still says so at INFO. Through the loggers and
  filters of settings' LOGGING, with Celery's own log calls.
"""

from __future__ import annotations

import logging

import pytest
from celery import beat
from celery.app import trace
from celery.worker import strategy
from django.test import Client

pytestmark = pytest.mark.django_db

SCANNER = "scanner.example"


@pytest.mark.parametrize("path", ["/", "/api/v1/prompts/", "/.env"])
def test_an_unknown_host_gets_the_sites_400_page(path):
    r = Client().get(path, HTTP_HOST=SCANNER)
    assert r.status_code == 400
    assert "400.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert '<header class="site-header">' in html
    assert "<h1>Bad request</h1>" in html
    assert '<a class="button" href="/">Go to the home page</a>' in html
    assert SCANNER not in html


def test_an_unknown_host_is_one_warning_line_in_the_log(caplog):
    caplog.set_level(logging.INFO)
    Client().get("/", HTTP_HOST=SCANNER)
    records = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert len(records) == 1
    (record,) = records
    assert record.levelname == "WARNING" and record.exc_info is None
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line == (
        f"WARNING django.security.DisallowedHost: Invalid HTTP_HOST header: '{SCANNER}'. "
        f"You may need to add '{SCANNER}' to ALLOWED_HOSTS."
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _received(name: str) -> None:
    context = {"id": "1", "name": name, "args": "()", "kwargs": "{}", "eta": None}
    strategy.logger.info(trace.LOG_RECEIVED, context, extra={"data": context})


def _succeeded(name: str, result: str) -> None:
    trace.info(
        trace.LOG_SUCCESS,
        {"id": "1", "name": name, "return_value": result, "runtime": 0.01, "args": "()",
         "kwargs": "{}"},
    )  # fmt: skip


def _sent(entry: str, task: str) -> None:
    beat.info("Scheduler: Sending due task %s (%s)", entry, task)


def test_beats_routine_housekeeping_is_not_logged_at_info(caplog):
    caplog.set_level(logging.INFO)
    _sent("warm-site-wide-caches", "core.warm_caches")
    _received("core.warm_caches")
    _succeeded("core.warm_caches", "['collection:site-counts:v1', 'community:board:week']")
    _sent("expire-assignments", "assignments.expire")
    _received("assignments.expire")
    _succeeded("assignments.expire", "0")
    for task in (
        "training.retry_stalled",
        "collection.expire_imports",
        "releases.remove_leftovers",
    ):
        _received(task)
        _succeeded(task, "[]")
    assert caplog.messages == []


def test_housekeeping_that_did_something_and_all_other_tasks_still_log_at_info(caplog):
    caplog.set_level(logging.INFO)
    _succeeded("assignments.expire", "3")
    _succeeded("releases.remove_leftovers", "['v4.tmp-1234']")
    _sent("a-maintainers-schedule", "training.auto_release")
    _received("releases.build")
    _succeeded("releases.build", "None")
    assert [(r.levelname, r.getMessage().split(" succeeded")[0]) for r in caplog.records] == [
        ("INFO", "Task assignments.expire[1]"),
        ("INFO", "Task releases.remove_leftovers[1]"),
        ("INFO", "Scheduler: Sending due task a-maintainers-schedule (training.auto_release)"),
        ("INFO", "Task releases.build[1] received"),
        ("INFO", "Task releases.build[1]"),
    ]


def test_with_log_level_debug_the_housekeeping_lines_are_there_as_debug(caplog):
    caplog.set_level(logging.DEBUG)
    _succeeded("core.warm_caches", "['collection:site-counts:v1']")
    assert [r.levelname for r in caplog.records] == ["DEBUG"]
