"""/api/v1/releases/ and the Releases pages."""

from __future__ import annotations

from django.test import Client

from apps.releases.models import Release, ReleaseState
from tests.conftest import client_for
from tests.releases.helpers import build


def test_maintainers_cut_a_release_through_the_api(
    api_maintainer, django_capture_on_commit_callbacks, an_answer, settings
):
    settings.DATA_DIR.mkdir(exist_ok=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = api_maintainer.post(
            "/api/v1/releases/", {"languages": ["en"], "test_share": 0.1}, format="json"
        )
    assert r.status_code == 201, r.json()
    assert r.json()["version"] == "v1"
    assert r.json()["state"] == "building"
    assert r.json()["filter"]["languages"] == ["en"]
    assert len(callbacks) == 1  # the build is queued once the row is committed


def test_volunteers_cannot_cut_releases(api, db):
    r = api.post("/api/v1/releases/", {}, format="json")
    assert r.status_code == 403
    assert not Release.objects.exists()


def test_a_bad_filter_is_400(api_maintainer, db):
    r = api_maintainer.post("/api/v1/releases/", {"categories": ["poetry"]}, format="json")
    assert r.status_code == 400
    assert not Release.objects.exists()


def test_a_filter_that_matches_no_answer_is_400_naming_why(api_maintainer, an_answer):
    r = api_maintainer.post("/api/v1/releases/", {"languages": ["sw"]}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "non_field_errors": ["No accepted answer matches this filter (languages: sw)."]
    }
    assert not Release.objects.exists()


def test_anyone_lists_finished_releases_and_downloads_files(world, api_anon):
    release = build()
    Release.objects.create(number=99, version="v99", state=ReleaseState.BUILDING, filter={})
    body = api_anon.get("/api/v1/releases/").json()
    assert [r["version"] for r in body["results"]] == ["v1"]
    detail = api_anon.get("/api/v1/releases/v1/").json()
    assert detail["content_hash"] == release.content_hash
    assert api_anon.get("/api/v1/releases/v99/").status_code == 404
    url = detail["downloads"]["data/sft/train-00000-of-00001.parquet"]
    response = Client().get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"PAR1"
    assert Client().get("/releases/v1/files/.hearth/keys/sft.txt").status_code == 404


def test_the_release_pages_render(world, maintainer, settings):
    settings.HUB_NAMESPACE = "hearth-test"
    build()
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    assert "v1" in html and "Build release" in html
    html = web.get("/releases/v1/").content.decode()
    assert "data/sft/train-00000-of-00001.parquet" in html
    assert "Publish to the Hub" in html


def test_without_a_hub_the_release_page_says_so_instead_of_a_publish_button(
    world, maintainer, settings
):
    settings.HUB_NAMESPACE = ""
    build()
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert "Publish to the Hub" not in html
    assert "/releases/v1/publish/" not in html
    assert "Hub publishing is off: set HUB_NAMESPACE" in html
    # Visitors see neither: publishing is not theirs to ask for.
    assert "Hub publishing is off" not in Client().get("/releases/v1/").content.decode()


def test_publishing_without_a_hub_is_a_clear_409(world, maintainer, settings):
    settings.HUB_NAMESPACE = ""
    build()
    r = client_for(maintainer).post("/api/v1/releases/v1/publish/")
    assert r.status_code == 409
    assert "HUB_NAMESPACE" in r.json()["detail"]
