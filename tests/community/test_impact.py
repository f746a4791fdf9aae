"""A volunteer's own stats (apps.community.selectors.impact_for_user) and streaks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.collection.models import PromptState, ResponseState
from apps.community import selectors
from apps.community.selectors import streaks
from tests.community.helpers import answer, contribute, prompt, ranking, review, utc

# Wednesday 11 March 2026.
TODAY = dt.date(2026, 3, 11)


def days(*offsets: int) -> set[dt.date]:
    """Days so many days before TODAY."""
    return {TODAY - dt.timedelta(days=n) for n in offsets}


def test_no_days_no_streak():
    assert streaks(set(), today=TODAY) == (0, 0)


def test_a_streak_ending_today_is_current():
    assert streaks(days(0, 1, 2), today=TODAY) == (3, 3)


def test_a_streak_ending_yesterday_is_still_current():
    assert streaks(days(1, 2, 3, 4), today=TODAY) == (4, 4)


def test_a_whole_day_without_a_contribution_ends_the_streak():
    assert streaks(days(2, 3, 4), today=TODAY) == (0, 3)


def test_the_longest_streak_is_kept_after_a_gap():
    assert streaks(days(0, 1, 3, 4, 5, 6, 10, 11), today=TODAY) == (2, 4)


def test_a_streak_runs_across_a_month_and_a_year_boundary():
    run = {dt.date(2025, 12, 30), dt.date(2025, 12, 31), dt.date(2026, 1, 1)}
    assert streaks(run, today=dt.date(2026, 1, 2)) == (3, 3)


@pytest.mark.django_db
def test_impact_counts_in_review_acceptance_and_imported_work(volunteer):
    now = timezone.now()
    prompt(volunteer, state=PromptState.COLLECTING)
    prompt(volunteer, state=PromptState.COMPLETE)
    prompt(volunteer, state=PromptState.COMPLETE)
    prompt(volunteer, state=PromptState.REJECTED)
    prompt(volunteer, state=PromptState.REVIEW)
    prompt(volunteer, state=PromptState.REJECTED, withdrawn_at=now)  # left out of everything
    prompt(volunteer, hidden_at=now)  # neither accepted nor rejected
    prompt(volunteer, origin="databricks-dolly-15k")
    answer(volunteer)
    answer(volunteer, state=ResponseState.REVIEW)
    answer(volunteer, state=ResponseState.REVIEW)
    answer(volunteer, origin="databricks-dolly-15k")
    review(volunteer)
    ranking(volunteer)

    impact = selectors.impact_for_user(user=volunteer)

    assert (impact.prompts, impact.answers, impact.reviews, impact.rankings) == (3, 1, 1, 1)
    assert impact.total == 6
    assert (impact.prompts_in_review, impact.answers_in_review) == (1, 2)
    assert impact.prompt_acceptance == selectors.Acceptance(accepted=3, rejected=1)
    assert (impact.prompt_acceptance.rate, impact.prompt_acceptance.percent) == (0.75, 75)
    assert impact.answer_acceptance == selectors.Acceptance(accepted=1, rejected=0)
    assert impact.imported == 2
    # Today's bar: the six counted and the three in review.
    assert impact.days[-1] == selectors.Day(selectors.today_utc(), 9)
    assert len(impact.days) == 56
    assert (impact.current_streak, impact.longest_streak) == (1, 1)


@pytest.mark.django_db
def test_nothing_decided_has_no_acceptance_rate(volunteer):
    impact = selectors.impact_for_user(user=volunteer)
    assert impact.prompt_acceptance.rate is None
    assert impact.prompt_acceptance.percent is None
    assert impact.total == 0
    assert impact.ranks == {"week": None, "month": None, "all": None}
    assert impact.busiest_day is None
    assert (impact.current_streak, impact.longest_streak, impact.last_day) == (0, 0, None)


@pytest.mark.django_db
def test_impact_ranks_this_week_this_month_and_all_time(volunteer, volunteer2, make_volunteer):
    contribute(volunteer, reviews=5, when=utc(2026, 1, 5, 10))  # long ago
    contribute(volunteer, reviews=1, when=utc(2026, 3, 10, 10))  # this week
    contribute(volunteer2, reviews=2, when=utc(2026, 3, 10, 10))  # this week
    contribute(make_volunteer(), reviews=3, when=utc(2026, 3, 2, 10))  # this month

    impact = selectors.impact_for_user(user=volunteer, today=TODAY)

    assert impact.ranks == {"week": 2, "month": 3, "all": 1}
    assert impact.total == 6


@pytest.mark.django_db
def test_opted_out_impact_says_where_one_would_be_and_a_ban_removes_the_ranks(
    volunteer, volunteer2
):
    contribute(volunteer2, reviews=3)
    contribute(volunteer, reviews=2)
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])

    impact = selectors.impact_for_user(user=volunteer)
    assert impact.ranks == {"week": 2, "month": 2, "all": 2}
    assert impact.on_leaderboard is False
    assert impact.reviews == 2

    volunteer.banned_at = timezone.now()
    volunteer.save(update_fields=["banned_at"])
    impact = selectors.impact_for_user(user=volunteer)
    assert impact.ranks == {"week": None, "month": None, "all": None}
    assert (impact.banned, impact.reviews) == (True, 2)  # they still see their own work


@pytest.mark.django_db
def test_streak_and_chart_count_utc_days_with_work_in_review_too(volunteer):
    review(volunteer, utc(2026, 3, 10, 23, 59, 59))  # yesterday
    prompt(volunteer, utc(2026, 3, 9, 0, 0, 0), state=PromptState.REVIEW)  # the day before
    answer(volunteer, utc(2026, 3, 9, 18, 0, 0))
    ranking(volunteer, utc(2026, 3, 1, 12, 0, 0))
    ranking(volunteer, utc(2026, 2, 28, 12, 0, 0))
    review(volunteer, utc(2026, 1, 14, 12, 0, 0))  # outside the chart's 56 days

    impact = selectors.impact_for_user(user=volunteer, today=TODAY)

    assert (impact.current_streak, impact.longest_streak) == (2, 2)
    assert impact.last_day == dt.date(2026, 3, 10)
    assert impact.days[0].date == TODAY - dt.timedelta(days=55)
    assert impact.days[-1] == selectors.Day(TODAY, 0)
    active = {day.date: day.count for day in impact.days if day.count}
    assert active == {
        dt.date(2026, 3, 10): 1,
        dt.date(2026, 3, 9): 2,
        dt.date(2026, 3, 1): 1,
        dt.date(2026, 2, 28): 1,
    }
    assert (impact.chart_total, impact.chart_active_days) == (5, 4)
    assert impact.busiest_day == selectors.Day(dt.date(2026, 3, 9), 2)


@pytest.mark.django_db
def test_impact_totals_agree_with_the_board_row(volunteer):
    contribute(volunteer, prompts=2, answers=3, reviews=1, rankings=4)
    row = selectors.leaderboard(period="all")[0]
    impact = selectors.impact_for_user(user=volunteer)
    assert (row.prompts, row.answers, row.reviews, row.rankings) == (
        impact.prompts,
        impact.answers,
        impact.reviews,
        impact.rankings,
    )
