"""The dispatcher: hand out one task at a time, take submissions, skips and expiries.

Every task but writing a new prompt holds one *open slot* of its target (a prompt, or a
response under review). Slots are taken under ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent volunteers never get the same slot and no target hands out more
tasks than the policy asks; SQLite (the embedded default) serialises writers instead.

Lock order, to stay free of deadlocks: user, assignment, prompt, response (a submission locks
its assignment without the user). Claims lock only the row they take a slot from. Every lock
is ``FOR NO KEY UPDATE``: inserting a row that refers to a locked prompt (an assignment, a
review) takes ``FOR KEY SHARE`` on it, which a plain ``FOR UPDATE`` would block, and a claim
holding a response while inserting its assignment would then deadlock with a submission
holding the prompt.

The hot path (``next`` and ``submit``) writes its reads and locks out in SQL (see "reading
and locking rows" below): building these small queries with the ORM took several times the
CPU that PostgreSQL needed to run them. Claims walk per-state partial indexes of the live rows,
oldest first, and skip those without an open slot (migration 0003: no index names
``open_slots``, so that taking or giving back a slot is a HOT update, which touches none of
the row's indexes).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Model, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.accounts.models import User
from apps.assignments import selectors
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import services as collection_services
from apps.collection.models import CollectionPolicy, Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy, policy_gate
from apps.core.sql import columns as _columns
from apps.core.sql import fetch_one as _fetch_one
from apps.core.sql import insert as _insert
from apps.core.sql import is_row_id
from apps.core.sql import quote as _q
from apps.core.sql import update as _update
from apps.core.text import check_text
from apps.feedback import services as feedback_services

ANY = "any"
M = TypeVar("M", bound=Model)
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


class TaskNotFound(TaskError):
    """No task of this volunteer's has that id: someone else's, or none at all."""

    status = 404


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


# --- reading and locking rows without building ORM queries ---------------------------------
# The dispatcher's statements are written out in SQL (apps/core/sql.py says why); rows still
# become model instances through the ORM's own value converters. Every statement is plain
# SQL apart from the row locks, which are left out where the database has none (SQLite
# serialises writers instead).


def _for_update(*, of: str | None = None, skip_locked: bool = False) -> str:
    """``FOR NO KEY UPDATE [OF …] [SKIP LOCKED]``, as far as the database has it."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    clause = "FOR NO KEY UPDATE" if features.has_select_for_no_key_update else "FOR UPDATE"
    if of and features.has_select_for_update_of:
        clause += f" OF {of}"
    if skip_locked:
        clause += " SKIP LOCKED"
    return clause


def _now() -> Any:
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _lock_row(model: type[M], pk: int) -> M | None:
    """The row of ``model`` with this primary key, locked ``FOR NO KEY UPDATE`` (None for
    none, or for an id no row can have)."""
    if not is_row_id(pk):
        return None
    table = _q(model._meta.db_table)
    found = _fetch_one(
        f"SELECT {_columns(model, table)} FROM {table} "
        f"WHERE {table}.{_q(model._meta.pk.column)} = %s {_for_update()}",
        [pk],
        model,
    )
    return found[0] if found else None


# --- the policy ------------------------------------------------------------------------------

# A change that bypasses ``save()`` (a queryset ``update()``) leaves ``updated_at`` alone:
# the copy is reread after this many seconds all the same.
POLICY_REREAD_SECONDS = 60.0
_policy_seen: tuple[Any, float, CollectionPolicy] | None = None


def _policy(updated_at: Any) -> CollectionPolicy:
    """The collection policy, reread only when its ``updated_at`` (read along with the user's
    row lock, at no extra cost) differs from that of the copy this process holds, or that copy
    is a minute old. Callers must not change the instance."""
    global _policy_seen
    seen = _policy_seen
    now = time.monotonic()
    if (
        updated_at is not None
        and seen is not None
        and seen[0] == updated_at
        and now - seen[1] < POLICY_REREAD_SECONDS
    ):
        return seen[2]
    policy = current_policy()
    _policy_seen = (policy.updated_at, now, policy)
    return policy


