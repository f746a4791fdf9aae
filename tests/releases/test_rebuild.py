"""Rebuilding a failed release from its page and through the API: maintainers only, queued
once however often it is asked for, refused for a release that did not fail."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from apps.releases import tasks
from apps.releases.models import Release, ReleaseState
from apps.releases.services import release_rebuild_failed
from tests.conftest import client_for

URL = "/api/v1/releases/v1/rebuild/"


@pytest.fixture
def queued(monkeypatch):
    """The builds queued (``apply_async``'s arguments), once their transaction commits."""
    sent: list[dict] = []
    monkeypatch.setattr(tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs))
    return sent


def _release(state: str = ReleaseState.FAILED, **fields) -> Release:
    values = {"number": 1, "version": "v1", "state": state, "filter": {}, **fields}
    if state in (ReleaseState.READY, ReleaseState.PUBLISHED):
        values.update(content_hash="a" * 64, finished_at="2026-01-01T00:00:00Z")
    return Release.objects.create(**values)


def test_a_maintainer_rebuilds_a_failed_release_through_the_api(
    maintainer, db, queued, django_capture_on_commit_callbacks
):
    release = _release(error="OSError: No space left on device")
    with django_capture_on_commit_callbacks(execute=True):
        r = client_for(maintainer).post(URL)
    assert r.status_code == 202, r.json()
    assert (r.json()["version"], r.json()["state"], r.json()["error"]) == ("v1", "building", "")
    release.refresh_from_db()
    assert (release.state, release.error) == (ReleaseState.BUILDING, "")
    assert queued == [{"args": (release.pk,), "queue": "exports"}]


def test_asking_again_while_it_rebuilds_queues_nothing(
    maintainer, db, queued, django_capture_on_commit_callbacks
):
    _release()
    api = client_for(maintainer)
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(URL)
        second = api.post(URL)
        # With an Idempotency-Key, the same answer again.
        keyed = api.post(URL, HTTP_IDEMPOTENCY_KEY="rebuild-1")
        replayed = api.post(URL, HTTP_IDEMPOTENCY_KEY="rebuild-1")
    # Data QA: the second answered 202 Accepted while queuing nothing.
    assert first.status_code == 202
    assert second.status_code == keyed.status_code == 409
    assert second.json() == {
        "detail": "v1 is being built already (its last sign of progress: just now), so "
        "nothing was queued. A build with no progress for 5 minutes has likely lost its "
        "worker; Rebuild then builds it again."
    }
    # A refusal is not kept for the key: asked again, it is answered afresh.
    assert replayed.status_code == 409 and "Idempotent-Replayed" not in replayed
    assert len(queued) == 1


@pytest.mark.parametrize("state", [ReleaseState.READY, ReleaseState.PUBLISHED])
def test_a_release_that_did_not_fail_is_not_rebuilt(maintainer, db, queued, state):
    release = _release(state)
    r = client_for(maintainer).post(URL)
    assert r.status_code == 409
    label = {"ready": "Ready", "published": "Published"}[state]
    assert r.json() == {
        "detail": f"Release v1 is in state “{label}”; only a failed release is rebuilt. Cut a "
        "new release to release the data as it is now."
    }
    release.refresh_from_db()
    assert release.state == state
    assert queued == []


def test_only_maintainers_rebuild(volunteer, outsider, api_anon, db, queued):
    release = _release()
    for api, code in ((client_for(volunteer), 403), (client_for(outsider), 403), (api_anon, 401)):
        assert api.post(URL).status_code == code
    assert client_for(volunteer).post("/api/v1/releases/v9/rebuild/").status_code == 403
    release.refresh_from_db()
    assert release.state == ReleaseState.FAILED
    assert queued == []


def test_a_missing_release_is_404(maintainer, db):
    assert client_for(maintainer).post("/api/v1/releases/v9/rebuild/").status_code == 404


