"""GET /api/v1/community/leaderboard/ (public) and GET /api/v1/me/stats/ (your own)."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.collection.models import PromptState, ResponseState
from apps.community import selectors
from tests.community.helpers import answer, contribute, prompt
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/community/leaderboard/"


def row(rank, name, prompts=0, answers=0, reviews=0, rankings=0, you=False):
    return {
        "rank": rank,
        "name": name,
        "prompts": prompts,
        "answers": answers,
        "reviews": reviews,
        "rankings": rankings,
        "total": prompts + answers + reviews + rankings,
        "you": you,
    }


@pytest.fixture
def board(volunteer, volunteer2):
    """Grace 3, Ada 2, a nameless volunteer 2."""
    contribute(volunteer2, prompts=1, reviews=2)
    contribute(volunteer, answers=1, rankings=1)
    nameless = UserFactory(display_name="")
    contribute(nameless, reviews=2)
    return nameless


def test_anyone_reads_the_leaderboard(api_anon, board):
    r = api_anon.get(URL)
    assert r.status_code == 200
    assert r.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [
            row(1, "Grace", prompts=1, reviews=2),
            row(2, "Ada", answers=1, rankings=1),
            row(2, f"Volunteer #{board.pk}", reviews=2),
        ],
    }


def test_the_callers_row_is_marked(api, board):
    results = api.get(URL).json()["results"]
    assert [r["you"] for r in results] == [False, True, False]


def test_the_leaderboard_pages_like_the_other_lists(api_anon, board):
    first = api_anon.get(URL, {"period": "all", "page_size": 2}).json()
    assert first["count"] == 3
    assert (
        first["next"]
        == "http://testserver/api/v1/community/leaderboard/?page=2&page_size=2&period=all"
    )
    assert first["previous"] is None
    assert [r["name"] for r in first["results"]] == ["Grace", "Ada"]
    second = api_anon.get(first["next"]).json()
    assert [r["rank"] for r in second["results"]] == [2]
    assert api_anon.get(URL, {"page": 9}).status_code == 404


@pytest.mark.parametrize("period", ["week", "month", "all"])
def test_each_period_is_accepted(api_anon, board, period):
    assert api_anon.get(URL, {"period": period}).json()["count"] == 3


def test_an_unknown_period_is_400_with_a_clear_message(api_anon):
    r = api_anon.get(URL, {"period": "year"})
    assert r.status_code == 400
    assert r.json() == {"period": ["Unknown period 'year': use week, month or all."]}


def test_an_empty_leaderboard_is_an_empty_page(api_anon):
    assert api_anon.get(URL).json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_my_stats_need_a_sign_in(api_anon):
    r = api_anon.get("/api/v1/me/stats/")
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_my_stats(api, volunteer, volunteer2):
    contribute(volunteer2, reviews=5)
    prompt(volunteer, state=PromptState.COLLECTING)
    prompt(volunteer, state=PromptState.REJECTED)
    answer(volunteer, state=ResponseState.REVIEW)
    contribute(volunteer, reviews=1, rankings=1)
    today = selectors.today_utc()

    r = api.get("/api/v1/me/stats/")

    assert r.status_code == 200
    body = r.json()
    days = body.pop("days")
    assert body == {
        "counts": {"prompts": 1, "answers": 0, "reviews": 1, "rankings": 1, "total": 3},
        "in_review": {"prompts": 0, "answers": 1},
        "acceptance": {
            "prompts": {"accepted": 1, "rejected": 1, "rate": 0.5},
            "answers": {"accepted": 0, "rejected": 0, "rate": None},
        },
        "imported": 0,
        "ranks": {"week": 2, "month": 2, "all": 2},
        "on_leaderboard": True,
        "streak": {"current": 1, "longest": 1, "last_day": today.isoformat()},
    }
    assert len(days) == 56
    assert days[0] == {"date": (today - dt.timedelta(days=55)).isoformat(), "count": 0}
    assert days[-1] == {"date": today.isoformat(), "count": 4}