# --- claims -----------------------------------------------------------------------------------


def _language_filter(user: User, column: str) -> tuple[str, list[str]]:
    """Tasks in the volunteer's languages; ``pt`` also matches ``pt-BR`` (a LIKE with the
    tag's wildcards escaped, as ``language__startswith="pt-"`` does)."""
    tags = [str(tag) for tag in (user.languages or ["en"])]
    exact = f"{column} IN ({', '.join(['%s'] * len(tags))})"
    regional = [f"{column} LIKE %s ESCAPE '\\'"] * len(tags)
    patterns = [f"{connection.ops.prep_for_like_query(tag)}-%" for tag in tags]
    return f"({' OR '.join([exact, *regional])})", [*tags, *patterns]


def _author_not_banned(alias: str) -> str:
    """SQL: the row's author is not banned. A ban takes a person's prompts and answers out of
    the task pool, as out of public view (apps.collection.selectors) and out of releases,
    until it is lifted; their slots wait as they are. One probe of the users' primary key."""
    return (
        f"NOT EXISTS (SELECT 1 FROM {_q(User._meta.db_table)} u "
        f'WHERE u."id" = {alias}."author_id" AND u."banned_at" IS NOT NULL)'
    )


def _take_slot(model: type[Model], pk: int) -> bool:
    """Take one open slot of a row the caller holds locked."""
    table = _q(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {table} SET "open_slots" = "open_slots" - 1 '
            f'WHERE {_q(model._meta.pk.column)} = %s AND "open_slots" > 0',
            [pk],
        )
        return cursor.rowcount == 1


def _claim_prompt(user: User, task_type: str, policy: CollectionPolicy) -> Assignment | None:
    """Hold one open slot of the oldest live prompt in the task's state that the user may work
    on: in their languages, by an author not banned, not their own, not one they had a task
    of this type on before (done, skipped or expired), to answer or rank, not one they
    answered and, to rank, one with two answers at least to rank.

    The state is written into the statement so that PostgreSQL walks that state's partial
    index of live prompts (assignments migration 0003), not every live prompt."""
    states: dict[str, str] = {
        TaskType.REVIEW_PROMPT: PromptState.REVIEW.value,
        TaskType.RESPOND: PromptState.COLLECTING.value,
        TaskType.RANK: PromptState.RANKING.value,
    }
    state = states[task_type]
    prompts, assignments = _q(Prompt._meta.db_table), _q(Assignment._meta.db_table)
    languages, language_params = _language_filter(user, 'c."language"')
    answered, answered_params = "", []
    if task_type in (TaskType.RESPOND, TaskType.RANK):
        # Nobody answers a prompt twice, and nobody ranks a set holding their own answer.
        answered = (
            f"AND NOT EXISTS (SELECT 1 FROM {_q(Response._meta.db_table)} r "
            'WHERE r."prompt_id" = c."id" AND r."author_id" = %s)'
        )
        answered_params = [user.pk]
    if task_type == TaskType.RANK:
        # A ranking compares two answers at least. (A prompt left with fewer goes back to
        # collecting: feedback_services.rank_sets_check. This holds meanwhile.)
        size, size_params = feedback_services.rank_set_size('c."id"')
        answered += f" AND {size} >= {feedback_services.MIN_RANK_SET}"
        answered_params += size_params
    # One statement picks the prompt (locking it, skipping those others hold) and takes its
    # slot: the row is locked between the two, so the slot is still there.
    found = _fetch_one(
        f"""
        UPDATE {prompts} SET "open_slots" = "open_slots" - 1
        WHERE "id" = (
            SELECT c."id" FROM {prompts} c
            WHERE c."state" = '{state}' AND c."open_slots" > 0
              AND c."withdrawn_at" IS NULL AND c."hidden_at" IS NULL
              AND {languages}
              AND c."author_id" <> %s
              AND {_author_not_banned("c")}
              AND NOT EXISTS (
                  SELECT 1 FROM {assignments} a
                  WHERE a."user_id" = %s AND a."prompt_id" = c."id" AND a."task_type" = %s
              )
              {answered}
            ORDER BY c."created_at", c."id"
            LIMIT 1
            {_for_update(skip_locked=True)}
        )
        RETURNING {_columns(Prompt, None)}
        """,
        [*language_params, user.pk, user.pk, task_type, *answered_params],
        Prompt,
    )
    if found is None:
        return None
    (prompt,) = found
    return _insert(
        Assignment(
            user=user,
            task_type=task_type,
            prompt=prompt,
            phase=state,
            expires_at=timezone.now() + _lifetime(task_type, policy),
        )
    )


