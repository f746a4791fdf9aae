from __future__ import annotations

from apps.collection.models import CollectionPolicy


def current_policy() -> CollectionPolicy:
    """The collection policy (one row, created with the defaults on first use)."""
    policy, _ = CollectionPolicy.objects.get_or_create(pk=1)
    return policy
