"""A search's results as Browse and the API list them (collection.selectors.prompt_browse_public):
the newest SEARCH_RESULTS_LIMIT matches at most, said to be capped when there are more; found a
window of prompts at a time with the same prompts as the plain query; kept a short while in
the cache, for everyone alike, and never with anyone's own or a moderator's view."""

from __future__ import annotations

import time
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.collection import selectors
from apps.collection.models import Category, PromptState, ResponseState
from apps.core import caching
from tests.collection.test_browse import browse, listed
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

CAPPED = "Hearth-Search-Capped"


@pytest.fixture
def limit_3(monkeypatch):
    """A search lists 3 prompts at most, found 2 prompts at a time."""
    monkeypatch.setattr(selectors, "SEARCH_RESULTS_LIMIT", 3)
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 2)


def later(monkeypatch, seconds: float) -> None:
    """The cache's clock, ``seconds`` from now."""
    now = time.time()
    monkeypatch.setattr(caching.time, "time", lambda: now + seconds)


def test_a_search_with_more_matches_than_the_limit_lists_the_newest_and_says_so(
    client, api_anon, limit_3
):
    for n in range(5):
        PromptFactory(instruction=f"Kite {n}?")
    page = browse(client, q="kite")
    assert listed(page) == ["Kite 4?", "Kite 3?", "Kite 2?"]
    assert "More than 3 prompts match “kite”; only the newest 3 are listed." in unescape(page)
    r = api_anon.get("/api/v1/prompts/", {"q": "kite"})
    assert r[CAPPED] == "true"
    assert r.json()["count"] == 3
    assert [p["instruction"] for p in r.json()["results"]] == ["Kite 4?", "Kite 3?", "Kite 2?"]


def test_a_search_within_the_limit_counts_every_match(client, api_anon, limit_3):
    for n in range(3):
        PromptFactory(instruction=f"Kite {n}?")
    page = unescape(browse(client, q="kite"))
    assert "3 prompts match “kite”" in page
    assert "More than" not in page
    r = api_anon.get("/api/v1/prompts/", {"q": "kite"})
    assert (r[CAPPED], r.json()["count"]) == ("false", 3)
    assert api_anon.get("/api/v1/prompts/")[CAPPED] == "false"


def test_the_pages_of_a_capped_search_end_at_the_limit(api_anon, limit_3):
    for n in range(5):
        PromptFactory(instruction=f"Kite {n}?")
    second = api_anon.get("/api/v1/prompts/", {"q": "kite", "page_size": 2, "page": 2})
    assert [p["instruction"] for p in second.json()["results"]] == ["Kite 2?"]
    assert second.json()["next"] is None
    assert (
        api_anon.get("/api/v1/prompts/", {"q": "kite", "page_size": 2, "page": 3}).status_code
        == 404
    )


def test_windows_find_the_same_prompts_as_the_plain_query(monkeypatch):
    """Checked a few prompts at a time, a search finds what the queryset finds, in its order."""
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 2)
    PromptFactory(instruction="The capital of France?", category=Category.OPEN_QA)
    PromptFactory(instruction="What is it?", context="The capital city of Peru.")
    answered = PromptFactory(instruction="What is a capital?")
    ResponseFactory(prompt=answered, text="The seat of a government.")
    in_review = PromptFactory(instruction="The capital of Chad?")
    ResponseFactory(prompt=in_review, text="What is N'Djamena.", state=ResponseState.REVIEW)
    PromptFactory(instruction="What is the capital of Spain?", state=PromptState.REVIEW)
    PromptFactory(instruction="Is water wet?", category=Category.OPEN_QA)
    for n in range(4):
        PromptFactory(instruction=f"Filler {n}: what is this?")
    for search, category in [
        ("what is the capital", None),
        ("capital", None),
        ("the", Category.OPEN_QA),
        ("is", None),
        ("what", None),
        ("nowhere", None),
    ]:
        expected = [p.pk for p in selectors.prompt_list_public(category=category, search=search)]
        found = selectors.prompt_browse_public(category=category, search=search)
        assert found.ids == expected, search


def test_a_new_prompt_shows_in_a_search_once_its_cached_results_expire(client, monkeypatch):
    PromptFactory(instruction="Old kite?")
    assert listed(browse(client, q="kite")) == ["Old kite?"]
    PromptFactory(instruction="New kite?")
    assert listed(browse(client, q="kite")) == ["Old kite?"]  # the same search, kept
    later(monkeypatch, selectors.SEARCH_CACHE_SECONDS + 1)
    assert listed(browse(client, q="kite")) == ["New kite?", "Old kite?"]


