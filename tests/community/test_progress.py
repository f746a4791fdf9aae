"""The data set's progress (apps.community.selectors.progress): the pipeline, where help is
needed, the last 30 days, the accepted prompts by category and language, and quality."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.collection.models import PromptState
from apps.community.selectors import progress as progress_selectors
from apps.community.selectors.progress import OpenWork, ProgressDay, progress
from apps.feedback.models import Ranking, Review
from tests.community.progress_data import TODAY
from tests.factories import PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_pipeline_counts_every_state_and_withdrawn_and_hidden_apart(data_set):
    result = progress(today=TODAY)
    assert result.prompt_states == {
        "review": 2,
        "collecting": 2,
        "ranking": 1,
        "complete": 3,
        "rejected": 1,
        "halted": 1,
    }
    assert (result.prompts_withdrawn, result.prompts_hidden) == (1, 2)
    assert result.prompts == 13
    assert result.accepted_prompts == 6
    assert result.answer_states == {"review": 3, "accepted": 2, "rejected": 1}
    assert (result.answers_withdrawn, result.answers_hidden) == (1, 1)
    assert result.rankings == 1  # the banned ranker's is not counted
    assert result.prompts_with_consensus == 3
    assert not result.is_empty


def test_help_needed_is_the_open_slots_the_dispatcher_hands_out(data_set):
    assert progress(today=TODAY).help_needed == {
        "prompts_to_review": OpenWork(items=1, tasks=2),
        "answers_to_review": OpenWork(items=1, tasks=2),
        "prompts_to_answer": OpenWork(items=1, tasks=3),
        "prompts_to_rank": OpenWork(items=1, tasks=3),
    }


def test_the_last_30_days_count_work_written_here_and_everything_sent(data_set):
    days = progress(today=TODAY).days
    assert len(days) == 30
    assert (days[0].date, days[-1].date) == (dt.date(2026, 2, 10), TODAY)
    assert [day for day in days if day.total] == [
        ProgressDay(dt.date(2026, 2, 10), prompts=1, answers=0, reviews=0, rankings=0),
        ProgressDay(dt.date(2026, 3, 9), prompts=0, answers=0, reviews=1, rankings=0),
        ProgressDay(dt.date(2026, 3, 10), prompts=1, answers=1, reviews=0, rankings=0),
        ProgressDay(TODAY, prompts=1, answers=1, reviews=2, rankings=1),
    ]


def test_accepted_prompts_by_category_and_language(data_set, monkeypatch):
    monkeypatch.setattr(progress_selectors, "TOP_LANGUAGES", 2)
    result = progress(today=TODAY)
    assert result.categories == [
        ("open_qa", 4),
        ("general_qa", 0),
        ("closed_qa", 1),
        ("classification", 0),
        ("brainstorming", 1),
        ("information_extraction", 0),
        ("summarization", 0),
        ("creative_writing", 0),
    ]
    # Most first, equal counts by tag; the rest as "other".
    assert result.languages == [("en", 4), ("de", 1)]
    assert (result.other_languages, result.other_language_prompts) == (1, 1)


def test_quality_is_the_mean_agreement_and_the_share_of_blocking_reviews(data_set):
    result = progress(today=TODAY)
    assert result.agreement == pytest.approx(0.6)
    assert result.agreement_prompts == 2
    assert (result.reviews_recent, result.blocking_reviews_recent) == (3, 1)
    assert result.blocking_share == pytest.approx(1 / 3)


def test_an_empty_site_has_zeros_and_no_rates(db):
    result = progress(today=TODAY)
    assert result.is_empty
    assert set(result.prompt_states.values()) == {0}
    assert result.help_needed["prompts_to_rank"] == OpenWork(0, 0)
    assert [day.total for day in result.days] == [0] * 30
    assert result.languages == []
    assert (result.agreement, result.blocking_share) == (None, None)


def test_the_result_is_cached_for_a_minute_per_day(data_set):
    first = progress(today=TODAY)
    PromptFactory(state=PromptState.REVIEW)
    assert progress(today=TODAY) == first
    tomorrow = progress(today=TODAY + dt.timedelta(days=1))
    assert tomorrow.prompt_states["review"] == 3
    assert tomorrow.days[-1].date == TODAY + dt.timedelta(days=1)


def test_a_banned_reviewers_votes_leave_the_recent_figures(data_set):
    """Spam QA: after a ring's ban its blocking votes against honest work still made up a
    third of the 'blocking share'."""
    before = progress_selectors._compute(TODAY)  # the figures, not the cached copy
    banned = UserFactory(banned_at=dt.datetime(2026, 3, 11, tzinfo=dt.UTC), ban_reason="spam")
    when = dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC)
    review = Review.objects.create(
        reviewer=banned, prompt=PromptFactory(state=PromptState.REVIEW), quality=1, spam=True
    )
    Review.objects.filter(pk=review.pk).update(created_at=when)

    after = progress_selectors._compute(TODAY)

    assert (after.reviews_recent, after.blocking_reviews_recent) == (
        before.reviews_recent,
        before.blocking_reviews_recent,
    )
    assert after.days == before.days


def test_a_banned_rankers_rankings_leave_the_pipelines_count(data_set):
    before = progress_selectors._compute(TODAY).rankings
    ranking = Ranking.objects.order_by("pk").first()
    type(ranking.ranker).objects.filter(pk=ranking.ranker_id).update(
        banned_at=dt.datetime(2026, 3, 11, tzinfo=dt.UTC)
    )
    assert (
        progress_selectors._compute(TODAY).rankings
        == before - Ranking.objects.filter(ranker_id=ranking.ranker_id).count()
    )
