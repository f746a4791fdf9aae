"""Crash safety: kill the build job part-way (a real Celery worker on Redis), restart, and the
release completes with the same hash.

The worker is ``celery -A apps worker -Q exports --pool=solo`` in a subprocess, on the test's
database and data folder. Redis gives an unacknowledged message back only after the broker's
visibility timeout (an hour by default, with no setting to shorten it here), so after the kill
the build is queued again with ``release_rebuild``, as a maintainer would, and a fresh worker
takes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.releases.building import release_build, release_folder, releases_root
from apps.releases.models import Release, ReleaseState
from apps.releases.services import release_create, release_rebuild
from tests.bench.bench_release import generate
from tests.missing import missing

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
# Enough rows that the build runs for seconds after its first progress write (every 20,000).
RESPONSES = 200_000
RANKINGS = 50_000

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    env.update(
        DATABASE_URL=f"postgres://{user}{password}@{host}:{port}/{params['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        HEARTH_DATA_DIR=str(settings.DATA_DIR),
        # Otherwise derived from a secret key under the data folder: pseudonyms would differ
        # from the in-process build's.
        HEARTH_PSEUDONYM_SECRET=settings.HEARTH_PSEUDONYM_SECRET,
        DJANGO_SETTINGS_MODULE="apps.settings",
    )
    return env


def _start_worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                CELERY,
                "-A",
                "apps",
                "worker",
                "-Q",
                "exports",
                "--pool=solo",
                "-n",
                f"{name}@%h",
                "--loglevel=info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(predicate, *, timeout: float, what: str, workers, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for worker in workers:
            if worker.poll() is not None:
                raise AssertionError(
                    f"worker exited ({worker.returncode}) before {what}:\n{log.read_text()[-4000:]}"
                )
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _data_files(release: Release) -> dict[str, str]:
    """Every file's sha256 but the card's (it names the version)."""
    return {f["path"]: f["sha256"] for f in release.files if f["path"] != "README.md"}


def test_a_build_killed_part_way_completes_with_the_same_files_after_a_restart(world, tmp_path):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    import psycopg
    import redis

    with psycopg.connect(**connection.get_connection_params()) as conn:
        generate(conn, responses=RESPONSES, rankings=RANKINGS, users=200)
        conn.autocommit = True
        conn.execute("ANALYZE")  # the planner must know the tables are no longer empty
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("exports")  # nothing stale from an earlier run goes first
    env = _worker_env()
    log = tmp_path / "worker.log"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first = _start_worker(env, "crash1", log)
        workers.append(first)
        release = release_create(user=None)  # commits: the build is enqueued
        release_id = release.pk

        def in_progress() -> Release | None:
            row = Release.objects.get(pk=release_id)
            return row if row.state == ReleaseState.BUILDING and row.progress_done > 0 else None

        seen = _wait(
            in_progress, timeout=120, what="the build's first progress", workers=workers, log=log
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

        killed = Release.objects.get(pk=release_id)
        assert killed.state == ReleaseState.BUILDING, "the build finished before the kill"
        assert 0 < seen.progress_done < killed.progress_total
        assert killed.content_hash == ""
        assert not release_folder(killed.version).exists()
        # What it left is an unfinished temp folder, never the final one.
        assert [p.name for p in releases_root().iterdir() if p.name == killed.version] == []

        release_rebuild(user=None, release=killed)  # commits: enqueued again
        second = _start_worker(env, "crash2", log)
        workers.append(second)
        done = _wait(
            lambda: Release.objects.filter(
                pk=release_id, state__in=[ReleaseState.READY, ReleaseState.FAILED]
            ).first(),
            timeout=300,
            what="the rebuilt release",
            workers=[second],
            log=log,
        )
        assert done.state == ReleaseState.READY, done.error
        assert done.content_hash
        assert release_folder(done.version).is_dir()
        assert not list(releases_root().glob(f".tmp-{done.version}-*"))
        assert done.progress_done == done.progress_total == killed.progress_total
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
        broker.delete("exports")

    # A clean build of the same rows, in-process: the same data files, byte for byte. The
    # content hash covers the card too, which names the version (and its predecessor), so the
    # two releases' hashes differ; every other file must not.
    clean = release_build(release_create(user=None, enqueue=False).pk)
    assert clean.state == ReleaseState.READY
    assert clean.counts == done.counts
    files = _data_files(done)
    assert any(path.startswith("data/") for path in files)
    assert files == _data_files(clean)
