"""Publishing a release through the real huggingface_hub client to the suite's local
Hub-compatible server, then reading it back with the client and datasets.load_dataset."""

from __future__ import annotations

import pytest
from django.utils import translation

from apps.releases.models import PublishState, Release, ReleaseState
from apps.releases.publishing import PublishBusy, PublishingOff, release_publish
from apps.releases.services import release_publish_enqueue
from apps.releases.tasks import publish_release
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


# --- what became of a publish: the task, its retries, its failures ---------------------------


@pytest.fixture
def queued(monkeypatch):
    """The publishes queued (``apply_async``'s arguments) instead of sent: the tests run the
    task themselves."""
    sent: list[dict] = []
    monkeypatch.setattr(publish_release, "apply_async", lambda **kwargs: sent.append(kwargs))
    return sent


def _asked(release):
    """Ask for the release's publishing, as the page or the API does."""
    return release_publish_enqueue(release=release)


def test_a_publish_without_a_token_fails_and_says_why(hub_settings, world, monkeypatch, queued):
    """It left the release ready with no error, and the page offered Publish as before."""
    release = _ready_release(world)
    monkeypatch.delenv("HF_TOKEN")
    assert _asked(release)
    assert release.publish_state == PublishState.PUBLISHING
    with pytest.raises(PublishingOff):
        publish_release.apply(args=(release.pk,)).get()
    release.refresh_from_db()
    assert (release.state, release.publish_state) == (ReleaseState.READY, PublishState.FAILED)
    assert release.publish_error == "HF_TOKEN is not set in the publishing process's environment."
    assert not hub_settings.repos("dataset")


def test_a_refused_token_fails_at_once_with_the_hubs_answer(
    hub_settings, world, monkeypatch, queued
):
    release = _ready_release(world)
    monkeypatch.setenv("HF_TOKEN", "hf_not_the_right_one")
    _asked(release)
    result = publish_release.apply(args=(release.pk,))
    with pytest.raises(Exception):  # noqa: B017 - the client's HTTP error, whatever its class
        result.get()
    release.refresh_from_db()
    assert release.publish_state == PublishState.FAILED
    assert release.publish_error == (
        "The Hub refused the token (HTTP 401): check HF_TOKEN in the exports worker's "
        "environment and that it may write to hearth-org."
    )
    assert result.info.__class__.__name__ != "Retry"  # not retried: it would fail the same


def test_network_errors_are_retried_and_the_release_is_published_once(
    hub_settings, world, monkeypatch, queued
):
    from huggingface_hub import HfApi

    release = _ready_release(world)
    real_commit = HfApi.create_commit
    notes = []

    def flaky(self, *args, **kwargs):
        notes.append(Release.objects.get(pk=release.pk).publish_error)
        if len(notes) < 3:
            raise ConnectionError("network went away")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", flaky)
    _asked(release)
    publish_release.apply(args=(release.pk,))
    release.refresh_from_db()
    assert (release.state, release.publish_state) == (
        ReleaseState.PUBLISHED,
        PublishState.PUBLISHED,
    )
    assert release.publish_error == ""
    # While it tried again, the release said why.
    assert notes == [
        "",
        "Try 1 failed and will be repeated: ConnectionError: network went away",
        "Try 2 failed and will be repeated: ConnectionError: network went away",
    ]
    assert len(hub_settings.commits("dataset", REPO)) == 2


def test_network_errors_that_never_end_fail_after_the_last_try(
    hub_settings, world, monkeypatch, queued
):
    from huggingface_hub import HfApi

    from apps.releases.tasks import PUBLISH_TRIES

    def down(*args, **kwargs):
        raise ConnectionError("network went away")

    monkeypatch.setattr(HfApi, "create_commit", down)
    release = _ready_release(world)
    _asked(release)
    publish_release.apply(args=(release.pk,))
    release.refresh_from_db()
    assert release.publish_state == PublishState.FAILED
    assert release.publish_error == (
        f"Gave up after {PUBLISH_TRIES} tries: ConnectionError: network went away"
    )


def test_publishing_again_after_a_failure_makes_no_second_commit(
    hub_settings, world, monkeypatch, queued
):
    """The commit was made, then tagging failed for good: asked again, the commit is found
    and tagged."""
    from huggingface_hub import HfApi

    release = _ready_release(world)
    real_tag = HfApi.create_tag

    def refused(*args, **kwargs):
        raise PermissionError("tags are protected")

    monkeypatch.setattr(HfApi, "create_tag", refused)
    _asked(release)
    with pytest.raises(PermissionError):
        publish_release.apply(args=(release.pk,)).get()
    release.refresh_from_db()
    assert release.publish_state == PublishState.FAILED
    assert release.publish_error == "PermissionError: tags are protected"
    monkeypatch.setattr(HfApi, "create_tag", real_tag)
    assert _asked(release)  # a failed publish may be asked for again
    release.refresh_from_db()
    assert (release.publish_state, release.publish_error) == (PublishState.PUBLISHING, "")
    publish_release.apply(args=(release.pk,)).get()
    release.refresh_from_db()
    assert release.publish_state == PublishState.PUBLISHED
    assert len(hub_settings.commits("dataset", REPO)) == 2


