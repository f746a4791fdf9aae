from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.collection.models import CollectionPolicy


def current_policy() -> CollectionPolicy:
    """The collection policy (one row, created with the defaults on first use)."""
    policy, _ = CollectionPolicy.objects.get_or_create(pk=1)
    return policy


@transaction.atomic
def policy_update(*, changes: dict[str, Any]) -> CollectionPolicy:
    """Change the policy. New counts apply to prompts as they enter a state; slots already
    handed out are not recounted. Under the row lock: each change is written over the
    policy as it is now, so two maintainers changing different fields both keep theirs."""
    policy, _ = CollectionPolicy.objects.select_for_update(no_key=True).get_or_create(pk=1)
    for name, value in changes.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy
