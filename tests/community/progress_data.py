"""The progress tests' data set: a small site with every state, something withdrawn, hidden,
by a banned author, imported and model-written, and work on both sides of the 30 days' edges
(the 30 days up to TODAY)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.collection.models import Prompt, PromptState, Response, ResponseState, Source
from apps.feedback.models import PromptConsensus, Ranking, Review
from tests.community.helpers import at, utc
from tests.factories import PromptFactory, ResponseFactory, UserFactory

# Wednesday 11 March 2026: the 30 days run from Tuesday 10 February.
TODAY = dt.date(2026, 3, 11)
LONG_AGO = utc(2026, 1, 1)


def consensus(prompt: Prompt, agreement: float | None) -> PromptConsensus:
    return PromptConsensus.objects.create(
        prompt=prompt, order=[] if agreement is None else [1, 2], agreement=agreement, rankers=3
    )


@pytest.fixture
def data_set(volunteer, volunteer2):
    """A small site with every state, something withdrawn, hidden, by a banned author,
    imported and model-written, and work on both sides of the 30 days' edges."""
    ada, grace = volunteer, volunteer2
    banned = UserFactory(banned_at=timezone.now())
    now = timezone.now()
    p = {
        "review": PromptFactory(author=ada, state=PromptState.REVIEW),  # 2 slots
        "review_full": PromptFactory(author=ada, state=PromptState.REVIEW, open_slots=0),
        "collecting": PromptFactory(author=grace),  # 3 slots
        "collecting_full": PromptFactory(
            author=grace, open_slots=0, category="brainstorming", language="de"
        ),
        "ranking": PromptFactory(author=grace, state=PromptState.RANKING),  # 3 slots
        "complete": PromptFactory(
            author=ada, state=PromptState.COMPLETE, category="closed_qa", language="fr"
        ),
        "imported": PromptFactory(author=ada, state=PromptState.COMPLETE, origin="dolly"),
        "complete_unusable": PromptFactory(author=grace, state=PromptState.COMPLETE),
        "rejected": PromptFactory(author=ada, state=PromptState.REJECTED),
        "halted": PromptFactory(author=ada, state=PromptState.HALTED),
        "withdrawn": PromptFactory(author=ada, withdrawn_at=now),  # 3 slots, not handed out
        "hidden": PromptFactory(author=grace, state=PromptState.REVIEW, hidden_at=now),
        "banned": PromptFactory(author=banned),  # 3 slots, not handed out
    }
    a = {
        "to_review": ResponseFactory(
            prompt=p["collecting"], author=grace, state=ResponseState.REVIEW, open_slots=2
        ),
        "accepted": ResponseFactory(prompt=p["collecting"], author=ada),
        # In review with slots, but not handed out: its prompt is ranking, or by a banned author.
        "under_ranking": ResponseFactory(
            prompt=p["ranking"], author=ada, state=ResponseState.REVIEW, open_slots=2
        ),
        "under_banned": ResponseFactory(
            prompt=p["banned"], author=ada, state=ResponseState.REVIEW, open_slots=2
        ),
        "rejected": ResponseFactory(
            prompt=p["collecting_full"], author=ada, state=ResponseState.REJECTED
        ),
        "model": ResponseFactory(prompt=p["collecting_full"], source=Source.MODEL),
        "withdrawn": ResponseFactory(prompt=p["collecting"], withdrawn_at=now),
        "hidden": ResponseFactory(prompt=p["complete"], hidden_at=now),
    }
    reviews = [
        Review.objects.create(reviewer=grace, prompt=p["review"], quality=4),
        Review.objects.create(reviewer=ada, prompt=p["review"], quality=1, spam=True),
        # Wrong category alone does not block.
        Review.objects.create(
            reviewer=ada, response=a["to_review"], quality=3, wrong_category=True
        ),
        Review.objects.create(reviewer=grace, prompt=p["collecting_full"], quality=1, harmful=True),
    ]
    rankings = [
        Ranking.objects.create(ranker=ada, prompt=p["ranking"], order=[]),
        Ranking.objects.create(ranker=banned, prompt=p["ranking"], unusable=True),
    ]
    consensus(p["complete"], 0.8)
    consensus(p["imported"], 0.4)
    consensus(p["complete_unusable"], None)
    consensus(p["withdrawn"], 0.1)  # not public: left out
    consensus(p["hidden"], 0.1)

    # Everything long ago, then a few inside the 30 days and at their edges.
    for model in (Prompt, Response, Review, Ranking):
        model.objects.update(created_at=LONG_AGO)
    at(p["review"], utc(2026, 3, 11, 10))
    at(p["collecting"], utc(2026, 3, 10, 23, 59, 59))
    at(p["collecting_full"], utc(2026, 2, 10))  # the first day's first second
    at(p["ranking"], utc(2026, 2, 9, 23, 59, 59))  # the day before the first
    for name in ("rejected", "imported", "hidden", "banned", "withdrawn"):
        at(p[name], utc(2026, 3, 10, 12))  # written, but not counted
    at(a["to_review"], utc(2026, 3, 11, 9))
    at(a["accepted"], utc(2026, 3, 10, 9))
    for name in ("model", "rejected", "withdrawn", "hidden"):
        at(a[name], utc(2026, 3, 11, 9))
    at(reviews[0], utc(2026, 3, 11, 8))
    at(reviews[1], utc(2026, 3, 11, 0, 0, 1))
    at(reviews[2], utc(2026, 3, 9, 12))
    at(rankings[0], utc(2026, 3, 11, 12))
    at(rankings[1], utc(2026, 3, 12, 0, 0, 1))  # tomorrow (UTC): not in these 30 days
