from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Q

from apps.collection.models import CollectionPolicy, Prompt, PromptState, Response, ResponseState


def current_policy() -> CollectionPolicy:
    """The collection policy (one row, created with the defaults on first use)."""
    policy, _ = CollectionPolicy.objects.get_or_create(pk=1)
    return policy


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
    prompts before answers, as every path that changes several does.
    """
    for model, steps in ((Prompt, _PROMPTS_AT_STEP), (Response, _RESPONSES_AT_STEP)):
        for name, at_step in steps.items():
            added = int(getattr(after, name)) - int(getattr(before, name))
            if added <= 0:
                continue
            live = model.objects.filter(at_step, withdrawn_at__isnull=True)
            ids = list(
                live.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True)
            )
            model.objects.filter(pk__in=ids).update(open_slots=F("open_slots") + added)


@transaction.atomic
def policy_update(*, changes: dict[str, Any]) -> CollectionPolicy:
    """Change the policy. New counts apply to prompts as they enter a state; work already at
    a step whose count is raised gets the extra tasks, and slots already handed out are not
    taken back. Under the row lock: each change is written over the policy as it is now, so
    two maintainers changing different fields both keep theirs."""
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
