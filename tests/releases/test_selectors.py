"""Reading releases: finished ones are public, the rest are for maintainers; downloads only
of listed files."""

from __future__ import annotations

import pytest

from apps.releases.building import release_folder
from apps.releases.models import Release, ReleaseState
from apps.releases.selectors import (
    release_file_path,
    release_get_for_user,
    release_latest,
    release_list,
)
from apps.releases.services import release_create


def _finish(release: Release, state: str = ReleaseState.READY) -> Release:
    Release.objects.filter(pk=release.pk).update(
        state=state, content_hash="a" * 64, finished_at="2026-01-01T00:00:00Z"
    )
    release.refresh_from_db()
    return release


@pytest.fixture
def releases(maintainer, an_answer):
    ready = _finish(release_create(user=maintainer, enqueue=False))
    published = _finish(release_create(user=maintainer, enqueue=False), ReleaseState.PUBLISHED)
    building = release_create(user=maintainer, enqueue=False)
    failed = release_create(user=maintainer, enqueue=False)
    Release.objects.filter(pk=failed.pk).update(state=ReleaseState.FAILED)
    return ready, published, building, failed


def test_volunteers_see_finished_releases_and_maintainers_see_all(releases, volunteer, maintainer):
    assert [r.version for r in release_list(user=volunteer)] == ["v2", "v1"]
    assert [r.version for r in release_list(user=None)] == ["v2", "v1"]
    assert [r.version for r in release_list(user=maintainer)] == ["v4", "v3", "v2", "v1"]
    with pytest.raises(Release.DoesNotExist):
        release_get_for_user(user=volunteer, version="v3")
    assert release_get_for_user(user=maintainer, version="v3").state == ReleaseState.BUILDING


def test_a_version_with_a_nul_is_not_found(releases, maintainer):
    with pytest.raises(Release.DoesNotExist):
        release_get_for_user(user=maintainer, version="v1\x00")


def test_the_latest_release(releases):
    assert release_latest().version == "v2"
    assert release_latest(published=True).version == "v2"


def test_only_listed_files_of_a_finished_release_can_be_downloaded(releases):
    ready, _, building, _ = releases
    folder = release_folder(ready.version)
    (folder / ".hearth" / "keys").mkdir(parents=True)
    (folder / "README.md").write_text("card")
    (folder / ".hearth" / "keys" / "sft.parquet").write_bytes(b"private")
    Release.objects.filter(pk=ready.pk).update(
        files=[{"path": "README.md", "bytes": 4, "sha256": "x"}]
    )
    ready.refresh_from_db()
    assert release_file_path(release=ready, path="README.md") == folder / "README.md"
    for path in (".hearth/keys/sft.parquet", "../secret_key", "data/sft/train.parquet"):
        with pytest.raises(FileNotFoundError):
            release_file_path(release=ready, path=path)
    with pytest.raises(FileNotFoundError):
        release_file_path(release=building, path="README.md")
