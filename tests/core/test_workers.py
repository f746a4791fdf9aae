"""Workers' heartbeats and the System page: which workers are up, on which queues, doing what;
the messages waiting on each queue; beat; and, on a queued run's page, whether a GPU worker is
there to take it. The last test runs a real GPU worker and a real web-side worker."""

from __future__ import annotations

import datetime as dt
import os
import signal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from kombu import Connection

from apps.core import workers
from apps.core.models import WorkerHeartbeat
from apps.training.models import RunState
from tests.celery_workers import django_env, start_worker, wait_for, workers_on
from tests.missing import missing
from tests.training.conftest import make_release
from tests.training.test_web import make_run
from worker import heartbeat
from worker.brokers import FILESYSTEM_TRANSPORT

pytestmark = pytest.mark.django_db


def beat(**changes: Any) -> dict[str, Any]:
    now = timezone.now()
    payload: dict[str, Any] = {
        "version": heartbeat.VERSION,
        "hostname": "gpu@node-1",
        "state": "online",
        "queues": ["gpu"],
        "device": "NVIDIA H100 80GB HBM3",
        "pid": 4242,
        "node": "node-1",
        "started_at": (now - dt.timedelta(hours=2)).isoformat(),
        "sent_at": now.isoformat(),
        "interval": 30,
        "busy": None,
    }
    payload.update(changes)
    return payload


def test_a_heartbeat_is_recorded_and_the_next_one_updates_it():
    row = workers.record(beat())
    assert row is not None
    assert (row.hostname, row.queues, row.device, row.pid) == (
        "gpu@node-1",
        ["gpu"],
        "NVIDIA H100 80GB HBM3",
        4242,
    )
    later = timezone.now() + dt.timedelta(seconds=1)
    workers.record(beat(sent_at=later.isoformat(), busy={"task": "worker.train_run", "run_id": 7}))
    assert WorkerHeartbeat.objects.count() == 1
    row = WorkerHeartbeat.objects.get()
    assert row.busy == {"task": "worker.train_run", "run_id": 7}
    # Never in the future, whatever the node's clock says.
    assert row.last_seen <= timezone.now()


def test_a_late_heartbeat_changes_nothing():
    now = timezone.now()
    workers.record(beat(sent_at=now.isoformat(), busy={"task": "worker.train_run", "run_id": 3}))
    old = (now - dt.timedelta(seconds=40)).isoformat()
    assert workers.record(beat(sent_at=old, busy=None)) is None
    assert WorkerHeartbeat.objects.get().busy == {"task": "worker.train_run", "run_id": 3}


@pytest.mark.parametrize(
    "bad",
    [
        "not a dict",
        {**beat(), "version": 99},
        {**beat(), "hostname": ""},
        {**beat(), "queues": "gpu"},
        {**beat(), "interval": 0},
        {**beat(), "interval": True},
        {**beat(), "state": "dancing"},
        {**beat(), "sent_at": "yesterday"},
        {**beat(), "sent_at": "2026-11-29T10:00:00"},  # no offset
        {**beat(), "busy": {"run_id": 3}},
    ],
)
def test_what_is_not_a_heartbeat_is_logged_and_not_recorded(bad, caplog):
    assert workers.record(bad) is None
    assert not WorkerHeartbeat.objects.exists()
    assert "A heartbeat was not recorded" in caplog.text


def test_a_worker_is_online_busy_silent_or_stopped():
    now = timezone.now()
    row = workers.record(beat())
    assert row is not None
    assert workers.status_of(row, now) == "online"
    row.busy = {"task": "releases.build"}
    assert workers.status_of(row, now) == "busy"
    # Three missed beats and the grace: not heard from.
    quiet = workers.MISSED_BEATS * row.interval_s + workers.GRACE_S
    assert workers.status_of(row, now + dt.timedelta(seconds=quiet - 1)) == "busy"
    assert workers.status_of(row, now + dt.timedelta(seconds=quiet + 1)) == "silent"
    row.state = WorkerHeartbeat.State.STOPPED
    assert workers.status_of(row, now) == "stopped"


def test_workers_not_heard_from_for_a_week_are_forgotten():
    long_ago = timezone.now() - workers.FORGET_AFTER - dt.timedelta(minutes=1)
    workers.record(beat(hostname="old@node-0", sent_at=long_ago.isoformat()))
    workers.record(beat())
    assert list(WorkerHeartbeat.objects.values_list("hostname", flat=True)) == ["gpu@node-1"]


def test_workers_of_a_queue_online_first():
    now = timezone.now()
    workers.record(beat(hostname="b@gpu", sent_at=now.isoformat()))
    workers.record(beat(hostname="a@gpu", sent_at=(now - dt.timedelta(hours=1)).isoformat()))
    workers.record(beat(hostname="web@host", queues=["default", "exports"]))
    assert [w.row.hostname for w in workers.workers("gpu")] == ["b@gpu", "a@gpu"]
    assert [w.status for w in workers.workers("gpu")] == ["online", "silent"]
    assert [w.row.hostname for w in workers.workers("exports")] == ["web@host"]


