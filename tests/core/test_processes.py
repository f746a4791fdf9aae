"""The real processes: both Celery apps answer on the real Redis, and the web process never
imports torch or transformers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def _env(redis_db: int) -> dict[str, str]:
    env = dict(os.environ)
    base = env["REDIS_URL"].rsplit("/", 1)[0]
    env["REDIS_URL"] = f"{base}/{redis_db}"
    return env


def _ping(app: str, env: dict[str, str], node: str) -> str:
    deadline = time.monotonic() + 60
    out = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            [CELERY, "-A", app, "inspect", "ping", "-d", node, "--timeout", "2"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        out = result.stdout + result.stderr
        if result.returncode == 0 and "pong" in out:
            return out
        time.sleep(1)
    raise AssertionError(f"{app} worker never answered ping:\n{out}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("app", "queues", "redis_db"),
    [("apps", "default,exports", 11), ("worker.celery", "gpu", 12)],
)
def test_each_celery_app_answers_ping_on_real_redis(app, queues, redis_db):
    env = _env(redis_db)
    node = f"test-{redis_db}@%h"
    worker = subprocess.Popen(
        [
            CELERY,
            "-A",
            app,
            "worker",
            "-Q",
            queues,
            "--pool=solo",
            "-n",
            node,
            "--loglevel=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out = _ping(app, env, node.replace("%h", os.uname().nodename))
        assert "pong" in out
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.slow
def test_a_task_round_trips_through_a_real_worker():
    env = _env(13)
    worker = subprocess.Popen(
        [
            CELERY,
            "-A",
            "apps",
            "worker",
            "-Q",
            "default",
            "--pool=solo",
            "-n",
            "rt@%h",
            "--loglevel=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        code = (
            "from apps.celery import ping\n"
            "print(ping.apply_async(queue='default').get(timeout=60))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.stdout.strip() == "pong", result.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_the_web_process_never_imports_torch_or_transformers():
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from apps.wsgi import application\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import apps.collection.api, apps.accounts.api, apps.api_urls\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'transformers', 'datasets', 'peft'})\n"
        "print(heavy)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="apps.settings")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_django_checks_pass_in_a_fresh_process_as_celerys_django_fixup_runs_them():
    """Celery's Django fixup runs Django's checks first thing in a worker; DRF's pagination
    check imported apps.core.api before rest_framework.views, and with the content negotiation
    class in apps.core.api that import went round in a circle: the GPU worker, started with
    DJANGO_SETTINGS_MODULE set, failed to start (seen as a ping never answered)."""
    code = (
        "import django; django.setup(); "
        "from django.core.checks import run_checks; run_checks(); "
        "from rest_framework.views import APIView; print(APIView.content_negotiation_class)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "apps.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JsonNegotiation" in result.stdout
