"""Reports from a training run to the web: buffered, throttled, with heartbeats.

See worker.runs for the payload. A Reporter is fed the engine's progress events and the log
tail, and sends through an injected ``send`` with app.send_task's signature, so tests collect
reports in a list.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.progress import ProgressEvent

logger = logging.getLogger(__name__)

# A report whose delivery failed is tried again with the next one; the final one is retried
# this many times before the task gives up (and fails, for the worker's log).
FINAL_REPORT_TRIES = 4

Send = Callable[..., Any]


class SpecError(ValueError):
    """The spec cannot be run; the message says why (and is reported when it can be)."""


@dataclass(frozen=True)
class ReportRoute:
    """Where reports go: ``send_task(task, args=(run_id, attempt, payload), queue=queue)``."""

    run_id: int
    attempt: int
    task: str
    queue: str
    interval_s: float
    heartbeat_s: float

    @classmethod
    def from_spec(cls, spec: Any) -> ReportRoute:
        """Raises SpecError when the spec says nowhere to report to (nothing can be reported)."""
        if not isinstance(spec, dict):
            raise SpecError("the spec must be a JSON object")
        report = spec.get("report")
        run_id, attempt = spec.get("run_id"), spec.get("attempt")
        if not isinstance(run_id, int) or not isinstance(attempt, int) or attempt < 1:
            raise SpecError("the spec needs an integer run_id and attempt ≥ 1")
        if not isinstance(report, dict) or not all(
            isinstance(report.get(k), str) and report[k] for k in ("task", "queue")
        ):
            raise SpecError("the spec's report needs a task and a queue")
        interval, heartbeat = report.get("interval_s", 2.0), report.get("heartbeat_s", 30.0)
        if not all(_positive(v) for v in (interval, heartbeat)):
            raise SpecError("report.interval_s and report.heartbeat_s must be positive numbers")
        return cls(run_id, attempt, report["task"], report["queue"], interval, heartbeat)


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


class Reporter:
    """What the run has to say, buffered and sent throttled (see worker.runs for when).

    Not thread-safe: one thread (the task's) calls it. ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        route: ReportRoute,
        send: Send,
        *,
        clock: Callable[[], float] = time.monotonic,
        seq: int = 0,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self.route = route
        self.send = send
        self.clock = clock
        self.seq = seq
        self.on_sent = on_sent
        self.host = socket.gethostname()
        self.state = "running"
        self.phase = "load"
        self.step: int | None = None
        self.total: int | None = None
        self.tokens_per_s: float | None = None
        # Prompts answered so far, and of how many; reported once answering has begun.
        self.answered: int | None = None
        self.to_answer: int | None = None
        self.logs_tail = ""
        self._train_log: list[dict[str, Any]] = []
        self._eval_log: list[dict[str, Any]] = []
        self._dirty = False
        self._last_sent = -math.inf

    def progress(self, event: ProgressEvent) -> None:
        """Take one of the engine's events; a new phase is reported at once."""
        phase = event.get("phase")
        if isinstance(event.get("step"), int):
            self.step = event["step"]
        if isinstance(event.get("total"), int):
            self.total = event["total"]
        if phase == "train" and "loss" in event:  # not the event of training's start
            self.tokens_per_s = event.get("tokens_per_s", self.tokens_per_s)
            # ``seconds`` (the step's time) is what the run page's time left is reckoned from.
            self._train_log.append(
                {k: event.get(k) for k in ("step", "loss", "lr", "tokens_per_s", "seconds")}
            )
        elif phase == "eval" and "metrics" in event:
            self._eval_log.append({"step": event.get("step"), **event["metrics"]})
        elif phase == "answer":
            counts: Mapping[str, object] = event  # an AnswerEvent (worker.answers)
            answered, to_answer = counts.get("answered"), counts.get("to_answer")
            if isinstance(answered, int) and isinstance(to_answer, int):
                self.answered, self.to_answer = answered, to_answer
        self._dirty = True
        # The engine's "done" means the model is written; the run is done once published.
        if phase in ("load", "train", "eval", "save", "answer"):
            self.set_phase(phase)

    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.flush()

    def set_logs(self, tail: str) -> None:
        if tail != self.logs_tail:
            self.logs_tail = tail
            self._dirty = True

    def tick(self) -> None:
        """Send what is buffered once ``interval_s`` has passed, or a heartbeat once
        ``heartbeat_s`` has passed without any report."""
        since = self.clock() - self._last_sent
        if (self._dirty and since >= self.route.interval_s) or since >= self.route.heartbeat_s:
            self.flush()

    def flush(self) -> None:
        """Send a report now. A failed delivery keeps its log entries for the next one."""
        try:
            self._deliver({})
        except Exception:
            logger.warning("run %s: a progress report was not delivered", self.route.run_id)
            logger.debug("delivery failure", exc_info=True)

    def finish(self, state: str, **extra: Any) -> None:
        """Send the final report (``result`` or ``error`` in ``extra``), retrying delivery;
        raises the last delivery error when every try failed."""
        self.state = state
        if state == "succeeded":
            self.phase = "done"
        for attempt in range(FINAL_REPORT_TRIES):
            try:
                self._deliver(extra)
                return
            except Exception:
                if attempt == FINAL_REPORT_TRIES - 1:
                    raise
                time.sleep(2**attempt)

    def _deliver(self, extra: dict[str, Any]) -> None:
        train_log, eval_log = self._train_log, self._eval_log
        self._train_log, self._eval_log = [], []
        self.seq += 1
        payload = {
            "seq": self.seq,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "host": self.host,
            "state": self.state,
            "phase": self.phase,
            "step": self.step,
            "total": self.total,
            "tokens_per_s": self.tokens_per_s,
            "train_log": train_log,
            "eval_log": eval_log,
            "logs_tail": self.logs_tail,
            **self._answering(),
            **extra,
        }
        route = self.route
        try:
            self.send(route.task, args=(route.run_id, route.attempt, payload), queue=route.queue)
        except Exception:
            self._train_log[:0], self._eval_log[:0] = train_log, eval_log
            raise
        finally:
            self._last_sent = self.clock()
        self._dirty = False
        if self.on_sent is not None:
            self.on_sent(self.seq)

    def _answering(self) -> dict[str, int | None]:
        """``answered`` and ``to_answer``, once answering has begun (nothing before)."""
        if self.to_answer is None:
            return {}
        return {"answered": self.answered, "to_answer": self.to_answer}