def test_the_messages_waiting_are_counted_on_redis():
    if not settings.REDIS_URL:
        missing("needs Redis (REDIS_URL)")
    from apps.celery import app

    with workers_on("gpu", "exports"):
        for _ in range(3):
            app.send_task("worker.train_run", args=[{}], queue="gpu")
        app.send_task("releases.build", args=[1], queue="exports")
        depths = workers.queue_depths()
    assert depths == {"default": 0, "exports": 1, "gpu": 3}


def test_the_messages_waiting_are_counted_on_the_file_broker(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path),
        "store_processed": False,
    }
    with Connection("filesystem://localhost/", transport=FILESYSTEM_TRANSPORT) as conn:
        conn.transport_options = options
        producer = conn.Producer()
        for queue in ("gpu", "gpu", "default"):
            producer.publish({"x": 1}, routing_key=queue, declare=[])
    found = workers.queue_depths(
        connect=lambda: Connection(
            "filesystem://localhost/", transport=FILESYSTEM_TRANSPORT, transport_options=options
        )
    )
    assert found == {"default": 1, "exports": 0, "gpu": 2}


def test_a_broker_that_does_not_answer_is_said_so():
    assert workers.queue_depths(connect=lambda: Connection("redis://127.0.0.1:1/0")) is None


def test_beat_last_run_is_the_latest_enabled_periodic_task():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    now = timezone.now()
    PeriodicTask.objects.create(name="a", task="x", interval=every, last_run_at=now)
    PeriodicTask.objects.create(
        name="b", task="y", interval=every, enabled=False, last_run_at=now + dt.timedelta(hours=1)
    )
    assert workers.beat_last_run() == now


# The page ---------------------------------------------------------------------------------


def page(client: Client) -> str:
    response = client.get("/system/")
    assert response.status_code == 200
    return response.content.decode()


def test_only_maintainers_see_the_system_page(client, volunteer, moderator):
    assert client.get("/system/").status_code == 302  # to sign in
    client.force_login(volunteer)
    assert client.get("/system/").status_code == 403
    client.force_login(moderator)
    assert client.get("/system/").status_code == 403


def test_with_no_worker_heard_from_the_page_says_how_to_start_one(client, maintainer):
    client.force_login(maintainer)
    html = page(client)
    assert 'data-testid="no-workers"' in html
    assert "No worker has reported yet." in html


def test_the_page_lists_workers_queues_and_the_work_waiting(client, maintainer):
    release = make_release()
    run = make_run(release, state=RunState.RUNNING)
    make_run(release, state=RunState.QUEUED)
    workers.record(beat(busy={"task": "worker.train_run", "run_id": run.pk}))
    workers.record(beat(hostname="web@host", queues=["default", "exports"], device="CPU"))
    long_ago = timezone.now() - dt.timedelta(hours=1)
    workers.record(beat(hostname="gpu@node-2", sent_at=long_ago.isoformat()))
    client.force_login(maintainer)
    html = page(client)
    assert html.count('data-testid="worker"') == 3
    assert f'href="/training/runs/{run.pk}/">training run #{run.pk}</a>' in html
    assert "NVIDIA H100 80GB HBM3" in html
    assert "Not heard from" in html and "waiting for work" in html
    assert "1 training run is waiting for a GPU worker" in html
    # The queues' rows: one GPU worker online of the two heard from.
    gpu_row = html.split('data-testid="queue-gpu"')[1].split("</tr>")[0]
    assert gpu_row.rstrip().endswith('<td data-label="Workers online">1</td>')


def test_the_nav_links_the_page_for_maintainers(client, maintainer, volunteer):
    client.force_login(maintainer)
    assert 'href="/system/"' in client.get("/").content.decode()
    client.force_login(volunteer)
    assert 'href="/system/"' not in client.get("/").content.decode()


