"""A task on work that leaves is taken back at once, so its holder stops reading it.

Security QA: after a prompt was withdrawn, hidden by a moderator (for harm, say) or its author
banned, whoever held a task on it went on reading it, on the task page and in the API, until
the task expired (up to half an hour); only their submission was refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from apps.accounts import services as account_services
from apps.assignments import services as task_services
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import services as collection_services
from apps.collection.models import PromptState, ResponseState
from apps.moderation import services as moderation_services
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.locks import InThread, lock_row, require_row_locks, wait_until_someone_waits_on_a_lock

pytestmark = pytest.mark.django_db

TAKEN_BACK = "This task was taken back: what it was for is no longer open."
SECRET = "Where does the night heron sleep"


def _withdraw_prompt(prompt: Any, answer: Any, moderator: Any) -> None:
    collection_services.prompt_withdraw(prompt=prompt, user=prompt.author)


def _hide_prompt(prompt: Any, answer: Any, moderator: Any) -> None:
    moderation_services.content_hide(moderator=moderator, target=prompt, reason="harm")


def _ban_author(prompt: Any, answer: Any, moderator: Any) -> None:
    moderation_services.user_ban(moderator=moderator, user=prompt.author, reason="spam")


def _delete_author(prompt: Any, answer: Any, moderator: Any) -> None:
    account_services.account_delete(user=prompt.author)


@pytest.mark.parametrize("leave", [_withdraw_prompt, _hide_prompt, _ban_author, _delete_author])
def test_every_task_on_a_prompt_that_leaves_is_taken_back(
    leave: Callable[..., None],
    make_volunteer: Any,
    moderator: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, reader, ranker, reviewer = (make_volunteer() for _ in range(4))
    prompt = PromptFactory(author=author, state=PromptState.COLLECTING, instruction=SECRET + "?")
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
    answering = held_task(reader, TaskType.RESPOND, prompt)
    reviewing = held_task(reviewer, TaskType.REVIEW_RESPONSE, prompt, answer)
    unrelated = held_task(ranker, TaskType.RESPOND, PromptFactory(state=PromptState.COLLECTING))
    client = Client()
    client.force_login(reader)
    assert SECRET in client.get(f"/contribute/{answering.pk}/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        leave(prompt, answer, moderator)

    for task in (answering, reviewing):
        task.refresh_from_db()
        assert task.state == AssignmentState.RELEASED and task.finished_at is not None
    unrelated.refresh_from_db()
    assert unrelated.state == AssignmentState.ACTIVE
    page = client.get(f"/contribute/{answering.pk}/")
    assert SECRET not in page.content.decode()
    assert "This task was taken back: what it was for is no longer open." in page.content.decode()
    # An answer sent from a page opened before: refused, the prompt not shown again, the
    # answer given back to copy.
    sent_from_page = client.post(
        f"/contribute/{answering.pk}/",
        {"response": "It sleeps in the reeds.", "idempotency_key": "k1"},
    )
    shown = sent_from_page.content.decode()
    assert sent_from_page.status_code == 409
    assert SECRET not in shown and "It sleeps in the reeds." in shown
    reviewer_client = Client()
    reviewer_client.force_login(reviewer)
    gone = reviewer_client.get(f"/contribute/{reviewing.pk}/", follow=True)
    assert SECRET not in gone.content.decode() and answer.text not in gone.content.decode()
    assert "This task was taken back" in gone.content.decode()
    listed = client.get("/api/v1/tasks/").json()
    assert SECRET not in str(listed) and answering.pk not in [t["id"] for t in listed["results"]]
    sent = client.post(
        f"/api/v1/tasks/{answering.pk}/submit/",
        {"text": "It sleeps in reeds."},
        content_type="application/json",
    )
    assert sent.status_code == 409 and TAKEN_BACK in sent.json()["detail"]


@pytest.mark.parametrize("how", ["withdraw", "hide"])
def test_an_answer_that_leaves_takes_back_its_review_but_not_its_prompts_ranking(
    how: str, make_volunteer: Any, moderator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    prompt = PromptFactory(state=PromptState.RANKING)
    leaving, *others = (
        ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED) for _ in range(3)
    )
    under_review = ResponseFactory(prompt=PromptFactory(), state=ResponseState.REVIEW)
    reviewer, ranker = make_volunteer(), make_volunteer()
    ranking = held_task(ranker, TaskType.RANK, prompt)
    review = held_task(reviewer, TaskType.REVIEW_RESPONSE, under_review.prompt, under_review)
    with django_capture_on_commit_callbacks(execute=True):
        for answer in (leaving, under_review):
            if how == "withdraw":
                collection_services.response_withdraw(response=answer, user=answer.author)
            else:
                moderation_services.content_hide(moderator=moderator, target=answer, reason="x")
    review.refresh_from_db()
    ranking.refresh_from_db()
    assert review.state == AssignmentState.RELEASED
    # Two answers are left to rank: the ranking goes on without the one that left.
    assert ranking.state == AssignmentState.ACTIVE
    assert len(others) == 2


def test_releasing_is_idempotent_and_leaves_finished_tasks_as_they_are(make_volunteer) -> None:
    prompt = PromptFactory(state=PromptState.COLLECTING)
    done = held_task(make_volunteer(), TaskType.RESPOND, prompt)
    Assignment.objects.filter(pk=done.pk).update(state=AssignmentState.SUBMITTED)
    held = held_task(make_volunteer(), TaskType.RESPOND, prompt)
    assert task_services.tasks_release_on_gone_work(prompt_ids=[prompt.pk]) == 1
    assert task_services.tasks_release_on_gone_work(prompt_ids=[prompt.pk]) == 0
    done.refresh_from_db()
    held.refresh_from_db()
    assert (done.state, held.state) == (AssignmentState.SUBMITTED, AssignmentState.RELEASED)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sent", [True, False])
def test_a_submission_in_flight_is_waited_for_and_a_sent_task_stays_sent(make_volunteer, sent):
    """The release waits for a submission holding the task, then reads the task's state
    again: a task sent meanwhile stays submitted; one refused (its work gone) is released.
    It holds no other lock meanwhile, so it cannot deadlock with the dispatcher."""
    require_row_locks()
    prompt = PromptFactory(state=PromptState.COLLECTING)
    held = held_task(make_volunteer(), TaskType.RESPOND, prompt)
    with transaction.atomic():
        lock_row(Assignment, held.pk)  # a submission holds its task ...
        release = InThread(
            lambda: task_services.tasks_release_on_gone_work(prompt_ids=[prompt.pk])
        ).start()
        wait_until_someone_waits_on_a_lock()
        if sent:  # ... and went through before the prompt left
            Assignment.objects.filter(pk=held.pk).update(state=AssignmentState.SUBMITTED)
    assert release.join() == (0 if sent else 1)
    held.refresh_from_db()
    assert held.state == (AssignmentState.SUBMITTED if sent else AssignmentState.RELEASED)
