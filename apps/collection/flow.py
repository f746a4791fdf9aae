"""The prompt and response state machines, in one place.

Prompt: review → collecting → ranking → complete, with rejected (from review) and halted
(from any open state) as exits; a prompt ranking goes back to collecting when fewer than two
of its answers are left to rank (apps.feedback.services.rank_sets_check), and a complete one
back to collecting, or to ranking when fewer of its rankings count than the policy asks for
(apps.feedback.services.complete_prompts_check). Response:
review → accepted | rejected. A rejected prompt or answer goes back to review when reviews
that decided it stop counting, their reviewer banned
(apps.feedback.services.reviews_of_banned_reconsider).

Each transition sets the target's ``open_slots`` for its new state, so the dispatcher hands
out exactly as many tasks as the policy asks for. Callers must hold the row lock
(``select_for_update``) of the prompt or response they pass in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Exists, F, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.collection.models import (
    CollectionPolicy,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.core.sql import quote, scalar, update

# Prompts one statement moves at most (PostgreSQL binds 65,535 parameters at most).
ROWS_PER_STATEMENT = 5000


class InvalidTransition(Exception):
    """The requested state change is not an edge of the state machine."""


PROMPT_EDGES: frozenset[tuple[str, str]] = frozenset(
    {
        (PromptState.REVIEW, PromptState.COLLECTING),
        (PromptState.REVIEW, PromptState.REJECTED),
        (PromptState.COLLECTING, PromptState.RANKING),
        # Its answers withdrawn, hidden or their authors banned, down to fewer than two.
        (PromptState.RANKING, PromptState.COLLECTING),
        (PromptState.RANKING, PromptState.COMPLETE),
        # Completed on work that no longer counts (a spam ring's answers or rankings, their
        # authors banned; answers hidden or withdrawn): with fewer than two answers left to
        # rank it collects again, its consensus removed (its rankings retired when it ranks
        # again, as for one sent back from ranking) ...
        (PromptState.COMPLETE, PromptState.COLLECTING),
        # ... and with fewer rankings by rankers not banned than the policy asks for it ranks
        # again for those it lacks, its consensus removed until it completes again.
        (PromptState.COMPLETE, PromptState.RANKING),
        (PromptState.REVIEW, PromptState.HALTED),
        (PromptState.COLLECTING, PromptState.HALTED),
        (PromptState.RANKING, PromptState.HALTED),
        # Reviews that rejected it no longer count (their reviewer banned): it is reviewed
        # again, or decided at once by the reviews left (see back_to_review).
        (PromptState.REJECTED, PromptState.REVIEW),
    }
)
RESPONSE_EDGES: frozenset[tuple[str, str]] = frozenset(
    {
        (ResponseState.REVIEW, ResponseState.ACCEPTED),
        (ResponseState.REVIEW, ResponseState.REJECTED),
        # As for a prompt: reviews that rejected it no longer count.
        (ResponseState.REJECTED, ResponseState.REVIEW),
    }
)


def live_responses(prompt: Prompt) -> int:
    """Answers that count toward the collection target: accepted or still in review."""
    return count_responses(prompt, (ResponseState.REVIEW, ResponseState.ACCEPTED))


def count_responses(prompt: Prompt, states: tuple[str, ...]) -> int:
    """A prompt's live answers written by people, in these states: not withdrawn, not
    hidden, and by an author who is not banned (a ban takes an answer out of the collection as
    hiding it does). Model-written answers come on top of the target (they join the rank set
    but never take a person's place). (In SQL, as the dispatcher's statements are: see
    apps/core/sql.py.)"""
    counted, params = _counted_responses("%s", states)
    return int(scalar(f"SELECT {counted}", [prompt.pk, *params]))


def _counted_responses(prompt_id: str, states: tuple[str, ...]) -> tuple[str, list[Any]]:
    """SQL counting the answers ``count_responses`` counts of the prompt whose id is
    ``prompt_id`` (a column, or a placeholder that comes first), and its other parameters."""
    users = quote(User._meta.db_table)
    return (
        f"(SELECT COUNT(*) FROM {quote(Response._meta.db_table)} "
        f'WHERE "prompt_id" = {prompt_id} AND "state" IN ({", ".join(["%s"] * len(states))}) '
        'AND "source" = %s AND "withdrawn_at" IS NULL AND "hidden_at" IS NULL '
        f'AND "author_id" NOT IN (SELECT "id" FROM {users} WHERE "banned_at" IS NOT NULL))',
        [*states, Source.HUMAN],
    )


def slots_for(prompt: Prompt, state: str, policy: CollectionPolicy) -> int:
    """How many tasks a prompt entering ``state`` has to hand out."""
    if state == PromptState.REVIEW:
        return int(policy.prompt_reviews_required)
    if state == PromptState.COLLECTING:
        return max(0, int(policy.responses_to_collect) - live_responses(prompt))
    if state == PromptState.RANKING:
        return int(policy.rankings_required)
    return 0


def prompt_transition(*, prompt: Prompt, to: str, policy: CollectionPolicy) -> Prompt:
    """Move ``prompt`` along one edge and reset its open slots. Precondition: the caller
    holds the prompt's row lock."""
    if (prompt.state, to) not in PROMPT_EDGES:
        raise InvalidTransition(f"prompt {prompt.pk}: {prompt.state} → {to} is not allowed")
    prompt.state = to
    prompt.open_slots = slots_for(prompt, to, policy)
    update(prompt, ["state", "open_slots", "updated_at"])
    return prompt


