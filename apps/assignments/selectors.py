from __future__ import annotations

import random
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection.models import Prompt, Response
from apps.collection.selectors import PUBLIC_RESPONSE
from apps.feedback.services import rankable_responses


def _prompt(prompt: Prompt | None) -> dict[str, Any] | None:
    if prompt is None:
        return None
    return {
        "id": prompt.pk,
        "instruction": prompt.instruction,
        "context": prompt.context,
        "category": prompt.category,
        "language": prompt.language,
    }


def task_payload(assignment: Assignment) -> dict[str, Any]:
    """What a volunteer needs to do the task, and nothing about who wrote it."""
    responses: list[dict[str, Any]] = []
    if assignment.task_type == TaskType.RANK and assignment.prompt is not None:
        # A list's tasks bring their answers along (task_list_for_user); one task reads them.
        rankable = getattr(assignment.prompt, "rankable", None)
        if rankable is None:
            rankable = rankable_responses(assignment.prompt)
        responses = [{"id": r.pk, "text": r.text} for r in rankable]
        # A fixed shuffle per task: the first-written answer (often the author's) must not
        # always be on top, and a reload must not reorder the list.
        random.Random(assignment.pk).shuffle(responses)
    response = assignment.response
    return {
        "id": assignment.pk,
        "type": assignment.task_type,
        "state": assignment.state,
        "expires_at": assignment.expires_at.isoformat().replace("+00:00", "Z"),
        "prompt": _prompt(assignment.prompt),
        "response": {"id": response.pk, "text": response.text} if response else None,
        "responses": responses,
        "result": assignment.result,
    }


def active_tasks_for_user(*, user: User) -> QuerySet[Assignment]:
    return Assignment.objects.filter(
        user=user, state=AssignmentState.ACTIVE, expires_at__gt=timezone.now()
    ).select_related("prompt", "response")


def task_list_for_user(*, user: User) -> QuerySet[Assignment]:
    """The user's open tasks, oldest first, to show with ``task_payload``: the answers of every
    rank task come in one query for the whole list (PUBLIC_RESPONSE is the set
    ``rankable_responses`` reads, by id), not one query per task."""
    rankable = Prefetch(
        "prompt__responses",
        queryset=Response.objects.filter(PUBLIC_RESPONSE).order_by("id"),
        to_attr="rankable",
    )
    return active_tasks_for_user(user=user).order_by("created_at", "id").prefetch_related(rankable)


def active_task_for_user(
    *, user: User, kind_types: tuple[str, ...] | None = None
) -> Assignment | None:
    tasks = active_tasks_for_user(user=user).order_by("created_at")
    if kind_types:
        tasks = tasks.filter(task_type__in=kind_types)
    return tasks.first()


def assignment_get_for_user(*, user: User, assignment_id: int) -> Assignment | None:
    """One of ``user``'s own assignments in any state (open, submitted, skipped, expired),
    or None for someone else's or none at all."""
    return (
        Assignment.objects.filter(user=user, pk=assignment_id)
        .select_related("prompt", "response")
        .first()
    )
