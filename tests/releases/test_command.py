"""``manage.py release``: create (queued or built here), build again, list."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.releases import tasks
from apps.releases.building import release_folder
from apps.releases.models import Release, ReleaseState


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("release", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_sync_builds_here_with_a_progress_bar(world):
    out, err = run("create", "--sync", "--languages", "en,de", "--test-share", "0.2")
    release = Release.objects.get()
    assert release.state == ReleaseState.READY
    assert release.filter["languages"] == ["en", "de"]
    assert release.filter["test_share"] == 0.2
    assert f"v1: ready in {release_folder('v1')}" in out
    assert release.content_hash in out
    assert "v1:" in err  # the bar


def test_create_without_sync_queues_the_build(
    an_answer, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("create", "--categories", "open_qa", "--min-agreement", "0.3")
    release = Release.objects.get()
    assert "v1: created; its build is queued" in out
    assert sent == [{"args": (release.pk,), "queue": "exports"}]
    assert release.filter["categories"] == ["open_qa"]
    assert release.filter["min_agreement"] == 0.3


def test_a_bad_filter_is_a_command_error_naming_the_option(db):
    with pytest.raises(CommandError, match="--categories"):
        run("create", "--categories", "poetry")
    with pytest.raises(CommandError, match="--test-share"):
        run("create", "--test-share", "0.9")
    assert not Release.objects.exists()


def test_a_filter_that_matches_no_answer_is_a_command_error_saying_so(an_answer):
    with pytest.raises(CommandError) as caught:
        run("create", "--sync", "--languages", "sw")
    assert str(caught.value) == "No accepted answer matches this filter (languages: sw)."
    assert not Release.objects.exists()


def test_as_must_name_a_maintainer(db, volunteer):
    with pytest.raises(CommandError, match="not a maintainer"):
        run("create", "--as", volunteer.email)


def test_build_builds_a_failed_release_again_and_list_shows_them(world):
    run("create", "--sync")
    Release.objects.filter(version="v1").update(state=ReleaseState.FAILED, error="disk full")
    out, _ = run("list")
    assert out.startswith("v1\tfailed\t") and "disk full" in out
    out, _ = run("build", "v1")
    assert "v1: ready" in out
    with pytest.raises(CommandError, match="finished"):
        run("build", "v1")
    with pytest.raises(CommandError, match="No release v9"):
        run("build", "v9")
