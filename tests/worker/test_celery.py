"""The GPU-node Celery app's settings, read in a fresh process as a worker would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, sys\n"
    "from worker.celery import app\n"
    "c = app.conf\n"
    "print(json.dumps({'broker': c.broker_url, 'transport': c.broker_transport,\n"
    "  'backend': c.result_backend,\n"
    "  'options': c.broker_transport_options, 'tasks': sorted(app.tasks),\n"
    "  'heavy': sorted({'torch', 'transformers', 'huggingface_hub'} & set(sys.modules))}))\n"
)


def probe(**env: str) -> dict[str, Any]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_VISIBILITY_TIMEOUT"}
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env={**clean, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def test_the_embedded_default_uses_the_web_sides_folders(tmp_path: Path) -> None:
    conf = probe(HEARTH_DATA_DIR=str(tmp_path))
    assert conf["broker"] == "filesystem://localhost/"
    assert conf["transport"] == "worker.brokers:FilesystemTransport"  # messages written whole
    assert conf["backend"] == f"file://{tmp_path.resolve()}/results"  # as apps/settings.py
    assert (tmp_path / "results").is_dir()
    assert conf["options"]["data_folder_in"] == str(tmp_path.resolve() / "broker" / "queue")


def test_on_redis_results_live_there_too_and_redelivery_waits_as_configured() -> None:
    conf = probe(REDIS_URL="redis://127.0.0.1:6379/9", CELERY_VISIBILITY_TIMEOUT="86400")
    assert conf["broker"] == conf["backend"] == "redis://127.0.0.1:6379/9"
    # kombu looks for abandoned messages every interval × throttle seconds: at most 100 s,
    # a quarter of a short timeout.
    assert conf["options"] == {
        "visibility_timeout": 86400,
        "unacked_restore_interval": 10.0,
        "unacked_restore_throttle": 10,
    }
    assert probe(REDIS_URL="redis://h:6379/0")["options"]["visibility_timeout"] == 3600
    quick = probe(REDIS_URL="redis://h:6379/0", CELERY_VISIBILITY_TIMEOUT="10")["options"]
    assert quick["unacked_restore_interval"] * quick["unacked_restore_throttle"] == 2.5


def test_every_task_is_registered_without_loading_torch(tmp_path: Path) -> None:
    conf = probe(HEARTH_DATA_DIR=str(tmp_path))
    assert {"worker.train_run", "worker.train_sft", "worker.train_reward"} <= set(conf["tasks"])
    assert conf["heavy"] == []
