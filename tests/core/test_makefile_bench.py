"""`make bench-api BENCH_ARGS=--import`, as the README gives it, passes the Redis the import's
Celery worker needs (TEST_REDIS_URL, as bench-tasks does); the other modes keep running without
Redis. Read with `make -n`, which prints the commands and runs none."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.missing import missing

ROOT = Path(__file__).resolve().parents[2]


def bench_command(*args: str) -> str:
    """The line that runs tests/bench/bench_api.py, with its environment."""
    printed = subprocess.run(
        ["make", "-n", "bench-api", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    command = printed.replace("\\\n", " ").splitlines()
    (line,) = [c for c in command if "tests/bench/bench_api.py" in c]
    return line


def test_bench_api_import_gets_the_test_redis() -> None:
    if shutil.which("make") is None:
        missing("needs make")
    line = bench_command("BENCH_ARGS=--import", "TEST_REDIS_URL=redis://127.0.0.1:6379/13")
    assert "REDIS_URL=redis://127.0.0.1:6379/13 " in line
    assert "DATABASE_URL=" in line and line.endswith("bench_api.py --import")
    assert "REDIS_URL" not in bench_command().replace("DATABASE_URL", "")
    assert "REDIS_URL" not in bench_command("BENCH_ARGS=--search").replace("DATABASE_URL", "")
