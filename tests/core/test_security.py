"""Production hardening: HTTPS settings read from the environment (checked in a fresh process,
as the server starts), what they do to requests, and the Content-Security-Policy header."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from tests.factories import UserFactory

BASE_DIR = Path(__file__).resolve().parents[2]
# What an HTTPS deployment sets (.env.example, docker compose): no HEARTH_HTTPS needed.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "hearth.example.org",
    "SITE_URL": "https://hearth.example.org",
}
# Variables of the test run's own environment that would change what is checked here.
OURS = {
    "DEBUG",
    "SITE_URL",
    "ALLOWED_HOSTS",
    "SECRET_KEY",
    "HF_OAUTH_CLIENT_ID",
    "HF_OAUTH_CLIENT_SECRET",
    "HF_OAUTH_SERVER_URL",
}


def run_django(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it for their whole process, and
    # check --deploy rightly calls it unsafe.
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in OURS and not k.startswith("HEARTH_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, *args],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "apps.settings",
            "HEARTH_DATA_DIR": str(tmp_path),
            **env,
        },
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def settings_from(env: dict[str, str], tmp_path: Path, *names: str) -> dict[str, Any]:
    """The named settings as a fresh process computes them from env."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    result = run_django(["-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_check_deploy_finds_nothing_to_fix_in_production(tmp_path):
    result = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], PRODUCTION, tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The two silenced: HSTS for the domain's other hosts (includeSubDomains, preload).
    assert result.stdout.strip() == "System check identified no issues (2 silenced)."


def test_check_deploy_names_what_plain_http_leaves_open(tmp_path):
    result = run_django(
        ["manage.py", "check", "--deploy"], {**PRODUCTION, "HEARTH_HTTPS": "false"}, tmp_path
    )
    found = set(re.findall(r"\(security\.W\d+\)", result.stdout + result.stderr))
    assert found == {
        "(security.W004)",  # HSTS
        "(security.W008)",  # SSL redirect
        "(security.W012)",  # Secure session cookie
        "(security.W016)",  # Secure CSRF cookie
    }


HTTPS_NAMES = (
    "HEARTH_HTTPS",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SILENCED_SYSTEM_CHECKS",
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            PRODUCTION,
            [True, True, True, True, 31_536_000, False, False, None],
            id="https-site-url",
        ),
        pytest.param(
            {**PRODUCTION, "SITE_URL": "http://hearth.example.org"},
            [False, False, False, False, 0, False, False, None],
            id="http-site-url",
        ),
        pytest.param(
            {**PRODUCTION, "DEBUG": "true"},
            [False, False, False, False, 0, False, False, None],
            id="debug",
        ),
        pytest.param(
            {**PRODUCTION, "HEARTH_HTTPS": "false"},
            [False, False, False, False, 0, False, False, None],
            id="switched-off",
        ),
        pytest.param(
            {
                **PRODUCTION,
                "HEARTH_HSTS_SECONDS": "3600",
                "HEARTH_HSTS_INCLUDE_SUBDOMAINS": "true",
                "HEARTH_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            },
            [True, True, True, True, 3600, True, False, ["HTTP_X_FORWARDED_PROTO", "https"]],
            id="tuned",
        ),
    ],
)
def test_https_settings_follow_the_environment(tmp_path, env, expected):
    values = settings_from(env, tmp_path, *HTTPS_NAMES)
    assert [values[name] for name in HTTPS_NAMES[:-1]] == expected
    # A deploy check is silenced only while the option it asks for is off.
    assert values["SILENCED_SYSTEM_CHECKS"] == [
        check
        for check, on in (("security.W005", expected[5]), ("security.W021", expected[6]))
        if not on
    ]


def test_a_proxy_header_that_is_not_a_header_name_stops_start_up(tmp_path):
    result = run_django(
        ["-c", "import django; django.setup()"],
        {"HEARTH_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "HEARTH_PROXY_SSL_HEADER='X-Forwarded-Proto: https' is not a header name" in (
        result.stderr
    )


def test_hugging_face_sign_in_adds_its_origin_to_form_action(tmp_path):
    env = {
        "HF_OAUTH_CLIENT_ID": "client-id",
        "HF_OAUTH_CLIENT_SECRET": "client-secret",
        "HF_OAUTH_SERVER_URL": "https://hf.example.org/issuer",
    }
    policy = settings_from(env, tmp_path, "CONTENT_SECURITY_POLICY")["CONTENT_SECURITY_POLICY"]
    assert policy["DIRECTIVES"]["form-action"] == ["'self'", "https://hf.example.org"]


# --- what HTTPS-only does to requests ---------------------------------------------------------


@pytest.fixture
def https_only(settings) -> None:
    """The values an https:// SITE_URL gives (see test_https_settings_follow_the_environment);
    the redirect exemptions are the real ones."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000


@pytest.mark.django_db
def test_plain_http_is_redirected_except_the_health_probes(client: Client, https_only):
    for path in ("/", "/browse/", "/api/v1/prompts/", "/healthz/", "/readyz/"):
        response = client.get(path)
        assert response.status_code == 301, path
        assert response["Location"] == f"https://testserver{path}"
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.json()["status"] == "ok"
        assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
def test_https_answers_with_hsts_for_this_host_and_secure_cookies(client: Client, https_only):
    page = client.get("/accounts/login/", secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] is True

    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(
        "/accounts/login/",
        {"login": user.email, "password": "correct horse battery staple"},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session.value
    assert session["secure"] is True
    assert session["httponly"] is True


# --- Content-Security-Policy ------------------------------------------------------------------


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [part.split() for part in header.split(";")]
    return {name: values for name, *values in parts}


STRICT = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


@pytest.mark.django_db
def test_pages_the_api_and_the_admin_carry_the_strict_policy(client: Client, admin_client):
    assert directives(client.get("/")) == STRICT
    assert directives(client.get("/accounts/login/")) == STRICT
    assert directives(client.get("/api/v1/prompts/")) == STRICT
    assert directives(admin_client.get("/admin/")) == STRICT
    # Static files are the policy-free part: scripts and stylesheets, not documents.
    assert "Content-Security-Policy" not in client.get("/static/js/hearth.js")


@pytest.mark.django_db
def test_the_api_docs_load_their_script_from_a_url_and_allow_data_images(client: Client):
    docs = client.get("/api/docs/")
    assert directives(docs) == {**STRICT, "img-src": ["'self'", "data:"]}
    html = docs.content.decode()
    # Every script has a src (nothing inline), and no <style> element.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    start = re.search(r'<script src="([^"]*\?[^"]*script[^"]*)"', html)
    assert start is not None
    script = client.get(start.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
