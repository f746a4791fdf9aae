"""Imports in the background (apps.collection.import_jobs): an import that stops anywhere goes
on from its last committed batch with its report as it stood, so that no line is imported or
counted twice; on a real exports worker, even when that worker is killed part-way."""

from __future__ import annotations

import signal
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.collection import import_jobs, importing, services
from apps.collection.models import Import, ImportStatus, Prompt
from tests.celery_workers import django_env, start_worker, wait_for, workers_on
from tests.collection.dolly import jsonl, record
from tests.missing import missing

BATCH = 4


# Twelve lines over three batches of four: a blank line, a rejected one, and a line that
# repeats an earlier one in the file.
LINES = [
    record(1),
    record(2),
    "",
    record(4, category="recipe"),
    record(5),
    record(6),
    record(1),
    record(8),
    record(9),
    record(10),
    record(11),
    record(12),
]


def expected_outcomes() -> list[tuple[int, str]]:
    return [
        (n, "rejected" if n == 4 else "duplicate" if n == 7 else "imported")
        for n in range(1, 13)
        if n != 3
    ]


@pytest.fixture
def small_batches(monkeypatch):
    checked = importing.check_import_options
    monkeypatch.setattr(
        importing,
        "check_import_options",
        lambda **options: checked(**options, batch_size=BATCH),
    )


def start(maintainer, body: bytes, **options: str) -> Import:
    return import_jobs.import_start(
        author=maintainer,
        upload=SimpleUploadedFile("garden.jsonl", body),
        options=importing.check_import_options(source="garden-tips", **options),
    )


def fail_the_second_batch(monkeypatch) -> Any:
    """Make the second batch's write raise, as a lost database would; returns the real one."""
    create = services.prompts_create_imported
    calls = 0

    def fails_on_the_second_batch(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the database went away")
        return create(**kwargs)

    monkeypatch.setattr(services, "prompts_create_imported", fails_on_the_second_batch)
    return create


def outcomes(job: Import) -> list[tuple[int, str]]:
    return [(line["line"], line["status"]) for line in job.listed]


@pytest.mark.django_db
def test_an_import_keeps_its_file_until_it_is_done_then_removes_it(maintainer, small_batches):
    job = start(maintainer, jsonl(LINES))
    path = import_jobs.import_path(job.pk)
    assert path.read_bytes() == jsonl(LINES)
    assert job.status == ImportStatus.QUEUED
    assert job.options == {
        "source": "garden-tips",
        "licence": settings.HEARTH_LICENCE_NAME,
        "language": "en",
        "state": "accepted",
    }

    done = import_jobs.import_run(job.pk)

    assert done.status == ImportStatus.DONE
    assert done.finished_at is not None
    assert outcomes(done) == expected_outcomes()
    assert (done.imported, done.duplicates, done.rejected) == (9, 1, 1)
    assert (done.bytes_done, done.lines_read, done.batches_committed) == (len(jsonl(LINES)), 12, 3)
    assert not path.exists()
    # Done is done: a second delivery of the task changes nothing.
    assert import_jobs.import_run(job.pk).status == ImportStatus.DONE
    assert Prompt.objects.filter(origin="garden-tips").count() == 9


@pytest.mark.django_db
def test_a_failed_import_resumes_where_it_stopped_and_counts_each_line_once(
    maintainer, small_batches, monkeypatch, django_capture_on_commit_callbacks
):
    job = start(maintainer, jsonl(LINES))
    create = fail_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        import_jobs.import_run(job.pk)

    failed = Import.objects.get(pk=job.pk)
    assert failed.status == ImportStatus.FAILED
    assert failed.error == "RuntimeError: the database went away"
    # The first batch (lines 1 to 5: four lines and the blank one) is in, and no more.
    assert outcomes(failed) == expected_outcomes()[:4]
    assert (failed.lines_read, failed.batches_committed) == (5, 1)
    assert failed.bytes_done == len(jsonl(LINES[:5]))
    assert Prompt.objects.filter(origin="garden-tips").count() == 3
    assert import_jobs.import_path(job.pk).exists()

    monkeypatch.setattr(services, "prompts_create_imported", create)
    monkeypatch.setattr(import_jobs, "_send", import_jobs.import_run)
    with django_capture_on_commit_callbacks(execute=True):
        _resumed, sent = import_jobs.import_resume(failed)
    assert sent

    done = Import.objects.get(pk=job.pk)
    assert done.status == ImportStatus.DONE, done.error
    assert done.error == ""
    assert outcomes(done) == expected_outcomes()
    assert (done.imported, done.duplicates, done.rejected) == (9, 1, 1)
    assert done.lines_committed == 11
    assert Prompt.objects.filter(origin="garden-tips").count() == 9


@pytest.mark.django_db
def test_resume_sends_only_an_import_that_failed_or_stalled(
    maintainer, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)
    job = start(maintainer, jsonl(LINES))

    with django_capture_on_commit_callbacks(execute=True):
        _job, again = import_jobs.import_resume(job)
    assert not again and sent == []  # queued a moment ago: still on its way

    Import.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, updated_at=timezone.now() - timedelta(minutes=6)
    )
    stalled = Import.objects.get(pk=job.pk)
    assert import_jobs.is_stalled(stalled)
    with django_capture_on_commit_callbacks(execute=True):
        requeued, again = import_jobs.import_resume(stalled)
    assert again and sent == [job.pk]
    assert requeued.status == ImportStatus.QUEUED
    assert not import_jobs.is_stalled(Import.objects.get(pk=job.pk))

    Import.objects.filter(pk=job.pk).update(status=ImportStatus.DONE)
    with pytest.raises(Exception, match="nothing left to import"):
        import_jobs.import_resume(Import.objects.get(pk=job.pk))