@pytest.mark.parametrize(
    ("gpu_beats", "says"),
    [
        ([], "No GPU worker is online"),
        ([{"busy": {"task": "worker.train_run", "run_id": 999}}], "The GPU worker is busy"),
        ([{}], "A GPU worker is online and should take it shortly."),
    ],
)
def test_a_queued_runs_page_says_whether_a_gpu_worker_will_take_it(
    client, maintainer, gpu_beats, says
):
    run = make_run(make_release(), state=RunState.QUEUED)
    workers.record(beat(hostname="web@host", queues=["default"]))  # not a GPU worker
    for changes in gpu_beats:
        workers.record(beat(**changes))
    client.force_login(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert says in html


def test_a_running_runs_page_says_nothing_of_gpu_workers(client, maintainer):
    run = make_run(make_release(), state=RunState.RUNNING)
    client.force_login(maintainer)
    assert (
        'data-testid="gpu-workers"' not in client.get(f"/training/runs/{run.pk}/").content.decode()
    )


# The store GPU nodes leave their heartbeats in ------------------------------------------


@pytest.mark.parametrize("where", ["redis", "folder"])
def test_gpu_heartbeats_left_in_the_store_are_collected_and_old_ones_forgotten(
    where, settings, tmp_path
):
    """A GPU node leaves its heartbeats in Redis or under the data folder, where the site reads
    them when it shows the workers: not as tasks behind a long import on the default queue
    (verification: GPU workers showed as gone while the web-side worker imported)."""
    import redis

    settings.DATA_DIR = tmp_path
    if where == "redis":
        if not settings.REDIS_URL:
            missing("needs Redis (REDIS_URL)")
        redis.Redis.from_url(settings.REDIS_URL).delete(heartbeat.STORE_KEY)
        send = heartbeat.send_to_redis(settings.REDIS_URL)
    else:
        settings.REDIS_URL = ""
        send = heartbeat.send_to_folder(tmp_path / heartbeat.FOLDER)
    long_ago = timezone.now() - workers.FORGET_AFTER - dt.timedelta(hours=1)
    send(beat())
    send(beat(hostname="gpu/odd name@node-9"))
    send(beat(hostname="old@node-0", sent_at=long_ago.isoformat()))
    assert workers.collect() == 2
    assert workers.collect() == 0  # the same beats again change nothing
    assert [w.row.hostname for w in workers.workers("gpu")] == [
        "gpu/odd name@node-9",
        "gpu@node-1",
    ]
    later = (timezone.now() + dt.timedelta(seconds=1)).isoformat()
    send(beat(sent_at=later, state="stopped"))
    assert [w.status for w in workers.workers("gpu")] == ["online", "stopped"]
    # The old one is gone from the store too.
    left = (
        heartbeat.read_redis(settings.REDIS_URL)
        if where == "redis"
        else heartbeat.read_folder(tmp_path / heartbeat.FOLDER)
    )
    assert sorted(p["hostname"] for p in left) == ["gpu/odd name@node-9", "gpu@node-1"]
    if where == "redis":
        redis.Redis.from_url(settings.REDIS_URL).delete(heartbeat.STORE_KEY)


def test_a_store_that_cannot_be_read_leaves_what_was_recorded(settings, caplog):
    workers.record(beat())
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert [w.row.hostname for w in workers.workers()] == ["gpu@node-1"]
    assert "Heartbeats could not be read" in caplog.text


def test_a_bad_heartbeat_interval_stops_a_worker_at_start():
    import subprocess
    import sys

    env = {**os.environ, heartbeat.INTERVAL_ENV: "soon", "DJANGO_SETTINGS_MODULE": "apps.settings"}
    for module in ("apps.celery", "worker.celery"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], env=env, capture_output=True, text=True
        )
        assert done.returncode != 0, module
        assert "HEARTH_WORKER_HEARTBEAT_SECONDS must be a whole number of seconds" in done.stderr


# Real workers -----------------------------------------------------------------------------


@pytest.mark.slow(seconds=15)
@pytest.mark.django_db(transaction=True)
def test_real_workers_report_themselves_and_a_stopped_one_says_so(tmp_path):
    """A GPU worker (worker.celery, no database) on Redis is on the page within a few seconds
    with no web-side worker running at all (its heartbeats wait on no queue); then a web-side
    worker, with its queues. Stopped with SIGTERM, the GPU worker says so."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(heartbeat.STORE_KEY)
    log = tmp_path / "workers.log"
    fast = {heartbeat.INTERVAL_ENV: "1"}
    gpu_env = {
        k: v
        for k, v in django_env(**fast).items()
        if k not in {"DATABASE_URL", "HEARTH_PSEUDONYM_SECRET"}
    }
    gpu_env["DJANGO_SETTINGS_MODULE"] = ""

    def seen(prefix: str, state: str = "online") -> WorkerHeartbeat | None:
        workers.collect()
        return WorkerHeartbeat.objects.filter(hostname__startswith=prefix, state=state).first()

    with workers_on("gpu", "default") as started:
        gpu = start_worker("worker.celery", ["gpu"], gpu_env, "gpu", log)
        started.append(gpu)
        gpu_row = wait_for(
            lambda: seen("gpu@"), timeout=60, what="the GPU heartbeat", workers=started, log=log
        )
        assert gpu_row.queues == ["gpu"]
        assert gpu_row.device == "CPU" or "NVIDIA" in gpu_row.device
        assert gpu_row.pid == gpu.pid
        first_seen = gpu_row.last_seen
        wait_for(
            lambda: (row := seen("gpu@")) is not None and row.last_seen > first_seen,
            timeout=30,
            what="a second GPU heartbeat",
            workers=started,
            log=log,
        )
        started.append(start_worker("apps", ["default"], django_env(**fast), "web", log))
        web_row = wait_for(
            lambda: seen("web@"), timeout=60, what="the web heartbeat", workers=started, log=log
        )
        assert web_row.queues == ["default"]
        os.kill(gpu.pid, signal.SIGTERM)
        gpu.wait(timeout=30)
        started.remove(gpu)
        wait_for(
            lambda: seen("gpu@", state=WorkerHeartbeat.State.STOPPED),
            timeout=30,
            what="the GPU worker's last heartbeat",
            workers=started,
            log=log,
        )
    redis.Redis.from_url(settings.REDIS_URL).delete(heartbeat.STORE_KEY)
