"""The leaderboard (apps.community.selectors.leaderboard): what counts, periods, ties, who is
listed, and the cache."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.collection.models import PromptState, ResponseState, Source
from apps.community import selectors
from tests.community.helpers import answer, contribute, prompt, ranking, review, utc
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def board(period: str = "all", today: dt.date | None = None) -> list[tuple[int, str, int, ...]]:
    """The board as (rank, name, prompts, answers, reviews, rankings, total) rows."""
    return [
        (s.rank, s.name, s.prompts, s.answers, s.reviews, s.rankings, s.total)
        for s in selectors.leaderboard(period=period, today=today)
    ]


def test_accepted_prompts_and_answers_and_every_review_and_ranking_count(volunteer):
    prompt(volunteer, state=PromptState.COLLECTING)
    prompt(volunteer, state=PromptState.RANKING)
    prompt(volunteer, state=PromptState.COMPLETE)
    answer(volunteer)
    review(volunteer)
    review(volunteer)
    ranking(volunteer, order=[1, 2, 3])
    ranking(volunteer, unusable=True)

    assert board() == [(1, "Ada", 3, 1, 2, 2, 8)]


def test_withdrawn_rejected_hidden_halted_in_review_imported_and_model_work_does_not_count(
    volunteer,
):
    now = timezone.now()
    prompt(volunteer, withdrawn_at=now)
    prompt(volunteer, state=PromptState.REJECTED)
    prompt(volunteer, hidden_at=now)
    prompt(volunteer, state=PromptState.HALTED)
    prompt(volunteer, state=PromptState.REVIEW)
    prompt(volunteer, origin="databricks-dolly-15k")
    answer(volunteer, withdrawn_at=now)
    answer(volunteer, state=ResponseState.REJECTED)
    answer(volunteer, hidden_at=now)
    answer(volunteer, state=ResponseState.REVIEW)
    answer(volunteer, origin="databricks-dolly-15k")
    answer(volunteer, source=Source.MODEL)

    assert board() == []


def test_an_answer_still_counts_when_its_prompt_is_withdrawn(volunteer, volunteer2):
    theirs = prompt(volunteer2, withdrawn_at=timezone.now())
    answer(volunteer, prompt=theirs)

    assert board() == [(1, "Ada", 0, 1, 0, 0, 1)]


def test_a_banned_person_is_left_out_and_takes_up_no_rank(volunteer, volunteer2, make_volunteer):
    contribute(volunteer, prompts=1, answers=1, reviews=1, rankings=1)
    banned = make_volunteer(display_name="Mallory", banned_at=timezone.now())
    contribute(banned, prompts=2, answers=2, reviews=2, rankings=2)
    contribute(volunteer2, reviews=1)

    assert board() == [(1, "Ada", 1, 1, 1, 1, 4), (2, "Grace", 0, 0, 1, 0, 1)]


def test_a_person_who_opted_out_is_left_out_and_takes_up_no_rank(volunteer, volunteer2):
    contribute(volunteer, reviews=5)
    contribute(volunteer2, reviews=2)
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])

    assert board() == [(1, "Grace", 0, 0, 2, 0, 2)]


def test_opting_out_or_a_ban_leaves_a_cached_board_at_once_and_the_rest_move_up(
    volunteer, volunteer2, make_volunteer
):
    contribute(volunteer, reviews=5)
    contribute(volunteer2, reviews=2)
    third = make_volunteer(display_name="Linus")
    contribute(third, reviews=2)
    assert board() == [
        (1, "Ada", 0, 0, 5, 0, 5),
        (2, "Grace", 0, 0, 2, 0, 2),
        (2, "Linus", 0, 0, 2, 0, 2),
    ]
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])
    assert board() == [(1, "Grace", 0, 0, 2, 0, 2), (1, "Linus", 0, 0, 2, 0, 2)]
    volunteer2.banned_at = timezone.now()
    volunteer2.save(update_fields=["banned_at"])
    assert board() == [(1, "Linus", 0, 0, 2, 0, 2)]


def test_equal_totals_share_a_rank_and_the_next_rank_skips_ordered_by_user_id(make_volunteer):
    first, second, third, fourth, fifth = (make_volunteer(display_name=n) for n in "ABCDE")
    contribute(fourth, reviews=3)
    contribute(second, prompts=1, reviews=1)  # 2, as many as third and fifth
    contribute(fifth, rankings=2)
    contribute(third, answers=2)
    contribute(first, reviews=1)

    assert board() == [
        (1, "D", 0, 0, 3, 0, 3),
        (2, "B", 1, 0, 1, 0, 2),
        (2, "C", 0, 2, 0, 0, 2),
        (2, "E", 0, 0, 0, 2, 2),
        (5, "A", 0, 0, 1, 0, 1),
    ]


def test_a_person_without_a_display_name_is_shown_by_a_neutral_label_never_the_email(db):
    nameless = UserFactory(display_name="", email="private.person@example.org")
    contribute(nameless, reviews=1)

    assert board() == [(1, f"Volunteer #{nameless.pk}", 0, 0, 1, 0, 1)]


# Wednesday 11 March 2026: the week started on Monday 9 March, the month on Sunday 1 March.
TODAY = dt.date(2026, 3, 11)


def test_the_week_starts_on_monday_and_the_month_on_the_first_at_midnight_utc(volunteer):
    review(volunteer, utc(2026, 2, 28, 23, 59, 59))  # last month
    review(volunteer, utc(2026, 3, 1, 0, 0, 0))  # this month, last week
    review(volunteer, utc(2026, 3, 8, 23, 59, 59))  # this month, last week (a Sunday)
    review(volunteer, utc(2026, 3, 9, 0, 0, 0))  # this week
    review(volunteer, utc(2026, 3, 11, 12, 0, 0))  # today

    assert board("week", TODAY) == [(1, "Ada", 0, 0, 2, 0, 2)]
    assert board("month", TODAY) == [(1, "Ada", 0, 0, 4, 0, 4)]
    assert board("all", TODAY) == [(1, "Ada", 0, 0, 5, 0, 5)]


def test_a_period_counts_when_the_work_was_written_not_when_it_was_accepted(volunteer):
    prompt(volunteer, utc(2026, 3, 6, 9, 0), state=PromptState.COLLECTING)

    assert board("week", TODAY) == []
    assert board("month", TODAY) == [(1, "Ada", 1, 0, 0, 0, 1)]


def test_a_period_is_cached_for_a_minute_and_a_new_week_has_its_own(
    volunteer, django_assert_num_queries
):
    review(volunteer, utc(2026, 3, 10, 8, 0))
    with django_assert_num_queries(1):
        assert board("week", TODAY) == [(1, "Ada", 0, 0, 1, 0, 1)]
    review(volunteer, utc(2026, 3, 10, 9, 0))
    with django_assert_num_queries(1):  # only who left the board since
        assert board("week", TODAY) == [(1, "Ada", 0, 0, 1, 0, 1)]
    # The next Monday: a new key, computed afresh (and last week's work is not in it).
    with django_assert_num_queries(1):
        assert board("week", dt.date(2026, 3, 16)) == []


def test_an_unknown_period_is_refused_with_the_ones_it_knows():
    with pytest.raises(ValidationError) as refused:
        selectors.check_period("year")
    assert refused.value.message_dict == {
        "period": ["Unknown period 'year': use week, month or all."]
    }
    assert selectors.check_period(None) == selectors.check_period("") == "week"


def test_own_standing_for_a_listed_person_comes_from_their_row(volunteer, volunteer2):
    contribute(volunteer2, reviews=3)
    contribute(volunteer, reviews=1)
    standing = selectors.own_standing(
        user=volunteer, board=selectors.leaderboard(period="all"), period="all"
    )
    assert standing == selectors.OwnStanding(
        rank=2, total=1, listed=True, opted_out=False, banned=False, position=1
    )


def test_own_standing_tells_a_person_who_opted_out_where_they_would_be(
    volunteer, volunteer2, make_volunteer
):
    contribute(volunteer2, reviews=3)
    contribute(make_volunteer(), reviews=1)
    contribute(volunteer, reviews=2)
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])
    standing = selectors.own_standing(
        user=volunteer, board=selectors.leaderboard(period="all"), period="all"
    )
    assert standing == selectors.OwnStanding(
        rank=2, total=2, listed=False, opted_out=True, banned=False, position=None
    )


def test_own_standing_counts_work_done_since_the_board_was_cached(volunteer, volunteer2):
    contribute(volunteer2, reviews=1)
    cached = selectors.leaderboard(period="all")
    contribute(volunteer, reviews=2)
    standing = selectors.own_standing(user=volunteer, board=cached, period="all")
    assert (standing.rank, standing.total, standing.listed) == (1, 2, False)


def test_own_standing_is_none_signed_out_and_unranked_while_banned(volunteer):
    contribute(volunteer, reviews=2)
    current = selectors.leaderboard(period="all")
    assert selectors.own_standing(user=AnonymousUser(), board=current, period="all") is None
    volunteer.banned_at = timezone.now()
    volunteer.save(update_fields=["banned_at"])
    standing = selectors.own_standing(
        user=volunteer, board=selectors.leaderboard(period="week"), period="week"
    )
    assert (standing.rank, standing.banned, standing.listed) == (None, True, False)