@pytest.mark.django_db
def test_an_attempt_that_finds_another_ahead_of_it_rolls_its_batch_back_and_stops(
    maintainer, small_batches, monkeypatch
):
    job = start(maintainer, jsonl(LINES))
    create = services.prompts_create_imported

    def another_attempt_commits_first(**kwargs: Any) -> Any:
        written = create(**kwargs)
        # What a second attempt's first batch would have left, committed meanwhile.
        Import.objects.filter(pk=job.pk).update(bytes_done=10, lines_read=1)
        return written

    monkeypatch.setattr(services, "prompts_create_imported", another_attempt_commits_first)

    stopped = import_jobs.import_run(job.pk)  # no exception: the other attempt goes on

    assert stopped.status == ImportStatus.RUNNING
    assert stopped.error == ""
    # Its batch rolled back, and with it the simulated write, which shared its transaction.
    assert Prompt.objects.filter(origin="garden-tips").count() == 0
    assert (stopped.bytes_done, stopped.imported) == (0, 0)


@pytest.mark.django_db
def test_an_import_whose_file_is_gone_fails_and_says_to_send_it_again(maintainer, client):
    job = start(maintainer, jsonl(LINES))
    import_jobs.import_path(job.pk).unlink()

    failed = import_jobs.import_run(job.pk)

    assert failed.status == ImportStatus.FAILED
    assert failed.error == ("The uploaded file is no longer on the server; send the file again.")
    # Resume could only fail again: it is not offered, and refused when asked.
    assert not import_jobs.is_resumable(failed)
    with pytest.raises(ValidationError, match="no longer on the server"):
        import_jobs.import_resume(failed)
    client.force_login(maintainer)
    page = client.get(f"/imports/{job.pk}/")
    assert "The uploaded file is no longer on the server" in page.text
    assert 'data-testid="resume"' not in page.text
    assert 'data-testid="report-partial"' not in page.text  # nothing was committed
    refused = APIClient()
    refused.force_authenticate(maintainer)
    answer = refused.post(f"/api/v1/imports/{job.pk}/resume/")
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "The uploaded file is no longer on the server; send the file again."
    }