def test_an_attempt_while_another_publishes_the_release_leaves_it_alone(
    hub_settings, world, queued
):
    """A redelivered task beside the first, or a second request: both could find no commit
    and both make one."""
    import psycopg
    from django.db import connection

    from apps.releases.publishing import PUBLISH_LOCK_CLASS

    release = _ready_release(world)
    _asked(release)
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [PUBLISH_LOCK_CLASS, release.pk])
        with pytest.raises(PublishBusy):
            release_publish(release.pk)
        assert publish_release.apply(args=(release.pk,)).get() == ""
    release.refresh_from_db()
    assert release.publish_state == PublishState.PUBLISHING  # the other attempt's to finish
    assert not hub_settings.repos("dataset")
    publish_release.apply(args=(release.pk,)).get()  # the lock went with its connection
    release.refresh_from_db()
    assert release.publish_state == PublishState.PUBLISHED


def test_asking_while_it_publishes_or_once_published_queues_nothing(settings, world, queued):
    from datetime import timedelta

    from django.utils import timezone

    from apps.releases.models import PUBLISH_STALE

    settings.HUB_NAMESPACE = "hearth-org"
    release = _ready_release(world)
    assert release_publish_enqueue(release=release) is True
    assert release_publish_enqueue(release=release) is False
    assert queued == [{"args": (release.pk,), "queue": "exports"}]
    # Asked long ago and still not published (its worker died): it may be asked again.
    Release.objects.filter(pk=release.pk).update(
        publish_requested_at=timezone.now() - PUBLISH_STALE - timedelta(minutes=1)
    )
    assert release_publish_enqueue(release=release) is True
    assert len(queued) == 2
    Release.objects.filter(pk=release.pk).update(
        state=ReleaseState.PUBLISHED, publish_state=PublishState.PUBLISHED
    )
    assert release_publish_enqueue(release=release) is False
    assert len(queued) == 2


def test_a_version_tag_the_hub_holds_for_other_data_is_not_taken_as_this_release(
    hub_settings, world, queued
):
    """The dataset repo already had a v1 tag on a commit that is not this release (another
    deployment publishing to the same repo, a database started afresh): publishing v1 marked
    the release published with that commit, so its page, its API and every model trained on
    it named data that was never this release's."""
    from huggingface_hub import HfApi

    hub = hub_settings
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(REPO, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"someone else's data\n",
        path_in_repo="README.md",
        repo_id=REPO,
        repo_type="dataset",
        commit_message="Another v1",
    )
    api.create_tag(REPO, repo_type="dataset", tag="v1")
    foreign = hub.refs("dataset", REPO)["tags"]["v1"]
    release = _ready_release(world)
    _asked(release)
    with pytest.raises(Exception):  # noqa: B017 - the refusal, whatever its class
        publish_release.apply(args=(release.pk,)).get()
    release.refresh_from_db()
    assert (release.state, release.publish_state) == (ReleaseState.READY, PublishState.FAILED)
    assert release.hub_revision == ""
    assert release.publish_error == (
        f"The Hub repository {REPO} already has a tag v1 on commit {foreign}, which is not "
        "this release. Remove that tag on the Hub (or publish to another repository) and "
        "publish again."
    )
    # Nothing was uploaded, and the other tag is left as it was.
    assert len(hub.commits("dataset", REPO)) == 2
    assert hub.refs("dataset", REPO)["tags"]["v1"] == foreign


def test_why_publishing_failed_is_shown_in_the_readers_language(
    hub_settings, world, monkeypatch, queued, maintainer
):
    """The exports worker wrote the reason in its own language (English) when it failed, so a
    Spanish page read "La subida al Hub falló: The Hub refused the token…", though Spanish
    has that message; so did the API, and the training schedule's note quoting it."""
    from django.test import Client

    from apps.training.schedules import maybe_train, schedule_list
    from tests.conftest import client_for

    release = _ready_release(world)
    monkeypatch.setenv("HF_TOKEN", "hf_not_the_right_one")
    _asked(release)
    publish_release.apply(args=(release.pk,))
    release.refresh_from_db()
    assert release.publish_state == PublishState.FAILED
    english = (
        "The Hub refused the token (HTTP 401): check HF_TOKEN in the exports worker's "
        "environment and that it may write to hearth-org."
    )
    spanish = (
        "El Hub rechazó el token (HTTP 401): revisa HF_TOKEN en el entorno del worker de "
        "exportaciones y que pueda escribir en hearth-org."
    )
    web = Client(headers={"Accept-Language": "es"})
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert f"La subida al Hub falló: {spanish}" in html
    api = client_for(maintainer)
    assert api.get("/api/v1/releases/v1/").json()["publish_error"] == english
    es = api.get("/api/v1/releases/v1/", headers={"Accept-Language": "es"}).json()
    assert es["publish_error"] == spanish
    maybe_train()
    with translation.override("es"):
        outcome = next(s for s in schedule_list() if s.task == "training.auto_train").outcome
    assert outcome == [
        f"No se entrena con v1: su subida al Hub falló ({spanish}). Vuelve a subirla desde su "
        "página; el entrenamiento empezará en una ejecución posterior de esta programación."
    ]


