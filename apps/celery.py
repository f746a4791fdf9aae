"""The Django-side Celery app: default and exports queues. Broker from REDIS_URL, else the
embedded filesystem broker (see settings)."""

import os
import signal

from celery import Celery
from celery.signals import beat_embedded_init, worker_init

from worker import heartbeat
from worker.lifetime import end_with_parent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.settings")

app = Celery("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The worker's main process, remembered before it starts an embedded beat (fork copies it).
_worker_pid: int | None = None


@app.task(name="hearth.ping")
def ping() -> str:
    return "pong"


@worker_init.connect
def _remember_worker(**kwargs: object) -> None:
    global _worker_pid
    _worker_pid = os.getpid()


@beat_embedded_init.connect
def _die_with_worker(**kwargs: object) -> None:
    """Make the beat that ``worker --beat`` runs in a child process end with its worker.

    Crash QA: a SIGKILLed worker left its beat running, and after a restart two beats sent
    every periodic job. Linux now sends the beat SIGTERM when the worker's main thread, which
    starts it, ends (PR_SET_PDEATHSIG): beat stops as on ``kill``, saving its schedule. A beat
    whose worker ended before this ran exits at once. Only in a beat embedded as a process
    (this signal is not sent to a threaded or standalone ``celery beat``); elsewhere than
    Linux, nothing.
    """
    if end_with_parent(signal.SIGTERM) and os.getppid() != _worker_pid:
        raise SystemExit("beat: its worker has ended")


def _record_heartbeat(consumer: object) -> heartbeat.Send:
    """A web-side worker records its heartbeats itself: it has the database, and a message to
    itself would wait behind the task it is busy with."""

    def send(payload: dict[str, object]) -> None:
        from django.db import connection

        from apps.core import workers

        try:
            workers.record(payload)
        finally:
            connection.close()  # this thread's own connection, opened for the beat

    return send


heartbeat.interval_s()  # a bad HEARTH_WORKER_HEARTBEAT_SECONDS stops it at start, as a GPU worker
heartbeat.install(app, make_send=_record_heartbeat)
