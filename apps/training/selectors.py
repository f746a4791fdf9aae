"""Reads for training runs. Maintainers see every run; everyone sees published models (runs
that succeeded), which the home page and release pages list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.releases.models import Release
from apps.training.models import RunState, TrainingRun

# What lists of runs leave in the database: the loss curve (up to services.MAX_HISTORY
# points), the logs tail, the spec sent to the worker (with the texts of the prompts its model
# answers) and the timings, up to hundreds of kilobytes a run that only the run's page and
# the API's detail show (QA: 4.6 MB for a page of 20 runs). The eval curve stays: a run
# still training shows its latest evaluation as its key metric.
LIST_DEFERRED = ("loss_history", "logs_tail", "spec", "timings")


def run_list(*, kind: str | None = None, state: str | None = None) -> QuerySet[TrainingRun]:
    """Runs newest first, without LIST_DEFERRED (maintainers only: callers check). Not for
    a run's page: run_get loads one whole."""
    qs = TrainingRun.objects.select_related("release", "created_by").defer(*LIST_DEFERRED)
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-created_at", "-id")


def run_get(*, run_id: int) -> TrainingRun:
    """One run with everything it holds (maintainers only: callers check). Raises
    TrainingRun.DoesNotExist."""
    return TrainingRun.objects.select_related("release", "created_by").get(pk=run_id)


def models_latest(*, limit: int = 4) -> list[TrainingRun]:
    """The newest succeeded runs with the release each learned from (for the home page),
    without LIST_DEFERRED."""
    return list(
        TrainingRun.objects.filter(state=RunState.SUCCEEDED)
        .select_related("release")
        .defer(*LIST_DEFERRED)
        .order_by("-finished_at", "-id")[:limit]
    )


def models_for_release(*, release: Release) -> list[TrainingRun]:
    """The models trained on ``release`` (succeeded runs), newest first, without
    LIST_DEFERRED."""
    return list(
        release.training_runs.filter(state=RunState.SUCCEEDED)
        .defer(*LIST_DEFERRED)
        .order_by("-finished_at", "-id")
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
