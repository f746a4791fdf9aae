"""Where a worker keeps its files, by the web side's rules: Django-free, and free of Celery (the
training process imports it too)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """HEARTH_DATA_DIR, else the repository's var/ (the web side's rule)."""
    return Path(
        os.environ.get("HEARTH_DATA_DIR") or Path(__file__).resolve().parents[1] / "var"
    ).resolve()


def models_dir() -> Path:
    """HEARTH_MODELS_DIR, else <data dir>/models (the web side's rule)."""
    configured = os.environ.get("HEARTH_MODELS_DIR")
    return Path(configured).resolve() if configured else data_dir() / "models"


def gguf_cache_dir() -> Path:
    """HEARTH_GGUF_CACHE, else <models dir>/.gguf: GGUF bases dequantised once into plain
    folders (worker.runtime.dense_base)."""
    configured = os.environ.get("HEARTH_GGUF_CACHE")
    return Path(configured).resolve() if configured else models_dir() / ".gguf"
