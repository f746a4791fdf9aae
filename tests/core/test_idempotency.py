"""Idempotency-Key: a retried POST returns the first result and creates nothing new."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.collection.models import Prompt, Response
from apps.core.models import IdempotencyKey

URL = "/api/v1/prompts/"
BODY = {
    "instruction": "Suggest names for a bakery.",
    "category": "brainstorming",
    "language": "en",
    "response": "Crumb & Co, The Rising Loaf, Flour Hour.",
}


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_result(api):
    first = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Prompt.objects.count() == 1
    assert Response.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_a_different_body_is_refused(api):
    api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    r = api.post(
        URL, {**BODY, "instruction": "Another one here"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert r.status_code == 422
    assert "different request" in r.json()["detail"]
    assert Prompt.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user(api, api2):
    api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    r = api2.post(
        URL,
        {**BODY, "instruction": "Suggest names for a cafe."},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert r.status_code == 201
    assert Prompt.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_does_not_burn_the_key(api):
    bad = api.post(URL, {**BODY, "category": "poetry"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.filter(key="k-3").exists()
    good = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert good.status_code == 201


@pytest.mark.django_db
def test_an_overlong_key_is_refused(api):
    r = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()


@pytest.mark.django_db
def test_a_key_in_the_forms_namespace_is_refused(api):
    """The site's forms keep their keys under "form:": an API key there could meet one."""
    r = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="form:abc")
    assert r.status_code == 400
    assert r.json() == {
        "Idempotency-Key": ["Keys starting with “form:” are the site's own; use another."]
    }
    assert not Prompt.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_create_one_row(volunteer):
    """Eight racing requests with one key on real PostgreSQL: one prompt, eight equal answers."""
    assert connection.vendor == "postgresql"
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        client = APIClient()
        client.force_authenticate(volunteer)
        barrier.wait()
        r = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="race")
        results.append((r.status_code, r.json()))
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [201] * 8
    assert len({body["id"] for _, body in results}) == 1
    assert Prompt.objects.count() == 1
    assert Response.objects.count() == 1
