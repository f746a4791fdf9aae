from __future__ import annotations

from django.utils.translation import gettext as _


def throttled_message(wait: float | None) -> str:
    """The 429 answer for DRF's throttles (per user, counted in the cache)."""
    if wait is None:
        return _("Too many requests. Slow down a little and try again.")
    return _("Too many requests. Try again in %(seconds)d seconds.") % {
        "seconds": max(1, round(wait))
    }
