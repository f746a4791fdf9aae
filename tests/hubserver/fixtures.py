"""The ``hub`` pytest fixture: a test Hub on a free port, with huggingface_hub and datasets
pointed at it and nothing cached across tests.

Use it from a test module or conftest with ``from tests.hubserver.fixtures import hub``.

What pointing a client at the server takes — for code that does it without this fixture:

* A subprocess (a Celery worker, ``python -m worker…``) only needs environment variables set
  before it starts: HF_ENDPOINT=<server.url>, HF_HUB_DISABLE_XET=1, HF_TOKEN=<server.token>,
  HF_HOME=<a temp dir>, and neither HF_HUB_OFFLINE nor HF_DATASETS_OFFLINE.
* In-process, env vars are not enough: huggingface_hub.constants and datasets.config copy them
  into module constants at import time. ``HfApi(endpoint=server.url, token=server.token)`` and
  ``hf_hub_download(..., endpoint=server.url)`` work with the real constants, but the Xet switch,
  the cache paths, ``HfApi()`` without ``endpoint=`` and everything inside ``datasets`` read the
  constants; :func:`point_clients_at` patches them (and ``HUGGINGFACE_CO_URL_TEMPLATE``, which
  ``hf_hub_url`` builds URLs from before swapping in the endpoint).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import HubServer, run_hub_server

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def point_clients_at(server: HubServer, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point huggingface_hub (and datasets, when installed) at ``server``, caching under ``home``."""
    env = {
        "HF_ENDPOINT": server.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": server.token,
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }
    for key, env_value in env.items():
        monkeypatch.setenv(key, env_value)
    for key in (
        *_OFFLINE_VARS,
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_CACHE",
        "HF_DATASETS_CACHE",
        "HF_TOKEN_PATH",
    ):
        monkeypatch.delenv(key, raising=False)

    from huggingface_hub import constants

    hub_cache = str(home / "hub")
    hub_constants: dict[str, object] = {
        "ENDPOINT": server.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
    }
    for name, value in hub_constants.items():
        monkeypatch.setattr(constants, name, value)
    _reset_hf_filesystems()
    try:
        from datasets import config
    except ImportError:  # the web-only environment has no datasets
        return
    datasets_cache = home / "datasets"
    datasets_config: dict[str, object] = {
        "HF_ENDPOINT": server.url,
        "HUB_DATASETS_URL": server.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "USE_PARQUET_EXPORT": False,  # would ask datasets-server.huggingface.co
        "HF_CACHE_HOME": str(home),
        "HF_DATASETS_CACHE": datasets_cache,
        "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
        "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
    }
    for name, value in datasets_config.items():
        if hasattr(config, name):
            monkeypatch.setattr(config, name, value)


def _reset_hf_filesystems() -> None:
    """HfFileSystem instances are cached (with their directory listings) per endpoint+token."""
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()


@pytest.fixture
def hub(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubServer]:
    """A running test Hub (``hub.url``, ``hub.token``, ``hub.commits(...)``, ``hub.refs(...)``)
    that huggingface_hub and datasets in this process talk to, with a fresh HF_HOME."""
    base = tmp_path_factory.mktemp("hub")
    with run_hub_server(base / "server", token=f"hf_test_{secrets.token_hex(12)}") as server:
        point_clients_at(server, monkeypatch, base / "hf_home")
        yield server
        _reset_hf_filesystems()


@pytest.fixture
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """Just the server, clients untouched: pass ``endpoint=hub_server.url`` and
    ``token=hub_server.token`` yourself (and keep HF_HUB_DISABLE_XET in mind), or use ``hub``."""
    with run_hub_server(
        tmp_path_factory.mktemp("hub"), token=f"hf_test_{secrets.token_hex(12)}"
    ) as server:
        yield server
