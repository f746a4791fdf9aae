"""Releases to train on, without building files where a test is not about them."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from apps.releases.models import Release, ReleaseState


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """Releases and models are written under a fresh data folder per test."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.HEARTH_MODELS_DIR = settings.DATA_DIR / "models"


def counts(
    sft: tuple[int, int] = (40, 4), preferences: tuple[int, int] = (30, 3)
) -> dict[str, Any]:
    return {
        "rows": {
            "sft": {"train": sft[0], "test": sft[1]},
            "preferences": {"train": preferences[0], "test": preferences[1]},
            "rankings": {"train": 12, "test": 2},
            "prompts": {"train": 15, "test": 2},
        }
    }


def make_release(**fields: Any) -> Release:
    """A finished release row (no files): for tests about runs, not about building."""
    number = Release.objects.count() + 1
    values: dict[str, Any] = {
        "number": number,
        "version": f"v{number}",
        "state": ReleaseState.READY,
        "finished_at": timezone.now(),
        "content_hash": "a" * 64,
        "counts": counts(),
    }
    values.update(fields)
    return Release.objects.create(**values)


@pytest.fixture
def release(db) -> Release:
    return make_release()
