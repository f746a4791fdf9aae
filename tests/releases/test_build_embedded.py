"""Building a release on the embedded default (SQLite) while others write: the ORM reader's
open statement holds a read snapshot on Django's connection, and a progress write on that
connection, once another connection has committed, failed at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out). With `make run`, every release of at
least 100,000 rows (one progress write per 100,000) failed while volunteers worked. In a
subprocess with no DATABASE_URL, as tests/core's smoke test."""

from __future__ import annotations

import pytest

from tests.embedded import script_outcome

SCRIPT = r"""
import json, threading
import django
django.setup()
from django.db import connection, connections
from django.utils import timezone
from apps.accounts.models import User
from apps.releases.building import passes, release_build, streams
from apps.releases.models import Release
from apps.releases.services import release_create
from tests.training.test_schedules import corpus

assert connection.vendor == "sqlite"
corpus(4)  # 4 prompts, 12 answers, 12 rankings
# Batches of 2 rows, progress written after each: mid-stream, as every 100,000 rows of a
# real build.
streams.BATCH_ROWS = 2
passes.PROGRESS_EVERY = 1
release = release_create(user=None, enqueue=False)
volunteer = User.objects.first()
seen = []


def meanwhile():
    # Another connection commits (a volunteer signs in, as the web server does meanwhile)
    # and reads the progress the build has written so far.
    try:
        User.objects.filter(pk=volunteer.pk).update(last_login=timezone.now())
        seen.append(Release.objects.get(pk=release.pk).progress_done)
    finally:
        connections.close_all()


def progress(done, total):
    thread = threading.Thread(target=meanwhile)
    thread.start()
    thread.join()


try:
    built = release_build(release.pk, progress=progress)
except Exception as exc:
    built = Release.objects.get(pk=release.pk)
print(json.dumps({"state": built.state, "error": built.error, "done": built.progress_done,
                  "seen": seen}))
"""


@pytest.mark.slow(seconds=10)
def test_a_release_builds_on_sqlite_while_another_connection_writes(tmp_path):
    outcome = script_outcome(tmp_path, SCRIPT)
    # It was "failed", with "OperationalError: database is locked".
    assert (outcome["state"], outcome["error"]) == ("ready", ""), outcome
    # Progress is still written as the rows stream, and others see it while the build runs.
    seen = outcome["seen"]
    assert seen == sorted(seen) and 0 < seen[len(seen) // 2] < outcome["done"], outcome
