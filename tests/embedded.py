"""Running Hearth on the embedded default (SQLite, no Redis) in a subprocess, for tests of
what differs there from the PostgreSQL the suite runs on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def embedded_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without DATABASE_URL and REDIS_URL, with its data (the
    SQLite file) in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HEARTH_DATA_DIR=str(data_dir), DEBUG="true", DJANGO_SETTINGS_MODULE="apps.settings")
    return env


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the project's root; fails the test, with the end of its stderr, if
    it does not exit 0."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# One migrated SQLite database per test process, copied for each test that needs one: a fresh
# ``migrate`` in a subprocess costs half a minute on these machines, and every embedded test
# would pay it. (tests/core/test_embedded_default.py still migrates from nothing, as
# ``make run`` does.)
_MIGRATED: dict[str, Path] = {}


def migrate(env: dict[str, str]) -> None:
    """Give ``env``'s data folder (an ``embedded_env``) a migrated SQLite database: a copy of
    one this process migrated once, or, the first time, that one itself."""
    import sqlite3
    import tempfile
    from contextlib import closing

    if "db" not in _MIGRATED:
        folder = Path(tempfile.mkdtemp(prefix="hearth-migrated-"))
        run_python(embedded_env(folder), "manage.py", "migrate", "--noinput")
        _MIGRATED["db"] = folder / "hearth.sqlite3"
    target = Path(env["HEARTH_DATA_DIR"]) / "hearth.sqlite3"
    target.parent.mkdir(parents=True, exist_ok=True)
    # The backup API: a consistent copy whatever the journal mode left beside the file.
    with (
        closing(sqlite3.connect(_MIGRATED["db"])) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)


def script_outcome(data_dir: Path, script: str) -> Any:
    """Run ``script`` (``python -c``) on a migrated embedded database in ``data_dir``; the
    last line it prints, read as JSON: what it found, for the test to judge."""
    import json

    env = embedded_env(data_dir)
    migrate(env)
    result = run_python(env, "-c", script)
    return json.loads(result.stdout.strip().splitlines()[-1])
