"""The job entry points: light at import, strict about what they are sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker import jobs

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_jobs_module_does_not_import_torch() -> None:
    code = (
        "import sys, worker.jobs; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_training_tasks_are_registered_on_the_gpu_app() -> None:
    assert {"worker.train_sft", "worker.train_reward"} <= set(jobs.app.tasks)


def test_a_spec_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'reward' spec was sent to the sft runner"):
        jobs.run_sft({"kind": "reward"})