def _claim_response_review(user: User, policy: CollectionPolicy) -> Assignment | None:
    """Hold one review slot of the oldest live answer in review under a live prompt that is
    collecting, in the user's languages, neither by a banned author, not their own and not
    one they had this task on before. Locks the answer only."""
    responses, prompts = _q(Response._meta.db_table), _q(Prompt._meta.db_table)
    languages, language_params = _language_filter(user, 'p."language"')
    found = _fetch_one(
        f"""
        SELECT {_columns(Response, "c")}, {_columns(Prompt, "p")}
        FROM {responses} c INNER JOIN {prompts} p ON p."id" = c."prompt_id"
        WHERE c."state" = '{ResponseState.REVIEW.value}' AND c."open_slots" > 0
          AND c."withdrawn_at" IS NULL AND c."hidden_at" IS NULL
          AND p."state" = %s AND p."withdrawn_at" IS NULL AND p."hidden_at" IS NULL
          AND {languages}
          AND c."author_id" <> %s
          AND {_author_not_banned("c")} AND {_author_not_banned("p")}
          AND NOT EXISTS (
              SELECT 1 FROM {_q(Assignment._meta.db_table)} a
              WHERE a."user_id" = %s AND a."response_id" = c."id" AND a."task_type" = %s
          )
        ORDER BY c."created_at", c."id"
        LIMIT 1
        {_for_update(of="c", skip_locked=True)}
        """,
        [
            PromptState.COLLECTING,
            *language_params,
            user.pk,
            user.pk,
            TaskType.REVIEW_RESPONSE,
        ],
        Response,
        Prompt,
    )
    if found is None:
        return None
    response, prompt = found
    if not _take_slot(Response, response.pk):
        return None
    response.prompt = prompt
    return _insert(
        Assignment(
            user=user,
            task_type=TaskType.REVIEW_RESPONSE,
            prompt=prompt,
            response=response,
            phase=ResponseState.REVIEW,
            expires_at=timezone.now() + _lifetime(TaskType.REVIEW_RESPONSE, policy),
        )
    )


def _claim(user: User, task_type: str, policy: CollectionPolicy) -> Assignment | None:
    if task_type == TaskType.WRITE:
        return _insert(
            Assignment(
                user=user,
                task_type=TaskType.WRITE,
                expires_at=timezone.now() + _lifetime(TaskType.WRITE, policy),
            )
        )
    if task_type == TaskType.REVIEW_RESPONSE:
        return _claim_response_review(user, policy)
    return _claim_prompt(user, task_type, policy)


def _lock_user(user: User) -> tuple[User, CollectionPolicy, int, bool]:
    """Lock the user's row (refusing a banned user) and return it with the current policy
    (whose ``updated_at`` comes along in the same statement), the user's active tasks that
    have not expired yet, and whether anyone's active task is overdue (one probe of the
    partial expiry index)."""
    users, assignments = _q(User._meta.db_table), _q(Assignment._meta.db_table)
    now = _now()
    found = _fetch_one(
        f"SELECT {_columns(User, users)}, "
        f'(SELECT p."updated_at" FROM {_q(CollectionPolicy._meta.db_table)} p WHERE p."id" = 1), '
        f"(SELECT COUNT(*) FROM {assignments} a "
        f'WHERE a."user_id" = {users}."id" AND a."state" = %s AND a."expires_at" > %s), '
        f"EXISTS (SELECT 1 FROM {assignments} a "
        'WHERE a."state" = %s AND a."expires_at" <= %s) '
        f'FROM {users} WHERE {users}."id" = %s {_for_update(of=users)}',
        [AssignmentState.ACTIVE, now, AssignmentState.ACTIVE, now, user.pk],
        User,
        CollectionPolicy._meta.get_field("updated_at"),
    )
    if found is None:
        raise User.DoesNotExist(f"user {user.pk} does not exist")
    locked, policy_updated_at, pending, overdue = found
    _refuse_banned(locked.banned_at, locked.ban_reason)
    return locked, _policy(policy_updated_at), int(pending), bool(overdue)


