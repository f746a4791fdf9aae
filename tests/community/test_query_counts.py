"""The leaderboard and Your impact read a bounded number of queries, however many people and
contributions there are: each is fetched with a few and with a page's worth, uncached."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.collection.models import Category
from apps.community import selectors
from apps.community.selectors import progress as progress_selectors
from tests.community.helpers import answer, contribute, prompt, ranking, review
from tests.query_counts import assert_flat, queries, web

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uncached(monkeypatch):
    """Every request computes the boards afresh (a timeout of 0 stores nothing), so what is
    counted is the computation, not a cache hit."""
    monkeypatch.setattr(selectors, "LEADERBOARD_CACHE_SECONDS", 0)


def people(make_volunteer):
    def add(n: int) -> None:
        for _ in range(n):
            contribute(make_volunteer(), prompts=1, answers=1, reviews=1, rankings=1)

    return add


@pytest.mark.parametrize("viewer", ["anonymous", "listed", "opted out"])
@pytest.mark.parametrize("period", ["week", "all"])
def test_the_community_page_runs_the_same_queries_for_a_full_page(
    viewer, period, volunteer, make_volunteer
):
    if viewer == "opted out":
        volunteer.on_leaderboard = False
        volunteer.save(update_fields=["on_leaderboard"])
    contribute(volunteer, reviews=1)
    client = web(None if viewer == "anonymous" else volunteer)
    assert_flat(lambda: client.get("/community/", {"period": period}), people(make_volunteer))


def test_the_community_page_computes_the_board_in_one_query(db):
    # The page itself (anonymous: no session or user to read) is the board's query alone.
    assert queries(lambda: web(None).get("/community/")) == 1


def test_the_leaderboard_api_runs_the_same_queries_for_a_full_page(api, make_volunteer):
    assert_flat(lambda: api.get("/api/v1/community/leaderboard/"), people(make_volunteer))


def own_work(user):
    """Contributions of every kind spread over many days, in review and rejected too."""
    now = timezone.now()

    def add(n: int) -> None:
        for i in range(n):
            when = now - dt.timedelta(days=i * 3)
            prompt(user, when)
            prompt(user, when, state="review")
            prompt(user, when, state="rejected")
            answer(user, when)
            answer(user, when, state="review")
            review(user, when)
            ranking(user, when)

    return add


def test_my_stats_run_the_same_queries_for_a_long_history(api, volunteer, make_volunteer):
    people(make_volunteer)(3)
    assert_flat(lambda: api.get("/api/v1/me/stats/"), own_work(volunteer))


def test_my_contributions_runs_the_same_queries_with_your_impact(volunteer, make_volunteer):
    people(make_volunteer)(3)
    client = web(volunteer)
    assert_flat(lambda: client.get("/mine/"), own_work(volunteer))


def test_progress_is_computed_in_six_queries_then_read_from_the_cache(data_set):
    # Anonymous: no session or user to read. The API shares the page's cached copy.
    client = web(None)
    assert queries(lambda: client.get("/community/?view=progress")) == 6
    assert queries(lambda: client.get("/community/?view=progress")) == 0
    assert queries(lambda: client.get("/api/v1/community/progress/")) == 0


def site_grows(make_volunteer):
    """More of everything the Progress view counts, in every language and category."""

    def add(n: int) -> None:
        categories = [value for value, _ in Category.choices]
        for i in range(n):
            person = make_volunteer()
            prompt(person, category=categories[i % len(categories)], language=f"x-l{i}")
            prompt(person, state="review")
            answer(person)
            review(person)
            ranking(person)

    return add


@pytest.mark.parametrize("url", ["/community/?view=progress", "/api/v1/community/progress/"])
def test_progress_reads_the_same_queries_however_much_there_is(url, monkeypatch, make_volunteer):
    monkeypatch.setattr(progress_selectors, "PROGRESS_CACHE_SECONDS", 0)
    client = web(None)
    assert_flat(lambda: client.get(url), site_grows(make_volunteer))
    assert queries(lambda: client.get(url)) == 6
