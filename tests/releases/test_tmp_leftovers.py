"""Crash QA: a build killed outright left its ``.tmp-<version>-<token>/`` folder until that
version was built again. Beat's hourly ``releases.remove_leftovers`` removes every temp folder
whose attempt can no longer finish, and never the folder of a build still running."""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.releases.building import (
    release_build,
    release_folder,
    release_leftovers_remove,
    releases_root,
    streams,
)
from apps.releases.models import BUILD_STALE, Release, ReleaseState
from apps.releases.services import release_create
from apps.releases.tasks import remove_build_leftovers


def _temp_folder(version: str, token: str) -> Path:
    """A temp folder as a build attempt holding ``token`` leaves it when killed mid-write."""
    folder = releases_root() / f".tmp-{version}-{token}"
    (folder / "data" / "sft").mkdir(parents=True)
    (folder / "data" / "sft" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 cut off")
    return folder


def _temp_folders() -> list[str]:
    return sorted(path.name for path in releases_root().glob(".tmp-*"))


def test_beat_removes_what_killed_builds_of_failed_finished_and_deleted_releases_left(
    world, monkeypatch
):
    assert settings.CELERY_BEAT_SCHEDULE["remove-release-build-leftovers"]["task"] == (
        remove_build_leftovers.name
    )
    ready = release_build(release_create(user=None, enqueue=False).pk)
    assert ready.state == ReleaseState.READY
    killed_before_ready = _temp_folder(ready.version, secrets.token_hex(16))

    def disk_full(self, table):
        raise OSError("disk full")

    monkeypatch.setattr(streams.SplitWriter, "write", disk_full)
    failed = release_create(user=None, enqueue=False)
    with pytest.raises(OSError, match="disk full"):
        release_build(failed.pk)
    failed.refresh_from_db()
    assert failed.state == ReleaseState.FAILED
    # Its own attempt, had it been killed instead of failing.
    killed_then_failed = _temp_folder(failed.version, failed.build_token)
    of_a_deleted_release = _temp_folder("v99", secrets.token_hex(16))
    assert not Release.objects.filter(version="v99").exists()

    removed = remove_build_leftovers.apply().get()

    assert removed == sorted(
        path.name for path in (killed_before_ready, killed_then_failed, of_a_deleted_release)
    )
    assert _temp_folders() == []
    # The finished release's files are not leftovers.
    assert release_folder(ready.version).is_dir()
    for file in ready.files:
        assert (release_folder(ready.version) / file["path"]).is_file()


def test_a_running_build_keeps_its_folder_while_superseded_attempts_lose_theirs(world):
    release = release_create(user=None, enqueue=False)
    mid_build: dict[str, Any] = {}

    def sweep_once(done: int, total: int) -> None:
        if mid_build:
            return
        token = Release.objects.get(pk=release.pk).build_token
        own = releases_root() / f".tmp-{release.version}-{token}"
        written = sorted(own.rglob("*"))
        superseded = _temp_folder(release.version, secrets.token_hex(16))
        unnamed = _temp_folder(release.version, "dead")  # from before tokens named folders
        removed = release_leftovers_remove()
        mid_build.update(
            own=own.name,
            superseded=superseded.name,
            unnamed=unnamed.name,
            written=written,
            removed=removed,
            left=_temp_folders(),
            written_after=sorted(own.rglob("*")),
        )

    built = release_build(release.pk, progress=sweep_once)

    assert mid_build["written"], "the sweep ran before the build wrote anything"
    assert mid_build["written_after"] == mid_build["written"]
    assert mid_build["removed"] == [mid_build["superseded"]]
    assert mid_build["left"] == sorted([mid_build["own"], mid_build["unnamed"]])
    assert built.state == ReleaseState.READY, built.error
    for file in built.files:
        assert (release_folder(built.version) / file["path"]).is_file()
    # Once the release is ready, nothing can finish the unnamed folder either.
    assert release_leftovers_remove() == [mid_build["unnamed"]]
    assert _temp_folders() == []


def test_a_stalled_build_is_disowned_before_its_folder_goes_and_can_never_look_ready(world):
    release = release_create(user=None, enqueue=False)
    seen: dict[str, object] = {}

    def stall_then_sweep(done: int, total: int) -> None:
        if seen:
            return
        long_ago = timezone.now() - BUILD_STALE - timedelta(minutes=1)
        Release.objects.filter(pk=release.pk).update(
            created_at=long_ago, started_at=long_ago, progress_at=long_ago
        )
        row = Release.objects.get(pk=release.pk)
        assert row.build_stalled
        seen["token"] = row.build_token
        seen["removed"] = release_leftovers_remove()

    # Its folder went from under it: it stops as superseded, or fails on a write there.
    with contextlib.suppress(OSError):
        release_build(release.pk, progress=stall_then_sweep)

    assert seen["removed"] == [f".tmp-{release.version}-{seen['token']}"]
    after = Release.objects.get(pk=release.pk)
    # Nobody's: a rebuild (the page offers one, the build being stalled) claims it as usual.
    assert (after.state, after.build_token, after.content_hash) == (ReleaseState.BUILDING, "", "")
    assert not release_folder(release.version).exists()
    assert release_leftovers_remove() == []
    assert _temp_folders() == []

    rebuilt = release_build(release.pk)
    assert rebuilt.state == ReleaseState.READY, rebuilt.error