def _refuse_banned(banned_at: Any, reason: str) -> None:
    if banned_at is not None:
        raise Banned(
            _("Your account is suspended from contributing: %(reason)s")
            % {"reason": reason or _("contact the moderators.")}
        )


def _check_kind(kind: str) -> None:
    if kind not in REQUESTABLE:
        raise ValidationError(
            {"type": [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(REQUESTABLE)}]}
        )


def task_held(*, user: User, kind: str = ANY) -> Assignment | None:
    """The oldest task of ``kind`` that ``user`` holds and whose hold has not run out (for
    ``any``, of every kind), or None: the site and the API go back to it before taking
    another, so asking twice never holds two tasks of one kind."""
    _check_kind(kind)
    return selectors.active_task_for_user(user=user, kind_types=REQUESTABLE[kind])


def task_held_or_next(
    *, user: User, kind: str = ANY, rng: random.Random | None = None
) -> Assignment:
    """The task of ``kind`` that ``user`` already holds (``task_held``), else the next one
    (``task_next``), refusing a banned user either way. (A ban releases the user's tasks, so
    one is held here only when the account was banned by hand, as a test does.)"""
    held = task_held(user=user, kind=kind)
    if held is None:
        return task_next(user=user, kind=kind, rng=rng, unless_held=True)
    # Read now, not from ``user``: the request's copy may predate a ban or an unban.
    banned_at, reason = User.objects.filter(pk=user.pk).values_list("banned_at", "ban_reason")[0]
    _refuse_banned(banned_at, reason)
    return held


def task_next(
    *,
    user: User,
    kind: str = ANY,
    rng: random.Random | None = None,
    unless_held: bool = False,
) -> Assignment:
    """Hold the next task for ``user``: a type picked by weight among those with open slots,
    in the user's languages, never their own work and never a target they saw before. It
    takes a new one even where the user holds one of that kind, unless ``unless_held``: then
    the held one (``task_held``), looked for under the user's row lock, so that requests
    sent together (a double tap, a client's retry) hold one task, not one each (race QA: five
    at once held four answer tasks)."""
    _check_kind(kind)
    with transaction.atomic():
        user, policy, pending, overdue = _lock_user(user)
        # A statement of its own: ``_lock_user``'s counts are as of before it waited for the
        # lock, when a request sent together had not yet committed the task it took.
        if unless_held and (held := task_held(user=user, kind=kind)) is not None:
            return held
        if overdue:
            # Overdue tasks give their slots back before anyone looks for one. (The user's
            # lock comes first here as everywhere; the sweep skips assignments others hold.)
            _expire_overdue(limit=100)
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


def _lock_own_assignment(user: User, assignment_id: int) -> tuple[Assignment, CollectionPolicy]:
    """The user's assignment, locked, with the current policy, refusing a banned user; one
    statement. The user's row is read, not locked: a ban committed meanwhile waits for this
    assignment's lock before it releases the user's tasks, and then finds it submitted."""
    assignments, users = _q(Assignment._meta.db_table), _q(User._meta.db_table)
    found = None
    # An id no row can have (a URL may carry any digits) is no task of anyone's.
    if is_row_id(assignment_id):
        # A statement of its own, before the policy is read and any prompt or answer locked:
        # a submission may move its target on, with slots from the policy.
        policy_gate()
        found = _fetch_one(
            f'SELECT {_columns(Assignment, "a")}, u."banned_at", u."ban_reason", '
            f'(SELECT p."updated_at" FROM {_q(CollectionPolicy._meta.db_table)} p WHERE p."id" = 1) '
            f'FROM {assignments} a INNER JOIN {users} u ON u."id" = a."user_id" '
            f'WHERE a."id" = %s AND a."user_id" = %s {_for_update(of="a")}',
            [assignment_id, user.pk],
            Assignment,
            User._meta.get_field("banned_at"),
            User._meta.get_field("ban_reason"),
            CollectionPolicy._meta.get_field("updated_at"),
        )
    if found is None:
        fresh = User.objects.only("banned_at", "ban_reason").get(pk=user.pk)
        _refuse_banned(fresh.banned_at, fresh.ban_reason)
        raise TaskNotFound(_("This task is not yours, or does not exist."))
    assignment, banned_at, ban_reason, policy_updated_at = found
    _refuse_banned(banned_at, ban_reason)
    return assignment, _policy(policy_updated_at)


