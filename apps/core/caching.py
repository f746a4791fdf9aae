"""Values worth a few queries, kept a while in the shared cache and refreshed by one request at
a time.

A plain get / compute / set sends every request that finds the value expired to the database
at once (a stampede: on a busy site each expiry of the leaderboard or the home page's counts
ran the same aggregation dozens of times together). Here the value is kept ``STALE_FACTOR``
times longer than it is fresh; once stale, the one request that takes the refresh lock
(``cache.add``, atomic on Redis) computes it again while the others serve the stale copy. A
cold one (nothing kept at all: after a Redis restart or eviction, or where no beat warms it)
is computed by the request that takes the same lock, while the others wait for it, up to
``COLD_WAIT_SECONDS``, rather than each run the aggregation at once; one that finds the lock
gone and still no value (its holder failed) takes the lock and computes it itself.

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
# How long a request that finds a value cold waits for the request computing it, and how
# often it looks: a value that takes longer (or a holder that died, whose lock lasts
# REFRESH_LOCK_SECONDS) is then computed by each waiting request itself.
COLD_WAIT_SECONDS = 10.0
COLD_POLL_SECONDS = 0.05
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
    time (and keeps nothing). A cold value is computed by one request at a time: the others
    wait for it (see the module's docstring)."""
    if fresh_for <= 0:
        return compute(), True
    stored = f"cached:{key}"
    lock = f"{stored}:refreshing"
    entry: tuple[Any, float] | None = cache.get(stored)
    if entry is None:
        entry, locked = _wait_or_lock(stored, lock)
        if entry is None and locked:
            return _compute_and_unlock(stored, lock, fresh_for, compute), True
        if entry is None:  # waited long enough
            return _store(stored, fresh_for, compute), True
    value, fresh_until = entry
    if time.time() < fresh_until:
        return value, False
    if not cache.add(lock, 1, REFRESH_LOCK_SECONDS):
        return value, False  # another request is computing it
    return _compute_and_unlock(stored, lock, fresh_for, compute), True


def _wait_or_lock(stored: str, lock: str) -> tuple[tuple[Any, float] | None, bool]:
    """For a value not kept: the entry once the request that holds its lock has kept it, or
    None and the lock (this request computes it) when there is no such request, or it let
    the lock go without a value (it failed). After COLD_WAIT_SECONDS, None without the lock:
    the holder is slow or dead, and the caller computes the value as well."""
    deadline = time.monotonic() + COLD_WAIT_SECONDS
    while True:
        if cache.add(lock, 1, REFRESH_LOCK_SECONDS):
            # Kept between the look and the lock, by a request that has just let it go?
            entry: tuple[Any, float] | None = cache.get(stored)
            if entry is None:
                return None, True
            cache.delete(lock)
            return entry, False
        if time.monotonic() >= deadline:
            return None, False
        time.sleep(COLD_POLL_SECONDS)
        entry = cache.get(stored)
        if entry is not None:
            return entry, False


def _compute_and_unlock(stored: str, lock: str, fresh_for: float, compute: Callable[[], T]) -> T:
    try:
        return _store(stored, fresh_for, compute)
    finally:
        cache.delete(lock)


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
    _compute_and_unlock(stored, lock, value.fresh_for, value.compute)
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