def prompts_back_to_collecting(
    *,
    prompt_ids: Sequence[int],
    policy: CollectionPolicy,
    from_state: str = PromptState.RANKING,
) -> None:
    """Move these prompts from ranking (or ``from_state``: complete) back to collecting
    (fewer than two answers left to rank), each with the slots ``slots_for`` gives a prompt
    entering collecting, in one statement per ROWS_PER_STATEMENT prompts; one not in
    ``from_state`` is left alone. Precondition: the caller holds the prompts' row locks."""
    if (from_state, PromptState.COLLECTING) not in PROMPT_EDGES:
        raise InvalidTransition(f"prompts: {from_state} → {PromptState.COLLECTING} is not allowed")
    prompts = quote(Prompt._meta.db_table)
    live, live_params = _counted_responses(
        f'{prompts}."id"', (ResponseState.REVIEW, ResponseState.ACCEPTED)
    )
    target = int(policy.responses_to_collect)
    ids = list(prompt_ids)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            part = ids[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                f'UPDATE {prompts} SET "state" = %s, "updated_at" = %s, "open_slots" = '
                f"CASE WHEN {live} >= %s THEN 0 ELSE %s - {live} END "
                f'WHERE "state" = %s AND "id" IN ({", ".join(["%s"] * len(part))})',
                [
                    PromptState.COLLECTING,
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                    *live_params,
                    target,
                    target,
                    *live_params,
                    from_state,
                    *part,
                ],
            )


def prompts_back_to_ranking(*, slots: Mapping[int, int]) -> int:
    """Move these complete prompts back to ranking, each with ``slots[id]`` open rank slots
    (the rankings it still lacks, not the policy's full count as ``prompt_transition`` gives:
    those that still count stay with it); returns how many moved. One statement per distinct
    slot count and ROWS_PER_STATEMENT prompts, however many; one no longer complete is left
    alone. Precondition: the caller holds the prompts' row locks."""
    return _move_in_bulk(Prompt, PromptState.COMPLETE, PromptState.RANKING, slots)


def back_to_review(model: type[Prompt] | type[Response], *, slots: Mapping[int, int]) -> int:
    """Move these rejected prompts (or answers: ``model``) back to review, the edge
    rejected → review, each with ``slots[id]`` open review slots (the reviews it still lacks,
    not the policy's full count as ``prompt_transition`` gives: those that still count stay
    with it); returns how many moved. One statement per distinct slot count and
    ROWS_PER_STATEMENT rows, however many; a row no longer rejected is left alone. An answer
    back in review holds a place in its prompt again: the caller takes it back
    (``take_back_place``'s rule, in bulk). Precondition: the caller holds the rows' locks
    (and an answer's prompt's)."""
    if model is Prompt:
        return _move_in_bulk(model, PromptState.REJECTED, PromptState.REVIEW, slots)
    return _move_in_bulk(model, ResponseState.REJECTED, ResponseState.REVIEW, slots)


