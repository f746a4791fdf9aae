"""Publishing a release through the real huggingface_hub client to the suite's local
Hub-compatible server, then reading it back with the client and datasets.load_dataset."""

from __future__ import annotations

import pytest

from apps.releases.models import ReleaseState
from apps.releases.publishing import PublishingOff, release_publish
from tests.releases.helpers import build

pytest_plugins = ["tests.hubserver.fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)
REPO = "hearth-org/hearth-data"


@pytest.fixture
def hub_settings(settings, hub, monkeypatch):
    settings.HUB_NAMESPACE = "hearth-org"
    settings.HEARTH_HUB_DATASET_REPO = "hearth-data"
    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    return hub


def _ready_release(world):
    return build()


def test_a_release_is_published_as_one_commit_and_a_tag(hub_settings, world):
    release = _ready_release(world)
    assert release.state == ReleaseState.READY
    published = release_publish(release.pk)
    assert published.state == ReleaseState.PUBLISHED
    assert published.hub_repo == REPO
    hub = hub_settings
    commits = hub.commits("dataset", REPO)
    assert len(commits) == 2  # the repo's initial commit, then the release
    assert hub.refs("dataset", REPO)["tags"]["v1"] == commits[0].id == published.hub_revision
    files = set(hub.files("dataset", REPO, "v1"))
    assert {e["path"] for e in release.files} <= files
    assert not any(path.startswith(".hearth") for path in files)


def test_publishing_twice_is_a_no_op(hub_settings, world):
    release = _ready_release(world)
    release_publish(release.pk)
    requests_before = len([r for r in hub_settings.requests if r[0] in ("POST", "PUT")])
    again = release_publish(release.pk)
    writes = [r for r in hub_settings.requests if r[0] in ("POST", "PUT")][requests_before:]
    assert again.state == ReleaseState.PUBLISHED
    assert not [w for w in writes if "/commit/" in w[1] or "/tag/" in w[1]]
    assert len(hub_settings.commits("dataset", REPO)) == 2


def test_a_crash_between_commit_and_tag_is_finished_by_a_retry(hub_settings, world, monkeypatch):
    from huggingface_hub import HfApi

    release = _ready_release(world)
    real_tag = HfApi.create_tag

    def crash(*args, **kwargs):
        raise ConnectionError("network went away")

    monkeypatch.setattr(HfApi, "create_tag", crash)
    with pytest.raises(ConnectionError):
        release_publish(release.pk)
    release.refresh_from_db()
    assert release.state == ReleaseState.READY
    monkeypatch.setattr(HfApi, "create_tag", real_tag)
    published = release_publish(release.pk)
    assert published.state == ReleaseState.PUBLISHED
    # No second upload: the commit made before the crash was found and tagged.
    assert len(hub_settings.commits("dataset", REPO)) == 2


def test_the_published_data_loads_with_datasets(hub_settings, world, tmp_path):
    import datasets

    release = _ready_release(world)
    release_publish(release.pk)
    sft = datasets.load_dataset(REPO, "sft", revision="v1", cache_dir=str(tmp_path / "cache"))
    loaded = {row["id"] for split in sft.values() for row in split}
    from tests.releases.helpers import all_rows

    assert loaded == {row["id"] for row in all_rows(release, "sft")}
    assert loaded


def test_publishing_needs_the_hub_configured(settings, world, monkeypatch):
    settings.HUB_NAMESPACE = ""
    release = _ready_release(world)
    with pytest.raises(PublishingOff):
        release_publish(release.pk)
