"""Deleting an account takes its person's row lock as every other path does (FOR NO KEY
UPDATE), so a submission of theirs that holds its task and then names them in a new row
(FOR KEY SHARE on their row) does not deadlock with it: against real PostgreSQL."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import User
from apps.assignments import services as tasks
from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import PromptState
from apps.feedback import services as feedback
from apps.feedback.models import Review
from tests.factories import PromptFactory
from tests.locks import (
    InThread,
    pause_before,
    require_row_locks,
    wait_until_someone_waits_on_a_lock,
)


@pytest.mark.django_db(transaction=True)
def test_deleting_an_account_while_its_person_submits_a_task_does_not_deadlock(
    volunteer, volunteer2, monkeypatch
):
    require_row_locks()
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = tasks.task_next(user=volunteer, kind="review")
    # The submission stops holding its task, before it writes the review.
    submitting = pause_before(feedback, "prompt_review_create", monkeypatch)
    submit = InThread(
        lambda: tasks.task_submit(
            user=volunteer, assignment_id=task.pk, payload={"labels": [], "quality": 4}
        )
    ).start()
    submitting.wait()
    delete = InThread(lambda: services.account_delete(user=volunteer)).start()
    wait_until_someone_waits_on_a_lock()  # the deletion waits for the task
    submitting.go.set()
    submit.join()
    delete.join()

    assert Review.objects.filter(reviewer=volunteer).count() == 1
    assert Assignment.objects.get(pk=task.pk).state == AssignmentState.SUBMITTED
    assert User.objects.get(pk=volunteer.pk).deleted_at is not None
