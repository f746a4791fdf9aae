"""The home page's counts: the prompts anyone can browse, their accepted answers, and the
people who wrote them, nothing a visitor cannot see."""

from __future__ import annotations

import re

import pytest

from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

GONE = "2026-01-01T00:00:00Z"


def counts(client) -> dict[str, int]:
    html = client.get("/").content.decode()
    found = re.findall(r'data-testid="count-(\w+)">([\d,]+)<', html)
    return {name: int(n.replace(",", "")) for name, n in found}


def test_it_counts_public_prompts_their_accepted_answers_and_their_writers(client):
    prompt = PromptFactory()
    ResponseFactory(prompt=prompt)
    ResponseFactory(prompt=prompt, author=prompt.author)
    PromptFactory(state=PromptState.COMPLETE)
    assert counts(client) == {"prompts": 2, "responses": 2, "contributors": 3}


def test_prompts_nobody_can_browse_are_not_counted_nor_their_answers_or_writers(client):
    for state in (PromptState.REVIEW, PromptState.REJECTED, PromptState.HALTED):
        ResponseFactory(prompt=PromptFactory(state=state))
    ResponseFactory(prompt=PromptFactory(withdrawn_at=GONE))
    ResponseFactory(prompt=PromptFactory(hidden_at=GONE))
    assert counts(client) == {"prompts": 0, "responses": 0, "contributors": 0}


def test_answers_nobody_can_read_are_not_counted_nor_their_writers(client):
    prompt = PromptFactory()
    ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
    ResponseFactory(prompt=prompt, state=ResponseState.REJECTED)
    ResponseFactory(prompt=prompt, withdrawn_at=GONE)
    ResponseFactory(prompt=prompt, hidden_at=GONE)
    assert counts(client) == {"prompts": 1, "responses": 0, "contributors": 1}


def test_the_counts_match_what_browse_lists(client):
    """A banned author's work leaves Browse, so it leaves the counts."""
    banned = UserFactory(banned_at=GONE)
    ResponseFactory(prompt=PromptFactory(author=banned))
    ResponseFactory(prompt=PromptFactory(), author=banned)
    PromptFactory(state=PromptState.REVIEW)
    browse = client.get("/browse/").content.decode()
    assert "1 prompt" in browse
    assert counts(client) == {"prompts": 1, "responses": 0, "contributors": 1}


def test_a_model_written_answer_counts_as_an_answer_but_its_account_is_nobody(client):
    from apps.accounts.services import model_author
    from apps.collection.models import Source

    prompt = PromptFactory()
    ResponseFactory(prompt=prompt, author=model_author(), source=Source.MODEL)
    assert counts(client) == {"prompts": 1, "responses": 1, "contributors": 1}


def test_the_counts_are_read_from_the_cache_for_a_minute(client, monkeypatch):
    """Counted afresh, they are three scans of every public prompt and answer on each visit to
    the busiest page (280 ms at 30,000 prompts): they are counted at most once a minute."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.collection.selectors import SITE_COUNTS_CACHE_SECONDS

    ResponseFactory(prompt=PromptFactory())
    assert counts(client) == {"prompts": 1, "responses": 1, "contributors": 2}
    PromptFactory()
    with CaptureQueriesContext(connection) as captured:
        assert counts(client) == {"prompts": 1, "responses": 1, "contributors": 2}
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"]]
    # The minute is over: the next visit counts again.
    later = time.time() + SITE_COUNTS_CACHE_SECONDS + 1
    monkeypatch.setattr("apps.core.caching.time.time", lambda: later)
    assert counts(client) == {"prompts": 2, "responses": 1, "contributors": 3}


def test_the_page_says_what_it_counts_and_where_work_in_review_is_counted(client):
    PromptFactory(state=PromptState.REVIEW)
    html = client.get("/").content.decode()
    note = re.search(r'<p class="muted stats-note">(.*?)</p>', html, re.S)
    assert note and "Public work only" in note[1]
    link = re.search(r'href="([^"]+)">Progress</a>', note[1])
    assert link and client.get(link[1].replace("&amp;", "&")).status_code == 200
    assert 'data-testid="pipeline-rankings"' in client.get(link[1]).content.decode()
