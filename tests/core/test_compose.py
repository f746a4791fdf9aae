"""docker-compose.yml keeps the secrets where the README says: the Hub token reaches only the
processes that publish, and GPU nodes get no database credentials or signing key. (Read as
YAML, anchors merged as Compose merges them; no Docker engine is needed.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

COMPOSE = Path(settings.BASE_DIR) / "docker-compose.yml"


def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def gets_from_env_file(service: dict[str, Any], name: str) -> bool:
    """Whether ``name`` set in .env reaches the service: through its env_file, unless its
    environment sets the name to something else, or through its environment directly."""
    environment = service.get("environment") or {}
    if name in environment:
        return f"${{{name}" in str(environment[name])
    return bool(service.get("env_file"))


def test_the_hub_token_reaches_only_the_workers_that_publish():
    reached = {
        name for name, service in services().items() if gets_from_env_file(service, "HF_TOKEN")
    }
    assert reached == {"worker", "gpu-worker"}


def test_the_gpu_worker_gets_no_database_credentials_and_no_signing_key():
    gpu = services()["gpu-worker"]
    assert "env_file" not in gpu
    environment = gpu["environment"]
    assert not {"DATABASE_URL", "SECRET_KEY", "POSTGRES_PASSWORD"} & set(environment)
    # What the GPU worker's own code reads from its environment is passed on.
    for name in ("REDIS_URL", "HEARTH_DATA_DIR", "HEARTH_GPUS_PER_RUN", "HEARTH_CANCEL_GRACE_S"):
        assert name in environment, name