# Enough lines that the import commits several batches of 500 before it ends.
MANY = 6_000


@pytest.mark.slow(seconds=20)
@pytest.mark.django_db(transaction=True)
def test_an_import_on_a_real_worker_killed_part_way_resumes_and_imports_each_line_once(
    maintainer, tmp_path
):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    body = jsonl([record(n) for n in range(1, MANY + 1)])
    env = django_env()
    log = tmp_path / "worker.log"
    with workers_on("exports") as workers:
        first = start_worker("apps", ["exports"], env, "import1", log)
        workers.append(first)
        job = start(maintainer, body)  # commits: the task is sent to the exports queue

        def under_way() -> Import | None:
            row = Import.objects.get(pk=job.pk)
            return row if row.batches_committed > 0 else None

        wait_for(under_way, timeout=120, what="the first batch", workers=workers, log=log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

        killed = Import.objects.get(pk=job.pk)
        assert killed.status == ImportStatus.RUNNING, "the import ended before the kill"
        assert 0 < killed.lines_read < MANY
        assert Prompt.objects.filter(origin="garden-tips").count() == killed.imported

        # Five minutes without a batch: the page offers Resume, and a maintainer presses it.
        Import.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=6))
        _job, sent = import_jobs.import_resume(Import.objects.get(pk=job.pk))
        assert sent
        second = start_worker("apps", ["exports"], env, "import2", log)
        workers.append(second)
        done = wait_for(
            lambda: Import.objects.filter(
                pk=job.pk, status__in=[ImportStatus.DONE, ImportStatus.FAILED]
            ).first(),
            timeout=300,
            what="the resumed import",
            workers=[second],
            log=log,
        )

    assert done.status == ImportStatus.DONE, done.error
    assert (done.imported, done.duplicates, done.rejected) == (MANY, 0, 0)
    assert (done.lines_read, done.lines_committed, done.bytes_done) == (MANY, MANY, len(body))
    listed = [line["line"] for line in done.listed]
    assert listed == list(range(1, importing.REPORT_LINES_PER_STATUS + 1))
    assert Prompt.objects.filter(origin="garden-tips").count() == MANY
    assert not import_jobs.import_path(job.pk).exists()


@pytest.mark.django_db
def test_a_form_sent_before_imports_ran_on_a_worker_goes_back_to_the_import_page(
    maintainer, client, monkeypatch
):
    """Such a form's key kept the import's report, not an import's id: sent again, it says
    the file was imported, and answers no 500."""
    from apps.collection import views

    old_report = {"imported": 1, "duplicates": 0, "rejected": 0, "lines": []}
    monkeypatch.setattr(
        views.idempotency, "form_once", lambda request, key, action: (201, old_report, True)
    )
    client.force_login(maintainer)
    response = client.post(
        "/imports/",
        {
            "idempotency_key": "k" * 32,
            "file": SimpleUploadedFile("garden.jsonl", jsonl(LINES)),
            "source": "garden-tips",
            "licence": "CC BY-SA 3.0",
            "language": "en",
            "state": "accepted",
        },
        follow=True,
    )

    assert response.redirect_chain == [("/imports/", 302)]
    assert "This file was already imported from this form." in response.text
    assert Import.objects.count() == 0


@pytest.mark.django_db
def test_a_task_for_an_import_no_longer_there_is_dropped():
    from apps.collection.tasks import import_file

    assert import_file.apply(args=(987654,)).get() == "gone"


