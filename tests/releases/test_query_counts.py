"""The releases pages and list run no query per release or per model: each is fetched with a
few and with many, and the number of queries must be the same."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.releases import selectors
from apps.releases.models import Release, ReleaseState
from apps.training.models import RunState, TrainingRun
from tests.query_counts import MANY, assert_flat, web
from tests.training.conftest import make_release

pytestmark = pytest.mark.django_db


def releases(n: int) -> None:
    """Finished releases, each after the one before, and one building in between."""
    for _ in range(n):
        previous = Release.objects.filter(state=ReleaseState.READY).order_by("-number").first()
        make_release(previous=previous, changes={"sft": {"added": 3, "removed": 1}})
    make_release(state=ReleaseState.BUILDING, counts={}, finished_at=None)


@pytest.mark.parametrize("viewer", ["anonymous", "maintainer"])
def test_the_releases_page_runs_the_same_queries_for_many_releases(viewer, request, monkeypatch):
    user = request.getfixturevalue("maintainer") if viewer == "maintainer" else None
    # The form's suggested test share, counted at every visit: the page keeps it a minute,
    # but counts it again once a release is cut, as adding releases here does.
    monkeypatch.setattr(selectors, "SUGGESTED_SHARE_CACHE_SECONDS", 0)
    client = web(user)
    assert_flat(lambda: client.get("/releases/"), releases)
    assert client.get("/releases/").content.decode().count("+3 / −1") == MANY


def test_the_releases_api_runs_the_same_queries_for_a_full_page(api_anon):
    assert_flat(lambda: api_anon.get("/api/v1/releases/"), releases)
    results = api_anon.get("/api/v1/releases/").json()["results"]
    assert len(results) == 20
    assert all(r["previous"] for r in results)


def test_a_release_page_runs_the_same_queries_for_many_models(maintainer):
    release = make_release()

    def models(n: int) -> None:
        for _ in range(n):
            TrainingRun.objects.create(
                release=release,
                kind="sft",
                base_model="org/base",
                state=RunState.SUCCEEDED,
                finished_at=timezone.now(),
                metrics={"eval_loss": 1.5},
                hub_repo="hearth/hearth-sft",
                hub_revision="c0ffee",
            )

    client = web(maintainer)
    assert_flat(lambda: client.get(f"/releases/{release.version}/"), models)
    assert (
        client.get(f"/releases/{release.version}/").content.decode().count('class="card model"')
        == MANY
    )
