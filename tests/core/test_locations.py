"""A 201 says where what it made lives: its body's ``url``, sent again as Location, which a
GET answers with the same resource. API QA found only imports did; a client had to build the
other URLs from the README."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from tests.factories import PromptFactory, ResponseFactory
from tests.training.conftest import make_release
from tests.training.test_web import succeeded

Made = tuple[APIClient, str, dict[str, Any], str]


def _prompt(api: APIClient, api_maintainer: APIClient) -> Made:
    body = {"instruction": "Name three rivers.", "category": "open_qa", "language": "en"}
    return api, "/api/v1/prompts/", body, "id"


def _response(api: APIClient, api_maintainer: APIClient) -> Made:
    prompt = PromptFactory(state="collecting")
    return api, f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "The Nile, the Amazon."}, "id"


def _release(api: APIClient, api_maintainer: APIClient) -> Made:
    ResponseFactory()
    return api_maintainer, "/api/v1/releases/", {"languages": ["en"]}, "version"


def _run(api: APIClient, api_maintainer: APIClient) -> Made:
    make_release()
    return api_maintainer, "/api/v1/training-runs/", {"release": "v1", "kind": "sft"}, "id"


@pytest.mark.parametrize("make", [_prompt, _response, _release, _run])
def test_a_201_gives_the_url_of_what_it_made_as_location(
    make: Callable[[APIClient, APIClient], Made],
    api: APIClient,
    api_maintainer: APIClient,
    settings: Any,
    tmp_path: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DATA_DIR = tmp_path  # a release's build is queued on commit, and not run here
    client, url, body, key = make(api, api_maintainer)
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="made-1")
        again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="made-1")
    assert first.status_code == 201, first.json()
    made = first.json()
    assert made["url"].startswith("http://testserver/api/v1/")
    assert first["Location"] == made["url"] and type(first["Location"]) is str
    assert again["Idempotent-Replayed"] == "true" and again["Location"] == made["url"]
    shown = client.get(made["url"])
    assert shown.status_code == 200 and shown.json()[key] == made[key]
    assert shown.json()["url"] == made["url"]
    # Without a key too.
    if make is _prompt:
        other = client.post(url, {**body, "instruction": "Name three lakes."}, format="json")
        assert other.status_code == 201 and other["Location"] == other.json()["url"]
        assert other.json()["url"] != made["url"]


def test_lists_give_each_item_its_url(api: APIClient) -> None:
    answer = ResponseFactory()
    prompts = api.get("/api/v1/prompts/").json()["results"]
    assert [p["url"] for p in prompts] == [f"http://testserver/api/v1/prompts/{answer.prompt_id}/"]
    answers = api.get(f"/api/v1/prompts/{answer.prompt_id}/responses/").json()["results"]
    assert [a["url"] for a in answers] == [f"http://testserver/api/v1/responses/{answer.pk}/"]


def test_a_finished_runs_downloads_are_full_urls(api_maintainer: APIClient) -> None:
    """They were bare paths: TrainingRunOut was given no request, though the README says
    download links are full URLs (releases' were)."""
    run = succeeded(make_release())
    body = api_maintainer.get(f"/api/v1/training-runs/{run.pk}/").json()
    assert body["downloads"] == {
        "model.safetensors": f"http://testserver/training/runs/{run.pk}/files/model.safetensors"
    }
    listed = api_maintainer.get("/api/v1/training-runs/").json()["results"]
    assert listed[0]["downloads"] == body["downloads"]


@pytest.mark.django_db(transaction=True)
def test_a_201_goes_out_through_a_real_wsgi_server(live_server: Any, make_volunteer: Any) -> None:
    """API QA: on `make run` every create answered 500 after saving: the Location header was
    DRF's Hyperlink, a str subclass that wsgiref (runserver's server, and the live server
    here) refuses. The test client does not check header types."""
    from apps.accounts.services import api_token_create

    volunteer = make_volunteer()
    _token, secret = api_token_create(user=volunteer, name="qa")
    r = requests.post(
        f"{live_server.url}/api/v1/prompts/",
        json={"instruction": "Name three rivers.", "category": "open_qa", "language": "en"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text[:300]
    assert r.headers["Location"] == r.json()["url"]
    assert r.headers["Location"].startswith(f"{live_server.url}/api/v1/prompts/")
