"""The web container's gunicorn settings (apps/gunicorn.conf.py, and docker-compose.yml's web
command): WEB_CONCURRENCY and GUNICORN_THREADS take the default when empty, as every Hearth
setting does, and a value gunicorn cannot use stops it with a message naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "apps" / "gunicorn.conf.py"
GUNICORN_VARS = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS")


def environment(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in GUNICORN_VARS}
    return {**base, **env}


def read_conf(**env: str) -> subprocess.CompletedProcess[str]:
    """Execute the config file as gunicorn does (a plain module), in a fresh process."""
    probe = (
        "import json, runpy, sys\n"
        "c = runpy.run_path(sys.argv[1])\n"
        "print(json.dumps({'workers': c['workers'], 'threads': c['threads']}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, str(CONF)],
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_empty_means_the_default_and_numbers_are_taken() -> None:
    default = json.loads(read_conf().stdout)
    assert 3 <= default["workers"] <= 9 and default["threads"] == 2
    empty = read_conf(WEB_CONCURRENCY="", GUNICORN_THREADS=" ")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == default
    assert json.loads(read_conf(WEB_CONCURRENCY="4", GUNICORN_THREADS="8").stdout) == {
        "workers": 4,
        "threads": 8,
    }


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY must be a whole number, not 'abc'"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be at least 1, not 0"),
        ("GUNICORN_THREADS", "0", "GUNICORN_THREADS must be at least 1, not 0"),
        ("GUNICORN_THREADS", "-2", "GUNICORN_THREADS must be at least 1, not -2"),
        ("GUNICORN_THREADS", "two", "GUNICORN_THREADS must be a whole number, not 'two'"),
    ],
)
def test_a_bad_value_is_refused_by_name(name: str, value: str, says: str) -> None:
    done = read_conf(**{name: value})
    assert done.returncode != 0
    assert says in done.stderr


def web_script() -> str:
    """The web service's shell command, with Compose's $$ escapes undone."""
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    shell, flag, script = web["command"]
    assert (shell, flag) == ("sh", "-c")
    return str(script).replace("$$", "$")


def run_web(bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", web_script()],
        cwd=ROOT,
        env=environment(PATH=f"{bin_dir}:{os.environ['PATH']}", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_composes_web_command_drops_an_empty_web_concurrency_and_names_a_bad_one(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "gunicorn"
    fake.write_text('#!/bin/sh\necho "WEB_CONCURRENCY=${WEB_CONCURRENCY-unset} $*"\n')
    fake.chmod(0o755)
    args = "-c apps/gunicorn.conf.py apps.wsgi"
    assert run_web(tmp_path).stdout.strip() == f"WEB_CONCURRENCY=unset {args}"
    assert run_web(tmp_path, WEB_CONCURRENCY="").stdout.strip() == f"WEB_CONCURRENCY=unset {args}"
    assert run_web(tmp_path, WEB_CONCURRENCY="5").stdout.strip() == f"WEB_CONCURRENCY=5 {args}"
    bad = run_web(tmp_path, WEB_CONCURRENCY="abc")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "WEB_CONCURRENCY must be a whole number, not 'abc'" in bad.stderr


def test_real_gunicorn_through_composes_command_reads_the_config_with_an_empty_value() -> None:
    """gunicorn itself fails on WEB_CONCURRENCY= before reading the config; through the web
    command it gets as far as the config, which here refuses GUNICORN_THREADS=0 by name
    (so nothing is served: the test binds no port)."""
    done = run_web(
        Path(sys.executable).parent,
        WEB_CONCURRENCY="",
        GUNICORN_THREADS="0",
        GUNICORN_CMD_ARGS="--bind 127.0.0.1:0",
    )
    assert done.returncode != 0
    assert "invalid literal for int()" not in done.stderr
    assert "GUNICORN_THREADS must be at least 1, not 0" in done.stderr
