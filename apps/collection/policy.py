from __future__ import annotations

import functools
import operator
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from apps.collection import search
from apps.collection.models import CollectionPolicy, Prompt, PromptState, Response, ResponseState
from apps.core.sql import quote


def current_policy() -> CollectionPolicy:
    """The collection policy (one row, created with the defaults on first use)."""
    policy, _ = CollectionPolicy.objects.get_or_create(pk=1)
    return policy


# pg_advisory_xact_lock key of the policy's gate ("hearth-g" in ASCII): see policy_gate.
POLICY_GATE_KEY = 0x6865617274682D67


def policy_gate() -> None:
    """Pass the policy's gate: in a transaction that gives work open slots from the policy
    (a new prompt or answer, a prompt moving on), before it reads the policy. It waits for a
    policy change being committed and keeps the next one from committing until this
    transaction ends, so the counts it reads after are those every row it writes is counted
    under: a raise either committed before (and is read) or tops up after this commit (and
    sees the rows). Without it, a prompt written while a maintainer raised its reviews took
    the old count and was missed by the raise's top-up: it stayed in review for good (race
    QA). Transactions that pass share the gate; ``policy_update`` holds it alone.

    Call it before the transaction locks any prompt or answer: the change holds the gate
    while it locks those it tops up. Passing again within a transaction costs nothing.
    SQLite runs write transactions one at a time (``BEGIN IMMEDIATE``): nothing to do there.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [POLICY_GATE_KEY])


# The counts whose tasks a prompt (or answer) gets when it enters a step, and the work at that
# step now: raising one mid-way must give that work the difference (see _top_up_open_slots).
_PROMPTS_AT_STEP = {
    "prompt_reviews_required": Q(state=PromptState.REVIEW),
    "responses_to_collect": Q(state=PromptState.COLLECTING),
    "rankings_required": Q(state=PromptState.RANKING),
}
# Answers get their review tasks once their prompt collects (feedback.services opens those of
# answers written before, with the policy of that moment).
_RESPONSES_AT_STEP = {
    "response_reviews_required": Q(state=ResponseState.REVIEW)
    & ~Q(prompt__state=PromptState.REVIEW),
}


def _top_up_open_slots(before: CollectionPolicy, after: CollectionPolicy) -> None:
    """Give work already at a step the tasks a raised count adds.

    A prompt or answer gets its open slots when it enters a step and moves on only when the
    count of the moment is reached, so after a raise the work whose slots were all handed out
    would wait forever for a review, answer or ranking nobody can be given. A lowered count
    takes nothing away: the next task sent in finds enough and moves the work on.
    Precondition: the caller holds the policy's row lock. Rows are locked in id order,
    prompts before answers, as every path that changes several does: the prompts of all the
    raised steps together first.

    One statement a step: its subquery locks the rows at the step in id order (answers only,
    not their prompts) and the UPDATE adds to those, with no list of ids sent back and forth
    (tens of thousands of them at a step on a large collection, past what one statement may
    bind). The counter is in no index, so most of these updates are HOT; the others (a page
    without room for the new version) write the row's whole text into the search's trigram
    indexes, gathered in their pending lists as an import's are and merged once at the end:
    with the site's small pending lists, merged every few dozen rows, that took several times
    as long.
    """

    def added(name: str) -> int:
        return int(getattr(after, name)) - int(getattr(before, name))

    raised = [at_step for name, at_step in _PROMPTS_AT_STEP.items() if added(name) > 0]
    if len(raised) > 1 and connection.vendor == "postgresql":
        # The prompts of every raised step first, in one id order: step by step, a raise of
        # two counts took a higher id at one step before a lower one at the next, and
        # deadlocked with a ban, which locks them all by id (race QA: 7 rounds in 10).
        every_step = (
            Prompt.objects.filter(functools.reduce(operator.or_, raised), withdrawn_at__isnull=True)
            .order_by("pk")
            .select_for_update(no_key=True)
            .values("pk")
        )
        locking, params = every_step.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({locking}) AS locked", params)
    lifted = False
    for model, steps in ((Prompt, _PROMPTS_AT_STEP), (Response, _RESPONSES_AT_STEP)):
        for name, at_step in steps.items():
            if added(name) <= 0:
                continue
            if not lifted:
                search.lift_pending_limit(connection)
                lifted = True
            at_step_live = (
                model.objects.filter(at_step, withdrawn_at__isnull=True)
                .order_by("pk")
                .select_for_update(no_key=True, of=("self",))
                .values("pk")
            )
            locked, params = at_step_live.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE {quote(model._meta.db_table)} SET "open_slots" = "open_slots" + %s '
                    f"WHERE {quote(model._meta.pk.column)} IN ({locked})",
                    [added(name), *params],
                )
    if lifted:
        search.merge_pending(connection)


@transaction.atomic
def policy_update(*, changes: dict[str, Any]) -> CollectionPolicy:
    """Change the policy. New counts apply to prompts as they enter a state; work already at
    a step whose count is raised gets the extra tasks, and slots already handed out are not
    taken back. Under the row lock: each change is written over the policy as it is now, so
    two maintainers changing different fields both keep theirs. The gate first
    (``policy_gate``): once the transactions in flight that read the old counts have
    committed, the top-up sees their rows, and those after read the new counts."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [POLICY_GATE_KEY])
    policy, _ = CollectionPolicy.objects.select_for_update(no_key=True).get_or_create(pk=1)
    before = CollectionPolicy(
        **{f.attname: getattr(policy, f.attname) for f in policy._meta.fields}
    )
    for name, value in changes.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    _top_up_open_slots(before, policy)
    return policy
