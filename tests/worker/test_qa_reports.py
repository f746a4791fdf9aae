"""What the step loop reports through worker.reports.Reporter: the training phase as soon as
training starts, and each step's time (the run page's time left is reckoned from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tests.worker.test_loop import fit_step
from worker.config import SFTConfig
from worker.data import PackedBatch
from worker.loop import Launched, StepLoop, run_steps
from worker.reports import Reporter, ReportRoute
from worker.runtime import RunPaths, Runtime, Timer, TrainerState

TOTAL = 3


def train_reporting(tmp_path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Fit y = 2x for TOTAL steps, reporting through a Reporter; return the payloads sent
    and, for each, how many steps had been launched when it was sent."""
    config = SFTConfig(
        release="unused", base_model="unused", output_dir=str(tmp_path / "out"), log_every=1
    )
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    payloads: list[dict[str, Any]] = []
    launched_when_sent: list[int] = []
    launches = 0

    def send(task: str, *, args: tuple[Any, ...], queue: str) -> None:
        payloads.append(args[2])
        launched_when_sent.append(launches)

    route = ReportRoute(7, 1, "training.report", "default", interval_s=0.0, heartbeat_s=30.0)
    reporter = Reporter(route, send)

    def launch(step: int, batches: list[PackedBatch]) -> Launched:
        nonlocal launches
        launches += 1
        return fit_step(model, optimizer, scheduler, step)

    def progress(event: Any) -> None:
        reporter.progress(event)
        reporter.tick()

    run_steps(
        StepLoop(
            config=config,
            runtime=Runtime(device=torch.device("cpu")),
            paths=RunPaths(config.output_dir),
            state=TrainerState(),
            total=TOTAL,
            training=(model, optimizer, scheduler),
            timer=Timer(),
            progress=progress,
            should_stop=lambda: False,
            prepare=lambda step: [],
            launch=launch,
            describe=lambda launched, sums, seconds: {"loss": sums[0] / sums[1]},
            evaluate=lambda: {"eval_loss": 0.0},
        )
    )
    return payloads, launched_when_sent


def test_the_training_phase_is_reported_before_the_first_step_ends(tmp_path: Path) -> None:
    payloads, launched_when_sent = train_reporting(tmp_path)

    first = payloads[0]
    assert launched_when_sent[0] == 0  # sent before step 1 was even launched
    assert (first["phase"], first["step"], first["total"]) == ("train", 0, TOTAL)
    assert first["train_log"] == []  # no step has ended: no point on the curve


def test_each_step_report_carries_the_steps_seconds(tmp_path: Path) -> None:
    payloads, _ = train_reporting(tmp_path)

    entries = [e for p in payloads for e in p["train_log"]]
    assert [e["step"] for e in entries] == [1, 2, 3]
    assert all(isinstance(e["seconds"], float) and e["seconds"] > 0 for e in entries)
