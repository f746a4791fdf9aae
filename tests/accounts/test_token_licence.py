"""Token authentication answers the licence question in its own query: contributing requests
skip a query each, and the answer stays right (refused before consent, allowed after)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create


def bearer(user) -> APIClient:
    _token, key = api_token_create(user=user, name="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_without_consent_a_token_cannot_contribute_and_after_consent_it_can(outsider):
    client = bearer(outsider)
    refused = client.get("/api/v1/tasks/next/")
    assert refused.status_code == 403
    assert "Accept the current data licence" in refused.json()["detail"]
    assert client.post("/api/v1/me/licence/", {}, format="json").status_code in (200, 201)
    assert client.get("/api/v1/tasks/next/").status_code in (200, 204, 404)


def test_the_licence_is_checked_within_the_token_query(volunteer):
    client = bearer(volunteer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/tasks/next/")
    assert response.status_code in (200, 204, 404)
    licence = [q["sql"] for q in queries if "accounts_licenceacceptance" in q["sql"]]
    assert len(licence) == 1 and "accounts_apitoken" in licence[0]
