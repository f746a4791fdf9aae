"""Halting a prompt locks its open tasks before the prompt, in the dispatcher's order, so a
submission that holds its task and then waits for the prompt does not deadlock with it:
against real PostgreSQL."""

from __future__ import annotations

import pytest

from apps.assignments import services as tasks
from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState
from apps.feedback.models import Review
from apps.moderation.services import prompt_halt
from tests.factories import PromptFactory
from tests.locks import (
    InThread,
    pause_before,
    require_row_locks,
    wait_until_someone_waits_on_a_lock,
)


@pytest.mark.django_db(transaction=True)
def test_halting_a_prompt_while_its_task_is_submitted_does_not_deadlock(
    moderator, volunteer, volunteer2, monkeypatch
):
    require_row_locks()
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = tasks.task_next(user=volunteer, kind="review")
    # The submission stops holding its task, before it locks the prompt.
    submitting = pause_before(tasks, "_lock_prompt", monkeypatch)
    submit = InThread(
        lambda: tasks.task_submit(
            user=volunteer, assignment_id=task.pk, payload={"labels": [], "quality": 4}
        )
    ).start()
    submitting.wait()
    halt = InThread(lambda: prompt_halt(moderator=moderator, prompt=prompt, reason="spam")).start()
    wait_until_someone_waits_on_a_lock()  # the halt waits for the task
    submitting.go.set()
    submit.join()
    halt.join()

    assert Review.objects.filter(prompt=prompt).count() == 1
    assert Assignment.objects.get(pk=task.pk).state == AssignmentState.SUBMITTED
    assert Prompt.objects.get(pk=prompt.pk).state == PromptState.HALTED
