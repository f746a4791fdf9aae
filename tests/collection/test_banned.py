"""A suspended account writes nothing new, through the API or the pages, and is told why before
it types; withdrawing its own work stays open."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

NEW = {
    "instruction": "Name three rivers in Europe.",
    "category": "open_qa",
    "language": "en",
    "response": "The Danube, the Rhine and the Loire.",
}


@pytest.fixture
def banned(volunteer):
    volunteer.banned_at = timezone.now()
    volunteer.ban_reason = "copied answers from a chatbot"
    volunteer.save()
    return volunteer


def test_the_api_refuses_new_and_changed_work(api, banned, volunteer2):
    own = PromptFactory(author=banned, state=PromptState.REVIEW)
    theirs = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    own_answer = ResponseFactory(author=banned, state=ResponseState.REVIEW)
    attempts = [
        api.post("/api/v1/prompts/", NEW, format="json"),
        api.patch(
            f"/api/v1/prompts/{own.pk}/", {"instruction": "Name four rivers."}, format="json"
        ),
        api.post(f"/api/v1/prompts/{theirs.pk}/responses/", {"text": "Mine."}, format="json"),
        api.patch(f"/api/v1/responses/{own_answer.pk}/", {"text": "Changed."}, format="json"),
    ]
    for r in attempts:
        assert r.status_code == 403, r.content
        assert r.json()["detail"] == (
            "Your account is suspended from contributing: copied answers from a chatbot"
        )
    assert Prompt.objects.filter(author=banned).count() == 1
    assert not Response.objects.filter(author=banned, prompt=theirs).exists()
    own.refresh_from_db()
    assert own.instruction != "Name four rivers."
    # Taking one's own work back is still allowed.
    assert api.post(f"/api/v1/prompts/{own.pk}/withdraw/").status_code == 200


def test_the_pages_say_why_before_anything_is_written(banned, volunteer2):
    web = Client()
    web.force_login(banned)
    theirs = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    for path in ("/write/", f"/prompts/{theirs.pk}/answer/"):
        r = web.get(path)
        assert r.status_code == 403
        assert "suspended from contributing: copied answers from a chatbot" in r.content.decode()
    r = web.post("/write/", {**NEW, "idempotency_key": "k" * 32})
    assert r.status_code == 403
    assert not Prompt.objects.filter(author=banned).exists()
