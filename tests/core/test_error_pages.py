"""The 403, 404 and 500 pages, and the API's JSON 404 and 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from apps.collection.models import PromptState
from tests.conftest import client_for
from tests.factories import PromptFactory


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/training/", "Only maintainers may open this page."),
        ("/moderation/", "Only moderators may open this page."),
        ("/moderation/log/", "Only moderators may open this page."),
    ],
)
def test_a_page_for_another_role_is_403_in_the_site_layout(web, path, reason):
    r = web.get(path)
    assert r.status_code == 403
    assert "403.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert '<header class="site-header">' in html
    assert "<h1>This page is not open to you</h1>" in html
    assert reason in html
    assert '<a class="button" href="/">Go to the home page</a>' in html


@pytest.mark.django_db
def test_editing_someone_elses_prompt_says_why_in_the_site_layout(web):
    prompt = PromptFactory(state=PromptState.COLLECTING)
    r = web.get(f"/prompts/{prompt.pk}/edit/")
    assert r.status_code == 403
    assert "Only the author may change this prompt." in r.content.decode()
    assert "My contributions" in r.content.decode()  # the signed-in navigation


@pytest.mark.django_db
def test_a_missing_page_is_404_in_the_site_layout(client):
    for path in ("/prompts/999999/", "/no-such-page/"):
        r = client.get(path)
        assert r.status_code == 404
        assert "404.html" in [t.name for t in r.templates]
        html = r.content.decode()
        assert '<header class="site-header">' in html
        assert "<h1>Page not found</h1>" in html
        assert '<a class="button" href="/">Go to the home page</a>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/prompts/1/withdraw/", "/releases/v1/publish/"])
def test_visiting_an_action_address_is_a_405_page_not_a_blank_one(web, path):
    # E.g. a session that expired before "Withdraw": the login page returns here with a GET.
    r = web.get(path)
    assert r.status_code == 405
    assert r["Allow"] == "POST"
    assert "405.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert '<header class="site-header">' in html
    assert "<h1>This address answers a button, not a visit</h1>" in html
    assert "Nothing was done." in html


@pytest.mark.django_db
def test_the_apis_405_stays_json(api):
    r = api.get("/api/v1/prompts/1/withdraw/")
    assert r.status_code == 405
    assert r.json() == {"detail": 'Method "GET" not allowed.'}


@pytest.mark.django_db
def test_an_expired_form_is_a_403_page_saying_what_to_do(volunteer):
    # A page opened before signing in again in another tab posts a token that no longer fits;
    # Django's CSRF failure view renders 403_csrf.html with the request when it exists.
    web = Client(enforce_csrf_checks=True)
    web.force_login(volunteer)
    r = web.post("/write/", {"instruction": "Lost words", "csrfmiddlewaretoken": "stale"})
    assert r.status_code == 403
    assert "403_csrf.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert '<header class="site-header">' in html
    assert "<h1>This form was not sent</h1>" in html
    assert "Nothing was saved." in html
    assert "My contributions" in html  # the signed-in navigation: rendered with the request


def test_the_500_page_needs_neither_a_request_context_nor_the_database():
    # No django_db mark: any query here fails the test.
    r = server_error(RequestFactory().get("/"))
    assert r.status_code == 500
    html = r.content.decode()
    assert "<h1>Something went wrong</h1>" in html
    assert '<link rel="stylesheet" href="/static/css/hearth.css">' in html
    assert '<a class="button" href="/">Go to the home page</a>' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/prompts/-1/"),
        ("get", "/api/v1/prompts/abc/"),
        ("post", "/api/v1/tasks/abc/submit/"),
        ("get", "/api/v1/no-such-endpoint/"),
    ],
)
def test_an_api_url_no_route_matches_is_the_apis_json_404(volunteer, method, path):
    r = getattr(client_for(volunteer), method)(path)
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"detail": "Not found, or you may not see it."}
    # The same answer as for an id that matches the route but no prompt.
    assert client_for(volunteer).get("/api/v1/prompts/999999/").json() == r.json()


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_under_debug_too_an_unknown_api_path_is_json(settings, volunteer, debug):
    """API QA: on `make run` (DEBUG) /api/v1/nope/ answered Django's HTML debug page."""
    settings.DEBUG = debug
    for path in ("/api/v1/nope/", "/api/v1/prompts/abc/", "/api/nope"):
        r = client_for(volunteer).get(path, HTTP_ACCEPT_LANGUAGE="es")
        assert r.status_code == 404 and r["Content-Type"] == "application/json", path
        assert r.json() == {"detail": "No encontrado, o no tienes permiso para verlo."}


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_a_write_without_its_trailing_slash_is_sent_on_with_its_method(settings, volunteer, debug):
    """API QA: POST /api/v1/prompts (no slash) was a 500 under DEBUG (CommonMiddleware refuses
    to redirect a POST) and a 301 otherwise, which clients follow as a GET, losing the body.
    A 308 keeps the method and the body."""
    settings.DEBUG = debug
    api = client_for(volunteer)
    r = api.post(
        "/api/v1/prompts?x=1",
        {"instruction": "Name three rivers.", "category": "open_qa", "language": "en"},
        format="json",
    )
    assert r.status_code == 308 and r["Location"] == "/api/v1/prompts/?x=1"
    assert api.patch("/api/v1/me", {}, format="json")["Location"] == "/api/v1/me/"
    followed = api.post(
        "/api/v1/prompts",
        {"instruction": "Name three rivers.", "category": "open_qa", "language": "en"},
        format="json",
        follow=True,
    )
    assert followed.status_code == 201


def test_a_500_under_the_api_is_json():
    """Django, not DRF, answers an error that escapes a view: under /api/ it is still JSON."""
    from apps import urls
    from apps.core.views import server_error as hearth_server_error

    assert urls.handler500 == "apps.core.views.server_error"
    r = hearth_server_error(RequestFactory().get("/api/v1/prompts/"))
    assert r.status_code == 500
    assert r["Content-Type"] == "application/json"
    assert "Something went wrong on our side" in json.loads(r.content)["detail"]
    page = hearth_server_error(RequestFactory().get("/prompts/"))
    assert "<h1>Something went wrong</h1>" in page.content.decode()
