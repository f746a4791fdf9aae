"""Reads for training runs. Maintainers see every run; everyone sees published models (runs
that succeeded), which the home page and release pages list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.releases.models import Release
from apps.training.models import RunState, TrainingRun


def run_list(*, kind: str | None = None, state: str | None = None) -> QuerySet[TrainingRun]:
    """Runs newest first (maintainers only: callers check)."""
    qs = TrainingRun.objects.select_related("release", "created_by")
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-created_at", "-id")


def models_latest(*, limit: int = 4) -> list[TrainingRun]:
    """The newest succeeded runs with the release each learned from (for the home page)."""
    return list(
        TrainingRun.objects.filter(state=RunState.SUCCEEDED)
        .select_related("release")
        .order_by("-finished_at", "-id")[:limit]
    )


def models_for_release(*, release: Release) -> list[TrainingRun]:
    """The models trained on ``release`` (succeeded runs), newest first."""
    return list(
        release.training_runs.filter(state=RunState.SUCCEEDED).order_by("-finished_at", "-id")
    )


def artefact_path(*, run: TrainingRun, path: str) -> Path:
    """A file of a succeeded run's output folder, as the worker listed it, for download from
    the site (when the site shares HEARTH_MODELS_DIR with the worker, as the embedded default
    does). Raises FileNotFoundError for anything else."""
    listed = {entry.get("path") for entry in run.artefact_files if isinstance(entry, dict)}
    if run.state != RunState.SUCCEEDED or path not in listed:
        raise FileNotFoundError(path)
    root = (settings.HEARTH_MODELS_DIR / run.output_name).resolve()
    full = (root / path).resolve()
    if root not in full.parents or not full.is_file():
        raise FileNotFoundError(path)
    return full


def chart_data(run: TrainingRun) -> dict[str, Any]:
    """The loss and eval curves as plain lists, for the run page's charts."""
    train = [e for e in run.loss_history if "loss" in e]
    evals = run.eval_history
    eval_keys = sorted({k for e in evals for k in e if k != "step"})
    return {
        "train": {
            "step": [e["step"] for e in train],
            "loss": [e["loss"] for e in train],
            "lr": [e.get("lr") for e in train],
        },
        "eval": {
            "step": [e["step"] for e in evals],
            **{k: [e.get(k) for e in evals] for k in eval_keys},
        },
    }
