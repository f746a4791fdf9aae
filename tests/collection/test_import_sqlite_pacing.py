"""On SQLite (the embedded default) an import leaves room for other writers: the database has
one write lock, and a request waiting for it only polls, so batches committed back to back
kept volunteers waiting 10-20 s, and some got "database is locked" (upgrade QA). There a batch
holds at most ``SQLITE_BATCH_SIZE`` lines, its lines are checked before its transaction, and
``SQLITE_PAUSE_SECONDS`` pass between one batch's commit and the next one's start. On
PostgreSQL, which locks rows, batches keep their size and follow each other at once.
tests/bench/bench_sqlite_import.py measures the waits."""

from __future__ import annotations

import io
import json

import pytest

from apps.collection import importing
from tests.embedded import script_outcome

# The worker's import (import_jobs.import_run) of LINES lines in this process's main thread;
# another connection (a thread, as a volunteer's request) writes WRITES times, each time once
# the import has committed another batch, and notes the import's row as it stands while that
# write holds the lock. Its busy timeout is long: what counts is when it gets in, not how long
# it waits.
SCRIPT = r"""
import json, os, sqlite3, threading, time
import django
django.setup()
from django.conf import settings
from django.contrib.auth.models import Group
from apps.accounts import roles
from apps.collection import import_jobs, importing
from apps.collection.models import Import
from tests.factories import LicenceAcceptanceFactory, UserFactory

LINES, WRITES = 3000, 3
maintainer = UserFactory()
maintainer.groups.add(*Group.objects.filter(name__in=[roles.VOLUNTEER, roles.MAINTAINER]))
LicenceAcceptanceFactory(user=maintainer)
job = Import.objects.create(
    created_by=maintainer, file_name="dolly.jsonl", file_size=0,
    options={"source": "garden", "licence": "", "language": "en", "state": "accepted"},
    lines_per_status=importing.REPORT_LINES_PER_STATUS,
)
import_jobs.imports_folder().mkdir(parents=True, exist_ok=True)
with open(import_jobs.import_path(job.pk), "w") as out:
    for n in range(LINES):
        out.write(json.dumps({
            "instruction": f"Explain idea number {n} of the garden in simple words.",
            "context": "", "response": f"An answer about idea {n}.", "category": "open_qa",
        }) + "\n")
Import.objects.filter(pk=job.pk).update(file_size=os.path.getsize(import_jobs.import_path(job.pk)))
path = settings.DATABASES["default"]["NAME"]
setup = sqlite3.connect(path, isolation_level=None)
setup.execute("CREATE TABLE probe (n integer)")
setup.close()
seen = []

def row(conn):
    return conn.execute(
        "SELECT batches_committed, status FROM collection_import WHERE id = ?", [job.pk]
    ).fetchone()

def volunteer():
    conn = sqlite3.connect(path, timeout=120, isolation_level=None)
    deadline = time.monotonic() + 120
    batches = 0
    for n in range(WRITES):
        while row(conn)[0] <= batches and row(conn)[1] != "done" and time.monotonic() < deadline:
            time.sleep(0.002)  # until the import has committed another batch
        conn.execute("BEGIN IMMEDIATE")
        batches, status = row(conn)
        seen.append([batches, status])
        conn.execute("INSERT INTO probe VALUES (?)", [n])
        conn.execute("COMMIT")
    conn.close()

pauses = []
real_sleep = time.sleep
def sleep(seconds):
    if threading.current_thread() is threading.main_thread():
        pauses.append(seconds)  # the import's
    real_sleep(seconds)
time.sleep = sleep

thread = threading.Thread(target=volunteer)
thread.start()
job = import_jobs.import_run(job.pk)
thread.join(120)
print(json.dumps({
    "seen": seen, "status": job.status, "imported": job.imported,
    "batches": job.batches_committed, "pauses": pauses,
    "batch_size": getattr(importing, "SQLITE_BATCH_SIZE", None),
    "pause": getattr(importing, "SQLITE_PAUSE_SECONDS", None),
}))
"""


@pytest.mark.slow(seconds=12)
def test_on_sqlite_another_writer_gets_in_between_the_imports_small_batches(tmp_path):
    outcome = script_outcome(tmp_path, SCRIPT)

    lines, size = 3000, outcome["batch_size"]
    assert size < importing.DEFAULT_BATCH_SIZE
    assert (outcome["status"], outcome["imported"]) == ("done", lines)
    assert outcome["batches"] == -(-lines // size)  # small batches, not the default 500
    # Before each batch but the first, the import slept out what was left of the pause once
    # it had checked the batch's lines.
    pauses = outcome["pauses"]
    assert len(pauses) == outcome["batches"] - 1
    assert all(0 <= pause <= outcome["pause"] for pause in pauses), pauses
    # Each of the other writer's writes went in while the import was running, between two
    # of its batches. Before, batches followed each other within microseconds, and the
    # writer got in once the import was done: [[6, "done"], [6, "done"], [6, "done"]].
    assert len(outcome["seen"]) == 3
    for batches, status in outcome["seen"]:
        assert status == "running" and 0 < batches < outcome["batches"], outcome["seen"]


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_batches_keep_their_size_and_follow_each_other_at_once(
    maintainer, monkeypatch
):
    def no_pause(seconds: float) -> None:
        raise AssertionError(f"paused {seconds} s on PostgreSQL")

    monkeypatch.setattr(importing.time, "sleep", no_pause)
    lines = [
        json.dumps(
            {
                "instruction": f"Explain idea number {n} of the garden in simple words.",
                "context": "",
                "response": f"An answer about idea {n}.",
                "category": "open_qa",
            }
        )
        for n in range(600)
    ]
    stream = io.BytesIO(("\n".join(lines) + "\n").encode())

    report = importing.prompts_import_jsonl(
        stream, author=maintainer, options=importing.check_import_options(source="garden")
    )

    assert (report.imported, report.batches_committed) == (600, 2)  # 500, then 100
