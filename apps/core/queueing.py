"""Sending a job to a Celery worker once the transaction that asked for it commits, without
losing the request when the broker refuses it.

``transaction.on_commit(send)`` runs ``send`` after the row that stands for the job (a
release building, a run queued, an import, a publish) is committed; a broker that refuses
the message then (Redis down, a full disk under the embedded default's file broker) raised
out of the request as a 500 although the row was saved, and an idempotent retry replayed the
saved success while no job was queued: the release showed "Building" for ever with no way to
rebuild it (crash QA). Here the failure is logged, and ``unsent`` marks the row failed with
the reason, so its page says what happened and offers the retry it offers after any failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)


def send_on_commit(send: Callable[[], object], *, unsent: Callable[[Exception], object]) -> None:
    """Call ``send`` once the current transaction commits (at once outside one); if it
    raises, log it and call ``unsent`` with the exception. ``unsent`` should update its row
    only where nothing has moved it on since (a conditional UPDATE)."""

    def run() -> None:
        try:
            send()
        except Exception as exc:
            logger.exception("A job could not be queued")
            try:
                unsent(exc)
            except Exception:  # the database may be the thing that is down
                logger.exception("…and the job's row could not be marked failed")

    transaction.on_commit(run)


def unsent_reason(exc: Exception) -> str:
    """What a row's error says when its job could not be queued. Celery's own words for a
    result store it could not reach ("… The Celery application must be restarted.") are not
    true of Hearth's web process, which queues again once Redis answers: said plainly."""
    text = " ".join(str(exc).split())
    if isinstance(exc, RuntimeError) and "reconnect to the Celery result store" in text:
        text = "Redis, which holds the jobs' results, did not answer. Retry once it is back."
    return f"The job could not be queued: {type(exc).__name__}: {text}"
