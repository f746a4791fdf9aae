"""The dispatcher: hand out one task at a time, take submissions, skips and expiries.

Every task but writing a new prompt holds one *open slot* of its target (a prompt, or a
response under review). Slots are taken under ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent volunteers never get the same slot and no target hands out more
tasks than the policy asks; SQLite (the embedded default) serialises writers instead.

Lock order, to stay free of deadlocks: user, assignment, prompt, response. Claims lock only
the row they take a slot from. Every lock is ``FOR NO KEY UPDATE``: inserting a row that
refers to a locked prompt (an assignment, a review) takes ``FOR KEY SHARE`` on it, which a
plain ``FOR UPDATE`` would block, and a claim holding a response while inserting its
assignment would then deadlock with a submission holding the prompt.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import flow
from apps.collection import services as collection_services
from apps.collection.models import CollectionPolicy, Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback import services as feedback_services

ANY = "any"
# The task kinds a volunteer may ask for, and the assignment types each covers.
REQUESTABLE: dict[str, tuple[str, ...]] = {
    ANY: (
        TaskType.RANK,
        TaskType.REVIEW_PROMPT,
        TaskType.REVIEW_RESPONSE,
        TaskType.RESPOND,
        TaskType.WRITE,
    ),
    "rank": (TaskType.RANK,),
    "review": (TaskType.REVIEW_PROMPT, TaskType.REVIEW_RESPONSE),
    "respond": (TaskType.RESPOND,),
    "write": (TaskType.WRITE,),
}


class TaskError(Exception):
    """A refusal with a message for the volunteer; ``status`` is the HTTP answer."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoTaskAvailable(TaskError):
    status = 404


class TooManyPending(TaskError):
    status = 409


class TaskConflict(TaskError):
    status = 409


class Banned(TaskError):
    status = 403


def _weights(policy: CollectionPolicy) -> dict[str, int]:
    return {
        TaskType.RANK: policy.weight_rank,
        TaskType.REVIEW_PROMPT: policy.weight_review,
        TaskType.REVIEW_RESPONSE: policy.weight_review,
        TaskType.RESPOND: policy.weight_respond,
        TaskType.WRITE: policy.weight_write,
    }


def _lifetime(task_type: str, policy: CollectionPolicy) -> timedelta:
    minutes: dict[str, int] = {
        TaskType.WRITE: policy.write_minutes,
        TaskType.RESPOND: policy.respond_minutes,
        TaskType.REVIEW_PROMPT: policy.review_minutes,
        TaskType.REVIEW_RESPONSE: policy.review_minutes,
        TaskType.RANK: policy.rank_minutes,
    }
    return timedelta(minutes=int(minutes[task_type]))


def weighted_order(
    types: tuple[str, ...], policy: CollectionPolicy, rng: random.Random
) -> list[str]:
    """The types in a random order drawn by weight without replacement: higher weights tend
    to come first, and every type is tried before giving up."""
    weights = _weights(policy)
    pool = [t for t in types if weights[t] > 0]
    order: list[str] = []
    while pool:
        pick = rng.choices(pool, weights=[weights[t] for t in pool])[0]
        order.append(pick)
        pool.remove(pick)
    return order


def _language_q(user: User, field: str = "language") -> Q:
    """Tasks in the volunteer's languages; ``pt`` also matches ``pt-BR``."""
    languages = user.languages or ["en"]
    q = Q()
    for tag in languages:
        q |= Q(**{field: tag}) | Q(**{f"{field}__startswith": f"{tag}-"})
    return q


def _seen(user: User, task_type: str, field: str) -> QuerySet[Assignment]:
    """Targets this user already had a task of this type on (done, skipped or expired)."""
    return Assignment.objects.filter(user=user, task_type=task_type).values(field)


def _live_prompts() -> QuerySet[Prompt]:
    return Prompt.objects.filter(
        withdrawn_at__isnull=True, hidden_at__isnull=True, open_slots__gt=0
    )


def _claim_prompt(user: User, task_type: str, policy: CollectionPolicy) -> Assignment | None:
    states: dict[str, str] = {
        TaskType.REVIEW_PROMPT: PromptState.REVIEW,
        TaskType.RESPOND: PromptState.COLLECTING,
        TaskType.RANK: PromptState.RANKING,
    }
    state = states[task_type]
    candidates = (
        _live_prompts()
        .filter(state=state)
        .filter(_language_q(user))
        .exclude(author=user)
        .exclude(pk__in=_seen(user, task_type, "prompt_id"))
    )
    if task_type in (TaskType.RESPOND, TaskType.RANK):
        # Nobody answers a prompt twice, and nobody ranks a set holding their own answer.
        candidates = candidates.exclude(
            pk__in=Response.objects.filter(author=user).values("prompt_id")
        )
    prompt = (
        candidates.select_for_update(no_key=True, skip_locked=True)
        .order_by("created_at", "id")
        .first()
    )
    if prompt is None:
        return None
    taken = Prompt.objects.filter(pk=prompt.pk, open_slots__gt=0).update(
        open_slots=F("open_slots") - 1
    )
    if not taken:
        return None
    return Assignment.objects.create(
        user=user,
        task_type=task_type,
        prompt=prompt,
        phase=state,
        expires_at=timezone.now() + _lifetime(task_type, policy),
    )


