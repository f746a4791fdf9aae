from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.collection.models import CollectionPolicy

# The least each count may be (the database refuses less for the first four too). Task weights
# may be 0, but not all of them (CollectionPolicy.clean).
MINIMUMS = {
    "prompt_reviews_required": 1,
    "response_reviews_required": 1,
    "responses_to_collect": 2,
    "rankings_required": 1,
    "max_pending_assignments": 1,
    "write_minutes": 1,
    "respond_minutes": 1,
    "review_minutes": 1,
    "rank_minutes": 1,
    "auto_hide_flags": 1,
}


def current_policy() -> CollectionPolicy:
    """The collection policy (one row, created with the defaults on first use)."""
    policy, _ = CollectionPolicy.objects.get_or_create(pk=1)
    return policy


@transaction.atomic
def policy_update(*, changes: dict[str, Any]) -> CollectionPolicy:
    """Change the policy. New counts apply to prompts as they enter a state; slots already
    handed out are not recounted."""
    policy = current_policy()
    for name, value in changes.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy
