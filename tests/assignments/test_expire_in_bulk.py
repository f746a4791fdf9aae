"""The expiry sweep ends many overdue tasks in a few statements, not two per task, and leaves
the same slots behind as giving each back on its own did: one per task to a target still in
the state the task was taken in, none to a target that has moved on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.assignments.services import assignments_expire
from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task

pytestmark = pytest.mark.django_db

# The sweep's statements, however many tasks: the probe, a savepoint and its release, find
# the tasks, end them, lock the prompts and the answers, and one UPDATE for each state and
# count of slots given back (six here). Giving each slot back on its own took two per task.
MOST_QUERIES = 16


def test_many_overdue_tasks_expire_in_a_few_statements_with_every_slot_back(make_volunteer):
    first, second = make_volunteer(), make_volunteer()
    expected: dict[object, int] = {}

    def overdue(user, task_type, prompt, response=None):
        held_task(user, task_type, prompt, response, minutes_left=-5)

    # Prompts in review with two tasks each: both slots come back.
    for _ in range(10):
        prompt = PromptFactory(state=PromptState.REVIEW, open_slots=0)
        overdue(first, TaskType.REVIEW_PROMPT, prompt)
        overdue(second, TaskType.REVIEW_PROMPT, prompt)
        expected[prompt] = 2
    # Collecting and ranking prompts with one task each, and one slot left open already.
    for state, task_type in (
        (PromptState.COLLECTING, TaskType.RESPOND),
        (PromptState.RANKING, TaskType.RANK),
    ):
        for _ in range(8):
            prompt = PromptFactory(state=state, open_slots=1)
            overdue(first, task_type, prompt)
            expected[prompt] = 2
    # A prompt that moved on since its review task was taken gets nothing.
    moved = PromptFactory(state=PromptState.REVIEW, open_slots=0)
    overdue(first, TaskType.REVIEW_PROMPT, moved)
    moved.state, moved.open_slots = PromptState.COLLECTING, 3
    moved.save()
    expected[moved] = 3
    # Answers in review: one slot back for each of their tasks; one decided since gets none.
    collecting = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    expected[collecting] = 0
    for n in range(12):
        answer = ResponseFactory(prompt=collecting, state=ResponseState.REVIEW, open_slots=0)
        overdue(first, TaskType.REVIEW_RESPONSE, collecting, answer)
        if n % 3 == 0:
            overdue(second, TaskType.REVIEW_RESPONSE, collecting, answer)
        expected[answer] = 2 if n % 3 == 0 else 1
    decided = ResponseFactory(prompt=collecting, state=ResponseState.REVIEW, open_slots=0)
    overdue(first, TaskType.REVIEW_RESPONSE, collecting, decided)
    decided.state = ResponseState.ACCEPTED
    decided.save()
    expected[decided] = 0
    # A task to write has no slot; a task still running is left alone.
    Assignment.objects.create(
        user=second, task_type=TaskType.WRITE, expires_at=timezone.now() - timedelta(minutes=5)
    )
    running = held_task(second, TaskType.RANK, PromptFactory(state=PromptState.RANKING))
    overdue_ids = set(Assignment.objects.exclude(pk=running.pk).values_list("pk", flat=True))
    assert len(overdue_ids) == 20 + 16 + 1 + 16 + 1 + 1

    with CaptureQueriesContext(connection) as captured:
        assert assignments_expire() == len(overdue_ids)

    assert len(captured.captured_queries) <= MOST_QUERIES, "\n".join(
        q["sql"][:200] for q in captured.captured_queries
    )
    for target, slots in expected.items():
        target.refresh_from_db()
        assert target.open_slots == slots, target
    ended = Assignment.objects.filter(pk__in=overdue_ids)
    assert set(ended.values_list("state", flat=True)) == {AssignmentState.EXPIRED}
    assert not ended.filter(finished_at=None).exists()
    running.refresh_from_db()
    assert (running.state, running.finished_at) == (AssignmentState.ACTIVE, None)
    assert assignments_expire() == 0
