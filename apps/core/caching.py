"""Values worth a few queries, kept a while in the shared cache and refreshed by one request at
a time.

A plain get / compute / set sends every request that finds the value expired to the database
at once (a stampede: on a busy site each expiry of the leaderboard or the home page's counts
ran the same aggregation dozens of times together). Here the value is kept ``STALE_FACTOR``
times longer than it is fresh; once stale, the one request that takes the refresh lock
(``cache.add``, atomic on Redis) computes it again while the others serve the stale copy. Only
a cold cache (nothing kept at all) computes in every request that finds it so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

T = TypeVar("T")

# How much longer than fresh a value is kept, to be served while one request refreshes it.
STALE_FACTOR = 10
# The longest a refresh may hold the lock (a request that dies while refreshing gives it up
# then).
REFRESH_LOCK_SECONDS = 30


def cached(key: str, fresh_for: float, compute: Callable[[], T]) -> tuple[T, bool]:
    """``compute()``'s value, at most ``fresh_for`` seconds old, or older while another
    request refreshes it; and whether this call computed it. ``fresh_for`` 0 computes every
    time (and keeps nothing)."""
    stored = f"cached:{key}"
    entry: tuple[Any, float] | None = cache.get(stored)
    if entry is not None:
        value, fresh_until = entry
        if time.time() < fresh_until:
            return value, False
        lock = f"{stored}:refreshing"
        if not cache.add(lock, 1, REFRESH_LOCK_SECONDS):
            return value, False  # another request is computing it
        try:
            return _store(stored, fresh_for, compute), True
        finally:
            cache.delete(lock)
    return _store(stored, fresh_for, compute), True


def _store(stored: str, fresh_for: float, compute: Callable[[], T]) -> T:
    value = compute()
    if fresh_for > 0:
        cache.set(stored, (value, time.time() + fresh_for), fresh_for * STALE_FACTOR)
    return value
