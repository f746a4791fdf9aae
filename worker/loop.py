"""The optimizer-step loop that the SFT and reward trainers share.

A trainer says how to lay out a step's batches on the device (``prepare``), how to queue one
optimizer step on it (``launch``), and what its log entry holds once the step's sums are read
(``describe``); ``run_steps`` runs the steps from ``state.step``, reads them, logs and reports
them, and evaluates and checkpoints at the configured intervals. ``train_to_output`` runs them,
then evaluates once more and writes, publishes and reads back the output folder.

Pipelined (``pipeline_steps``; on CUDA by default), steps are launched one ahead of being read:
step t's sums and gradient norm are read (a wait for the device) only once step t + 1 is
queued behind it, so the device has work queued while the CPU waits. A step after which
something reads the weights (evaluation, a checkpoint, the end) is read at once, before the
next is launched. A CPU runs each step as it is launched, so there step t's wall time would be
credited to step t - 1: by default every step is read at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from worker.config import TrainConfig
from worker.data import PackedBatch
from worker.progress import ProgressCallback, StopCheck, Stopped
from worker.runtime import (
    TRAIN_LOSS_KEY,
    MasterAdamW,
    RunPaths,
    Runtime,
    Timer,
    TrainerState,
    cleanup_work,
    count_parameters,
    publish,
    recent_train_loss,
    result_from,
    save_checkpoint,
    save_output,
)


@dataclass
class Launched:
    """An optimizer step queued on the device and not yet read.

    ``sums`` are the step's own numbers on the device (a loss sum, a count of right pairs, …);
    ``run_steps`` sums them over processes together with the stop flag, without waiting.
    ``counts`` is what the CPU knew of the step (response tokens, prompts, pairs)."""

    sums: torch.Tensor
    grad_norm: torch.Tensor
    lr: float
    tokens: int
    counts: dict[str, int] = field(default_factory=dict)


# A step's log entry fields besides the common ones, from its launch, its summed ``sums`` and
# its wall time in seconds.
Describe = Callable[[Launched, list[float], float], dict[str, float]]


def pipelined(config: TrainConfig, runtime: Runtime) -> bool:
    """Whether steps are read one behind (``pipeline_steps``; None: on CUDA)."""
    if config.pipeline_steps is None:
        return runtime.device.type == "cuda"
    return config.pipeline_steps


@dataclass
class StepLoop:
    """What ``run_steps`` runs: ``training`` (the model, its optimizer and learning-rate
    scheduler) for steps ``state.step`` … ``total - 1``, through the trainer's ``prepare``,
    ``launch``, ``describe`` and ``evaluate``, checkpointing into ``paths``."""

    config: TrainConfig
    runtime: Runtime
    paths: RunPaths
    state: TrainerState
    total: int
    training: tuple[torch.nn.Module, Any, Any]
    timer: Timer
    progress: ProgressCallback
    should_stop: StopCheck
    prepare: Callable[[int], list[PackedBatch]]
    launch: Callable[[int, list[PackedBatch]], Launched]
    describe: Describe
    evaluate: Callable[[], dict[str, float]]


def run_steps(loop: StepLoop) -> None:
    """Train ``loop``'s steps, updating its ``state`` and checkpointing.

    Raises Stopped at the first step boundary after ``should_stop`` said so on any process
    (the flag rides on the step's one all-reduce, so every process stops at the same step and
    none is left waiting in a collective the others have left)."""
    config, runtime, state, total = loop.config, loop.runtime, loop.state, loop.total
    timer, progress, prepare, launch = loop.timer, loop.progress, loop.prepare, loop.launch

    def finish(launched: Launched, since: float) -> float:
        """Read a launched step (waiting for the device), log and report it; return when."""
        with timer("train"):
            *sums, stop = launched.sums.tolist()
            grad_norm = float(launched.grad_norm)
        if stop:
            raise Stopped(f"stopped after step {state.step + 1} of {total}")
        state.step += 1
        state.tokens_seen += launched.tokens
        now = time.perf_counter()
        seconds = now - since
        entry = {
            "step": state.step,
            **loop.describe(launched, sums, seconds),
            "lr": launched.lr,
            "grad_norm": grad_norm,
            "tokens": launched.tokens,
            "seconds": seconds,
            "tokens_per_s": launched.tokens / seconds,
        }
        state.train_log.append(entry)
        if runtime.is_main and (state.step % config.log_every == 0 or state.step == total):
            progress(
                {
                    "phase": "train",
                    "step": state.step,
                    "total": total,
                    "loss": entry["loss"],
                    "lr": entry["lr"],
                    "tokens_per_s": entry["tokens_per_s"],
                    "seconds": seconds,
                }
            )
        return now

    def evaluates_at(step: int) -> bool:
        return bool(config.eval_every and step % config.eval_every == 0)

    def read_at(step: int) -> bool:
        """Whether the weights are read after ``step`` steps (evaluation, checkpoint, end)."""
        return step == total or step % config.checkpoint_every == 0 or evaluates_at(step)

    model, optimizer, scheduler = loop.training
    model.train()
    if runtime.is_main:
        # The model is loaded: say so now, not when the first step ends (a first step on a
        # CPU can take minutes, and "load" until then reads as hung). No loss yet: no point.
        progress({"phase": "train", "step": state.step, "total": total})
    read_behind = pipelined(config, runtime)
    upcoming = prepare(state.step) if state.step < total else []
    pending: Launched | None = None
    mark = time.perf_counter()
    for step in range(state.step, total):
        with timer("train"):
            launched = launch(step, upcoming)
            launched = dataclasses.replace(
                launched, sums=runtime.sum_later(launched.sums, float(loop.should_stop()))
            )
            # While the device works through the queued steps, lay out the next one.
            upcoming = prepare(step + 1) if step + 1 < total else []
        if pending is not None:
            mark = finish(pending, mark)
            pending = None
        if read_behind and not read_at(step + 1):
            pending = launched
            continue
        mark = finish(launched, mark)
        if evaluates_at(state.step) and state.step < total:
            evaluate_and_report(loop)
            if runtime.is_main:
                # Training goes on (a checkpoint is part of it): the page says so now, not
                # when the next step ends. No loss: consumers take an event with a loss for
                # a step's.
                progress({"phase": "train", "step": state.step, "total": total})
        if state.step % config.checkpoint_every == 0 and state.step < total:
            with timer("checkpoint"):
                save_checkpoint(
                    loop.paths,
                    runtime,
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    state=state,
                    keep=config.keep_checkpoints,
                    config=config.to_dict(),
                )
        mark = time.perf_counter()  # evaluation and checkpoints are not step time


def evaluate_and_report(loop: StepLoop) -> dict[str, float]:
    """Evaluate at ``loop.state.step`` and log the metrics. The main process reports the
    eval phase as evaluation starts (step and total only) and again with the metrics once it
    has finished."""
    state, runtime, progress = loop.state, loop.runtime, loop.progress
    if runtime.is_main:
        progress({"phase": "eval", "step": state.step, "total": loop.total})
    metrics = loop.evaluate()
    state.eval_log.append({"step": state.step, **metrics})
    if runtime.is_main:
        progress({"phase": "eval", "step": state.step, "total": loop.total, "metrics": metrics})
    return metrics


def train_to_output(
    loop: StepLoop, *, kind: str, tokenizer: Any, details: dict[str, Any]
) -> dict[str, Any]:
    """``run_steps``, then the final evaluation; the main process writes the output folder
    (metrics.json holds the logs, ``details``, where the run resumed and the mean loss of the
    last steps, see worker.runtime.TRAIN_LOSS_KEY) and publishes it. Returns the JSON result
    on every process."""
    config, runtime, paths, state = loop.config, loop.runtime, loop.paths, loop.state
    total, timer, progress = loop.total, loop.timer, loop.progress
    resumed_from = state.step
    run_steps(loop)
    final = evaluate_and_report(loop)
    optimizer = loop.training[1]
    if isinstance(optimizer, MasterAdamW):
        optimizer.restore()  # the output holds the fp32 masters, rounded only by save_dtype
    if runtime.is_main:
        progress({"phase": "save", "step": state.step, "total": total})
        with timer("save"):
            model = loop.training[0]
            all_params, trainable = count_parameters(model)
            summary = {
                "kind": kind,
                "final": final,
                TRAIN_LOSS_KEY: recent_train_loss(state.train_log),
                "steps": total,
                "resumed_from_step": resumed_from,
                "tokens_seen": state.tokens_seen,
                "parameters": all_params,
                "trainable_parameters": trainable,
                "world_size": runtime.world,
                "device": str(runtime.device),
                **details,
                "train_log": state.train_log,
                "eval_log": state.eval_log,
            }
            save_output(model, tokenizer, config, runtime, paths, summary, timer)
            publish(paths)
            if not config.keep_work_dir:
                cleanup_work(paths)
    runtime.barrier()
    result = result_from(paths)
    if runtime.is_main:
        progress({"phase": "done", "step": total, "total": total, "metrics": final})
    return result