def _move_in_bulk(
    model: type[Prompt] | type[Response], from_state: str, to: str, slots: Mapping[int, int]
) -> int:
    """Move the rows ``slots`` names from ``from_state`` to ``to`` (an allowed edge), each
    with ``slots[id]`` open slots; one statement per distinct slot count and
    ROWS_PER_STATEMENT rows; a row no longer in ``from_state`` is left alone. Returns how
    many moved."""
    edges = PROMPT_EDGES if model is Prompt else RESPONSE_EDGES
    if (from_state, to) not in edges:
        raise InvalidTransition(f"{model.__name__}: {from_state} → {to} is not allowed")
    by_count: dict[int, list[int]] = {}
    for pk, n in slots.items():
        by_count.setdefault(int(n), []).append(pk)
    moved = 0
    now = timezone.now()
    for n, pks in sorted(by_count.items()):
        pks.sort()
        for start in range(0, len(pks), ROWS_PER_STATEMENT):
            moved += model.objects.filter(
                pk__in=pks[start : start + ROWS_PER_STATEMENT], state=from_state
            ).update(state=to, open_slots=n, updated_at=now)
    return moved


def response_transition(*, response: Response, to: str) -> Response:
    """Move ``response`` along one edge. Precondition: the caller holds the row locks of the
    response and of its prompt."""
    if (response.state, to) not in RESPONSE_EDGES:
        raise InvalidTransition(f"response {response.pk}: {response.state} → {to} is not allowed")
    response.state = to
    response.open_slots = 0
    update(response, ["state", "open_slots", "updated_at"])
    return response


def holds_place(response: Response) -> bool:
    """Whether ``response`` holds a place in its prompt's collection as it stands, its
    author's ban aside (``give_back_place`` and ``take_back_place`` read that in their own
    statement): ``count_responses``'s rule for one answer. Written by a person, in review or
    accepted, neither withdrawn nor hidden."""
    return (
        response.source == Source.HUMAN
        and response.state in (ResponseState.REVIEW, ResponseState.ACCEPTED)
        and response.withdrawn_at is None
        and response.hidden_at is None
    )


def _collecting_with_author_not_banned(response: Response) -> QuerySet[Prompt]:
    """The prompt of ``response`` while it collects, if the answer's author is not banned
    (read in the statement that changes it, under the prompt's lock: a ban or unban committed
    before that lock was taken is seen, one committed after it waited for the lock)."""
    banned = User.objects.filter(pk=response.author_id, banned_at__isnull=False)
    return Prompt.objects.filter(pk=response.prompt_id, state=PromptState.COLLECTING).filter(
        ~Exists(banned)
    )


def give_back_place(*, response: Response) -> bool:
    """An answer that held a place stops counting (withdrawn, hidden): its collecting prompt
    gets the place back, one more open slot, unless its author is banned (the ban gave it
    back already). Once per answer and change: the caller checks ``holds_place(response)``
    as it was before the change. A ban gives its author's places back in bulk
    (``moderation.services``). Precondition: the caller holds the prompt's row lock."""
    return bool(_collecting_with_author_not_banned(response).update(open_slots=F("open_slots") + 1))


def take_back_place(*, response: Response) -> bool:
    """An answer counts again (restored): its collecting prompt takes back the place it gave
    when the answer stopped counting, if that place is still open (never below 0 open slots;
    when a replacement has taken it, the prompt keeps one answer more than the policy asked
    for) and the author is not banned. The caller checks ``holds_place(response)`` after the
    change, and that it did not hold one before. An unban takes its author's places back in
    bulk (``moderation.services``). Precondition: the caller holds the prompt's row lock."""
    return bool(
        _collecting_with_author_not_banned(response)
        .filter(open_slots__gt=0)
        .update(open_slots=F("open_slots") - 1)
    )


def give_back_prompt_slot(*, prompt_id: int, phase: str) -> bool:
    """Return one slot to a prompt, but only while it is still in the state it was taken in."""
    return bool(
        Prompt.objects.filter(pk=prompt_id, state=phase).update(open_slots=F("open_slots") + 1)
    )


def give_back_response_slot(*, response_id: int) -> bool:
    return bool(
        Response.objects.filter(pk=response_id, state=ResponseState.REVIEW).update(
            open_slots=F("open_slots") + 1
        )
    )
