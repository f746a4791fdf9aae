"""A suspended account writes nothing new, through the API or the pages, and is told why before
it types; withdrawing its own work stays open. Its prompts and answers leave public view until
the ban is lifted; the author and moderators still see them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.moderation.services import user_ban, user_unban
from tests.conftest import client_for
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


# --- what others see of a banned author's work ------------------------------------------------


@pytest.fixture
def banned_work(moderator, volunteer, volunteer2, make_volunteer):
    """Grace (volunteer2) wrote a prompt Ada (volunteer) answered, and answered Ada's prompt
    beside a third person; then a moderator banned her."""
    other = make_volunteer(display_name="Alan")
    theirs = PromptFactory(author=volunteer2, instruction="Name a famous lighthouse.")
    ada_on_theirs = ResponseFactory(prompt=theirs, author=volunteer, text="Pharos of Alexandria.")
    ours = PromptFactory(author=volunteer, instruction="Name a long river.")
    grace_on_ours = ResponseFactory(prompt=ours, author=volunteer2, text="The Amazon, surely.")
    alan_on_ours = ResponseFactory(prompt=ours, author=other, text="The Nile.")
    user_ban(moderator=moderator, user=volunteer2, reason="spam")
    return theirs, ada_on_theirs, ours, grace_on_ours, alan_on_ours


def _ids(body):
    return [item["id"] for item in body["results"]]


def test_others_no_longer_see_a_banned_authors_prompts_or_answers(
    banned_work, api_anon, api, volunteer
):
    theirs, ada_on_theirs, ours, grace_on_ours, alan_on_ours = banned_work
    for client in (api_anon, api):
        assert _ids(client.get("/api/v1/prompts/").json()) == [ours.pk]
        assert client.get(f"/api/v1/prompts/{theirs.pk}/").status_code == 404
        assert client.get(f"/api/v1/prompts/{theirs.pk}/responses/").status_code == 404
        assert _ids(client.get(f"/api/v1/prompts/{ours.pk}/responses/").json()) == [alan_on_ours.pk]
        assert client.get(f"/api/v1/responses/{grace_on_ours.pk}/").status_code == 404
        # Search does not find a prompt through her answer either.
        assert _ids(client.get("/api/v1/prompts/", {"q": "Amazon"}).json()) == []
    # Ada's own answer to Grace's prompt is still Ada's to read.
    assert api.get(f"/api/v1/responses/{ada_on_theirs.pk}/").status_code == 200
    assert api_anon.get(f"/api/v1/responses/{ada_on_theirs.pk}/").status_code == 404

    web = Client()
    browse = web.get("/browse/").content.decode()
    assert "Name a long river." in browse and "Name a famous lighthouse." not in browse
    assert "1 prompt" in browse
    assert web.get(f"/prompts/{theirs.pk}/").status_code == 404
    page = web.get(f"/prompts/{ours.pk}/").content.decode()
    assert "The Nile." in page and "The Amazon, surely." not in page


def test_the_banned_author_and_moderators_still_see_it(banned_work, volunteer2, moderator):
    theirs, _ada_on_theirs, ours, grace_on_ours, _alan_on_ours = banned_work
    grace = client_for(volunteer2)
    assert grace.get(f"/api/v1/prompts/{theirs.pk}/").status_code == 200
    assert _ids(grace.get("/api/v1/prompts/", {"author": "me"}).json()) == [theirs.pk]
    assert grace.get(f"/api/v1/responses/{grace_on_ours.pk}/").status_code == 200
    web = Client()
    web.force_login(volunteer2)
    assert "Name a famous lighthouse." in web.get("/mine/").content.decode()
    assert web.get(f"/prompts/{theirs.pk}/").status_code == 200

    mod = client_for(moderator)
    assert mod.get(f"/api/v1/prompts/{theirs.pk}/").status_code == 200
    assert grace_on_ours.pk in _ids(mod.get(f"/api/v1/prompts/{ours.pk}/responses/").json())
    mod_web = Client()
    mod_web.force_login(moderator)
    assert "The Amazon, surely." in mod_web.get(f"/prompts/{ours.pk}/").content.decode()


def test_an_unban_puts_it_back(banned_work, api_anon, moderator, volunteer2):
    theirs, _ada_on_theirs, ours, grace_on_ours, _alan_on_ours = banned_work
    user_unban(moderator=moderator, user=volunteer2)
    assert sorted(_ids(api_anon.get("/api/v1/prompts/").json())) == sorted([theirs.pk, ours.pk])
    assert api_anon.get(f"/api/v1/responses/{grace_on_ours.pk}/").status_code == 200
    assert "Name a famous lighthouse." in Client().get("/browse/").content.decode()