def _lock_assignment(user: User, assignment_id: int) -> Assignment:
    assignment = _lock_row(Assignment, assignment_id)
    if assignment is None or assignment.user_id != user.pk:
        raise TaskNotFound(_("This task is not yours, or does not exist."))
    return assignment


# A task taken back before its time: what it was for was withdrawn, hidden or halted, its
# author or its holder banned, or the ranking it was for ended without it.
TAKEN_BACK = gettext_lazy(
    "This task was taken back: what it was for is no longer open. Take a new one."
)


def _refuse_finished(assignment: Assignment) -> None:
    if assignment.state == AssignmentState.SUBMITTED:
        raise TaskConflict(_("This task was already submitted."))
    if assignment.state == AssignmentState.SKIPPED:
        raise TaskConflict(_("This task was skipped; take a new one."))
    if assignment.state == AssignmentState.RELEASED:
        raise TaskConflict(str(TAKEN_BACK))
    if assignment.state == AssignmentState.EXPIRED:
        raise TaskConflict(_("This task expired and went back to the pool; take a new one."))


def _release(assignments: list[Assignment], state: str, *, reason: str = "") -> None:
    """End active assignments without a submission and give their slots back. Precondition:
    the caller holds the assignments' row locks.

    One UPDATE ends them all, and the slots go back in a few more, however many there are:
    the targets' rows are locked first in the lock order (prompts, then answers, each by id),
    not in the assignments' order (an answer's slot given back before its prompt's, or two
    prompts in the other order, would deadlock with a submission or another sweep holding
    them), then each prompt gets as many slots as it had tasks in the state they were taken
    in, and each answer still in review as many as it had review tasks."""
    if not assignments:
        return
    now = timezone.now()
    prompts: Counter[tuple[int, str]] = Counter()
    answers: Counter[int] = Counter()
    for assignment in assignments:
        assignment.state = state
        assignment.finished_at = now
        assignment.skip_reason = reason
        if assignment.task_type == TaskType.REVIEW_RESPONSE and assignment.response_id:
            answers[assignment.response_id] += 1
        elif assignment.task_type != TaskType.WRITE and assignment.prompt_id:
            prompts[(assignment.prompt_id, assignment.phase)] += 1
    ids = [assignment.pk for assignment in assignments]
    for start in range(0, len(ids), PROMPTS_PER_STATEMENT):
        Assignment.objects.filter(pk__in=ids[start : start + PROMPTS_PER_STATEMENT]).update(
            state=state, finished_at=now, skip_reason=reason
        )
    _give_back_slots(Prompt, dict(prompts))
    _give_back_slots(Response, {(pk, ResponseState.REVIEW.value): n for pk, n in answers.items()})


def _give_back_slots(
    model: type[Prompt] | type[Response], slots: dict[tuple[int, str], int]
) -> None:
    """Add ``slots[(id, state)]`` open slots to each row of ``model`` with that id that is
    still in that state. Locks the rows in id order first when there are several: one
    statement over many rows locks them in whatever order it reads them. Then one UPDATE for
    each (state, count) pair, nearly always one or two a state."""
    if len({pk for pk, _state in slots}) > 1:
        _lock_in_id_order(model, Q(pk__in=sorted({pk for pk, _state in slots})))
    grouped: dict[tuple[str, int], list[int]] = {}
    for (pk, target_state), n in slots.items():
        grouped.setdefault((target_state, n), []).append(pk)
    for (target_state, n), pks in sorted(grouped.items()):
        for start in range(0, len(pks), PROMPTS_PER_STATEMENT):
            model.objects.filter(
                pk__in=pks[start : start + PROMPTS_PER_STATEMENT], state=target_state
            ).update(open_slots=F("open_slots") + n)


