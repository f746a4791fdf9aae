"""Giving slots back takes row locks in the dispatcher's order (prompts, then answers, each
by id), whatever order the tasks expire or are released in: against real PostgreSQL, a
stand-in for a submission holds a prompt and then wants its answer."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.assignments.services import assignments_expire, assignments_release_for_user
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.locks import InThread, lock_row, require_row_locks, wait_until_someone_waits_on_a_lock


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["expire", "release"])
def test_an_answers_slot_goes_back_after_its_prompts_not_in_task_order(how, make_volunteer):
    require_row_locks()
    volunteer = make_volunteer()
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=1)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=0)
    # The review of the answer is the newer task and expired first: it comes first in either
    # order the tasks are read in (newest first, or by expiry).
    held_task(volunteer, TaskType.RESPOND, prompt, minutes_left=-10)
    held_task(volunteer, TaskType.REVIEW_RESPONSE, prompt, response=answer, minutes_left=-20)

    def give_back() -> int:
        if how == "expire":
            return assignments_expire()
        return assignments_release_for_user(user=volunteer)

    with transaction.atomic():
        lock_row(Prompt, prompt.pk)  # a submission holds the prompt ...
        sweep = InThread(give_back).start()
        wait_until_someone_waits_on_a_lock()
        lock_row(Response, answer.pk)  # ... and then wants its answer
    assert sweep.join() == 2

    prompt.refresh_from_db()
    answer.refresh_from_db()
    assert (prompt.open_slots, answer.open_slots) == (2, 1)


@pytest.mark.django_db(transaction=True)
def test_prompts_get_their_slots_back_in_id_order(make_volunteer):
    require_row_locks()
    volunteer = make_volunteer()
    first, second = (PromptFactory(state=PromptState.REVIEW, open_slots=0) for _ in range(2))
    # The second prompt's task expired first: the sweep reads it first.
    held_task(volunteer, TaskType.REVIEW_PROMPT, second, minutes_left=-20)
    held_task(volunteer, TaskType.REVIEW_PROMPT, first, minutes_left=-10)

    with transaction.atomic():
        lock_row(Prompt, first.pk)  # a path holds the lower id ...
        sweep = InThread(assignments_expire).start()
        wait_until_someone_waits_on_a_lock()
        lock_row(Prompt, second.pk)  # ... and then wants the higher one
    assert sweep.join() == 2

    assert sorted(Prompt.objects.values_list("open_slots", flat=True)) == [1, 1]
    assert set(Assignment.objects.values_list("state", flat=True)) == {AssignmentState.EXPIRED}
