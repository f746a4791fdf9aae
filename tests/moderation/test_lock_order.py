"""Halting a prompt locks its open tasks before the prompt, in the dispatcher's order, so a
submission that holds its task and then waits for the prompt does not deadlock with it, nor
with one whose task was claimed between the halt's two locks: against real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.assignments import services as tasks
from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState
from apps.feedback.models import Review
from apps.moderation import services as moderation_services
from apps.moderation.models import ModerationAction
from apps.moderation.services import prompt_halt
from tests.factories import PromptFactory
from tests.locks import (
    WAIT_SECONDS,
    InThread,
    Pause,
    pause_before,
    require_row_locks,
    wait_until_someone_waits_on_a_lock,
)


def _submit_review_pausing_before_the_prompt(
    volunteer: Any, task: Assignment, monkeypatch: pytest.MonkeyPatch
) -> tuple[Pause, InThread]:
    """Start sending ``task``'s review in a thread that stops, holding the task, just before
    it locks the prompt; the test lets it go with the pause's ``go``."""
    submitting = pause_before(tasks, "_lock_prompt", monkeypatch)
    submit = InThread(
        lambda: tasks.task_submit(
            user=volunteer, assignment_id=task.pk, payload={"labels": [], "quality": 4}
        )
    ).start()
    return submitting, submit


def _assert_review_sent_and_prompt_halted(prompt: Prompt, task: Assignment) -> None:
    assert Review.objects.filter(prompt=prompt).count() == 1
    assert Assignment.objects.get(pk=task.pk).state == AssignmentState.SUBMITTED
    assert Prompt.objects.get(pk=prompt.pk).state == PromptState.HALTED


@pytest.mark.django_db(transaction=True)
def test_halting_a_prompt_while_its_task_is_submitted_does_not_deadlock(
    moderator, volunteer, volunteer2, monkeypatch
):
    require_row_locks()
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = tasks.task_next(user=volunteer, kind="review")
    # The submission stops holding its task, before it locks the prompt.
    submitting, submit = _submit_review_pausing_before_the_prompt(volunteer, task, monkeypatch)
    submitting.wait()
    halt = InThread(lambda: prompt_halt(moderator=moderator, prompt=prompt, reason="spam")).start()
    wait_until_someone_waits_on_a_lock()  # the halt waits for the task
    submitting.go.set()
    submit.join()
    halt.join()

    _assert_review_sent_and_prompt_halted(prompt, task)


def _pause_before_locking_the_prompt(pause: Pause) -> Callable[..., Any]:
    """An execute wrapper for the halt's connection: it stops the halt just before its first
    statement that locks a prompt row (after it locked the prompt's open tasks), whatever
    builds that statement, and lets it go on when the test says so."""

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        locks_a_prompt = (
            sql.startswith("SELECT")
            and "FOR NO KEY UPDATE" in sql
            and sql.split(" FROM ", 1)[1].startswith('"collection_prompt"')
        )
        if locks_a_prompt and not pause.reached.is_set():
            pause.reached.set()
            assert pause.go.wait(WAIT_SECONDS), "the test never said go"
        return execute(sql, params, many, context)

    return wrapper


def _halt_pausing_before_the_prompt(moderator, prompt, pause: Pause) -> InThread:
    def halt() -> Prompt:
        with connection.execute_wrapper(_pause_before_locking_the_prompt(pause)):
            return prompt_halt(moderator=moderator, prompt=prompt, reason="spam")

    return InThread(halt).start()


@pytest.mark.django_db(transaction=True)
def test_a_task_claimed_and_submitted_between_the_halts_two_locks_does_not_deadlock(
    moderator, volunteer, volunteer2, monkeypatch
):
    """The halt has locked the prompt's open tasks (none yet) when a volunteer claims one and
    starts submitting it: the submission holds that task and then waits for the prompt. The
    halt must not lock the prompt and then wait for that task."""
    require_row_locks()
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    halting = Pause()
    halt = _halt_pausing_before_the_prompt(moderator, prompt, halting)
    halting.wait()  # it holds the open tasks it found, and not the prompt yet
    task = tasks.task_next(user=volunteer, kind="review")
    submitting, submit = _submit_review_pausing_before_the_prompt(volunteer, task, monkeypatch)
    submitting.wait()  # it holds the task, and waits for the prompt once let go
    halting.go.set()
    wait_until_someone_waits_on_a_lock()  # the halt waits for the task
    submitting.go.set()
    submit.join()
    halt.join()

    _assert_review_sent_and_prompt_halted(prompt, task)


@pytest.mark.django_db(transaction=True)
def test_a_task_claimed_between_the_halts_two_locks_is_released_with_the_others(
    moderator, volunteer, volunteer2, make_volunteer
):
    require_row_locks()
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    before = tasks.task_next(user=make_volunteer(), kind="review")
    halting = Pause()
    halt = _halt_pausing_before_the_prompt(moderator, prompt, halting)
    halting.wait()
    during = tasks.task_next(user=volunteer, kind="review")
    halting.go.set()
    halt.join()

    assert Prompt.objects.get(pk=prompt.pk).state == PromptState.HALTED
    states = dict(Assignment.objects.values_list("pk", "state"))
    assert states == {before.pk: AssignmentState.RELEASED, during.pk: AssignmentState.RELEASED}


def test_a_halt_that_keeps_finding_new_tasks_gives_up_and_says_to_try_again(
    moderator, volunteer, volunteer2, monkeypatch
):
    """Each try finds a task it did not lock (as if volunteers kept claiming and sending
    them): after a few tries the moderator is told to try again, and nothing changed."""
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = tasks.task_next(user=volunteer, kind="review")
    real = moderation_services._open_task_ids
    tries = []

    def always_one_more(prompt_id: int) -> set[int]:
        tries.append(prompt_id)
        return real(prompt_id) | {10**9 + len(tries)}

    monkeypatch.setattr(moderation_services, "_open_task_ids", always_one_more)
    with pytest.raises(ValidationError) as caught:
        prompt_halt(moderator=moderator, prompt=prompt, reason="spam")

    assert caught.value.messages == [
        f"Prompt #{prompt.pk} is busy: volunteers are taking and sending its tasks right now. "
        "Nothing was changed; try again in a moment."
    ]
    assert len(tries) == moderation_services.HALT_TRIES
    assert Prompt.objects.get(pk=prompt.pk).state == PromptState.REVIEW
    assert Assignment.objects.get(pk=task.pk).state == AssignmentState.ACTIVE
    assert not ModerationAction.objects.exists()