@pytest.mark.django_db
def test_an_attempt_that_read_the_import_before_another_finished_it_leaves_it_done(
    maintainer, small_batches
):
    job = start(maintainer, jsonl(LINES))
    stale = Import.objects.get(pk=job.pk)  # as a second attempt read it: queued, nothing read
    import_jobs.import_run(job.pk)  # the first attempt finishes it
    # ...just before it removed the file.
    import_jobs.import_path(job.pk).write_bytes(jsonl(LINES))

    after = import_jobs._run(stale)

    assert after.status == ImportStatus.DONE
    assert after.error == ""
    assert outcomes(after) == expected_outcomes()
    assert Prompt.objects.filter(origin="garden-tips").count() == 9


@pytest.mark.django_db
def test_a_failed_import_can_be_discarded_its_file_removed_and_its_lines_kept(
    maintainer, client, small_batches, monkeypatch
):
    job = start(maintainer, jsonl(LINES))
    fail_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        import_jobs.import_run(job.pk)
    client.force_login(maintainer)
    assert 'data-testid="discard"' in client.get(f"/imports/{job.pk}/").text

    discarded = client.post(f"/imports/{job.pk}/discard/", follow=True)

    assert "The import is discarded and its file removed." in discarded.text
    assert 'data-testid="discarded"' in discarded.text
    assert 'data-testid="resume"' not in discarded.text
    assert 'data-testid="discard"' not in discarded.text
    gone = Import.objects.get(pk=job.pk)
    assert gone.status == ImportStatus.FAILED
    assert gone.discarded_at is not None
    assert gone.error == "RuntimeError: the database went away"
    assert not import_jobs.import_path(job.pk).exists()
    # What the first batch committed stays, and is still counted.
    assert Prompt.objects.filter(origin="garden-tips").count() == gone.imported == 3
    # Asked again (a retry): the same answer, nothing else changes.
    api = APIClient()
    api.force_authenticate(maintainer)
    again = api.post(f"/api/v1/imports/{job.pk}/discard/")
    assert again.status_code == 200
    assert again.json()["discarded_at"] is not None


@pytest.mark.django_db
def test_only_a_failed_or_stalled_import_is_discarded(maintainer, small_batches):
    api = APIClient()
    api.force_authenticate(maintainer)
    moving = start(maintainer, jsonl(LINES))

    refused = api.post(f"/api/v1/imports/{moving.pk}/discard/")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "This import is still under way; only a failed or stalled one can be discarded."
    }
    assert import_jobs.import_path(moving.pk).exists()

    # Stalled while running: discarded, it is failed; its task, delivered again (or its
    # worker back), leaves it so.
    Import.objects.filter(pk=moving.pk).update(
        status=ImportStatus.RUNNING, updated_at=timezone.now() - timedelta(minutes=6)
    )
    stalled = Import.objects.get(pk=moving.pk)
    assert api.post(f"/api/v1/imports/{moving.pk}/discard/").status_code == 200
    discarded = Import.objects.get(pk=moving.pk)
    assert discarded.status == ImportStatus.FAILED
    assert discarded.error == "Its worker stopped without a word."
    assert not import_jobs.import_path(moving.pk).exists()
    for attempt in (lambda: import_jobs.import_run(moving.pk), lambda: import_jobs._run(stalled)):
        after = attempt()
        assert (after.status, after.error) == (discarded.status, discarded.error)
        assert after.discarded_at == discarded.discarded_at

    done = start(maintainer, jsonl([record(100)]))
    import_jobs.import_run(done.pk)
    refused = api.post(f"/api/v1/imports/{done.pk}/discard/")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "This import is done; there is nothing to discard."}


def age(path, hours: float) -> None:
    """Set ``path``'s modification time ``hours`` back."""
    import os
    import time

    when = time.time() - hours * 3600
    os.utime(path, (when, when))