def test_searches_alike_but_for_case_and_order_are_searched_once(client):
    PromptFactory(instruction="A red kite?")
    browse(client, q="red kite")
    with CaptureQueriesContext(connection) as captured:
        assert listed(browse(client, q="KITE Red")) == ["A red kite?"]
    assert not [q for q in captured.captured_queries if "LIKE" in q["sql"]]


def test_searches_the_database_tells_apart_are_kept_apart(client):
    """Casefolded, "straße" is "strasse"; PostgreSQL's UPPER keeps ß, so they differ."""
    PromptFactory(instruction="Die Straße im Dorf?")
    PromptFactory(instruction="Die Strasse der Stadt?")
    assert listed(browse(client, q="straße")) == ["Die Straße im Dorf?"]
    assert listed(browse(client, q="STRASSE")) == ["Die Strasse der Stadt?"]


def test_the_filters_are_part_of_what_is_kept(client):
    PromptFactory(instruction="Kite in brainstorming?", category=Category.BRAINSTORMING)
    PromptFactory(instruction="Kite in open questions?", category=Category.OPEN_QA)
    assert len(listed(browse(client, q="kite"))) == 2
    assert listed(browse(client, q="kite", category="open_qa")) == ["Kite in open questions?"]


def test_a_prompt_hidden_after_a_search_leaves_its_page_at_once(client):
    PromptFactory(instruction="Kite one?")
    hidden = PromptFactory(instruction="Kite two?")
    assert listed(browse(client, q="kite")) == ["Kite two?", "Kite one?"]
    hidden.hidden_at = hidden.created_at
    hidden.save(update_fields=["hidden_at"])
    assert listed(browse(client, q="kite")) == ["Kite one?"]


def test_an_authors_own_search_is_never_served_to_others(api, api_anon, volunteer):
    """The author's list (author=me) holds their prompt in review; the public search, kept for
    everyone, never does, whoever searched first."""
    PromptFactory(author=volunteer, instruction="My zebra?", state=PromptState.REVIEW)
    PromptFactory(instruction="A public zebra?")
    own = api.get("/api/v1/prompts/", {"q": "zebra", "author": "me"}).json()
    assert [p["instruction"] for p in own["results"]] == ["My zebra?"]
    for client in (api, api_anon, api):
        public = client.get("/api/v1/prompts/", {"q": "zebra"}).json()
        assert [p["instruction"] for p in public["results"]] == ["A public zebra?"]


def test_a_moderators_search_shows_public_prompts_only_so_visitors_get_the_same(moderator, client):
    PromptFactory(instruction="A hidden zebra?", hidden_at="2026-01-01T00:00:00Z")
    PromptFactory(instruction="A rejected zebra?", state=PromptState.REJECTED)
    PromptFactory(instruction="A public zebra?")
    client.force_login(moderator)
    assert listed(browse(client, q="zebra")) == ["A public zebra?"]
    client.logout()
    assert listed(browse(client, q="zebra")) == ["A public zebra?"]


def test_a_small_site_counts_its_unfiltered_list_so_a_new_prompt_shows_at_once(client):
    assert selectors.site_counts()["prompts"] == 0
    PromptFactory(instruction="The first prompt?")
    assert listed(browse(client)) == ["The first prompt?"]


def test_the_unfiltered_list_takes_the_home_pages_count(client, api_anon, monkeypatch):
    """Counted afresh, it was a scan of every public prompt on each visit; the home page's
    count (kept a minute) is the same set of prompts."""
    monkeypatch.setattr(selectors, "CACHED_COUNT_FROM", 3)
    for n in range(3):
        PromptFactory(instruction=f"Prompt {n}?")
    assert selectors.site_counts()["prompts"] == 3
    for fetch in (lambda: client.get("/browse/"), lambda: api_anon.get("/api/v1/prompts/")):
        with CaptureQueriesContext(connection) as captured:
            assert fetch().status_code == 200
        assert not [q for q in captured.captured_queries if "COUNT(*)" in q["sql"]]
    assert api_anon.get("/api/v1/prompts/").json()["count"] == 3
    assert api_anon.get("/api/v1/prompts/", {"category": "summarization"}).json()["count"] == 0
