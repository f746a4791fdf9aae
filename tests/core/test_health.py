from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_anything(client: Client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_redis(client: Client, settings):
    assert settings.REDIS_URL, "the test suite runs against a real Redis"
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_unreachable(client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("error")
    assert r.json()["checks"]["database"] == "ok"


def test_the_openapi_schema_and_docs_are_served_offline(client: Client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/prompts/",
        "/api/v1/prompts/{prompt_id}/",
        "/api/v1/me/",
        "/api/v1/tokens/",
    ):
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    # A way back to the site, and to the page that makes the token Authorize asks for.
    assert '<a href="/">← Hearth</a>' in html
    assert '<a href="/profile/#tokens">Your API tokens</a>' in html


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "apiToken" in text
    assert "/api/v1/imports/" in text
