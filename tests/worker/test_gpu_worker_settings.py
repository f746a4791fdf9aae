"""The GPU worker's own settings (HEARTH_GPUS_PER_RUN, HEARTH_CANCEL_GRACE_S): a value it cannot
use stops it at start-up with a message naming the variable (README, Configuration), and a run
that meets one anyway is reported failed rather than left queued on the site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from worker.runs import Knobs, run_training

REPO = Path(__file__).resolve().parents[2]
SETTINGS = ("HEARTH_GPUS_PER_RUN", "HEARTH_CANCEL_GRACE_S")


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """This environment without a broker or the GPU worker's settings, on a private data
    folder (the file broker), plus ``env``."""
    dropped = {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_VISIBILITY_TIMEOUT", *SETTINGS}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**base, "HEARTH_DATA_DIR": str(tmp_path), **env}


# Loading the app is what `celery -A worker.celery worker` does first; Knobs are read per run.
LOAD = "import worker.celery\n"
KNOBS = (
    "import json\n"
    "from worker.runs import Knobs\n"
    "k = Knobs.from_env()\n"
    "print(json.dumps({'gpus': k.gpus, 'grace': k.cancel_grace_s}))\n"
)


def python(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HEARTH_GPUS_PER_RUN", "abc", "HEARTH_GPUS_PER_RUN must be an integer, not 'abc'"),
        ("HEARTH_GPUS_PER_RUN", "0", "HEARTH_GPUS_PER_RUN must be at least 1, not 0"),
        ("HEARTH_GPUS_PER_RUN", "1.5", "HEARTH_GPUS_PER_RUN must be an integer"),
        ("HEARTH_CANCEL_GRACE_S", "abc", "HEARTH_CANCEL_GRACE_S must be a number, not 'abc'"),
        ("HEARTH_CANCEL_GRACE_S", "-5", "HEARTH_CANCEL_GRACE_S must be a non-negative number"),
        ("HEARTH_CANCEL_GRACE_S", "nan", "HEARTH_CANCEL_GRACE_S must be a non-negative number"),
        ("HEARTH_CANCEL_GRACE_S", "inf", "HEARTH_CANCEL_GRACE_S must be a non-negative number"),
    ],
)
def test_a_bad_value_stops_the_app_from_loading(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    done = python(tmp_path, LOAD, **{name: value})
    assert done.returncode != 0
    assert says in done.stderr


def test_empty_or_unset_means_the_default_and_good_values_are_taken(tmp_path: Path) -> None:
    for env in ({}, {"HEARTH_GPUS_PER_RUN": "", "HEARTH_CANCEL_GRACE_S": " "}):
        done = python(tmp_path, LOAD + KNOBS, **env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"gpus": 1, "grace": 30.0}
    done = python(tmp_path, LOAD + KNOBS, HEARTH_GPUS_PER_RUN="4", HEARTH_CANCEL_GRACE_S="2.5")
    assert json.loads(done.stdout) == {"gpus": 4, "grace": 2.5}


def test_the_celery_worker_refuses_to_start_naming_the_variable(tmp_path: Path) -> None:
    """As `make run` and Dockerfile.gpu start it; it must exit, not say "ready"."""
    celery = ["celery", "-A", "worker.celery", "worker", "--pool=solo", "-Q", "gpu"]
    done = subprocess.run(
        [sys.executable, "-m", *celery, "-n", "settings-check@%h", "--loglevel=info"],
        cwd=REPO,
        env=clean_env(tmp_path, HEARTH_GPUS_PER_RUN="abc"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "HEARTH_GPUS_PER_RUN must be an integer, not 'abc'" in output
    assert "ready" not in output


class Outbox:
    """A sender with app.send_task's signature that keeps what it is given."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, task: str, *, args: tuple[Any, ...], queue: str) -> None:
        json.dumps(args)
        self.payloads.append(args[2])


@pytest.mark.parametrize(("name", "value"), [(n, "abc") for n in SETTINGS])
def test_a_run_meeting_a_bad_setting_is_reported_failed_not_left_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("HEARTH_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(name, value)
    spec = {
        "run_id": 7,
        "attempt": 1,
        "kind": "sft",
        "train": {"release": "file:///x", "base_model": "m"},
        "output_name": "run-7",
        "publish": None,
        "report": {"task": "training.report", "queue": "default", "interval_s": 0.2},
    }
    outbox = Outbox()
    assert run_training(spec, send=outbox, is_aborted=lambda: False) == "failed"
    (payload,) = outbox.payloads
    assert payload["state"] == "failed"
    assert name in payload["error"] and "settings" in payload["error"]
    assert not (tmp_path / "models").exists()  # nothing started

    monkeypatch.delenv(name)
    assert Knobs.from_env().gpus == 1
