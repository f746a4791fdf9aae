"""The shared cache, kept out of the way while Redis is unreachable.

Everything the web process keeps in the cache can be computed again (counts, boards, rendered
Markdown, rate-limit windows), so an outage of Redis should make pages slower, not fail
them. ``ResilientRedisCache`` is Django's Redis cache whose reads answer a miss and whose
writes are dropped while Redis cannot be reached, with one warning in the log per outage;
after a failure it leaves Redis alone for ``RETRY_AFTER_SECONDS`` (a Redis that hangs would
otherwise cost every cache call its socket timeout). ``/readyz`` still reports the outage.
(Operator QA: with Redis down, the home page, Browse, Community, Releases, the API's lists and
signing in all answered 500.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long the cache leaves Redis alone after a failed call.
RETRY_AFTER_SECONDS = 5.0
# A cache call waits at most this long for Redis (Django's default is to wait without end).
SOCKET_TIMEOUT_SECONDS = 1.0

UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class Outage:
    """Whether Redis is taken as unreachable now, shared by the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._warned = False

    def ongoing(self) -> bool:
        return time.monotonic() < self._until

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._until = time.monotonic() + RETRY_AFTER_SECONDS
            if not self._warned:
                self._warned = True
                logger.warning(
                    "Redis is unreachable (%s): the cache is skipped, and rate limits are not "
                    "counted, until it answers again.",
                    exc,
                )

    def answered(self) -> None:
        if self._warned:
            with self._lock:
                if self._warned:
                    self._warned = False
                    logger.warning("Redis answers again: the cache is back in use.")


# One per process: every cache alias and the rate limiter (apps.core.throttling) share it.
outage = Outage()


def guarded(call: Callable[[], T], default: T) -> T:
    """``call()``, or ``default`` while Redis is unreachable."""
    if outage.ongoing():
        return default
    try:
        found = call()
    except UNREACHABLE as exc:
        outage.failed(exc)
        return default
    outage.answered()
    return found


class ResilientRedisCache(RedisCache):
    """Django's ``RedisCache``: a miss for every read and nothing written while Redis is
    unreachable (see the module's docstring). Other errors are raised as before."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = params.setdefault("OPTIONS", {})
        options.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        options.setdefault("socket_connect_timeout", SOCKET_TIMEOUT_SECONDS)
        super().__init__(server, params)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return guarded(
            lambda: super(ResilientRedisCache, self).add(key, value, timeout, version), True
        )

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return guarded(lambda: super(ResilientRedisCache, self).get(key, default, version), default)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        guarded(lambda: super(ResilientRedisCache, self).set(key, value, timeout, version), None)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return guarded(lambda: super(ResilientRedisCache, self).touch(key, timeout, version), False)

    def delete(self, key: Any, version: Any = None) -> bool:
        return guarded(lambda: super(ResilientRedisCache, self).delete(key, version), False)

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return guarded(lambda: super(ResilientRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> bool:
        return guarded(lambda: super(ResilientRedisCache, self).has_key(key, version), False)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        # A counter that cannot be read is as if it were missing (Django: ValueError).
        found = guarded(lambda: super(ResilientRedisCache, self).incr(key, delta, version), None)
        if found is None:
            raise ValueError(f"Key '{key}' not found (Redis is unreachable)")
        return found

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        return guarded(
            lambda: super(ResilientRedisCache, self).set_many(data, timeout, version), list(data)
        )

    def delete_many(self, keys: Any, version: Any = None) -> None:
        guarded(lambda: super(ResilientRedisCache, self).delete_many(keys, version), None)

    def clear(self) -> None:
        guarded(lambda: super(ResilientRedisCache, self).clear(), None)
