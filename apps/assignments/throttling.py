"""Per-user rate limits on the pages, counted with the API's (apps.core.throttling).

The Contribute page's task fetch, submit and skip, and the report form under each prompt and
answer, count against the same scopes as the task and flag endpoints (``tasks_next``,
``tasks_submit``, ``flags``): the same rates (HEARTH_RATE_*) and the same counters, so a person
has one budget whichever way they work. Over it, a page answers 429, with Retry-After and
words that say what happened to what they sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.throttling import ScopedThrottle, throttled_message


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
        "assignments/throttled.html",
        {
            "message": throttled.message,
            "what_now": what_now,
            "back_url": back_url,
            "back_label": back_label,
        },
    )
    return throttled.retry_after(response)
