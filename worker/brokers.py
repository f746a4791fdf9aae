"""Broker options shared by the web side (apps/settings.py) and GPU nodes (worker/celery.py).
Django-free and torch-free."""

from __future__ import annotations

from typing import Any


def redis_transport_options(visibility_timeout: int) -> dict[str, Any]:
    """kombu's Redis options for ``visibility_timeout``: a message unacknowledged that long
    (its worker died, acks_late) is delivered again.

    kombu looks for such messages every ``unacked_restore_interval × unacked_restore_throttle``
    seconds (100 by default); here that period is a quarter of the timeout, between 2 and
    100 seconds, so a short timeout also means a quick recovery.
    """
    sweep = min(100.0, max(2.0, visibility_timeout / 4))
    interval = min(10.0, sweep)
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, round(sweep / interval)),
    }
