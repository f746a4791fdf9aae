"""Task entry points for GPU nodes: thin, take a JSON spec, return a JSON result.

``run_sft`` and ``run_reward`` are plain functions (tests and the command line call them);
the Celery tasks below wrap them for the ``gpu`` queue. A spec is a flat JSON object of
worker.sft.SFTConfig / worker.reward.RewardConfig fields (``release``, ``base_model``,
``output_dir`` and any hyperparameters); ``kind`` and ``run_id`` may ride along. An SFT spec
may also carry ``answer`` (see worker.runs and worker.answers.AnswerSpec), which is no config
field: the finished model then answers those prompts. The result is::

    {"kind", "status": "succeeded", "output_dir", "metrics": {...}, "steps",
     "resumed_from_step", "tokens_per_s", "timings": {"load", "train", "eval", "save", ...},
     "answers": [{"prompt_id": int, "text": str}, ...]}  # only when the spec has an answer

``answers`` follows the order of the spec's prompts; a prompt whose answer came out empty has
none. Answering adds ``timings["answer"]`` (seconds) and progress events
``{"phase": "answer", "answered": n, "to_answer": N}``.

Running the same spec again resumes from the last checkpoint, or returns the finished result
(its answers then come from the journal they were kept in as they were written, and only the
prompts without one are answered; see worker.answers).

Command line (one process, or several GPUs of one node under torchrun/accelerate; see main
for what it prints)::

    python -m worker.jobs sft spec.json
    python -m worker.jobs --nproc-per-node=8 reward spec.json     # torchrun --standalone
    torchrun --standalone --nproc-per-node=8 -m worker.jobs reward spec.json

The ``worker.train_run`` task (worker.runs) runs this command line in a child process; the
in-process ``worker.train_sft`` / ``worker.train_reward`` tasks below predate it.

torch and transformers are imported inside the functions, never at module import.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from worker.celery import app
from worker.lifetime import end_with_parent
from worker.progress import (
    ProgressCallback,
    ProgressEvent,
    StopCheck,
    Stopped,
    never_stop,
    no_progress,
)

logger = logging.getLogger("worker.jobs")


def run_sft(
    spec: dict[str, Any],
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> dict[str, Any]:
    """Fine-tune a causal LM on a release's sft config (see worker.sft), then, when the spec
    has an ``answer`` section, have the finished model answer its prompts on the main process
    (see worker.answers)."""
    from worker.answers import AnswerSpec, journal_path, write_answers
    from worker.sft import SFTConfig, train_sft

    _check_kind(spec, "sft")
    fields = dict(spec)
    answer = AnswerSpec.from_spec(fields.pop("answer", None))
    config = SFTConfig.from_spec(fields)
    result = train_sft(config, progress, should_stop)
    if answer is None or os.environ.get("RANK", "0") != "0":
        return result
    started = time.perf_counter()
    output_dir = result["output_dir"]
    answers = write_answers(
        output_dir, config, answer, progress, should_stop, journal=journal_path(output_dir)
    )
    timings = {**result["timings"], "answer": round(time.perf_counter() - started, 3)}
    return {**result, "answers": answers, "timings": timings}


def run_reward(
    spec: dict[str, Any],
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> dict[str, Any]:
    """Train a reward model on a release's preferences or rankings config; see worker.reward."""
    from worker.reward import RewardConfig, train_reward

    _check_kind(spec, "reward")
    return train_reward(RewardConfig.from_spec(spec), progress, should_stop)


def _check_kind(spec: dict[str, Any], kind: str) -> None:
    if spec.get("kind", kind) != kind:
        raise ValueError(f"a {spec['kind']!r} spec was sent to the {kind} runner")


RUNNERS = {"sft": run_sft, "reward": run_reward}


def _reporter(task: Any) -> ProgressCallback:
    """Progress as Celery task state (``PROGRESS`` with the event as meta)."""

    def report(event: ProgressEvent) -> None:
        if task.request.id is not None:
            task.update_state(state="PROGRESS", meta=dict(event))

    return report