def _claim_response_review(user: User, policy: CollectionPolicy) -> Assignment | None:
    candidates = (
        Response.objects.filter(
            state=ResponseState.REVIEW,
            open_slots__gt=0,
            withdrawn_at__isnull=True,
            hidden_at__isnull=True,
            prompt__state=PromptState.COLLECTING,
            prompt__withdrawn_at__isnull=True,
            prompt__hidden_at__isnull=True,
        )
        .filter(_language_q(user, "prompt__language"))
        .exclude(author=user)
        .exclude(pk__in=_seen(user, TaskType.REVIEW_RESPONSE, "response_id"))
    )
    response = (
        candidates.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .order_by("created_at", "id")
        .first()
    )
    if response is None:
        return None
    taken = Response.objects.filter(pk=response.pk, open_slots__gt=0).update(
        open_slots=F("open_slots") - 1
    )
    if not taken:
        return None
    return Assignment.objects.create(
        user=user,
        task_type=TaskType.REVIEW_RESPONSE,
        prompt_id=response.prompt_id,
        response=response,
        phase=ResponseState.REVIEW,
        expires_at=timezone.now() + _lifetime(TaskType.REVIEW_RESPONSE, policy),
    )


def _claim(user: User, task_type: str, policy: CollectionPolicy) -> Assignment | None:
    if task_type == TaskType.WRITE:
        return Assignment.objects.create(
            user=user,
            task_type=TaskType.WRITE,
            expires_at=timezone.now() + _lifetime(TaskType.WRITE, policy),
        )
    if task_type == TaskType.REVIEW_RESPONSE:
        return _claim_response_review(user, policy)
    return _claim_prompt(user, task_type, policy)


def _lock_user(user: User) -> User:
    locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if locked.banned_at is not None:
        raise Banned(
            _("Your account is suspended from contributing: %(reason)s")
            % {"reason": locked.ban_reason or _("contact the moderators.")}
        )
    return locked


def task_next(*, user: User, kind: str = ANY, rng: random.Random | None = None) -> Assignment:
    """Hold the next task for ``user``: a type picked by weight among those with open slots,
    in the user's languages, never their own work and never a target they saw before."""
    if kind not in REQUESTABLE:
        raise ValidationError(
            {"type": [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(REQUESTABLE)}]}
        )
    policy = current_policy()
    # Overdue tasks give their slots back before anyone looks for one (cheap: a partial
    # index holds only active assignments).
    assignments_expire(limit=100)
    with transaction.atomic():
        user = _lock_user(user)
        pending = Assignment.objects.filter(
            user=user, state=AssignmentState.ACTIVE, expires_at__gt=timezone.now()
        ).count()
        if pending >= policy.max_pending_assignments:
            raise TooManyPending(
                ngettext(
                    "You hold %(n)d open task: submit or skip it before taking another.",
                    "You hold %(n)d open tasks: submit or skip one before taking another.",
                    pending,
                )
                % {"n": pending}
            )
        for task_type in weighted_order(REQUESTABLE[kind], policy, rng or random.Random()):
            assignment = _claim(user, task_type, policy)
            if assignment is not None:
                return assignment
    raise NoTaskAvailable(
        _("No task of this kind is waiting right now. Try another kind, or write a new prompt.")
    )


def _lock_assignment(user: User, assignment_id: int) -> Assignment:
    assignment = Assignment.objects.select_for_update(no_key=True).filter(pk=assignment_id).first()
    if assignment is None or assignment.user_id != user.pk:
        raise TaskConflict(_("This task is not yours."))
    return assignment


def _refuse_finished(assignment: Assignment) -> None:
    if assignment.state == AssignmentState.SUBMITTED:
        raise TaskConflict(_("This task was already submitted."))
    if assignment.state == AssignmentState.SKIPPED:
        raise TaskConflict(_("This task was skipped; take a new one."))
    if assignment.state in (AssignmentState.EXPIRED, AssignmentState.RELEASED):
        raise TaskConflict(_("This task expired and went back to the pool; take a new one."))


def _release(assignment: Assignment, state: str, *, reason: str = "") -> None:
    """End an active assignment without a submission and give its slot back."""
    assignment.state = state
    assignment.finished_at = timezone.now()
    assignment.skip_reason = reason
    assignment.save(update_fields=["state", "finished_at", "skip_reason"])
    if assignment.task_type == TaskType.REVIEW_RESPONSE and assignment.response_id:
        flow.give_back_response_slot(response_id=assignment.response_id)
    elif assignment.task_type != TaskType.WRITE and assignment.prompt_id:
        flow.give_back_prompt_slot(prompt_id=assignment.prompt_id, phase=assignment.phase)


