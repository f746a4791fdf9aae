"""How Hearth finds a client's address for allauth's sign-in limits behind a reverse proxy
(QA security #1): HEARTH_TRUSTED_PROXY_COUNT or HEARTH_TRUSTED_CLIENT_IP_HEADER, read and
checked as the process starts; docker compose counts the one proxy its README asks for."""

from __future__ import annotations

import pytest
import yaml

from tests.core.test_security import BASE_DIR, run_django, settings_from

NAMES = ("ALLAUTH_TRUSTED_PROXY_COUNT", "ALLAUTH_TRUSTED_CLIENT_IP_HEADER")


def test_without_a_proxy_the_connections_own_address_counts(tmp_path):
    assert settings_from({}, tmp_path, *NAMES) == {
        "ALLAUTH_TRUSTED_PROXY_COUNT": 0,
        "ALLAUTH_TRUSTED_CLIENT_IP_HEADER": None,
    }


def test_the_proxy_count_and_the_header_reach_allauth(tmp_path):
    assert settings_from({"HEARTH_TRUSTED_PROXY_COUNT": "1"}, tmp_path, *NAMES) == {
        "ALLAUTH_TRUSTED_PROXY_COUNT": 1,
        "ALLAUTH_TRUSTED_CLIENT_IP_HEADER": None,
    }
    header = {"HEARTH_TRUSTED_CLIENT_IP_HEADER": "X-Real-IP"}
    assert settings_from(header, tmp_path, *NAMES) == {
        "ALLAUTH_TRUSTED_PROXY_COUNT": 0,
        "ALLAUTH_TRUSTED_CLIENT_IP_HEADER": "X-Real-IP",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HEARTH_TRUSTED_PROXY_COUNT": "one"},
            "HEARTH_TRUSTED_PROXY_COUNT='one' is not an integer",
        ),
        (
            {"HEARTH_TRUSTED_PROXY_COUNT": "-1"},
            "HEARTH_TRUSTED_PROXY_COUNT=-1 is below the minimum",
        ),
        (
            {"HEARTH_TRUSTED_PROXY_COUNT": "11"},
            "HEARTH_TRUSTED_PROXY_COUNT=11 is above the maximum",
        ),
        (
            {"HEARTH_TRUSTED_CLIENT_IP_HEADER": "X Real IP"},
            "HEARTH_TRUSTED_CLIENT_IP_HEADER='X Real IP' is not a header name",
        ),
        (
            {"HEARTH_TRUSTED_CLIENT_IP_HEADER": "X-Forwarded-For"},
            "holds a list that the client starts; set HEARTH_TRUSTED_PROXY_COUNT",
        ),
        (
            {"HEARTH_TRUSTED_CLIENT_IP_HEADER": "X-Real-IP", "HEARTH_TRUSTED_PROXY_COUNT": "1"},
            "HEARTH_TRUSTED_CLIENT_IP_HEADER and HEARTH_TRUSTED_PROXY_COUNT are both set",
        ),
    ],
)
def test_a_value_hearth_cannot_use_stops_it_at_start_up(tmp_path, env, message):
    result = run_django(["manage.py", "check"], env, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_compose_counts_the_one_proxy_in_front_of_the_web_service():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    web = compose["services"]["web"]["environment"]
    assert web["HEARTH_TRUSTED_PROXY_COUNT"] == "${HEARTH_TRUSTED_PROXY_COUNT:-1}"
