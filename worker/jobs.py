"""Task entry points for GPU nodes: thin, take a JSON spec, return a JSON result.

``run_sft`` and ``run_reward`` are plain functions (tests and the command line call them);
the Celery tasks below wrap them for the ``gpu`` queue. A spec is a flat JSON object of
worker.sft.SFTConfig / worker.reward.RewardConfig fields (``release``, ``base_model``,
``output_dir`` and any hyperparameters); ``kind`` and ``run_id`` may ride along. The result is::

    {"kind", "status": "succeeded", "output_dir", "metrics": {...}, "steps",
     "resumed_from_step", "tokens_per_s", "timings": {"load", "train", "eval", "save", ...}}

Running the same spec again resumes from the last checkpoint, or returns the finished result.

Command line (one process, or several GPUs of one node under torchrun/accelerate)::

    python -m worker.jobs sft spec.json
    torchrun --standalone --nproc-per-node=8 -m worker.jobs reward spec.json

torch and transformers are imported inside the functions, never at module import.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
from typing import Any

from worker.celery import app
from worker.progress import ProgressCallback, ProgressEvent, no_progress


def run_sft(spec: dict[str, Any], progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Fine-tune a causal LM on a release's sft config; see worker.sft."""
    from worker.sft import SFTConfig, train_sft

    _check_kind(spec, "sft")
    return train_sft(SFTConfig.from_spec(spec), progress)


def run_reward(spec: dict[str, Any], progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Train a reward model on a release's preferences or rankings config; see worker.reward."""
    from worker.reward import RewardConfig, train_reward

    _check_kind(spec, "reward")
    return train_reward(RewardConfig.from_spec(spec), progress)


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


def main(argv: list[str]) -> int:
    """``python -m worker.jobs {sft|reward} SPEC.json``: train and print the result as JSON."""
    import os

    if len(argv) != 2 or argv[0] not in RUNNERS:
        print("usage: python -m worker.jobs {sft|reward} SPEC.json", file=sys.stderr)
        return 2
    with open(argv[1]) as handle:
        spec = json.load(handle)
    main_process = os.environ.get("RANK", "0") == "0"

    def log(event: ProgressEvent) -> None:
        print(json.dumps(event), file=sys.stderr, flush=True)

    result = RUNNERS[argv[0]](spec, log if main_process else no_progress)
    if main_process:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
