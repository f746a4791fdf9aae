"""Lists of runs leave their curves, logs tail and spec in the database (selectors.run_list,
models_latest, models_for_release): up to hundreds of kilobytes a run that only a run's page
and the API's detail show. Each list's SQL is read for the columns it selects, and every
list also runs no query per run (test_query_counts.py): a deferred field a template read
would cost one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.training.models import RunState, TrainingRun
from tests.conftest import client_for
from tests.query_counts import web
from tests.training.conftest import make_release

pytestmark = pytest.mark.django_db

HEAVY = ("loss_history", "logs_tail", "spec", "timings")
HEAVY_COLUMNS = [f'"training_trainingrun"."{name}"' for name in HEAVY]


def heavy_run(**fields: Any) -> TrainingRun:
    values: dict[str, Any] = {
        "release": make_release(),
        "kind": "sft",
        "base_model": "org/base",
        "state": RunState.SUCCEEDED,
        "finished_at": timezone.now(),
        "step": 2000,
        "total_steps": 2000,
        "loss_history": [{"step": s, "loss": 2.0, "lr": 1e-4} for s in range(2000)],
        "eval_history": [{"step": 1000, "eval_loss": 1.8}, {"step": 2000, "eval_loss": 1.6}],
        "logs_tail": "a log line\n" * 1000,
        "timings": {"train": 60.0},
        "spec": {"answer": {"prompts": [{"id": 1, "instruction": "Name a lake."}]}},
        "artefact_files": [{"path": "model.safetensors", "bytes": 5}],
        "hub_repo": "hearth/hearth-sft",
        "hub_revision": "c0ffee",
    }
    values.update(fields)
    return TrainingRun.objects.create(**values)


def heavy_columns_read(fetch: Callable[[], Any]) -> list[str]:
    """The heavy columns the request's queries select."""
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    return [column for column in HEAVY_COLUMNS if column in sql]


def test_the_training_page_lists_runs_without_their_curves(maintainer):
    heavy_run()
    heavy_run(state=RunState.RUNNING, finished_at=None, metrics={})
    client = web(maintainer)
    assert heavy_columns_read(lambda: client.get("/training/")) == []
    page = client.get("/training/").content.decode()
    assert page.count('data-label="Run"') == 2
    assert "1.6" in page  # the running one's key metric: its latest evaluation


def test_the_api_lists_runs_without_their_curves(maintainer):
    heavy_run()
    api = client_for(maintainer)
    assert heavy_columns_read(lambda: api.get("/api/v1/training-runs/")) == []


def test_the_home_page_lists_the_latest_models_without_their_curves(db):
    heavy_run()
    client = web(None)
    assert heavy_columns_read(lambda: client.get("/")) == []
    assert client.get("/").content.decode().count('class="card model"') == 1


def test_a_release_page_lists_its_models_without_their_curves(db):
    run = heavy_run()
    client = web(None)
    assert heavy_columns_read(lambda: client.get(f"/releases/{run.release.version}/")) == []


def test_a_runs_page_and_the_api_detail_still_read_the_whole_run(maintainer):
    run = heavy_run()
    client, api = web(maintainer), client_for(maintainer)
    assert heavy_columns_read(lambda: client.get(f"/training/runs/{run.pk}/")) == HEAVY_COLUMNS
    detail = api.get(f"/api/v1/training-runs/{run.pk}/").json()
    assert len(detail["loss_history"]) == 2000 and detail["timings"] == {"train": 60.0}


def test_counting_the_prompts_a_model_may_answer_can_read_the_model_answers_index(db):
    """Without the partial index response_model_live_prompt the count read every answer for
    the few models wrote (0.2 s at 150,000 answers, on each /training/). Its condition must
    imply the query's, or PostgreSQL cannot use it: with sequential scans made dear, the plan
    names it."""
    from apps.collection.services import _answerable_by_model

    sql, params = _answerable_by_model(()).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "response_model_live_prompt" in plan, plan
