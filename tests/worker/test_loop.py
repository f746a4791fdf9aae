"""worker.loop.run_steps: the step loop both trainers share, read at once or one step behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from worker.config import SFTConfig
from worker.data import PackedBatch
from worker.loop import Launched, StepLoop, run_steps
from worker.progress import ProgressEvent, Stopped
from worker.runtime import RunPaths, Runtime, Timer, TrainerState, list_checkpoints

TOTAL = 7


def fit_step(model: torch.nn.Module, optimizer: Any, scheduler: Any, step: int) -> Launched:
    """One step of fitting y = 2x with a one-weight model, as the loop's tests launch it."""
    x = torch.full((4, 1), float(step + 1))
    loss = ((model(x) - 2 * x) ** 2).sum()
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return Launched(
        sums=torch.stack([loss.detach(), torch.tensor(4.0)]),
        grad_norm=torch.tensor(0.0),
        lr=0.1,
        tokens=4,
        counts={"rows": 4},
    )


def train(
    tmp_path: Path,
    *,
    pipeline_steps: bool,
    stop_at_launch: int | None = None,
    events: list[ProgressEvent] | None = None,
) -> tuple[TrainerState, list[tuple[str, int]], torch.nn.Module]:
    """Fit y = 2x with a one-weight model, evaluating every 3 steps and checkpointing every 5;
    ``calls`` records what the loop asked for, in order, with the steps read so far, and
    ``events`` (when given) gets every progress event."""
    torch.manual_seed(0)
    config = SFTConfig(
        release="unused",
        base_model="unused",
        output_dir=str(tmp_path / "out"),
        eval_every=3,
        checkpoint_every=5,
        pipeline_steps=pipeline_steps,
    )
    runtime = Runtime(device=torch.device("cpu"))
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    state = TrainerState()
    calls: list[tuple[str, int]] = []
    launches = 0

    def progress(event: ProgressEvent) -> None:
        if events is not None:
            events.append(event)
        if event["phase"] == "train" and "loss" in event:
            calls.append(("read", event["step"]))

    def prepare(step: int) -> list[PackedBatch]:
        calls.append(("prepare", step))
        return []

    def launch(step: int, batches: list[PackedBatch]) -> Launched:
        nonlocal launches
        launches += 1
        calls.append(("launch", step))
        return fit_step(model, optimizer, scheduler, step)

    def describe(launched: Launched, sums: list[float], seconds: float) -> dict[str, float]:
        loss_sum, rows = sums
        assert rows == launched.counts["rows"]
        return {"loss": loss_sum / rows}

    def evaluate() -> dict[str, float]:
        calls.append(("evaluate", state.step))
        if events is not None:
            events.append({"phase": "evaluating", "step": state.step})  # a marker, not an event
        return {"eval_loss": float((model.weight.detach() - 2).abs())}

    def should_stop() -> bool:
        return stop_at_launch is not None and launches >= stop_at_launch

    run_steps(
        StepLoop(
            config=config,
            runtime=runtime,
            paths=RunPaths(config.output_dir),
            state=state,
            total=TOTAL,
            training=(model, optimizer, scheduler),
            timer=Timer(),
            progress=progress,
            should_stop=should_stop,
            prepare=prepare,
            launch=launch,
            describe=describe,
            evaluate=evaluate,
        )
    )
    return state, calls, model


@pytest.mark.parametrize("pipeline_steps", [False, True])
def test_reading_a_step_behind_changes_when_it_is_read_not_what_it_computes(
    tmp_path: Path, pipeline_steps: bool
) -> None:
    at_once, _, model_at_once = train(tmp_path / "at-once", pipeline_steps=False)
    state, calls, model = train(tmp_path / "run", pipeline_steps=pipeline_steps)

    assert [e["loss"] for e in state.train_log] == [e["loss"] for e in at_once.train_log]
    assert state.eval_log == at_once.eval_log
    assert [e["step"] for e in state.eval_log] == [3, 6]
    assert torch.equal(model.weight, model_at_once.weight)
    assert state.step == TOTAL and state.tokens_seen == 4 * TOTAL
    assert [p.name for p in list_checkpoints(RunPaths(tmp_path / "run" / "out"))] == ["step-000005"]
    assert [step for kind, step in calls if kind == "launch"] == list(range(TOTAL))
    assert [step for kind, step in calls if kind == "read"] == list(range(1, TOTAL + 1))
    # Evaluation sees the weights after exactly its step: that step is read and the next one
    # (index ``step``) is not launched yet.
    for step in (3, 6):
        assert calls.index(("read", step)) < calls.index(("evaluate", step))
        assert calls.index(("evaluate", step)) < calls.index(("launch", step))


@pytest.mark.parametrize("pipeline_steps", [False, True])
def test_a_stop_ends_the_run_at_the_step_that_saw_it(tmp_path: Path, pipeline_steps: bool) -> None:
    with pytest.raises(Stopped, match="stopped after step 2 of 7"):
        train(tmp_path, pipeline_steps=pipeline_steps, stop_at_launch=2)


def test_read_behind_reads_a_step_once_the_next_is_launched(tmp_path: Path) -> None:
    _, at_once, _ = train(tmp_path / "at-once", pipeline_steps=False)
    _, behind, _ = train(tmp_path / "behind", pipeline_steps=True)

    assert at_once[:5] == [
        ("prepare", 0),
        ("launch", 0),
        ("prepare", 1),
        ("read", 1),
        ("launch", 1),
    ]
    assert behind[:6] == [
        ("prepare", 0),
        ("launch", 0),
        ("prepare", 1),
        ("launch", 1),
        ("prepare", 2),
        ("read", 1),
    ]
    # Before an evaluation the step is read at once: step 3 is read right after step 2.
    assert behind.index(("read", 3)) == behind.index(("read", 2)) + 1


def phases(events: list[ProgressEvent]) -> list[str]:
    """Each event in short: its phase and step, ``+loss`` on a step's train event and
    ``+metrics`` on an eval event with results."""
    return [
        f"{e['phase']} {e.get('step')}"
        + ("+loss" if "loss" in e else "")
        + ("+metrics" if "metrics" in e else "")
        for e in events
    ]


@pytest.mark.parametrize("pipeline_steps", [False, True])
def test_the_eval_phase_is_reported_as_evaluation_starts_and_train_as_training_goes_on(
    tmp_path: Path, pipeline_steps: bool
) -> None:
    """The run page said "Evaluating" from the end of an evaluation until the next step had
    ended (minutes, with an evaluation every step), and "train" while it evaluated: the eval
    event came only with the metrics, and nothing said training had resumed."""
    events: list[ProgressEvent] = []
    train(tmp_path, pipeline_steps=pipeline_steps, events=events)

    assert phases(events) == [
        "train 0",
        "train 1+loss",
        "train 2+loss",
        "train 3+loss",
        "eval 3",
        "evaluating 3",
        "eval 3+metrics",
        "train 3",
        "train 4+loss",
        "train 5+loss",
        "train 6+loss",
        "eval 6",
        "evaluating 6",
        "eval 6+metrics",
        "train 6",
        "train 7+loss",
    ]
    # The phase events are shaped as the one that starts training: step and total, no loss.
    assert events[4] == {"phase": "eval", "step": 3, "total": TOTAL}
    assert events[7] == {"phase": "train", "step": 3, "total": TOTAL}