def task_submit(*, user: User, assignment_id: int, payload: Mapping[str, Any]) -> Assignment:
    """Submit the work of an active assignment. Raises TaskConflict for a foreign, finished
    or expired one, ValidationError for bad work.

    An expired assignment is refused without writing anything: callers may run this inside a
    transaction that the refusal rolls back (idempotent requests do). Its slot comes back
    with the next sweep, which every ``task_next`` and the periodic task run.
    """
    with transaction.atomic():
        user = _lock_user(user)
        assignment = _lock_assignment(user, assignment_id)
        _refuse_finished(assignment)
        if assignment.expires_at <= timezone.now():
            raise TaskConflict(_("This task expired and went back to the pool; take a new one."))
        assignment.result = _do_submit(user, assignment, payload)
        assignment.state = AssignmentState.SUBMITTED
        assignment.finished_at = timezone.now()
        assignment.save(update_fields=["result", "state", "finished_at"])
    return assignment


def _lock_prompt(prompt_id: int | None, *, state: str) -> Prompt:
    if prompt_id is None:
        raise TaskConflict(_("This task has no prompt."))
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt_id)
    if prompt.state != state or prompt.withdrawn_at or prompt.hidden_at:
        raise TaskConflict(
            _("This prompt has moved on (withdrawn, hidden or complete); take a new task.")
        )
    return prompt


def _do_submit(user: User, assignment: Assignment, payload: Mapping[str, Any]) -> dict[str, Any]:
    policy = current_policy()
    task_type = assignment.task_type
    if task_type == TaskType.WRITE:
        prompt = collection_services.prompt_create(
            author=user,
            instruction=payload.get("instruction"),
            context=payload.get("context", ""),
            category=payload.get("category"),
            language=payload.get("language"),
            response=payload.get("response"),
        )
        return {"prompt_id": prompt.pk}
    if task_type == TaskType.REVIEW_PROMPT:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.REVIEW)
        review = feedback_services.prompt_review_create(
            reviewer=user, prompt=prompt, payload=payload, policy=policy
        )
        return {"review_id": review.pk}
    if task_type == TaskType.REVIEW_RESPONSE:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.COLLECTING)
        response = Response.objects.select_for_update(no_key=True).get(
            pk=assignment.response_id or 0
        )
        if response.state != ResponseState.REVIEW or response.withdrawn_at or response.hidden_at:
            raise TaskConflict(_("This answer has moved on; take a new task."))
        response.prompt = prompt
        review = feedback_services.response_review_create(
            reviewer=user, response=response, payload=payload, policy=policy
        )
        return {"review_id": review.pk}
    if task_type == TaskType.RESPOND:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.COLLECTING)
        try:
            response = collection_services.response_create(
                prompt=prompt, author=user, text=payload.get("text"), slot_held=True
            )
        except ValidationError as exc:
            # The answer arrives as "text" here: name the field the client sent.
            messages = exc.message_dict if hasattr(exc, "error_dict") else {"text": exc.messages}
            raise ValidationError(
                {("text" if k == "response" else k): v for k, v in messages.items()}
            ) from None
        return {"response_id": response.pk}
    if task_type == TaskType.RANK:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.RANKING)
        ranking = feedback_services.ranking_create(
            ranker=user, prompt=prompt, payload=payload, policy=policy
        )
        return {"ranking_id": ranking.pk}
    raise TaskConflict(_("Unknown task type."))


@transaction.atomic
def task_skip(*, user: User, assignment_id: int, reason: str = "") -> Assignment:
    """Give a task back. The volunteer will not get the same target of that type again."""
    if not isinstance(reason, str) or len(reason) > 500:
        raise ValidationError({"reason": [_("Give the reason in at most 500 characters.")]})
    assignment = _lock_assignment(user, assignment_id)
    _refuse_finished(assignment)
    _release(assignment, AssignmentState.SKIPPED, reason=reason.strip())
    return assignment


def assignments_expire(*, limit: int = 1000) -> int:
    """Expire overdue assignments and give their slots back; safe to run concurrently."""
    with transaction.atomic():
        overdue = list(
            Assignment.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(state=AssignmentState.ACTIVE, expires_at__lte=timezone.now())
            .order_by("expires_at")[:limit]
        )
        for assignment in overdue:
            _release(assignment, AssignmentState.EXPIRED)
    return len(overdue)


def assignments_release_for_user(*, user: User) -> int:
    """Free every open task of a user (on a ban)."""
    with transaction.atomic():
        active = list(
            Assignment.objects.select_for_update(no_key=True).filter(
                user=user, state=AssignmentState.ACTIVE
            )
        )
        for assignment in active:
            _release(assignment, AssignmentState.RELEASED)
    return len(active)
