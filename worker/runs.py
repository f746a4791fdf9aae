"""Training runs on a GPU node: the ``worker.train_run`` task, which trains in a child process,
reports back to the web, and publishes the model.

Contract with the web (apps/training):

**Task.** ``worker.train_run`` on the ``gpu`` queue (``acks_late``, ``reject_on_worker_lost``,
``ignore_result``; abortable through ``celery.contrib.abortable``), sent as
``send_task("worker.train_run", args=[spec], queue="gpu", task_id=f"training-run-{run_id}-{attempt}-{random}")``
with one JSON ``spec``::

    {"run_id": 7, "attempt": 1, "kind": "sft" | "reward",
     "train": {...SFTConfig / RewardConfig fields except output_dir...},
     "output_name": "run-7",
     "publish": null | {"repo_id": "ns/hearth-sft", "tag": "run-7",
                        "commit_message": "Hearth run 7 (sft) on v3",
                        "branch": "model-run-7"},     # optional: see Publish.branch
     "answer": null | {"prompts": [{"id": 12, "instruction": "...", "context": ""}, ...],
                       "max_new_tokens": 256},                    # optional; sft only
     "report": {"task": "training.report", "queue": "default",
                "interval_s": 2.0, "heartbeat_s": 30.0}}

``answer`` (absent or null: none) has the finished SFT model write an answer to each prompt
before publishing (worker.answers): 1 to 500 prompts with unique positive integer ``id``
(the web's prompt id), non-empty ``instruction`` and text ``context`` (``""`` when none),
exactly these keys; ``max_new_tokens`` from 1 to 2048 (default 256). It is no part of the
training config, so it changes neither the config fingerprint (resume, the publish marker)
nor the saved model. Answers are sampled (temperature 0.7, top_p 0.9) under the config's
seed, in the prompt format the model trained on, and are kept, as they are written, in a
journal beside the output folder, not in it: a re-sent run answers only the prompts the
journal has no answer for (the same answers, on the same machine, as an uninterrupted run).

**Output.** ``$HEARTH_MODELS_DIR/<output_name>`` (default ``<HEARTH_DATA_DIR or repo/var>/models``).
``output_name`` is a plain name: letters, digits, ``.``, ``_``, ``-``, starting with a letter
or digit. Beside it: ``.<name>.work/`` (checkpoints, staging; see worker.runtime),
``.<name>.lock`` (held while a process runs the run), ``.<name>.spec.json`` (the child's spec)
and ``.<name>.answers.jsonl`` (the answers written so far, see worker.answers).

**Reports.** ``send_task(report.task, args=(run_id, attempt, payload), queue=report.queue)``::

    {"seq": int, "sent_at": ISO-8601 UTC, "host": hostname,
     "state": "running" | "succeeded" | "failed" | "cancelled",
     "phase": "load" | "train" | "eval" | "save" | "answer" | "publish" | "done",
     "step": int | null, "total": int | null, "tokens_per_s": float | null,
     "answered": int, "to_answer": int,     # only from the first "answer" report on
     "train_log": [{"step", "loss", "lr", "tokens_per_s"}, ...],  # new since the last report
     "eval_log": [{"step", **metrics}, ...],                       # new since the last report
     "logs_tail": "the last 40 lines of the training process's output and of this task's notes",
     "result": {"metrics", "output_dir", "files": [{"path", "bytes"}], "steps",
                "resumed_from_step", "tokens_per_s", "timings", "hub_repo", "hub_revision",
                "answers": [{"prompt_id": int, "text": str}, ...]},
                # only when succeeded; hub_* are null when nothing was published; answers
                # is [] without an answer section, in the spec's prompt order, and leaves
                # out a prompt whose answer came out empty; texts are at most 8,000 chars
     "error": "a short reason"}                                    # only when failed

``seq`` only grows within an attempt, also across redeliveries on the same node (it is kept in
the lock file); a redelivery elsewhere starts again at 1. Log entries are never lost or
repeated within one execution; a redelivered attempt resumes from its last checkpoint and
reports the steps after it again (same step numbers: merge by step). Reports are buffered and
sent at most every ``interval_s``, at once on a phase change and on the final state, and at
least every ``heartbeat_s``. The first (running, load) goes out as soon as the task holds the
run. The final report has phase ``done`` when succeeded, otherwise the phase it ended in.
While answering (phase ``answer``, after ``save``), ``step``/``total`` stay at the training's
last step and ``answered``/``to_answer`` count the prompts; the ``train_log``/``eval_log``
of a re-sent finished run are empty and its first phase after ``load`` is ``answer``.

**Training.** A child process, ``python -m worker.jobs <kind> <spec.json>``, or with
``HEARTH_GPUS_PER_RUN`` > 1 ``python -m worker.jobs --nproc-per-node=N …``, which runs
torchrun (``--standalone``) in-process. The child prints JSON lines on stdout (see
worker.jobs.main) and logs on stderr; it and every rank die with their parent
(PR_SET_PDEATHSIG), so a SIGKILLed worker leaves no training behind. Run the GPU worker with
the prefork or solo pool (Linux ties the child's life to the thread that started it).

**Cancel.** The web aborts the task id (``AbortableAsyncResult(task_id).abort()``). The task
checks on arrival and about every second: the child gets SIGTERM and stops at its next step
boundary (at once while still loading; between batches of prompts while answering), SIGKILL
after ``HEARTH_CANCEL_GRACE_S`` (default 30);
then the work folder (checkpoints, staging) and the spec are removed and ``cancelled`` is
reported. Nothing is published. An attempt aborted before it starts reports ``cancelled``,
trains nothing and removes nothing: the abort may come from the web superseding it with a
newer attempt (a retry re-sends the same ``output_name``), whose checkpoints or finished
output must survive a late redelivery of the old one. A finished output folder is never
removed. A cancel that arrives once publishing has begun is too late: the run reports
``succeeded``.

**Resume and duplicates.** A redelivered task or a re-sent attempt with the same
``output_name`` resumes from the last checkpoint, or finds the finished output and only
publishes. While another process holds ``.<name>.lock`` the task retries in 30 s (forever);
it never reports ``failed`` for that.

**Publishing** (``spec.publish`` set): worker.hub.publish_folder to the model repo with the
marker ``hearth-run: <run_id> <config fingerprint>``, so a re-sent run publishes idempotently.
Needs HF_TOKEN (and optionally HF_ENDPOINT) in the worker's environment. Network errors are
retried 4 times with backoff, then the run fails with the reason. ``succeeded`` comes only
after publishing succeeded.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import queue
import re
import shutil
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from celery.contrib.abortable import AbortableTask

from worker.answers import AnswerSpec, journal_path
from worker.celery import app, setting_cancel_grace_s, setting_gpus_per_run
from worker.child import TrainingProcess, child_argv, child_env, send_signal
from worker.config import CONFIGS, TrainConfig
from worker.hub import is_transient, publish_folder
from worker.paths import models_dir
from worker.reports import Reporter, ReportRoute, Send, SpecError

logger = logging.getLogger(__name__)

OUTPUT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
BUSY_RETRY_S = 30
PUBLISH_TRIES = 4

T = TypeVar("T")


class RunBusy(Exception):
    """Another process holds this run's lock (it is being trained right now)."""


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publish:
    repo_id: str
    tag: str
    commit_message: str
    # Where the model goes when main holds a later run's (a run sent again after a later one
    # was published): main keeps the latest model. Decided on the Hub at commit time, by run
    # id (worker.hub.publish_folder's order); without it, the commit goes on main.
    branch: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """A checked spec: what to train, where, and where it goes afterwards."""

    route: ReportRoute
    kind: str
    config: TrainConfig
    output: Path
    publish: Publish | None
    answer: AnswerSpec | None = None

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def work(self) -> Path:
        """The engine's work folder (worker.runtime.RunPaths.work)."""
        return self.output.parent / f".{self.name}.work"

    @property
    def lock(self) -> Path:
        return self.output.parent / f".{self.name}.lock"

    @property
    def spec_file(self) -> Path:
        return self.output.parent / f".{self.name}.spec.json"

    @property
    def marker(self) -> str:
        return f"hearth-run: {self.route.run_id} {self.config.fingerprint()}"

    def child_spec(self) -> dict[str, Any]:
        """The spec worker.jobs runs: the config's fields, and ``answer`` when set."""
        spec = {**self.config.to_dict(), "kind": self.kind, "run_id": self.route.run_id}
        if self.answer is not None:
            spec["answer"] = self.answer.to_spec()
        return spec


