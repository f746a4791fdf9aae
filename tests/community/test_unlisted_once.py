"""Your impact reads who is off the board (opted out or banned) once a request, not once for
each cached board it ranks the person on: /mine/ read it three times, /api/v1/me/stats/
twice. And the ranks still leave out whoever left the board since the boards were cached."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.community import selectors
from tests.community.helpers import contribute
from tests.conftest import client_for
from tests.query_counts import web

pytestmark = pytest.mark.django_db


def unlisted_reads(fetch) -> int:
    """How many times ``fetch()`` reads the people off the board."""
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200, response.content[:300]
    return sum(
        1
        for q in captured.captured_queries
        if 'FROM "accounts_user" WHERE (NOT "accounts_user"."on_leaderboard"' in q["sql"]
    )


@pytest.fixture
def cached_boards(volunteer, make_volunteer):
    """The three boards cached with the volunteer and another person on them."""
    contribute(volunteer, prompts=1, reviews=2)
    contribute(make_volunteer(), reviews=5)
    for period in selectors.PERIODS:
        selectors.leaderboard(period=period)


@pytest.mark.usefixtures("cached_boards")
def test_my_contributions_read_who_is_off_the_board_once(volunteer):
    assert unlisted_reads(lambda: web(volunteer).get("/mine/")) == 1


@pytest.mark.usefixtures("cached_boards")
def test_my_stats_read_who_is_off_the_board_once(volunteer):
    assert unlisted_reads(lambda: client_for(volunteer).get("/api/v1/me/stats/")) == 1


def test_a_person_who_left_the_board_since_it_was_cached_is_ranked_without(
    volunteer, make_volunteer
):
    contribute(volunteer, reviews=2)
    ahead = make_volunteer()
    contribute(ahead, reviews=5)
    assert selectors.impact_for_user(user=volunteer).ranks["all"] == 2  # and cached
    ahead.on_leaderboard = False
    ahead.save(update_fields=["on_leaderboard"])

    ranks = selectors.impact_for_user(user=volunteer).ranks

    assert ranks == dict.fromkeys(selectors.PERIODS, 1)
