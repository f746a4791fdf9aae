"""allauth's own rate limits (failed sign-ins, sign-ins, sign-ups, password resets, e-mail
changes) answered as Hearth answers its own: 429, with Retry-After and a page that says when
to try again. allauth shows its sign-in lockout as the form again with status 200, which
scripts and monitoring cannot tell from a wrong password, and its other limits as a bare 429.

allauth keeps no "when" for a limit: it counts, per limit, the times of the recent requests in
the cache. ``allauth_wait`` reads them back, through allauth's internal ratelimit module (its
cache keys and rates), which django-allauth's pinned version fixes.
"""

from __future__ import annotations

import time

from allauth.core.internal import ratelimit
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.throttling import Throttled

APP = "allauth.account"


def allauth_wait(request: HttpRequest, *, action: str, key: str | None = None) -> float | None:
    """Seconds until allauth's limits on ``action`` (``login_failed``, ``signup``…) let one
    more request of this client through; None when none of them is full. ``key``: what the
    per-key limits count (the address tried), when the action has one."""
    now = time.time()
    waits = []
    for rate in ratelimit.get_rates(app=APP, action=action):
        if (rate.per == "key" and key is None) or (
            rate.per == "user" and not request.user.is_authenticated
        ):
            continue
        cache_key = ratelimit.get_cache_key(request, app=APP, action=action, rate=rate, key=key)
        # Newest first; a full limit frees a place when its oldest counted request ages out.
        recent = [t for t in cache.get(cache_key, []) if t > now - rate.duration]
        if len(recent) >= rate.amount:
            waits.append(recent[rate.amount - 1] + rate.duration - now)
    return max(waits) if waits else None


def limited_page(
    request: HttpRequest,
    *,
    wait: float | None,
    message: str,
    what_now: str,
    back_url: str,
    back_label: str,
) -> HttpResponse:
    """The 429 page of an account limit: what happened (``message``, which says when to try
    again), what became of the request (``what_now``), a way back, and the password reset."""
    response = render(
        request,
        "account/rate_limited.html",
        {
            "message": message,
            "what_now": what_now,
            "back_url": back_url,
            "back_label": back_label,
            "reset_url": reverse("account_reset_password"),
        },
    )
    return Throttled(wait=wait).retry_after(response)
