"""Shared by the settings tests: ``load``, which runs apps/settings.py afresh."""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SETTINGS = BASE_DIR / "apps" / "settings.py"


@pytest.fixture
def load(monkeypatch, tmp_path):
    """Run the settings module with the given variables on top of a clean environment, and
    return its settings: ``load(SITE_URL="…")``."""
    for name in list(os.environ):
        if name.startswith(("HEARTH_", "DB_")) or name in {"SITE_URL", "LOG_LEVEL", "EMAIL_HOST"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))

    def load(**env: str) -> dict[str, Any]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))

    return load