def task_submit(*, user: User, assignment_id: int, payload: Mapping[str, Any]) -> Assignment:
    """Submit the work of an active assignment. Raises TaskConflict for a foreign, finished
    or expired one, ValidationError for bad work.

    An expired assignment is refused without writing anything: callers may run this inside a
    transaction that the refusal rolls back (idempotent requests do). Its slot comes back
    with the next sweep, which every ``task_next`` and the periodic task run.
    """
    with transaction.atomic():
        assignment, policy = _lock_own_assignment(user, assignment_id)
        _refuse_finished(assignment)
        if assignment.expires_at <= timezone.now():
            raise TaskConflict(_("This task expired and went back to the pool; take a new one."))
        assignment.result = _do_submit(user, assignment, payload, policy)
        assignment.state = AssignmentState.SUBMITTED
        assignment.finished_at = timezone.now()
        _update(assignment, ["result", "state", "finished_at"])
    return assignment


def _lock_prompt(prompt_id: int | None, *, state: str) -> Prompt:
    if prompt_id is None:
        raise TaskConflict(_("This task has no prompt."))
    prompt = _lock_row(Prompt, prompt_id)
    if prompt is None:
        raise Prompt.DoesNotExist(f"prompt {prompt_id} does not exist")
    if prompt.state != state or prompt.withdrawn_at or prompt.hidden_at:
        raise TaskConflict(
            _("This prompt has moved on (withdrawn, hidden or complete); take a new task.")
        )
    return prompt


# The fields each type of task takes (the task API's names; the Contribute page's forms send
# the same). Any other is refused: the services read what they know and would drop the rest,
# so a misspelt "label" made a review that flagged nothing.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    TaskType.WRITE: ("instruction", "context", "category", "language", "response"),
    TaskType.REVIEW_PROMPT: ("labels", "quality"),
    TaskType.REVIEW_RESPONSE: ("labels", "quality"),
    TaskType.RESPOND: ("text",),
    TaskType.RANK: ("order", "unusable"),
}


def _refuse_unknown_fields(task_type: str, payload: Mapping[str, Any]) -> None:
    """A ValidationError naming each field ``payload`` has that this type of task does not
    take, in the words the API's request serializers use (apps.core.fields)."""
    takes = TASK_FIELDS.get(task_type, ())
    refused = sorted(str(name) for name in payload if name not in takes)
    if refused:
        message = _("Not a field of this request; it takes: %(fields)s.") % {
            "fields": ", ".join(takes)
        }
        raise ValidationError({name: [message] for name in refused})


