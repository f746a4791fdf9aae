"""The ``releases.build`` task: a thin wrapper around release_build."""

from __future__ import annotations

import pytest

from apps.releases import building
from apps.releases.building import passes, release_folder
from apps.releases.models import ReleaseState
from apps.releases.services import release_create
from apps.releases.tasks import build_release


def test_the_task_builds_the_release(world):
    release = release_create(user=None, enqueue=False)
    assert build_release.apply(args=(release.pk,)).get() == ReleaseState.READY
    release.refresh_from_db()
    assert release.state == ReleaseState.READY
    assert release_folder(release.version).is_dir()


def test_a_failing_build_marks_the_release_failed_with_the_reason(world, monkeypatch):
    def broken(self):
        raise ValueError("the prompts pass broke")

    monkeypatch.setattr(passes.Build, "run", broken)
    release = release_create(user=None, enqueue=False)
    result = build_release.apply(args=(release.pk,))
    with pytest.raises(ValueError, match="the prompts pass broke"):
        result.get()
    release.refresh_from_db()
    assert release.state == ReleaseState.FAILED
    assert release.error == "ValueError: the prompts pass broke"
    assert not release_folder(release.version).exists()
    assert list(building.releases_root().iterdir()) == []
