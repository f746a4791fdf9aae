"""apps/settings.py refuses, at start-up, values that it used to accept and that then failed at
run time (a 500 on every task fetch, on the licence page, on every write): each refusal names
the variable and says what it takes. The settings module is run afresh for each case."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from rest_framework.throttling import SimpleRateThrottle

from apps.accounts.models import LicenceAcceptance
from apps.collection.models import Prompt, Response
from apps.core.env import ConfigError
from tests.core.conftest import BASE_DIR


def refusal(load, **env: str) -> str:
    with pytest.raises(ConfigError) as refused:
        load(**env)
    return str(refused.value)


def test_the_defaults_load(load):
    values = load()
    assert values["SITE_URL"] == "http://127.0.0.1:8000"
    assert values["HEARTH_LICENCE_TEXT_FILE"] == ""
    assert values["LOGGING"]["root"]["level"] == "INFO"


def test_without_redis_every_process_writes_the_file_brokers_messages_whole(load, monkeypatch):
    """kombu's own filesystem transport let a worker read a message before it was written, and
    the worker stopped (tests/worker/test_brokers.py)."""
    from worker.brokers import FILESYSTEM_TRANSPORT

    monkeypatch.delenv("REDIS_URL", raising=False)
    values = load()
    assert values["CELERY_BROKER_URL"] == "filesystem://localhost/"
    assert values["CELERY_BROKER_TRANSPORT"] == FILESYSTEM_TRANSPORT


# --- rate limits ------------------------------------------------------------------------------

RATES = (
    "HEARTH_RATE_TASKS_NEXT",
    "HEARTH_RATE_TASKS_SUBMIT",
    "HEARTH_RATE_WRITING",
    "HEARTH_RATE_FLAGS",
)


@pytest.mark.parametrize("name", RATES)
@pytest.mark.parametrize("value", ["abc", "120", "120/fortnight", "0/min", "-1/min", "1.5/s"])
def test_a_rate_drf_cannot_use_stops_start_up(load, name, value):
    assert refusal(load, **{name: value}) == (
        f"{name}={value!r} is not a rate: use a number of requests per second, minute, hour "
        "or day, such as 120/minute"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5/s", (5, 1)),
        ("5/second", (5, 1)),
        ("120/min", (120, 60)),
        ("120/minutes", (120, 60)),
        ("30/hour", (30, 3600)),
        ("1000/day", (1000, 86400)),
    ],
)
def test_the_rates_accepted_are_the_ones_drf_reads(load, value, expected):
    rates = load(HEARTH_RATE_TASKS_NEXT=value)["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]
    assert rates["tasks_next"] == value
    throttle = type("Probe", (SimpleRateThrottle,), {"rate": value})()
    assert (throttle.num_requests, throttle.duration) == expected


# --- the licence ------------------------------------------------------------------------------


def test_a_missing_licence_text_file_stops_start_up(load, tmp_path):
    missing = str(tmp_path / "LICENCE.txt")
    assert refusal(load, HEARTH_LICENCE_TEXT_FILE=missing) == (
        f"HEARTH_LICENCE_TEXT_FILE={missing!r}: no such file; give the path of a UTF-8 text file"
    )


def test_a_licence_text_file_that_is_a_folder_or_not_utf8_stops_start_up(load, tmp_path):
    assert refusal(load, HEARTH_LICENCE_TEXT_FILE=str(tmp_path)) == (
        f"HEARTH_LICENCE_TEXT_FILE={str(tmp_path)!r} is a folder; give the path of a UTF-8 "
        "text file"
    )
    latin1 = tmp_path / "licence-latin1.txt"
    latin1.write_bytes(
        "Licence Creative Commons, attribution, partage à l'identique".encode("latin-1")
    )
    assert refusal(load, HEARTH_LICENCE_TEXT_FILE=str(latin1)) == (
        f"HEARTH_LICENCE_TEXT_FILE={str(latin1)!r} is not UTF-8 text; save it as UTF-8"
    )


def test_a_licence_text_file_is_kept_as_an_absolute_path(load, tmp_path, monkeypatch):
    (tmp_path / "LICENCE.txt").write_text("Attribution-ShareAlike 3.0 Unported\n")
    monkeypatch.chdir(tmp_path)
    values = load(HEARTH_LICENCE_TEXT_FILE="LICENCE.txt")
    assert values["HEARTH_LICENCE_TEXT_FILE"] == str(tmp_path / "LICENCE.txt")


def test_a_licence_name_longer_than_its_column_stops_start_up(load):
    name = "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International"
    assert refusal(load, HEARTH_LICENCE_NAME=name) == (
        f"HEARTH_LICENCE_NAME={name!r} is 71 characters long; use at most 64"
    )


def test_the_licence_name_and_version_may_fill_their_columns(load):
    """The limit follows the columns they are written to; if one grows, settings may follow."""
    name_column = {Prompt._meta.get_field("licence").max_length}
    name_column.add(Response._meta.get_field("licence").max_length)
    (longest,) = name_column
    version_longest = LicenceAcceptance._meta.get_field("version").max_length
    values = load(HEARTH_LICENCE_NAME="n" * longest, HEARTH_LICENCE_VERSION="v" * version_longest)
    assert (values["HEARTH_LICENCE_NAME"], values["HEARTH_LICENCE_VERSION"]) == (
        "n" * longest,
        "v" * version_longest,
    )
    assert f"use at most {longest}" in refusal(load, HEARTH_LICENCE_NAME="n" * (longest + 1))
    assert f"use at most {version_longest}" in refusal(
        load, HEARTH_LICENCE_VERSION="v" * (version_longest + 1)
    )


# --- limits that come in pairs ----------------------------------------------------------------


def test_a_shortest_instruction_above_the_longest_stops_start_up(load):
    assert refusal(load, HEARTH_INSTRUCTION_MIN_CHARS="5000") == (
        "HEARTH_INSTRUCTION_MIN_CHARS=5000 must be at most HEARTH_INSTRUCTION_MAX_CHARS=4000"
    )
    assert refusal(load, HEARTH_INSTRUCTION_MIN_CHARS="20", HEARTH_INSTRUCTION_MAX_CHARS="19") == (
        "HEARTH_INSTRUCTION_MIN_CHARS=20 must be at most HEARTH_INSTRUCTION_MAX_CHARS=19"
    )
    values = load(HEARTH_INSTRUCTION_MIN_CHARS="20", HEARTH_INSTRUCTION_MAX_CHARS="20")
    assert values["HEARTH_INSTRUCTION_MIN_CHARS"] == values["HEARTH_INSTRUCTION_MAX_CHARS"] == 20


def test_training_reports_heartbeats_and_staleness_must_come_in_order(load):
    assert refusal(load, HEARTH_TRAINING_REPORT_SECONDS="60") == (
        "HEARTH_TRAINING_REPORT_SECONDS=60 must be at most HEARTH_TRAINING_HEARTBEAT_SECONDS=30"
    )
    # A run that sends only heartbeats would show as stalled and be sent again.
    assert refusal(load, HEARTH_TRAINING_HEARTBEAT_SECONDS="600") == (
        "HEARTH_TRAINING_HEARTBEAT_SECONDS=600 must be below HEARTH_TRAINING_STALE_SECONDS=600"
    )


# --- addresses, log level, ports ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "hearth.example.org",
        "https://",
        "ftp://hearth.example.org",
        "https://hearth.example.org:eighty",
        "https://hearth.example.org?x=1",
        "https://user@hearth.example.org",
        "https://hearth example.org",
    ],
)
def test_a_site_url_that_is_not_an_address_stops_start_up(load, value):
    assert refusal(load, SITE_URL=value) == (
        f"SITE_URL={value!r} is not an http:// or https:// address, such as "
        "https://hearth.example.org"
    )


def test_a_site_url_with_a_path_stops_start_up(load):
    """Links are SITE_URL plus a path from the root: a prefix would be dropped from them."""
    assert refusal(load, SITE_URL="https://example.org/hearth") == (
        "SITE_URL='https://example.org/hearth' has a path; Hearth is served from the root of "
        "its host, so give the scheme and host only, such as https://hearth.example.org"
    )


def test_a_site_url_keeps_its_port_and_loses_its_trailing_slash(load):
    assert load(SITE_URL="https://hearth.example.org/")["SITE_URL"] == "https://hearth.example.org"
    assert load(SITE_URL="http://[::1]:8000")["SITE_URL"] == "http://[::1]:8000"


def test_the_hugging_face_issuer_must_be_an_address(load):
    assert refusal(load, HF_OAUTH_SERVER_URL="huggingface.co") == (
        "HF_OAUTH_SERVER_URL='huggingface.co' is not an http:// or https:// address, such as "
        "https://hearth.example.org/path"
    )


def test_a_log_level_logging_does_not_know_stops_start_up(load):
    assert refusal(load, LOG_LEVEL="LOUD") == (
        "LOG_LEVEL='LOUD' must be one of CRITICAL, DEBUG, ERROR, INFO, WARNING"
    )
    assert load(LOG_LEVEL="WARNING")["LOGGING"]["root"]["level"] == "WARNING"


def test_an_smtp_port_out_of_range_stops_start_up(load):
    assert refusal(load, EMAIL_HOST="smtp.example.org", EMAIL_PORT="70000") == (
        "EMAIL_PORT=70000 is above the maximum of 65535"
    )


# --- as the server starts ---------------------------------------------------------------------


def test_manage_py_check_refuses_a_bad_rate_by_name(tmp_path):
    """The audit's case: check passed, then every /api/v1/tasks/next/ was a 500."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "apps.settings",
            "HEARTH_DATA_DIR": str(tmp_path),
            "HEARTH_RATE_TASKS_NEXT": "abc",
        },
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"apps\.core\.env\.ConfigError: HEARTH_RATE_TASKS_NEXT='abc' is not a rate: .*",
        last_line,
    )