def test_a_repeated_try_and_giving_up_say_why_in_the_readers_language(
    hub_settings, world, monkeypatch, queued
):
    from huggingface_hub import HfApi

    from apps.releases.tasks import PUBLISH_TRIES

    seen = []

    def down(*args, **kwargs):
        with translation.override("es"):
            seen.append(Release.objects.get().publish_error_shown)
        raise ConnectionError("network went away")

    monkeypatch.setattr(HfApi, "create_commit", down)
    release = _ready_release(world)
    _asked(release)
    publish_release.apply(args=(release.pk,))
    assert seen[1] == "El intento 1 falló y se repetirá: ConnectionError: network went away"
    release.refresh_from_db()
    with translation.override("es"):
        assert release.publish_error_shown == (
            f"Se abandonó tras {PUBLISH_TRIES} intentos: ConnectionError: network went away"
        )
    assert release.publish_error_shown == (
        f"Gave up after {PUBLISH_TRIES} tries: ConnectionError: network went away"
    )


def test_publishing_an_older_release_after_a_newer_one_leaves_the_hubs_main_on_the_newer(
    hub_settings, world
):
    """v1's publish failed and v2 was published; v1 published afterwards was committed on
    main over v2, so the repo's front page, card and a plain load_dataset(repo) went back to
    the older data."""
    hub = hub_settings
    v1 = _ready_release(world)
    v2 = build()
    release_publish(v2.pk)
    main_before = hub.refs("dataset", REPO)["branches"]["main"]
    v1 = release_publish(v1.pk)
    refs = hub.refs("dataset", REPO)
    assert refs["branches"]["main"] == main_before
    assert refs["tags"]["v2"] == main_before
    assert refs["tags"]["v1"] == v1.hub_revision != main_before
    assert hub.read("dataset", REPO, "README.md", "main").decode().count("# Hearth v2") == 1
    assert "# Hearth v1" in hub.read("dataset", REPO, "README.md", "v1").decode()
    assert set(hub.files("dataset", REPO, "v1")) >= {e["path"] for e in v1.files}
    # Publishing it again is still a no-op.
    assert release_publish(v1.pk).hub_revision == v1.hub_revision
    assert hub.refs("dataset", REPO) == refs


def test_two_releases_published_at_once_leave_the_hubs_main_on_the_newer(
    hub_settings, world, monkeypatch
):
    """v1 and v2 published side by side both found no later release on the Hub and both
    committed on main; v1, slower, committed last and main went back to the older data."""
    import threading
    import time

    from django.db import connection

    from apps.releases import publishing

    hub = hub_settings
    v1 = _ready_release(world)
    v2 = build()
    real_publish_folder = publishing.publish_folder
    v1_in_hub_talk = threading.Event()

    def slow_for_v1(folder, **kwargs):
        if kwargs["tag"] == "v1":
            v1_in_hub_talk.set()
            time.sleep(1.5)  # v2's attempt starts meanwhile
        return real_publish_folder(folder, **kwargs)

    monkeypatch.setattr(publishing, "publish_folder", slow_for_v1)
    errors: list[BaseException] = []

    def publish(release_id):
        try:
            release_publish(release_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=publish, args=(v1.pk,))
    first.start()
    assert v1_in_hub_talk.wait(30)
    second = threading.Thread(target=publish, args=(v2.pk,))
    second.start()
    first.join(60)
    second.join(60)
    assert not errors
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert {v1.publish_state, v2.publish_state} == {PublishState.PUBLISHED}
    refs = hub.refs("dataset", REPO)
    assert refs["branches"]["main"] == refs["tags"]["v2"] == v2.hub_revision
    assert refs["tags"]["v1"] == v1.hub_revision != v2.hub_revision
    assert "# Hearth v2" in hub.read("dataset", REPO, "README.md", "main").decode()


def test_a_published_releases_page_links_its_files_on_the_hub(hub_settings, world, maintainer):
    """The page named the repo and a cut-off commit, with no link (a run's model is linked)."""
    from django.test import Client

    release = release_publish(_ready_release(world).pk)
    html = Client().get("/releases/v1/").content.decode()
    assert f'<a href="{hub_settings.url}/datasets/{REPO}/tree/v1" data-testid="hub-link">' in html
    assert f'title="{release.hub_revision}"' in html
