"""Crash safety: kill the build job part-way (a real Celery worker on Redis), restart, and the
release completes with the same hash.

The worker is ``celery -A apps worker -Q exports --pool=solo`` in a subprocess, on the test's
database and data folder. Redis gives an unacknowledged message back only after the broker's
visibility timeout (an hour by default, with no setting to shorten it here), so after the kill
the build is queued again with ``release_rebuild``, as a maintainer would, and a fresh worker
takes it.
"""

from __future__ import annotations

import signal

import pytest
from django.conf import settings
from django.db import connection

from apps.releases.building import release_build, release_folder, releases_root
from apps.releases.models import Release, ReleaseState
from apps.releases.services import release_create, release_rebuild
from tests.bench.bench_release import generate
from tests.celery_workers import django_env, start_worker, wait_for, workers_on
from tests.missing import missing

# Enough rows that the build runs for seconds after its first progress write (every 20,000).
RESPONSES = 200_000
RANKINGS = 50_000

pytestmark = [
    pytest.mark.slow(seconds=35),
    pytest.mark.django_db(transaction=True),
]


def _data_files(release: Release) -> dict[str, str]:
    """Every file's sha256 but the card's (it names the version)."""
    return {f["path"]: f["sha256"] for f in release.files if f["path"] != "README.md"}


def test_a_build_killed_part_way_completes_with_the_same_files_after_a_restart(world, tmp_path):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    import psycopg

    with psycopg.connect(**connection.get_connection_params()) as conn:
        generate(conn, responses=RESPONSES, rankings=RANKINGS, users=200)
        conn.autocommit = True
        conn.execute("ANALYZE")  # the planner must know the tables are no longer empty
    env = django_env()
    log = tmp_path / "worker.log"
    with workers_on("exports") as workers:
        first = start_worker("apps", ["exports"], env, "crash1", log)
        workers.append(first)
        release = release_create(user=None)  # commits: the build is enqueued
        release_id = release.pk

        def in_progress() -> Release | None:
            row = Release.objects.get(pk=release_id)
            return row if row.state == ReleaseState.BUILDING and row.progress_done > 0 else None

        seen = wait_for(
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
        second = start_worker("apps", ["exports"], env, "crash2", log)
        workers.append(second)
        done = wait_for(
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

    # A clean build of the same rows, in-process: the same data files, byte for byte. The
    # content hash covers the card too, which names the version (and its predecessor), so the
    # two releases' hashes differ; every other file must not.
    clean = release_build(release_create(user=None, enqueue=False).pk)
    assert clean.state == ReleaseState.READY
    assert clean.counts == done.counts
    files = _data_files(done)
    assert any(path.startswith("data/") for path in files)
    assert files == _data_files(clean)
