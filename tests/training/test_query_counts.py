"""The training list, its API and the home page's models run no query per run: each is fetched
with a few runs and with many, and the number of queries must be the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.training import schedules
from apps.training.models import RunState, TrainingRun
from tests.conftest import client_for
from tests.query_counts import MANY, assert_flat, web
from tests.training.conftest import make_release

pytestmark = pytest.mark.django_db


def runs(creator: Any) -> Callable[[int], None]:
    """Runs of each kind and state, each on its own release, started by ``creator`` or (every
    other one) by a schedule."""

    def add(n: int) -> None:
        for i in range(n):
            state = [RunState.SUCCEEDED, RunState.RUNNING, RunState.QUEUED, RunState.FAILED][i % 4]
            TrainingRun.objects.create(
                release=make_release(),
                kind="reward" if i % 3 == 0 else "sft",
                base_model="org/base",
                state=state,
                created_by=creator if i % 2 else None,
                step=5,
                total_steps=10,
                finished_at=timezone.now() if state == RunState.SUCCEEDED else None,
                last_report_at=timezone.now(),
                eval_history=[{"step": 5, "eval_loss": 1.5, "eval_pairwise_accuracy": 0.7}],
                metrics={"eval_loss": 1.2} if state == RunState.SUCCEEDED else {},
                artefact_files=[{"path": "model.safetensors", "bytes": 5}],
                hub_repo="hearth/hearth-sft" if state == RunState.SUCCEEDED else "",
                hub_revision="c0ffee" if state == RunState.SUCCEEDED else "",
            )

    return add


def test_the_training_page_runs_the_same_queries_for_a_full_page(maintainer):
    schedules.ensure_schedules()
    client = web(maintainer)
    assert_flat(lambda: client.get("/training/"), runs(maintainer))
    assert client.get("/training/").content.decode().count('data-label="Run"') == MANY


def test_the_training_runs_api_runs_the_same_queries_for_a_full_page(maintainer):
    api = client_for(maintainer)
    assert_flat(lambda: api.get("/api/v1/training-runs/"), runs(maintainer))
    assert len(api.get("/api/v1/training-runs/").json()["results"]) == 20


def test_the_home_page_runs_the_same_queries_with_one_model_and_with_four(maintainer):
    """The home page lists the four newest models, each with its release (a quarter of the
    runs ``runs`` makes succeeded: one of the first four, four of sixteen)."""
    client = web(None)
    assert_flat(lambda: client.get("/"), runs(maintainer), few=4, many=16)
    assert client.get("/").content.decode().count('class="card model"') == 4