def check_spec(spec: dict[str, Any], route: ReportRoute, models: Path) -> RunSpec:
    """Validate everything but the route; raises SpecError naming the first problem."""
    kind = spec.get("kind")
    if kind not in CONFIGS:
        raise SpecError(f"kind must be one of {sorted(CONFIGS)}, not {kind!r}")
    name = spec.get("output_name")
    if not isinstance(name, str) or not OUTPUT_NAME.fullmatch(name):
        raise SpecError(f"output_name {name!r} is not a plain name (letters, digits, . _ -)")
    train = spec.get("train")
    if not isinstance(train, dict) or "output_dir" in train:
        raise SpecError("train must be an object of config fields, without output_dir")
    output = models / name
    try:
        config = CONFIGS[kind].from_spec({**train, "output_dir": str(output)})
    except (TypeError, ValueError) as exc:
        raise SpecError(f"bad training config: {exc}") from None
    publish = spec.get("publish")
    if publish is not None:
        if not isinstance(publish, dict) or not all(
            isinstance(publish.get(k), str) and publish[k]
            for k in ("repo_id", "tag", "commit_message")
        ):
            raise SpecError("publish needs repo_id, tag and commit_message")
        branch = publish.get("branch")
        if branch is not None and not (isinstance(branch, str) and OUTPUT_NAME.fullmatch(branch)):
            raise SpecError(f"publish.branch {branch!r} is not a plain name")
        publish = Publish(
            publish["repo_id"], publish["tag"], publish["commit_message"], branch=branch
        )
    if spec.get("answer") is not None and kind != "sft":
        raise SpecError(f"answer is for sft runs only, not {kind}")
    try:
        answer = AnswerSpec.from_spec(spec.get("answer"))
    except ValueError as exc:
        raise SpecError(f"bad answer section: {exc}") from None
    return RunSpec(route, kind, config, output, publish, answer)


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------


