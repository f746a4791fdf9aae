"""Every edge of the prompt and response state machines, and the ones that are not edges."""

from __future__ import annotations

import itertools

import pytest

from apps.collection import flow
from apps.collection.models import PromptState, ResponseState
from apps.collection.policy import current_policy
from apps.feedback import services as feedback
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

CLEAN = {"labels": [], "quality": 4}
SPAM = {"labels": ["spam"], "quality": 1}


def test_review_to_collecting_when_the_reviews_accept_it(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.REVIEW)
    ResponseFactory(prompt=prompt, author=prompt.author, state=ResponseState.REVIEW, open_slots=0)
    for _ in range(2):
        feedback.prompt_review_create(
            reviewer=make_volunteer(), prompt=prompt, payload=CLEAN, policy=policy
        )
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    # Three answers wanted, the author's own is one of them.
    assert prompt.open_slots == 2
    # The author's answer becomes reviewable.
    assert prompt.responses.get().open_slots == policy.response_reviews_required


def test_review_to_rejected_when_a_review_blocks_it(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.REVIEW)
    feedback.prompt_review_create(
        reviewer=make_volunteer(), prompt=prompt, payload=CLEAN, policy=policy
    )
    feedback.prompt_review_create(
        reviewer=make_volunteer(), prompt=prompt, payload=SPAM, policy=policy
    )
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REJECTED, 0)


def test_the_threshold_is_strict(make_volunteer):
    policy = current_policy()
    policy.acceptance_threshold = 0.5
    policy.save()
    prompt = PromptFactory(state=PromptState.REVIEW)
    feedback.prompt_review_create(
        reviewer=make_volunteer(), prompt=prompt, payload=CLEAN, policy=policy
    )
    feedback.prompt_review_create(
        reviewer=make_volunteer(), prompt=prompt, payload=SPAM, policy=policy
    )
    prompt.refresh_from_db()
    assert prompt.state == PromptState.REJECTED  # 0.5 is not above 0.5


def test_collecting_to_ranking_when_enough_answers_are_accepted(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED)
    ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED)
    last = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    for _ in range(2):
        feedback.response_review_create(
            reviewer=make_volunteer(), response=last, payload=CLEAN, policy=policy
        )
    prompt.refresh_from_db()
    last.refresh_from_db()
    assert last.state == ResponseState.ACCEPTED
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, policy.rankings_required)


def test_a_rejected_answer_frees_its_place(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    feedback.response_review_create(
        reviewer=make_volunteer(), response=answer, payload=SPAM, policy=policy
    )
    feedback.response_review_create(
        reviewer=make_volunteer(), response=answer, payload=CLEAN, policy=policy
    )
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert answer.state == ResponseState.REJECTED
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 1)


def test_ranking_to_complete_runs_consensus(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.RANKING)
    a, b = ResponseFactory(prompt=prompt), ResponseFactory(prompt=prompt)
    for order in ([b.pk, a.pk], [b.pk, a.pk], [a.pk, b.pk]):
        feedback.ranking_create(
            ranker=make_volunteer(), prompt=prompt, payload={"order": order}, policy=policy
        )
    prompt.refresh_from_db()
    a.refresh_from_db()
    b.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE
    assert (b.consensus_rank, a.consensus_rank) == (1, 2)
    assert prompt.consensus.order == [b.pk, a.pk]
    assert prompt.consensus.pairwise_wins == {f"{a.pk}>{b.pk}": 1, f"{b.pk}>{a.pk}": 2}


@pytest.mark.parametrize("state", [PromptState.REVIEW, PromptState.COLLECTING, PromptState.RANKING])
def test_any_open_state_can_be_halted(state):
    prompt = PromptFactory(state=state)
    flow.prompt_transition(prompt=prompt, to=PromptState.HALTED, policy=current_policy())
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.HALTED, 0)


ALL_PROMPT_PAIRS = [
    (a, b)
    for a, b in itertools.product(PromptState.values, repeat=2)
    if (a, b) not in flow.PROMPT_EDGES
]


@pytest.mark.parametrize(("start", "to"), ALL_PROMPT_PAIRS)
def test_everything_else_is_refused(start, to):
    prompt = PromptFactory(state=start)
    with pytest.raises(flow.InvalidTransition):
        flow.prompt_transition(prompt=prompt, to=to, policy=current_policy())
    prompt.refresh_from_db()
    assert prompt.state == start


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (a, b)
        for a, b in itertools.product(ResponseState.values, repeat=2)
        if (a, b) not in flow.RESPONSE_EDGES
    ],
)
def test_response_non_edges_are_refused(start, to):
    response = ResponseFactory(state=start)
    with pytest.raises(flow.InvalidTransition):
        flow.response_transition(response=response, to=to)


def test_nobody_reviews_their_own_work(volunteer):
    from django.core.exceptions import ValidationError

    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    with pytest.raises(ValidationError, match="own prompt"):
        feedback.prompt_review_create(
            reviewer=volunteer, prompt=prompt, payload=CLEAN, policy=current_policy()
        )
