"""Per-user rate limits, on the API and on the pages that do the same things.

``ScopedThrottle`` is DRF's ``ScopedRateThrottle`` (same scopes, rates and cache keys) counted
in Redis with one round trip (under the cache's key prefix): a sliding window estimated from two fixed windows (the current
count plus the previous window's, weighted by how much of it still lies within the last
``duration`` seconds), checked and counted by one Lua script. DRF's own throttle keeps every
request's timestamp in a pickled list that it reads and writes back on every request, which
cost about a tenth of a task request's CPU. Without Redis (the embedded default) DRF's own
counting in the local cache applies.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from apps.core.cache import SOCKET_TIMEOUT_SECONDS, guarded

# KEYS: this window's counter, the previous window's. ARGV: the previous window's weight, the
# limit, the counter's lifetime in seconds. Counts the request only if it is allowed, so a
# client retrying while refused does not push its own wait further out. Returns
# {allowed (0/1), this window's count, the previous window's count}.
_SLIDING_WINDOW = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current + 1 > tonumber(ARGV[2]) then
    return {0, current, previous}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, current + 1, previous}
"""


@functools.cache
def _script(url: str) -> Any:
    return redis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS
    ).register_script(_SLIDING_WINDOW)


def sliding_wait(*, now: float, duration: int, limit: int, current: int, previous: int) -> float:
    """Seconds until one more request fits under ``limit``, if no other comes meanwhile. The
    count is this window's (windows start at multiples of ``duration``) plus the previous
    window's, weighted by the part of it still within the last ``duration`` seconds."""
    elapsed = (now % duration) / duration
    if current + 1 <= limit:
        if previous * (1 - elapsed) + current + 1 <= limit:
            return 0.0
        # Later in this window, once the previous window's weight has fallen far enough.
        return (1 - (limit - current - 1) / previous - elapsed) * duration
    # In the next window, once this window's weight has fallen far enough.
    later = max(0.0, 1 - (limit - 1) / current)
    return (1 - elapsed + later) * duration


class ScopedThrottle(ScopedRateThrottle):
    """DRF's scoped per-user throttle, counted in Redis in one round trip where there is one."""

    def allow_request(self, request: Request, view: Any) -> bool:
        url = getattr(settings, "REDIS_URL", "")
        if not url:
            return super().allow_request(request, view)
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        limit, duration = self.parse_rate(self.rate)
        if limit is None or duration is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // duration)
        # While Redis is unreachable nothing is counted: requests pass (apps.core.cache).
        allowed, current, previous = guarded(
            lambda: _script(url)(
                keys=[self.cache.make_key(f"{key}:{w}") for w in (window, window - 1)],
                args=[1 - (now % duration) / duration, limit, 2 * duration],
            ),
            (1, 0, 0),
        )
        if allowed:
            return True
        self._wait = sliding_wait(
            now=now, duration=duration, limit=limit, current=int(current), previous=int(previous)
        )
        return False

    def wait(self) -> float | None:
        if hasattr(self, "_wait"):
            return self._wait
        return super().wait()


def wait_in_words(seconds: float) -> str:
    """How long to wait, as a person says it: "in 40 seconds" up to a minute and a half, then
    rounded: "in about 58 minutes", "in about 2 hours", "in about 3 days". Whole seconds are
    counted up, as Retry-After counts them."""
    seconds = max(1, math.ceil(seconds))
    if seconds <= 90:
        return ngettext("in %(count)d second", "in %(count)d seconds", seconds) % {"count": seconds}
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("in about %(count)d minute", "in about %(count)d minutes", minutes) % {
            "count": minutes
        }
    hours = round(seconds / 3600)
    if hours < 36:
        return ngettext("in about %(count)d hour", "in about %(count)d hours", hours) % {
            "count": hours
        }
    days = round(seconds / 86400)
    return ngettext("in about %(count)d day", "in about %(count)d days", days) % {"count": days}


def throttled_message(wait: float | None) -> str:
    """The 429 answer for DRF's throttles (per user, counted in the cache)."""
    if wait is None:
        return _("Too many requests. Slow down a little and try again.")
    # Translators: %(when)s is a wait such as "in 40 seconds" or "in about 58 minutes".
    return _("Too many requests. Try again %(when)s.") % {"when": wait_in_words(wait)}


class ThrottledWrites:
    """Mixed into an API view (before ``APIView``) whose writes, not its reads, count against
    its ``throttle_scope``."""

    throttle_classes: Sequence[type[BaseThrottle]] = [ScopedThrottle]

    def get_throttles(self) -> list[Any]:
        if self.request.method in SAFE_METHODS:  # type: ignore[attr-defined]
            return []
        return super().get_throttles()  # type: ignore[misc]


# Pages: the Contribute page's task fetch, submit and skip, the Write and Answer pages, and the
# report form under each prompt and answer count against the same scopes as the API endpoints
# that do the same (``tasks_next``, ``tasks_submit``, ``writing``, ``flags``): the same rates
# (HEARTH_RATE_*) and the same counters, so a person has one budget whichever way they work.
# Over it, a page answers 429, with Retry-After and words that say what happened to what they
# sent.


@dataclass(frozen=True)
class Throttled:
    """A request over its limit: the seconds until one more fits (None when not known)."""

    wait: float | None

    @property
    def message(self) -> str:
        return throttled_message(self.wait)

    def retry_after(self, response: HttpResponse) -> HttpResponse:
        """``response`` as a 429 with Retry-After, as the API answers."""
        response.status_code = 429
        if self.wait is not None:
            response["Retry-After"] = str(max(1, math.ceil(self.wait)))
        return response


@dataclass(frozen=True)
class _Scope:
    """What the throttle reads from a view: its scope."""

    throttle_scope: str


def throttle(request: HttpRequest, scope: str) -> Throttled | None:
    """Count this request against the signed-in user's limit of ``scope``; None while it is
    within the limit, else how long to wait. A refused request is not counted."""
    limit = ScopedThrottle()
    # The throttle reads the request's ``user`` and ``META`` only, which a page's request has.
    if limit.allow_request(cast(Any, request), _Scope(scope)):
        return None
    return Throttled(wait=limit.wait())


def throttled_page(
    request: HttpRequest,
    throttled: Throttled,
    *,
    what_now: str,
    back_url: str,
    back_label: str,
) -> HttpResponse:
    """The 429 page: what the limit is, when to try again, and what became of what was sent
    (``what_now``), with a way back (``back_url``)."""
    response = render(
        request,
        "429.html",
        {
            "message": throttled.message,
            "what_now": what_now,
            "back_url": back_url,
            "back_label": back_label,
        },
    )
    return throttled.retry_after(response)


def kept_as_typed(request: HttpRequest, throttled: Throttled) -> None:
    """Say, above a form sent over the limit and shown again, that nothing was sent; the page
    answers with ``throttled.retry_after``."""
    messages.error(
        request,
        _("%(limit)s Nothing was sent: your work is below.") % {"limit": throttled.message},
    )
