"""Operator QA of start-up configuration: a DATABASE_URL or REDIS_URL Hearth cannot use stops
start-up with a message that names the variable and says what it takes (``DATABASE_URL=
nonsense`` gave dj_database_url's own error, ``REDIS_URL=http://x`` passed ``manage.py
check``); and a connection kept between requests is checked before it is reused, so a
PostgreSQL restart costs no request a 500. The settings module is run afresh for each case."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.core.conftest import BASE_DIR


def refusal(load, **env: str) -> str:
    with pytest.raises(ImproperlyConfigured) as refused:
        load(**env)
    return str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "nonsense",
        "http://db.example.org/hearth",
        "postgres://hearth@db.example.org:port/hearth",
        "mysql://hearth@db.example.org/hearth",
        "postgres://hearth@db.example.org",
    ],
)
def test_a_database_url_hearth_cannot_use_is_refused_by_name(load, url):
    message = refusal(load, DATABASE_URL=url)
    assert message.startswith(f"DATABASE_URL={url!r} is not a database URL: use postgres://")
    assert "sqlite:///" in message


def test_the_refusal_does_not_print_the_database_password(load):
    message = refusal(load, DATABASE_URL="postgres://hearth:s3cret@db:port/hearth")
    assert "s3cret" not in message
    assert "postgres://hearth:***@db:port/hearth" in message


@pytest.mark.parametrize(
    "url",
    [
        "postgres://hearth:pw@db.example.org:5432/hearth",
        "postgresql://hearth@db.example.org/hearth",
        "sqlite:////var/lib/hearth/hearth.sqlite3",
    ],
)
def test_database_urls_hearth_runs_on_load(load, url):
    assert load(DATABASE_URL=url)["DATABASES"]["default"]["NAME"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://x", "is not a Redis URL (redis:// or rediss://)"),
        ("redis//localhost:6379/0", "is not a Redis URL"),
        ("redis://localhost:port/0", "is not a Redis URL"),
        ("redis://localhost:6379/cache", "is not a Redis URL"),
        ("unix:///run/redis.sock", "Celery cannot use a Unix socket"),
        ("rediss://redis.example.org:6380/0", "needs ?ssl_cert_reqs=required"),
    ],
)
def test_a_redis_url_hearth_cannot_use_is_refused_by_name(load, url, says):
    message = refusal(load, REDIS_URL=url)
    assert message.startswith(f"REDIS_URL={url!r}")
    assert says in message


def test_the_refusal_does_not_print_the_redis_password(load):
    message = refusal(load, REDIS_URL="redis://:s3cret@redis:port/0")
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@redis",
        "rediss://redis.example.org:6380/1?ssl_cert_reqs=required",
    ],
)
def test_redis_urls_every_process_can_use_load(load, url):
    values = load(REDIS_URL=url)
    assert values["CELERY_BROKER_URL"] == values["CELERY_RESULT_BACKEND"] == url


def test_manage_py_check_refuses_a_redis_url_by_name(tmp_path):
    """The QA's case: `REDIS_URL=http://x manage.py check` passed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**env, "HEARTH_DATA_DIR": str(tmp_path), "REDIS_URL": "http://x"},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("apps.core.env.ConfigError: REDIS_URL='http://x' is not a Redis URL")
    )


POSTGRES = "postgres://hearth@db.example.org/hearth"


def test_kept_connections_are_checked_before_reuse_by_default(load):
    database = load(DATABASE_URL=POSTGRES)["DATABASES"]["default"]
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True


def test_without_kept_connections_there_is_nothing_to_check(load):
    database = load(DATABASE_URL=POSTGRES, DB_CONN_MAX_AGE="0")["DATABASES"]["default"]
    assert database["CONN_HEALTH_CHECKS"] is False


def test_the_check_can_still_be_turned_off(load):
    database = load(DATABASE_URL=POSTGRES, DB_CONN_HEALTH_CHECKS="false")["DATABASES"]["default"]
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is False