def test_the_schema_documents_the_rebuild():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/releases/{version}/rebuild/"]["post"]
    assert operation["operationId"] == "releases_rebuild"
    assert {"202", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    out = schema["components"]["schemas"]["ReleaseOut"]["properties"]
    assert out["publish_error"] == {"type": "string", "readOnly": True}
    assert {"publish_state", "publish_requested_at"} <= set(out)


# --- the page --------------------------------------------------------------------------------


def test_a_failed_release_page_offers_maintainers_a_rebuild(maintainer, volunteer, db):
    _release(error="OSError: No space left on device")
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert 'action="/releases/v1/rebuild/"' in html
    assert ">Rebuild</button>" in html
    # Volunteers do not see a failed release at all.
    other = Client()
    other.force_login(volunteer)
    assert other.get("/releases/v1/").status_code == 404


def test_the_rebuild_button_builds_it_once_however_often_it_is_pressed(
    maintainer, db, queued, django_capture_on_commit_callbacks
):
    release = _release()
    web = Client()
    web.force_login(maintainer)
    with django_capture_on_commit_callbacks(execute=True):
        first = web.post("/releases/v1/rebuild/")
        second = web.post("/releases/v1/rebuild/", follow=True)
    assert first.status_code == 302 and first["Location"] == "/releases/v1/"
    html = second.content.decode()
    assert (
        "v1 is being built already (its last sign of progress: just now), so nothing was queued."
        in html
    )
    assert "Counting rows…" in html and ">Rebuild</button>" not in html
    release.refresh_from_db()
    assert release.state == ReleaseState.BUILDING
    assert len(queued) == 1


def test_the_rebuild_button_of_a_ready_release_says_why_it_did_nothing(maintainer, db, queued):
    _release(ReleaseState.READY)
    web = Client()
    web.force_login(maintainer)
    r = web.post("/releases/v1/rebuild/", follow=True)
    assert "only a failed release is rebuilt" in r.content.decode()
    assert Release.objects.get().state == ReleaseState.READY
    assert queued == []


def test_volunteers_cannot_press_rebuild(volunteer, db, queued):
    _release()
    web = Client()
    web.force_login(volunteer)
    assert web.post("/releases/v1/rebuild/").status_code == 403
    assert Release.objects.get().state == ReleaseState.FAILED
    assert queued == []


# --- the service -----------------------------------------------------------------------------


def test_the_service_checks_the_user_and_says_whether_it_queued(maintainer, volunteer, db, queued):
    release = _release()
    with pytest.raises(PermissionDenied):
        release_rebuild_failed(user=volunteer, release=release)
    rebuilt, again = release_rebuild_failed(user=maintainer, release=release)
    assert again is True and rebuilt.state == ReleaseState.BUILDING
    assert release_rebuild_failed(user=None, release=release)[1] is False
    Release.objects.filter(pk=release.pk).update(
        state=ReleaseState.READY, content_hash="a" * 64, finished_at="2026-01-01T00:00:00Z"
    )
    with pytest.raises(ValidationError):
        release_rebuild_failed(user=maintainer, release=release)


def test_a_build_whose_worker_died_can_be_rebuilt_from_its_page_once(
    maintainer, db, queued, django_capture_on_commit_callbacks
):
    """The exports worker was killed mid-build (out of memory, a node lost): the release
    said "building, 10 of 100 rows" for an hour or more, until the broker handed the build
    out again, and Rebuild answered "being built already", so a maintainer could do nothing
    from the site. A build with no progress for BUILD_STALE says so and may be rebuilt."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.releases.models import BUILD_STALE

    now = timezone.now()
    release = _release(
        ReleaseState.BUILDING,
        started_at=now - BUILD_STALE - timedelta(minutes=5),
        progress_at=now - BUILD_STALE - timedelta(minutes=1),
        progress_done=10,
        progress_total=100,
    )
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert "No progress for 6\xa0minutes: the worker building it may have stopped." in html
    assert ">Rebuild</button>" in html
    with django_capture_on_commit_callbacks(execute=True):
        web.post("/releases/v1/rebuild/")
        second = web.post("/releases/v1/rebuild/", follow=True)
    assert (
        "v1 is being built already (its last sign of progress: just now), so nothing was queued."
        in second.content.decode()
    )
    assert queued == [{"args": (release.pk,), "queue": "exports"}]
    release.refresh_from_db()
    assert release.state == ReleaseState.BUILDING and not release.build_stalled
    # Through the API too, and a build still making progress is left alone.
    Release.objects.filter(pk=release.pk).update(progress_at=now - BUILD_STALE * 2)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(maintainer).post(URL).status_code == 202
        assert client_for(maintainer).post(URL).status_code == 409
    assert len(queued) == 2
    # Visitors see no building release, so no stalled one either.
    assert Client().get("/releases/v1/").status_code == 404
