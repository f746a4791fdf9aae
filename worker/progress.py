"""How a training run reports progress (a callback receiving small JSON-able events) and how it
is asked to stop (a check called at every step boundary).

Kept free of torch so that worker.jobs (and whatever imports it) stays light at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict


class ProgressEvent(TypedDict, total=False):
    """What a progress callback receives. ``phase`` is load, train, eval, save or done;
    train events carry step, total, loss, lr, tokens_per_s and the step's ``seconds`` (``lr``
    is the learning rate that step's update used), except those sent as training starts or
    goes on after an evaluation (step and total only: no step has ended since; a consumer
    takes an event with a ``loss`` for a step's). An evaluation sends two eval events: one as
    it starts (step and total only), one with its ``metrics`` when it has finished."""

    phase: str
    step: int
    total: int
    loss: float
    lr: float
    tokens_per_s: float
    seconds: float
    metrics: dict[str, float]


ProgressCallback = Callable[[ProgressEvent], None]
# Asked by the trainers once per optimizer step: True stops the run at that step boundary.
StopCheck = Callable[[], bool]


class Stopped(Exception):
    """A trainer stopped because its StopCheck said so (the run was cancelled)."""


def no_progress(event: ProgressEvent) -> None:
    """The default callback: report nothing."""


def never_stop() -> bool:
    """The default StopCheck: train to the end."""
    return False
