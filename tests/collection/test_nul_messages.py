"""A NUL typed into a text (QA): on /write/ the instruction said "contains a control character
(U+0000); remove it." while the answer said Django's "Null characters are not allowed.".
Every form where a person writes a text now refuses it in the words of Hearth's text checks
(apps.core.text.check_text), naming the text, as the API and the other control characters do."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.assignments.models import TaskType
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task

pytestmark = pytest.mark.django_db

DJANGO_SAYS = "Null characters are not allowed."


def said(html: str, field: str) -> list[str]:
    """The errors shown by the field ``field``."""
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def control(label: str) -> list[str]:
    return [f"{label} contains a control character (U+0000); remove it."]


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


def test_the_write_page_says_it_one_way_for_each_text(web):
    r = web.post(
        "/write/",
        {
            "category": "summarization",
            "instruction": "Summarise\x00 the paragraph.",
            "context": "The council\x00 met on Tuesday.",
            "response": "The council\x00 met.",
            "language": "en",
            "idempotency_key": "nul-1",
        },
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert said(html, "instruction") == control("The instruction")
    assert said(html, "context") == control("The context")
    assert said(html, "response") == control("The answer")
    assert DJANGO_SAYS not in html
    assert not Prompt.objects.exists()


def test_the_answer_alone_with_a_nul_is_refused_in_the_same_words(web):
    html = web.post(
        "/write/",
        {
            "category": "open_qa",
            "instruction": "Name three rivers in Europe.",
            "context": "",
            "response": "The Danube\x00, the Rhine and the Seine.",
            "language": "en",
            "idempotency_key": "nul-2",
        },
    ).content.decode()
    assert said(html, "instruction") == []
    assert said(html, "response") == control("The answer")
    assert not Prompt.objects.exists()


def test_the_answer_page_the_edit_page_and_the_answer_task_say_it_alike(
    web, volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.COLLECTING)
    html = web.post(
        f"/prompts/{prompt.pk}/answer/", {"text": "Yes\x00.", "idempotency_key": "nul-3"}
    ).content.decode()
    assert said(html, "text") == control("The answer")

    mine = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    html = web.post(f"/responses/{mine.pk}/edit/", {"text": "Better\x00."}).content.decode()
    assert said(html, "text") == control("The answer")

    other = PromptFactory(author=make_volunteer(), state=PromptState.COLLECTING)
    task = held_task(volunteer, TaskType.RESPOND, other)
    html = web.post(
        f"/contribute/{task.pk}/", {"response": "Rivers\x00.", "idempotency_key": "nul-4"}
    ).content.decode()
    assert said(html, "response") == control("The answer")
    assert DJANGO_SAYS not in html
    assert not Response.objects.exclude(pk=mine.pk).exists()


def test_the_skip_note_says_it_alike(web, volunteer, make_volunteer):
    task = held_task(volunteer, TaskType.RESPOND, PromptFactory(author=make_volunteer()))
    r = web.post(
        f"/contribute/{task.pk}/skip/",
        {"idempotency_key": "nul-5", "reason": "unfamiliar", "note": "bad\x00note"},
    )
    assert [str(m) for m in get_messages(r.wsgi_request)] == [
        "The skip could not be read: The note contains a control character (U+0000); remove it."
    ]


def test_the_api_says_it_alike_for_answers_and_edits(api, volunteer, make_volunteer):
    """The API said DRF's "Null characters are not allowed." for a NUL (QA); it now says what
    the pages say, naming the text."""
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.COLLECTING)
    r = api.post(f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "Yes\x00."}, format="json")
    assert r.status_code == 400
    assert r.json()["text"] == control("The answer")

    mine = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    r = api.patch(f"/api/v1/prompts/{mine.pk}/", {"context": "Some\x00 text."}, format="json")
    assert r.status_code == 400
    assert r.json()["context"] == control("The context")
    mine.refresh_from_db()
    assert "\x00" not in mine.context
