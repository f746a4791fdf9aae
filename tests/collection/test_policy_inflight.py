"""What a policy change does to work already under way: raising a count gives the prompts
and answers at that step the extra tasks, so none is left waiting for a review, an answer or
a ranking that nobody can be handed."""

from __future__ import annotations

import pytest

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def _take(user, task_type):
    r = client_for(user).get(f"/api/v1/tasks/next/?type={task_type}")
    return r


def _review(user, task_id):
    r = client_for(user).post(
        f"/api/v1/tasks/{task_id}/submit/", {"labels": [], "quality": 4}, format="json"
    )
    assert r.status_code == 200, r.content
    return r


def test_raising_the_reviews_a_prompt_needs_hands_out_the_extra_review(
    api_maintainer, volunteer, make_volunteer
):
    r = client_for(volunteer).post(
        "/api/v1/prompts/",
        {
            "instruction": "Name three uses of a hearth.",
            "category": "brainstorming",
            "language": "en",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    prompt_id = r.json()["id"]
    first, second, third = make_volunteer(), make_volunteer(), make_volunteer()
    held = [_take(user, "review") for user in (first, second)]
    assert [t.status_code for t in held] == [200, 200]
    assert _take(third, "review").status_code == 404  # both slots are held

    r = api_maintainer.patch("/api/v1/policy/", {"prompt_reviews_required": 3}, format="json")
    assert r.status_code == 200
    _review(first, held[0].json()["id"])
    _review(second, held[1].json()["id"])

    # Two reviews in, three needed: the third must be handed out, or the prompt waits forever.
    assert Prompt.objects.get(pk=prompt_id).state == PromptState.REVIEW
    task = _take(third, "review")
    assert task.status_code == 200, task.content
    assert task.json()["prompt"]["id"] == prompt_id
    _review(third, task.json()["id"])
    assert Prompt.objects.get(pk=prompt_id).state == PromptState.COLLECTING


def test_raising_each_count_adds_the_difference_to_work_at_that_step(
    api_maintainer, make_volunteer
):
    in_review = PromptFactory(state=PromptState.REVIEW, open_slots=0)
    collecting = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    ranking = PromptFactory(state=PromptState.RANKING, open_slots=0)
    complete = PromptFactory(state=PromptState.COMPLETE, open_slots=0)
    withdrawn = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    Prompt.objects.filter(pk=withdrawn.pk).update(withdrawn_at="2026-01-01T00:00:00Z")
    answer = ResponseFactory(prompt=collecting, state=ResponseState.REVIEW, open_slots=0)
    # An answer to a prompt still in review gets its review tasks when the prompt is accepted,
    # with the policy of that moment: nothing to add now.
    waiting = ResponseFactory(prompt=in_review, state=ResponseState.REVIEW, open_slots=0)
    accepted = ResponseFactory(prompt=collecting, state=ResponseState.ACCEPTED, open_slots=0)

    r = api_maintainer.patch(
        "/api/v1/policy/",
        {
            "prompt_reviews_required": 4,  # default 2
            "responses_to_collect": 4,  # default 3
            "rankings_required": 5,  # default 3
            "response_reviews_required": 3,  # default 2
        },
        format="json",
    )
    assert r.status_code == 200

    def slots(model, row):
        return model.objects.get(pk=row.pk).open_slots

    assert slots(Prompt, in_review) == 2
    assert slots(Prompt, collecting) == 1
    assert slots(Prompt, ranking) == 2
    assert slots(Prompt, complete) == 0
    assert slots(Prompt, withdrawn) == 0
    assert slots(Response, answer) == 1
    assert slots(Response, waiting) == 0
    assert slots(Response, accepted) == 0


def test_lowering_a_count_takes_no_task_away(api_maintainer):
    in_review = PromptFactory(state=PromptState.REVIEW, open_slots=1)
    r = api_maintainer.patch("/api/v1/policy/", {"prompt_reviews_required": 1}, format="json")
    assert r.status_code == 200
    # The review still to come moves the prompt on (it has at least as many as it needs).
    assert Prompt.objects.get(pk=in_review.pk).open_slots == 1