class RunLock:
    """An exclusive, non-blocking flock on ``.<name>.lock`` for as long as the task runs.

    The kernel drops it when the holder dies, however it dies. The file also keeps the last
    report's ``attempt seq``, so a redelivered attempt continues the sequence.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise RunBusy(f"{path} is held by another process") from None

    def last_seq(self, attempt: int) -> int:
        self.handle.seek(0)
        parts = self.handle.read().split()
        if len(parts) == 2 and parts[0] == str(attempt) and parts[1].isdigit():
            return int(parts[1])
        return 0

    def record(self, attempt: int, seq: int) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"{attempt} {seq}\n")
        self.handle.flush()

    def release(self) -> None:
        self.handle.close()


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class Knobs:
    """How the task behaves; defaults from the environment (tests pass their own)."""

    models: Path
    gpus: int
    cancel_grace_s: float
    poll_s: float = 1.0
    publish_backoff_s: float = 2.0

    @classmethod
    def from_env(cls) -> Knobs:
        return cls(
            models=models_dir(),
            gpus=setting_gpus_per_run(),
            cancel_grace_s=setting_cancel_grace_s(),
        )


def run_training(
    spec: dict[str, Any],
    *,
    send: Send,
    is_aborted: Callable[[], bool],
    knobs: Knobs | None = None,
) -> str:
    """Run one attempt of a training run end to end and report on it; return the final state
    reported (succeeded, failed or cancelled).

    ``send`` has app.send_task's signature; ``is_aborted`` says whether the web cancelled the
    attempt. Raises SpecError when the spec names nowhere to report to, and RunBusy, having
    reported nothing, when another process holds the run (the task retries).
    """
    route = ReportRoute.from_spec(spec)
    reporter = Reporter(route, send)
    try:
        # worker.celery checks these at start-up; should one have gone bad since, the run
        # fails with the reason rather than staying queued on the site.
        knobs = knobs or Knobs.from_env()
    except ValueError as exc:
        reporter.finish("failed", error=f"the GPU worker's settings: {exc}")
        return "failed"
    try:
        run = check_spec(spec, route, knobs.models)
    except SpecError as exc:
        reporter.finish("failed", error=str(exc))
        return "failed"
    if _aborted(is_aborted):
        # Before the lock: an attempt superseded by a newer one (which may hold the lock for
        # hours) ends now instead of waiting for it. It touches no file.
        reporter.finish("cancelled")
        return "cancelled"
    lock = RunLock(run.lock)
    try:
        reporter.seq = lock.last_seq(route.attempt)
        reporter.on_sent = lambda seq: lock.record(route.attempt, seq)
        if _aborted(is_aborted):
            reporter.finish("cancelled")
            return "cancelled"
        reporter.flush()
        try:
            return _train_and_publish(run, reporter, is_aborted, knobs)
        except Exception as exc:
            # A bug or a broken node, not a training error: say so, then let Celery log it.
            with contextlib.suppress(Exception):
                reporter.finish("failed", error=f"the task failed: {type(exc).__name__}: {exc}")
            raise
    finally:
        lock.release()


@dataclass
class Outcome:
    """How the training process ended."""

    code: int
    result: dict[str, Any] | None
    error: str | None
    aborted: bool


def _train_and_publish(
    run: RunSpec, reporter: Reporter, is_aborted: Callable[[], bool], knobs: Knobs
) -> str:
    run.spec_file.write_text(json.dumps(run.child_spec()))
    try:
        trainer = TrainingProcess(child_argv(run.kind, run.spec_file, knobs.gpus), child_env())
        try:
            trainer.note(f"training in process {trainer.process.pid} on {reporter.host}")
            outcome = _supervise(trainer, reporter, is_aborted, knobs)
        finally:
            # Only reached with the process still alive when this task itself failed: the
            # training must not go on unsupervised in a worker that stays up.
            send_signal(trainer.process, signal.SIGKILL)
        reporter.set_logs(trainer.tail())
        if outcome.aborted or (outcome.result is not None and _aborted(is_aborted)):
            remove_leftovers(run)
            trainer.note("cancelled: work folder removed")
            reporter.set_logs(trainer.tail())
            reporter.finish("cancelled")
            return "cancelled"
        if outcome.result is None:
            reporter.finish("failed", error=outcome.error or _exit_reason(outcome.code))
            return "failed"
        hub_repo = hub_revision = None
        if run.publish is not None:
            reporter.set_phase("publish")
            try:
                hub_revision = _publish(run, run.publish, reporter, trainer, knobs)
            except Exception as exc:
                reporter.set_logs(trainer.tail())
                reporter.finish(
                    "failed", error=f"publishing to {run.publish.repo_id} failed: {exc}"
                )
                return "failed"
            hub_repo = run.publish.repo_id
        reporter.set_logs(trainer.tail())
        result = outcome.result
        reporter.finish(
            "succeeded",
            result={
                "metrics": result.get("metrics"),
                "output_dir": str(run.output),
                "files": output_files(run.output),
                "steps": result.get("steps"),
                "resumed_from_step": result.get("resumed_from_step"),
                "tokens_per_s": result.get("tokens_per_s"),
                "timings": result.get("timings"),
                "hub_repo": hub_repo,
                "hub_revision": hub_revision,
                "answers": result.get("answers") or [],
            },
        )
        return "succeeded"
    finally:
        run.spec_file.unlink(missing_ok=True)


def _supervise(
    trainer: TrainingProcess, reporter: Reporter, is_aborted: Callable[[], bool], knobs: Knobs
) -> Outcome:
    """Relay the training process's messages to the reporter until it has exited and its
    output is read; poll for a cancel, and stop the process (SIGTERM, then SIGKILL after the
    grace period) when it comes."""
    outcome = Outcome(code=0, result=None, error=None, aborted=False)
    next_poll = 0.0
    kill_at = exited_at = math.inf
    output_ended = False
    while True:
        try:
            message = trainer.messages.get(timeout=0.2)
        except queue.Empty:
            pass
        else:
            if message is None:
                output_ended = True
            elif "progress" in message:
                reporter.progress(message["progress"])
            elif "result" in message:
                outcome.result = message["result"]
            elif "error" in message:
                outcome.error = str(message["error"])
        now = time.monotonic()
        if not outcome.aborted and now >= next_poll:
            next_poll = now + knobs.poll_s
            if _aborted(is_aborted):
                outcome.aborted = True
                trainer.note("cancelled: asking the training process to stop")
                send_signal(trainer.process, signal.SIGTERM)
                kill_at = now + knobs.cancel_grace_s
        if now >= kill_at:
            trainer.note(f"still running {knobs.cancel_grace_s:g}s after SIGTERM: SIGKILL")
            send_signal(trainer.process, signal.SIGKILL)
            kill_at = math.inf
        reporter.set_logs(trainer.tail())
        reporter.tick()
        code = trainer.process.poll()
        if code is not None:
            outcome.code = code
            exited_at = min(exited_at, now)
            # Ranks of a torchrun job die with it; the output ends once they are all gone.
            if output_ended or now - exited_at > 5:
                break
    trainer.join(timeout=5)
    return outcome


def _publish(
    run: RunSpec, publish: Publish, reporter: Reporter, trainer: TrainingProcess, knobs: Knobs
) -> str:
    """Publish the output folder, retrying network errors with backoff, reporting (heartbeats
    included) while the upload runs."""
    for attempt in range(PUBLISH_TRIES):
        trainer.note(f"publishing {run.output.name} to {publish.repo_id} as {publish.tag}")
        try:
            return _while_reporting(
                reporter,
                trainer,
                lambda: publish_folder(
                    run.output,
                    repo_id=publish.repo_id,
                    repo_type="model",
                    tag=publish.tag,
                    marker=run.marker,
                    commit_message=publish.commit_message,
                    order=None if publish.branch is None else run.route.run_id,
                    branch=publish.branch,
                ),
            )
        except Exception as exc:
            if not is_transient(exc) or attempt == PUBLISH_TRIES - 1:
                trainer.note(f"publishing failed: {type(exc).__name__}: {exc}")
                raise
            delay = knobs.publish_backoff_s * 2**attempt
            trainer.note(f"publishing failed ({exc}); trying again in {delay:g}s")
            _while_reporting(reporter, trainer, functools.partial(time.sleep, delay))
    raise AssertionError("unreachable")


def _while_reporting(reporter: Reporter, trainer: TrainingProcess, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread while this one keeps the reports (and heartbeats) going."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future: Future[T] = pool.submit(work)
        while True:
            try:
                return future.result(timeout=0.2)
            except TimeoutError:
                reporter.set_logs(trainer.tail())
                reporter.tick()


def _aborted(is_aborted: Callable[[], bool]) -> bool:
    """Ask; a result backend that cannot answer right now means not aborted (ask again)."""
    try:
        return bool(is_aborted())
    except Exception:
        logger.warning("could not read the abort flag; trying again shortly", exc_info=True)
        return False


def _exit_reason(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the training process was killed by {name}{hint}"
    return f"the training process exited with code {code} without a result"


def remove_leftovers(run: RunSpec) -> None:
    """What a cancelled run leaves: its work folder (checkpoints, staging), its spec and the
    answers it wrote."""
    shutil.rmtree(run.work, ignore_errors=True)
    run.spec_file.unlink(missing_ok=True)
    journal_path(run.output).unlink(missing_ok=True)


def output_files(folder: Path) -> list[dict[str, Any]]:
    return [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------


@app.task(
    bind=True,
    base=AbortableTask,
    name="worker.train_run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def train_run(self: Any, spec: dict[str, Any]) -> str:
    """One attempt of a training run (see the module docstring); thin: run_training does it."""
    try:
        return run_training(spec, send=app.send_task, is_aborted=self.is_aborted)
    except RunBusy as busy:
        raise self.retry(countdown=BUSY_RETRY_S, max_retries=None, exc=busy) from None
