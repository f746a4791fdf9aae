"""A job the broker refuses after its row committed (crash QA: a release stayed "Building" for
ever, its POST a 500 after saving and its keyed retry a replayed success): the request ends
normally, the row says why it failed, and the usual retry queues it. The broker's refusal is
raised where Celery publishes (``apply_async`` / ``send_task``), as kombu raises it when Redis
is down; everything else is real."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.collection import import_jobs
from apps.collection.models import Import, ImportStatus
from apps.releases import tasks as release_tasks
from apps.releases.models import BUILD_STALE, Release, ReleaseState
from apps.training.models import RunState, TrainingRun
from tests.collection.test_api_imports import record, upload
from tests.training.conftest import make_release

pytestmark = pytest.mark.django_db

REFUSED = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def refuse(*args, **kwargs):
    raise REFUSED


def test_a_release_whose_build_cannot_be_queued_fails_and_is_rebuilt(
    api_maintainer, an_answer, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.DATA_DIR.mkdir(exist_ok=True)
    monkeypatch.setattr(release_tasks.build_release, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        r = api_maintainer.post("/api/v1/releases/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert r.status_code == 201  # saved, and said so: not a 500 after the commit
    release = Release.objects.get()
    assert release.state == ReleaseState.FAILED
    assert release.error.startswith("The job could not be queued: OperationalError: Error 111")
    assert api_maintainer.get(f"/api/v1/releases/{release.version}/").json()["state"] == "failed"

    sent: list[dict] = []
    monkeypatch.setattr(
        release_tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs)
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = api_maintainer.post(f"/api/v1/releases/{release.version}/rebuild/")
    assert r.status_code == 202
    assert sent == [{"args": (release.pk,), "queue": "exports"}]
    release.refresh_from_db()
    assert (release.state, release.error) == (ReleaseState.BUILDING, "")


def test_a_build_no_worker_ever_started_may_be_rebuilt_once_it_is_stale(
    maintainer, api_maintainer, monkeypatch, django_capture_on_commit_callbacks
):
    """A build message lost on its way (the web process killed between the commit and the
    send, a worker killed before it claimed the build) left no way to rebuild it: only a
    build that had started could be "stalled"."""
    release = Release.objects.create(number=1, version="v1", filter={})
    assert release.state == ReleaseState.BUILDING and release.started_at is None
    assert not release.build_stalled
    Release.objects.filter(pk=release.pk).update(
        created_at=timezone.now() - BUILD_STALE - timedelta(minutes=1)
    )
    release.refresh_from_db()
    assert release.build_stalled
    web = Client()
    web.force_login(maintainer)
    page = web.get("/releases/v1/").content.decode()
    assert 'data-testid="rebuild"' in page
    assert 'data-testid="release-waiting"' in page and "release-stalled" not in page
    sent: list[dict] = []
    monkeypatch.setattr(
        release_tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api_maintainer.post("/api/v1/releases/v1/rebuild/").status_code == 202
    assert len(sent) == 1


def test_a_training_run_that_cannot_be_queued_fails_and_may_be_retried(
    api_maintainer, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.celery import app

    make_release()
    monkeypatch.setattr(app, "send_task", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        r = api_maintainer.post(
            "/api/v1/training-runs/",
            {"release": "v1", "kind": "sft", "base_model": "org/base"},
            format="json",
        )
    assert r.status_code == 201
    run = TrainingRun.objects.get()
    assert run.state == RunState.FAILED and run.finished_at is not None
    assert run.error.startswith("The job could not be queued: OperationalError")

    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: sent.append(kwargs["task_id"]))
    with django_capture_on_commit_callbacks(execute=True):
        r = api_maintainer.post(f"/api/v1/training-runs/{run.pk}/retry/")
    assert r.status_code in (200, 202), r.json()
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and run.attempt == 2 and sent == [run.task_id]


def test_an_import_that_cannot_be_queued_fails_at_once_and_may_be_resumed(
    api_maintainer, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(import_jobs, "_send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        r = api_maintainer.post("/api/v1/imports/", {"file": upload(record(1))}, format="multipart")
    assert r.status_code == 202
    job = Import.objects.get()
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("The job could not be queued: OperationalError")

    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        import_jobs.import_resume(job)
    assert sent == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED and job.error == ""


def test_a_row_that_cannot_be_marked_either_is_logged_not_raised(
    django_capture_on_commit_callbacks, caplog
):
    """The database may be what is down: the request still ends as it would have."""
    from apps.core.queueing import send_on_commit

    def unsent(exc: Exception) -> None:
        raise RuntimeError("database gone too")

    with django_capture_on_commit_callbacks(execute=True):
        send_on_commit(refuse, unsent=unsent)
    assert "A job could not be queued" in caplog.text
    assert "could not be marked failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_answer_to_a_release_whose_build_was_refused_says_it_failed(
    maintainer, monkeypatch, settings
):
    """Committed for real: the refusal marks the row failed before the answer is written."""
    from tests.conftest import client_for
    from tests.factories import ResponseFactory

    settings.DATA_DIR.mkdir(exist_ok=True)
    ResponseFactory()
    monkeypatch.setattr(release_tasks.build_release, "apply_async", refuse)
    r = client_for(maintainer).post("/api/v1/releases/", {}, format="json")
    assert r.status_code == 201
    assert r.json()["state"] == "failed"
    assert r.json()["error"].startswith("The job could not be queued")


@pytest.mark.django_db(transaction=True)
def test_the_run_form_does_not_say_queued_of_a_run_the_broker_refused(maintainer, monkeypatch):
    """Committed for real, as a page request is: the refusal marks the run failed first (QA:
    "Run 4 is queued for a GPU worker." above a Failed badge while Redis was down). Celery's
    result-store words, which say the application must be restarted, are said plainly."""
    from apps.celery import app

    make_release()

    def unreachable(*args, **kwargs):
        raise RuntimeError(
            "\nRetry limit exceeded while trying to reconnect to the Celery result store\n"
            "backend. The Celery application must be restarted.\n"
        )

    monkeypatch.setattr(app, "send_task", unreachable)
    client = Client()
    client.force_login(maintainer)
    r = client.post(
        "/training/new/",
        {"release": "v1", "kind": "sft", "method": "full", "idempotency_key": "k1"},
        follow=True,
    )
    html = r.content.decode()
    run = TrainingRun.objects.get()
    assert run.state == RunState.FAILED
    assert "is queued for a GPU worker" not in html
    assert run.error == (
        "The job could not be queued: RuntimeError: Redis, which holds the jobs' results, did "
        "not answer. Retry once it is back."
    )
    assert "must be restarted" not in html
