"""Imports are run by the exports worker (``collection.import``); here, where a test is about
what an import does rather than about the queue, ``send_import`` runs it in this process as
soon as its row commits. tests/collection/test_import_jobs.py runs it on a real worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.collection import import_jobs


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    """Uploads wait under the test's own data folder, never the repo's var/."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


@pytest.fixture
def send_import(monkeypatch, django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """``send_import(client.post, url, data, **kwargs)``: the request's response, with every
    import it sent already run here (the commit's callbacks run as the request ends)."""
    monkeypatch.setattr(import_jobs, "_send", import_jobs.import_run)

    def send(post: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return post(*args, **kwargs)

    return send
