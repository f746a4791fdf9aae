"""Values worth a few queries, kept a while in the shared cache and refreshed by one request at
a time.

A plain get / compute / set sends every request that finds the value expired to the database
at once (a stampede: on a busy site each expiry of the leaderboard or the home page's counts
ran the same aggregation dozens of times together). Here the value is kept ``STALE_FACTOR``
times longer than it is fresh; once stale, the one request that takes the refresh lock
(``cache.add``, atomic on Redis) computes it again while the others serve the stale copy. Only
a cold cache (nothing kept at all) computes in every request that finds it so.

Values that are the same for every visitor (the home page's counts, the Community boards,
Progress) are kept warm besides: each app's ``selectors`` module names its own with
``site_wide``, and the beat task ``core.warm_caches`` computes each again shortly before it
goes stale (``warm_site_wide``), so that no request finds one cold or stale while beat and a
worker run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, NamedTuple, TypeVar

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils.module_loading import autodiscover_modules

T = TypeVar("T")

# How much longer than fresh a value is kept, to be served while one request refreshes it.
STALE_FACTOR = 10
# The longest a refresh may hold the lock (a request that dies while refreshing gives it up
# then).
REFRESH_LOCK_SECONDS = 30
# warm_site_wide computes a value again once it has less than this left to be fresh: more than
# the beat interval of core.warm_caches (settings.CELERY_BEAT_SCHEDULE, 20 s), so a run that
# comes a little late still finds each value fresh.
WARM_AHEAD_SECONDS = 30


class CachedValue(NamedTuple, Generic[T]):
    """What ``cached`` keeps under ``key``: ``cached(*value)`` reads it."""

    key: str
    fresh_for: float
    compute: Callable[[], T]


# Functions naming the site-wide values as they are at the moment (their keys may name the day
# or the period), by module and name: see site_wide.
_SITE_WIDE: dict[str, Callable[[], Iterable[CachedValue[Any]]]] = {}
SiteWide = TypeVar("SiteWide", bound=Callable[[], Iterable[CachedValue[Any]]])


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


def refresh(value: CachedValue[Any], *, ahead: float = 0) -> bool:
    """Compute ``value`` again and keep it, unless it is kept and stays fresh for more than
    ``ahead`` seconds, or another process is refreshing it; whether this call computed it."""
    stored = f"cached:{value.key}"
    entry: tuple[Any, float] | None = cache.get(stored)
    if entry is not None and time.time() + ahead < entry[1]:
        return False
    lock = f"{stored}:refreshing"
    if not cache.add(lock, 1, REFRESH_LOCK_SECONDS):
        return False
    try:
        _store(stored, value.fresh_for, value.compute)
    finally:
        cache.delete(lock)
    return True


def site_wide(values: SiteWide) -> SiteWide:
    """Register ``values``, a function returning the ``CachedValue``s that are the same for
    every visitor and that visitors commonly read (a bounded few: defaults, not every filter
    or search), for ``warm_site_wide`` to keep warm. Declare it in the app's ``selectors``
    module (a package's ``__init__``), which ``warm_site_wide`` imports."""
    _SITE_WIDE[f"{values.__module__}.{values.__qualname__}"] = values
    return values


def warm_site_wide() -> list[str]:
    """Compute again each registered site-wide value that is not kept or has less than
    ``WARM_AHEAD_SECONDS`` left to be fresh (``refresh``); the keys computed. Nothing when the
    cache is this process's own (the embedded default's LocMemCache): the web process would
    never read what a worker kept there."""
    if isinstance(caches["default"], LocMemCache | DummyCache):
        return []
    autodiscover_modules("selectors")
    return [
        value.key
        for values in list(_SITE_WIDE.values())
        for value in values()
        if refresh(value, ahead=WARM_AHEAD_SECONDS)
    ]