@pytest.mark.django_db
def test_beat_discards_imports_stopped_longer_than_the_keep_days_and_removes_stray_files(
    maintainer, client, small_batches, monkeypatch
):
    """HEARTH_IMPORT_KEEP_DAYS after it last moved, a failed or stalled import is discarded
    (its committed lines stay); files no import waits for go once an hour old."""
    from apps.collection.tasks import expire_import_files

    assert settings.CELERY_BEAT_SCHEDULE["expire-import-files"]["task"] == expire_import_files.name
    long_ago = timezone.now() - timedelta(days=settings.HEARTH_IMPORT_KEEP_DAYS, minutes=1)
    fail_the_second_batch(monkeypatch)
    failed_long_ago = start(maintainer, jsonl(LINES))
    with pytest.raises(RuntimeError):
        import_jobs.import_run(failed_long_ago.pk)
    failed_lately = start(maintainer, jsonl([record(50)]))
    stalled_long_ago = start(maintainer, jsonl([record(60)]))
    queued = start(maintainer, jsonl([record(70)]))
    Import.objects.filter(pk=failed_long_ago.pk).update(updated_at=long_ago)
    Import.objects.filter(pk=failed_lately.pk).update(
        status=ImportStatus.FAILED, error="stopped", updated_at=long_ago + timedelta(minutes=2)
    )
    Import.objects.filter(pk=stalled_long_ago.pk).update(
        status=ImportStatus.RUNNING, updated_at=long_ago
    )
    # The page says when a stopped import will go.
    client.force_login(maintainer)
    page = client.get(f"/imports/{failed_lately.pk}/").text
    assert 'data-testid="kept-until"' in page and "Unless it is resumed, it is discarded" in page
    kept = APIClient()
    kept.force_authenticate(maintainer)
    body = kept.get(f"/api/v1/imports/{failed_lately.pk}/").json()
    assert body["file_kept_until"] is not None
    assert kept.get(f"/api/v1/imports/{queued.pk}/").json()["file_kept_until"] is None

    folder = import_jobs.imports_folder()
    done_leftover = folder / "999999.jsonl"  # no such import
    part = folder / f".{queued.pk + 1}.jsonl.part"  # an upload cut off by a crash
    fresh_part = folder / ".1000000.jsonl.part"  # an upload being written now
    for stray in (done_leftover, part, fresh_part):
        stray.write_bytes(b"{}\n")
    age(done_leftover, 2)
    age(part, 2)
    for waiting in (failed_lately, queued):
        age(import_jobs.import_path(waiting.pk), 48)  # old files, but their imports wait

    assert expire_import_files.apply().get() == [failed_long_ago.pk, stalled_long_ago.pk]

    for gone in (failed_long_ago, stalled_long_ago):
        job = Import.objects.get(pk=gone.pk)
        assert job.discarded_at is not None and job.status == ImportStatus.FAILED
        assert not import_jobs.import_path(gone.pk).exists()
    assert Import.objects.get(pk=failed_long_ago.pk).imported == 3
    assert Prompt.objects.filter(origin="garden-tips").count() == 3  # committed lines stay
    for waiting in (failed_lately, queued):
        assert Import.objects.get(pk=waiting.pk).discarded_at is None
        assert import_jobs.import_path(waiting.pk).exists()
    assert not done_leftover.exists() and not part.exists()
    assert fresh_part.exists()
    # Run again: nothing more to do.
    assert import_jobs.expire_imports() == []


@pytest.mark.django_db
def test_an_upload_is_synced_under_its_final_name_before_its_row_commits(maintainer, monkeypatch):
    """The rename is made durable (its folder synced) before the task can be sent: after a
    power cut the row never points at a file that is not there."""
    synced: list[tuple[Any, list[str]]] = []
    real = import_jobs.fsync_dir

    def record_sync(folder):
        synced.append((folder, sorted(p.name for p in folder.iterdir())))
        real(folder)

    monkeypatch.setattr(import_jobs, "fsync_dir", record_sync)
    job = start(maintainer, jsonl([record(1)]))
    assert synced == [(import_jobs.imports_folder(), [f"{job.pk}.jsonl"])]
    assert import_jobs.import_path(job.pk).exists()
