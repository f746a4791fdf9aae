"""A 429 says how long to wait in words a person reads (QA security #7: "Try again in 3493
seconds."): seconds up to a minute and a half, then about so many minutes, hours or days. The
exact count stays in Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.throttling import throttled_message, wait_in_words
from tests.conftest import assert_429_says_when, client_for

pytestmark = pytest.mark.django_db

PROMPT = {
    "category": "open_qa",
    "instruction": "Why do cats purr?",
    "context": "",
    "language": "en",
}


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.2, "in 1 second"),
        (1, "in 1 second"),
        (40, "in 40 seconds"),
        (89.1, "in 90 seconds"),
        (90, "in 90 seconds"),
        (91, "in about 2 minutes"),
        (3493, "in about 58 minutes"),
        (5369, "in about 89 minutes"),
        (5400, "in about 2 hours"),
        (7 * 3600, "in about 7 hours"),
        (35 * 3600, "in about 35 hours"),
        (36 * 3600, "in about 2 days"),
        (3 * 86400, "in about 3 days"),
    ],
)
def test_the_wait_is_said_in_the_largest_unit_that_reads_naturally(seconds, words):
    assert wait_in_words(seconds) == words


def test_the_message_says_it_in_a_sentence():
    assert throttled_message(3493) == "Too many requests. Try again in about 58 minutes."
    assert throttled_message(None) == "Too many requests. Slow down a little and try again."


def test_an_hourly_limit_answers_in_minutes_or_hours_on_the_api_and_the_page(volunteer, limits):
    limits(writing="1/hour")
    api = client_for(volunteer)
    assert api.post("/api/v1/prompts/", PROMPT, format="json").status_code == 201

    r = api.post("/api/v1/prompts/", {**PROMPT, "instruction": "Why do dogs bark?"}, format="json")
    assert r.status_code == 429
    retry_after = int(r["Retry-After"])
    assert retry_after > 90
    detail = r.json()["detail"]
    assert detail == f"Too many requests. Try again {wait_in_words(retry_after)}."
    assert "seconds" not in detail and "in about" in detail

    web = Client()
    web.force_login(volunteer)
    sent = {**PROMPT, "instruction": "Why do birds sing?", "idempotency_key": "k2"}
    html = assert_429_says_when(web.post("/write/", sent))
    assert "seconds." not in html
