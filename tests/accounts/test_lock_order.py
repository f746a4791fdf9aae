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


@pytest.mark.django_db
@pytest.mark.parametrize("write", ["profile", "token"])
def test_a_request_that_signed_in_before_the_deletion_writes_nothing_on_the_account(
    volunteer, write
):
    """The request holds the account as it was at sign-in: its edit must not put a name or
    languages back on the erased row, nor give the deleted account a live token."""
    from django.core.exceptions import PermissionDenied

    from apps.accounts.models import ApiToken

    signed_in = User.objects.get(pk=volunteer.pk)
    services.account_delete(user=User.objects.get(pk=volunteer.pk))
    with pytest.raises(PermissionDenied, match="deleted"):
        if write == "profile":
            services.profile_update(user=signed_in, display_name="Ada", languages=["en", "de"])
        else:
            services.api_token_create(user=signed_in, name="laptop script")
    erased = User.objects.get(pk=volunteer.pk)
    assert (erased.display_name, erased.languages) == ("", [])
    assert not ApiToken.objects.filter(user=volunteer, revoked_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_two_token_requests_at_once_cannot_make_a_twenty_first(volunteer, monkeypatch):
    """The count and the insert happen under the person's row lock: a second request waits
    for the first to commit, then counts its token."""
    from apps.accounts.models import ApiToken

    require_row_locks()
    for n in range(19):
        services.api_token_create(user=volunteer, name=f"script {n}")
    # The first request stops after counting 19, before it inserts the 20th.
    first_counted = pause_before(ApiToken.objects, "create", monkeypatch)
    first = InThread(lambda: services.api_token_create(user=volunteer, name="first")).start()
    first_counted.wait()
    second = InThread(lambda: services.api_token_create(user=volunteer, name="second")).start()
    wait_until_someone_waits_on_a_lock()  # the second waits for the first's lock
    first_counted.go.set()
    first.join()
    with pytest.raises(Exception, match="20 active tokens"):
        second.join()
    assert ApiToken.objects.filter(user=volunteer, revoked_at__isnull=True).count() == 20
