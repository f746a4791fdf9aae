"""Prompts and answers written outside a task (the Write and Answer pages, and the API's
prompt and answer creation) count against one per-user limit, HEARTH_RATE_WRITING: before it,
a script could post prompts without end. Over it the API answers 429 with Retry-After, and
the pages answer 429 with the work as typed, nothing sent."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.collection.models import Prompt, PromptState, Response
from tests.conftest import assert_429_says_when, client_for
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

PROMPT = {
    "category": "open_qa",
    "instruction": "Why do cats purr?",
    "context": "",
    "language": "en",
    "response": "Mostly to signal contentment, though they also purr when hurt.",
}


def web_for(user) -> Client:
    web = Client()
    web.force_login(user)
    return web


def test_prompts_on_the_page_and_through_the_api_share_one_limit(volunteer, limits):
    limits(writing="2/hour")
    api, web = client_for(volunteer), web_for(volunteer)
    assert api.post("/api/v1/prompts/", PROMPT, format="json").status_code == 201
    second = {**PROMPT, "instruction": "Why do dogs wag their tails?", "idempotency_key": "k2"}
    assert web.post("/write/", second).status_code == 302

    third = {**PROMPT, "instruction": "Why do birds sing at dawn?", "idempotency_key": "k3"}
    html = assert_429_says_when(web.post("/write/", third))

    assert "Nothing was sent: your work is below." in html
    assert "Why do birds sing at dawn?</textarea>" in html
    assert 'name="idempotency_key" value="k3"' in html  # sent again later, it is still once
    r = api.post("/api/v1/prompts/", third, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert "Too many requests. Try again in" in r.json()["detail"]
    assert Prompt.objects.count() == 2
    # Reads are not counted.
    assert api.get("/api/v1/prompts/").status_code == 200


def test_answers_on_the_page_and_through_the_api_share_the_same_limit(
    volunteer, volunteer2, limits
):
    limits(writing="1/hour")
    prompts = PromptFactory.create_batch(2, author=volunteer2, state=PromptState.COLLECTING)
    api, web = client_for(volunteer), web_for(volunteer)
    text = "Water boils at a lower temperature high up, because the air pressure is lower."
    url = f"/api/v1/prompts/{prompts[0].pk}/responses/"
    assert api.post(url, {"text": text}, format="json").status_code == 201

    sent = {"text": "A second answer, to the second prompt.", "idempotency_key": "a2"}
    html = assert_429_says_when(web.post(f"/prompts/{prompts[1].pk}/answer/", sent))

    assert "Nothing was sent: your work is below." in html
    assert "A second answer, to the second prompt.</textarea>" in html
    r = api.post(f"/api/v1/prompts/{prompts[1].pk}/responses/", {"text": text}, format="json")
    assert r.status_code == 429
    assert Response.objects.count() == 1
    assert web.get(f"/prompts/{prompts[1].pk}/answer/").status_code == 200


def test_each_person_has_their_own_budget(volunteer, volunteer2, limits):
    limits(writing="1/hour")
    assert client_for(volunteer).post("/api/v1/prompts/", PROMPT, format="json").status_code == 201
    other = {**PROMPT, "instruction": "Why is the sky blue?"}
    assert client_for(volunteer2).post("/api/v1/prompts/", other, format="json").status_code == 201