def _do_submit(
    user: User, assignment: Assignment, payload: Mapping[str, Any], policy: CollectionPolicy
) -> dict[str, Any]:
    """Make the row the task asks for. The locked prompt (and answer) stay on the assignment,
    so the reply does not read them again."""
    task_type = assignment.task_type
    _refuse_unknown_fields(task_type, payload)
    if task_type == TaskType.WRITE:
        prompt = collection_services.prompt_create(
            author=user,
            instruction=payload.get("instruction"),
            context=payload.get("context", ""),
            category=payload.get("category"),
            language=payload.get("language"),
            response=payload.get("response"),
            task_held=True,
        )
        return {"prompt_id": prompt.pk}
    if task_type == TaskType.REVIEW_PROMPT:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.REVIEW)
        assignment.prompt = prompt
        review = feedback_services.prompt_review_create(
            reviewer=user, prompt=prompt, payload=payload, policy=policy
        )
        return {"review_id": review.pk}
    if task_type == TaskType.REVIEW_RESPONSE:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.COLLECTING)
        response = _lock_row(Response, assignment.response_id or 0)
        if response is None:
            raise Response.DoesNotExist(f"response {assignment.response_id} does not exist")
        if response.state != ResponseState.REVIEW or response.withdrawn_at or response.hidden_at:
            raise TaskConflict(_("This answer has moved on; take a new task."))
        response.prompt = prompt
        assignment.prompt, assignment.response = prompt, response
        review = feedback_services.response_review_create(
            reviewer=user, response=response, payload=payload, policy=policy
        )
        return {"review_id": review.pk}
    if task_type == TaskType.RESPOND:
        prompt = _lock_prompt(assignment.prompt_id, state=PromptState.COLLECTING)
        assignment.prompt = prompt
        try:
            response = collection_services.response_create(
                prompt=prompt,
                author=user,
                text=payload.get("text"),
                slot_held=True,
                policy=policy,
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
        assignment.prompt = prompt
        ranking = feedback_services.ranking_create(
            ranker=user, prompt=prompt, payload=payload, policy=policy
        )
        return {"ranking_id": ranking.pk}
    raise TaskConflict(_("Unknown task type."))


SKIP_REASON_MAX_CHARS = 500


def _check_skip_reason(reason: Any) -> str:
    """The reason as stored (normalised, may be empty), or a ValidationError under "reason":
    text only, no control characters, at most SKIP_REASON_MAX_CHARS."""
    try:
        return check_text(
            reason,
            label=_("The reason"),
            min_chars=0,
            max_chars=SKIP_REASON_MAX_CHARS,
            required=False,
        )
    except ValidationError as exc:
        raise ValidationError({"reason": exc.messages}) from None


@transaction.atomic
def task_skip(*, user: User, assignment_id: int, reason: Any = "") -> Assignment:
    """Give a task back. The volunteer will not get the same target of that type again."""
    clean = _check_skip_reason(reason)
    assignment = _lock_assignment(user, assignment_id)
    _refuse_finished(assignment)
    _release([assignment], AssignmentState.SKIPPED, reason=clean)
    return assignment


# Prompts one statement covers at most (PostgreSQL binds 65,535 parameters at most).
PROMPTS_PER_STATEMENT = 5000


def rank_tasks_release(*, prompt_ids: Sequence[int]) -> int:
    """Release the open rank tasks of these prompts that are not ranking any more (sent back
    to collecting by feedback_services.rank_sets_check); returns how many.

    Run once the change of state is committed, in a transaction that locks these tasks and
    nothing else, so the dispatcher's order holds: a submission holding one of them waits for
    nothing this holds, finds the prompt collecting and is refused, and this then releases
    its task. No slot goes back: a task's slot belongs to the state it was taken in."""
    released = 0
    ids = list(prompt_ids)
    ranking = Prompt.objects.filter(state=PromptState.RANKING).values("pk")
    with transaction.atomic():
        for start in range(0, len(ids), PROMPTS_PER_STATEMENT):
            # No join, so that the UPDATE itself reads the task's state: once a submission
            # it waited for has committed, PostgreSQL checks the state again on that row.
            released += (
                Assignment.objects.filter(
                    prompt_id__in=ids[start : start + PROMPTS_PER_STATEMENT],
                    task_type=TaskType.RANK,
                    state=AssignmentState.ACTIVE,
                )
                .exclude(prompt_id__in=ranking)
                .update(state=AssignmentState.RELEASED, finished_at=timezone.now())
            )
    return released


def tasks_release_on_gone_work(
    *,
    prompt_ids: Sequence[int] = (),
    response_ids: Sequence[int] = (),
    author_id: int | None = None,
) -> int:
    """Release the open tasks on work that has left the task pool: every task on these
    prompts (their review, answers, ranking, their answers' reviews), every task on these
    answers (their review: a ranking goes on without a hidden answer), and with ``author_id``
    every task on that person's prompts and answers (a ban, a deleted account). Returns how
    many. Without this, whoever held such a task went on reading what had been withdrawn or
    hidden (for harm, say) until the task expired, and only their submission was refused.

    Run once the change is committed (``on_gone_work_commit``), in a transaction that locks
    these tasks and nothing else, as ``rank_tasks_release``: a submission holding one of them
    waits for nothing this holds, finds its work gone and is refused, and this then releases
    its task. The tasks are found first and then updated by id, with no join, so that the
    UPDATE itself reads each task's state again once a submission it waited for commits."""
    gone = Q(prompt_id__in=list(prompt_ids)) | Q(response_id__in=list(response_ids))
    if author_id is not None:
        gone |= Q(prompt__author_id=author_id) | Q(response__author_id=author_id)
    ids = list(
        Assignment.objects.filter(gone, state=AssignmentState.ACTIVE).values_list("pk", flat=True)
    )
    released = 0
    with transaction.atomic():
        for start in range(0, len(ids), PROMPTS_PER_STATEMENT):
            released += Assignment.objects.filter(
                pk__in=ids[start : start + PROMPTS_PER_STATEMENT], state=AssignmentState.ACTIVE
            ).update(state=AssignmentState.RELEASED, finished_at=timezone.now())
    return released


def on_gone_work_commit(
    *,
    prompt_ids: Sequence[int] = (),
    response_ids: Sequence[int] = (),
    author_id: int | None = None,
) -> None:
    """Release the open tasks on work withdrawn, hidden or banned in the current transaction,
    once it commits (see ``tasks_release_on_gone_work``)."""
    prompts, responses = list(prompt_ids), list(response_ids)
    transaction.on_commit(
        lambda: tasks_release_on_gone_work(
            prompt_ids=prompts, response_ids=responses, author_id=author_id
        ),
        robust=True,
    )


def _any_overdue() -> bool:
    """Whether some active assignment is overdue: one probe of the partial expiry index, so
    that the periodic sweep costs next to nothing while nothing is overdue."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {_q(Assignment._meta.db_table)} "
            'WHERE "state" = %s AND "expires_at" <= %s LIMIT 1',
            [AssignmentState.ACTIVE, _now()],
        )
        return cursor.fetchone() is not None


def assignments_expire(*, limit: int = 1000) -> int:
    """Expire overdue assignments and give their slots back; safe to run concurrently."""
    if not _any_overdue():
        return 0
    with transaction.atomic():
        return _expire_overdue(limit=limit)


def _expire_overdue(*, limit: int) -> int:
    overdue = list(
        Assignment.objects.select_for_update(no_key=True, skip_locked=True)
        .filter(state=AssignmentState.ACTIVE, expires_at__lte=timezone.now())
        .order_by("expires_at")[:limit]
    )
    _release(overdue, AssignmentState.EXPIRED)
    return len(overdue)


def assignments_release_for_user(
    *, user: User, prompts: Q | None = None, answers: Q | None = None
) -> int:
    """Free every open task of a user (on a ban or an account deletion).

    First it locks, in the dispatcher's order and each kind by id, the tasks, then every
    prompt they name together with ``prompts``, then every answer they name together with
    ``answers``: a caller about to change the person's work as well (a ban, a deletion) then
    holds all those rows before it changes any, in one order. Locking the tasks' rows and the
    work's one set after the other could take an answer, or a higher prompt id, first."""
    with transaction.atomic():
        active = list(
            Assignment.objects.select_for_update(no_key=True)
            .filter(user=user, state=AssignmentState.ACTIVE)
            .order_by("pk")
        )
        task_answers = [a.response_id for a in active if a.response_id]
        prompt_rows = Q(pk__in=[a.prompt_id for a in active if a.prompt_id]) | Q(
            pk__in=Response.objects.filter(pk__in=task_answers).values("prompt_id")
        )
        answer_rows = Q(pk__in=task_answers)
        if active or prompts is not None:
            _lock_in_id_order(Prompt, prompt_rows | prompts if prompts is not None else prompt_rows)
        if task_answers or answers is not None:
            _lock_in_id_order(
                Response, answer_rows | answers if answers is not None else answer_rows
            )
        _release(active, AssignmentState.RELEASED)
    return len(active)


def _lock_in_id_order(model: type[Prompt] | type[Response], rows: Q) -> None:
    list(
        model.objects.select_for_update(no_key=True)
        .filter(rows)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
