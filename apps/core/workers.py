"""What the site knows of its workers and queues: heartbeats recorded (worker.heartbeat), the
messages waiting on each queue of the broker, and when beat last sent a periodic task. The
System page shows it to maintainers; a queued training run's page says from it whether a GPU
worker is there to take the run."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.models import WorkerHeartbeat
from worker import heartbeat

logger = logging.getLogger(__name__)

# The queues Hearth's workers consume (Makefile, docker-compose.yml): the page lists each.
QUEUES = ("default", "exports", "gpu")
# A worker is online while its last heartbeat is at most this many intervals old, plus a grace
# for a slow broker or a busy web-side worker recording a GPU node's beat.
MISSED_BEATS = 3
GRACE_S = 15
# A worker not heard from for this long leaves the page (its row is deleted).
FORGET_AFTER = dt.timedelta(days=7)
# Beat sends "expire-assignments" every minute, but django-celery-beat writes the times it
# sent a task to the database only every 3 minutes (Celery's Scheduler.sync_every): a last
# run older than this means beat is probably not running.
BEAT_QUIET_S = 6 * 60


class BadHeartbeat(ValueError):
    pass


def _text(payload: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadHeartbeat(f"{key} must be text")
    return value.strip()[:limit]


def _time(value: Any, key: str) -> dt.datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise BadHeartbeat(f"{key} must be an ISO 8601 time with its offset")
    return parsed


def _busy(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("task"), str):
        raise BadHeartbeat("busy must be null or name a task")
    busy: dict[str, Any] = {"task": value["task"][:200]}
    if isinstance(value.get("run_id"), int) and not isinstance(value["run_id"], bool):
        busy["run_id"] = value["run_id"]
    if isinstance(value.get("since"), str):
        busy["since"] = _time(value["since"], "busy.since").isoformat()
    return busy


def _parse(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or payload.get("version") != heartbeat.VERSION:
        raise BadHeartbeat(f"not a version {heartbeat.VERSION} heartbeat")
    queues = payload.get("queues")
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise BadHeartbeat("queues must be a list of names")
    interval = payload.get("interval")
    if not isinstance(interval, int | float) or isinstance(interval, bool) or not interval >= 1:
        raise BadHeartbeat("interval must be a number of seconds")
    pid = payload.get("pid")
    state = payload.get("state")
    if state not in WorkerHeartbeat.State.values:
        raise BadHeartbeat("state must be online or stopped")
    return {
        "hostname": _text(payload, "hostname", 255),
        "node": _text(payload, "node", 255, required=False),
        "state": state,
        "queues": [q[:100] for q in queues[:20]],
        "device": _text(payload, "device", 300, required=False),
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else 0,
        "started_at": _time(payload.get("started_at"), "started_at"),
        "last_seen": min(_time(payload.get("sent_at"), "sent_at"), timezone.now()),
        "interval_s": min(round(interval), 86_400),
        "busy": _busy(payload.get("busy")),
    }


@transaction.atomic
def record(payload: Any) -> WorkerHeartbeat | None:
    """Record a worker's heartbeat; None for one that is not a heartbeat (logged), or one
    sent no later than the beat already recorded (a late delivery, or the same beat read
    again from the store, changes nothing)."""
    try:
        fields = _parse(payload)
    except BadHeartbeat as exc:
        logger.warning("A heartbeat was not recorded: %s", exc)
        return None
    hostname = fields.pop("hostname")
    row, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
        hostname=hostname, defaults=fields
    )
    if not created:
        if row.last_seen >= fields["last_seen"]:
            return None  # a late delivery, or one read again
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
    WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - FORGET_AFTER).delete()
    return row


@dataclass(frozen=True)
class Worker:
    row: WorkerHeartbeat
    status: str  # "online", "busy", "stopped" or "silent"

    @property
    def online(self) -> bool:
        return self.status in ("online", "busy")


def status_of(row: WorkerHeartbeat, now: dt.datetime) -> str:
    if row.state == WorkerHeartbeat.State.STOPPED:
        return "stopped"
    quiet = (now - row.last_seen).total_seconds()
    if quiet > MISSED_BEATS * row.interval_s + GRACE_S:
        return "silent"
    return "busy" if row.busy else "online"


def collect() -> int:
    """Record the heartbeats GPU nodes left in the store (worker.heartbeat: the Redis hash, or
    the data folder's ``heartbeats/``), and forget those not heard from for FORGET_AFTER;
    how many were newer than those recorded. Called before showing the workers."""
    url = settings.REDIS_URL
    folder = settings.DATA_DIR / heartbeat.FOLDER
    try:
        found = heartbeat.read_redis(url) if url else heartbeat.read_folder(folder)
    except Exception as exc:  # Redis away: the page shows what was recorded, and says so
        logger.warning("Heartbeats could not be read: %s", exc)
        return 0
    cutoff = timezone.now() - FORGET_AFTER
    stale = [p for p in found if not _sent_after(p, cutoff)]
    # One query for what is recorded already, so that a page polled every few seconds (a
    # queued run's) records, under a row lock, only the beats that are newer.
    seen = dict(WorkerHeartbeat.objects.values_list("hostname", "last_seen"))
    newer = [p for p in found if p not in stale and _newer_than_recorded(p, seen)]
    recorded = sum(1 for p in newer if record(p) is not None)
    for payload in stale:  # not heard from for a week, or not a heartbeat: forgotten
        name = payload.get("hostname")
        if not isinstance(name, str):
            continue
        if url:
            import redis

            redis.Redis.from_url(url, socket_timeout=5).hdel(heartbeat.STORE_KEY, name)
        else:
            (folder / heartbeat.file_name(name)).unlink(missing_ok=True)
    return recorded


def _newer_than_recorded(payload: dict[str, Any], seen: dict[str, dt.datetime]) -> bool:
    name = payload.get("hostname")
    if not isinstance(name, str) or name not in seen:
        return True  # new, or not a heartbeat: record() says which
    return _sent_after(payload, seen[name])


def _sent_after(payload: dict[str, Any], cutoff: dt.datetime) -> bool:
    sent = parse_datetime(str(payload.get("sent_at", "")))
    return sent is not None and sent.tzinfo is not None and sent > cutoff


def workers(queue: str | None = None) -> list[Worker]:
    """Every worker heard from in the last week (of ``queue`` only, if given): online ones
    first, then by name. The GPU nodes' latest heartbeats are collected first."""
    collect()
    now = timezone.now()
    found = [
        Worker(row, status_of(row, now))
        for row in WorkerHeartbeat.objects.order_by("hostname")
        if queue is None or queue in row.queues
    ]
    return sorted(found, key=lambda w: (not w.online, w.row.hostname))


def queue_depths(
    queues: tuple[str, ...] = QUEUES, *, connect: Callable[[], Any] | None = None
) -> dict[str, int] | None:
    """Messages waiting on each queue of the broker (taken ones not counted); None when the
    broker did not answer within a few seconds. ``connect`` makes the kombu connection
    (default: the site's broker)."""
    if connect is None:
        from apps.celery import app

        connect = app.connection_for_read
    try:
        with connect() as conn:
            conn.ensure_connection(max_retries=0, timeout=3)
            channel: Any = conn.default_channel
            return {name: channel.queue_declare(queue=name).message_count for name in queues}
    except Exception as exc:  # any broker failure: the page says it did not answer
        logger.warning("The broker did not answer for the System page: %s", exc)
        return None


def beat_last_run() -> dt.datetime | None:
    """When beat last sent an enabled periodic task (django-celery-beat records it)."""
    from django_celery_beat.models import PeriodicTask

    found: dt.datetime | None = PeriodicTask.objects.filter(enabled=True).aggregate(
        last=Max("last_run_at")
    )["last"]
    return found


def service_checks() -> dict[str, str]:
    """``ok`` or ``error: <exception>`` for the database, and Redis when it is configured."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    return checks


def overview() -> dict[str, Any]:
    """Everything the System page and its API show: the services' checks, beat, every worker
    heard from, the messages waiting on each queue (with the workers online for it), and the
    work waiting in the database (queued training runs, releases being built)."""
    from apps.releases.models import Release, ReleaseState
    from apps.training.models import RunState, TrainingRun

    found = workers()
    depths = queue_depths()
    beat_last = beat_last_run()
    queued_runs = TrainingRun.objects.filter(state=RunState.QUEUED)
    return {
        "checks": service_checks(),
        "broker": "redis" if settings.REDIS_URL else "files",
        "workers": found,
        "queues": [
            {
                "name": name,
                "waiting": None if depths is None else depths.get(name),
                "online": sum(1 for w in found if w.online and name in w.row.queues),
            }
            for name in QUEUES
        ],
        "broker_answered": depths is not None,
        "beat_last": beat_last,
        "beat_quiet": beat_last is None
        or (timezone.now() - beat_last).total_seconds() > BEAT_QUIET_S,
        "queued_runs": queued_runs.count(),
        "oldest_queued_run": queued_runs.order_by("created_at").first(),
        "building_releases": Release.objects.filter(state=ReleaseState.BUILDING).count(),
    }
