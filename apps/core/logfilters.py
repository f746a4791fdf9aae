"""Logging filters that keep the worker, beat and web logs for what an operator needs.

* :class:`RoutineHousekeeping`: beat's periodic housekeeping (every 20 s to every hour) made
  most of the worker's and beat's INFO log, about 250 lines in 11 minutes: Celery's "Sending
  due task", "received" and "succeeded" lines for each tick, and core.warm_caches' list of
  the cache keys it computed every 20 s. Those lines go to DEBUG. A housekeeping task that
  did something (expired assignments, removed files, sent stalled runs again: its result is
  not empty or 0) still says so at INFO, and failures and warnings are never touched.
* :class:`OneLineDisallowedHost`: a request for a host not in ALLOWED_HOSTS (internet
  scanners send them all day) is a one-line WARNING, not an ERROR with its traceback.

Both change the record and, when its new level is below the logger's, drop it; they are
attached to the loggers that write those records (settings' LOGGING), so they hold whatever
handlers Celery or gunicorn set up.
"""

from __future__ import annotations

import logging

# Beat's built-in periodic tasks (settings' CELERY_BEAT_SCHEDULE), and Celery's own.
HOUSEKEEPING_TASKS = frozenset(
    {
        "assignments.expire",
        "training.retry_stalled",
        "collection.expire_imports",
        "releases.remove_leftovers",
        "core.warm_caches",
        "celery.backend_cleanup",
    }
)
# Tasks whose result, however long, is no news: warming the caches is what keeps them fresh.
ALWAYS_ROUTINE = frozenset({"core.warm_caches"})
# What Celery's success line shows (saferepr of the result) for a tick that did nothing.
_NOTHING_DONE = frozenset({"None", "0", "[]", "()", "{}", "''", "set()"})
_SENDING_DUE = "Scheduler: Sending due task"


def _demote(record: logging.LogRecord, level: int) -> bool:
    record.levelno = level
    record.levelname = logging.getLevelName(level)
    return logging.getLogger(record.name).isEnabledFor(level)


def _task_context(record: logging.LogRecord) -> dict[str, object] | None:
    """The context Celery's "received" and "succeeded" lines are formatted from."""
    data = getattr(record, "data", None)
    if isinstance(data, dict):
        return data
    return record.args if isinstance(record.args, dict) else None


class RoutineHousekeeping(logging.Filter):
    """For the loggers celery.beat, celery.worker.strategy and celery.app.trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = str(record.msg)
        if message.startswith(_SENDING_DUE):
            args = record.args if isinstance(record.args, tuple) else ()
            if len(args) == 2 and args[1] in HOUSEKEEPING_TASKS:
                return _demote(record, logging.DEBUG)
            return True
        context = _task_context(record)
        if context is None or context.get("name") not in HOUSEKEEPING_TASKS:
            return True
        if message.rstrip().endswith("received"):
            return _demote(record, logging.DEBUG)
        if "return_value" in context and (
            context["name"] in ALWAYS_ROUTINE or str(context["return_value"]) in _NOTHING_DONE
        ):
            return _demote(record, logging.DEBUG)
        return True


class OneLineDisallowedHost(logging.Filter):
    """For the logger django.security.DisallowedHost: its message ("Invalid HTTP_HOST
    header: 'x'. You may need to add 'x' to ALLOWED_HOSTS.") says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if record.levelno > logging.WARNING:
            return _demote(record, logging.WARNING)
        return True