@app.task(bind=True, name="worker.train_sft")
def train_sft_task(self: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Celery wrapper of run_sft (acks late: a dead worker's run is redelivered and resumes)."""
    return run_sft(spec, _reporter(self))


@app.task(bind=True, name="worker.train_reward")
def train_reward_task(self: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Celery wrapper of run_reward."""
    return run_reward(spec, _reporter(self))


@app.task(name="worker.describe")
def describe() -> dict[str, Any]:
    """Report what this node offers; torch is imported here, never at module import."""
    info: dict[str, Any] = {"host": socket.gethostname(), "python": platform.python_version()}
    try:
        import torch
    except ImportError:
        info["torch"] = None
        return info
    info["torch"] = torch.__version__
    info["cuda_devices"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return info


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
USAGE = "usage: python -m worker.jobs [--nproc-per-node=N] {sft|reward} SPEC.json"


def main(argv: list[str]) -> int:
    """``python -m worker.jobs [--nproc-per-node=N] {sft|reward} SPEC.json``: train.

    stdout carries JSON lines only, from rank 0: ``{"progress": event}`` for each progress
    event, then ``{"result": result}`` (exit 0), ``{"error": "reason"}`` (exit 1) or
    ``{"stopped": "reason"}`` (exit 3, after SIGTERM). Logs, and anything a library prints, go
    to stderr. SIGTERM stops the run at the next step boundary (at once while loading). The
    process dies with its parent (see die_with_parent). With N > 1 this process is the
    torchrun agent (``--standalone``) of N ranks running the same command without the flag.
    """
    nproc = 1
    if argv and argv[0].startswith("--nproc-per-node="):
        nproc = int(argv[0].split("=", 1)[1])
        argv = argv[1:]
    if len(argv) != 2 or argv[0] not in RUNNERS or nproc < 1:
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    die_with_parent()
    if nproc > 1:
        return _launch_ranks(nproc, argv)
    protocol = _take_stdout()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with open(argv[1]) as handle:
        spec = json.load(handle)
    main_process = os.environ.get("RANK", "0") == "0"

    def emit(message: dict[str, Any]) -> None:
        if main_process:
            print(json.dumps(message), file=protocol, flush=True)

    def progress(event: ProgressEvent) -> None:
        logger.info("%s", describe_event(event))
        emit({"progress": event})

    stop = StopOnSigterm()
    try:
        result = RUNNERS[argv[0]](spec, progress, stop.asked)
    except Stopped as stopped:
        logger.info("%s", stopped)
        emit({"stopped": str(stopped)})
        return EXIT_STOPPED
    except Exception as exc:
        logger.exception("training failed")
        emit({"error": f"{type(exc).__name__}: {exc}"[:1000]})
        return EXIT_FAILED
    emit({"result": result})
    return EXIT_OK


def _take_stdout() -> TextIO:
    """Keep stdout for the JSON lines and point file descriptor 1 at stderr, so that nothing
    else written to stdout (a library's print, a C extension) can garble them."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return protocol


def _launch_ranks(nproc: int, argv: list[str]) -> int:
    """Be the torchrun agent of ``nproc`` ranks of this module (one node)."""
    from torch.distributed.run import main as torchrun

    # The ranks' parent is this process: they die with it (see die_with_parent).
    os.environ["HEARTH_PARENT_PID"] = str(os.getpid())
    torchrun(["--standalone", f"--nproc-per-node={nproc}", "-m", "worker.jobs", *argv])
    return EXIT_OK


def die_with_parent() -> None:
    """Have Linux SIGKILL this process when its parent exits, so training never outlives the
    worker (or torchrun agent) that started it, however that one died.

    HEARTH_PARENT_PID names the parent expected: when the parent already died before this
    call (the process now belongs to another), exit at once. Elsewhere than Linux, nothing.
    """
    if not end_with_parent(signal.SIGKILL):
        return
    expected = os.environ.get("HEARTH_PARENT_PID")
    if expected and os.getppid() != int(expected):
        os._exit(EXIT_FAILED)


class StopOnSigterm:
    """SIGTERM asks the run to stop: at the next step boundary once training has begun (the
    trainers call ``asked`` after every step), at once before (loading may take minutes and
    leaves nothing worth keeping). Once training has ended, the run is allowed to finish,
    except that answering prompts (worker.answers) asks too, between batches."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        if not self.training:
            raise Stopped("stopped before training began")

    def asked(self) -> bool:
        self.training = True
        return self.requested


def describe_event(event: ProgressEvent) -> str:
    """One log line for a progress event."""
    phase = event.get("phase", "?")
    if phase == "answer":
        fields: Mapping[str, object] = event  # an AnswerEvent (worker.answers)
        return f"answer {fields.get('answered', '?')}/{fields.get('to_answer', '?')} prompts"
    where = f" step {event['step']}/{event.get('total', '?')}" if "step" in event else ""
    if phase == "train" and "loss" not in event:  # as training starts, or goes on
        return f"train{where}: {'resuming' if event.get('step') else 'starting'}"
    if phase == "eval" and "metrics" not in event:  # as evaluation starts
        return f"eval{where}: starting"
    if phase == "train":
        return (
            f"train{where} loss {event.get('loss', float('nan')):.4f} "
            f"lr {event.get('lr', float('nan')):.3g} "
            f"{event.get('tokens_per_s', 0.0):.0f} tokens/s"
        )
    metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(event.get("metrics", {}).items()))
    return f"{phase}{where} {metrics}".rstrip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
