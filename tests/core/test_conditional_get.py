"""Conditional GETs (API QA, session 26): a script or page polling a run sent its whole
detail (curves and logs: hundreds of kilobytes a run) every few seconds, changed or not. Every
answer that is not streamed carries an ETag, and a GET whose If-None-Match still matches is a
304 with no body."""

from __future__ import annotations

import pytest

from apps.training.models import RunState, TrainingRun
from tests.training.conftest import make_release

pytestmark = pytest.mark.django_db


def test_a_polled_run_is_sent_again_only_when_it_changed(api_maintainer):
    run = TrainingRun.objects.create(
        release=make_release(),
        kind="sft",
        base_model="org/base",
        state=RunState.RUNNING,
        step=1,
        total_steps=10,
        loss_history=[{"step": 1, "loss": 2.0, "lr": 1e-4}],
    )
    url = f"/api/v1/training-runs/{run.pk}/"
    first = api_maintainer.get(url)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag

    again = api_maintainer.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""

    run.step = 2
    run.loss_history = [*run.loss_history, {"step": 2, "loss": 1.9, "lr": 1e-4}]
    run.save(update_fields=["step", "loss_history"])
    changed = api_maintainer.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["step"] == 2
    assert changed["ETag"] != etag


def test_a_write_is_never_answered_with_a_304(api):
    """Only GET and HEAD: a POST that happens to repeat an answer's ETag still runs."""
    listed = api.get("/api/v1/tokens/")
    r = api.post(
        "/api/v1/tokens/", {"name": "bot"}, format="json", HTTP_IF_NONE_MATCH=listed["ETag"]
    )
    assert r.status_code == 201, r.content
